"""Reliability curves and the bias verdict on known truth (issue 19, beyond the paper)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from deweight import replace_prior, simulate
from deweight.predictions import Predictions
from deweight.reliability import reliability_curve, wilson_interval
from deweight.sweeps.evaluation import _simulation_judgement


def _probabilities(n, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(n_classes, 0.7), size=n)


def test_reliability_matches_a_loop_over_bins_and_classes():
    probs = _probabilities(5_000)
    truth = _probabilities(5_000, seed=1)
    table = reliability_curve(probs, true_probs=truth, bins=7)
    for k in range(3):
        which = np.minimum(np.floor(probs[:, k] * 7).astype(int), 6)
        for b in range(7):
            rows = which == b
            got = table[(table["class"] == k) & (table["bin"] == b)]
            if not rows.any():
                assert got.empty
                continue
            row = got.iloc[0]
            assert row["n"] == rows.sum()
            assert row["mean_probability"] == pytest.approx(probs[rows, k].mean(), rel=1e-12)
            assert row["reference"] == pytest.approx(truth[rows, k].mean(), rel=1e-12)
            sem = truth[rows, k].std(ddof=1) / np.sqrt(rows.sum()) if rows.sum() > 1 else 0.0
            assert row["reference_high"] - row["reference"] == pytest.approx(sem, rel=1e-9)


def test_a_model_that_is_the_truth_lies_on_the_diagonal():
    probs = _probabilities(20_000, seed=2)
    table = reliability_curve(probs, true_probs=probs)
    np.testing.assert_allclose(table["reference"], table["mean_probability"], rtol=1e-12)


def test_labels_drawn_from_the_probabilities_fall_inside_the_intervals():
    # A calibrated model: labels drawn from its probabilities. About 68 % of the 1-sigma
    # Wilson intervals must hold the mean probability (binomially: between 55 % and 80 %).
    rng = np.random.default_rng(3)
    probs = _probabilities(60_000, seed=4)
    labels = (probs.cumsum(axis=1) < rng.random((probs.shape[0], 1))).sum(axis=1)
    table = reliability_curve(probs, labels=labels)
    inside = (table["reference_low"] <= table["mean_probability"]) & (
        table["mean_probability"] <= table["reference_high"]
    )
    assert 0.55 <= inside.mean() <= 0.80, table


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (47, 1000)])
def test_wilson_interval_agrees_with_scipy(k, n):
    low, high = wilson_interval(k, n, level=0.9)
    interval = binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert low == pytest.approx(interval.low, abs=1e-12)
    assert high == pytest.approx(interval.high, abs=1e-12)


def test_reliability_refuses_bad_input():
    probs = _probabilities(10)
    with pytest.raises(ValueError, match="exactly one"):
        reliability_curve(probs)
    with pytest.raises(ValueError, match="exactly one"):
        reliability_curve(probs, true_probs=probs, labels=np.zeros(10, int))
    with pytest.raises(ValueError, match="labels"):
        reliability_curve(probs, labels=np.full(10, 5))
    bad = probs.copy()
    bad[4] = [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="row 4"):
        reliability_curve(bad, labels=np.zeros(10, int))


def test_the_verdict_on_known_truth():
    # The analytic posterior is a perfect base model; re-priored to a flat prior (Eq. 12) it
    # is what a perfect weighted or biased model says. The verdict must call the first
    # unbiased and the others mismatched, and their Eq. 12 corrections unbiased again.
    X, y = simulate.draw(200_000, simulate.CLASS_FRACTIONS, np.random.default_rng(11))
    true_prior = np.asarray(simulate.CLASS_FRACTIONS)
    flat = np.full(3, 1 / 3)
    truth = simulate.true_posterior(X, true_prior)
    shifted = replace_prior(truth, true_prior, flat)
    meta = {
        "class_names": ["class 0", "class 1", "class 2"],
        "size_used": 10**6,
        "training_fractions": list(true_prior),
    }
    predictions = {
        "base": Predictions(truth, y, meta | {"model_prior": list(true_prior)}),
        "weighted": Predictions(shifted, y, meta | {"model_prior": list(flat)}),
        "biased": Predictions(
            shifted, y, meta | {"model_prior": list(flat), "training_fractions": list(flat)}
        ),
    }
    solver = {"method": "newton", "tol": 1e-10, "max_iter": 1000}
    verdict, reliability = _simulation_judgement(
        predictions, y, truth, true_prior, meta["class_names"], 10**6, 5, solver, 3.0
    )
    by_model = verdict.groupby("model")["verdict"].apply(set).to_dict()
    assert (
        by_model["base"] == by_model["dewatered"] == by_model["debiased"] == {"no significant bias"}
    ), verdict
    assert by_model["weighted"] == by_model["biased"] == {"prior mismatch"}, verdict
    assert set(verdict["test_rows"]) == {200_000}
    # The perfect model lies on the diagonal; the weighted one's rare class well below it.
    base = reliability[reliability["model"] == "base"]
    np.testing.assert_allclose(base["reference"], base["mean_probability"], rtol=1e-12)
    rare = reliability[(reliability["model"] == "weighted") & (reliability["class"] == 2)]
    top = rare[rare["mean_probability"] > 0.5]
    assert len(top) >= 3 and (top["reference"] < top["mean_probability"] - 0.1).all(), top
