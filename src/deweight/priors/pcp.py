"""The prediction-consistent prior (Eq. 14 of Lake & Tsai 2022), as a function and an estimator.

:func:`prediction_consistent_prior` finds the prior under which the mean of the re-priored
probabilities of an unlabelled set equals the prior itself, with its standard errors, from a
table in memory or streamed in chunks; :class:`PredictionConsistentPrior` wraps it as a small
estimator that also returns the re-priored probabilities (Eq. 12).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from deweight._estimator import EstimatorParams
from deweight._validation import (
    check_prior,
)
from deweight.errors import ConvergenceWarning, DeweightWarning, NotFittedError
from deweight.priors.replace import replace_prior
from deweight.priors.solvers import (
    _SOLVERS,
    _Evaluator,
    _log_likelihood_derivatives,
    _prior_covariance,
)
from deweight.priors.statistics import (
    DEFAULT_CHUNK_ROWS,
    _checked_chunk_size,
    _likelihood_pass,
    _ProbabilitySource,
    _resolve_engine,
)

__all__ = ["PCPResult", "PredictionConsistentPrior", "prediction_consistent_prior"]


# ---------------------------------------------------------------------------------------------
# Prediction-consistent prior (Eqs. 13-16)
# ---------------------------------------------------------------------------------------------
#
# Notation used below. ``p[m, i] = P_M(i | x_m)`` are the model's probabilities, computed with
# the model prior ``P_M``. For a candidate prior ``P`` let ``q_i = P(i) / P_M(i)`` and
# ``s_m = sum_i q_i p[m, i]``. Because ``L(x_m | i) = p[m, i] L_M(x_m) / P_M(i)``, the
# log-likelihood of Eq. 15 is ``sum_m log s_m`` plus a constant that does not depend on P, and
#
#     gradient  dl/dP(j)          = sum_m p[m, j] / s_m / P_M(j)
#     Hessian  -d2l/dP(j)dP(k)    = sum_m p[m, j] p[m, k] / s_m**2 / (P_M(j) P_M(k))   (Eq. 16)
#
# One pass over the rows therefore needs only three running sums, ``sum log s_m``,
# ``sum p[m, j] / s_m`` and ``sum p[m, j] p[m, k] / s_m**2``; every solver below is built on
# that single pass (:func:`_likelihood_pass`).

PCP_METHODS = ("newton", "em", "squarem")


@dataclass(frozen=True, eq=False)
class PCPResult:
    """Result of :func:`prediction_consistent_prior`.

    Attributes
    ----------
    prior : ndarray of shape (C,)
        The prediction-consistent prior ``P(i)`` (Eq. 14), summing to one.
    stderr : ndarray of shape (C,)
        One-sigma standard error of each entry of ``prior``, the square root of the diagonal
        of ``covariance``. ``inf`` for classes in a direction the predictions do not identify,
        ``nan`` for classes that no row supports (their prior is exactly 0, at the boundary,
        where the normal approximation does not apply).
    covariance : ndarray of shape (C, C)
        Asymptotic covariance of ``prior``: the inverse of the Fisher information (Eq. 16)
        restricted to the simplex, so ``covariance @ ones(C) == 0`` (the sum is exact).
    iterations : int
        Number of updates of the prior made by the solver.
    converged : bool
        Whether the mean absolute change of the prior in the last iteration fell below
        ``tol`` (for "newton", alternatively: quadratic convergence predicted the next change
        below ``tol / 10`` after a last step of at most ``100 * tol``). False means the result is not a solution (a :class:`ConvergenceWarning` was
        also issued).
    log_likelihood : float
        Log-likelihood of the data under ``prior`` (Eq. 15 with the sign flipped and without
        the Lagrange term), up to the constant ``sum_m log L_M(x_m)``:
        ``sum_m log sum_i q_i P_M(i|x_m)`` with ``q_i = P(i) / P_M(i)``. It is 0 at
        ``prior == model_prior`` for rows summing to one, and larger is better.
    method : str
        Solver used: "newton", "em" or "squarem".
    model_prior : ndarray of shape (C,)
        Prior ``P_M(i)`` the probabilities were computed with.
    mean_probability : ndarray of shape (C,)
        Mean of the (row-normalised) model probabilities, the estimate of Eq. 13; it is the
        first EM iterate from ``model_prior``.
    n_rows : int
        Number of examples ``N``.
    seconds : float
        Wall-clock time of the computation.
    passes : int
        Number of passes made over the probability table.
    """

    prior: np.ndarray
    stderr: np.ndarray
    covariance: np.ndarray
    iterations: int
    converged: bool
    log_likelihood: float
    method: str
    model_prior: np.ndarray
    mean_probability: np.ndarray
    n_rows: int
    seconds: float
    passes: int = 0

    def __post_init__(self):
        # The arrays are shared with the caller; freezing them keeps the result immutable.
        for name in ("prior", "stderr", "covariance", "model_prior", "mean_probability"):
            value = np.array(getattr(self, name), dtype=np.float64)
            value.setflags(write=False)
            object.__setattr__(self, name, value)


def prediction_consistent_prior(
    probs,
    model_prior=None,
    *,
    method: str = "newton",
    tol: float = 1e-8,
    max_iter: int = 1000,
    start=None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    progress: bool = False,
    engine: str = "auto",
    atol: float = 1e-3,
) -> PCPResult:
    """Find the prior that is consistent with a model's own predictions on a data set.

    Solves Eq. 14 of Lake & Tsai (2022),
    ``P(i) = (1/N) sum_m q_i P_M(i|x_m) / sum_j q_j P_M(j|x_m)`` with ``q = P / P_M``, which is
    the maximum of the likelihood of the unlabelled data (Eq. 15) over priors on the simplex;
    its curvature (Eq. 16) gives the standard errors. Applying the result with
    :func:`replace_prior` (Eq. 12, old prior ``model_prior``) "debiases" the probabilities.

    Parameters
    ----------
    probs : array_like of shape (N, C), or object with ``iter_chunks()``
        Model probabilities ``P_M(i|x_m)``, float32 or float64 (kept as they are; all sums are
        accumulated in float64). Instead of an array, any object whose ``iter_chunks()``
        returns a fresh iterator over 2-D arrays of shape (k, C) on every call; each solver
        iteration is then one streamed pass, so the table never has to fit in memory.
    model_prior : array_like of shape (C,), optional
        Prior ``P_M(i)`` the model's probabilities carry (e.g. the training-set composition,
        Eq. 3, or the weighted prior, Eq. 7). Strictly positive. Flat when omitted.
    method : {"newton", "em", "squarem"}, default "newton"
        ``"em"``: the paper's recursion (half-EM) on Eq. 14, one pass per iteration, linear
        convergence. ``"newton"``: Newton's method on Eq. 15 constrained to the simplex, with
        a line search that keeps the prior positive and the likelihood increasing, falling
        back to EM steps when needed; quadratic convergence, typically 5-10 passes.
        ``"squarem"``: the recursion accelerated by SQUAREM (Varadhan & Roland 2008).
    tol : float, default 1e-8
        Convergence threshold on the mean absolute change of the prior between iterations,
        as in the paper. The last step, once smaller than ``tol``, is applied without another
        pass; ``log_likelihood`` is then extrapolated to it to second order and the covariance
        is the one of the previous iterate (both differences are below rounding). Newton also
        stops, one pass early, when its last two steps show quadratic convergence and predict a
        next change below ``tol / 10`` (see :func:`_solve_newton`).
    max_iter : int, default 1000
        Largest number of iterations (prior updates; SQUAREM cycles for "squarem").
    start : array_like of shape (C,), optional
        First guess for the prior; positive on every class that some row supports. Defaults
        to ``model_prior``, as the paper suggests.
    chunk_size : int, default 1_048_576
        Rows per chunk for an in-memory table processed by the NumPy engine.
    progress : bool, default False
        Show progress on stderr, counting passes: a bar on a terminal, one line at the end
        elsewhere (:class:`deweight._progress.Progress`).
    engine : {"auto", "numba", "numpy"}, default "auto"
        Implementation of a pass: parallel numba kernels or chunked NumPy. ``"auto"`` takes
        numba when it is installed, except for an in-memory table of fewer than
        :data:`NUMBA_MIN_ROWS` rows, where NumPy is faster. Both accumulate in float64 and
        agree to rounding.
    atol : float, default 1e-3
        Tolerance on row sums when validating ``probs`` (done during the first pass).

    Returns
    -------
    PCPResult
        Prior, standard errors, covariance, convergence information and Eq. 13's mean.

    Raises
    ------
    ValueError
        If ``probs`` is not a probability table (naming the first bad row) or has no rows,
        if ``model_prior`` or ``start`` are invalid or of the wrong length, or if an option
        is invalid.

    Warns
    -----
    ConvergenceWarning
        If ``max_iter`` iterations did not reach ``tol`` (the result has ``converged=False``).
    DeweightWarning
        If some class has probability 0 in every row: the likelihood always prefers giving it
        no prior mass, so its prior is exactly 0 (the boundary of the simplex) and its
        standard error is ``nan``. If the predictions do not identify some direction of the
        prior (the Hessian of Eq. 16 is singular there, e.g. two classes with identical
        probability columns): the likelihood is flat along it, the solver keeps the starting
        point's position along it, and the classes involved get ``stderr = inf``. If a class's
        estimate ends on (or within 1e-3 standard errors of) the boundary 0, where the normal
        approximation behind ``stderr`` fails.

    Notes
    -----
    The standard errors are asymptotic (the inverse observed Fisher information of the
    ``N`` rows, treated as independent draws) and cover only the sampling of the data set,
    not errors in the model's likelihoods.

    References
    ----------
    Lake, S. E. & Tsai, C.-W. (2022), Eqs. 13-16. Varadhan, R. & Roland, C. (2008),
    "Simple and globally convergent methods for accelerating the convergence of any EM
    algorithm", Scandinavian Journal of Statistics 35, 335.
    """
    started = time.perf_counter()
    if method not in _SOLVERS:
        raise ValueError(f"method must be one of {PCP_METHODS}, got {method!r}")
    try:
        tol_value = float(tol)
    except (TypeError, ValueError):
        tol_value = math.nan
    if not (math.isfinite(tol_value) and tol_value > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    tol = tol_value
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    max_iter = int(max_iter)
    source = _ProbabilitySource(
        probs, _checked_chunk_size(chunk_size), _resolve_engine(engine, probs)
    )
    if model_prior is not None and source.n_classes is not None:
        check_prior(model_prior, source.n_classes, name="model_prior")

    evaluate = None
    try:
        at_model_prior = _likelihood_pass(source, None, validate=True, atol=atol)
        n_classes = at_model_prior.gradient_sums.size
        if model_prior is None:
            model = np.full(n_classes, 1.0 / n_classes)
        else:
            model = check_prior(model_prior, n_classes, name="model_prior")
        n_rows = at_model_prior.n_rows
        # At q = 1 the gradient sums are the column sums of the row-normalised probabilities.
        mean = at_model_prior.gradient_sums / n_rows
        supported = at_model_prior.gradient_sums > 0
        if not supported.all():
            warnings.warn(
                f"classes {np.flatnonzero(~supported).tolist()} have probability 0 in every "
                "row; their prediction-consistent prior is exactly 0 (on the boundary) and "
                "has no standard error (nan)",
                DeweightWarning,
                stacklevel=2,
            )
        evaluate = _Evaluator(source, model, supported, atol, progress)
        evaluate.count_pass()
        prior, statistics = _starting_point(start, model, supported, at_model_prior, evaluate)
        state = _SOLVERS[method](prior, statistics, evaluate, tol, max_iter)
        evaluate.close(finished=True)
    finally:
        if evaluate is not None:
            evaluate.close()

    prior = np.where(supported, state.prior, 0.0)
    prior = prior / prior.sum()
    gradient, hessian = _log_likelihood_derivatives(state.statistics, model)
    final_step = (prior - state.evaluated_prior)[supported]
    # Second-order Taylor extrapolation over the final sub-tol step (error ~ N |step|^3).
    log_likelihood = (
        state.statistics.log_likelihood
        + float(gradient[supported] @ final_step)
        - 0.5 * float(final_step @ hessian[np.ix_(supported, supported)] @ final_step)
    )
    covariance, unidentified = _prior_covariance(hessian, supported)
    with np.errstate(invalid="ignore"):
        stderr = np.sqrt(np.diag(covariance))
    _warn_about_result(state, method, tol, max_iter, prior, stderr, unidentified, supported)
    return PCPResult(
        prior=prior,
        stderr=stderr,
        covariance=covariance,
        iterations=state.iterations,
        converged=state.converged,
        log_likelihood=log_likelihood,
        method=method,
        model_prior=model,
        mean_probability=mean,
        n_rows=n_rows,
        seconds=time.perf_counter() - started,
        passes=evaluate.passes,
    )


def _starting_point(start, model_prior, supported, at_model_prior, evaluate):
    """First prior of the solvers and the pass statistics there (reusing the first pass)."""
    n_classes = model_prior.size
    if start is None:
        if supported.all():
            return model_prior.copy(), at_model_prior
        prior = np.where(supported, model_prior, 0.0)
    else:
        prior = check_prior(start, n_classes, name="start", allow_zero=True)
        zero = np.flatnonzero(supported & (prior <= 0))
        if zero.size:
            raise ValueError(
                f"start[{int(zero[0])}] is 0 but some rows give that class probability; the "
                "solvers cannot move a prior away from exactly 0"
            )
        prior = np.where(supported, prior, 0.0)
    prior = prior / prior.sum()
    return prior, evaluate(prior)


def _warn_about_result(state, method, tol, max_iter, prior, stderr, unidentified, supported):
    if not state.converged:
        warnings.warn(
            f"prediction_consistent_prior (method={method!r}) did not converge in {max_iter} "
            f"iterations: the last mean absolute change of the prior was "
            f"{state.last_change:.3g} > tol={tol:g}; the returned prior is not a solution",
            ConvergenceWarning,
            stacklevel=3,
        )
    if unidentified.any():
        warnings.warn(
            f"the predictions do not identify the prior of classes "
            f"{np.flatnonzero(unidentified).tolist()} separately (the Hessian of Eq. 16 is "
            "singular: their probability columns are linearly dependent); the likelihood is "
            "flat along that direction, so the estimate there is arbitrary and its standard "
            "error is inf",
            DeweightWarning,
            stacklevel=3,
        )
    on_boundary = supported & ~unidentified & (prior < 1e-3 * stderr)
    if on_boundary.any():
        warnings.warn(
            f"the prior of classes {np.flatnonzero(on_boundary).tolist()} is on (or within "
            "1e-3 standard errors of) the boundary 0; the normal approximation behind their "
            "standard errors does not hold there",
            DeweightWarning,
            stacklevel=3,
        )


class PredictionConsistentPrior(EstimatorParams):
    """Estimator-style wrapper of :func:`prediction_consistent_prior` (QuaPy-like ``fit``).

    Parameters
    ----------
    model_prior : array_like of shape (C,), optional
        Prior the model's probabilities carry; flat when omitted.
    method : {"newton", "em", "squarem"}, default "newton"
    tol : float, default 1e-8
    max_iter : int, default 1000

    Attributes
    ----------
    result_ : PCPResult
        Full result of the last :meth:`fit`.
    prior_ : ndarray of shape (C,)
        The prediction-consistent prior.
    stderr_ : ndarray of shape (C,)
        Its standard errors.

    Examples
    --------
    >>> estimator = PredictionConsistentPrior(model_prior=[0.5, 0.5]).fit(probs)  # doctest: +SKIP
    >>> debiased = estimator.predict_proba(probs)  # doctest: +SKIP
    """

    def __init__(self, model_prior=None, method: str = "newton", tol: float = 1e-8, max_iter=1000):
        self.model_prior = model_prior
        self.method = method
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, probs) -> PredictionConsistentPrior:
        """Estimate the prior consistent with ``probs`` (see :func:`prediction_consistent_prior`).

        Parameters
        ----------
        probs : array_like of shape (N, C), or object with ``iter_chunks()``

        Returns
        -------
        PredictionConsistentPrior
            ``self``, fitted.
        """
        self.result_ = prediction_consistent_prior(
            probs, self.model_prior, method=self.method, tol=self.tol, max_iter=self.max_iter
        )
        self.prior_ = self.result_.prior
        self.stderr_ = self.result_.stderr
        return self

    def predict_proba(self, probs) -> np.ndarray:
        """Re-express ``probs`` under the fitted prior (Eq. 12, via :func:`replace_prior`).

        Parameters
        ----------
        probs : array_like of shape (n, C)
            Model probabilities carrying ``model_prior``.

        Returns
        -------
        ndarray of shape (n, C)

        Raises
        ------
        NotFittedError
            If called before :meth:`fit`.
        """
        if not hasattr(self, "result_"):
            raise NotFittedError(
                "this PredictionConsistentPrior is not fitted yet; call fit(probs) first"
            )
        return replace_prior(probs, self.result_.model_prior, self.prior_)
