"""Settings of the catalogue preparation (the ``prepare:`` block of the workflow config)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_PREPARE_CONFIG", "resolve_prepare_config"]

#: Defaults, following Sections 3.3 and 3.4 of Lake & Tsai (2022) where the paper sets a value.
DEFAULT_PREPARE_CONFIG: Mapping[str, Any] = {
    # SNR threshold applied to every band the task uses (Sections 3.3, 3.4).
    "snr_min": 5.0,
    # The "2" and "0.02" of Eq. 20.
    "eq20_factor": 2.0,
    "eq20_floor": 0.02,
    # zWarning values accepted (Section 3.3, following Clarke et al. 2020).
    "zwarning_allowed": [0, 16],
    # SpecObj x AllWISE match radius, arcsec (Section 3.3).
    "wise_match_radius_arcsec": 3.0,
    # SpecObj sources this close to a merged blazar get the blazar class, arcsec (Section 3.4).
    "blazar_label_radius_arcsec": 5.0,
    # BZCAT x 4LAC-counterpart radius within which they are the same blazar, arcsec (Section 3.4).
    "blazar_merge_radius_arcsec": 10.0,
    # 4LAC sources dropped before the merge (Section 3.4).
    "drop_4lac": ["4FGL J1956.1+0234"],
    # 4LAC release: "dr1" (the paper's, high latitude) or "dr3" (high + low latitude).
    "lac_release": "dr1",
    # train / dev / test fractions (Section 3.3) and the seed of the random split.
    "split_fractions": [0.8, 0.1, 0.1],
    "split_seed": 20220620,
    # Bundled stand-in only: fraction of the final table that BL Lacs and FSRQs make up.
    "bundled_blazar_fractions": {"bll": 0.005, "fsrq": 0.01},
    # Bundled stand-in only: open interval of plausible SDSS magnitudes, mag.
    "bundled_magnitude_range": [10.0, 30.0],
}


def resolve_prepare_config(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``config`` over :data:`DEFAULT_PREPARE_CONFIG` and check the values.

    Parameters
    ----------
    config : mapping, optional
        Settings that override the defaults; keys must be keys of
        :data:`DEFAULT_PREPARE_CONFIG`.

    Returns
    -------
    dict
        The complete settings.

    Raises
    ------
    ValueError
        If a key is unknown (a typo would otherwise be silently ignored) or a value is out of
        range.
    """
    resolved = copy.deepcopy(dict(DEFAULT_PREPARE_CONFIG))
    for key, value in (config or {}).items():
        if key not in resolved:
            known = ", ".join(sorted(resolved))
            raise ValueError(f"unknown prepare setting {key!r}; known settings: {known}")
        resolved[key] = copy.deepcopy(value)

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
