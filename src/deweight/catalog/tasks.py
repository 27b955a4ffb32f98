"""The classification tasks that the prepared catalogues describe, for the workflow to look up."""

from __future__ import annotations

from typing import Any

__all__ = ["TASKS"]

#: Feature columns and class names (in label order) of each task. ``data_source`` says which data the
#: task is built from: ``archive`` (SDSS DR16 + AllWISE + 2MASS, as in the paper; needs network)
#: or ``bundled`` (the offline stand-ins built from resources/bundled/). Outputs of bundled tasks
#: must say "SDSS DR14 optical sample" and never present themselves as the paper's WISE results.
TASKS: dict[str, dict[str, Any]] = {
    "star_galaxy_agn": {
        "data_source": "archive",
        "features": ["J-W1", "W1-W2"],
        "class_names": ["galaxy", "star", "agn"],
        "split_stratified": False,
        "description": "Section 3.3 / Table 3: SDSS DR16 SpecObj x AllWISE x 2MASS, "
        "J-W1 and W1-W2 (Vega).",
    },
    "blazar": {
        "data_source": "archive",
        "features": ["W1-W2", "W2-W3", "r-W1", "r-i", "g-r"],
        "class_names": ["galaxy", "star", "agn", "bll", "fsrq"],
        "split_stratified": True,
        "description": "Section 3.4 / Table 4: SDSS DR16 SpecObj x AllWISE x PhotoObj with "
        "BZCAT+4LAC blazar labels; WISE Vega, SDSS dereddened AB.",
    },
    "sdss_optical_sgq": {
        "data_source": "bundled",
        "features": ["u-g", "g-r", "r-i", "i-z"],
        "class_names": ["galaxy", "star", "qso"],
        "split_stratified": False,
        "description": "Offline stand-in for Section 3.3: the bundled SDSS DR14 optical sample "
        "(10,000 spectroscopic objects), galaxy/star/QSO in SDSS model-magnitude colours.",
    },
    "sdss_optical_blazar": {
        "data_source": "bundled",
        "features": ["u-g", "g-r", "r-i", "i-z"],
        "class_names": ["galaxy", "star", "qso", "bll", "fsrq"],
        "split_stratified": True,
        "description": "Offline stand-in for Section 3.4: the SDSS DR14 optical sample joined "
        "with BZCAT 5 blazars of the merged BZCAT+4LAC catalogue (SDSS DR17 Explore "
        "magnitudes), subsampled so BL Lacs and FSRQs are rare.",
    },
}
