"""The Snakemake workflow: config validation, dry runs of both data sources, profiles, and the
whole bundled DAG end to end on the tiny tests/config/mini.yaml."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_settings import run_snakemake

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("source", ["bundled", "archive"])
def test_dry_run_builds_the_whole_dag(source):
    # --forceall: list every job even when results of an earlier run exist.
    result = run_snakemake(
        ["-n", "--forceall", "--quiet", "rules", "--config", f"data={{source: {source}}}"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    for rule in ("train_simulation", "evaluate_simulation", "prepare_task", "overshoot_figure"):
        assert rule in text
    if source == "archive":
        assert "acquire" in text


def test_bad_config_value_stops_with_a_message_naming_it():
    result = run_snakemake(["-n", "--config", "data={source: nowhere}"])
    assert result.returncode != 0
    assert "nowhere" in result.stderr + result.stdout


@pytest.mark.parametrize("profile", ["workflow/profiles/default", "workflow/profiles/slurm"])
def test_profiles_parse_and_the_dag_builds_with_each(profile):
    settings = yaml.safe_load((REPO / profile / "config.yaml").read_text())
    assert isinstance(settings, dict) and settings
    args = ["-n", "--quiet", "rules", "--workflow-profile", profile]
    if "slurm" in profile:
        # No cluster here: a dry run with the local executor still checks that every
        # resource and thread setting of the profile applies to real rules.
        args += ["--executor", "local"]
    result = run_snakemake(args)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.e2e
def test_whole_bundled_dag_runs_end_to_end_on_the_mini_config(tmp_path):
    """Runs every rule of the offline default for real (about 3 minutes on 2 cores)."""
    for name in ("Snakefile", "workflow", "config", "envs"):
        source = REPO / name
        target = tmp_path / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    (tmp_path / "profiles").symlink_to("workflow/profiles")
    (tmp_path / "resources").mkdir()
    shutil.copytree(REPO / "resources" / "bundled", tmp_path / "resources" / "bundled")
    result = run_snakemake(
        ["--cores", "2", "--configfile", str(REPO / "tests" / "config" / "mini.yaml")],
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-5000:])
    # It ends by saying where the results are and how to build the report.
    assert "snakemake --report results/report.html" in result.stdout + result.stderr
    results = tmp_path / "results"
    # Timings go to the logs, not the tables: a rerun writes the same bytes.
    for pcp_file in results.rglob("pcp*.csv"):
        assert "seconds" not in pd.read_csv(pcp_file).columns, pcp_file
    for table in ("table1", "table2", "pcp"):
        assert not pd.read_csv(results / "simulation" / "tables" / f"{table}.csv").empty
    for fig in ("fig1", "fig2", "fig3", "fig6", "fig7"):
        for ext in ("pdf", "png", "csv"):
            assert (results / "simulation" / "figures" / f"{fig}.{ext}").stat().st_size > 0
    for table in ("table3", "table4", "pcp", "bias_verdict", "cutflow_sga", "cutflow_blazar"):
        assert not pd.read_csv(results / "bundled" / "tables" / f"{table}.csv").empty
    for fig in ("fig4", "fig5", "fig8", "fig9"):
        for ext in ("pdf", "png", "csv"):
            assert (results / "bundled" / "figures" / f"{fig}.{ext}").stat().st_size > 0
    # Every output says which data it was made from.
    verdict = pd.read_csv(results / "bundled" / "tables" / "bias_verdict.csv")
    assert verdict["data_source"].str.contains("bundled").all()
    assert set(verdict["verdict"]) <= {
        "no significant bias",
        "prior mismatch",
        "probabilities inaccurate",
    }
    # The Sect. 4.1 priors sum to one for every model, on the test set and the large one.
    pcp = pd.read_csv(results / "simulation" / "tables" / "pcp.csv")
    sums = pcp.groupby(["test_rows", "model"])["pcp"].sum()
    assert set(sums.index.get_level_values("test_rows")) == {2000, 20000}
    assert "analytic posterior" in sums.index.get_level_values("model")
    assert ((sums - 1).abs() < 1e-6).all()
    # Nothing half-written is left behind.
    assert not list(results.rglob("*.tmp"))
    # The HTML report builds from these results, with every figure's caption.
    report = run_snakemake(
        [
            "--report",
            "results/report.html",
            "--configfile",
            str(REPO / "tests" / "config" / "mini.yaml"),
        ],
        cwd=tmp_path,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    html = (results / "report.html").read_text(errors="replace")
    for caption in ("Fig. 6 (simulation)", "Fig. 9 (real data"):
        assert caption in html
    # ... and every table, the bundled classes named as they are (QSO, not AGN).
    for caption in (
        "Table 1 (simulation",
        "Table 2 (simulation",
        "Table 3 (bundled data)",
        "Table 4 (bundled data)",
        "Prediction-consistent priors, simulation",
        "Prediction-consistent priors, real data",
        "Bias verdict (bundled data)",
        "star/galaxy/QSO task",
    ):
        assert caption in html, caption
    # The recipe comparison (its own targets, not in the default run) reuses the sweep's models
    # and trains only the other recipe at simulation.recipe_comparison_sizes.
    figures = results / "simulation" / "figures"
    recipes = run_snakemake(
        [
            "--cores",
            "2",
            "results/simulation/figures/fig6_recipes.pdf",
            "results/simulation/figures/fig7_recipes.pdf",
            "--configfile",
            str(REPO / "tests" / "config" / "mini.yaml"),
        ],
        cwd=tmp_path,
        timeout=600,
    )
    assert recipes.returncode == 0, (recipes.stdout[-2000:], recipes.stderr[-5000:])
    for fig in ("fig6_recipes", "fig7_recipes"):
        for ext in ("pdf", "png"):
            assert (figures / f"{fig}.{ext}").stat().st_size > 0
        plotted = pd.read_csv(figures / f"{fig}.csv")
        assert set(plotted["recipe"]) == {"fast", "paper"}
