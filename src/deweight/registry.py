"""What each real-data task is, for each data source: one table for the workflow and the library.

The workflow reproduces two real-data tasks of Lake & Tsai (2022) -- ``sga`` (star / galaxy /
AGN, Sect. 3.3, Table 3, Figs. 4 and 8) and ``blazar`` (galaxy / star / AGN / BL Lac / FSRQ,
Sect. 3.4, Table 4, Figs. 5 and 9) -- from one of two data sources: ``archive`` (the paper's
data, fetched from the archives) or ``bundled`` (offline stand-ins built from the real files in
``resources/bundled/``). :data:`REGISTRY` holds one :class:`TaskSpec` per source and task with
everything that differs between them: the roles of the files its preparer reads, the library
function that prepares the catalogue, the SDSS classes it keeps and what it calls them, its features and class names (in
label order), the rare classes, the words that titles, messages and captions use, the
workflow outputs it has (density figure, overshoot figure, class-count table: the paper's
numbers for the two tasks, ``density_<task>`` and so on for any other) and the panels and
smoothing of its density figure. :data:`CLASSES` says how figures write and draw each class.

Adding a task is one entry in ``_ENTRIES`` plus its preparer in :mod:`deweight.catalog`; the
workflow then prepares it, trains and evaluates its sweep and draws its figures and tables with
no rule edited. Readers: ``workflow/rules/common.smk`` (labels, classes and output names of the
rules), the scripts under ``workflow/scripts/``, :mod:`deweight.figures` (class names and
styles) and :func:`deweight.catalog.prepare`, which hands an entry to its preparer: the
features, class names, SDSS classes and split of a prepared catalogue are read from the entry
itself. Where each input file comes from (a bundled file or a rule's output) is the workflow's
business (:mod:`deweight._workflow_inputs`), not this table's.

This module is the bottom of the library's layers: it imports nothing of deweight and nothing
heavy, so that the Snakefile can read it cheaply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CLASSES",
    "OUTPUT_KINDS",
    "REGISTRY",
    "SIMULATION_CLASS_NAMES",
    "SIMULATION_LABEL",
    "SOURCES",
    "TASK_NAMES",
    "ClassStyle",
    "TaskSpec",
    "output_title",
    "outputs",
    "spec",
    "tasks",
]

#: The data sources of the real-data tasks.
SOURCES: tuple[str, ...] = ("bundled", "archive")

#: How titles and captions name the simulated data.
SIMULATION_LABEL = "Simulation (Lake & Tsai 2022, Sect. 3.2)"
#: How the simulated data's files, tables and figures name its three classes (Table 1), in
#: label order (as many as :data:`deweight.simulate.N_CLASSES`).
SIMULATION_CLASS_NAMES: tuple[str, ...] = ("class 0", "class 1", "class 2")


@dataclass(frozen=True)
class ClassStyle:
    """How figures write and draw one class of a prepared catalogue.

    Attributes
    ----------
    display : str
        The class name on figures and in captions (``bll`` -> ``BL Lac``).
    colour : str
        An Okabe & Ito (2008) colour name (a key of :data:`deweight.figures.OKABE_ITO`).
    linestyle : str or tuple
        Matplotlib line style of its contours (Figs. 4 and 5).
    """

    display: str
    colour: str
    linestyle: str | tuple


#: Class name -> how figures write and draw it. The paper draws galaxies dashed, stars
#: dash-dotted and AGN solid; ``qso`` is the SDSS name of the bundled stand-in's AGN class.
#: A class missing here is written as it is named and drawn in a colour by its position.
CLASSES: Mapping[str, ClassStyle] = MappingProxyType(
    {
        "galaxy": ClassStyle("Galaxy", "vermillion", "--"),
        "star": ClassStyle("Star", "green", "-."),
        "agn": ClassStyle("AGN", "blue", "-"),
        "qso": ClassStyle("QSO", "blue", "-"),
        "bll": ClassStyle("BL Lac", "purple", ":"),
        "fsrq": ClassStyle("FSRQ", "orange", (0, (6, 2, 1, 2, 1, 2))),
    }
)

#: The workflow outputs each task has, by the :class:`TaskSpec` attribute that names them:
#: its density figure (Figs. 4-5), overshoot figure (Figs. 8-9), class-count table
#: (Tables 3-4) and, beyond the paper, its reliability figure.
OUTPUT_KINDS: tuple[str, ...] = (
    "density_figure",
    "overshoot_figure",
    "split_table",
    "reliability_figure",
)
_DEFAULT_OUTPUT_PREFIX = {
    "density_figure": "density",
    "overshoot_figure": "overshoot",
    "split_table": "classes",
    "reliability_figure": "reliability",
}


@dataclass(frozen=True)
class TaskSpec:
    """One real-data task built from one data source.

    Attributes
    ----------
    source, task : str
        The data source (``bundled`` or ``archive``) and the task's name (``sga`` or
        ``blazar``), the one name a task has.
    preparer : str
        The :mod:`deweight.catalog` function that cuts, labels and splits the catalogue (a key
        of :data:`deweight.catalog.PREPARERS`); :func:`deweight.catalog.prepare` calls it with
        this entry.
    inputs : tuple of str
        The roles of the files the preparer reads, in its argument order (``sdss``, ``spec``,
        ``wise``, ``blazars``, ...). The workflow says which file plays each role for each data
        source (:data:`deweight._workflow_inputs.INPUT_FILES`).
    sdss_classes : mapping of str to str
        SDSS spectroscopic class (the ``class`` column) -> class name of the task; rows of any
        other SDSS class are cut.
    features : tuple of str
        Feature columns of the prepared catalogue.
    class_names : tuple of str
        Class names in label order (label ``i`` is ``class_names[i]``).
    rare_classes : tuple of str
        The rare classes the task is about (a subset of ``class_names``).
    split_stratified : bool
        Whether the train/dev/test split is stratified by class (so rare classes reach dev
        and test).
    title : str
        How messages and captions name the task ("the star/galaxy/QSO task").
    label : str
        How titles and captions name the data (and the ``data_source`` column of tables).
    description : str
        One sentence on what the catalogue is, with the paper's section (also in captions).
    density_figure, overshoot_figure, split_table, reliability_figure : str
        Names of the task's density figure, overshoot figure, class-count table and
        reliability figure (``results/<source>/figures/<name>.pdf``,
        ``results/<source>/tables/<name>.csv``); by default ``density_<task>``,
        ``overshoot_<task>``, ``classes_<task>`` and ``reliability_<task>``.
    density_panels : tuple of (str, str)
        The colour pairs (x, y) of the density figure's panels.
    density_by_class : bool
        One row of panels per class (Fig. 5) instead of one row with a contour per class
        (Fig. 4).
    density_smoothing_mag : float
        Width of the Gaussian kernel of the density maps, mag.
    """

    source: str
    task: str
    preparer: str
    inputs: tuple[str, ...]
    sdss_classes: Mapping[str, str]
    features: tuple[str, ...]
    class_names: tuple[str, ...]
    rare_classes: tuple[str, ...]
    split_stratified: bool
    title: str
    label: str
    description: str
    density_panels: tuple[tuple[str, str], ...]
    density_by_class: bool = False
    density_smoothing_mag: float = 0.015
    density_figure: str = ""
    overshoot_figure: str = ""
    split_table: str = ""
    reliability_figure: str = ""

    def __post_init__(self) -> None:
        where = f"{self.source}/{self.task}"
        unknown = sorted(set(self.rare_classes) - set(self.class_names))
        if unknown:
            raise ValueError(f"{where}: rare classes {unknown} are not classes")
        unknown = sorted(set(self.sdss_classes.values()) - set(self.class_names))
        if unknown:
            raise ValueError(f"{where}: SDSS classes map to {unknown}, which are not classes")
        for x, y in self.density_panels:
            if not {x, y} <= set(self.features):
                raise ValueError(f"{where}: density panel {(x, y)} is not two features")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "sdss_classes", MappingProxyType(dict(self.sdss_classes)))
        object.__setattr__(self, "density_panels", tuple(map(tuple, self.density_panels)))
        for kind in OUTPUT_KINDS:
            if not getattr(self, kind):
                default = f"{_DEFAULT_OUTPUT_PREFIX[kind]}_{self.task}"
                object.__setattr__(self, kind, default)
            if not re.fullmatch(r"[A-Za-z0-9_]+", getattr(self, kind)):
                raise ValueError(f"{where}: {kind} {getattr(self, kind)!r} is not a plain name")

    @property
    def display_names(self) -> tuple[str, ...]:
        """Class names as figures write them (e.g. ``bll`` -> ``BL Lac``), from :data:`CLASSES`."""
        return tuple(
            CLASSES[name].display if name in CLASSES else name for name in self.class_names
        )


_BUNDLED_NOTE = "(bundled offline stand-in, not the paper's WISE data)"
_SGA_ARCHIVE_FEATURES = ("J-W1", "W1-W2")
_BLAZAR_ARCHIVE_FEATURES = ("W1-W2", "W2-W3", "r-W1", "r-i", "g-r")
_OPTICAL_FEATURES = ("u-g", "g-r", "r-i", "i-z")
# SDSS DR14 names its quasars QSO, and so does the offline stand-in; the paper calls them AGN.
_BUNDLED_SDSS_CLASSES = {"GALAXY": "galaxy", "STAR": "star", "QSO": "qso"}
_ARCHIVE_SDSS_CLASSES = {"GALAXY": "galaxy", "STAR": "star", "QSO": "agn"}

#: What the paper fixes for each of its two tasks, the same from either data source: its figures
#: and table, whether the split is plain (Table 3) or stratified by class (Table 4), and whether
#: the density figure has one row of panels per class (Fig. 5) or one row in all (Fig. 4).
_PAPER_TASKS = {
    "sga": {
        "density_figure": "fig4",
        "overshoot_figure": "fig8",
        "split_table": "table3",
        "split_stratified": False,
        "density_by_class": False,
    },
    "blazar": {
        "density_figure": "fig5",
        "overshoot_figure": "fig9",
        "split_table": "table4",
        "split_stratified": True,
        "density_by_class": True,
    },
}
#: What every entry of a data source shares: the SDSS classes it keeps and its density kernel.
#: The bundled stand-ins also share their features (the DR14 sample's optical colours), and
#: their maps need a wider kernel (10^4 sources, not 10^6).
_SOURCE_SETTINGS = {
    "bundled": {
        "source": "bundled",
        "sdss_classes": _BUNDLED_SDSS_CLASSES,
        "features": _OPTICAL_FEATURES,
        "density_smoothing_mag": 0.05,
    },
    "archive": {
        "source": "archive",
        "sdss_classes": _ARCHIVE_SDSS_CLASSES,
        "density_smoothing_mag": 0.015,
    },
}

_ENTRIES = (
    TaskSpec(
        **_SOURCE_SETTINGS["bundled"],
        **_PAPER_TASKS["sga"],
        task="sga",
        preparer="prepare_bundled_star_galaxy_qso",
        inputs=("sdss",),
        class_names=("galaxy", "star", "qso"),
        rare_classes=("qso",),
        title="star/galaxy/QSO",
        label=f"SDSS DR14 optical sample {_BUNDLED_NOTE}",
        description="Offline stand-in for Section 3.3: the bundled SDSS DR14 optical sample "
        "(10,000 spectroscopic objects), galaxy/star/QSO in SDSS model-magnitude colours.",
        density_panels=(("g-r", "u-g"), ("r-i", "g-r")),
    ),
    TaskSpec(
        **_SOURCE_SETTINGS["bundled"],
        **_PAPER_TASKS["blazar"],
        task="blazar",
        preparer="prepare_bundled_blazar_task",
        inputs=("sdss", "bzcat", "blazars"),
        class_names=("galaxy", "star", "qso", "bll", "fsrq"),
        rare_classes=("bll", "fsrq"),
        title="blazar",
        label=f"SDSS DR14 optical sample + Roma-BZCAT 5 blazars: two samples {_BUNDLED_NOTE}",
        description="Offline stand-in for Section 3.4: the SDSS DR14 optical sample joined "
        "with BZCAT 5 blazars of the merged BZCAT+4LAC catalogue (SDSS DR17 Explore "
        "magnitudes), subsampled so BL Lacs and FSRQs are rare.",
        density_panels=(("u-g", "g-r"), ("g-r", "r-i"), ("r-i", "i-z")),
    ),
    TaskSpec(
        **_SOURCE_SETTINGS["archive"],
        **_PAPER_TASKS["sga"],
        task="sga",
        preparer="prepare_star_galaxy_agn",
        inputs=("spec", "wise", "twomass"),
        features=_SGA_ARCHIVE_FEATURES,
        class_names=("galaxy", "star", "agn"),
        rare_classes=("agn",),
        title="star/galaxy/AGN",
        label="SDSS DR16 x AllWISE x 2MASS (archive data, as in the paper)",
        description="Section 3.3 / Table 3: SDSS DR16 SpecObj x AllWISE x 2MASS, "
        "J-W1 and W1-W2 (Vega).",
        # The paper's Fig. 4: J-W1 against W1-W2.
        density_panels=(("W1-W2", "J-W1"),),
    ),
    TaskSpec(
        **_SOURCE_SETTINGS["archive"],
        **_PAPER_TASKS["blazar"],
        task="blazar",
        preparer="prepare_blazar_task",
        inputs=("spec", "wise", "photo", "blazars"),
        features=_BLAZAR_ARCHIVE_FEATURES,
        class_names=("galaxy", "star", "agn", "bll", "fsrq"),
        rare_classes=("bll", "fsrq"),
        title="blazar",
        label="SDSS DR16 x AllWISE + Roma-BZCAT 5 + 4LAC (archive data, as in the paper)",
        description="Section 3.4 / Table 4: SDSS DR16 SpecObj x AllWISE x PhotoObj with "
        "BZCAT+4LAC blazar labels; WISE Vega, SDSS dereddened AB.",
        # The paper's Fig. 5, the "bubble plot": r-i vs r-W1 and r-i vs g-r.
        density_panels=(("W2-W3", "W1-W2"), ("r-W1", "r-i"), ("g-r", "r-i")),
    ),
)


def _index(entries) -> Mapping[tuple[str, str], TaskSpec]:
    """(source, task) -> entry, checking that the entries' output names cannot collide."""
    registry = {}
    owner: dict[str, tuple[str, str]] = {}
    for entry in entries:
        if entry.source not in SOURCES:
            raise ValueError(f"{entry.source}/{entry.task}: unknown data source {entry.source!r}")
        if (entry.source, entry.task) in registry:
            raise ValueError(f"{entry.source}/{entry.task} is registered twice")
        registry[(entry.source, entry.task)] = entry
        # One name is one output of one task, whatever the source: the rules look the task up
        # from the name, and a density and an overshoot figure share one folder.
        for kind in OUTPUT_KINDS:
            name = getattr(entry, kind)
            if owner.setdefault(name, (kind, entry.task)) != (kind, entry.task):
                raise ValueError(
                    f"{entry.source}/{entry.task}: {kind} {name!r} is already the "
                    f"{owner[name][0]} of task {owner[name][1]!r}"
                )
    return MappingProxyType(registry)


