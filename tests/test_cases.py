"""The cases of Sect. 4: Eq. 19 weights, the prior each case carries, Eq. 12 corrections, KL,
and the predictions files they are read from."""

import numpy as np
import pandas as pd
import pytest

from deweight._files import read_parquet_with_metadata, write_parquet_atomic
from deweight.cases import corrected_cases, inverse_prior_weights, kl_by_class
from deweight.predictions import Predictions, read_predictions, write_predictions
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


def test_case_prior_names_the_prior_each_case_carries():
    from deweight.cases import REAL_CASES, SIMULATION_CASES, TRAINED_FROM, case_prior

    model, fractions, rep = [0.5, 0.5], [0.8, 0.2], [0.6, 0.4]
    trained = Predictions(
        np.eye(2), np.array([0, 1]), {"model_prior": model, "training_fractions": fractions}
    )
    expected = {
        "base": model,
        "weighted": model,
        "biased": model,
        "dewatered": fractions,
        "deweighted": fractions,
        "debiased": rep,
        "calibrated": fractions,
    }
    assert set(SIMULATION_CASES) | set(REAL_CASES) == set(TRAINED_FROM) == set(expected)
    for case, prior in expected.items():
        assert list(case_prior(case, trained, debias_prior=rep)) == prior, case
    assert list(case_prior("deweighted", trained, target_prior=rep)) == rep
    with pytest.raises(ValueError, match="debias_prior is needed"):
        case_prior("debiased", trained)
    with pytest.raises(ValueError, match="unknown case 'unbiased'"):
        case_prior("unbiased", trained)
    with pytest.raises(ValueError, match="weighted_correction must be"):
        corrected_cases({"weighted": trained}, weighted_correction="reweighted")
