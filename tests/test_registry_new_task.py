"""Adding a task is one registry entry plus its preparer: the workflow then lists the task's
catalogue, sweep, figures and tables, and makes them, with no rule edited.

The throwaway task ``sgacopy`` is the bundled star/galaxy/QSO entry under another name (so its
preparer is an existing one); it is registered only inside these tests' processes, through a
``sitecustomize`` module that adds it to :mod:`deweight.registry` before the Snakefile reads it.
"""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_settings import REPO_ROOT, run_snakemake
from workflow_settings import workflow_config as run_config

from deweight import registry

NEW_TASK = "sgacopy"

#: Adds the throwaway entry to deweight.registry in every Python process of the run (Snakemake
#: and the job scripts alike), exactly as an entry in registry._ENTRIES would be.
SITECUSTOMIZE = textwrap.dedent(
    f"""
    import dataclasses

    from deweight import registry

    _entry = dataclasses.replace(
        registry.spec("bundled", "sga"),
        task={NEW_TASK!r},
        title="copied star/galaxy/QSO",
        density_figure="",
        overshoot_figure="",
        split_table="",
        reliability_figure="",
    )
    registry._ENTRIES = (*registry._ENTRIES, _entry)
    registry.REGISTRY = registry._index(registry._ENTRIES)
    registry.TASK_NAMES = (*registry.TASK_NAMES, {NEW_TASK!r})
    """
)

#: The new task's sweep: configuration, which the workflow asks for by task name.
NEW_TASK_CONFIG = {
    "realdata": {
        "sizes": {"bundled": {NEW_TASK: [316, 1000]}},
        "model": {
            NEW_TASK: {
                "hidden": [8],
                "augmentation": "interpolation",
                "recipe": "fast",
                "restarts": 1,
                "max_steps": 100,
            }
        },
    }
}


def new_entry() -> registry.TaskSpec:
    return dataclasses.replace(
        registry.spec("bundled", "sga"),
        task=NEW_TASK,
        density_figure="",
        overshoot_figure="",
        split_table="",
        reliability_figure="",
    )


def test_a_new_entry_gets_generic_output_names_and_keeps_the_paper_names_of_the_others():
    entry = new_entry()
    assert (
        entry.density_figure,
        entry.overshoot_figure,
        entry.split_table,
        entry.reliability_figure,
    ) == (
        f"density_{NEW_TASK}",
        f"overshoot_{NEW_TASK}",
        f"classes_{NEW_TASK}",
        f"reliability_{NEW_TASK}",
    )
    index = registry._index((*registry._ENTRIES, entry))
    assert set(index) == {*registry.REGISTRY, ("bundled", NEW_TASK)}
    assert registry.output_title(entry.density_figure) == f"density_{NEW_TASK}"
    assert [registry.output_title(n) for n in ("fig4", "fig9", "table3")] == [
        "Fig. 4",
        "Fig. 9",
        "Table 3",
    ]


def test_an_output_name_is_one_task_s_and_a_clash_is_refused():
    clash = dataclasses.replace(new_entry(), overshoot_figure="fig4")
    with pytest.raises(ValueError, match="overshoot_figure 'fig4' is already the density_figure"):
        registry._index((*registry._ENTRIES, clash))
    with pytest.raises(ValueError, match="registered twice"):
        registry._index((*registry._ENTRIES, registry.spec("archive", "sga")))
    with pytest.raises(ValueError, match="not a plain name"):
        dataclasses.replace(new_entry(), split_table="tables/x")
    with pytest.raises(ValueError, match="not classes"):
        dataclasses.replace(new_entry(), sdss_classes={"QSO": "agn"})


@pytest.fixture
def new_task_workflow(tmp_path, monkeypatch):
    """A copy of the workflow (no file of it edited) whose processes register the new task."""
    root = tmp_path / "workflow_copy"
    root.mkdir()
    for name in ("Snakefile", "workflow", "config", "envs", "profiles"):
        source = REPO_ROOT / name
        if source.is_symlink():
            (root / name).symlink_to(source.readlink())
        elif source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    (root / "resources").mkdir()
    shutil.copytree(REPO_ROOT / "resources" / "bundled", root / "resources" / "bundled")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", str(site))
    configfile = tmp_path / "new_task.yaml"
    configfile.write_text(yaml.safe_dump(NEW_TASK_CONFIG))
    return root, configfile


