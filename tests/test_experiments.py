"""The wiring of the paper's experiments: weights, subsets, corrections, verdicts, files."""

import numpy as np
import pandas as pd
import pytest

from deweight.experiments import (
    Predictions,
    bias_verdict,
    corrected_cases,
    inverse_prior_weights,
    kl_by_class,
    nested_subset,
    read_parquet_with_metadata,
    read_predictions,
    write_parquet_atomic,
    write_predictions,
)
from deweight.priors import effective_prior


def test_inverse_prior_weights_make_every_class_weigh_the_same():
    labels = np.array([0] * 60 + [1] * 38 + [2] * 2)
    weights = inverse_prior_weights(labels, 3)
    totals = np.bincount(labels, weights=weights)
    np.testing.assert_allclose(totals, totals[0])
    # Eq. 7 with these weights is the flat prior.
    np.testing.assert_allclose(effective_prior(labels, weights, 3), np.full(3, 1 / 3))


def test_inverse_prior_weights_refuse_an_empty_class():
    with pytest.raises(ValueError, match="class 2 has no training example"):
        inverse_prior_weights(np.array([0, 1, 1, 0]), 3)


def test_nested_subsets_are_stratified_nested_and_reproducible():
    # Table 4's classes: galaxy, star, AGN, BL Lac, FSRQ (train + dev).
    counts = [304_862, 3_516, 127_017, 224, 418]
    labels = np.repeat(np.arange(5), counts)
    sizes = [316, 1000, 3162, 10_000, 31_623, 100_000, 316_228]
    subsets = [nested_subset(labels, size, seed=5) for size in sizes]
    for size, subset in zip(sizes, subsets, strict=True):
        assert len(subset) == size == len(np.unique(subset))
        in_subset = np.bincount(labels[subset], minlength=5)
        assert in_subset.min() >= 3  # every class present, even at 316 rows
        # shares follow the whole set's, within the minimum and rounding
        expected = np.maximum(np.floor(size * np.array(counts) / sum(counts)), 3)
        assert np.all(np.abs(in_subset[1:] - expected[1:]) <= 1)
    for small, large in zip(subsets, subsets[1:], strict=False):
        assert set(small) <= set(large)
    np.testing.assert_array_equal(subsets[0], nested_subset(labels, 316, seed=5))
    assert not np.array_equal(subsets[0], nested_subset(labels, 316, seed=6))
    np.testing.assert_array_equal(nested_subset(labels, 10**7, seed=5), np.arange(labels.size))


def test_nested_subset_refuses_a_size_too_small_for_every_class():
    labels = np.repeat(np.arange(5), [100, 100, 100, 5, 5])
    with pytest.raises(ValueError, match="cannot hold 3 examples"):
        nested_subset(labels, 12, seed=0)


def _predictions(probs, prior, fractions, labels):
    return Predictions(
        probs=np.asarray(probs, dtype=float),
        labels=np.asarray(labels),
        metadata={"model_prior": list(prior), "training_fractions": list(fractions)},
    )


def test_corrections_recover_the_posterior_under_the_true_prior():
    # Two classes with known likelihoods at three points; a weighted model sees a flat prior.
    likelihood = np.array([[0.5, 0.1], [0.3, 0.3], [0.2, 0.6]])
    true_prior = np.array([0.9, 0.1])
    flat = np.array([0.5, 0.5])

    def posterior(prior):
        joint = likelihood * prior
        return joint / joint.sum(1, keepdims=True)

    weighted = _predictions(posterior(flat), flat, true_prior, [0, 0, 1])
    biased = _predictions(posterior(flat), flat, flat, [0, 0, 1])
    base = _predictions(posterior(true_prior), true_prior, true_prior, [0, 0, 1])
    cases = corrected_cases(
        {"base": base, "weighted": weighted, "biased": biased},
        debias_prior=true_prior,
        weighted_correction="dewatered",
    )
    np.testing.assert_allclose(cases["dewatered"], posterior(true_prior))
    np.testing.assert_allclose(cases["debiased"], posterior(true_prior))
    only_weighted = corrected_cases({"weighted": weighted})
    np.testing.assert_allclose(only_weighted["deweighted"], posterior(true_prior))


def test_kl_by_class_is_zero_for_the_truth_and_positive_otherwise():
    truth = np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
    labels = np.array([0, 1, 1])
    table = kl_by_class({"exact": truth, "off": truth[:, ::-1]}, truth, labels, size=10)
    exact = table[table["case"] == "exact"]
    np.testing.assert_allclose(exact["mean_kl"], 0.0, atol=1e-12)
    off = table[table["case"] == "off"].set_index("class")
    expected_class0 = 0.7 * np.log(0.7 / 0.3) + 0.3 * np.log(0.3 / 0.7)
    assert off.loc[0, "mean_kl"] == pytest.approx(expected_class0)
    assert off.loc[1, "n"] == 2


