"""Glue between the Snakemake workflow's scripts and the library: the one module that knows Snakemake.

Only ``workflow/scripts/*.py`` import this module. It never imports :mod:`snakemake` itself; it
receives the ``snakemake`` object that Snakemake injects into each script, so the library
(``import deweight``, ``deweight pcp``) installs and runs without Snakemake (the ``workflow``
extra of ``pyproject.toml`` brings it).

What it does for the workflow:

* :func:`check_config` validates the configuration against ``workflow/schemas/config.schema.yaml``,
  fills in the schema's ``default:`` values, and reports a bad or unknown key in a few lines
  (the key, where it sits, what is allowed) instead of a dump of the schema;
* :func:`schema_choices` reads the values a setting allows from the schema (the recipes, the
  variants of each sweep), so that the rules' wildcard constraints state them nowhere else.

What it does for a script:

* :func:`network_settings` gives the acquisition scripts their ``archive.network`` settings;
* :func:`run_logged` runs the script's step with its log records, warnings and stderr (progress
  bars) sent to the rule's ``log:`` file, and records a failure's traceback there;
* a SIGINT (Ctrl-C in the terminal that runs ``snakemake``) ends the script quietly: one line on
  the terminal, the interruption in the log, exit status 130, instead of a traceback from every
  running job.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

__all__ = [
    "INTERRUPTED_EXIT_STATUS",
    "ConfigError",
    "check_config",
    "network_settings",
    "read_workflow_config",
    "run_logged",
    "schema_choices",
]

log = logging.getLogger(__name__)

#: Exit status of a script stopped by SIGINT (128 + signal number 2, the shell's convention).
INTERRUPTED_EXIT_STATUS = 130


#: At most this many problems of a configuration are listed.
MAX_CONFIG_PROBLEMS = 5


class ConfigError(ValueError):
    """The workflow configuration does not match its schema."""


def _with_defaults(validator_class):
    """``validator_class`` that also fills each missing property that has a ``default:``."""
    from jsonschema import validators

    check_properties = validator_class.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, MutableMapping):
            for name, subschema in properties.items():
                if isinstance(subschema, Mapping) and "default" in subschema:
                    instance.setdefault(name, _copy(subschema["default"]))
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": properties_with_defaults})


def _copy(value):
    """A deep copy of a JSON-like default, so that filling it never shares the schema's lists."""
    import copy

    return copy.deepcopy(value)


def _key_path(path) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _describe(error) -> list[str]:
    """One problem of a configuration, in at most two lines."""
    location = _key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = list(error.schema.get("properties", {}))
        unknown = [key for key in error.instance if key not in allowed]
        inside = f"in {location}" if error.absolute_path else "at the top level"
        keys = ", ".join(repr(key) for key in unknown)
        return [
            f"unknown key {keys} {inside}",
            f"  allowed keys there: {', '.join(allowed)}",
        ]
    return [f"{location}: {error.message}"]


def check_config(config: MutableMapping[str, Any], schema_path: str | Path, where: str) -> None:
    """Validate the workflow ``config`` against its JSON schema and fill in the defaults.

    Parameters
    ----------
    config : mutable mapping
        The configuration (Snakemake's ``config``); keys the schema gives a ``default:`` for
        are added in place when absent, at every level.
    schema_path : path
        The JSON schema, in YAML (``workflow/schemas/config.schema.yaml``).
    where : str
        Where the configuration came from, for the messages (e.g. ``"config/config.yaml"``).

    Raises
    ------
    ConfigError
        Naming each bad key (up to :data:`MAX_CONFIG_PROBLEMS` of them) with its dotted path,
        what is wrong, and for an unknown key the keys allowed at that place.
    """
    import jsonschema.validators
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    lines = [f"{where} is not valid:"]
    for error in errors[:MAX_CONFIG_PROBLEMS]:
        lines += ["  " + line for line in _describe(error)]
    if len(errors) > MAX_CONFIG_PROBLEMS:
        lines.append(f"  ... and {len(errors) - MAX_CONFIG_PROBLEMS} more")
    lines.append(f"  (schema: {schema_path})")
    raise ConfigError("\n".join(lines))


