"""The workflow as tests see it: its own settings, for tests that call library functions the
way the workflow does, and one way to run Snakemake on it in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deweight._workflow import read_workflow_config

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The acquisition rules of workflow/rules/acquire.smk: what archive mode downloads.
ACQUIRE_RULES = (
    "acquire_sdss_specobj",
    "acquire_sdss_photoobj",
    "acquire_sdss_twomass",
    "acquire_allwise",
    "acquire_bzcat5",
    "acquire_4lac",
    "acquire_clarke2020",
)


def workflow_config() -> dict:
    """config/config.yaml with the schema's defaults filled in, as the workflow sees it."""
    return read_workflow_config(REPO_ROOT)


def workflow_prepare_settings() -> dict:
    """The catalogue preparation settings plus the split seed, exactly as
    workflow/scripts/prepare_task.py passes them."""
    config = workflow_config()
    return dict(config["prepare"], split_seed=config["seed"])


def run_snakemake(args, cwd=REPO_ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake ARGS`` in ``cwd`` with this checkout's library first on the path
    (so the scripts import the code under test) and loopback exempt from any proxy (the local
    archive of the archive tests)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT / "src"), env.get("PYTHONPATH")])
    )
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
