"""Class priors: the prior a training set implies, replacing it, and estimating it from data.

Section 2 of Lake & Tsai (2022): a classifier trained on a set with class prior ``P_M(i)`` (the
training-set composition, Eq. 3, or its weighted version, Eq. 7) returns probabilities
``P_M(i|x)`` that carry that prior. Where each part lives:

* :mod:`~deweight.priors.replace` -- Eqs. 3, 7 and 12: :func:`effective_prior`,
  :func:`weighted_prior`, :func:`replace_prior` ("deweighting");
* :mod:`~deweight.priors.statistics` -- one pass's sufficient statistics over a block of rows
  (numba and NumPy kernels, tables in memory or streamed), :func:`mean_probability`;
* :mod:`~deweight.priors.solvers` -- EM, SQUAREM and Newton, and the covariance, which see only
  those statistics;
* :mod:`~deweight.priors.pcp` -- :func:`prediction_consistent_prior` (Eqs. 13-16),
  :class:`PCPResult` and the :class:`PredictionConsistentPrior` estimator.
"""

# PCP_METHODS, ENGINES, DEFAULT_CHUNK_ROWS, NUMBA_MIN_ROWS and three private helpers stay
# importable from here, as before the split.
from deweight.priors.pcp import (  # noqa: F401
    PCP_METHODS,
    PCPResult,
    PredictionConsistentPrior,
    prediction_consistent_prior,
)
from deweight.priors.replace import (  # noqa: F401
    _check_weights,
    effective_prior,
    replace_prior,
    weighted_prior,
)
from deweight.priors.statistics import (  # noqa: F401
    DEFAULT_CHUNK_ROWS,
    ENGINES,
    NUMBA_MIN_ROWS,
    _numba_installed,
    _resolve_engine,
    mean_probability,
)

__all__ = [
    "PCPResult",
    "PredictionConsistentPrior",
    "effective_prior",
    "mean_probability",
    "prediction_consistent_prior",
    "replace_prior",
    "weighted_prior",
]
