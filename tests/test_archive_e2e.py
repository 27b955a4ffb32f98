"""The whole archive DAG (data.source: archive) against a local sky served on 127.0.0.1.

Every acquisition rule talks to the loopback archive of tests/archive_server.py in the
services' own protocols (SkyServer SQL CSV, IRSA async TAP with upload, VizieR VOTable over
HTTPS, Zenodo record API and Range downloads, the Fermi-LAT FITS file), then the cut-flows,
Tables 3-4, training, Figs. 4, 5, 8, 9, the Sect. 4.4 PCP table and the bias verdict run on
tests/config/mini_archive.yaml sizes. Before that, the SDSS download is interrupted with
SIGINT after some chunks, and the rerun must fetch only the missing chunks and leave no
partial file.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from archive_server import TLS_CERT, FakeArchive
from signals import default_sigint
from sky import build_sky
from workflow_settings import ACQUIRE_RULES

REPO = Path(__file__).resolve().parents[1]
ARCHIVE_RULES = [
    *ACQUIRE_RULES,
    "blazar_catalog",
    "prepare_task",
    "class_table",
    "train_real",
    "evaluate_real",
    "pcp_clarke2020",
    "combine_real_tables",
    "density_figure",
    "overshoot_figure",
]
TARGETS = [
    *(
        f"results/archive/tables/{name}.csv"
        for name in ("table3", "table4", "pcp", "bias_verdict", "cutflow_sga", "cutflow_blazar")
    ),
    "results/archive/catalogs/blazars.parquet",
    *(f"results/archive/figures/{fig}.{ext}" for fig in ("fig4", "fig5", "fig8", "fig9")
      for ext in ("pdf", "png", "csv")),
]  # fmt: skip
SPECOBJ = "resources/archive/sdss_specobj.parquet"


def specobj_chunk_queries(archive: FakeArchive) -> list[str]:
    """The SkyServer SQL of each SpecObj chunk request (not the PhotoObj/TwoMass joins)."""
    queries = [r.query["cmd"][0] for r in archive.requests_to("skyserver")]
    return [q for q in queries if "JOIN" not in q]


@pytest.fixture
def sky_servers(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    sky = build_sky()
    archive = FakeArchive(
        specobj=sky.specobj,
        photoobj=sky.photoobj,
        twomass=sky.twomass,
        allwise=sky.allwise,
        polls_to_complete=1,
    ).start()
    for name, content in sky.clarke_files.items():
        archive.add_file(name, content)
    for name, content in sky.lac_files.items():
        archive.add_fermi_file(name, content)
    vizier = FakeArchive(use_tls=True, vizier_tables={"VII/274": sky.bzcat_votable}).start()
    yield sky, archive, vizier
    archive.stop()
    vizier.stop()


def workflow_copy(tmp_path: Path, sky, archive: FakeArchive, vizier: FakeArchive) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("Snakefile", "workflow", "config", "envs"):
        source = REPO / name
        if source.is_dir():
            subprocess.run(["cp", "-r", str(source), str(work / name)], check=True)
        else:
            subprocess.run(["cp", str(source), str(work / name)], check=True)
    (work / "profiles").symlink_to("workflow/profiles")
    services = {
        "data": {"source": "archive"},
        "archive": {
            "sdss": {"common": {"skyserver_url": archive.base_url}},
            "allwise": {"tap_url": f"{archive.base_url}/tap"},
            "vizier": {"server": vizier.host_port},
            # The download path (DR3 from the FSSC) end to end; the default, the bundled DR1,
            # needs no service and is tested in test_archive_4lac.py.
            "4lac": {
                "source": "fermi",
                "fermi": {
                    "page_url": f"{archive.base_url}/ssc/data/access/lat/4LACDR3/",
                    "expected_rows": sky.lac_rows,
                },
            },
            "clarke2020": {
                "record_api_url": f"{archive.base_url}/api/records/{archive.concept_id}"
            },
        },
    }
    (work / "services.yaml").write_text(yaml.safe_dump(services, sort_keys=False))
    return work


def snakemake_command(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--configfile",
        str(REPO / "tests" / "config" / "mini_archive.yaml"),
        "services.yaml",
        *args,
    ]


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "REQUESTS_CA_BUNDLE": str(TLS_CERT),  # the VizieR server speaks HTTPS
        "MPLBACKEND": "Agg",
    }


@pytest.mark.archive_e2e
@pytest.mark.e2e
def test_the_archive_dag_runs_end_to_end_against_a_local_sky(sky_servers, tmp_path):
    sky, archive, vizier = sky_servers
    work = workflow_copy(tmp_path, sky, archive, vizier)
    parts = work / f"{SPECOBJ}.parts"

    # 1. Interrupt the SDSS SpecObj download (8 chunks) after at least 3 chunks, as Ctrl-C in
    # a terminal does (SIGINT to the foreground process group).
    archive.skyserver_delay_s = 0.5
    process = subprocess.Popen(
        snakemake_command("--cores", "1", SPECOBJ),
        cwd=work,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal
        preexec_fn=default_sigint,  # Ctrl-C reaches it even if this test run ignores SIGINT
    )
    deadline = time.monotonic() + 120
    while len(list(parts.glob("chunk-*.parquet"))) < 3:
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "no SpecObj chunks arrived"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: SIGINT to Snakemake and its jobs
    log = process.communicate(timeout=60)[0]
    assert process.returncode != 0, log[-3000:]
    kept = sorted(parts.glob("chunk-*.parquet"))
    assert 3 <= len(kept) < 8, log[-3000:]
    assert not (work / SPECOBJ).exists()
    leftovers = [p.name for p in (work / "resources/archive").glob(".*") if p.is_file()]
    leftovers += [p.name for p in parts.glob(".*tmp*")]
    assert not leftovers, leftovers  # no half-written file of the atomic writer
    first_run = specobj_chunk_queries(archive)

    # 2. Rerun the whole archive DAG: only the missing chunks are fetched.
    archive.skyserver_delay_s = 0.0
    archive.requests.clear()
    vizier.requests.clear()
    result = subprocess.run(
        snakemake_command("--cores", "2", *TARGETS),
        cwd=work,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-6000:])
    second_run = specobj_chunk_queries(archive)
    assert len(second_run) == 8 - len(kept)
    saved_queries = set(first_run[: len(kept)])
    assert not saved_queries & set(second_run)
    assert len(set(first_run[: len(kept)]) | set(second_run)) == 8
    assert not parts.exists()  # the chunk store is discarded once assembled

    # Every rule of the archive DAG ran (Snakemake's job-stats table of the run).
    text = result.stdout + result.stderr
    for rule in ARCHIVE_RULES:
        assert re.search(rf"^{rule}\s+[1-9]\d*\s*$", text, re.MULTILINE), rule
    # Each service was asked in its own protocol.
    assert archive.requests_to("tap_create") and archive.requests_to("tap_result")
    assert archive.requests_to("zenodo_api") and len(archive.requests_to("download")) == 3
    assert archive.requests_to("fermi") and vizier.requests_to("vizier")

    results = work / "results" / "archive"
    tables = {name: pd.read_csv(results / "tables" / f"{name}.csv") for name in (
        "table3", "table4", "pcp", "bias_verdict", "cutflow_sga", "cutflow_blazar")}  # fmt: skip
    for name, table in tables.items():
        assert not table.empty, name
    table4 = tables["table4"].set_index("class")
    # Real BZCAT/4LAC blazars at the spectra's positions were labelled.
    assert table4.loc["bll", "N_train"] > 0 and table4.loc["fsrq", "N_train"] > 0
    pcp = tables["pcp"].to_csv()
    assert "Clarke et al. (2020)" in pcp
    for fig in ("fig4", "fig5", "fig8", "fig9"):
        for ext in ("pdf", "png", "csv"):
            assert (results / "figures" / f"{fig}.{ext}").stat().st_size > 0
    provenance = yaml.safe_load(
        (work / "resources/archive/clarke2020.parquet.provenance.json").read_text()
    )
    # 3459293 is Clarke et al.'s concept id: the record API says 404, the search API finds it.
    record = provenance["extra"]["record"]
    assert (record["resolved_by"], record["requested_id"]) == ("concept search", "3459293")
    assert record["record_id"] == "3459294" and record["concept_id"] == "3459293"
    assert provenance["extra"]["row_count_check"]["result"] == "ok"

    # Nothing is left to do.
    again = subprocess.run(
        snakemake_command("-n", *TARGETS), cwd=work, env=environment(), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert "Nothing to be done" in again.stdout + again.stderr
