"""Catalogue preparation for the real-data tasks of Lake & Tsai (2022), Sections 3.3 and 3.4.

Two data sources feed the same output format:

* **archive** -- SDSS DR16 SpecObj / PhotoObj / TwoMass, AllWISE and the BZCAT + 4LAC blazar
  catalogues, as the paper uses them (:func:`prepare_star_galaxy_agn`,
  :func:`prepare_blazar_task`);
* **bundled** -- offline stand-ins in SDSS optical colours built from the real files in
  resources/bundled/ (:func:`prepare_bundled_star_galaxy_qso`,
  :func:`prepare_bundled_blazar_task`), checked with :func:`verify_bundled`.

:func:`prepare` is the one entry point: it hands a task's registry entry
(:func:`deweight.registry.spec`) to the preparer it names (:data:`PREPARERS`), which reads the
task's SDSS classes, features, class names and split from that entry. Every preparation
returns the table (columns ``ra``, ``dec``, the task's features, ``label``, ``class_name``,
``split``, ``sample``) and a :class:`CutFlow`.

Modules: ``archive`` and ``bundled`` (the preparers of each data source), ``preparers``
(:func:`prepare`), ``blazars`` (the BZCAT + 4LAC catalogue), ``photometry`` (magnitudes,
Eq. 20, SDSS flags), ``splits``, ``cutflow``, ``config`` (the preparation settings); the
private ``_steps`` (cuts both sources share), ``_output`` (the output columns) and ``_tables``
(column checks).
"""

from deweight.catalog.archive import prepare_blazar_task, prepare_star_galaxy_agn
from deweight.catalog.blazars import (
    label_blazars,
    merge_blazar_catalogs,
    read_4lac,
    read_bzcat,
)
from deweight.catalog.bundled import (
    BUNDLED_FILES,
    BundledDataError,
    prepare_bundled_blazar_task,
    prepare_bundled_star_galaxy_qso,
    verify_bundled,
)
from deweight.catalog.config import PREPARE_SETTINGS, resolve_prepare_config
from deweight.catalog.cutflow import CutFlow
from deweight.catalog.photometry import (
    SDSS_PHOTO_FLAGS,
    WISE_ZERO_POINT_MAG,
    nanomaggies_to_ab_mag,
    sdss_clean_photometry,
    wise_dn_to_vega_mag,
    wise_flux_uncertainty_fix,
)
from deweight.catalog.preparers import PREPARERS, prepare
from deweight.catalog.splits import assign_splits, class_split_table, split_sizes

__all__ = [
    "BUNDLED_FILES",
    "PREPARERS",
    "PREPARE_SETTINGS",
    "SDSS_PHOTO_FLAGS",
    "WISE_ZERO_POINT_MAG",
    "BundledDataError",
    "CutFlow",
    "assign_splits",
    "class_split_table",
    "label_blazars",
    "merge_blazar_catalogs",
    "nanomaggies_to_ab_mag",
    "prepare",
    "prepare_blazar_task",
    "prepare_bundled_blazar_task",
    "prepare_bundled_star_galaxy_qso",
    "prepare_star_galaxy_agn",
    "read_4lac",
    "read_bzcat",
    "resolve_prepare_config",
    "sdss_clean_photometry",
    "split_sizes",
    "verify_bundled",
    "wise_dn_to_vega_mag",
    "wise_flux_uncertainty_fix",
]
