"""deweight: training-set composition bias in classifier probabilities.

Detect and correct the prior that weighted or biased training gives a classifier, after
Lake, S. E. & Tsai, C.-W. (2022), "An Exploration of How Training Set Composition Bias in
Machine Learning Affects Identifying Rare Objects".

The statistics of Sect. 2 are importable from here::

    from deweight import replace_prior, prediction_consistent_prior, predicted_metrics

The classifier of Sect. 3.1 (:class:`deweight.model.Classifier`) needs PyTorch and is
imported on first use, so that the statistics and the command line start fast.
"""

from deweight.calibration import Calibrator
from deweight.errors import ConvergenceWarning, DeweightWarning
from deweight.metrics import (
    bayes_classify,
    expected_counts,
    kl_divergence,
    observed_metrics,
    overshoot,
    predicted_metrics,
    stochastic_classify,
)
from deweight.priors import (
    PCPResult,
    PredictionConsistentPrior,
    effective_prior,
    prediction_consistent_prior,
    replace_prior,
    weighted_prior,
)

__version__ = "0.1.0"

__all__ = [
    "Calibrator",
    "Classifier",
    "ConvergenceWarning",
    "DeweightWarning",
    "PCPResult",
    "PredictionConsistentPrior",
    "bayes_classify",
    "effective_prior",
    "expected_counts",
    "kl_divergence",
    "observed_metrics",
    "overshoot",
    "predicted_metrics",
    "prediction_consistent_prior",
    "replace_prior",
    "stochastic_classify",
    "weighted_prior",
]


def __getattr__(name):
    # The classifier pulls in torch (about a second to import); load it only when asked for.
    if name == "Classifier":
        from deweight.model import Classifier

        return Classifier
    raise AttributeError(f"module 'deweight' has no attribute {name!r}")
