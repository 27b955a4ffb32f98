"""The solvers of Eq. 14 and the covariance of their answer: they see statistics, never rows.

Each solver climbs the log-likelihood of Eq. 15 of Lake & Tsai (2022) over the simplex of
priors. Its only access to the data is ``passes(prior) -> PassStatistics`` (a
:class:`_Passes`, which turns the prior into the ratio ``q = P / P_M`` and runs one pass of
the caller's pass function, see :func:`deweight.priors.solve_pcp`); from the statistics it
forms the recursion of Eq. 14 (:func:`_em_update`) or the derivatives of Eq. 16
(:func:`_log_likelihood_derivatives`). So the same solver runs on an array, a stream of chunks
or a map-reduce over a cluster's partitions, with the same iterates for the same statistics.

- :func:`_solve_em`: the paper's recursion (half-EM), one pass per iteration;
- :func:`_solve_squarem`: that recursion accelerated by SQUAREM;
- :func:`_solve_newton`: Newton's method on the simplex with a line search
  (:func:`_newton_direction`);
- :func:`_prior_covariance`: the inverse Fisher information (Eq. 16) on the simplex.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from deweight._progress import Progress
from deweight._validation import check_prior
from deweight.priors.statistics import PassStatistics

PCP_METHODS = ("newton", "em", "squarem")

# Newton steps that would push a class prior through zero take it to exactly 0 when the
# quadratic model's optimality condition holds there, else shrink it by this factor.
_BOUNDARY_SHRINK = 0.1
# Armijo sufficient-increase constant of the Newton line search.
_ARMIJO = 1e-4
# Newton stops one pass early when quadratic convergence is evident (a step at most this
# fraction of the previous one) and predicts a next change below this fraction of tol.
_QUADRATIC_CONTRACTION = 0.1
_PREDICTED_TOL_FRACTION = 0.1
# ... and only for a last step of at most this many tol: the covariance and log-likelihood are
# those of the iterate before it, which must stay close to the answer.
_EARLY_STOP_STEPS = 100.0
# Step halvings tried before a Newton iteration falls back to a (monotone) EM step.
_MAX_HALVINGS = 30
# A class held at exactly 0 whose slope (gradient / N) exceeds the multiplier 1 by more than
# this violates the optimality condition on the simplex: the likelihood rises by moving
# prior into it, so Newton brings it back (at _RETURN_FRACTION of the mass) and never
# zeroes it again in that solve.
_KKT_TOL = 1e-7
_RETURN_FRACTION = 1e-3
# Relative eigenvalue below which a direction of the Hessian counts as not identified.
_SINGULAR_RTOL = 1e-10


def _em_update(prior: np.ndarray, gradient_sums: np.ndarray, model_prior, n_rows: int):
    """Compute one step of the recursion (half-EM) for the prediction-consistent prior.

    This is the right-hand side of Eq. 14 of Lake & Tsai (2022) evaluated at ``prior``:
    ``P_new(i) = (1/N) sum_m q_i P_M(i|x_m) / sum_j q_j P_M(j|x_m)``
    ``= q_i * gradient_sums[i] / N`` with ``q = prior / model_prior``.

    Parameters
    ----------
    prior : ndarray of shape (C,)
    gradient_sums : ndarray of shape (C,)
        ``sum_m P_M(i|x_m) / s_m`` at ``prior``, from one pass.
    model_prior : ndarray of shape (C,)
    n_rows : int

    Returns
    -------
    ndarray of shape (C,)
    """
    updated = prior / model_prior * gradient_sums / n_rows
    # The update sums to one exactly in exact arithmetic; renormalising stops rounding drift.
    return updated / updated.sum()


def _simplex_tangent_basis(n_classes: int) -> np.ndarray:
    """Orthonormal basis, shape (C, C-1), of the directions ``d`` with ``sum(d) == 0``.

    Moving a prior along these directions keeps it summing to one. The basis is the
    (normalised) Helmert contrasts, so it is deterministic.
    """
    basis = np.zeros((n_classes, max(n_classes - 1, 0)))
    for column in range(n_classes - 1):
        basis[: column + 1, column] = 1.0
        basis[column + 1, column] = -(column + 1.0)
        basis[:, column] /= math.sqrt((column + 1.0) * (column + 2.0))
    return basis


def _log_likelihood_derivatives(statistics: PassStatistics, model_prior: np.ndarray):
    """Compute the gradient and the Hessian of minus the log-likelihood with respect to the
    prior, the matrix of second partials of Eq. 16 of Lake & Tsai (2022).

    With ``s_m = sum_i q_i P_M(i|x_m)`` and ``q_i = P(i) / P_M(i)``, the likelihoods of Eq. 16
    are ``L(x_m|j) = P_M(j|x_m) L_M(x_m) / P_M(j)`` and the common factor ``L_M(x_m)``
    cancels, leaving
    ``d2L/dP(j)dP(k) = sum_m P_M(j|x_m) P_M(k|x_m) / (s_m**2 P_M(j) P_M(k))``.

    Parameters
    ----------
    statistics : PassStatistics
        Sums from one pass at the prior of interest.
    model_prior : ndarray of shape (C,)

    Returns
    -------
    gradient : ndarray of shape (C,)
        ``d(log-likelihood)/dP(j)`` (its Lagrange multiplier, Eq. 15, is ``N``).
    hessian : ndarray of shape (C, C)
        Eq. 16, positive semi-definite.
    """
    gradient = statistics.gradient_sums / model_prior
    hessian = statistics.hessian_sums / np.outer(model_prior, model_prior)
    return gradient, hessian


def _newton_direction(
    prior: np.ndarray, gradient: np.ndarray, hessian: np.ndarray, may_zero: np.ndarray
):
    """Newton step for maximising the log-likelihood over the simplex (sum fixed to one).

    Solves the equality-constrained Newton system
    ``[[H, 1], [1^T, 0]] [d, mu] = [g, 0]`` (least squares, so a singular ``H`` gives the
    minimum-norm step). A class the full step would push through zero is "blocked": its step
    is fixed and the others are re-solved given that: the class is shrunk by
    ``_BOUNDARY_SHRINK``. A class blocked again in the next iteration (``may_zero``), by a step
    that overshoots 0 by at least the class's own prior, is taken to exactly 0 instead,
    provided that is the maximum of the quadratic model on the simplex
    (the model's Karush-Kuhn-Tucker condition: its slope towards that class, ``g_k - (H d)_k``,
    is at most the multiplier ``mu``). A class whose maximum-likelihood prior is on the boundary
    then reaches it after two steps instead of approaching it geometrically, while a class
    pushed towards 0 by one inaccurate early step (far from the optimum, where the quadratic
    model is poor) is only shrunk and can come back.

    Parameters
    ----------
    prior : ndarray of shape (K,)
        Current prior of the free (supported) classes, non-negative.
    gradient : ndarray of shape (K,)
    hessian : ndarray of shape (K, K)
        Eq. 16 for the free classes; only its scale relative to ``gradient`` matters.
    may_zero : ndarray of shape (K,), bool
        Classes that were blocked in the previous iteration.

    Returns
    -------
    step : ndarray of shape (K,) or None
        The step ``d``; ``sum(d) == 0`` and ``prior + d >= 0``, with equality only for classes
        sent to the boundary. None if no such step was found.
    blocked : ndarray of shape (K,), bool
        Classes whose step was fixed.
    """
    n_free = prior.size
    blocked = np.zeros(n_free, dtype=bool)
    to_zero = np.zeros(n_free, dtype=bool)
    while True:
        fixed_step = np.where(
            blocked, np.where(to_zero, -prior, -(1.0 - _BOUNDARY_SHRINK) * prior), 0.0
        )
        free = ~blocked
        n_unknown = int(free.sum())
        system = np.zeros((n_unknown + 1, n_unknown + 1))
        system[:n_unknown, :n_unknown] = hessian[np.ix_(free, free)]
        system[:n_unknown, n_unknown] = 1.0
        system[n_unknown, :n_unknown] = 1.0
        right = np.empty(n_unknown + 1)
        right[:n_unknown] = gradient[free] - hessian[np.ix_(free, blocked)] @ fixed_step[blocked]
        right[n_unknown] = -fixed_step.sum()
        solution = np.linalg.lstsq(system, right, rcond=None)[0]
        step = fixed_step
        step[free] = solution[:n_unknown]
        newly_blocked = free & ~(prior + step > 0)
        if newly_blocked.any():
            blocked |= newly_blocked
            # Only a class the step overshoots by at least its own prior goes to exactly 0:
            # one the model wants only slightly below 0 may well have a small positive optimum.
            to_zero |= newly_blocked & may_zero & (prior + step <= -prior)
            if blocked.all():  # only possible through rounding; the caller takes an EM step
                return None, blocked
            continue
        # The model's slope into each class sent to zero, less the multiplier: positive means
        # the model would rather keep some of that class, so shrink it instead.
        slack = gradient - hessian @ step - solution[n_unknown]
        keep = to_zero & (slack > 0)
        if not keep.any():
            return step, blocked
        to_zero &= ~keep


class _Passes:
    """The solvers' view of the data: statistics at a trial prior, counted (with a progress bar).

    ``evaluate(ratio, validate=...)`` is the caller's pass function (see
    :func:`deweight.priors.solve_pcp`); calling this object with a prior runs it at
    ``q = P / P_M`` on the supported classes (0 elsewhere) without validation.
    """

    def __init__(self, evaluate, model_prior, supported, progress):
        self.evaluate = evaluate
        self.model_prior = model_prior
        self.supported = supported
        self.passes = 0
        self.bar = Progress("prediction-consistent prior", unit="passes") if progress else None

    def count_pass(self, note: str = "") -> None:
        self.passes += 1
        if self.bar is not None:
            self.bar.update(1)
            if note:
                self.bar.set_postfix_str(note)

    def __call__(self, prior: np.ndarray) -> PassStatistics:
        ratio = np.where(self.supported, prior / self.model_prior, 0.0)
        statistics = self.evaluate(ratio, validate=False)
        self.count_pass()
        return statistics

    def close(self, *, finished: bool = False) -> None:
        if self.bar is not None:
            if finished:
                self.bar.finish()
            self.bar.close()


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


class _SolverState(NamedTuple):
    """Where a solver stopped.

    ``statistics`` were computed at ``evaluated_prior``; ``prior`` may differ from it by one
    final step smaller than ``tol`` that was accepted without another pass.
    """

    prior: np.ndarray
    evaluated_prior: np.ndarray
    statistics: PassStatistics
    iterations: int
    converged: bool
    last_change: float


def _mean_absolute_change(new: np.ndarray, old: np.ndarray) -> float:
    """The paper's convergence measure: mean absolute change of the prior per iteration."""
    return float(np.mean(np.abs(new - old)))


