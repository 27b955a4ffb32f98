"""Tests of deweight.priors: Eq. 3/7 priors, Eq. 12 prior replacement, Eqs. 13-16 PCP."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from deweight.errors import ConvergenceWarning, DeweightWarning, NotFittedError
from deweight.priors import (
    PCPResult,
    PredictionConsistentPrior,
    effective_prior,
    mean_probability,
    prediction_consistent_prior,
    replace_prior,
    weighted_prior,
)

ENGINES = ["numba", "numpy"]
METHODS = ["newton", "em", "squarem"]

# A 1-D three-class Gaussian mixture whose class densities are known exactly.
MEANS = np.array([0.0, 1.5, 3.0])
SIGMAS = np.array([1.0, 0.7, 1.2])


def mixture_posteriors(n_rows, true_prior, model_prior, seed, *, dtype=np.float64):
    """Draw x from the mixture with ``true_prior``; return Bayes posteriors under ``model_prior``.

    These are exactly the probabilities a perfect classifier trained with class prior
    ``model_prior`` would output, so the prediction-consistent prior should recover
    ``true_prior`` within its standard error.
    """
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n_rows, p=true_prior)
    x = rng.normal(MEANS[labels], SIGMAS[labels])
    joint = stats.norm.pdf(x[:, None], MEANS, SIGMAS) * np.asarray(model_prior)
    return (joint / joint.sum(axis=1, keepdims=True)).astype(dtype)


@functools.cache
def standard_problem(model_prior=(1 / 3, 1 / 3, 1 / 3), dtype=np.float64):
    """10,000 rows drawn with prior (0.6, 0.3, 0.1), posteriors computed with ``model_prior``."""
    return mixture_posteriors(10_000, [0.6, 0.3, 0.1], model_prior, seed=1, dtype=dtype)


def dirichlet_posteriors(n_rows, true_prior, model_prior, seed, sharpness=2.0):
    """Posteriors of a Dirichlet mixture with any number of classes.

    Class ``i`` draws x from Dirichlet(1 + sharpness * e_i); these densities share their
    normalisation, so the Bayes posterior under ``model_prior`` is
    ``model_prior[i] * x_i**sharpness`` normalised.
    """
    rng = np.random.default_rng(seed)
    n_classes = len(true_prior)
    labels = rng.choice(n_classes, size=n_rows, p=true_prior)
    x = rng.dirichlet(np.ones(n_classes), size=n_rows)  # replaced class by class below
    for label in range(n_classes):
        rows = labels == label
        x[rows] = rng.dirichlet(1 + sharpness * np.eye(n_classes)[label], size=rows.sum())
    joint = x**sharpness * np.asarray(model_prior)
    return joint / joint.sum(axis=1, keepdims=True)


def random_probs(n_rows, n_classes, seed, concentration=1.0):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(n_classes, concentration), size=n_rows)


class ChunkedTable:
    """A probability table served in uneven chunks (one of them empty), like a Parquet file."""

    def __init__(self, probs, sizes=(1, 0, 2_999, 1_234)):
        self.probs = probs
        self.sizes = sizes
        self.passes = 0

    def iter_chunks(self):
        self.passes += 1
        start = 0
        index = 0
        while start < self.probs.shape[0]:
            size = self.sizes[index % len(self.sizes)]
            yield self.probs[start : start + size]
            start += size
            index += 1


def log_likelihood_by_hand(probs, prior, model_prior):
    """Eq. 15 up to its constant, written out directly."""
    return float(np.sum(np.log(probs.astype(np.float64) @ (np.asarray(prior) / model_prior))))


# --- effective_prior / weighted_prior (Eqs. 3 and 7) -----------------------------------------


def test_effective_prior_is_class_fraction():
    labels = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(effective_prior(labels), [3 / 6, 1 / 6, 2 / 6])
    np.testing.assert_allclose(effective_prior([1, 1], n_classes=3), [0, 1, 0])


def test_inverse_fraction_weights_balance_the_prior():
    # Clarke et al. (2020) weights, w_i = 1 / (C P(i)), simulate an equal-composition set.
    prior = np.array([0.7, 0.25, 0.05])
    np.testing.assert_allclose(weighted_prior(prior, 1 / (3 * prior)), np.full(3, 1 / 3))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_rows=st.integers(1, 60))
def test_two_lines_of_eq7_agree(seed, n_rows):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n_rows)
    weights = rng.uniform(0.1, 5.0, size=n_rows)
    counts = np.bincount(labels, minlength=4)
    mean_weights = np.bincount(labels, weights=weights, minlength=4) / np.maximum(counts, 1)
    first_line = effective_prior(labels, weights, n_classes=4)
    second_line = weighted_prior(effective_prior(labels, n_classes=4), mean_weights)
    np.testing.assert_allclose(first_line, second_line, rtol=1e-12, atol=1e-15)


def test_weighted_prior_is_scale_invariant_and_validates():
    prior = [0.2, 0.8]
    np.testing.assert_allclose(weighted_prior(prior, [1, 3]), weighted_prior(prior, [10, 30]))
    with pytest.raises(ValueError, match=r"class_weights\[1\] is -1.0"):
        weighted_prior(prior, [1, -1])
    with pytest.raises(ValueError, match="shape"):
        weighted_prior(prior, [1, 1, 1])
    with pytest.raises(ValueError, match="zero weighted prior"):
        weighted_prior([1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"sample_weight\[0\]"):
        effective_prior([0, 1], [np.nan, 1.0])
    with pytest.raises(ValueError, match="sums to zero"):
        effective_prior([0, 1], [0.0, 0.0])


# --- replace_prior (Eq. 12) -----------------------------------------------------------------


def test_replace_prior_equals_bayes_rule_worked_by_hand():
    # Two classes, three possible observations, likelihood table L(x | i).
    likelihood = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])  # rows: class, columns: x
    old_prior = np.array([0.8, 0.2])
    new_prior = np.array([0.3, 0.7])

    def posterior(prior):
        joint = prior[:, None] * likelihood
        return (joint / joint.sum(axis=0)).T  # shape (x, class)

    # e.g. x = 0: old posterior of class 0 is 0.56 / (0.56 + 0.02) = 0.9655...
    assert posterior(old_prior)[0, 0] == pytest.approx(0.56 / 0.58)
    replaced = replace_prior(posterior(old_prior), old_prior, new_prior)
    np.testing.assert_allclose(replaced, posterior(new_prior), rtol=1e-14)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), n_classes=st.integers(1, 6), chunk=st.integers(1, 50))
def test_replace_prior_identity_and_round_trip(seed, n_classes, chunk):
    rng = np.random.default_rng(seed)
    probs = random_probs(40, n_classes, seed, concentration=0.5)
    old = rng.dirichlet(np.ones(n_classes)) + 1e-3
    new = rng.dirichlet(np.ones(n_classes)) + 1e-3
    old, new = old / old.sum(), new / new.sum()
    np.testing.assert_allclose(replace_prior(probs, old, old, chunk_size=chunk), probs, atol=1e-15)
    there = replace_prior(probs, old, new, chunk_size=chunk)
    np.testing.assert_allclose(there.sum(axis=1), 1.0, atol=1e-14)
    back = replace_prior(there, new, old, chunk_size=chunk)
    np.testing.assert_allclose(back, probs, atol=1e-13)


def test_replace_prior_composes():
    probs = random_probs(100, 4, seed=3)
    a, b, c = (np.random.default_rng(s).dirichlet(np.ones(4)) for s in (1, 2, 3))
    two_steps = replace_prior(replace_prior(probs, a, b), b, c)
    np.testing.assert_allclose(two_steps, replace_prior(probs, a, c), atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_replace_prior_keeps_dtype_and_chunking_does_not_matter(dtype):
    probs = random_probs(1_000, 3, seed=4).astype(dtype)
    old, new = [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]
    whole = replace_prior(probs, old, new)
    assert whole.dtype == dtype
    np.testing.assert_array_equal(replace_prior(probs, old, new, chunk_size=17), whole)
    reference = replace_prior(probs.astype(np.float64), old, new)
    np.testing.assert_allclose(whole, reference, rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_replace_prior_out_and_in_place():
    probs = random_probs(50, 3, seed=5)
    expected = replace_prior(probs, [0.5, 0.25, 0.25], [0.1, 0.1, 0.8])
    buffer = probs.copy()
    result = replace_prior(buffer, [0.5, 0.25, 0.25], [0.1, 0.1, 0.8], out=buffer, chunk_size=7)
    assert result is buffer
    np.testing.assert_array_equal(buffer, expected)
    with pytest.raises(ValueError, match="out must have shape"):
        replace_prior(probs, [0.5, 0.25, 0.25], [0.1, 0.1, 0.8], out=np.empty((50, 3), np.float32))


def test_replace_prior_survives_underflow_and_zero_new_prior():
    # Row 0 supports only class 0, whose new prior is so small that q * P underflows.
    probs = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    new = np.array([1e-320, 0.5, 0.5])
    replaced = replace_prior(probs, np.full(3, 1 / 3), new)
    assert np.all(np.isfinite(replaced))
    np.testing.assert_allclose(replaced[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(replaced[2], [0.0, 0.375, 0.625], atol=1e-300)
    # A zero new prior removes the class; a row living only there has no answer.
    np.testing.assert_allclose(
        replace_prior(probs[1:], np.full(3, 1 / 3), [0.0, 0.5, 0.5]), [[0, 1, 0], [0, 0.375, 0.625]]
    )
    with pytest.raises(ValueError, match="probs row 0 puts all its probability"):
        replace_prior(probs, np.full(3, 1 / 3), [0.0, 0.5, 0.5])


@pytest.mark.parametrize(
    ("probs", "old", "new", "message"),
    [
        ([[0.5, 0.5], [np.nan, 1.0]], [0.5, 0.5], [0.5, 0.5], "row 1 contains a non-finite"),
        ([[0.5, 0.5], [1.5, -0.5]], [0.5, 0.5], [0.5, 0.5], "row 1 contains a negative"),
        ([[0.5, 0.5], [0.5, 0.4]], [0.5, 0.5], [0.5, 0.5], "row 1 sums to 0.9"),
        ([0.5, 0.5], [0.5, 0.5], [0.5, 0.5], "2-D"),
        ([[0.5, 0.5]], [0.3, 0.3, 0.4], [0.5, 0.5], "old_prior has 3 entries"),
        ([[0.5, 0.5]], [0.5, 0.5], [1.0], "new_prior has 1 entries"),
        ([[0.5, 0.5]], [1.0, 0.0], [0.5, 0.5], r"old_prior\[1\] is 0.0"),
    ],
)
def test_replace_prior_rejects_bad_input(probs, old, new, message):
    with pytest.raises(ValueError, match=message):
        replace_prior(np.asarray(probs), old, new)


# --- mean_probability (Eq. 13) --------------------------------------------------------------


def test_mean_probability_is_column_mean_and_streams():
    probs = random_probs(5_000, 4, seed=6)
    np.testing.assert_allclose(mean_probability(probs), probs.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        mean_probability(ChunkedTable(probs)), probs.mean(axis=0), rtol=1e-12
    )
    result = prediction_consistent_prior(probs, max_iter=50)
    np.testing.assert_allclose(result.mean_probability, probs.mean(axis=0), rtol=1e-12)


# --- prediction_consistent_prior (Eqs. 14-16) ------------------------------------------------


def test_pcp_recovers_the_true_prior_within_its_stderr():
    model_prior = np.array([0.2, 0.2, 0.6])  # deliberately wrong
    true_prior = np.array([0.55, 0.35, 0.10])
    probs = mixture_posteriors(40_000, true_prior, model_prior, seed=11)
    result = prediction_consistent_prior(probs, model_prior)
    assert result.converged
    assert np.all(result.stderr > 0)
    assert np.all(np.abs(result.prior - true_prior) < 3 * result.stderr)
    # The naive estimate (Eq. 13) is biased towards the model prior by far more than that.
    assert np.abs(result.mean_probability - true_prior).max() > 10 * result.stderr.max()


def test_pcp_standard_errors_are_honest_over_many_data_sets():
    true_prior = np.array([0.6, 0.3, 0.1])
    model_prior = np.array([0.25, 0.25, 0.5])
    z_scores = []
    for seed in range(200):
        probs = mixture_posteriors(2_000, true_prior, model_prior, seed=1_000 + seed)
        result = prediction_consistent_prior(probs, model_prior)
        assert result.converged
        z_scores.append((result.prior - true_prior) / result.stderr)
    z_scores = np.array(z_scores)
    assert np.all(np.abs(z_scores.mean(axis=0)) < 0.25)
    assert np.all((z_scores.std(axis=0) > 0.8) & (z_scores.std(axis=0) < 1.25))


@pytest.mark.parametrize("model_prior", [None, (0.1, 0.1, 0.8)])
def test_solvers_agree(model_prior):
    probs = standard_problem() if model_prior is None else standard_problem(model_prior)
    results = {
        method: prediction_consistent_prior(
            probs,
            model_prior,
            method=method,
            tol=1e-8 if method == "newton" else 1e-13,
            max_iter=100_000,
        )
        for method in METHODS
    }
    reference = results["newton"]
    for result in results.values():
        assert result.converged
        np.testing.assert_allclose(result.prior, reference.prior, atol=1e-8)
        np.testing.assert_allclose(result.stderr, reference.stderr, rtol=1e-6)
        assert result.log_likelihood == pytest.approx(reference.log_likelihood, abs=1e-7)
    # Newton needs far fewer passes over the data than the plain recursion.
    assert reference.passes < results["squarem"].passes < results["em"].passes


@pytest.mark.parametrize("method", METHODS)
def test_pcp_solves_eq14_and_reports_its_likelihood(method):
    model_prior = np.array([0.3, 0.3, 0.4])
    probs = standard_problem(tuple(model_prior))
    result = prediction_consistent_prior(probs, model_prior, method=method, tol=1e-12)
    # Eq. 14: the prior equals the mean of the probabilities re-expressed with it (Eq. 12).
    debiased = replace_prior(probs, model_prior, result.prior)
    np.testing.assert_allclose(debiased.mean(axis=0), result.prior, atol=1e-10)
    assert result.log_likelihood == pytest.approx(
        log_likelihood_by_hand(probs, result.prior, model_prior), rel=1e-12
    )
    assert result.method == method
    assert result.n_rows == probs.shape[0]
    assert result.prior.sum() == pytest.approx(1.0, abs=1e-15)


def test_pcp_is_a_maximum_of_the_likelihood():
    probs = standard_problem()
    result = prediction_consistent_prior(probs)
    rng = np.random.default_rng(0)
    best = log_likelihood_by_hand(probs, result.prior, np.full(3, 1 / 3))
    for _ in range(20):
        nudge = rng.normal(size=3) * 1e-3
        nudged = result.prior + nudge - nudge.mean()
        assert log_likelihood_by_hand(probs, nudged, np.full(3, 1 / 3)) < best


def test_covariance_matches_finite_difference_fisher_information():
    model_prior = np.array([0.5, 0.3, 0.2])
    probs = standard_problem(tuple(model_prior))
    result = prediction_consistent_prior(probs, model_prior)

    # Independent route: free parameters (P0, P1), P2 = 1 - P0 - P1, numerical Hessian.
    def loglik(free):
        prior = np.array([free[0], free[1], 1 - free[0] - free[1]])
        return log_likelihood_by_hand(probs, prior, model_prior)

    step = 1e-4
    centre = result.prior[:2]
    hessian = np.empty((2, 2))
    for j in range(2):
        for k in range(2):
            ej, ek = np.eye(2)[j] * step, np.eye(2)[k] * step
            hessian[j, k] = (
                loglik(centre + ej + ek)
                - loglik(centre + ej - ek)
                - loglik(centre - ej + ek)
                + loglik(centre - ej - ek)
            ) / (4 * step**2)
    covariance = np.linalg.inv(-hessian)
    np.testing.assert_allclose(result.covariance[:2, :2], covariance, rtol=1e-4)
    # Remaining entries follow from P2 = 1 - P0 - P1: the covariance annihilates ones(C).
    np.testing.assert_allclose(result.covariance @ np.ones(3), 0, atol=1e-12)
    np.testing.assert_allclose(result.covariance, result.covariance.T, atol=0)
    assert np.all(np.linalg.eigvalsh(result.covariance) > -1e-15)
    np.testing.assert_allclose(result.stderr, np.sqrt(np.diag(result.covariance)))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1_000))
def test_pcp_is_invariant_to_row_order_and_equivariant_to_class_order(seed):
    model_prior = np.array([0.2, 0.5, 0.3])
    probs = standard_problem(tuple(model_prior))
    reference = prediction_consistent_prior(probs, model_prior)
    rng = np.random.default_rng(seed)
    shuffled = prediction_consistent_prior(probs[rng.permutation(len(probs))], model_prior)
    np.testing.assert_allclose(shuffled.prior, reference.prior, atol=1e-12)
    np.testing.assert_allclose(shuffled.stderr, reference.stderr, rtol=1e-9)
    order = rng.permutation(3)
    permuted = prediction_consistent_prior(probs[:, order], model_prior[order])
    np.testing.assert_allclose(permuted.prior, reference.prior[order], atol=1e-12)
    np.testing.assert_allclose(
        permuted.covariance, reference.covariance[np.ix_(order, order)], rtol=1e-8, atol=1e-16
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method", METHODS)
def test_streamed_chunks_equal_in_memory(engine, method):
    probs = standard_problem((0.3, 0.3, 0.4), np.float32)
    table = ChunkedTable(probs)
    streamed = prediction_consistent_prior(table, [0.3, 0.3, 0.4], method=method, engine=engine)
    in_memory = prediction_consistent_prior(probs, [0.3, 0.3, 0.4], method=method, engine=engine)
    assert table.passes == streamed.passes
    assert streamed.iterations == in_memory.iterations
    np.testing.assert_allclose(streamed.prior, in_memory.prior, atol=1e-13)
    np.testing.assert_allclose(streamed.stderr, in_memory.stderr, rtol=1e-10)
    assert streamed.log_likelihood == pytest.approx(in_memory.log_likelihood, rel=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_and_numpy_engines_agree(n_classes, dtype):
    rng = np.random.default_rng(n_classes)
    model_prior = rng.dirichlet(np.full(n_classes, 5.0))
    true_prior = rng.dirichlet(np.full(n_classes, 5.0))
    probs = dirichlet_posteriors(40_000, true_prior, model_prior, seed=7).astype(dtype)
    by_numba = prediction_consistent_prior(probs, model_prior, engine="numba")
    by_numpy = prediction_consistent_prior(probs, model_prior, engine="numpy")
    np.testing.assert_allclose(by_numba.prior, by_numpy.prior, atol=1e-12)
    np.testing.assert_allclose(by_numba.covariance, by_numpy.covariance, rtol=1e-8, atol=1e-18)
    np.testing.assert_allclose(by_numba.mean_probability, by_numpy.mean_probability, rtol=1e-12)
    assert by_numba.log_likelihood == pytest.approx(by_numpy.log_likelihood, rel=1e-11)
    assert by_numba.passes == by_numpy.passes


def test_pcp_accepts_a_start_and_a_fitted_model_is_a_fixed_point():
    probs = standard_problem()
    reference = prediction_consistent_prior(probs)
    from_start = prediction_consistent_prior(probs, start=[0.1, 0.1, 0.8])
    np.testing.assert_allclose(from_start.prior, reference.prior, atol=1e-10)
    # Probabilities already carrying the PCP have that PCP as their own: one step, no change.
    debiased = replace_prior(probs, np.full(3, 1 / 3), reference.prior)
    again = prediction_consistent_prior(debiased, reference.prior)
    np.testing.assert_allclose(again.prior, reference.prior, atol=1e-9)
    assert again.iterations <= 2
    with pytest.raises(ValueError, match=r"start\[0\] is 0"):
        prediction_consistent_prior(probs, start=[0.0, 0.5, 0.5])


@pytest.mark.parametrize("method", METHODS)
def test_non_convergence_is_reported(method):
    probs = standard_problem()
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 iterations"):
        result = prediction_consistent_prior(probs, [0.1, 0.1, 0.8], method=method, max_iter=1)
    assert not result.converged
    assert result.iterations == 1
    assert np.all(np.isfinite(result.prior))


def test_converged_run_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = prediction_consistent_prior(standard_problem())
    assert result.converged


@pytest.mark.parametrize("method", METHODS)
def test_unsupported_class_gets_zero_prior_and_nan_stderr(method):
    probs = standard_problem()
    padded = np.concatenate([probs[:, :1], np.zeros((len(probs), 1)), probs[:, 1:]], axis=1)
    with pytest.warns(DeweightWarning, match=r"classes \[1\] have probability 0 in every row"):
        result = prediction_consistent_prior(padded, method=method, tol=1e-12)
    reference = prediction_consistent_prior(probs, method=method, tol=1e-12)
    assert result.prior[1] == 0.0
    assert np.isnan(result.stderr[1])
    assert np.all(np.isnan(result.covariance[1]))
    np.testing.assert_allclose(result.prior[[0, 2, 3]], reference.prior, atol=1e-10)
    np.testing.assert_allclose(result.stderr[[0, 2, 3]], reference.stderr, rtol=1e-6)


def test_identical_columns_are_reported_as_not_identified():
    probs = standard_problem()
    split = np.concatenate([probs[:, :1] / 2, probs[:, :1] / 2, probs[:, 1:]], axis=1)
    with pytest.warns(DeweightWarning, match=r"do not identify the prior of classes \[0, 1\]"):
        result = prediction_consistent_prior(split)
    # Halving a flat 4-class prior's first two columns is the 3-class table with model prior
    # (1/2, 1/4, 1/4): the likelihoods p / P_M are the same.
    merged = prediction_consistent_prior(probs, [0.5, 0.25, 0.25])
    assert np.all(np.isinf(result.stderr[:2]))
    np.testing.assert_allclose(result.stderr[2:], merged.stderr[1:], rtol=1e-6)
    # The identified combination, P0 + P1, is the merged class's prior.
    assert result.prior[0] + result.prior[1] == pytest.approx(merged.prior[0], abs=1e-9)
    np.testing.assert_allclose(result.prior[2:], merged.prior[1:], atol=1e-9)


def test_boundary_solution_is_flagged():
    # Rows drawn from classes 0 and 1 only: the likelihood is highest with class 2 at 0.
    probs = mixture_posteriors(5_000, [0.5, 0.5, 0.0], np.full(3, 1 / 3), seed=3)
    with pytest.warns(DeweightWarning, match=r"classes \[2\] is on .* the boundary"):
        result = prediction_consistent_prior(probs)
    assert result.converged
    # Newton reaches the boundary exactly (once the class is pushed towards 0 twice and the
    # quadratic model agrees) instead of shrinking it geometrically, pass after pass.
    assert result.prior[2] == 0.0
    assert result.passes <= 6
    with pytest.warns(DeweightWarning, match="boundary"):
        reference = prediction_consistent_prior(probs, method="em", tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(result.prior, reference.prior, atol=1e-6)


def test_single_class_is_trivial():
    result = prediction_consistent_prior(np.ones((5, 1)))
    np.testing.assert_array_equal(result.prior, [1.0])
    np.testing.assert_array_equal(result.stderr, [0.0])
    assert result.converged


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_rows_are_named_by_both_engines(engine):
    probs = random_probs(40_000, 3, seed=8)
    probs[[20_000, 35_000]] = [[0.5, 0.5, 0.5], [np.nan, 0.5, 0.5]]
    with pytest.raises(ValueError, match="probs row 20000 sums to 1.5"):
        prediction_consistent_prior(probs, engine=engine)
    probs[20_000] = [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="probs row 35000 contains a non-finite"):
        prediction_consistent_prior(probs, engine=engine)
    probs[35_000] = [1.2, -0.2, 0.0]
    with pytest.raises(ValueError, match="probs row 35000 contains a negative"):
        prediction_consistent_prior(ChunkedTable(probs, sizes=(10_000, 7)), engine=engine)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"probs": np.ones(3) / 3}, "2-D"),
        ({"probs": np.zeros((0, 3))}, "no rows"),
        ({"model_prior": [0.5, 0.5]}, "model_prior has 2 entries but there are 3"),
        ({"model_prior": [0.5, 0.5, 0.0]}, r"model_prior\[2\] is 0.0"),
        ({"start": [0.5, 0.5]}, "start has 2 entries"),
        ({"method": "bisection"}, "method must be one of"),
        ({"tol": 0}, "tol must be a positive"),
        ({"tol": "small"}, "tol must be a positive"),
        ({"max_iter": 0}, "max_iter must be a positive integer"),
        ({"max_iter": 2.5}, "max_iter must be a positive integer"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"engine": "gpu"}, "engine must be one of"),
    ],
)
def test_pcp_rejects_bad_arguments(kwargs, message):
    arguments = {"probs": standard_problem()[:100], **kwargs}
    probs = arguments.pop("probs")
    with pytest.raises(ValueError, match=message):
        prediction_consistent_prior(probs, **arguments)


def test_chunks_with_inconsistent_columns_raise():
    class Ragged:
        def iter_chunks(self):
            yield np.full((2, 3), 1 / 3)
            yield np.full((2, 2), 1 / 2)

    with pytest.raises(ValueError, match="chunk starting at row 2 has 2 columns"):
        prediction_consistent_prior(Ragged())


def test_result_is_immutable():
    result = prediction_consistent_prior(standard_problem())
    assert isinstance(result, PCPResult)
    with pytest.raises(ValueError, match="read-only"):
        result.prior[0] = 1.0
    with pytest.raises(AttributeError):
        result.converged = False


def test_estimator_class_fits_and_debiases():
    probs = standard_problem((0.4, 0.4, 0.2))
    estimator = PredictionConsistentPrior(model_prior=[0.4, 0.4, 0.2], method="squarem")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        estimator.predict_proba(probs)
    assert estimator.fit(probs) is estimator
    direct = prediction_consistent_prior(probs, [0.4, 0.4, 0.2], method="squarem")
    np.testing.assert_allclose(estimator.prior_, direct.prior, atol=1e-15)
    np.testing.assert_allclose(estimator.stderr_, direct.stderr, rtol=1e-12)
    debiased = estimator.predict_proba(probs)
    np.testing.assert_allclose(debiased, replace_prior(probs, [0.4, 0.4, 0.2], direct.prior))
    np.testing.assert_allclose(debiased.mean(axis=0), estimator.prior_, atol=1e-7)


def test_auto_engine_sums_small_tables_with_numpy_and_large_ones_with_numba():
    # A numba pass opens a parallel region; for a small in-memory table NumPy is faster.
    from deweight.priors import NUMBA_MIN_ROWS, _numba_installed, _resolve_engine

    small = np.full((NUMBA_MIN_ROWS - 1, 3), 1 / 3)
    large = np.full((NUMBA_MIN_ROWS, 3), 1 / 3)
    assert _resolve_engine("auto", small) == "numpy"
    assert _resolve_engine("auto", large) == ("numba" if _numba_installed() else "numpy")
    if _numba_installed():  # an explicit engine is always honoured
        assert _resolve_engine("numba", small) == "numba"


def test_newton_does_not_leave_a_class_at_zero_when_the_likelihood_rises_into_it():
    # Regression: an early Newton step on a poor quadratic model sent the QSO class to exactly
    # 0, and neither the blocked Newton step nor EM could move it back, so the solve
    # "converged" on the wrong face (prior 0 instead of 0.44 %, log-likelihood 17 lower).
    # tests/fixtures/pcp_rf_near_boundary.npz: 1,000 rows of random-forest probabilities
    # (scikit-learn, 200 trees, trained with w = 1/P(i), so the model prior is flat) for the
    # test split of the bundled SDSS DR14 sample, resampled at 1 % QSOs: draw 60 of
    # benchmarks/bench_label_shift.py's first setting, where the bug showed.
    probs = np.load(Path(__file__).parent / "fixtures" / "pcp_rf_near_boundary.npz")["probs"]
    flat = np.full(3, 1 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeweightWarning)
        newton = prediction_consistent_prior(probs, flat, method="newton", tol=1e-10)
        reference = prediction_consistent_prior(
            probs, flat, method="squarem", tol=1e-13, max_iter=10**5
        )
    assert reference.prior[2] > 0.004  # the maximum is inside the simplex
    assert newton.converged
    np.testing.assert_allclose(newton.prior, reference.prior, atol=1e-8)
    assert newton.log_likelihood >= reference.log_likelihood - 1e-6
