"""What a new user of the workflow meets: a bad config key, the end of a run, the HTML report's
tables and captions, reproducible PCP tables and the README's words for the corrections.

Ctrl-C in a workflow script is tested in tests/test_workflow_glue.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from workflow_settings import run_snakemake

from deweight._workflow import ConfigError, check_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def realdata_keys() -> str:
    """The keys the schema allows under ``realdata``, in its order, as the message lists them."""
    schema = yaml.safe_load(SCHEMA.read_text())
    return ", ".join(schema["properties"]["realdata"]["properties"])


def shipped_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


# --- an unknown or bad config key ---------------------------------------------------------------


def test_the_shipped_config_is_valid():
    check_config(shipped_config(), SCHEMA, where="config/config.yaml")


def test_validation_fills_the_schema_defaults_around_what_the_config_sets():
    config = shipped_config()
    config["pcp"] = {"method": "newton"}
    check_config(config, SCHEMA, where="config/config.yaml")
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]
    # What the config sets wins; everything else is the schema's default, stated only there.
    assert config["pcp"]["method"] == "newton"
    for section in ("pcp", "prepare", "verdict"):
        for key, spec in schema[section]["properties"].items():
            if key != "method" or section != "pcp":
                assert config[section][key] == spec["default"], (section, key)
    assert set(config["prepare"]) == set(schema["prepare"]["properties"])


def test_an_unknown_nested_key_is_named_with_its_place_and_the_allowed_keys():
    config = shipped_config()
    config["realdata"]["sizez"] = [1, 2]
    with pytest.raises(ConfigError) as caught:
        check_config(config, SCHEMA, where="config/config.yaml")
    message = str(caught.value)
    assert len(message.splitlines()) <= 5, message
    assert "config/config.yaml" in message
    assert "unknown key 'sizez' in realdata" in message
    assert f"allowed keys there: {realdata_keys()}" in message


def test_calibration_folds_take_the_schema_default_and_refuse_fewer_than_two():
    config = shipped_config()
    del config["realdata"]["calibration"]
    check_config(config, SCHEMA, where="config/config.yaml")
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["realdata"]["properties"]
    default = schema["calibration"]["properties"]["folds"]["default"]
    assert config["realdata"]["calibration"] == {"folds": default}
    config["realdata"]["calibration"]["folds"] = 1
    with pytest.raises(ConfigError, match=r"realdata\.calibration\.folds: 1 is less than"):
        check_config(config, SCHEMA, where="config/config.yaml")


def test_an_unknown_top_level_key_and_a_bad_value_are_both_reported_briefly():
    config = shipped_config()
    config["sead"] = 1
    config["pcp"] = {"method": "bisection"}
    with pytest.raises(ConfigError) as caught:
        check_config(config, SCHEMA, where="here")
    message = str(caught.value)
    assert len(message.splitlines()) <= 6, message
    assert "unknown key 'sead' at the top level" in message
    allowed = [line for line in message.splitlines() if "allowed keys there" in line][0]
    for key in ("data", "seed", "simulation", "realdata", "pcp"):
        assert key in allowed
    assert "pcp.method: 'bisection' is not one of" in message


def test_snakemake_reports_an_unknown_key_in_a_few_lines():
    result = run_snakemake(["-n", "--config", "realdata={bogus: 1}"])
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "unknown key 'bogus' in realdata" in text
    assert f"allowed keys there: {realdata_keys()}" in text
    # Not the schema dump of jsonschema's default message (~540 lines before).
    assert "Failed validating" not in text
    assert len(text.splitlines()) < 15, text


# --- a real (small) run: the closing message and the report's tables --------------------------


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Table 3 and Fig. 4 of the bundled data, made for real in a copy of the workflow, and the
    report of them."""
    root = tmp_path_factory.mktemp("workflow")
    for name in ("Snakefile", "workflow", "config", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    (root / "profiles").symlink_to("workflow/profiles")
    (root / "resources").mkdir()
    shutil.copytree(REPO / "resources" / "bundled", root / "resources" / "bundled")
    targets = ["results/bundled/tables/table3.csv", "results/bundled/figures/fig4.png"]
    run = run_snakemake(["--cores", "1", *targets], cwd=root)
    assert run.returncode == 0, run.stderr[-3000:]
    report = run_snakemake(["--report", "results/report.html", *targets], cwd=root)
    assert report.returncode == 0, report.stderr[-3000:]
    return run, (root / "results" / "report.html").read_text(errors="replace")


@pytest.mark.slow
def test_a_finished_run_says_where_the_results_are_and_how_to_build_the_report(small_run):
    run, _ = small_run
    text = run.stdout + run.stderr
    assert "deweight: finished." in text
    assert "results/bundled/" in text
    assert "snakemake --report results/report.html" in text


@pytest.mark.slow
def test_the_report_shows_tables_with_captions_that_name_the_bundled_classes(small_run):
    _, html = small_run
    assert "Table 3 (bundled data)." in html
    # The bundled sample's rare class is SDSS's QSO, not the paper's AGN.
    assert "star/galaxy/QSO" in html
    assert "Cut flow of the sga task" in html
    assert "Fig. 4 (real data" in html


def test_every_caption_the_rules_name_exists():
    text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    names = set(re.findall(r'table_report\(\s*(?:results_file\()?"[^"]+"\)?,\s*"([^"]+)"', text))
    names |= set(re.findall(r'caption="\.\./report/(\w+)\.rst"', text))
    # figure_outputs(directory, name, caption, category)
    names |= set(re.findall(r'figure_outputs\(\s*[^,]+\),\s*"[^"]+",\s*"(\w+)"', text))
    assert {
        "table1",
        "table2",
        "class_table",
        "pcp_simulation",
        "pcp_real",
        "bias_verdict",
    } <= names
    assert {"fig1", "fig6", "density", "overshoot_real"} <= names
    for name in names:
        assert (REPO / "workflow" / "report" / f"{name}.rst").is_file(), name


# --- reproducible tables ------------------------------------------------------------------------


def test_pcp_tables_carry_no_wall_time_and_reruns_are_byte_identical():
    from deweight.verdict import pcp_table

    # Bayes' rule under a flat prior for three Gaussian classes drawn 60/30/10.
    rng = np.random.default_rng(5)
    true = rng.choice(3, size=500, p=[0.6, 0.3, 0.1])
    likelihood = np.exp(-0.5 * (rng.normal(2.0 * true, 1.0)[:, None] - 2.0 * np.arange(3)) ** 2)
    probs = likelihood / likelihood.sum(axis=1, keepdims=True)
    tables = [
        pcp_table(
            probs,
            {"flat": np.full(3, 1 / 3)},
            class_names=["a", "b", "c"],
            method="em",
            tol=1e-8,
            max_iter=10_000,
        )
        for _ in range(2)
    ]
    assert "seconds" not in tables[0].columns
    assert tables[0].to_csv(index=False) == tables[1].to_csv(index=False)


# --- the README's words ---------------------------------------------------------------------------


def test_readme_says_dewatered_and_deweighted_are_one_operation():
    readme = " ".join((REPO / "README.md").read_text().split())
    assert (
        '"Dewatered" (Figs. 6-7) and "deweighted" (Figs. 8-9) are the paper\'s own two words '
        "for one and the same operation" in readme
    )


@pytest.mark.parametrize(
    "caption, kind",
    [
        ("density", "density_figure"),
        ("overshoot_real", "overshoot_figure"),
        ("class_table", "split_table"),
    ],
)
def test_real_data_captions_name_each_task_s_classes_as_its_data_does(caption, kind):
    """The captions of Figs. 4-5, 8-9 and Tables 3-4 take their words from the registry: the
    bundled star/galaxy/QSO task is never called star/galaxy/AGN (Fig. 8's caption once was)."""
    from types import SimpleNamespace

    from jinja2 import Environment

    from deweight import registry

    template = (REPO / "workflow" / "report" / f"{caption}.rst").read_text()
    for entry in registry.REGISTRY.values():
        name = getattr(entry, kind)
        params = SimpleNamespace(
            output_title=registry.output_title(name),
            title=entry.title,
            description=entry.description,
            display_names=list(entry.display_names),
            by_class=entry.density_by_class,
        )
        snakemake = SimpleNamespace(
            params=params, wildcards=SimpleNamespace(source=entry.source, **{kind: name})
        )
        text = Environment(trim_blocks=True, lstrip_blocks=True).from_string(template)
        text = " ".join(text.render(snakemake=snakemake).split())
        assert text.startswith(f"**{registry.output_title(name)} ("), text
        assert f"the {entry.title} task" in text
        assert entry.description in text
        if entry.source == "bundled":
            assert "AGN" not in text, text
            assert "QSO" in text or entry.task == "blazar" and caption != "overshoot_real"
        else:
            assert "QSO" not in text, text
