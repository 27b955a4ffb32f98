"""Docstring sections that several public functions share, each written once.

A docstring names a shared section by a line that holds nothing but ``%(name)s``, the
convention of SciPy's ``doccer`` and MNE's ``fill_doc``. :func:`shared_docs` replaces that
line with the section, indented as the line is, when the module is imported, so ``help()``,
Sphinx and :mod:`pydoc` show the whole text. Only whole lines are replaced: a ``%`` anywhere
else in a docstring (``"%.6g"``) needs no escaping.

The sections live beside what they describe (for example the archive writers' in
:mod:`deweight.archive.files`); this module only fills them in.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from typing import TypeVar

_Documented = TypeVar("_Documented")

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.MULTILINE)


def fill_sections(doc: str | None, sections: Mapping[str, str], owner: str = "a docstring") -> str:
    """Return ``doc`` with each placeholder line replaced by its section.

    Parameters
    ----------
    doc : str or None
        The docstring; None (as under ``python -OO``) is returned unchanged.
    sections : mapping of str to str
        Name -> section text. The text is dedented and stripped of blank first and last
        lines, then indented like the placeholder.
    owner : str
        What the docstring belongs to, for the error message.

    Raises
    ------
    KeyError
        If a placeholder names no section (the message names it and the sections known).
    """
    if doc is None:
        return doc

    def section(match: re.Match) -> str:
        name = match.group("name")
        if name not in sections:
            raise KeyError(
                f"{owner} names the shared docstring section {name!r}; known: {sorted(sections)}"
            )
        text = textwrap.dedent(sections[name]).strip("\n")
        return textwrap.indent(text, match.group("indent"))

    return _PLACEHOLDER.sub(section, doc)


def shared_docs(sections: Mapping[str, str]) -> Callable[[_Documented], _Documented]:
    """Decorator: fill the placeholders of a function's or class's docstring from ``sections``.

    Parameters
    ----------
    sections : mapping of str to str
        As for :func:`fill_sections`.

    Raises
    ------
    KeyError
        At import, if the docstring names a section that ``sections`` lacks.
    """

    def decorate(documented: _Documented) -> _Documented:
        owner = getattr(documented, "__qualname__", repr(documented))
        documented.__doc__ = fill_sections(documented.__doc__, sections, owner)
        return documented

    return decorate