def _likelihood_noise(statistics: PassStatistics) -> float:
    """Rounding-level tolerance for comparing two log-likelihood sums over the same rows."""
    return 1e-12 * (abs(statistics.log_likelihood) + statistics.n_rows)


def _solve_em(prior, statistics, evaluate, tol, max_iter) -> _SolverState:
    """Iterate the recursion of Eq. 14 (half-EM) until the prior changes by less than ``tol``."""
    change = math.inf
    for iteration in range(1, max_iter + 1):
        updated = _em_update(
            prior, statistics.gradient_sums, evaluate.model_prior, statistics.n_rows
        )
        change = _mean_absolute_change(updated, prior)
        if change < tol:
            return _SolverState(updated, prior, statistics, iteration, True, change)
        prior, statistics = updated, evaluate(updated)
    return _SolverState(prior, prior, statistics, max_iter, False, change)


def _solve_squarem(prior, statistics, evaluate, tol, max_iter) -> _SolverState:
    """SQUAREM-accelerated recursion of Eq. 14 (scheme S3 of Varadhan & Roland 2008).

    Each cycle takes two EM steps ``p1 = F(p0)``, ``p2 = F(p1)``, extrapolates to
    ``p0 - 2 a r + a**2 v`` with ``r = p1 - p0``, ``v = p2 - 2 p1 + p0`` and
    ``a = -|r| / |v|`` (at most -1, where the extrapolation is just ``p2``), and backtracks
    ``a`` towards -1 while the extrapolated prior leaves the simplex or lowers the likelihood.
    Convergence is judged on the EM steps, exactly as for the plain recursion.
    """
    model_prior = evaluate.model_prior
    free = evaluate.supported
    change = math.inf
    for iteration in range(1, max_iter + 1):
        first = _em_update(prior, statistics.gradient_sums, model_prior, statistics.n_rows)
        change = _mean_absolute_change(first, prior)
        if change < tol:
            return _SolverState(first, prior, statistics, iteration, True, change)
        first_statistics = evaluate(first)
        second = _em_update(
            first, first_statistics.gradient_sums, model_prior, first_statistics.n_rows
        )
        change = _mean_absolute_change(second, first)
        if change < tol:
            return _SolverState(second, first, first_statistics, iteration, True, change)
        residual = first - prior
        curvature = second - first - residual
        curvature_norm = float(np.linalg.norm(curvature))
        step_length = (
            -float(np.linalg.norm(residual)) / curvature_norm if curvature_norm > 0 else -1.0
        )
        step_length = min(step_length, -1.0)
        while True:
            if step_length == -1.0:
                trial = second
            else:
                trial = prior - 2.0 * step_length * residual + step_length**2 * curvature
            if step_length == -1.0 or np.all(trial[free] > 0):
                trial = np.where(free, trial, 0.0)
                trial = trial / trial.sum()
                trial_statistics = evaluate(trial)
                noise = _likelihood_noise(statistics)
                if (
                    step_length == -1.0
                    or trial_statistics.log_likelihood >= statistics.log_likelihood - noise
                ):
                    break
            step_length = (step_length - 1.0) / 2.0
            if step_length > -1.01:
                step_length = -1.0
        prior, statistics = trial, trial_statistics
    return _SolverState(prior, prior, statistics, max_iter, False, change)


