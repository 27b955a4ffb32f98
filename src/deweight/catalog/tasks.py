"""The classification tasks that the prepared catalogues describe, for the workflow to look up."""

from __future__ import annotations

from typing import Any

from deweight.registry import catalog_tasks

__all__ = ["TASKS"]

#: Feature columns, class names (in label order), the SDSS classes kept (``sdss_classes``: SDSS
#: class -> class name) and split of each prepared catalogue, keyed by
#: the library's task name; read from :mod:`deweight.registry`, which says for each data source
#: and workflow task (``sga``, ``blazar``) which of these it prepares. ``data_source`` is
#: ``archive`` (SDSS DR16 + AllWISE + 2MASS, as in the paper; needs network) or ``bundled``
#: (the offline stand-ins built from resources/bundled/). Outputs of bundled tasks must say
#: "SDSS DR14 optical sample" and never present themselves as the paper's WISE results.
TASKS: dict[str, dict[str, Any]] = catalog_tasks()
