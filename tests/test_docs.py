"""Tests of deweight._docs: docstring sections shared by several functions, written once."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import deweight
from deweight._docs import fill_sections, shared_docs

_SECTIONS = {"returns": "Returns\n-------\nint\n    Rows written.\n"}


def test_a_placeholder_line_becomes_the_section_indented_like_it():
    doc = "Write.\n\n    Parameters\n    ----------\n    fmt : str\n        e.g. ``%.6g``.\n\n    %(returns)s\n    "
    filled = fill_sections(doc, _SECTIONS)
    assert filled == (
        "Write.\n\n    Parameters\n    ----------\n    fmt : str\n        e.g. ``%.6g``.\n\n"
        "    Returns\n    -------\n    int\n        Rows written.\n    "
    )
    # A section mentioned inside a line is text, not a placeholder.
    inline = "See %(returns)s for more."
    assert fill_sections(inline, _SECTIONS) == inline


def test_an_unknown_section_is_named_at_import_time():
    with pytest.raises(KeyError, match="'raises'.*known: \\['returns'\\]"):

        @shared_docs(_SECTIONS)
        def write():
            """Write.

            %(raises)s
            """


def test_no_docstring_is_left_alone():
    def undocumented():
        pass

    assert shared_docs(_SECTIONS)(undocumented).__doc__ is None


def _documented_objects():
    for module_info in pkgutil.walk_packages(deweight.__path__, "deweight."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(value) or inspect.isclass(value):
                yield f"{module.__name__}.{name}", value
                if inspect.isclass(value):
                    for member_name, member in vars(value).items():
                        if inspect.isfunction(member):
                            yield f"{module.__name__}.{name}.{member_name}", member


def test_every_placeholder_in_the_library_is_filled():
    placeholder = re.compile(r"^\s*%\(\w+\)s\s*$", re.MULTILINE)
    checked = 0
    for name, value in _documented_objects():
        checked += 1
        assert not placeholder.search(value.__doc__ or ""), f"{name} has an unfilled section"
    assert checked > 200
    # The shared sections reach the functions that name them.
    from deweight.archive.lac import acquire_4lac
    from deweight.catalog.bundled import prepare_bundled_blazar_task

    assert "Sidecar path; defaults to ``<output>.provenance.json``." in acquire_4lac.__doc__
    assert "The rows removed by each cut." in prepare_bundled_blazar_task.__doc__
