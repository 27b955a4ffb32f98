"""The workflow's own settings, for tests that call library functions the way the workflow does."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def workflow_config() -> dict:
    """config/config.yaml with the schema's defaults filled in, as the workflow sees it."""
    import yaml

    from deweight._workflow import check_config

    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    check_config(config, REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml", where="config")
    return config


def workflow_prepare_settings() -> dict:
    """The catalogue preparation settings plus the split seed, exactly as
    workflow/scripts/prepare_task.py passes them."""
    config = workflow_config()
    return dict(config["prepare"], split_seed=config["seed"])
