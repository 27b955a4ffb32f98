"""Tests of cross-fitted calibration (deweight.calibration.cross_fitted_calibrator).

Each property is checked against an independent computation: the folds partition the rows and
keep every class's share; each row is predicted by a model that never saw it, the same model
this test refits from the folds alone; the calibrator is the one fitted on the concatenated
out-of-fold probabilities.
"""

from __future__ import annotations

import numpy as np
import pytest

from deweight.calibration import Calibrator, cross_fitted_calibrator, stratified_folds

MEANS = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])


def _data(seed: int, n: int = 600, prior=(0.6, 0.3, 0.1)):
    """Three 2-D Gaussian classes; column 0 of the features is each row's id."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=prior)
    points = rng.normal(scale=1.3, size=(n, 2)) + MEANS[labels]
    return np.column_stack([np.arange(n), points]), labels


def _centroid_model(X_fit, y_fit, X_out):
    """A deterministic classifier: Gaussian classes with fitted means, unit variance, flat
    prior, evaluated on ``X_out`` (the id column is ignored)."""
    means = np.array([X_fit[y_fit == c, 1:].mean(axis=0) for c in range(3)])
    scores = -0.5 * ((X_out[:, None, 1:] - means[None]) ** 2).sum(axis=2)
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    return probs / probs.sum(axis=1, keepdims=True)


def test_folds_partition_the_rows_keep_each_class_share_and_are_seeded():
    _, labels = _data(1, n=503)
    folds = stratified_folds(labels, 5, seed=7)
    assert folds.shape == labels.shape and set(np.unique(folds)) == set(range(5))
    sizes = np.bincount(folds, minlength=5)
    assert sizes.sum() == labels.size and sizes.max() - sizes.min() <= 1
    for cls in range(3):
        per_fold = np.bincount(folds[labels == cls], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1, (cls, per_fold)
    np.testing.assert_array_equal(folds, stratified_folds(labels, 5, seed=7))
    assert not np.array_equal(folds, stratified_folds(labels, 5, seed=8))


def test_every_row_is_predicted_by_a_model_that_did_not_see_it():
    X, labels = _data(2)
    seen_by_fold = {}

    def fit_predict(X_fit, y_fit, X_held, fold):
        seen_by_fold[fold] = X_fit[:, 0].astype(int)
        return _centroid_model(X_fit, y_fit, X_held)

    fit = cross_fitted_calibrator(X, labels, fit_predict, folds=5, seed=3)
    assert sorted(seen_by_fold) == list(range(5))
    for fold, seen in seen_by_fold.items():
        held = np.flatnonzero(fit.folds == fold)
        assert np.intersect1d(seen, held).size == 0
        # The fold model saw every other row.
        np.testing.assert_array_equal(np.sort(seen), np.flatnonzero(fit.folds != fold))
    # The same out-of-fold probabilities, refitted here from the folds alone.
    expected = np.empty_like(fit.probabilities)
    for fold in range(5):
        held = fit.folds == fold
        expected[held] = _centroid_model(X[~held], labels[~held], X[held])
    np.testing.assert_array_equal(fit.probabilities, expected)


def test_the_calibrator_is_the_one_fitted_on_the_concatenated_out_of_fold_probabilities():
    X, labels = _data(3, n=900)

    def fit_predict(X_fit, y_fit, X_held, fold):
        return _centroid_model(X_fit, y_fit, X_held)

    fit = cross_fitted_calibrator(X, labels, fit_predict, folds=4, seed=[5, 1000])
    # Concatenated fold by fold, in another row order: the fit is the same.
    order = np.argsort(fit.folds, kind="stable")
    direct = Calibrator("bcts").fit(fit.probabilities[order], labels[order])
    assert fit.calibrator.temperature_ == pytest.approx(direct.temperature_, rel=1e-6)
    np.testing.assert_allclose(fit.calibrator.biases_, direct.biases_, atol=1e-6)
    # Its prior is the balance of all labelled rows: none was held back.
    np.testing.assert_allclose(fit.calibrator.prior_, np.bincount(labels) / labels.size)
    # The flat-prior centroid model is miscalibrated for this 60/30/10 set; BCTS helps out of fold.
    assert fit.calibrator.nll_after_ < fit.calibrator.nll_before_


def test_bad_folds_labels_and_answers_are_refused():
    X, labels = _data(4, n=50)
    with pytest.raises(ValueError, match="folds must be an integer from 2 to 50"):
        stratified_folds(labels, 1)
    with pytest.raises(ValueError, match="folds must be an integer from 2 to 50"):
        stratified_folds(labels, 51)
    lonely = labels.copy()
    lonely[lonely == 2] = 0
    lonely[0] = 2
    with pytest.raises(ValueError, match="class 2 has a single labelled row"):
        stratified_folds(lonely, 5)

    def short(X_fit, y_fit, X_held, fold):
        return _centroid_model(X_fit, y_fit, X_held)[:-1]

    with pytest.raises(ValueError, match="fit_predict of fold 0 returned shape"):
        cross_fitted_calibrator(X, labels, short, folds=5)
