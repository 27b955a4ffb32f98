"""deweight: training-set composition bias in classifier probabilities.

Detect and correct the prior that weighted or biased training gives a classifier, after
Lake, S. E. & Tsai, C.-W. (2022), "An Exploration of How Training Set Composition Bias in
Machine Learning Affects Identifying Rare Objects".

The statistics of Sect. 2 are importable from here::

    from deweight import replace_prior, prediction_consistent_prior, predicted_metrics

Every name is imported on first use: the statistics need NumPy and numba, the classifier of
Sect. 3.1 (:class:`deweight.model.Classifier`) PyTorch, and the command line starts without
any of them.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Where each public name lives. They are imported on first use (PEP 562), so that
# ``import deweight`` and the ``deweight`` command (whose ``--help`` must answer at once) do
# not pay for NumPy, pandas, SciPy, numba or PyTorch before they need them.
_EXPORTS = {
    "Calibrator": "deweight.calibration",
    "Classifier": "deweight.model",
    "ConvergenceWarning": "deweight.errors",
    "DeweightWarning": "deweight.errors",
    "NotFittedError": "deweight.errors",
    "PCPResult": "deweight.priors",
    "PredictionConsistentPrior": "deweight.priors",
    "bayes_classify": "deweight.metrics",
    "effective_prior": "deweight.priors",
    "expected_counts": "deweight.metrics",
    "kl_divergence": "deweight.metrics",
    "observed_metrics": "deweight.metrics",
    "overshoot": "deweight.metrics",
    "predicted_metrics": "deweight.metrics",
    "prediction_consistent_prior": "deweight.priors",
    "replace_prior": "deweight.priors",
    "stochastic_classify": "deweight.metrics",
    "weighted_prior": "deweight.priors",
}

__all__ = [  # the keys of _EXPORTS; a test checks that the two agree
    "Calibrator",
    "Classifier",
    "ConvergenceWarning",
    "DeweightWarning",
    "NotFittedError",
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

if TYPE_CHECKING:  # for type checkers and IDEs, which do not run __getattr__
    from deweight.calibration import Calibrator
    from deweight.errors import ConvergenceWarning, DeweightWarning, NotFittedError
    from deweight.metrics import (
        bayes_classify,
        expected_counts,
        kl_divergence,
        observed_metrics,
        overshoot,
        predicted_metrics,
        stochastic_classify,
    )
    from deweight.model import Classifier
    from deweight.priors import (
        PCPResult,
        PredictionConsistentPrior,
        effective_prior,
        prediction_consistent_prior,
        replace_prior,
        weighted_prior,
    )


def __getattr__(name):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'deweight' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
