"""Settings of the catalogue preparation (the ``prepare:`` block of the workflow config)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["PREPARER_DOCS", "PREPARE_SETTINGS", "resolve_prepare_config"]

_TASK_CONFIG_DOC = """\
task, config
    The task's registry entry (:func:`deweight.registry.spec` of the source and task this
    preparer serves) and the preparation settings, as :func:`deweight.catalog.prepare`
    describes them.
"""

_BLAZARS_DOC = """\
blazars : pandas.DataFrame
    The merged catalogue from :func:`~deweight.catalog.blazars.merge_blazar_catalogs`.
"""

_CUTFLOW_RAISES_DOC = """\
cutflow : CutFlow
    The rows removed by each cut.

Raises
------
ValueError
    If a required column is missing (the message names it and its table or file) or a
    setting of ``config`` is invalid.
"""

#: Docstring sections of the task preparers (:mod:`deweight.catalog.archive`,
#: :mod:`deweight.catalog.bundled`), filled in by :func:`deweight._docs.shared_docs`.
PREPARER_DOCS = {
    "task_config": _TASK_CONFIG_DOC,
    "blazars_task_config": _BLAZARS_DOC + _TASK_CONFIG_DOC,
    "cutflow_raises": _CUTFLOW_RAISES_DOC,
}

#: Names of the catalogue preparation settings. Their values, described, and the defaults the
#: workflow uses are in workflow/schemas/config.schema.yaml (``prepare:``, plus ``split_seed``
#: from the top-level ``seed``); the library states no second copy of them.
PREPARE_SETTINGS: tuple[str, ...] = (
    "snr_min",
    "eq20_factor",
    "eq20_floor",
    "zwarning_allowed",
    "wise_match_radius_arcsec",
    "blazar_label_radius_arcsec",
    "blazar_merge_radius_arcsec",
    "drop_4lac",
    "lac_release",
    "lac_low_latitude",
    "split_fractions",
    "split_seed",
    "bundled_blazar_fractions",
    "bundled_magnitude_range",
)


def resolve_prepare_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a complete set of catalogue preparation settings and normalise their types.

    Parameters
    ----------
    config : mapping
        Every setting of :data:`PREPARE_SETTINGS` and no other: the workflow's ``prepare:``
        block (defaults filled from its schema) with ``split_seed``.

    Returns
    -------
    dict
        A copy with numbers as float/int and lists as lists.

    Raises
    ------
    ValueError
        If a setting is missing or unknown (a typo would otherwise be silently ignored), or a
        value is out of range.
    """
    resolved = copy.deepcopy(dict(config))
    unknown = sorted(set(resolved) - set(PREPARE_SETTINGS))
    if unknown:
        known = ", ".join(PREPARE_SETTINGS)
        raise ValueError(f"unknown prepare setting {unknown[0]!r}; known settings: {known}")
    missing = [key for key in PREPARE_SETTINGS if key not in resolved]
    if missing:
        raise ValueError(
            f"prepare settings {missing} are missing; the workflow's defaults are in "
            "workflow/schemas/config.schema.yaml"
        )

    for key in (
        "snr_min",
        "eq20_factor",
        "wise_match_radius_arcsec",
        "blazar_label_radius_arcsec",
        "blazar_merge_radius_arcsec",
    ):
        if not float(resolved[key]) > 0:
            raise ValueError(f"prepare setting {key!r} must be positive, got {resolved[key]!r}")
    if not float(resolved["eq20_floor"]) >= 0:
        raise ValueError(f"prepare setting 'eq20_floor' must be >= 0, got {resolved['eq20_floor']}")
    resolved["zwarning_allowed"] = [int(v) for v in resolved["zwarning_allowed"]]
    resolved["drop_4lac"] = [str(name).strip() for name in resolved["drop_4lac"]]
    if resolved["lac_release"] not in ("dr1", "dr3"):
        raise ValueError(
            f"prepare setting 'lac_release' must be 'dr1' or 'dr3', got {resolved['lac_release']!r}"
        )
    fractions = [float(f) for f in resolved["split_fractions"]]
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(
            f"'split_fractions' must be three non-negative numbers summing to 1, got "
            f"{resolved['split_fractions']!r}"
        )
    resolved["split_fractions"] = fractions
    resolved["split_seed"] = int(resolved["split_seed"])
    blazar_fractions = {str(k): float(v) for k, v in resolved["bundled_blazar_fractions"].items()}
    if (
        set(blazar_fractions) != {"bll", "fsrq"}
        or min(blazar_fractions.values()) < 0
        or (sum(blazar_fractions.values()) >= 1)
    ):
        raise ValueError(
            "'bundled_blazar_fractions' must give non-negative 'bll' and 'fsrq' "
            f"fractions summing to less than 1, got {blazar_fractions!r}"
        )
    resolved["bundled_blazar_fractions"] = blazar_fractions
    low, high = (float(v) for v in resolved["bundled_magnitude_range"])
    if not low < high:
        raise ValueError(
            f"'bundled_magnitude_range' must be [low, high] with low < high, got "
            f"{resolved['bundled_magnitude_range']!r}"
        )
    resolved["bundled_magnitude_range"] = [low, high]
    return resolved