def _solve_newton(prior, statistics, evaluate, tol, max_iter) -> _SolverState:
    """Newton's method on the log-likelihood of Eq. 15 over the simplex, with safeguards.

    The direction is the equality-constrained Newton step of :func:`_newton_direction`
    (a class that would cross zero is shrunk, and sent to exactly 0 when that happens twice in
    a row and the quadratic model agrees). A step is accepted when the
    log-likelihood rises by at least an Armijo fraction of the predicted rise; otherwise it is
    halved, and after ``_MAX_HALVINGS`` halvings (or if the direction is not uphill) an EM step,
    which never lowers the likelihood, is taken instead. The log-likelihood is concave in the
    prior (Eq. 16 is positive semi-definite), so close to the optimum full steps are accepted
    and convergence is quadratic.

    Quadratic convergence also ends the iteration one pass early: once two successive full
    Newton steps, on the same set of classes held at 0, have shrunk from ``c'`` to
    ``c <= _QUADRATIC_CONTRACTION * c'``, the next change is predicted as ``c**3 / c'**2``
    (``c = K c'**2`` gives ``K``, and the next is ``K c**2``). When that prediction is below
    ``_PREDICTED_TOL_FRACTION * tol`` (and the step itself at most ``_EARLY_STOP_STEPS * tol``)
    the last step is applied without another pass, as a step below ``tol`` would be: the prior
    returned is then within about that prediction of the solution, well inside ``tol``.
    """
    model_prior = evaluate.model_prior
    free = evaluate.supported
    change = math.inf
    previously_blocked = np.zeros(int(free.sum()), dtype=bool)
    # Mean absolute change of the last step if it was a full Newton step on an unchanged set
    # of classes held at 0 (so the next step can be predicted from it), else inf.
    last_full_step = math.inf
    # Classes brought back from 0 because the optimality condition said so: not zeroed again.
    never_zero = np.zeros(int(free.sum()), dtype=bool)
    for iteration in range(1, max_iter + 1):
        n_rows = statistics.n_rows
        gradient, hessian = _log_likelihood_derivatives(statistics, model_prior)
        # Dividing by N keeps the Newton system well scaled (gradient ~ 1 at the optimum).
        gradient_free = gradient[free] / n_rows
        hessian_free = hessian[np.ix_(free, free)] / n_rows
        # sum_i P(i) gradient_i = N, so the multiplier of the scaled problem is 1: a class at 0
        # with a larger slope must not stay at 0 (an early step on a poor quadratic model can
        # have sent it there, and neither Newton's blocked step nor EM can move it back).
        returning = (prior[free] == 0.0) & (gradient_free > 1.0 + _KKT_TOL)
        if returning.any():
            never_zero |= returning
            prior = _returned_from_zero(prior, free, returning)
            statistics = evaluate(prior)
            previously_blocked = np.zeros_like(previously_blocked)
            last_full_step = change = math.inf
            continue
        step_free, blocked = _newton_direction(
            prior[free], gradient_free, hessian_free, previously_blocked & ~never_zero
        )
        # The same classes held at 0 as before, and none of them moving: a plain Newton step.
        same_face = (
            step_free is not None
            and np.array_equal(blocked, previously_blocked)
            and not np.any(step_free[blocked])
        )
        previously_blocked = blocked
        step = np.zeros_like(prior)
        if step_free is not None:
            step[free] = step_free
            change = _mean_absolute_change(prior + step, prior)
            if change < tol:
                return _SolverState(prior + step, prior, statistics, iteration, True, change)
            if (
                same_face
                and math.isfinite(last_full_step)
                and change <= _QUADRATIC_CONTRACTION * last_full_step
                and change <= _EARLY_STOP_STEPS * tol
            ):
                predicted_next = change**3 / last_full_step**2
                if predicted_next < _PREDICTED_TOL_FRACTION * tol:
                    return _SolverState(prior + step, prior, statistics, iteration, True, change)
            # The steps sum to zero, so removing the gradient's mean (~1 near the optimum)
            # changes nothing but the rounding error of the predicted rise.
            slope = n_rows * float((gradient_free - gradient_free.mean()) @ step_free)
        uphill = step_free is not None and slope > 0
        if not uphill:
            step = _em_update(prior, statistics.gradient_sums, model_prior, n_rows) - prior
            change = _mean_absolute_change(prior + step, prior)
            if change < tol:
                return _SolverState(prior + step, prior, statistics, iteration, True, change)
        accepted, full_step = None, False
        if uphill:
            accepted, full_step = _armijo_search(prior, step, slope, statistics, evaluate)
        if accepted is None:
            trial = _em_update(prior, statistics.gradient_sums, model_prior, n_rows)
            accepted = trial, evaluate(trial)
        change = _mean_absolute_change(accepted[0], prior)
        last_full_step = change if full_step and same_face else math.inf
        prior, statistics = accepted
    return _SolverState(prior, prior, statistics, max_iter, False, change)


