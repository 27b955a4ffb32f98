"""The workflow's own settings, for tests that call library functions the way the workflow does."""

from __future__ import annotations

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
