"""Private: assembly of the output columns shared by every prepared task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from deweight.catalog._tables import as_float
from deweight.catalog.splits import assign_splits
from deweight.registry import TaskSpec


def finish_table(
    table: pd.DataFrame,
    features: pd.DataFrame,
    class_names: pd.Series,
    task: TaskSpec,
    sample: str | np.ndarray,
    cfg: Mapping[str, Any],
) -> pd.DataFrame:
    """Assemble the output columns: ra, dec, the task's features, label, class_name, split, sample.

    The features, the class names (in label order) and whether the split is stratified are
    read from the task's registry entry ``task``.
    """
    names = list(task.class_names)
    class_array = class_names.to_numpy(dtype=object)
    unknown = sorted(set(class_array) - set(names))
    if unknown:
        raise ValueError(f"{task.source}/{task.task}: classes {unknown} are not among {names}")
    labels = np.asarray([names.index(name) for name in class_array], dtype=np.int64)
    result = pd.DataFrame({"ra": as_float(table["ra"]), "dec": as_float(table["dec"])})
    for feature in task.features:
        result[feature] = features[feature].to_numpy(dtype=float)
    result["label"] = labels
    result["class_name"] = class_array.astype(str)
    result["split"] = assign_splits(
        len(result),
        fractions=cfg["split_fractions"],
        seed=cfg["split_seed"],
        stratify_labels=labels if task.split_stratified else None,
    )
    result["sample"] = sample
    return result
