"""The prediction-consistent prior (Eqs. 13-16): the solver core and its front ends.

- :func:`solve_pcp` is the core: given a *pass function* (the statistics of the whole table at
  a ratio ``q = P / P_M``, see :mod:`deweight.priors.statistics`) it validates the options, runs
  the first pass (which also validates the rows), picks the starting point, runs a solver of
  :mod:`deweight.priors.solvers` and turns its answer into a :class:`PCPResult` (standard
  errors from Eq. 16, warnings). It never sees a row.
- :func:`prediction_consistent_prior` is the front end for a table in memory or streamed with
  ``iter_chunks()``: it calls :func:`solve_pcp` with a pass over that table.
- :class:`PredictionConsistentPrior` is the same as a small estimator.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from deweight._estimator import EstimatorParams
from deweight._validation import check_prior
from deweight.errors import ConvergenceWarning, DeweightWarning, NotFittedError
from deweight.priors.replace import DEFAULT_CHUNK_ROWS, _checked_chunk_size, replace_prior
from deweight.priors.solvers import (
    _SOLVERS,
    PCP_METHODS,
    _log_likelihood_derivatives,
    _Passes,
    _prior_covariance,
    _SolverState,
    _starting_point,
)
from deweight.priors.statistics import (
    PassStatistics,
    _likelihood_pass,
    _ProbabilitySource,
    _resolve_engine,
)

__all__ = ["PCPResult", "PredictionConsistentPrior", "prediction_consistent_prior", "solve_pcp"]


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


def _checked_options(method, tol, max_iter) -> tuple[float, int]:
    """``tol`` and ``max_iter`` as float and int; a ValueError for a bad option."""
    if method not in _SOLVERS:
        raise ValueError(f"method must be one of {PCP_METHODS}, got {method!r}")
    try:
        tol_value = float(tol)
    except (TypeError, ValueError):
        tol_value = math.nan
    if not (math.isfinite(tol_value) and tol_value > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    return tol_value, int(max_iter)


def solve_pcp(
    evaluate,
    model_prior=None,
    *,
    method: str = "newton",
    tol: float = 1e-8,
    max_iter: int = 1000,
    start=None,
    progress: bool = False,
    _stacklevel: int = 2,
) -> PCPResult:
    """Solve Eq. 14 of Lake & Tsai (2022) from pass statistics alone: the solvers' core.

    The table is seen only through ``evaluate``, the *pass function*: every engine (an array,
    a stream of chunks, a map-reduce over a cluster's partitions) supplies one and gets the
    same solvers, starting point, standard errors and warnings as
    :func:`prediction_consistent_prior`, which is this function with a pass over one table.

    Parameters
    ----------
    evaluate : callable ``evaluate(ratio, *, validate) -> PassStatistics``
        The statistics of Eqs. 14-16 summed over all rows of the table
        (:class:`~deweight.priors.statistics.PassStatistics`), at the ratio
        ``q_i = P(i) / P_M(i)``. It is called first as ``evaluate(None, validate=True)``
        (``q = 1``, all rows checked: the one validating pass, which must raise a ValueError
        naming a bad row, or "probs has no rows" for an empty table), then with float64
        ``ratio`` arrays of shape (C,) (0 on classes no row supports) and ``validate=False``.
        Build it from :func:`~deweight.priors.statistics.block_statistics` over the blocks
        (partitions) of the table and :func:`~deweight.priors.statistics.combine_statistics`
        in a fixed order. The result depends on the data only through these statistics:
        statistics with the same bits give a result with the same bits (priors, standard
        errors, iterations, passes).
    model_prior, method, tol, max_iter, start, progress
        As for :func:`prediction_consistent_prior`.

    Returns
    -------
    PCPResult
        ``passes`` counts the calls of ``evaluate``.

    Raises
    ------
    ValueError
        For an invalid option, ``model_prior`` or ``start``, and whatever ``evaluate`` raises.

    Warns
    -----
    ConvergenceWarning, DeweightWarning
        As for :func:`prediction_consistent_prior`.
    """
    started = time.perf_counter()
    tol, max_iter = _checked_options(method, tol, max_iter)
    passes = None
    try:
        at_model_prior = evaluate(None, validate=True)
        model, supported = _model_and_support(at_model_prior, model_prior, _stacklevel + 1)
        passes = _Passes(evaluate, model, supported, progress)
        passes.count_pass()
        prior, statistics = _starting_point(start, model, supported, at_model_prior, passes)
        state = _SOLVERS[method](prior, statistics, passes, tol, max_iter)
        passes.close(finished=True)
    finally:
        if passes is not None:
            passes.close()
    result, unidentified = _result(
        state, at_model_prior, model, supported, method, passes.passes, started
    )
    _warn_about_result(
        state, method, tol, max_iter, result, unidentified, supported, _stacklevel + 1
    )
    return result


def _model_and_support(at_model_prior: PassStatistics, model_prior, stacklevel: int):
    """The checked model prior (flat if None) and the classes some row supports (warning if
    one has probability 0 in every row)."""
    n_classes = at_model_prior.gradient_sums.size
    if model_prior is None:
        model = np.full(n_classes, 1.0 / n_classes)
    else:
        model = check_prior(model_prior, n_classes, name="model_prior")
    supported = at_model_prior.gradient_sums > 0
    if not supported.all():
        warnings.warn(
            f"classes {np.flatnonzero(~supported).tolist()} have probability 0 in every "
            "row; their prediction-consistent prior is exactly 0 (on the boundary) and "
            "has no standard error (nan)",
            DeweightWarning,
            stacklevel=stacklevel,
        )
    return model, supported


def _result(state: _SolverState, at_model_prior, model, supported, method, passes, started):
    """The :class:`PCPResult` of where a solver stopped (Eq. 16's covariance there), and the
    classes whose prior the predictions do not identify."""
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
    n_rows = at_model_prior.n_rows
    result = PCPResult(
        prior=prior,
        stderr=stderr,
        covariance=covariance,
        iterations=state.iterations,
        converged=state.converged,
        log_likelihood=log_likelihood,
        method=method,
        model_prior=model,
        # At q = 1 the gradient sums are the column sums of the row-normalised probabilities.
        mean_probability=at_model_prior.gradient_sums / n_rows,
        n_rows=n_rows,
        seconds=time.perf_counter() - started,
        passes=passes,
    )
    return result, unidentified


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
        next change below ``tol / 10`` (see :func:`deweight.priors.solvers._solve_newton`).
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

    See Also
    --------
    solve_pcp : the same solvers on any pass function (e.g. a map-reduce over partitions).

    References
    ----------
    Lake, S. E. & Tsai, C.-W. (2022), Eqs. 13-16. Varadhan, R. & Roland, C. (2008),
    "Simple and globally convergent methods for accelerating the convergence of any EM
    algorithm", Scandinavian Journal of Statistics 35, 335.
    """
    _checked_options(method, tol, max_iter)
    source = _ProbabilitySource(
        probs, _checked_chunk_size(chunk_size), _resolve_engine(engine, probs)
    )
    if model_prior is not None and source.n_classes is not None:
        check_prior(model_prior, source.n_classes, name="model_prior")
    evaluate = functools.partial(_likelihood_pass, source, atol=atol)
    return solve_pcp(
        evaluate,
        model_prior,
        method=method,
        tol=tol,
        max_iter=max_iter,
        start=start,
        progress=progress,
        _stacklevel=3,
    )


def _warn_about_result(state, method, tol, max_iter, result, unidentified, supported, stacklevel):
    """Warn if the solver did not converge, a direction is not identified or a class is at 0."""
    prior, stderr = result.prior, result.stderr
    if not state.converged:
        warnings.warn(
            f"prediction_consistent_prior (method={method!r}) did not converge in {max_iter} "
            f"iterations: the last mean absolute change of the prior was "
            f"{state.last_change:.3g} > tol={tol:g}; the returned prior is not a solution",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    if unidentified.any():
        warnings.warn(
            f"the predictions do not identify the prior of classes "
            f"{np.flatnonzero(unidentified).tolist()} separately (the Hessian of Eq. 16 is "
            "singular: their probability columns are linearly dependent); the likelihood is "
            "flat along that direction, so the estimate there is arbitrary and its standard "
            "error is inf",
            DeweightWarning,
            stacklevel=stacklevel,
        )
    on_boundary = supported & ~unidentified & (prior < 1e-3 * stderr)
    if on_boundary.any():
        warnings.warn(
            f"the prior of classes {np.flatnonzero(on_boundary).tolist()} is on (or within "
            "1e-3 standard errors of) the boundary 0; the normal approximation behind their "
            "standard errors does not hold there",
            DeweightWarning,
            stacklevel=stacklevel,
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
