"""Checks shared by the command-line tests."""

from __future__ import annotations


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    """The command failed with exit status 1 and one ``deweight: error:`` line holding each
    fragment, with no traceback."""
    assert status == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("deweight: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
