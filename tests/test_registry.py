"""deweight.registry: one entry per data source and task, consistent with what it points at."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from workflow_settings import workflow_prepare_settings

from deweight import _workflow_inputs, catalog, registry

REPO = Path(__file__).resolve().parents[1]
ENTRIES = list(registry.REGISTRY.values())
IDS = [f"{entry.source}-{entry.task}" for entry in ENTRIES]


def test_every_source_has_every_task():
    assert set(registry.REGISTRY) == {
        (source, task) for source in registry.SOURCES for task in registry.TASK_NAMES
    }


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_an_entry_is_consistent(entry):
    assert set(entry.rare_classes) <= set(entry.class_names)
    assert len(set(entry.class_names)) == len(entry.class_names)
    # Each density panel plots two of the task's own features.
    assert entry.density_panels
    for x, y in entry.density_panels:
        assert {x, y} <= set(entry.features), (x, y)
    # The paper's outputs: Fig. 4, 8 and Table 3 for star/galaxy/AGN, Figs. 5, 9 and Table 4
    # (one row of panels per class) for the blazars.
    paper = {"sga": ("fig4", "fig8", "table3"), "blazar": ("fig5", "fig9", "table4")}
    assert (entry.density_figure, entry.overshoot_figure, entry.split_table) == paper[entry.task]
    assert entry.density_by_class == (entry.task == "blazar")
    assert entry.density_smoothing_mag > 0
    assert len(entry.display_names) == len(entry.class_names)
    # Every class has a display name and a style; the SDSS classes map onto the task's classes.
    assert set(entry.class_names) <= set(registry.CLASSES)
    assert set(entry.sdss_classes) == {"GALAXY", "STAR", "QSO"}
    assert set(entry.sdss_classes.values()) <= set(entry.class_names)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_the_preparer_takes_the_inputs_in_order_the_entry_and_a_config(entry):
    function = catalog.PREPARERS[entry.preparer]
    assert function is getattr(catalog, entry.preparer)
    parameters = inspect.signature(function).parameters
    positional = [
        name
        for name, p in parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert len(positional) >= len(entry.inputs)
    required = [n for n in positional if parameters[n].default is inspect.Parameter.empty]
    assert len(required) <= len(entry.inputs)
    assert parameters["config"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["task"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_inputs_are_bundled_files_or_outputs_of_named_rules(entry):
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    files = _workflow_inputs.task_input_files(entry.source, entry.inputs)
    assert list(files) == list(entry.inputs)
    for item in files.values():
        if isinstance(item, _workflow_inputs.RuleOutput):
            assert f"rule {item.rule}:" in rules, item
        else:
            # Only the offline source reads files that no rule makes.
            assert entry.source == "bundled" and item.startswith("resources/bundled/"), item
            assert (REPO / item).is_file(), item


def test_a_role_the_workflow_does_not_know_is_named():
    with pytest.raises(KeyError, match=r"no input file for role\(s\) \['nosuch'\]"):
        _workflow_inputs.task_input_files("bundled", ("sdss", "nosuch"))


def test_the_blazar_catalogue_inputs_exist_for_every_4lac_release():
    lac = _workflow_inputs.BLAZAR_CATALOG_INPUTS["bundled"]["lac"]
    for release in ("dr1", "dr3"):
        assert (REPO / lac.format(lac_release=release)).is_file(), release
    assert (REPO / _workflow_inputs.BLAZAR_CATALOG_INPUTS["bundled"]["bzcat"]).is_file()


def test_preparing_through_the_registry_is_calling_the_preparer_with_the_entry():
    prepare = workflow_prepare_settings()
    entry = registry.spec("bundled", "sga")
    files = _workflow_inputs.task_input_files(entry.source, entry.inputs)
    paths = {role: REPO / path for role, path in files.items()}
    table, cutflow = catalog.prepare(entry, paths, prepare)
    direct, direct_flow = catalog.prepare_bundled_star_galaxy_qso(
        paths["sdss"], task=entry, config=prepare
    )
    assert table.equals(direct)
    assert cutflow.to_frame().equals(direct_flow.to_frame())
    assert sorted(table["class_name"].unique()) == sorted(entry.class_names)
    assert list(table.columns[2:-4]) == list(entry.features)
    with pytest.raises(ValueError, match=r"inputs \['sdss'\] are not given"):
        catalog.prepare(entry, {}, prepare)
    with pytest.raises(ValueError, match="unknown preparer 'nosuch'"):
        catalog.prepare(dataclasses.replace(entry, preparer="nosuch"), paths, prepare)


def test_the_preparer_reads_its_classes_and_features_from_the_entry_it_is_given():
    """No lookup by name: an entry with other classes or features prepares other columns."""
    prepare = workflow_prepare_settings()
    entry = dataclasses.replace(
        registry.spec("bundled", "sga"),
        task="twoclass",
        sdss_classes={"GALAXY": "galaxy", "STAR": "star"},
        class_names=("star", "galaxy"),
        rare_classes=("star",),
        features=("g-r", "u-g"),
        density_panels=(("g-r", "u-g"),),
        density_figure="",
        overshoot_figure="",
        split_table="",
    )
    files = _workflow_inputs.task_input_files(entry.source, entry.inputs)
    table, cutflow = catalog.prepare(entry, {r: REPO / p for r, p in files.items()}, prepare)
    assert list(table.columns) == [
        "ra",
        "dec",
        "g-r",
        "u-g",
        "label",
        "class_name",
        "split",
        "sample",
    ]
    assert set(table["class_name"]) == {"star", "galaxy"}
    assert (table["label"] == (table["class_name"] == "galaxy")).all()
    assert cutflow.name == "bundled/twoclass"
    assert cutflow.removed_by_step()["spec_class"] > 0  # the QSOs


def test_an_unknown_pair_names_what_is_known():
    with pytest.raises(KeyError, match="sources \\['bundled', 'archive'\\], tasks"):
        registry.spec("bundled", "star_galaxy_agn")
