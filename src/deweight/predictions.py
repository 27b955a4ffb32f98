"""A model's test-set probabilities as the workflow files them: one Parquet file per model.

Columns ``p0..p{C-1}`` and ``label``, and in the file's metadata what is needed to evaluate
them (the Eq. 7 prior of the model, the Eq. 3 fractions of its training set, class names).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deweight._files import METADATA_KEY, read_parquet_with_metadata, write_parquet_atomic

__all__ = ["Predictions", "index_predictions", "read_predictions", "write_predictions"]


@dataclass(frozen=True)
class Predictions:
    """A model's class probabilities on a test set, with what is needed to evaluate them.

    Attributes
    ----------
    probs : ndarray of shape (n, C)
        Test-set probabilities.
    labels : ndarray of shape (n,)
        True test-set classes.
    metadata : dict
        ``variant``, ``size_requested``, ``size_used``, ``model_prior`` (Eq. 7 prior of the
        training set the model saw), ``training_fractions`` (unweighted Eq. 3 fractions of that
        set), ``class_names`` and the fit report.
    """

    probs: np.ndarray
    labels: np.ndarray
    metadata: dict


def write_predictions(path, probs, labels, metadata: Mapping) -> None:
    """Write test-set probabilities (columns p0..p{C-1}) and true labels to Parquet."""
    probs = np.asarray(probs, dtype=np.float64)
    frame = pd.DataFrame({f"p{i}": probs[:, i] for i in range(probs.shape[1])})
    frame["label"] = np.asarray(labels, dtype=np.int64)
    write_parquet_atomic(frame, path, metadata=dict(metadata))


def read_predictions(path) -> Predictions:
    """Read what :func:`write_predictions` wrote."""
    frame, metadata = read_parquet_with_metadata(path)
    columns = sorted((c for c in frame.columns if c.startswith("p")), key=lambda c: int(c[1:]))
    return Predictions(
        probs=frame[columns].to_numpy(np.float64),
        labels=frame["label"].to_numpy(np.int64),
        metadata=metadata,
    )


def _metadata_value(metadata: Mapping, key: str, path) -> object:
    """``metadata[key]``, a dotted key reaching into nested mappings (``fit_report.recipe``)."""
    value = metadata
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ValueError(f"{path}: its metadata has no {key!r}; was it made by the workflow?")
        value = value[part]
    return value


def index_predictions(
    paths: Iterable[str | os.PathLike],
    keys: Sequence[str],
    *,
    expected: Iterable[tuple] | None = None,
) -> dict[tuple, str | os.PathLike]:
    """Key each predictions file by its own metadata, not by where it stands in a list.

    Only each file's schema metadata is read, not its rows.

    Parameters
    ----------
    paths : iterable of path
        Files written by :func:`write_predictions`.
    keys : sequence of str
        Metadata entries that make a file's key, e.g. ``("variant", "size_requested")``; a
        dotted key reaches into a nested entry (``"fit_report.recipe"``).
    expected : iterable of tuple, optional
        The keys the files must have, each exactly once; the result is then in this order.

    Returns
    -------
    dict
        Key tuple -> path, in the order of ``expected`` (else of ``paths``).

    Raises
    ------
    ValueError
        Naming the file that lacks a key, the two files that share one, or the expected keys
        that no file has and the keys no one expected.
    """
    import pyarrow.parquet

    found: dict[tuple, str | os.PathLike] = {}
    for path in paths:
        raw = (pyarrow.parquet.read_schema(path).metadata or {}).get(METADATA_KEY)
        metadata = json.loads(raw) if raw else {}
        key = tuple(_metadata_value(metadata, name, path) for name in keys)
        if key in found:
            raise ValueError(f"{found[key]} and {path} are both the predictions of {key}")
        found[key] = path
    if expected is None:
        return found
    expected = list(expected)
    wanted = set(expected)
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in wanted]
    if missing or unexpected:
        raise ValueError(
            f"predictions keyed by {tuple(keys)}: missing {missing}, not expected {unexpected}"
        )
    return {key: found[key] for key in expected}