def schema_choices(schema_path: str | Path, key: str) -> list:
    """The values the schema allows for the setting ``key`` (its ``enum``), in schema order.

    Parameters
    ----------
    schema_path : path
        The JSON schema, in YAML (``workflow/schemas/config.schema.yaml``).
    key : str
        Dotted path of the setting, e.g. ``"simulation.model.recipe"``; ``$ref`` to the
        schema's ``definitions`` are followed, and for a list setting (``simulation.variants``)
        the values of its items are returned.

    Raises
    ------
    KeyError
        If the schema has no such setting, or it lists no values.
    """
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())

    node = schema
    for part in key.split("."):
        node = _dereference(schema, node).get("properties", {}).get(part)
        if node is None:
            raise KeyError(f"{schema_path} has no setting {key!r}")
    node = _dereference(schema, node)
    if node.get("type") == "array":
        node = _dereference(schema, node.get("items", {}))
    if "enum" not in node:
        raise KeyError(f"{schema_path}: setting {key!r} lists no allowed values")
    return list(node["enum"])


def _dereference(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node``, or the part of ``schema`` its local ``$ref`` (``#/definitions/...``) names."""
    while "$ref" in node:
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def read_workflow_config(root: str | Path) -> dict[str, Any]:
    """The workflow's configuration as a run sees it, for code outside Snakemake.

    Reads ``config/config.yaml`` of the checkout ``root`` and fills the schema's defaults
    (:func:`check_config`), so a benchmark or a test calls the library with exactly the
    settings the workflow passes.

    Parameters
    ----------
    root : path
        The top directory of the workflow (the one holding ``Snakefile``).

    Returns
    -------
    dict
        The validated configuration with its defaults.
    """
    import yaml

    root = Path(root)
    config_path = root / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    check_config(
        config, root / "workflow" / "schemas" / "config.schema.yaml", where=str(config_path)
    )
    return config


def _interrupted(rule: str) -> SystemExit:
    """Print the one-line notice of an interrupted script and return the exit to raise."""
    stream = sys.__stderr__ or sys.stderr
    print(f"deweight: rule {rule} interrupted (Ctrl-C); its outputs were not written", file=stream)
    return SystemExit(INTERRUPTED_EXIT_STATUS)


def _quiet_keyboard_interrupt(exc_type, exc_value, traceback) -> None:
    """``sys.excepthook`` that turns an uncaught KeyboardInterrupt into one line."""
    if issubclass(exc_type, KeyboardInterrupt):
        stream = sys.__stderr__ or sys.stderr
        print("deweight: interrupted (Ctrl-C)", file=stream)
        return
    sys.__excepthook__(exc_type, exc_value, traceback)


# A Ctrl-C that lands outside run_logged (e.g. while the script imports torch) is quiet too.
sys.excepthook = _quiet_keyboard_interrupt


def run_logged(step: Callable[[Any], None], snakemake_object: Any) -> None:
    """Run ``step(snakemake_object)`` with logging and stderr sent to the rule's log file.

    Parameters
    ----------
    step : callable
        The script's work; called with ``snakemake_object`` as its only argument.
    snakemake_object : snakemake.script.Snakemake
        The object Snakemake injects into a script as ``snakemake``; only its ``log[0]`` and
        ``rule`` attributes are read here.

    Raises
    ------
    SystemExit
        With status :data:`INTERRUPTED_EXIT_STATUS` when the step is interrupted by SIGINT,
        after a one-line notice on the terminal and a record in the log.
    Exception
        Whatever ``step`` raises, after its traceback has been written to the log file.

    Notes
    -----
    Progress (:class:`deweight._progress.Progress` writes to stderr; off a terminal, one line
    per finished task) and log records land in ``snakemake.log[0]``; an
    exception is logged with its traceback before it propagates, so the failed job's log says
    what went wrong.
    """
    rule = getattr(snakemake_object, "rule", "?")
    log_path = Path(snakemake_object.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log_path, "w", buffering=1) as handle, contextlib.redirect_stderr(handle):
            logging.basicConfig(
                stream=handle,
                level=logging.INFO,
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                force=True,
            )
            logging.captureWarnings(True)
            log.info("rule %s, python %s", rule, sys.version.split()[0])
            start = time.perf_counter()
            try:
                step(snakemake_object)
            except KeyboardInterrupt:
                log.warning("rule %s interrupted by SIGINT", rule)
                raise
            except Exception:
                log.exception("rule %s failed", rule)
                raise
            log.info("rule %s finished in %.1f s", rule, time.perf_counter() - start)
    except KeyboardInterrupt:
        raise _interrupted(rule) from None


def network_settings(config: Mapping[str, Any]):
    """:class:`deweight.archive.NetworkSettings` from the config's ``archive.network``.

    Defaults if absent. The acquisition scripts read these from ``snakemake.config`` rather
    than ``params:`` on purpose: a changed timeout or retry count must not make Snakemake
    download again.
    """
    from deweight.archive.network import NetworkSettings

    return NetworkSettings.from_config(config.get("archive", {}).get("network"))
