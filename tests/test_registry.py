"""deweight.registry: one entry per data source and task, consistent with what it points at."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from workflow_settings import workflow_prepare_settings

from deweight import catalog, registry

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
def test_the_preparer_takes_the_inputs_in_order_and_a_config(entry):
    function = getattr(catalog, entry.preparer)
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


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_inputs_are_bundled_files_or_outputs_of_named_rules(entry):
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    for item in entry.inputs.values():
        if isinstance(item, registry.RuleOutput):
            assert f"rule {item.rule}:" in rules, item
        else:
            # Only the offline source reads files that no rule makes.
            assert entry.source == "bundled" and item.startswith("resources/bundled/"), item
            assert (REPO / item).is_file(), item


def test_the_blazar_catalogue_inputs_exist_for_every_4lac_release():
    lac = registry.BLAZAR_CATALOG_INPUTS["bundled"]["lac"]
    for release in ("dr1", "dr3"):
        assert (REPO / lac.format(lac_release=release)).is_file(), release
    assert (REPO / registry.BLAZAR_CATALOG_INPUTS["bundled"]["bzcat"]).is_file()


def test_catalog_tasks_are_read_from_the_registry():
    for entry in ENTRIES:
        described = catalog.TASKS[entry.catalog_task]
        assert described["features"] == list(entry.features)
        assert described["class_names"] == list(entry.class_names)
        assert described["data_source"] == entry.source
        assert described["split_stratified"] == entry.split_stratified


def test_preparing_through_the_registry_is_calling_the_preparer():
    prepare = workflow_prepare_settings()
    entry = registry.spec("bundled", "sga")
    paths = {role: REPO / path for role, path in entry.inputs.items()}
    table, cutflow = entry.prepare(paths, prepare)
    direct, direct_flow = catalog.prepare_bundled_star_galaxy_qso(paths["sdss"], config=prepare)
    assert table.equals(direct)
    assert cutflow.to_frame().equals(direct_flow.to_frame())
    assert sorted(table["class_name"].unique()) == sorted(entry.class_names)
    with pytest.raises(ValueError, match=r"inputs \['sdss'\] are not given"):
        entry.prepare({}, prepare)


def test_an_unknown_pair_names_what_is_known():
    with pytest.raises(KeyError, match="sources \\['bundled', 'archive'\\], tasks"):
        registry.spec("bundled", "star_galaxy_agn")
