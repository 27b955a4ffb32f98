"""Table formats and their file-name endings (standard library only).

Kept apart from :mod:`deweight.io`, which needs NumPy and Arrow, so that the ``deweight``
command can list the formats in its help and reject an unknown file ending without importing
either. :mod:`deweight.io` re-exports everything here.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_CHUNK_ROWS", "FORMATS", "infer_format"]

#: Formats understood by :func:`open_catalog` and the writers.
FORMATS = ("parquet", "fits", "csv")

#: Rows per block by default: 2**22 rows of three float64 probabilities are 100 MB, large enough
#: that per-block overheads (Python calls, reader set-up) are negligible next to the arithmetic.
DEFAULT_CHUNK_ROWS = 1 << 22

# Longest suffixes first, so that ".fits.gz" is matched before ".gz" could be.
_SUFFIX_FORMATS = (
    (".fits.gz", "fits"),
    (".fit.gz", "fits"),
    (".fts.gz", "fits"),
    (".csv.gz", "csv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
    (".fits", "fits"),
    (".fit", "fits"),
    (".fts", "fits"),
    (".csv", "csv"),
)


def _matched_suffix(path: Path) -> tuple[str, str] | None:
    """Return ``(suffix, format)`` for the recognised suffix ending ``path``, if any."""
    name = path.name.lower()
    for suffix, file_format in _SUFFIX_FORMATS:
        if name.endswith(suffix):
            return suffix, file_format
    return None


def infer_format(path: str | os.PathLike, file_format: str | None = None) -> str:
    """Return the table format of ``path``: one of :data:`FORMATS`.

    Parameters
    ----------
    path : str or path-like
        File name; its ending decides the format (``.parquet``, ``.pq``, ``.fits``, ``.fit``,
        ``.fts``, ``.fits.gz``, ``.csv``, ``.csv.gz``; case-insensitive).
    file_format : str, optional
        Explicit format, which wins over the file name.

    Returns
    -------
    str
        ``"parquet"``, ``"fits"`` or ``"csv"``.

    Raises
    ------
    ValueError
        If ``file_format`` is not a known format, or it is omitted and the file name has no
        recognised ending.
    """
    if file_format is not None:
        normalised = file_format.lower().lstrip(".")
        aliases = {"pq": "parquet", "fit": "fits", "fts": "fits"}
        normalised = aliases.get(normalised, normalised)
        if normalised not in FORMATS:
            raise ValueError(
                f"unknown table format {file_format!r}; choose one of {', '.join(FORMATS)}"
            )
        return normalised
    matched = _matched_suffix(Path(path))
    if matched is None:
        endings = ", ".join(suffix for suffix, _ in _SUFFIX_FORMATS)
        raise ValueError(
            f"cannot tell the table format of {os.fspath(path)!r} from its name (known endings: "
            f"{endings}); give the format explicitly"
        )
    return matched[1]
