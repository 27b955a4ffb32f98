"""Workflow glue: which file plays each input role of a real-data task, per data source.

The library's registry (:mod:`deweight.registry`) says which roles a task's preparer reads, in
its argument order (``sdss``, ``spec``, ``wise``, ``blazars``, ...); this table says where the
workflow finds each of them: a file shipped under ``resources/bundled/``, or an output of the
rule that makes it (:class:`RuleOutput`). Rule names and paths are the workflow's vocabulary,
so they live here, read by ``workflow/rules/common.smk``, and not in the library.

A task whose preparer reads a file no other task reads adds its role here; a task that reads
files the others read (the usual case) needs no line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["BLAZAR_CATALOG_INPUTS", "INPUT_FILES", "RuleOutput", "task_input_files"]


@dataclass(frozen=True)
class RuleOutput:
    """An input that a workflow rule makes: output ``key`` of rule ``rule``.

    The workflow fills the rule's ``{source}`` wildcard with the task's data source
    (``workflow/rules/common.smk``), so that no path is written twice.
    """

    rule: str
    key: str | int = 0


_BUNDLED = "resources/bundled"
_BUNDLED_BZCAT = f"{_BUNDLED}/bzcat5_with_photometry.csv"
_BLAZARS = RuleOutput("blazar_catalog")

#: Data source -> input role -> a path relative to the workflow's top directory, or the
#: :class:`RuleOutput` of the rule that makes it.
INPUT_FILES: Mapping[str, Mapping[str, str | RuleOutput]] = MappingProxyType(
    {
        "bundled": MappingProxyType(
            {
                "sdss": f"{_BUNDLED}/sdss_dr14_specphoto_sample_10k.csv",
                "bzcat": _BUNDLED_BZCAT,
                "blazars": _BLAZARS,
            }
        ),
        "archive": MappingProxyType(
            {
                "spec": RuleOutput("acquire_sdss_specobj", "table"),
                "wise": RuleOutput("acquire_allwise", "table"),
                "twomass": RuleOutput("acquire_sdss_twomass", "table"),
                "photo": RuleOutput("acquire_sdss_photoobj", "table"),
                "blazars": _BLAZARS,
            }
        ),
    }
)

#: The files the merged BZCAT + 4LAC blazar catalogue (rule ``blazar_catalog``) is made from,
#: per data source; ``{lac_release}`` is the configured 4LAC release (``prepare.lac_release``).
BLAZAR_CATALOG_INPUTS: Mapping[str, Mapping[str, str | RuleOutput]] = MappingProxyType(
    {
        "bundled": MappingProxyType(
            {"bzcat": _BUNDLED_BZCAT, "lac": f"{_BUNDLED}/4lac_{{lac_release}}_highlat.fits"}
        ),
        "archive": MappingProxyType(
            {
                "bzcat": RuleOutput("acquire_bzcat5", "table"),
                "lac": RuleOutput("acquire_4lac", "table"),
            }
        ),
    }
)


def task_input_files(source: str, roles) -> dict[str, str | RuleOutput]:
    """Role -> file of each of ``roles`` (a task's :attr:`~deweight.registry.TaskSpec.inputs`).

    Raises
    ------
    KeyError
        Naming the roles that :data:`INPUT_FILES` does not give for ``source``.
    """
    files = INPUT_FILES.get(source, {})
    missing = [role for role in roles if role not in files]
    if missing:
        raise KeyError(
            f"data source {source!r} has no input file for role(s) {missing}: add them to "
            f"deweight._workflow_inputs.INPUT_FILES (known roles: {sorted(files)})"
        )
    return {role: files[role] for role in roles}
