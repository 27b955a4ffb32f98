"""Tests of deweight.metrics: Eqs. 9-11 (predicted metrics), overshoot, classifiers, Eq. 21."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deweight.metrics import (
    ExpectedCounts,
    bayes_classify,
    expected_counts,
    kl_divergence,
    metrics_from_counts,
    observed_metrics,
    overshoot,
    predicted_metrics,
    stochastic_classify,
)
from deweight.priors import replace_prior


def gaussian_mixture_posteriors(n_rows, prior, seed):
    """Exact posteriors of a 1-D three-class Gaussian mixture, and the true labels."""
    rng = np.random.default_rng(seed)
    means, sigmas = np.array([0.0, 1.5, 3.0]), np.array([1.0, 0.7, 1.2])
    labels = rng.choice(3, size=n_rows, p=prior)
    x = rng.normal(means[labels], sigmas[labels])
    density = np.exp(-0.5 * ((x[:, None] - means) / sigmas) ** 2) / sigmas
    joint = density * np.asarray(prior)
    return joint / joint.sum(axis=1, keepdims=True), labels


def draw_labels(probs, n_draws, rng):
    """n_draws independent label vectors, each row drawn from its probabilities."""
    cumulative = np.cumsum(probs, axis=1)
    uniforms = rng.random((n_draws, probs.shape[0], 1))
    return np.minimum((cumulative[None] <= uniforms).sum(axis=2), probs.shape[1] - 1)


# --- Eq. 9 ----------------------------------------------------------------------------------


def test_expected_counts_worked_by_hand():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    assigned = np.array([0, 1, 0])
    counts = expected_counts(probs, assigned)
    # Class 0 is assigned to rows 0 and 2: eTP = 0.9 + 0.7, eFP = 0.1 + 0.3, eFN = 0.4 (row 1).
    np.testing.assert_allclose(counts.etp, [1.6, 0.6])
    np.testing.assert_allclose(counts.efp, [0.4, 0.4])
    np.testing.assert_allclose(counts.efn, [0.4, 0.4])
    # Variances: 0.9*0.1 + 0.7*0.3 = 0.30; 0.4*0.6 = 0.24.
    np.testing.assert_allclose(counts.vtp, [0.30, 0.24])
    np.testing.assert_allclose(counts.vfp, [0.30, 0.24])
    np.testing.assert_allclose(counts.vfn, [0.24, 0.30])
    np.testing.assert_array_equal(counts.n_positive, [2, 1])


def test_predicted_metrics_worked_by_hand():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    table = predicted_metrics(probs, [0, 1, 0])
    assert list(table.columns) == [
        "completeness",
        "completeness_var",
        "reliability",
        "reliability_var",
        "f1",
        "f1_var",
    ]
    assert table.index.name == "class"
    # Class 0: C = 1.6 / 2.0, R = 1.6 / 2, F1 = 3.2 / (2 + 1.6 + 0.4).
    assert table.loc[0, "completeness"] == pytest.approx(0.8)
    assert table.loc[0, "reliability"] == pytest.approx(0.8)
    assert table.loc[0, "f1"] == pytest.approx(0.8)
    # Var C = (0.30 * 0.4^2 + 0.24 * 1.6^2) / 2^4 = 0.0414; Var R = 0.30 / 4 = 0.075;
    # Var F1 = 4 (0.30 (2 + 0.4)^2 + 0.24 * 1.6^2) / 4^4 = 0.0366.
    assert table.loc[0, "completeness_var"] == pytest.approx(0.0414)
    assert table.loc[0, "reliability_var"] == pytest.approx(0.075)
    assert table.loc[0, "f1_var"] == pytest.approx(0.0366)
    # Class 1: C = 0.6 / 1.0, R = 0.6 / 1, F1 = 1.2 / 2.0.
    np.testing.assert_allclose(table.loc[1, ["completeness", "reliability", "f1"]], 0.6)


def test_certain_probabilities_predict_the_observed_metrics_exactly():
    true = np.array([0, 1, 2, 2, 1, 0, 0])
    probs = np.eye(3)[true]
    assigned = np.array([0, 2, 2, 1, 1, 0, 1])
    predicted = predicted_metrics(probs, assigned)
    observed = observed_metrics(true, assigned, 3)
    pd.testing.assert_frame_equal(predicted[list(observed.columns)], observed)
    np.testing.assert_array_equal(predicted.filter(like="_var").to_numpy(), 0.0)


def test_counts_of_chunks_add_up():
    probs, _ = gaussian_mixture_posteriors(1_000, [0.5, 0.3, 0.2], seed=1)
    assigned = bayes_classify(probs)
    whole = expected_counts(probs, assigned)
    parts = expected_counts(probs[:300], assigned[:300]) + expected_counts(
        probs[300:], assigned[300:]
    )
    for name in ("etp", "efp", "efn", "vtp", "vfp", "vfn", "n_positive"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=1e-12)
    pd.testing.assert_frame_equal(metrics_from_counts(parts), metrics_from_counts(whole))
    assert isinstance(whole, ExpectedCounts)


def test_zero_denominators_give_nan_not_errors():
    probs = np.array([[0.5, 0.5, 0.0], [0.7, 0.3, 0.0]])
    with np.errstate(all="raise"):
        table = predicted_metrics(probs, [0, 0])
        observed = observed_metrics([0, 0], [0, 0], n_classes=3)
    # Nothing assigned to class 1: its reliability is undefined; class 2 has nothing at all.
    assert math.isnan(table.loc[1, "reliability"])
    assert math.isnan(table.loc[1, "reliability_var"])
    assert table.loc[1, "completeness"] == 0.0
    assert table.loc[2, ["completeness", "reliability", "f1"]].isna().all()
    assert observed.loc[2].isna().all()
    assert observed.loc[0, "completeness"] == 1.0


def test_predicted_metrics_match_monte_carlo_of_labels_drawn_from_the_probabilities():
    probs, _ = gaussian_mixture_posteriors(3_000, [0.6, 0.3, 0.1], seed=2)
    assigned = stochastic_classify(probs, 5)
    predicted = predicted_metrics(probs, assigned)
    labels = draw_labels(probs, 2_000, np.random.default_rng(3))
    n_positive = np.bincount(assigned, minlength=3)
    for class_index in range(3):
        is_class = labels == class_index
        true_positive = (is_class & (assigned == class_index)).sum(axis=1)
        actual = is_class.sum(axis=1)
        simulated = {
            "completeness": true_positive / actual,
            "reliability": true_positive / n_positive[class_index],
            "f1": 2 * true_positive / (n_positive[class_index] + actual),
        }
        for metric, values in simulated.items():
            sigma = math.sqrt(predicted.loc[class_index, f"{metric}_var"])
            # Eq. 10 is first-order unbiased; the Monte-Carlo mean is good to sigma / 45.
            assert abs(values.mean() - predicted.loc[class_index, metric]) < 0.15 * sigma
            assert values.std() / sigma == pytest.approx(1.0, abs=0.1)


# --- observed metrics and overshoot ---------------------------------------------------------


def test_observed_metrics_worked_by_hand():
    true = [0, 0, 0, 1, 1, 2]
    assigned = [0, 0, 1, 1, 2, 2]
    table = observed_metrics(true, assigned)
    # Class 0: TP 2, FN 1, FP 0. Class 1: TP 1, FN 1, FP 1. Class 2: TP 1, FN 0, FP 1.
    np.testing.assert_allclose(table["completeness"], [2 / 3, 1 / 2, 1])
    np.testing.assert_allclose(table["reliability"], [1, 1 / 2, 1 / 2])
    np.testing.assert_allclose(table["f1"], [4 / 5, 1 / 2, 2 / 3])
    assert table.index.name == "class"
    assert observed_metrics([0], [0], n_classes=4).shape == (4, 3)


def test_overshoot_long_form_and_calibrated_z_scores():
    probs, true = gaussian_mixture_posteriors(20_000, [0.6, 0.3, 0.1], seed=4)
    assigned = bayes_classify(probs)
    table = overshoot(true, probs, assigned)
    assert list(table.columns) == [
        "class",
        "metric",
        "observed",
        "predicted",
        "sigma",
        "overshoot",
        "z",
    ]
    assert len(table) == 9
    assert list(table["metric"][:3]) == ["completeness", "reliability", "f1"]
    np.testing.assert_allclose(table["overshoot"], table["observed"] - table["predicted"])
    np.testing.assert_allclose(table["z"], table["overshoot"] / table["sigma"])
    # Exact probabilities: the overshoots are noise.
    assert np.all(np.abs(table["z"]) < 4)


def test_overshoot_detects_probabilities_with_the_wrong_prior():
    probs, true = gaussian_mixture_posteriors(20_000, [0.6, 0.3, 0.1], seed=5)
    # As if trained on a balanced set: the rare class 2 is over-predicted.
    weighted = replace_prior(probs, [0.6, 0.3, 0.1], np.full(3, 1 / 3))
    table = overshoot(true, weighted, bayes_classify(weighted)).set_index(["class", "metric"])
    assert table.loc[(2, "reliability"), "z"] < -5


def test_overshoot_and_metrics_reject_bad_input():
    probs = np.array([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="assigned has 1 labels but probs has 2 rows"):
        predicted_metrics(probs, [0])
    with pytest.raises(ValueError, match=r"assigned\[1\] is 2"):
        expected_counts(probs, [0, 2])
    with pytest.raises(ValueError, match="true has 3 labels"):
        overshoot([0, 1, 1], probs, [0, 1])
    with pytest.raises(ValueError, match="probs row 1 sums to 1.2"):
        predicted_metrics([[0.5, 0.5], [0.6, 0.6]], [0, 1])
    with pytest.raises(ValueError, match="true has 2 labels but assigned has 1"):
        observed_metrics([0, 1], [0])


# --- classifiers ----------------------------------------------------------------------------


def test_bayes_classify_takes_the_most_probable_class_and_breaks_ties_low():
    probs = np.array([[0.2, 0.5, 0.3], [0.4, 0.2, 0.4], [0.0, 0.0, 1.0]], dtype=np.float32)
    labels = bayes_classify(probs)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [1, 0, 2])


def test_stochastic_classifier_fractions_match_mean_probabilities():
    probs, _ = gaussian_mixture_posteriors(200_000, [0.6, 0.3, 0.1], seed=6)
    labels = stochastic_classify(probs.astype(np.float32), np.random.default_rng(7))
    fractions = np.bincount(labels, minlength=3) / len(labels)
    expected = probs.mean(axis=0)
    # Each label is an independent draw: the count's variance is sum P (1 - P).
    sigma = np.sqrt((probs * (1 - probs)).sum(axis=0)) / len(labels)
    assert np.all(np.abs(fractions - expected) < 5 * sigma)


def test_stochastic_classifier_is_reproducible_and_respects_zeros():
    probs = np.random.default_rng(8).dirichlet([0.3, 0.3, 0.3, 0.3], size=5_000)
    probs[:, 2] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    first = stochastic_classify(probs, 42)
    np.testing.assert_array_equal(first, stochastic_classify(probs, 42))
    np.testing.assert_array_equal(first, stochastic_classify(probs, np.random.default_rng(42)))
    assert not np.array_equal(first, stochastic_classify(probs, 43))
    assert np.all(probs[np.arange(len(first)), first] > 0)
    np.testing.assert_array_equal(stochastic_classify(np.eye(4)[[3, 1, 0]], 0), [3, 1, 0])
    with pytest.raises(ValueError, match="rng must be"):
        stochastic_classify(probs, "seed")


def test_stochastic_classifier_per_row_frequencies():
    # Every row is the same distribution, so the labels are iid draws from it.
    row = np.array([0.1, 0.0, 0.25, 0.65])
    labels = stochastic_classify(np.tile(row, (100_000, 1)), 9)
    fractions = np.bincount(labels, minlength=4) / 100_000
    np.testing.assert_allclose(fractions, row, atol=5 * math.sqrt(0.25 / 100_000))


# --- Eq. 21 ---------------------------------------------------------------------------------


def test_kl_divergence_worked_by_hand():
    p_true = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.8, 0.0]])
    p_model = np.array([[0.25, 0.75, 0.0], [0.5, 0.25, 0.25], [0.2, 0.0, 0.8]])
    divergence = kl_divergence(p_true, p_model)
    assert divergence[0] == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert divergence[1] == pytest.approx(math.log(2))
    assert divergence[2] == math.inf


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), n_classes=st.integers(1, 6))
def test_kl_divergence_properties(seed, n_classes):
    rng = np.random.default_rng(seed)
    p_true = rng.dirichlet(np.full(n_classes, 0.5), size=20)
    p_model = rng.dirichlet(np.full(n_classes, 0.5), size=20)
    divergence = kl_divergence(p_true, p_model)
    assert divergence.shape == (20,)
    assert np.all(divergence >= 0)
    np.testing.assert_array_equal(kl_divergence(p_true, p_true), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p_true > 0, p_true * np.log(p_true / p_model), 0.0)
    np.testing.assert_allclose(divergence, np.maximum(terms.sum(axis=1), 0), rtol=1e-10, atol=1e-14)


def test_kl_divergence_rejects_bad_input():
    with pytest.raises(ValueError, match="p_true has shape"):
        kl_divergence(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="p_model row 0 contains a negative"):
        kl_divergence(np.eye(2), [[1.5, -0.5], [0.0, 1.0]])
