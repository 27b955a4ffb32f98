"""Helpers that keep the Snakemake adapter scripts (workflow/scripts/acquire_*.py) thin."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .network import NetworkSettings

__all__ = ["logged_to", "network_settings"]


def network_settings(config: Mapping[str, Any]) -> NetworkSettings:
    """`NetworkSettings` from the workflow config's ``archive.network`` (defaults if absent).

    Scripts read these from ``snakemake.config`` rather than ``params:`` on purpose:
    a changed timeout or retry count must not make Snakemake download again.
    """
    return NetworkSettings.from_config(config.get("archive", {}).get("network"))


@contextlib.contextmanager
def logged_to(log_path: str | Path) -> Iterator[logging.Logger]:
    """Send log records to ``log_path`` and record any failure there before re-raising."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    logger = logging.getLogger("deweight.archive")
    try:
        yield logger
    except BaseException:
        logger.exception("Acquisition failed")
        raise
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