#: (source, task) -> :class:`TaskSpec`, for every data source and real-data task.
REGISTRY: Mapping[tuple[str, str], TaskSpec] = _index(_ENTRIES)

#: The real-data tasks, by their workflow names, in the order they are registered.
TASK_NAMES: tuple[str, ...] = tuple(dict.fromkeys(entry.task for entry in _ENTRIES))


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


def tasks(source: str) -> tuple[str, ...]:
    """The tasks registered for ``source``, in registry order."""
    return tuple(task for (entry_source, task) in REGISTRY if entry_source == source)


def outputs(kind: str, source: str | None = None) -> dict[str, str]:
    """Output name -> task, for one kind of output (a name of :data:`OUTPUT_KINDS`).

    Parameters
    ----------
    kind : str
        ``density_figure``, ``overshoot_figure``, ``split_table`` or ``reliability_figure``.
    source : str, optional
        Only the tasks of this data source (default: every source).

    Returns
    -------
    dict
        E.g. ``outputs("density_figure")`` is ``{"fig4": "sga", "fig5": "blazar"}``.
    """
    if kind not in OUTPUT_KINDS:
        raise KeyError(f"unknown output kind {kind!r}; kinds {list(OUTPUT_KINDS)}")
    return {
        getattr(entry, kind): entry.task
        for entry in REGISTRY.values()
        if source is None or entry.source == source
    }


def output_title(name: str) -> str:
    """How captions and messages name an output: ``fig4`` -> ``Fig. 4``, ``table3`` -> ``Table 3``.

    Any other name (the default ``density_<task>`` of a task the paper does not have) is
    returned as it is.
    """
    match = re.fullmatch(r"(fig|table)(\d+)", name)
    if match is None:
        return name
    return f"{'Fig.' if match[1] == 'fig' else 'Table'} {match[2]}"
