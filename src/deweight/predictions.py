"""A model's test-set probabilities as the workflow files them: one Parquet file per model.

Columns ``p0..p{C-1}`` and ``label``, and in the file's metadata what is needed to evaluate
them (the Eq. 7 prior of the model, the Eq. 3 fractions of its training set, class names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deweight._files import read_parquet_with_metadata, write_parquet_atomic

__all__ = ["Predictions", "read_predictions", "write_predictions"]


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
