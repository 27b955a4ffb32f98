"""Atomic file output shared by every module that writes results.

A reader (or a rerun after a crash) must never see a half-written table, figure or model:
everything is written to a temporary file in the destination's directory and then renamed
over the destination, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike, *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it onto ``destination`` on success.

    Parameters
    ----------
    destination : str or os.PathLike
        The file to create or replace. Its directory is created if needed.
    keep_suffix : bool, default False
        End the temporary name with the destination's suffix (for writers that choose the
        format from the file name, e.g. matplotlib's ``savefig``).

    Yields
    ------
    Path
        Where to write. On any exception it is deleted and ``destination`` is left as it was.

    Notes
    -----
    The finished file gets the permissions a new file would get under the user's umask,
    not the private 0600 of :func:`tempfile.mkstemp`.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp{destination.suffix}" if keep_suffix else ".tmp"
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=suffix, dir=destination.parent
    )
    os.close(handle)
    temporary = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield temporary
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
