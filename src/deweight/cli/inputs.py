"""What the commands read: the catalogue, priors given as options, and class columns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deweight import io
from deweight.cli.messages import CommandError


def open_catalog(
    args,
    columns: Sequence[str],
    *,
    chunk_rows: int,
    validate: bool = True,
    reuse_buffer: bool = False,
) -> io.Catalog:
    """The catalogue ``CATALOG`` of the command line, to be streamed in blocks."""
    return io.open_catalog(
        args.catalog,
        columns,
        chunk_rows=chunk_rows,
        file_format=args.format,
        validate=validate,
        atol=args.atol,
        reuse_buffer=reuse_buffer,
    )


def has_no_rows(args, catalog: io.Catalog) -> bool:
    """Whether the catalogue has no rows, reading at most one row of a CSV file to find out."""
    if catalog.n_rows is not None:
        return catalog.n_rows == 0
    peek = io.open_catalog(
        catalog.path, catalog.columns, chunk_rows=1, file_format=args.format, validate=False
    )
    return all(chunk.shape[0] == 0 for chunk in peek.iter_chunks())


def flat_prior(n_classes: int) -> np.ndarray:
    """Equal priors (a balanced classifier)."""
    return np.full(n_classes, 1.0 / n_classes)


def checked_prior(values, n_classes: int, option: str, *, allow_zero: bool = False) -> np.ndarray:
    """Validate a prior given on the command line; errors name the option."""
    from deweight._validation import check_prior

    return check_prior(
        np.asarray(values, dtype=float), n_classes, name=option, allow_zero=allow_zero
    )


def plain(value):
    """A NumPy scalar as the Python value it holds, so that messages show ``'x'``, not
    ``np.str_('x')``."""
    return value.item() if hasattr(value, "item") else value


def _names_to_numbers(values: np.ndarray, classes: Sequence[str], fail) -> np.ndarray:
    """A text column of class names as int64 indices; one also holding numbers written as text
    (or numbers read as objects) as float64 numbers, still to be checked."""
    import pandas as pd

    lookup = {name: index for index, name in enumerate(classes)}
    series = pd.Series(values, copy=False)
    as_text = series.map(lambda value: value if isinstance(value, str) else None)
    mapped = as_text.map(lookup)
    unknown = np.flatnonzero(mapped.isna().to_numpy())
    if unknown.size == 0:
        return mapped.to_numpy(dtype=np.int64)
    # A text column may still hold numbers (e.g. "0", 1 read as object); try those.
    numeric = pd.to_numeric(series, errors="coerce")
    mapped = mapped.fillna(numeric)
    unknown = np.flatnonzero(mapped.isna().to_numpy())
    if unknown.size:
        position = int(unknown[0])
        raise fail(position, f"holds {plain(values[position])!r}")
    return mapped.to_numpy(dtype=np.float64)


def class_indices(
    values: np.ndarray, classes: Sequence[str], *, column: str, offset: int
) -> np.ndarray:
    """Turn a column of class indices or class names into int64 indices.

    Names are those of ``--prob-cols`` (the column of class ``i`` is its name); integer
    columns (or whole-number floats) are taken as indices ``0..C-1``.
    """
    n_classes = len(classes)
    described = f"class indices 0..{n_classes - 1} or names {', '.join(classes)}"

    def fail(position: int, reason: str) -> CommandError:
        return CommandError(
            f"column {column!r} row {offset + position} {reason}; expected {described}"
        )

    if values.dtype.kind in "OUS":
        values = _names_to_numbers(values, classes, fail)
        if values.dtype == np.int64:
            return values
    if values.dtype.kind == "b" or values.dtype.kind not in "iuf":
        raise CommandError(f"column {column!r} has dtype {values.dtype}; expected {described}")
    if values.dtype.kind == "f":
        not_whole = np.flatnonzero(~(np.isfinite(values) & (values == np.round(values))))
        if not_whole.size:
            position = int(not_whole[0])
            raise fail(position, f"holds {plain(values[position])!r}")
    outside = np.flatnonzero((values < 0) | (values >= n_classes))
    if outside.size:
        position = int(outside[0])
        raise fail(position, f"holds {plain(values[position])!r}")
    return values.astype(np.int64, copy=False)
