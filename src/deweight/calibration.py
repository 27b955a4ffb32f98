"""Calibrating classifier probabilities on labelled rows before the prior is replaced.

Deweighting (Eq. 12 of Lake & Tsai 2022) and the prediction-consistent prior (Eq. 14) are exact
only when the probabilities are calibrated: ``P_M(i|x)`` must be the true class probability under
the model prior ``P_M(i)``. A model whose probabilities are wrong beyond the prior (the
"probabilities inaccurate" verdict of :func:`deweight.verdict.bias_verdict`) is not fixed by
any prior replacement. The label-shift literature's remedy is to recalibrate on labelled rows
first (Alexandari et al. 2020, "Maximum likelihood with bias-corrected calibration is
hard-to-beat at label shift adaptation"), which :class:`Calibrator` does.

The calibration maps act on the log-probabilities ``z_i = log P_M(i|x)`` and are followed by a
soft-max:

``"ts"``   temperature scaling, ``softmax(z / T)``;
``"bcts"`` bias-corrected temperature scaling, ``softmax(z / T + b)``;
``"vs"``   vector scaling, ``softmax(w * z + b)`` with one weight per class;
``"none"`` the identity.

Each is linear in its parameters, so the negative log-likelihood is convex in them and L-BFGS
with the exact gradient finds the global minimum from the identity.

:func:`cross_fitted_calibrator` fits a calibrator without holding labelled rows back from the
model: k fold models each predict the rows they did not see, and the calibrator is fitted on
those out-of-fold probabilities of every labelled row (the protocol of QuaPy's EMQ with
``val_split=5``); the final model then trains on all of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deweight._estimator import EstimatorParams
from deweight._validation import check_labels, check_probabilities
from deweight.errors import ConvergenceWarning, NotFittedError

__all__ = [
    "CALIBRATION_METHODS",
    "Calibrator",
    "CrossFit",
    "cross_fitted_calibrator",
    "stratified_folds",
]

#: The calibration maps :class:`Calibrator` knows.
CALIBRATION_METHODS = ("ts", "bcts", "vs", "none")

#: Probabilities are floored here before their logarithm is taken, so that a probability that
#: underflowed to zero (a float32 soft-max far from a class) has a finite log.
PROBABILITY_FLOOR = 1e-300

# Rows transformed at a time, so the float64 scratch of a large float32 table stays small.
_TRANSFORM_BLOCK_ROWS = 262_144


def _log_probabilities(probs: np.ndarray) -> np.ndarray:
    """``log(max(probs, PROBABILITY_FLOOR))`` in float64."""
    return np.log(np.maximum(np.asarray(probs, dtype=np.float64), PROBABILITY_FLOOR))


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise soft-max, shifted by each row's maximum so it cannot overflow."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _unpack(params: np.ndarray, method: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class scale and bias of the map ``scale * z + bias`` from the parameter vector."""
    if method == "ts":
        return np.full(n_classes, params[0]), np.zeros(n_classes)
    if method == "bcts":
        return np.full(n_classes, params[0]), params[1:]
    if method == "vs":
        return params[:n_classes], params[n_classes:]
    raise ValueError(f"method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")


def _identity_params(method: str, n_classes: int) -> np.ndarray:
    """Parameters of the identity map: scale 1, bias 0."""
    if method == "ts":
        return np.ones(1)
    if method == "bcts":
        return np.concatenate([[1.0], np.zeros(n_classes)])
    return np.concatenate([np.ones(n_classes), np.zeros(n_classes)])


