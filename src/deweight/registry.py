"""What each real-data task is, for each data source: one table for the workflow and the library.

The workflow reproduces two real-data tasks of Lake & Tsai (2022) -- ``sga`` (star / galaxy /
AGN, Sect. 3.3, Table 3, Figs. 4 and 8) and ``blazar`` (galaxy / star / AGN / BL Lac / FSRQ,
Sect. 3.4, Table 4, Figs. 5 and 9) -- from one of two data sources: ``archive`` (the paper's
data, fetched from the archives) or ``bundled`` (offline stand-ins built from the real files in
``resources/bundled/``). :data:`REGISTRY` holds one :class:`TaskSpec` per source and task with
everything that differs between them: the input files, the library function that prepares the
catalogue, its features and class names (in label order), the rare classes, the label that
titles and captions use, and the panels and smoothing of the density figures.

Adding a task is one entry here plus its preparer in :mod:`deweight.catalog`. Readers:
``workflow/rules/common.smk`` (``TASK_CLASSES``, ``SOURCE_LABELS``, the inputs of
``prepare_task``), ``workflow/scripts/prepare_task.py``, ``workflow/scripts/plot_density.py``
and :data:`deweight.catalog.TASKS` (the features, class names and split of each prepared
catalogue, keyed by the library's own task names).

This module imports nothing heavy, so that the Snakefile can read it cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "REGISTRY",
    "SIMULATION_LABEL",
    "SOURCES",
    "TASK_NAMES",
    "TaskSpec",
    "catalog_tasks",
    "spec",
]

#: The data sources of the real-data tasks.
SOURCES: tuple[str, ...] = ("bundled", "archive")
#: The real-data tasks, by their workflow names.
TASK_NAMES: tuple[str, ...] = ("sga", "blazar")

#: How titles and captions name the simulated data.
SIMULATION_LABEL = "Simulation (Lake & Tsai 2022, Sect. 3.2)"

_BUNDLED = "resources/bundled"
_ARCHIVE = "resources/archive"
_BUNDLED_NOTE = "(bundled offline stand-in, not the paper's WISE data)"


@dataclass(frozen=True)
class TaskSpec:
    """One real-data task built from one data source.

    Attributes
    ----------
    source, task : str
        The data source (``bundled`` or ``archive``) and the workflow's task name (``sga`` or
        ``blazar``).
    catalog_task : str
        The library's name of the prepared catalogue (a key of :data:`deweight.catalog.TASKS`).
    preparer : str
        The :mod:`deweight.catalog` function that cuts, labels and splits the catalogue.
    inputs : mapping of str to str
        The preparer's inputs in its argument order: role -> path relative to the workflow's
        top directory; ``{results}`` stands for the run's results folder (``output.results``). A ``.parquet`` input is passed as a DataFrame, any other as its path.
    features : tuple of str
        Feature columns of the prepared catalogue.
    class_names : tuple of str
        Class names in label order (label ``i`` is ``class_names[i]``).
    rare_classes : tuple of str
        The rare classes the task is about (a subset of ``class_names``).
    split_stratified : bool
        Whether the train/dev/test split is stratified by class (so rare classes reach dev
        and test).
    label : str
        How titles and captions name the data (and the ``data_source`` column of tables).
    description : str
        One sentence on what the catalogue is, with the paper's section.
    density_panels : mapping of str to tuple of (str, str)
        For the density figure of the task (``fig4`` for sga, ``fig5`` for blazar): the colour
        pairs (x, y) of its panels.
    density_smoothing_mag : float
        Width of the Gaussian kernel of the density maps, mag.
    """

    source: str
    task: str
    catalog_task: str
    preparer: str
    inputs: Mapping[str, str]
    features: tuple[str, ...]
    class_names: tuple[str, ...]
    rare_classes: tuple[str, ...]
    split_stratified: bool
    label: str
    description: str
    density_panels: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    density_smoothing_mag: float = 0.015

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rare_classes) - set(self.class_names))
        if unknown:
            raise ValueError(f"{self.source}/{self.task}: rare classes {unknown} are not classes")
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))
        object.__setattr__(self, "density_panels", MappingProxyType(dict(self.density_panels)))

    @property
    def display_names(self) -> tuple[str, ...]:
        """Class names as figures write them (e.g. ``bll`` -> ``BL Lac``)."""
        from deweight.figures import display_class_name

        return tuple(display_class_name(name) for name in self.class_names)

    def prepare(self, paths: Mapping[str, str | os.PathLike], config: Mapping[str, Any]):
        """Run :attr:`preparer` on the files ``paths`` (role -> path, the roles of :attr:`inputs`).

        Returns
        -------
        table : pandas.DataFrame
        cutflow : deweight.catalog.CutFlow
        """
        import pandas as pd

        from deweight import catalog

        missing = [role for role in self.inputs if role not in paths]
        if missing:
            raise ValueError(f"{self.source}/{self.task}: inputs {missing} are not given")
        arguments = [
            pd.read_parquet(paths[role]) if str(paths[role]).endswith(".parquet") else paths[role]
            for role in self.inputs
        ]
        return getattr(catalog, self.preparer)(*arguments, config=config)


_SGA_ARCHIVE_FEATURES = ("J-W1", "W1-W2")
_BLAZAR_ARCHIVE_FEATURES = ("W1-W2", "W2-W3", "r-W1", "r-i", "g-r")
_OPTICAL_FEATURES = ("u-g", "g-r", "r-i", "i-z")

_ENTRIES = (
    TaskSpec(
        source="bundled",
        task="sga",
        catalog_task="sdss_optical_sgq",
        preparer="prepare_bundled_star_galaxy_qso",
        inputs={"sdss": f"{_BUNDLED}/sdss_dr14_specphoto_sample_10k.csv"},
        features=_OPTICAL_FEATURES,
        class_names=("galaxy", "star", "qso"),
        rare_classes=("qso",),
        split_stratified=False,
        label=f"SDSS DR14 optical sample {_BUNDLED_NOTE}",
        description="Offline stand-in for Section 3.3: the bundled SDSS DR14 optical sample "
        "(10,000 spectroscopic objects), galaxy/star/QSO in SDSS model-magnitude colours.",
        density_panels={"fig4": (("g-r", "u-g"), ("r-i", "g-r"))},
        # 10^4 sources, not 10^6: the maps need a wider kernel.
        density_smoothing_mag=0.05,
    ),
    TaskSpec(
        source="bundled",
        task="blazar",
        catalog_task="sdss_optical_blazar",
        preparer="prepare_bundled_blazar_task",
        inputs={
            "sdss": f"{_BUNDLED}/sdss_dr14_specphoto_sample_10k.csv",
            "bzcat": f"{_BUNDLED}/bzcat5_with_photometry.csv",
            "blazars": "{results}/bundled/catalogs/blazars.parquet",
        },
        features=_OPTICAL_FEATURES,
        class_names=("galaxy", "star", "qso", "bll", "fsrq"),
        rare_classes=("bll", "fsrq"),
        split_stratified=True,
        label=f"SDSS DR14 optical sample + Roma-BZCAT 5 blazars: two samples {_BUNDLED_NOTE}",
        description="Offline stand-in for Section 3.4: the SDSS DR14 optical sample joined "
        "with BZCAT 5 blazars of the merged BZCAT+4LAC catalogue (SDSS DR17 Explore "
        "magnitudes), subsampled so BL Lacs and FSRQs are rare.",
        density_panels={"fig5": (("u-g", "g-r"), ("g-r", "r-i"), ("r-i", "i-z"))},
        density_smoothing_mag=0.05,
    ),
    TaskSpec(
        source="archive",
        task="sga",
        catalog_task="star_galaxy_agn",
        preparer="prepare_star_galaxy_agn",
        inputs={
            "spec": f"{_ARCHIVE}/sdss_specobj.parquet",
            "wise": f"{_ARCHIVE}/allwise.parquet",
            "twomass": f"{_ARCHIVE}/sdss_twomass.parquet",
        },
        features=_SGA_ARCHIVE_FEATURES,
        class_names=("galaxy", "star", "agn"),
        rare_classes=("agn",),
        split_stratified=False,
        label="SDSS DR16 x AllWISE x 2MASS (archive data, as in the paper)",
        description="Section 3.3 / Table 3: SDSS DR16 SpecObj x AllWISE x 2MASS, "
        "J-W1 and W1-W2 (Vega).",
        # The paper's Fig. 4: J-W1 against W1-W2.
        density_panels={"fig4": (("W1-W2", "J-W1"),)},
        density_smoothing_mag=0.015,
    ),
    TaskSpec(
        source="archive",
        task="blazar",
        catalog_task="blazar",
        preparer="prepare_blazar_task",
        inputs={
            "spec": f"{_ARCHIVE}/sdss_specobj.parquet",
            "wise": f"{_ARCHIVE}/allwise.parquet",
            "photo": f"{_ARCHIVE}/sdss_photoobj.parquet",
            "blazars": "{results}/archive/catalogs/blazars.parquet",
        },
        features=_BLAZAR_ARCHIVE_FEATURES,
        class_names=("galaxy", "star", "agn", "bll", "fsrq"),
        rare_classes=("bll", "fsrq"),
        split_stratified=True,
        label="SDSS DR16 x AllWISE + Roma-BZCAT 5 + 4LAC (archive data, as in the paper)",
        description="Section 3.4 / Table 4: SDSS DR16 SpecObj x AllWISE x PhotoObj with "
        "BZCAT+4LAC blazar labels; WISE Vega, SDSS dereddened AB.",
        # The paper's Fig. 5, the "bubble plot": r-i vs r-W1 and r-i vs g-r.
        density_panels={"fig5": (("W2-W3", "W1-W2"), ("r-W1", "r-i"), ("g-r", "r-i"))},
        density_smoothing_mag=0.015,
    ),
)

#: (source, task) -> :class:`TaskSpec`, for every data source and real-data task.
REGISTRY: Mapping[tuple[str, str], TaskSpec] = MappingProxyType(
    {(entry.source, entry.task): entry for entry in _ENTRIES}
)


def spec(source: str, task: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``task`` built from ``source``.

    Raises
    ------
    KeyError
        Naming the known sources and tasks when the pair is not registered.
    """
    try:
        return REGISTRY[(source, task)]
    except KeyError:
        raise KeyError(
            f"no task {task!r} for data source {source!r}; sources {list(SOURCES)}, "
            f"tasks {list(TASK_NAMES)}"
        ) from None


def catalog_tasks() -> dict[str, dict[str, Any]]:
    """The prepared catalogues by the library's task names, as :data:`deweight.catalog.TASKS`."""
    return {
        entry.catalog_task: {
            "data_source": entry.source,
            "features": list(entry.features),
            "class_names": list(entry.class_names),
            "split_stratified": entry.split_stratified,
            "description": entry.description,
        }
        for entry in _ENTRIES
    }
