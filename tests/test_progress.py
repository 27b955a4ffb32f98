"""The one progress display: a bar on a terminal, one summary line per task elsewhere."""

import io
import re
import sys

import numpy as np
import pytest

from deweight import prediction_consistent_prior
from deweight._progress import Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_each_finished_task_is_one_line(capsys):
    with Progress("reading", 10, unit="rows") as progress:
        progress.update(4)
        progress.update(3)
        progress.set_postfix(loss="0.5")
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"deweight: reading: 7 rows in \d+\.\d\d s \(.* rows/s\); loss=0\.5", lines[0]
    )


def test_successive_passes_each_report_once_and_a_failed_task_not_at_all(capsys):
    progress = Progress(unit="rows", large=True)
    for number, rows in ((1, 1_500_000), (2, 2_000_000)):
        progress.start(f"pass {number}", rows)
        progress.update(rows)
        progress.finish()
        progress.finish()  # a second finish of the same task adds nothing
    progress.start("pass 3", 10)
    progress.update(5)
    progress.close()  # interrupted: no summary
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["pass 1", "pass 2"]
    assert "1,500,000 rows" in lines[0] and "million rows/s" in lines[0]
    with pytest.raises(RuntimeError), Progress("doomed") as progress:
        progress.update(1)
        raise RuntimeError
    assert capsys.readouterr().err == ""


def test_disabled_shows_nothing(capsys):
    with Progress("quiet", 3, enabled=False) as progress:
        progress.update(3)
    assert capsys.readouterr().err == ""


def test_on_a_terminal_it_is_a_bar_and_no_summary_line(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with Progress("drawing", 5, unit="steps", mininterval=0) as progress:
        for _ in range(5):
            progress.update(1)
        assert progress.n == 5 and progress.total == 5
    out = terminal.getvalue()
    assert "drawing" in out and "\r" in out
    assert "deweight: drawing" not in out


def test_the_pcp_solver_reports_its_passes_through_it(capsys):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=200)
    result = prediction_consistent_prior(probs, np.full(3, 1 / 3), method="em", progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    passes = int(re.search(r"prior: (\d+) passes", lines[0]).group(1))
    assert passes >= result.iterations


@pytest.mark.filterwarnings("ignore:fast recipe")
def test_a_model_fit_logs_one_line_off_a_terminal(capsys):
    from deweight.model import Classifier

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=200)
    features = rng.normal(size=(200, 2)) + labels[:, None]
    params = {"hidden": [4], "restarts": 1, "max_steps": 200, "device": "cpu"}
    Classifier(**params, n_classes=2, seed=0, threads=1, progress=True).fit(features, labels)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert re.search(r"^deweight: fast \(1 restarts\): \d+ steps in .*held_out_loss=", err, re.M)
    Classifier(**params, n_classes=2, seed=0, threads=1, progress=False).fit(features, labels)
    assert "deweight:" not in capsys.readouterr().err