def test_bias_verdict_distinguishes_the_three_cases():
    table = bias_verdict(
        model_prior=[0.5, 0.3, 0.2],
        pcp=[0.5, 0.45, 0.05],
        pcp_stderr=[0.01, 0.01, 0.01],
        max_abs_overshoot_z=[1.0, 10.0, 10.0],
        z_threshold=3.0,
    )
    assert list(table["verdict"]) == [
        "no significant bias",
        "prior mismatch",
        "prior mismatch",
    ]
    table = bias_verdict([0.5, 0.5], [0.5, 0.5], [0.01, 0.01], [0.5, 4.0], z_threshold=3.0)
    assert list(table["verdict"]) == ["no significant bias", "probabilities inaccurate"]
    np.testing.assert_allclose(table["prior_difference_sigma"], 0.0)


def test_bias_verdict_counts_an_infinite_overshoot_and_flags_the_boundary():
    # A missed metric whose predicted variance is zero has z = inf: the strongest evidence.
    table = bias_verdict([0.5, 0.5], [0.5, 0.5], [0.01, 0.01], [np.inf, np.nan])
    assert list(table["verdict"]) == ["probabilities inaccurate", "no significant bias"]
    table = bias_verdict([0.9, 0.1], [1.0, 1e-9], [0.02, 0.02], [0.0, 0.0])
    assert list(table["pcp_on_boundary"]) == [False, True]


def test_bias_verdict_includes_the_model_priors_own_sampling_error():
    # 0.10 vs 0.13 is 3 sigma of the PCP alone (0.01) but not once a 100-row training
    # fraction's own error, sqrt(0.1 * 0.9 / 100) = 0.03, is added.
    alone = bias_verdict([0.9, 0.1], [0.87, 0.13], [0.01, 0.01], [0, 0], z_threshold=2.0)
    both = bias_verdict(
        [0.9, 0.1],
        [0.87, 0.13],
        [0.01, 0.01],
        [0, 0],
        z_threshold=2.0,
        model_prior_variance=[0.9 * 0.1 / 100, 0.9 * 0.1 / 100],
    )
    assert list(alone["verdict"]) == ["prior mismatch"] * 2
    assert list(both["verdict"]) == ["no significant bias"] * 2
    np.testing.assert_allclose(both["prior_difference_sigma"].abs(), 0.03 / np.sqrt(0.001))


def test_parquet_metadata_and_predictions_round_trip(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0], "label": [0, 1]})
    write_parquet_atomic(frame, tmp_path / "t.parquet", {"features": ["a"], "n": 2})
    back, meta = read_parquet_with_metadata(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back, frame)
    assert meta == {"features": ["a"], "n": 2}
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])
    write_predictions(tmp_path / "p.parquet", probs, [1, 0], {"variant": "base"})
    pred = read_predictions(tmp_path / "p.parquet")
    np.testing.assert_array_equal(pred.probs, probs)
    np.testing.assert_array_equal(pred.labels, [1, 0])
    assert pred.metadata["variant"] == "base"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_clarke_pcp_table_streams_a_catalogue_and_recovers_its_prior(tmp_path):
    """Sect. 4.4 on a small stand-in for the Clarke et al. (2020) catalogue.

    Rows are exact posteriors under a flat model prior of a known mixture with prior
    (0.45, 0.50, 0.05), so the flat-prior PCP must recover that prior within its error.
    """
    from deweight.experiments import CLARKE_PROBABILITY_COLUMNS, clarke_pcp_table

    rng = np.random.default_rng(3)
    true_prior = np.array([0.45, 0.50, 0.05])
    n = 60_000
    labels = rng.choice(3, size=n, p=true_prior)
    means = np.array([[2.0, 0.0], [0.0, 2.0], [-1.5, -1.5]])
    x = means[labels] + rng.normal(size=(n, 2))
    log_like = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(-1)
    flat_posterior = np.exp(log_like - log_like.max(1, keepdims=True))
    flat_posterior /= flat_posterior.sum(1, keepdims=True)
    frame = pd.DataFrame(flat_posterior.astype(np.float32), columns=CLARKE_PROBABILITY_COLUMNS)
    frame.insert(0, "objid", np.arange(n))
    path = tmp_path / "clarke2020.parquet"
    frame.to_parquet(path)
    table = clarke_pcp_table(
        path, training_prior=(0.729, 0.150, 0.121), method="newton", tol=1e-8, max_iter=1000
    )
    flat = table[table["assumed_prior_name"] == "flat"].sort_values("class")
    assert flat["converged"].all()
    z = (flat["pcp"].to_numpy() - true_prior) / flat["stderr"].to_numpy()
    assert np.all(np.abs(z) < 4), z
    np.testing.assert_allclose(flat["mean_probability"], flat_posterior.mean(0), atol=1e-5)
    assert set(table["assumed_prior_name"]) == {"flat", "training composition"}