def summary(root: Path, *args: str) -> pd.DataFrame:
    run = run_snakemake(["--detailed-summary", *args], cwd=root)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line.split("\t") for line in run.stdout.splitlines() if "\t" in line]
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_the_workflow_lists_every_output_of_a_new_task_with_no_rule_edited(new_task_workflow):
    root, configfile = new_task_workflow
    rule_of = summary(root, "--configfile", str(configfile)).set_index("output_file")["rule"]
    expected = {
        f"results/bundled/catalogs/{NEW_TASK}.parquet": "prepare_task",
        f"results/bundled/tables/cutflow_{NEW_TASK}.csv": "prepare_task",
        f"results/bundled/tables/classes_{NEW_TASK}.csv": "class_table",
        f"results/bundled/predictions/{NEW_TASK}/weighted/n1000.parquet": "train_real",
        f"results/bundled/tables/overshoot_{NEW_TASK}.csv": "evaluate_real",
        f"results/bundled/tables/pcp_{NEW_TASK}.csv": "evaluate_real",
        f"results/bundled/figures/density_{NEW_TASK}.pdf": "density_figure",
        f"results/bundled/figures/density_{NEW_TASK}.png": "density_figure",
        f"results/bundled/figures/overshoot_{NEW_TASK}.pdf": "overshoot_figure",
        f"results/bundled/figures/overshoot_{NEW_TASK}.csv": "overshoot_figure",
        f"results/bundled/tables/reliability_{NEW_TASK}.csv": "evaluate_real",
        f"results/bundled/figures/reliability_{NEW_TASK}.png": "reliability_figure",
    }
    for path, rule in expected.items():
        assert rule_of.get(path) == rule, path
    # ... alongside the paper's outputs, which keep their names.
    for path, rule in {
        "results/bundled/figures/fig4.pdf": "density_figure",
        "results/bundled/figures/fig9.pdf": "overshoot_figure",
        "results/bundled/tables/table4.csv": "class_table",
        "results/simulation/figures/fig6.pdf": "fig6",
    }.items():
        assert rule_of.get(path) == rule, path
    # Without any config of its own the new task takes the "default" sweep and model of
    # config/config.yaml: no file but the registry is edited.
    defaults = summary(root).set_index("output_file")["rule"]
    sizes = run_config()["realdata"]["sizes"]["bundled"]["default"]
    for size in sizes:
        path = f"results/bundled/predictions/{NEW_TASK}/weighted/n{size}.parquet"
        assert defaults.get(path) == "train_real", path
    # A task the registry does not know is named.
    unknown = configfile.with_name("unknown_task.yaml")
    unknown.write_text(yaml.safe_dump({"realdata": {"sizes": {"bundled": {"nosuch": [316]}}}}))
    run = run_snakemake(["-n", "--configfile", str(unknown)], cwd=root)
    assert run.returncode != 0
    text = run.stdout + run.stderr
    assert "realdata.sizes.bundled must give the tasks of deweight.registry" in text
    assert "unknown nosuch" in text


@pytest.mark.slow
def test_a_new_task_s_table_and_density_figure_are_made(new_task_workflow):
    root, configfile = new_task_workflow
    targets = [
        f"results/bundled/tables/classes_{NEW_TASK}.csv",
        f"results/bundled/figures/density_{NEW_TASK}.png",
    ]
    run = run_snakemake([*targets, "--cores", "1", "--configfile", str(configfile)], cwd=root)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"density_{NEW_TASK}: colour-colour density of the copied star/galaxy/QSO task" in (
        run.stdout + run.stderr
    )
    # The copy prepares the same catalogue as the task it copies: its class counts are those
    # of the bundled sample's classes, one row per class and split.
    table = pd.read_csv(root / targets[0])
    assert set(table["data_source"]) == {"bundled"}
    prepared = pd.read_parquet(root / f"results/bundled/catalogs/{NEW_TASK}.parquet")
    assert len(prepared) == 10_000
    assert set(prepared["class_name"]) == {"galaxy", "star", "qso"}
    assert (root / targets[1]).stat().st_size > 0
