"""Tests of deweight.Calibrator: gradients, known answers, invariants and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from deweight import Calibrator, NotFittedError, prediction_consistent_prior, replace_prior
from deweight.calibration import (
    _identity_params,
    _log_probabilities,
    _nll_and_grad,
    cross_fitted_calibrator,
)


def _softmax(scores):
    scores = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


def _sample(rng, true_probs):
    """One label per row drawn from its row of true probabilities."""
    cumulative = np.cumsum(true_probs, axis=1)
    u = rng.random(true_probs.shape[0])[:, None]
    return np.minimum((u > cumulative).sum(axis=1), true_probs.shape[1] - 1)


def _miscalibrated(rng, n, *, temperature, bias, n_classes=3):
    """Labels drawn from true probabilities and a model's distorted version of them.

    The truth is ``softmax(z)``; the model reports ``softmax((z - bias) * temperature)``, so
    that BCTS with temperature ``temperature`` and biases ``bias`` recovers the truth exactly.
    """
    z = rng.normal(scale=2.0, size=(n, n_classes))
    true_probs = _softmax(z)
    labels = _sample(rng, true_probs)
    model = _softmax((z - np.asarray(bias)) * temperature)
    return model, labels, true_probs


@pytest.mark.parametrize("method", ["ts", "bcts", "vs"])
def test_gradient_matches_finite_differences(method):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, size=50)
    weights = rng.uniform(0.5, 2.0, size=50)
    log_probs = _log_probabilities(probs)
    params = _identity_params(method, 4) + rng.normal(
        scale=0.3, size=_identity_params(method, 4).size
    )
    _, grad = _nll_and_grad(params, log_probs, labels, weights, method)
    step = 1e-6
    numeric = np.empty_like(params)
    for k in range(params.size):
        up, down = params.copy(), params.copy()
        up[k] += step
        down[k] -= step
        numeric[k] = (
            _nll_and_grad(up, log_probs, labels, weights, method)[0]
            - _nll_and_grad(down, log_probs, labels, weights, method)[0]
        ) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_nll_matches_direct_formula():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), size=20)
    labels = rng.integers(0, 3, size=20)
    weights = rng.uniform(0.1, 1.0, size=20)
    nll, _ = _nll_and_grad(
        _identity_params("bcts", 3), _log_probabilities(probs), labels, weights, "bcts"
    )
    direct = -(weights * np.log(probs[np.arange(20), labels])).sum() / weights.sum()
    assert nll == pytest.approx(direct, rel=1e-12)


def test_bcts_recovers_known_temperature_and_biases():
    rng = np.random.default_rng(2)
    bias = np.array([0.8, -0.3, -0.5])
    model, labels, true_probs = _miscalibrated(rng, 40_000, temperature=2.0, bias=bias)
    calibrator = Calibrator("bcts").fit(model, labels)
    assert calibrator.converged_
    # The model sharpened the logits by 2, so the fitted temperature is 2 (scale 1/2).
    assert calibrator.temperature_ == pytest.approx(2.0, rel=0.05)
    np.testing.assert_allclose(calibrator.biases_, bias - bias.mean(), atol=0.06)
    calibrated = calibrator.transform(model)
    # Calibrated probabilities are much closer to the truth than the model's.
    before = np.abs(model - true_probs).mean()
    after = np.abs(calibrated - true_probs).mean()
    assert after < 0.2 * before


def test_temperature_scaling_recovers_known_temperature():
    rng = np.random.default_rng(3)
    model, labels, _ = _miscalibrated(rng, 30_000, temperature=0.5, bias=np.zeros(3))
    calibrator = Calibrator("ts").fit(model, labels)
    assert calibrator.temperature_ == pytest.approx(0.5, rel=0.05)
    np.testing.assert_array_equal(calibrator.biases_, np.zeros(3))


def test_vector_scaling_recovers_per_class_weights():
    rng = np.random.default_rng(4)
    model = _softmax(rng.normal(scale=2.0, size=(40_000, 3)))
    scales, bias = np.array([0.5, 1.0, 2.0]), np.array([0.3, 0.0, -0.3])
    # The truth is exactly vector scaling of the model's log-probabilities.
    true_probs = _softmax(np.log(model) * scales + bias)
    labels = _sample(rng, true_probs)
    calibrator = Calibrator("vs").fit(model, labels)
    np.testing.assert_allclose(calibrator.scales_, scales, rtol=0.08)
    np.testing.assert_allclose(calibrator.biases_, bias, atol=0.08)


def test_none_is_identity_and_has_no_prior():
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(3), size=100)
    labels = rng.integers(0, 3, size=100)
    calibrator = Calibrator("none").fit(probs, labels)
    np.testing.assert_array_equal(calibrator.transform(probs), probs)
    assert calibrator.prior_ is None
    assert calibrator.nll_after_ == calibrator.nll_before_
    assert calibrator.temperature_ == 1.0


@pytest.mark.parametrize("method", ["ts", "bcts", "vs"])
def test_already_calibrated_probabilities_stay_nearly_unchanged(method):
    rng = np.random.default_rng(6)
    z = rng.normal(scale=2.0, size=(40_000, 3))
    probs = _softmax(z)
    labels = _sample(rng, probs)
    calibrator = Calibrator(method).fit(probs, labels)
    assert calibrator.temperature_ == pytest.approx(1.0, abs=0.05)
    assert np.abs(calibrator.transform(probs) - probs).max() < 0.05


@pytest.mark.parametrize("method", ["ts", "bcts", "vs", "none"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_never_increases_nll_on_fitting_set(method, seed):
    rng = np.random.default_rng(10 + seed)
    probs = rng.dirichlet(np.full(3, 0.3 + seed), size=200)
    labels = rng.integers(0, 3, size=200)
    weights = rng.uniform(0, 3, size=200)
    calibrator = Calibrator(method).fit(probs, labels, sample_weight=weights)
    assert calibrator.nll_after_ <= calibrator.nll_before_
    # The reported NLL is that of the transformed probabilities.
    out = calibrator.transform(probs)
    direct = -(weights * np.log(out[np.arange(200), labels])).sum() / weights.sum()
    assert calibrator.nll_after_ == pytest.approx(direct, rel=1e-9)


@pytest.mark.parametrize("method", ["bcts", "vs"])
def test_prior_is_fitting_balance_and_mean_calibrated_probability_matches_it(method):
    rng = np.random.default_rng(7)
    model, labels, _ = _miscalibrated(rng, 5_000, temperature=1.5, bias=[1.0, 0.0, -1.0])
    weights = np.where(labels == 2, 4.0, 1.0)
    calibrator = Calibrator(method).fit(model, labels, sample_weight=weights)
    balance = np.bincount(labels, weights=weights, minlength=3) / weights.sum()
    np.testing.assert_allclose(calibrator.prior_, balance, rtol=1e-12)
    # The stationarity condition of the bias terms: weighted mean of q equals prior_.
    out = calibrator.transform(model)
    mean = (weights[:, None] * out).sum(axis=0) / weights.sum()
    np.testing.assert_allclose(mean, calibrator.prior_, atol=1e-6)


def test_prior_is_the_model_prior_for_deweighting_after_calibration():
    # Calibrate on a dev set with a balanced composition, then move to the population's
    # prior with Eq. 12 using prior_ as the old prior: the result matches the truth under
    # the population prior, and the PCP (Eq. 14) of a population sample finds that prior.
    rng = np.random.default_rng(8)
    means = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])

    def draw(prior, n):
        labels = rng.choice(3, size=n, p=prior)
        return rng.normal(size=(n, 2)) + means[labels], labels

    def posterior(x, prior):
        log_like = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(axis=2)
        return _softmax(log_like + np.log(prior))

    balanced = np.full(3, 1 / 3)
    population = np.array([0.8, 0.15, 0.05])
    x_dev, y_dev = draw(balanced, 30_000)

    # A model trained on the balanced set, but over-confident (temperature 0.5) and biased.
    def model(x):
        return _softmax(2.0 * np.log(posterior(x, balanced)) + np.array([0.0, 0.4, -0.4]))

    calibrator = Calibrator("bcts").fit(model(x_dev), y_dev)
    np.testing.assert_allclose(calibrator.prior_, np.bincount(y_dev) / y_dev.size)
    x_pop, _ = draw(population, 30_000)
    corrected = replace_prior(calibrator.transform(model(x_pop)), calibrator.prior_, population)
    assert np.abs(corrected - posterior(x_pop, population)).mean() < 0.01
    pcp = prediction_consistent_prior(calibrator.transform(model(x_pop)), calibrator.prior_)
    np.testing.assert_allclose(pcp.prior, population, atol=0.02)


def test_float32_input_and_zero_probabilities():
    rng = np.random.default_rng(9)
    probs = rng.dirichlet(np.ones(3), size=300).astype(np.float32)
    probs[0] = [1.0, 0.0, 0.0]
    labels = rng.integers(0, 3, size=300)
    labels[0] = 0
    out = Calibrator("bcts").fit(probs, labels).transform(probs)
    assert out.dtype == np.float64
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


# ---- bad input -----------------------------------------------------------------------------


def _good(n=30, c=3, seed=11):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(c), size=n)
    labels = np.arange(n) % c
    return probs, labels


def test_settings_are_stored_by_init_and_checked_by_fit():
    probs, labels = _good()
    calibrator = Calibrator("platt")  # the scikit-learn convention: __init__ only stores
    assert calibrator.get_params() == {"method": "platt", "max_iter": 1000, "tol": 1e-10}
    with pytest.raises(ValueError, match="method must be one of ts, bcts, vs, none.*'platt'"):
        calibrator.fit(probs, labels)
    for bad, message in [
        ({"max_iter": 0}, "max_iter must be a positive integer"),
        ({"max_iter": 2.5}, "max_iter must be a positive integer"),
        ({"tol": -1.0}, "tol must be a positive finite number"),
        ({"tol": np.inf}, "tol must be a positive finite number"),
    ]:
        with pytest.raises(ValueError, match=message):
            Calibrator("ts", **bad).fit(probs, labels)
    # set_params repairs it; the fit then equals a fresh estimator's.
    calibrator.set_params(method="bcts", max_iter=50)
    refit = calibrator.fit(probs, labels).transform(probs)
    np.testing.assert_array_equal(
        refit, Calibrator("bcts", max_iter=50).fit(probs, labels).transform(probs)
    )
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['temperature'\]"):
        calibrator.set_params(temperature=2.0)


def test_cross_fitting_refuses_a_bad_method_before_training_any_fold():
    probs, labels = _good()
    trained = []

    def fit_predict(x_fit, y_fit, x_held, fold):
        trained.append(fold)
        return x_held

    with pytest.raises(ValueError, match="method must be one of"):
        cross_fitted_calibrator(probs, labels, fit_predict, folds=3, method="platt")
    assert trained == []


def test_nan_probability_names_row():
    probs, labels = _good()
    probs[7, 1] = np.nan
    with pytest.raises(ValueError, match="probs row 7 contains a non-finite value"):
        Calibrator().fit(probs, labels)


def test_row_not_summing_to_one_names_row():
    probs, labels = _good()
    probs[4] *= 1.5
    with pytest.raises(ValueError, match="probs row 4 sums to"):
        Calibrator().fit(probs, labels)


def test_label_outside_classes_names_position():
    probs, labels = _good()
    labels[5] = 3
    with pytest.raises(ValueError, match=r"labels\[5\] is 3, outside the class range \[0, 3\)"):
        Calibrator().fit(probs, labels)


def test_class_with_no_labelled_row_is_named():
    probs, labels = _good()
    labels[labels == 1] = 0
    with pytest.raises(ValueError, match="class 1 has no labelled row"):
        Calibrator().fit(probs, labels)


def test_class_with_only_zero_weight_rows_is_named():
    probs, labels = _good()
    weights = np.where(labels == 2, 0.0, 1.0)
    with pytest.raises(ValueError, match="class 2 has no labelled row"):
        Calibrator().fit(probs, labels, sample_weight=weights)


def test_bad_weight_and_length_mismatch():
    probs, labels = _good()
    weights = np.ones(labels.size)
    weights[3] = -1
    with pytest.raises(ValueError, match=r"sample_weight\[3\] is -1.0"):
        Calibrator().fit(probs, labels, sample_weight=weights)
    with pytest.raises(ValueError, match="labels has 29 rows but probs has 30"):
        Calibrator().fit(probs, labels[:-1])


def test_transform_checks():
    probs, labels = _good()
    with pytest.raises(NotFittedError, match="not fitted"):
        Calibrator().transform(probs)
    calibrator = Calibrator().fit(probs, labels)
    with pytest.raises(
        ValueError, match="probs has 4 class columns but the calibrator was fitted to 3"
    ):
        calibrator.transform(np.full((2, 4), 0.25))
    bad = probs.copy()
    bad[2, 0] = np.inf
    with pytest.raises(ValueError, match="probs row 2"):
        calibrator.transform(bad)


# ---- the workflow's "calibrated" case (deweight.cases, deweight.sweeps) ----------------------


def _gaussian_table(rng, n, prior):
    """Three 2-D Gaussian classes with a train/dev/test split column, as a prepared table."""
    means = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    labels = rng.choice(3, size=n, p=prior)
    x = rng.normal(size=(n, 2)) + means[labels]
    split = rng.choice(["train", "dev", "test"], size=n, p=[0.6, 0.2, 0.2])
    import pandas as pd

    return pd.DataFrame({"f0": x[:, 0], "f1": x[:, 1], "label": labels, "split": split})


def test_corrected_cases_move_the_calibrated_case_from_the_dev_balance_to_training_fractions():
    from deweight.cases import corrected_cases
    from deweight.predictions import Predictions

    rng = np.random.default_rng(20)
    probs = rng.dirichlet(np.ones(3), size=40)
    dev_balance, fractions = np.array([0.5, 0.3, 0.2]), np.array([0.7, 0.2, 0.1])
    pred = Predictions(
        probs=probs,
        labels=np.zeros(40, dtype=int),
        metadata={"model_prior": list(dev_balance), "training_fractions": list(fractions)},
    )
    cases = corrected_cases({"calibrated": pred})
    expected = probs * fractions / dev_balance
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(cases["calibrated"], expected, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:fast recipe")
def test_train_sweep_member_calibrated_is_the_weighted_model_with_bcts_fitted_out_of_fold(tmp_path):
    from deweight._files import write_parquet_atomic
    from deweight.predictions import read_predictions
    from deweight.sweeps import train_sweep_member

    rng = np.random.default_rng(21)
    table = _gaussian_table(rng, 1500, [0.6, 0.3, 0.1])
    path = tmp_path / "task.parquet"
    write_parquet_atomic(
        table, path, metadata={"features": ["f0", "f1"], "class_names": ["a", "b", "c"]}
    )
    params = {"hidden": [4], "restarts": 1, "max_steps": 200, "progress": False, "device": "cpu"}
    members = {
        variant: train_sweep_member(
            train_path=path,
            test_path=path,
            model_path=tmp_path / f"{variant}.pt",
            predictions_path=tmp_path / f"{variant}.parquet",
            variant=variant,
            size=100_000,
            model_params=params,
            seed=1,
            threads=1,
            calibration_folds=3,
        )
        for variant in ("weighted", "calibrated")
    }
    pred = members["calibrated"]
    labelled = table.loc[table["split"].isin(["train", "dev"]), "label"].to_numpy()
    # No label is held back: the model trains on train + dev, as the other variants.
    assert pred.metadata["size_used"] == labelled.size == members["weighted"].metadata["size_used"]
    balance = np.bincount(labelled, minlength=3) / labelled.size
    np.testing.assert_allclose(pred.metadata["model_prior"], balance)
    calibration = pred.metadata["calibration"]
    assert calibration["folds"] == 3 and calibration["n_out_of_fold"] == labelled.size
    assert calibration["nll_after"] <= calibration["nll_before"]
    # The weighted model underneath was trained with a flat prior (Eq. 7 with w = 1/P(i)).
    np.testing.assert_allclose(
        calibration["uncalibrated_model_prior"], np.full(3, 1 / 3), atol=0.02
    )
    # Its final model is the weighted variant's (same rows, same seed); the calibrated test
    # probabilities are the recorded BCTS map, softmax(log p / T + b), applied to them.
    weighted = members["weighted"].probs
    scores = np.log(weighted) / calibration["temperature"] + np.asarray(calibration["biases"])
    np.testing.assert_allclose(pred.probs, _softmax(scores), atol=1e-6)
    back = read_predictions(tmp_path / "calibrated.parquet")
    np.testing.assert_array_equal(back.labels, table.loc[table["split"] == "test", "label"])
    np.testing.assert_allclose(back.probs.sum(axis=1), 1.0)


@pytest.mark.filterwarnings("ignore::deweight.DeweightWarning")
def test_evaluate_real_sweep_carries_the_calibrated_case(tmp_path):
    from deweight.predictions import write_predictions
    from deweight.sweeps import evaluate_real_sweep

    rng = np.random.default_rng(22)
    n, classes = 600, ["a", "b", "c"]
    labels = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    paths = {}
    for requested, used in ((100, {"base": 100, "weighted": 100, "calibrated": 100}),
                            (5000, {"base": 900, "weighted": 900, "calibrated": 700})):  # fmt: skip
        for variant, size_used in used.items():
            probs = rng.dirichlet(np.ones(3), size=n)
            probs[np.arange(n), labels] += 1.0
            probs /= probs.sum(axis=1, keepdims=True)
            prior = {
                "base": [0.6, 0.3, 0.1],
                "weighted": [1 / 3] * 3,
                "calibrated": [0.5, 0.3, 0.2],
            }
            meta = {
                "variant": variant,
                "size_requested": requested,
                "size_used": size_used,
                "model_prior": prior[variant],
                "training_fractions": [0.6, 0.3, 0.1],
                "class_names": classes,
            }
            path = tmp_path / f"{variant}_{requested}.parquet"
            write_predictions(path, probs, labels, meta)
            paths[(variant, requested)] = str(path)
    overshoot, pcp, verdict, _ = evaluate_real_sweep(
        paths, task="t", seed=0, z_threshold=3.0, method="newton", tol=1e-10, max_iter=1000
    )
    # A calibrated model on fewer rows (700: one made before cross-fitting, on train only) is
    # grouped with the others of its request.
    assert sorted(overshoot["size"].unique()) == [100, 900]
    assert set(overshoot["case"]) == {"base", "weighted", "deweighted", "calibrated"}
    assert set(verdict["model"]) == {"base", "weighted", "deweighted", "calibrated"}
    rows = verdict[verdict["model"] == "calibrated"]
    np.testing.assert_allclose(rows["model_prior"], [0.6, 0.3, 0.1])
    mine = pcp[pcp["model"] == "calibrated"]
    assert set(mine["assumed_prior_name"]) == {
        "flat",
        "training composition",
        "calibration balance",
    }
    chosen = mine[mine["is_model_prior"].astype(bool)]
    np.testing.assert_allclose(chosen["assumed_prior"], [0.5, 0.3, 0.2])


def test_load_training_table_roles_need_a_split(tmp_path):
    from deweight._files import write_parquet_atomic
    from deweight.sweeps import load_training_table

    rng = np.random.default_rng(23)
    table = _gaussian_table(rng, 200, [0.5, 0.3, 0.2])
    path = tmp_path / "t.parquet"
    write_parquet_atomic(table, path, metadata={"features": ["f0", "f1"]})
    for role, splits in (("train", {"train", "dev"}), ("train_only", {"train"}), ("dev", {"dev"})):
        _, y, _ = load_training_table(path, role=role)
        assert y.size == table["split"].isin(splits).sum()
    write_parquet_atomic(table.drop(columns="split"), path, metadata={"features": ["f0", "f1"]})
    with pytest.raises(ValueError, match="no split column, so no dev rows"):
        load_training_table(path, role="dev")
