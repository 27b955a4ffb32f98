"""Exit statuses, the one-line error of the command line, and the rewriting of library messages.

The library names its probability table ``probs``, counts rows within the block it was given and
names classes by index; on the command line the input is a file and its columns, and the classes
are the columns' names. This module says so, in one place, for every command.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 130

#: How rows are counted in messages, said once per message.
ROWS_COUNTED = "rows count from 0, the first data row being row 0"

_ROW_MESSAGE = re.compile(
    r"^(?:probs|\S.* columns \S+|(?P<column>column '[^']*')) row (?P<row>\d+) "
)
_BLOCK_ROW = re.compile(r"^probs row (\d+)")
_CLASS_INDICES = re.compile(r"\bclasses \[(\d+(?:, \d+)*)\]")


class CommandError(Exception):
    """An error to report to the user as one line, without a traceback."""


def located(message: str, path: Path, columns: Sequence[str]) -> str:
    """Reword a library error about the probability table to name the file and columns.

    The statistics code names its input ``probs`` and counts rows from 0; on the command line
    the input is a file and its columns, so say which, and how rows are counted.
    """
    where = f"{path} (columns {', '.join(columns)})"
    if message.startswith("probs has no rows"):
        return f"{where} has no rows; there is nothing to compute from"
    match = _ROW_MESSAGE.match(message)
    if match is None:
        return message
    named = match["column"] or f"columns {', '.join(columns)}"
    return f"{path}, {named}: row {match['row']} ({ROWS_COUNTED}) {message[match.end() :]}"


@contextmanager
def naming_the_file(path: Path, columns: Sequence[str]) -> Iterator[None]:
    """Re-raise an error about rows of ``path`` as a :class:`CommandError` naming the file.

    Errors whose message :func:`located` leaves alone pass through unchanged.
    """
    try:
        yield
    except (ValueError, CommandError) as error:
        message = located(str(error), path, columns)
        if message == str(error):
            raise
        raise CommandError(message) from error


def shifted_rows(message: str, offset: int) -> str:
    """``probs row N`` of a block starting at row ``offset`` as the row of the whole file."""
    return _BLOCK_ROW.sub(lambda match: f"probs row {offset + int(match[1])}", message)


def with_class_names(message: str, classes: Sequence[str] | None) -> str:
    """Replace the library's ``classes [0, 2]`` by the class columns' names."""
    if not classes:
        return message

    def named(match: re.Match) -> str:
        indices = [int(index) for index in match[1].split(", ")]
        if any(index >= len(classes) for index in indices):
            return match[0]
        noun = "class" if len(indices) == 1 else "classes"
        return f"{noun} {', '.join(classes[index] for index in indices)}"

    return _CLASS_INDICES.sub(named, message)


def describe(error: BaseException) -> str:
    """A one-line description of an error for the user."""
    if isinstance(error, FileNotFoundError) and error.filename and not error.args[1:]:
        return str(error)
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return str(error) or type(error).__name__


def report(kind: str, message: str) -> None:
    """Print one line ``deweight: KIND: MESSAGE`` on standard error."""
    one_line = " ".join(str(message).split())
    print(f"deweight: {kind}: {one_line}", file=sys.stderr)
