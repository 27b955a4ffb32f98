"""Warning and error classes raised by deweight.

Every warning the library emits is a subclass of :class:`DeweightWarning`, so a caller can
silence, record or escalate all of them with one filter, e.g.
``warnings.simplefilter("error", deweight.errors.DeweightWarning)``.
"""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "DeweightWarning", "NotFittedError"]


class DeweightWarning(UserWarning):
    """Base class of every warning emitted by deweight.

    Used directly for statistical caveats that do not stop a computation, such as a class that
    no example supports or a prior direction the data cannot identify.
    """


class ConvergenceWarning(DeweightWarning):
    """An iterative solver stopped before meeting its convergence tolerance.

    The result is still returned (with ``converged=False``) so that the caller can inspect how
    far it got, but it must not be treated as a solution.
    """


class NotFittedError(ValueError, AttributeError):
    """An estimator was used (``predict_proba``, ``transform``, ``save``...) before ``fit``.

    The one "not fitted" error of every deweight estimator (``Classifier``, ``Calibrator``,
    ``PredictionConsistentPrior``, ``RangeScaler``). As in scikit-learn it subclasses both
    :class:`ValueError` and :class:`AttributeError`, so code that caught either still works.
    """