def _nll_and_grad(
    params: np.ndarray,
    log_probs: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    method: str,
) -> tuple[float, np.ndarray]:
    """Weighted mean negative log-likelihood of the calibrated probabilities and its gradient.

    ``NLL = -sum_n w_n log q_{n, j_n} / sum_n w_n`` with ``q_n = softmax(s * z_n + b)``. Its
    derivative with respect to the score ``s_i z_ni + b_i`` is ``w_n (q_ni - [i = j_n])``, from
    which the gradients of the scales and biases follow by the chain rule.
    """
    n_rows, n_classes = log_probs.shape
    scale, bias = _unpack(params, method, n_classes)
    scores = log_probs * scale + bias
    largest = scores.max(axis=1, keepdims=True)
    shifted = scores - largest
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(n_rows)
    total = weights.sum()
    nll = float(-(weights * (shifted[rows, labels] - log_norm)).sum() / total)
    residual = np.exp(shifted - log_norm[:, None])  # q
    residual[rows, labels] -= 1.0
    residual *= (weights / total)[:, None]
    d_scale = (residual * log_probs).sum(axis=0)
    d_bias = residual.sum(axis=0)
    if method == "ts":
        grad = np.array([d_scale.sum()])
    elif method == "bcts":
        grad = np.concatenate([[d_scale.sum()], d_bias])
    else:
        grad = np.concatenate([d_scale, d_bias])
    return nll, grad