def _returned_from_zero(prior, free, returning):
    """``prior`` with the classes ``returning`` (indices among the free ones) given back
    ``_RETURN_FRACTION`` of the mass each, the others scaled down to keep the sum."""
    restart = prior.copy()
    restart[free] *= 1.0 - _RETURN_FRACTION * returning.sum()
    restart[np.flatnonzero(free)[returning]] = _RETURN_FRACTION
    return restart


def _armijo_search(prior, step, slope, statistics, evaluate):
    """Halve ``step`` until the log-likelihood rises by an Armijo fraction of ``slope``.

    Returns ``((trial prior, its statistics), whether the full step was taken)``, or
    ``(None, False)`` after ``_MAX_HALVINGS`` halvings.
    """
    noise = _likelihood_noise(statistics)
    fraction = 1.0
    for _ in range(_MAX_HALVINGS + 1):
        trial = prior + fraction * step
        trial = trial / trial.sum()
        trial_statistics = evaluate(trial)
        rise = trial_statistics.log_likelihood - statistics.log_likelihood
        if rise >= _ARMIJO * fraction * slope - noise:
            return (trial, trial_statistics), fraction == 1.0
        fraction /= 2.0
    return None, False


_SOLVERS = {"em": _solve_em, "newton": _solve_newton, "squarem": _solve_squarem}


