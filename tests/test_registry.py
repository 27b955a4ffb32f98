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
    for panels in entry.density_panels.values():
        for x, y in panels:
            assert {x, y} <= set(entry.features), (x, y)
    # The task's figure: Fig. 4 for star/galaxy/AGN, Fig. 5 for the blazars.
    assert set(entry.density_panels) == {"fig4" if entry.task == "sga" else "fig5"}
    assert entry.density_smoothing_mag > 0
    assert len(entry.display_names) == len(entry.class_names)


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


@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if e.source == "bundled"], ids=lambda e: e.task
)
def test_bundled_inputs_exist_or_are_made_by_the_workflow(entry):
    for path in entry.inputs.values():
        assert path.startswith(("resources/bundled/", "{results}/bundled/")), path
        if path.startswith("resources/"):
            assert (REPO / path).is_file(), path


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