class Calibrator(EstimatorParams):
    """Recalibrate classifier probabilities on labelled rows (temperature, bias, vector scaling).

    Fit on labelled rows from the population the probabilities will be used on (a development
    set), then :meth:`transform` any catalogue. The fit minimises the (weighted) negative
    log-likelihood of the labels with L-BFGS and exact gradients, starting from the identity, so
    it never increases the NLL on the fitting set.

    **Which prior the output carries.** Probabilities calibrated by maximum likelihood on a
    labelled set are calibrated *for that set's class balance*: at the optimum of ``"bcts"`` and
    ``"vs"`` the mean calibrated probability of each class equals its (weighted) fraction in the
    fitting set exactly. That balance is :attr:`prior_`, and it -- not the training prior or the
    training weights of the original model -- is the model prior that Eq. 12
    (:func:`deweight.replace_prior`) and Eq. 14 (:func:`deweight.prediction_consistent_prior`)
    must be given for calibrated probabilities. With ``"ts"`` (no bias terms) the match of the
    means is only approximate, but the prior the fit targets is still the fitting set's.
    ``"none"`` fits nothing and leaves the model's own prior in place: its :attr:`prior_` is
    ``None`` and the original model prior must be used.

    Parameters
    ----------
    method : {"bcts", "ts", "vs", "none"}, default "bcts"
        The calibration map applied to ``z = log P_M(i|x)``: ``"ts"`` ``softmax(z / T)``;
        ``"bcts"`` ``softmax(z / T + b)`` (one temperature, one bias per class); ``"vs"``
        ``softmax(w * z + b)`` (one weight and one bias per class); ``"none"`` the identity.
    max_iter : int, default 1000
        Most L-BFGS iterations.
    tol : float, default 1e-10
        L-BFGS tolerance on the projected gradient.

    Attributes
    ----------
    prior_ : ndarray of shape (C,) or None
        The (weighted) class balance of the fitting set: the model prior of the calibrated
        probabilities. ``None`` for ``method="none"``.
    temperature_ : float
        Fitted temperature ``T`` (``"ts"``, ``"bcts"``); ``1 / mean(w)`` for ``"vs"``; 1 for
        ``"none"``.
    scales_ : ndarray of shape (C,)
        Fitted multiplier of each class's log-probability (``1 / T`` for ``"ts"`` and
        ``"bcts"``).
    biases_ : ndarray of shape (C,)
        Fitted bias of each class, shifted to sum to zero (a common shift changes nothing).
    nll_before_, nll_after_ : float
        Weighted mean negative log-likelihood of the fitting set before and after calibration.
    n_iter_ : int
        L-BFGS iterations used.
    converged_ : bool
        Whether L-BFGS reported convergence.
    n_classes_ : int
    """

    def __init__(self, method: str = "bcts", *, max_iter: int = 1000, tol: float = 1e-10):
        # Only stored: fit checks them (the scikit-learn convention; see set_params).
        self.method = method
        self.max_iter = max_iter
        self.tol = tol

    def _checked_settings(self) -> tuple[int, float]:
        """``max_iter`` and ``tol`` as int and float; a ValueError for a bad setting."""
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(
                f"method must be one of {', '.join(CALIBRATION_METHODS)}, got {self.method!r}"
            )
        max_iter, tol = self.max_iter, self.tol
        if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        if not (tol > 0 and np.isfinite(tol)):
            raise ValueError(f"tol must be a positive finite number, got {tol!r}")
        return int(max_iter), float(tol)

    def __repr__(self) -> str:
        return f"Calibrator(method={self.method!r})"

    def fit(self, probs, labels, sample_weight=None, *, atol: float = 1e-3) -> Calibrator:
        """Fit the calibration map to labelled rows by maximum likelihood.

        Parameters
        ----------
        probs : array_like of shape (n, C)
            Classifier probabilities of the labelled rows; each row finite, non-negative and
            summing to one within ``atol``.
        labels : array_like of shape (n,)
            True class index of each row, in ``[0, C)``. Every class needs at least one row
            (with positive weight): a class never seen cannot be calibrated.
        sample_weight : array_like of shape (n,), optional
            Non-negative weight of each row in the likelihood; all ones when omitted.
        atol : float, default 1e-3
            Tolerance on each row's sum of probabilities.

        Returns
        -------
        Calibrator
            ``self``, fitted.

        Raises
        ------
        ValueError
            If a setting (``method``, ``max_iter``, ``tol``) is invalid, a row of ``probs`` is
            not a probability vector (NaN, negative, not summing to one), a label is outside
            ``[0, C)`` or the lengths differ, a weight is negative or non-finite, or a class
            has no labelled row. The message names the setting, row or class.
        """
        from scipy.optimize import minimize

        from deweight.priors import _check_weights, effective_prior

        max_iter, tol = self._checked_settings()
        probs = check_probabilities(probs, atol=atol)
        n_rows, n_classes = probs.shape
        labels = check_labels(labels, n_classes)
        if labels.shape[0] != n_rows:
            raise ValueError(f"labels has {labels.shape[0]} rows but probs has {n_rows}")
        if sample_weight is None:
            weights = np.ones(n_rows)
        else:
            weights = _check_weights(sample_weight, labels.shape, "sample_weight", "labels")
        support = np.bincount(labels, weights=weights, minlength=n_classes)
        missing = np.flatnonzero(support <= 0)
        if missing.size:
            raise ValueError(
                f"class {int(missing[0])} has no labelled row (with positive weight); every "
                f"class needs at least one to be calibrated"
            )
        log_probs = _log_probabilities(probs)
        # "none" is temperature scaling held at T = 1.
        fitted = "ts" if self.method == "none" else self.method
        start = _identity_params(fitted, n_classes)
        self.n_classes_ = n_classes
        self.nll_before_ = _nll_and_grad(start, log_probs, labels, weights, fitted)[0]
        if self.method == "none":
            self._params = None
            self.scales_, self.biases_ = np.ones(n_classes), np.zeros(n_classes)
            self.temperature_ = 1.0
            self.nll_after_ = self.nll_before_
            self.n_iter_, self.converged_ = 0, True
            self.prior_ = None
            return self
        # The scale must stay positive (a negative temperature would reverse the ranking).
        n_scales = n_classes if self.method == "vs" else 1
        bounds = [(1e-8, None)] * n_scales + [(None, None)] * (start.size - n_scales)
        result = minimize(
            _nll_and_grad,
            start,
            args=(log_probs, labels, weights, self.method),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15},
        )
        params = np.asarray(result.x, dtype=np.float64)
        nll_after = float(result.fun)
        if not nll_after <= self.nll_before_:  # also catches NaN: never worse than identity
            params, nll_after = start, self.nll_before_
        # L-BFGS-B can stop with an "abnormal" line search once the NLL no longer changes in
        # floating point; at such a point the gradient is already negligible, so that counts.
        gradient = _nll_and_grad(params, log_probs, labels, weights, self.method)[1]
        at_bound = (params[:n_scales] <= 1e-8) & (gradient[:n_scales] > 0)
        gradient[:n_scales][at_bound] = 0.0
        self.converged_ = bool(result.success) or float(np.abs(gradient).max()) <= 1e-6
        if not self.converged_:
            warnings.warn(
                f"calibration ({self.method}) did not converge in {result.nit} iterations: "
                f"{result.message}",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._params = params
        scale, bias = _unpack(params, self.method, n_classes)
        self.scales_ = scale.copy()
        self.biases_ = bias - bias.mean()
        self.temperature_ = float(1.0 / scale.mean())
        self.nll_after_ = nll_after
        self.n_iter_ = int(result.nit)
        self.prior_ = effective_prior(labels, weights, n_classes=n_classes)
        return self

    def transform(self, probs, *, atol: float = 1e-3) -> np.ndarray:
        """Return the calibrated probabilities of ``probs``.

        Parameters
        ----------
        probs : array_like of shape (n, C)
            Probabilities of the same classifier (and classes, in the same order) as those the
            calibrator was fitted to.
        atol : float, default 1e-3
            Tolerance on each row's sum of probabilities.

        Returns
        -------
        ndarray of shape (n, C), float64
            Calibrated probabilities; their model prior is :attr:`prior_`. For
            ``method="none"`` a float64 copy of ``probs``.

        Raises
        ------
        NotFittedError
            If the calibrator is not fitted (a :class:`ValueError` too).
        ValueError
            If ``probs`` has another number of classes than the fitted data, or a row
            is not a probability vector (the message names it).
        """
        if not hasattr(self, "n_classes_"):
            raise NotFittedError("this Calibrator is not fitted yet; call fit(probs, labels) first")
        probs = check_probabilities(probs, atol=atol)
        if probs.shape[1] != self.n_classes_:
            raise ValueError(
                f"probs has {probs.shape[1]} class columns but the calibrator was fitted to "
                f"{self.n_classes_}"
            )
        if self.method == "none":
            return np.array(probs, dtype=np.float64)
        out = np.empty(probs.shape, dtype=np.float64)
        for start in range(0, probs.shape[0], _TRANSFORM_BLOCK_ROWS):
            block = probs[start : start + _TRANSFORM_BLOCK_ROWS]
            out[start : start + block.shape[0]] = _softmax(
                _log_probabilities(block) * self.scales_ + self.biases_
            )
        return out

    def fit_transform(self, probs, labels, sample_weight=None, *, atol: float = 1e-3):
        """:meth:`fit`, then :meth:`transform` the same rows."""
        return self.fit(probs, labels, sample_weight, atol=atol).transform(probs, atol=atol)


# --------------------------------------------------------------------------------------------
# Cross-fitting: a calibrator from out-of-fold probabilities of every labelled row.
# --------------------------------------------------------------------------------------------


def stratified_folds(labels, folds: int = 5, *, seed=0) -> np.ndarray:
    """The fold, ``0 .. folds-1``, of each row: class-stratified, seeded, sizes within one row.

    The rows of each class are shuffled (one generator seeded by ``seed``) and, one class after
    the other, dealt to the folds in turn, so every fold holds each class's share to within one
    row and the fold sizes differ by at most one.

    Parameters
    ----------
    labels : array_like of shape (n,)
        Class index of each row.
    folds : int, default 5
        Number of folds, at least 2 and at most ``n``.
    seed : int or sequence of int, default 0
        Seed of the shuffle (anything :func:`numpy.random.default_rng` takes).

    Returns
    -------
    ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        If ``folds`` is not an integer in ``[2, n]``, or a class has a single row (the fold
        model that predicts it would never see its class).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iu":
        raise ValueError("labels must be a non-empty 1-D array of class indices")
    if int(folds) != folds or not 2 <= folds <= labels.size:
        raise ValueError(
            f"folds must be an integer from 2 to {labels.size} (the rows), got {folds!r}"
        )
    counts = np.bincount(labels)
    single = np.flatnonzero(counts == 1)
    if single.size:
        raise ValueError(
            f"class {int(single[0])} has a single labelled row; out-of-fold prediction needs at "
            "least 2 per class, so that the model predicting a row has seen its class"
        )
    rng = np.random.default_rng(seed)
    dealt = np.concatenate(
        [
            rows[rng.permutation(rows.size)]
            for rows in (np.flatnonzero(labels == c) for c in range(counts.size))
        ]
    )
    assignment = np.empty(labels.size, dtype=np.int64)
    assignment[dealt] = np.arange(labels.size) % int(folds)
    return assignment


@dataclass(frozen=True)
class CrossFit:
    """The result of :func:`cross_fitted_calibrator`.

    Attributes
    ----------
    calibrator : Calibrator
        Fitted on :attr:`probabilities` and the labels; apply it to the probabilities of the
        model trained on all labelled rows.
    probabilities : ndarray of shape (n, C)
        Out-of-fold probabilities: row ``r`` as predicted by the model of fold ``folds[r]``,
        which was trained on the other folds only.
    folds : ndarray of int64, shape (n,)
        The fold of each row (:func:`stratified_folds`).
    """

    calibrator: Calibrator
    probabilities: np.ndarray
    folds: np.ndarray


def cross_fitted_calibrator(
    features,
    labels,
    fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray],
    *,
    folds: int = 5,
    seed=0,
    method: str = "bcts",
    atol: float = 1e-3,
) -> CrossFit:
    """Fit a calibrator on k-fold out-of-fold probabilities of every labelled row.

    The rows are split into ``folds`` class-stratified folds (:func:`stratified_folds`). For
    each fold ``k``, ``fit_predict(X_fit, y_fit, X_held, k)`` trains a model on the other folds
    and returns its probabilities of the rows of fold ``k``. The calibrator (``method``) is
    fitted on these out-of-fold probabilities of all rows, so no labelled row is held back from
    training: the model to calibrate is then trained on every row (by the caller) and the
    calibrator applied to its probabilities. This is the protocol of QuaPy's EMQ with
    ``val_split=5``. The out-of-fold models see (k-1)/k of the rows, so the calibrator is fitted
    to slightly weaker models than the final one.

    Parameters
    ----------
    features : ndarray of shape (n, d)
        Features of the labelled rows (anything indexable by a boolean row mask).
    labels : array_like of shape (n,)
        Class index of each row.
    fit_predict : callable
        ``fit_predict(X_fit, y_fit, X_held, fold) -> ndarray of shape (len(X_held), C)``.
        Seed it from ``fold`` for reproducible fold models.
    folds : int, default 5
    seed : int or sequence of int, default 0
        Seed of the fold assignment.
    method : {"bcts", "ts", "vs", "none"}, default "bcts"
        The calibration map (:class:`Calibrator`).
    atol : float, default 1e-3
        Tolerance on each probability row's sum.

    Returns
    -------
    CrossFit
        The fitted calibrator, the out-of-fold probabilities and the fold of each row.

    Raises
    ------
    ValueError
        For bad folds or labels (:func:`stratified_folds`), a ``fit_predict`` answer of the
        wrong shape (naming the fold), or probabilities the calibrator refuses.
    """
    calibrator = Calibrator(method)
    calibrator._checked_settings()  # a bad method fails before any fold model is trained
    labels = np.asarray(labels)
    assignment = stratified_folds(labels, folds, seed=seed)
    out_of_fold = None
    for fold in range(int(folds)):
        held = assignment == fold
        probs = np.asarray(fit_predict(features[~held], labels[~held], features[held], fold))
        if out_of_fold is None:
            width = probs.shape[1] if probs.ndim == 2 else 0
            out_of_fold = np.empty((labels.size, width), dtype=np.float64)
        if probs.shape != (int(held.sum()), out_of_fold.shape[1]):
            raise ValueError(
                f"fit_predict of fold {fold} returned shape {probs.shape}; expected "
                f"({int(held.sum())}, {out_of_fold.shape[1]}): one row per held-out row and the "
                "same classes in every fold"
            )
        out_of_fold[held] = probs
    calibrator.fit(out_of_fold, labels, atol=atol)
    return CrossFit(calibrator=calibrator, probabilities=out_of_fold, folds=assignment)
