"""The acquisition rules in the Snakemake workflow: config schema, DAG, offline fast-fail and
which changes re-run a download (params) and which do not (adapter code, timeouts)."""

import copy
import shutil
import socket
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from workflow_settings import ACQUIRE_RULES, run_snakemake

pytest_plugins = ["archive_server"]

REPO = Path(__file__).resolve().parents[1]


def proposed_archive_config() -> dict:
    """The ``archive`` block of config/config.yaml (a fresh copy)."""
    return yaml.safe_load((REPO / "config/config.yaml").read_text())["archive"]


def merged_schema() -> dict:
    """The workflow's config schema."""
    return yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def workflow_copy(tmp_path: Path, archive: dict) -> Path:
    """A copy of the workflow whose config selects data.source=archive with ``archive``."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("Snakefile", "workflow", "config", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, work / name)
        else:
            shutil.copy(source, work / name)
    # Snakemake finds the default workflow profile (rerun-triggers etc.) through this link.
    (work / "profiles").symlink_to("workflow/profiles")
    # The bundled files (archive.4lac.source: bundled reads the paper's 4LAC DR1 there).
    (work / "resources").mkdir()
    (work / "resources/bundled").symlink_to(REPO / "resources/bundled")
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["data"]["source"] = "archive"
    config["archive"] = archive
    (work / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return work


def snakemake(work: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_snakemake(args, cwd=work, timeout=timeout)


def test_the_proposed_archive_config_satisfies_the_proposed_schema():
    schema = merged_schema()
    jsonschema.validate({"archive": proposed_archive_config()}, {
        "type": "object",
        "properties": {"archive": schema["properties"]["archive"]},
        "definitions": schema["definitions"],
    })  # fmt: skip
    broken = proposed_archive_config()
    broken["allwise"]["positions_per_job"] = 60000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"archive": broken},
            {"properties": {"archive": schema["properties"]["archive"]},
             "definitions": schema["definitions"]},
        )  # fmt: skip


@pytest.mark.slow
def test_archive_dag_contains_every_acquisition_rule(tmp_path):
    work = workflow_copy(tmp_path, proposed_archive_config())
    result = snakemake(work, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    for rule in ACQUIRE_RULES:
        assert rule in result.stdout + result.stderr


@pytest.mark.slow
def test_without_network_the_first_acquisition_fails_within_30_s_saying_how_to_run_offline(
    tmp_path,
):
    archive = proposed_archive_config()
    dead = f"127.0.0.1:{closed_port()}"
    archive["sdss"]["common"]["skyserver_url"] = f"http://{dead}"
    archive["allwise"]["tap_url"] = f"http://{dead}/TAP"
    archive["vizier"]["server"] = dead
    archive["4lac"]["fermi"]["page_url"] = f"http://{dead}/ssc/data/access/lat/4LACDR3/"
    archive["4lac"]["source"] = "fermi"  # the bundled DR1 needs no network
    archive["clarke2020"]["record_api_url"] = f"http://{dead}/api/records/3459293"
    work = workflow_copy(tmp_path, archive)

    started = time.monotonic()
    result = snakemake(work, "--cores", "2", timeout=60)
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert elapsed < 30, elapsed
    output = result.stdout + result.stderr
    assert "Could not reach" in output
    assert any(
        name in output for name in ("SDSS SkyServer", "CDS VizieR", "Zenodo", "Fermi-LAT FSSC")
    )
    assert "data: {source: bundled}" in output and "snakemake --cores 2" in output
    logs = list((work / "logs/acquire").glob("*.log"))
    assert logs and any("Could not reach" in log.read_text() for log in logs)
    # Nothing half-made is left where the next stage would read it.
    assert not list(work.glob("resources/**/*.parquet"))


@pytest.mark.slow
def test_adapter_edits_and_timeouts_do_not_refetch_but_a_query_change_does(
    tmp_path, fake_vizier, monkeypatch
):
    archive = proposed_archive_config()
    archive["vizier"]["server"] = fake_vizier.host_port
    archive["vizier"]["bzcat5"]["expected_rows"] = 7  # the fixture's size
    work = workflow_copy(tmp_path, archive)
    target = "resources/archive/bzcat5.parquet"

    result = snakemake(work, "--cores", "1", target)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / target).exists() and (work / f"{target}.provenance.json").exists()
    assert len(fake_vizier.requests_to("vizier")) == 1

    # Editing the adapter script (newer mtime) and changing a timeout: nothing to do.
    script = work / "workflow/scripts/acquire_bzcat5.py"
    script.write_text(script.read_text() + "\n# an edit\n")
    changed = copy.deepcopy(archive)
    changed["network"]["read_timeout_s"] = 123
    config = yaml.safe_load((work / "config/config.yaml").read_text())
    config["archive"] = changed
    (work / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(work, "-n", target)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr

    # Changing what is queried re-runs the download.
    config["archive"]["vizier"]["bzcat5"]["table"] = "BZCAT5"
    (work / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(work, "-n", target)
    text = result.stdout + result.stderr
    assert "acquire_bzcat5" in text
    assert "params" in text.lower()
