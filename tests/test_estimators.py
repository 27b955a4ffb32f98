"""One estimator convention (scikit-learn's) for Classifier, Calibrator and the PCP estimator."""

from __future__ import annotations

import numpy as np
import pytest

from deweight import Calibrator, Classifier, NotFittedError, PredictionConsistentPrior
from deweight.model import RangeScaler

ESTIMATORS = [
    Classifier(hidden=(8,), restarts=2, seed=3, weight_decay=1e-5, progress=False),
    Calibrator("ts", max_iter=50),
    PredictionConsistentPrior(model_prior=[0.5, 0.5], method="em", tol=1e-6),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_params_round_trip_and_copy(estimator):
    params = estimator.get_params()
    copy = type(estimator)(**params)
    assert copy.get_params() == params
    assert copy.set_params(**params) is copy
    name = next(iter(params))
    with pytest.raises(ValueError, match=rf"no parameter\(s\) \['bogus'\].*{name}"):
        copy.set_params(bogus=1)


def test_set_params_changes_what_get_params_reports():
    classifier = Classifier(progress=False).set_params(restarts=3, weight_decay_rows=None)
    assert classifier.get_params()["restarts"] == 3
    assert classifier.get_params()["weight_decay_rows"] is None


@pytest.mark.parametrize(
    "use",
    [
        lambda: Classifier(progress=False).predict_proba(np.zeros((2, 4))),
        lambda: Calibrator().transform(np.full((2, 2), 0.5)),
        lambda: PredictionConsistentPrior().predict_proba(np.full((2, 2), 0.5)),
        lambda: RangeScaler().transform(np.zeros((2, 2))),
    ],
)
def test_unfitted_use_raises_one_error_which_is_also_a_value_and_attribute_error(use):
    with pytest.raises(NotFittedError, match="not fitted yet") as caught:
        use()
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, AttributeError)


def test_classifier_init_only_stores_and_fit_checks():
    # scikit-learn's convention: what is passed is what get_params reports, unchecked and
    # unconverted; fit names the first bad setting.
    classifier = Classifier(hidden=[8, 0], restarts=2.0, threads=0, progress=False)
    params = classifier.get_params()
    assert params["hidden"] == [8, 0] and params["restarts"] == 2.0 and params["threads"] == 0
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = np.arange(40) % 2
    with pytest.raises(ValueError, match="hidden layer sizes must be positive"):
        classifier.fit(X, y)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        classifier.set_params(hidden=[8]).fit(X, y)
    fitted = classifier.set_params(threads=1, max_steps=20).fit(X, y)
    assert fitted.get_params()["hidden"] == [8]  # fit converts nothing it reports
    assert fitted.fit_report_["restarts"] == 2
