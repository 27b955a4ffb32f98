"""One entry point for every real-data task: :func:`prepare` hands a registry entry to its preparer.

The registry (:mod:`deweight.registry`) names each task's preparer and the roles of the files
it reads; the preparer gets the entry itself (``task=``) and reads from it the SDSS classes it
keeps, the features, the class names and how the split is drawn. Nothing here looks a task up
by name: the entry travels down, no lookup comes back up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pandas as pd

from deweight.catalog.archive import prepare_blazar_task, prepare_star_galaxy_agn
from deweight.catalog.bundled import prepare_bundled_blazar_task, prepare_bundled_star_galaxy_qso
from deweight.catalog.cutflow import CutFlow
from deweight.registry import TaskSpec

__all__ = ["PREPARERS", "prepare"]

#: The preparers a registry entry may name (:attr:`~deweight.registry.TaskSpec.preparer`), by
#: their function names. Each takes its input files in the entry's order, then the keywords
#: ``task`` (the entry) and ``config``, and returns the table and its :class:`CutFlow`.
PREPARERS = MappingProxyType(
    {
        function.__name__: function
        for function in (
            prepare_bundled_star_galaxy_qso,
            prepare_bundled_blazar_task,
            prepare_star_galaxy_agn,
            prepare_blazar_task,
        )
    }
)


def prepare(
    spec: TaskSpec,
    paths: Mapping[str, str | os.PathLike],
    config: Mapping[str, Any],
) -> tuple[pd.DataFrame, CutFlow]:
    """Cut, label and split the catalogue of the task ``spec`` from the files ``paths``.

    Parameters
    ----------
    spec : deweight.registry.TaskSpec
        The task's registry entry: its preparer, the roles of its inputs, its SDSS classes,
        features, class names and split (e.g. ``deweight.registry.spec("bundled", "sga")``).
    paths : mapping of str to path
        Role -> file, for every role of ``spec.inputs``. A ``.parquet`` file is read and passed
        as a DataFrame, any other file as its path.
    config : mapping
        Every catalogue preparation setting (:data:`~deweight.catalog.config.PREPARE_SETTINGS`,
        checked by :func:`~deweight.catalog.config.resolve_prepare_config`): the workflow's
        ``prepare:`` block with ``split_seed``.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``ra``, ``dec``, the task's features, ``label``, ``class_name``, ``split``,
        ``sample``.
    cutflow : CutFlow
        The rows removed by each cut.

    Raises
    ------
    ValueError
        If the entry names no known preparer or an input role has no file.
    """
    where = f"{spec.source}/{spec.task}"
    preparer = PREPARERS.get(spec.preparer)
    if preparer is None:
        raise ValueError(
            f"{where}: unknown preparer {spec.preparer!r}; preparers {sorted(PREPARERS)}"
        )
    missing = [role for role in spec.inputs if role not in paths]
    if missing:
        raise ValueError(f"{where}: inputs {missing} are not given")
    arguments = [
        pd.read_parquet(paths[role]) if str(paths[role]).endswith(".parquet") else paths[role]
        for role in spec.inputs
    ]
    return preparer(*arguments, task=spec, config=config)