def _prior_covariance(hessian: np.ndarray, supported: np.ndarray):
    """Compute the covariance of the prediction-consistent prior as the inverse of the Fisher
    information of Eq. 16 of Lake & Tsai (2022), restricted to the simplex.

    The prior sums to one, so only the ``K - 1`` directions ``d`` with ``sum(d) == 0`` are free
    (``K`` supported classes). With ``B`` an orthonormal basis of them
    (:func:`_simplex_tangent_basis`) the covariance is ``B (B^T H B)^-1 B^T``, where ``H`` is
    Eq. 16 at the estimate. Eigen-directions of ``B^T H B`` with eigenvalue at most
    ``_SINGULAR_RTOL`` times the largest are not identified by the predictions (the
    likelihood is flat along them, e.g. for two identical probability columns): they
    contribute ``+-inf`` to every covariance entry they touch. Unsupported classes (prior
    exactly 0) get ``nan`` rows and columns.

    Parameters
    ----------
    hessian : ndarray of shape (C, C)
        Eq. 16 at the estimate (entries of unsupported classes are ignored).
    supported : ndarray of shape (C,), bool

    Returns
    -------
    covariance : ndarray of shape (C, C)
    unidentified : ndarray of shape (C,), bool
        Classes with a component along a non-identified direction.
    """
    n_classes = supported.size
    covariance = np.full((n_classes, n_classes), np.nan)
    unidentified = np.zeros(n_classes, dtype=bool)
    free = np.flatnonzero(supported)
    basis = _simplex_tangent_basis(free.size)
    if free.size == 1:
        covariance[free[0], free[0]] = 0.0
        return covariance, unidentified
    reduced = basis.T @ hessian[np.ix_(free, free)] @ basis
    eigenvalues, eigenvectors = np.linalg.eigh((reduced + reduced.T) / 2.0)
    identified = eigenvalues > _SINGULAR_RTOL * max(float(eigenvalues.max()), 0.0)
    directions = basis @ eigenvectors
    kept = directions[:, identified]
    block = (kept / eigenvalues[identified]) @ kept.T
    flat = directions[:, ~identified]
    if flat.shape[1]:
        overlap = flat @ flat.T
        touched = np.abs(overlap) > 1e-9
        block = np.where(touched, np.copysign(np.inf, overlap), block)
        unidentified[free] = np.diag(touched)
    covariance[np.ix_(free, free)] = block
    return covariance, unidentified
