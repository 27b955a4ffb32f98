"""The library stands without Snakemake, and the one module that glues scripts to Snakemake
(deweight._workflow) logs, records failures and turns Ctrl-C into one quiet line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from signals import default_sigint

REPO = Path(__file__).resolve().parents[1]

#: Python code that makes ``import snakemake`` (and any snakemake.* import) fail, as in an
#: environment where the ``workflow`` extra is not installed.
NO_SNAKEMAKE = textwrap.dedent(
    """
    import sys
    sys.modules["snakemake"] = None  # ``import snakemake`` now raises ImportError
    try:
        import snakemake  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the snakemake blocker does not work")
    """
)


def python(code: str, *args: str, cwd: Path | None = None, timeout: float = 120):
    """Run ``code`` in a fresh interpreter that imports this checkout's ``deweight``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        preexec_fn=default_sigint,  # SIGINT reaches it even if this run ignores SIGINT
    )


def test_every_library_module_imports_without_snakemake():
    code = NO_SNAKEMAKE + textwrap.dedent(
        """
        import importlib, pkgutil
        import deweight
        names = [m.name for m in pkgutil.walk_packages(deweight.__path__, "deweight.")]
        for name in names:
            importlib.import_module(name)
        assert sys.modules["snakemake"] is None
        print(len(names))
        """
    )
    result = python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    # deweight._workflow, the cli, the catalog and archive subpackages at least.
    assert int(result.stdout.split()[-1]) > 10


def test_deweight_pcp_runs_without_snakemake(tmp_path):
    from deweight.priors import prediction_consistent_prior

    # Bayes' rule under a flat prior for three well separated Gaussian classes drawn 60/30/10.
    rng = np.random.default_rng(3)
    true = rng.choice(3, size=300, p=[0.6, 0.3, 0.1])
    feature = rng.normal(2.0 * true, 1.0)
    likelihood = np.exp(-0.5 * (feature[:, None] - 2.0 * np.arange(3)) ** 2)
    probs = likelihood / likelihood.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(probs, columns=["p_a", "p_b", "p_c"])
    catalogue = tmp_path / "probs.csv"
    frame.to_csv(catalogue, index=False)
    code = NO_SNAKEMAKE + textwrap.dedent(
        """
        import runpy
        sys.argv = ["deweight", *sys.argv[1:]]
        try:
            runpy.run_module("deweight", run_name="__main__", alter_sys=True)
        finally:
            assert sys.modules["snakemake"] is None
        """
    )
    result = python(
        code,
        *("pcp", str(catalogue), "--prob-cols", "p_a,p_b,p_c", "--flat", "--no-progress", "--json"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer["classes"] == ["p_a", "p_b", "p_c"]
    # The same answer as the library called in this process (CSV round trip: 1e-6).
    expected = prediction_consistent_prior(frame.to_numpy(), np.full(3, 1 / 3)).prior
    np.testing.assert_allclose(answer["prior"], expected, atol=1e-6)


SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from types import SimpleNamespace
    from deweight._workflow import run_logged

    def interrupted(smk):
        print("step started", file=sys.stderr)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)

    def failing(smk):
        raise ValueError("bad row 7 in x.csv")

    def fine(smk):
        import logging, warnings
        logging.getLogger("deweight.test").info("did the work")
        warnings.warn("a warning goes to the log")
        print("progress bar", file=sys.stderr)

    step = {"interrupted": interrupted, "failing": failing, "fine": fine}[sys.argv[1]]
    run_logged(step, SimpleNamespace(log=[sys.argv[2]], rule="demo_rule"))
    """
)


def test_sigint_ends_a_script_with_one_line_and_status_130(tmp_path):
    log_file = tmp_path / "logs" / "demo.log"
    result = python(NO_SNAKEMAKE + SCRIPT, "interrupted", str(log_file))
    assert result.returncode == 130
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "demo_rule" in lines[0] and "interrupted" in lines[0]
    assert "Traceback" not in result.stderr
    text = log_file.read_text()
    assert "step started" in text
    assert "interrupted by SIGINT" in text


def test_a_failing_step_is_logged_with_its_traceback_and_still_fails(tmp_path):
    log_file = tmp_path / "demo.log"
    result = python(SCRIPT, "failing", str(log_file))
    assert result.returncode == 1
    assert "ValueError: bad row 7 in x.csv" in result.stderr
    text = log_file.read_text()
    assert "rule demo_rule failed" in text
    assert "Traceback" in text and "bad row 7 in x.csv" in text


def test_a_step_logs_records_warnings_and_stderr_to_the_rule_log(tmp_path):
    log_file = tmp_path / "demo.log"
    result = python(SCRIPT, "fine", str(log_file))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    text = log_file.read_text()
    for expected in ("rule demo_rule, python", "did the work", "a warning goes to the log"):
        assert expected in text
    assert "progress bar" in text
    assert "rule demo_rule finished in" in text


def test_no_library_module_finds_files_relative_to_its_own_location():
    # Installed from a wheel, src/deweight sits in site-packages: a path built from __file__
    # would climb out of it. Data directories (resources/bundled/) are passed in by callers.
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "src" / "deweight").rglob("*.py"))
        if "__file__" in path.read_text()
    ]
    assert offenders == []


def test_network_settings_come_from_the_archive_section_of_the_config():
    from deweight._workflow import network_settings
    from deweight.archive import NetworkSettings

    assert network_settings({}) == NetworkSettings()
    assert network_settings({"archive": {"network": {"retries": 2}}}).retries == 2
    with pytest.raises(ValueError, match="retires"):
        network_settings({"archive": {"network": {"retires": 2}}})
