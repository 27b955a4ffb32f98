"""The classifier of Section 3.1 of Lake & Tsai (2022): a small stick-breaking perceptron.

The pipeline has the paper's five steps: map each feature's training range onto [-1, 1]
(:class:`RangeScaler`), append the second-order polynomial terms (:func:`augment_quadratic`),
run a fully connected ReLU network with ``N - 1`` outputs, turn those outputs into class
probabilities with the stick-breaking link of Eq. 17 (:func:`stick_breaking_probabilities`),
and (left to the caller) assign classes from the probabilities.

:class:`Classifier` fits the network by minimising the per-example-weighted cross-entropy
(Eq. 5) plus the L2 penalty of Adam's ``weight_decay``, with one of two recipes:

``"paper"``
    The paper's procedure: full-batch Adam (lr 2e-3, weight decay 1e-4, PyTorch default
    initialisation), stopped when one step improves the loss by less than ``tol`` or after
    ``max_steps`` steps, best of ``restarts`` runs by final loss.
``"fast"``
    Mini-batch Adam on 90% of the training set with all restarts trained at once as one
    batched ("ensemble") network, a learning rate that is cut when the loss on the held-out
    10% stops improving, and early stopping on that loss. On a CPU with AVX-512 BF16 and
    batches of at least 1,024 rows the first layer's products take bfloat16 operands
    (:func:`_fast_first_layer_dtype`); from the same batch size the rows are shuffled once
    into fixed batches (:func:`_shuffle_once_batches`) and the held-out loss and the returned
    network use an exponential moving average of the parameters. It matches or beats the paper's recipe in accuracy to
    the true probabilities at a small fraction of the time; see ``benchmarks/README.md`` for
    the measurements.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
import warnings
from contextlib import contextmanager
from itertools import product
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deweight._estimator import EstimatorParams
from deweight._files import atomic_path
from deweight._progress import Progress
from deweight.errors import ConvergenceWarning, NotFittedError
from deweight.priors import effective_prior

__all__ = [
    "AUGMENTATIONS",
    "RECIPES",
    "Classifier",
    "RangeScaler",
    "augment_quadratic",
    "augmentation_exponents",
    "count_parameters",
    "stick_breaking_log_probabilities",
    "stick_breaking_probabilities",
    "weighted_cross_entropy",
]

logger = logging.getLogger(__name__)

AUGMENTATIONS = ("interpolation", "mathematician", "none")
RECIPES = ("fast", "paper")

_SAVE_FORMAT = "deweight.Classifier/1"

# Rows augmented at a time: the (rows, terms, features) gather tensor of a 65,536-row chunk of
# 4 features with 80 terms is 21 million floats, small enough never to dominate memory.
_AUGMENT_CHUNK_ROWS = 65_536
# Rows that augment_quadratic works on at a time, in buffers it reuses (a few MB).
_AUGMENT_BLOCK_ROWS = 4096

# Fast recipe. Each value was chosen by measurement on the simulation of Section 3.2
# (benchmarks/bench_recipes.py); the comments say what each one trades.
_FAST_VALIDATION_FRACTION = 0.1  # held out for early stopping and restart selection
_FAST_MIN_BATCH = 256  # below this Adam's gradient noise, not data, limits the fit
_FAST_MAX_BATCH = 4096  # above this a step costs more than the noise it removes
_FAST_BATCHES_PER_EPOCH = 64  # sets the batch size between those bounds
_FAST_MIN_STEPS_PER_EVALUATION = 50  # small sets: evaluate less often than every epoch
_FAST_MAX_STEPS_PER_EVALUATION = 100  # large sets: evaluate (and react) more often
_FAST_PATIENCE = 8  # evaluations without improvement before the learning rate is cut
_FAST_LR_CUT = 0.25  # factor applied to the learning rate at a plateau
_FAST_LR_CUTS = 3  # plateaus after the last of which training stops
_FAST_SCREEN_EVALUATIONS = 8  # evaluations all restarts get before only the best continues
# Smallest batch whose first-layer products are done in bfloat16 (where the CPU has it; see
# _fast_first_layer_dtype): at 4,096 rows a step takes half the time, at 1,024 two thirds,
# but at 256 the conversions cost more than the faster products save.
_FAST_BFLOAT16_MIN_BATCH = 1024
# Large training sets (batches of at least _FAST_AVERAGE_MIN_BATCH rows, about 73,000 rows and
# more; the same gate as bfloat16, where nearly all of a fit's time goes) evaluate, screen and
# return not the last iterate but an exponential moving average of the parameters over about
# the last 1 / (1 - decay) = 100 steps (Polyak-Ruppert averaging). The average carries little
# of the mini-batch noise that otherwise only the learning-rate cuts remove: over 16 seeds at
# 10^5-10^6 rows (with shuffle-once batches, below) it lowered the KL by 5-15 % in every
# size/variant cell (benchmarks/README.md "Shuffle-once batches with iterate averaging"). What
# it trades: the held-out loss keeps improving for longer, so with the same patience a fit
# takes more steps (18-40 % more at 10^5-316,228 rows, 12-14 % at 10^6 over those seeds); a
# patience of 6 took fewer steps but lowered the KL less. Smaller sets keep the last iterate
# (bit for bit as before): there a fit takes under a second anyway, and 8 seeds showed
# averaging with a shorter patience costing KL at 10^4 rows.
_FAST_AVERAGE_MIN_BATCH = _FAST_BFLOAT16_MIN_BATCH
_FAST_AVERAGE_DECAY = 0.99
_FAST_AVERAGED_PATIENCE = 8
_FAST_AVERAGED_SCREEN_EVALUATIONS = 8
# Large training sets (batches of at least _FAST_SHUFFLE_ONCE_MIN_BATCH rows) are shuffled
# once, not every epoch: the fitting rows are permuted once at the start of the fit (one
# gather) and cut into fixed contiguous batches, whose order is drawn afresh every epoch
# (_shuffle_once_batches). A step then reads a batch as a slice instead of gathering 4,096
# random rows from a 144 MB array (about 0.2 of 0.7 ms a step at 10^6 rows). Shuffle-once SGD
# converges at the rate of random reshuffling (Mishchenko, Khaled & Richtarik 2020, "Random
# Reshuffling: Simple Analysis with Vast Improvements"); what it trades is that the same rows
# always share a batch. Smaller sets keep reshuffling every epoch (bit for bit as before).
_FAST_SHUFFLE_ONCE_MIN_BATCH = _FAST_BFLOAT16_MIN_BATCH
# Above this many training rows the fast recipe's weight decay falls as 1/N (a fixed Gaussian
# prior on the weights, whose share of the *mean* loss shrinks as the data grow). A constant
# 1e-4 kept large models' logits small: under-confident on the rare class, whose prediction-
# consistent prior then came out 5-8 standard errors low on the simulation's 10^6-row test set
# (benchmarks/README.md, "Convergence to the truth", candidate G adopted; issue 19).
FAST_WEIGHT_DECAY_ROWS = 100_000


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_matrix(values, *, name: str, n_columns: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite float64 matrix, or raise naming the bad row and column."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_rows, n_features), got {array.shape}")
    if n_columns is not None and array.shape[1] != n_columns:
        raise ValueError(f"{name} has {array.shape[1]} columns, expected {n_columns}")
    bad_rows, bad_columns = np.nonzero(~np.isfinite(array))
    if bad_rows.size:
        row, column = int(bad_rows[0]), int(bad_columns[0])
        raise ValueError(f"{name}[{row}, {column}] is {array[row, column]!r}; must be finite")
    return array


# --------------------------------------------------------------------------------------------
# Scaling and augmentation
# --------------------------------------------------------------------------------------------


class RangeScaler:
    """Map each feature's training range linearly onto [-1, 1] (Section 3.1).

    Attributes
    ----------
    data_min_, data_max_ : ndarray of shape (n_features,)
        Smallest and largest training value of each feature; set by :meth:`fit`.
    """

    def __init__(self) -> None:
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None

    def fit(self, X) -> RangeScaler:
        """Record the range of each feature of the training data.

        Parameters
        ----------
        X : array_like of shape (n, d)
            Training features, finite.

        Returns
        -------
        RangeScaler
            ``self``.

        Raises
        ------
        ValueError
            If ``X`` is empty or non-finite, or a feature is constant (its range cannot be
            mapped onto [-1, 1]); the message names the column.
        """
        X = _check_matrix(X, name="X")
        if X.shape[0] == 0:
            raise ValueError("X has no rows; cannot find the range of its features")
        data_min, data_max = X.min(axis=0), X.max(axis=0)
        constant = np.flatnonzero(data_max <= data_min)
        if constant.size:
            column = int(constant[0])
            raise ValueError(
                f"X column {column} is constant ({data_min[column]!r}); a feature with no "
                "spread cannot be scaled to [-1, 1] and carries no information"
            )
        self.data_min_, self.data_max_ = data_min, data_max
        return self

    def transform(self, X) -> np.ndarray:
        """Scale features so that the training range of each maps onto [-1, 1].

        Values outside the training range map outside [-1, 1]; they are not clipped.

        Parameters
        ----------
        X : array_like of shape (n, d)

        Returns
        -------
        ndarray of shape (n, d), float64

        Raises
        ------
        ValueError
            If the scaler is not fitted, or ``X`` has the wrong number of columns or a
            non-finite entry.
        """
        if self.data_min_ is None or self.data_max_ is None:
            raise NotFittedError("this RangeScaler is not fitted yet; call fit(X) first")
        X = _check_matrix(X, name="X", n_columns=self.data_min_.size)
        return 2.0 * (X - self.data_min_) / (self.data_max_ - self.data_min_) - 1.0

    def fit_transform(self, X) -> np.ndarray:
        """Fit to ``X`` and return it scaled; see :meth:`fit` and :meth:`transform`."""
        return self.fit(X).transform(X)

    def state_dict(self) -> dict[str, list[float]]:
        """Return the fitted ranges as plain lists (loadable with ``torch.load(weights_only=True)``)."""
        if self.data_min_ is None or self.data_max_ is None:
            raise NotFittedError("this RangeScaler is not fitted yet; there is no state to save")
        return {"data_min": self.data_min_.tolist(), "data_max": self.data_max_.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict) -> RangeScaler:
        """Rebuild a fitted scaler from :meth:`state_dict` output.

        Raises
        ------
        ValueError
            If the state lacks a key, the two ranges differ in length, or a range is empty.
        """
        try:
            data_min = np.asarray(state["data_min"], dtype=np.float64)
            data_max = np.asarray(state["data_max"], dtype=np.float64)
        except KeyError as exc:
            raise ValueError(f"RangeScaler state has no {exc.args[0]!r} entry") from exc
        if data_min.shape != data_max.shape or data_min.ndim != 1:
            raise ValueError(
                f"RangeScaler state data_min {data_min.shape} and data_max {data_max.shape} "
                "must be 1-D of equal length"
            )
        constant = np.flatnonzero(~(data_max > data_min))
        if constant.size:
            raise ValueError(f"RangeScaler state column {int(constant[0])} has an empty range")
        scaler = cls()
        scaler.data_min_, scaler.data_max_ = data_min, data_max
        return scaler


def augmentation_exponents(n_features: int, convention: str) -> np.ndarray:
    """List the monomials that :func:`augment_quadratic` computes, as exponent vectors.

    Parameters
    ----------
    n_features : int
        Number of input features ``d``.
    convention : {"interpolation", "mathematician", "none"}
        "interpolation": every exponent ``n_k`` in {0, 1, 2} independently, except all zero
        (``3**d - 1`` terms). "mathematician": total degree 1 or 2 (``d + d(d+1)/2`` terms).
        "none": the features themselves (``d`` terms). Section 3.1 of Lake & Tsai (2022).

    Returns
    -------
    ndarray of shape (n_terms, d), int64
        Row ``m`` holds the exponents of term ``m``: ``term_m = prod_k x_k ** E[m, k]``. Terms
        are ordered by total degree, then by descending exponent of ``x_0``, ``x_1``, ..., so
        the plain features come first, in their own order.

    Raises
    ------
    ValueError
        If ``n_features < 1`` or ``convention`` is unknown.
    """
    if int(n_features) != n_features or n_features < 1:
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    if convention not in AUGMENTATIONS:
        raise ValueError(f"augmentation convention {convention!r} is not one of {AUGMENTATIONS}")
    n_features = int(n_features)
    if convention == "none":
        return np.eye(n_features, dtype=np.int64)
    exponents = np.array(list(product(range(3), repeat=n_features)), dtype=np.int64)
    degree = exponents.sum(axis=1)
    keep = degree > 0 if convention == "interpolation" else (degree >= 1) & (degree <= 2)
    exponents = exponents[keep]
    # Sort by degree, then by descending exponent of x_0, of x_1, ...: the degree-1 block is
    # then exactly the identity, i.e. the original features in their own order.
    descending_exponents = [-exponents[:, k] for k in reversed(range(n_features))]
    order = np.lexsort([*descending_exponents, exponents.sum(axis=1)])
    return exponents[order]


def augment_quadratic(X, convention: str = "interpolation"):
    """Append second-order polynomial terms to each feature vector (Section 3.1).

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n, d)
        Features, normally already scaled to [-1, 1] by :class:`RangeScaler`.
    convention : {"interpolation", "mathematician", "none"}, default "interpolation"
        Which monomials to compute; see :func:`augmentation_exponents`.

    Returns
    -------
    ndarray or torch.Tensor of shape (n, n_terms)
        Same type, dtype and device as ``X``; column ``m`` is
        ``prod_k X[:, k] ** augmentation_exponents(d, convention)[m, k]``. With 4 features the
        interpolation convention gives 80 columns, the mathematician's 14.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D or ``convention`` is unknown.
    """
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D of shape (n, n_features), got shape {tuple(X.shape)}")
    exponents = augmentation_exponents(X.shape[1], convention)
    if convention == "none":
        return X[:, :]
    n_rows, n_features = X.shape
    n_terms = exponents.shape[0]
    # powers[row, k, e] = x_k ** e; term m is prod_k x_k ** E[m, k], i.e. the product over k of
    # entry k * 3 + E[m, k] of the flattened powers. Blocks of rows are worked in preallocated
    # buffers: fresh multi-megabyte temporaries per block cost more in page faults than the
    # arithmetic.
    flat_index = (3 * np.arange(n_features)[None, :] + exponents).reshape(-1)
    block = max(1, min(n_rows, _AUGMENT_BLOCK_ROWS))
    if isinstance(X, torch.Tensor):
        flat_index = torch.as_tensor(flat_index, device=X.device)
        out = torch.empty((n_rows, n_terms), dtype=X.dtype, device=X.device)
        powers = torch.ones((block, n_features, 3), dtype=X.dtype, device=X.device)
        gathered = torch.empty((block, n_terms * n_features), dtype=X.dtype, device=X.device)
        for start in range(0, n_rows, block):
            chunk = X[start : start + block]
            n = chunk.shape[0]
            part = powers[:n]
            part[:, :, 1] = chunk
            torch.mul(chunk, chunk, out=part[:, :, 2])
            torch.index_select(part.view(n, 3 * n_features), 1, flat_index, out=gathered[:n])
            torch.prod(gathered[:n].view(n, n_terms, n_features), -1, out=out[start : start + n])
        return out
    X = np.asarray(X)
    dtype = np.result_type(X, np.float32)
    out = np.empty((n_rows, n_terms), dtype=dtype)
    powers = np.ones((block, n_features, 3), dtype=dtype)
    gathered = np.empty((block, n_terms * n_features), dtype=dtype)
    for start in range(0, n_rows, block):
        chunk = X[start : start + block]
        n = chunk.shape[0]
        part = powers[:n]
        part[:, :, 1] = chunk
        np.multiply(chunk, chunk, out=part[:, :, 2])
        np.take(part.reshape(n, 3 * n_features), flat_index, axis=1, out=gathered[:n])
        np.prod(gathered[:n].reshape(n, n_terms, n_features), axis=-1, out=out[start : start + n])
    return out


# --------------------------------------------------------------------------------------------
# Output link and loss
# --------------------------------------------------------------------------------------------


def _stick_breaking_offsets(n_outputs: int, like: torch.Tensor) -> torch.Tensor:
    """Return ``b_i = ln(N - 1 - i)`` for ``i = 0 .. N - 2`` (Eq. 17), ``N = n_outputs + 1``."""
    remaining = torch.arange(n_outputs, 0, -1, dtype=like.dtype, device=like.device)
    return torch.log(remaining)


def stick_breaking_log_probabilities(outputs):
    """Compute the log class probabilities of the stick-breaking link, Eq. 17 of Lake & Tsai (2022).

    Output ``y_i`` (``i = 0 .. N - 2``) is the log-odds of class ``i`` against all classes with a
    larger index, shifted by ``b_i = ln(N - 1 - i)`` so that a network whose parameters are all
    zero predicts every class with probability ``1/N``::

        P(i|x) = sigma(y_i - b_i) * prod_{j<i} (1 - sigma(y_j - b_j)),   i < N - 1,
        P(N-1|x) = prod_{j<N-1} (1 - sigma(y_j - b_j)).

    The products are sums of ``logsigmoid`` terms, so the result is finite and accurate for
    any finite outputs (no ``log(0)`` for saturated sigmoids).

    Parameters
    ----------
    outputs : torch.Tensor or ndarray of shape (..., N - 1)
        Network outputs ``y_i``.

    Returns
    -------
    torch.Tensor or ndarray of shape (..., N)
        ``ln P(i|x)``; same type as ``outputs`` (a NumPy input is computed in float64).

    Raises
    ------
    ValueError
        If ``outputs`` has no last axis of length at least 1 (fewer than two classes).
    """
    is_numpy = not isinstance(outputs, torch.Tensor)
    y = torch.as_tensor(np.asarray(outputs, dtype=np.float64)) if is_numpy else outputs
    if y.ndim == 0 or y.shape[-1] < 1:
        raise ValueError(
            f"outputs must have shape (..., N - 1) with N >= 2 classes, got {tuple(y.shape)}"
        )
    shifted = y - _stick_breaking_offsets(y.shape[-1], y)
    take = F.logsigmoid(shifted)  # ln sigma(z): this class takes its share of what is left
    leave = F.logsigmoid(-shifted)  # ln (1 - sigma(z)): what is left for later classes
    zeros = torch.zeros_like(y[..., :1])
    left_before = torch.cat([zeros, torch.cumsum(leave, dim=-1)], dim=-1)
    log_probs = left_before + torch.cat([take, zeros], dim=-1)
    return log_probs.numpy() if is_numpy else log_probs


def stick_breaking_probabilities(outputs):
    """Compute the class probabilities of the stick-breaking link, Eq. 17 of Lake & Tsai (2022).

    The exponential of :func:`stick_breaking_log_probabilities`; see there.

    Parameters
    ----------
    outputs : torch.Tensor or ndarray of shape (..., N - 1)
        Network outputs ``y_i``.

    Returns
    -------
    torch.Tensor or ndarray of shape (..., N)
        ``P(i|x)``, non-negative, summing to one along the last axis.
    """
    log_probs = stick_breaking_log_probabilities(outputs)
    return np.exp(log_probs) if isinstance(log_probs, np.ndarray) else torch.exp(log_probs)


def weighted_cross_entropy(
    log_probs: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    total_weight: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Compute the per-example-weighted mean cross-entropy, the weighted loss of Eq. 5.

    ``sum_n w_n (-ln P(j_n|x_n)) / sum_n w_n``. Dividing by the total weight makes the loss
    independent of the weights' overall scale, so weights ``w_i = 1/P(i)`` (Eq. 19) act exactly
    like cloning examples (Eq. 6) with the same regularisation strength.

    Parameters
    ----------
    log_probs : torch.Tensor of shape (..., n, C)
        Log class probabilities; leading axes (e.g. one per restart) are kept.
    labels : torch.Tensor of shape (n,), int64
        True class of each example.
    weights : torch.Tensor of shape (n,)
        Non-negative weight of each example.
    total_weight : float or torch.Tensor, optional
        Divisor; ``weights.sum()`` when omitted. A mini-batch passes ``batch size x mean
        weight of the whole training set`` to get an unbiased estimate of the full loss.

    Returns
    -------
    torch.Tensor of shape (...)
        The loss, one value per leading index.
    """
    index = labels.expand(log_probs.shape[:-1]).unsqueeze(-1)
    negative_log_likelihood = -torch.take_along_dim(log_probs, index, dim=-1).squeeze(-1)
    if total_weight is None:
        total_weight = weights.sum()
    return (negative_log_likelihood * weights).sum(-1) / total_weight


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


class _StickBreakingNetwork(nn.Module):
    """ReLU perceptron with ``n_classes - 1`` outputs and the stick-breaking link (Eq. 17)."""

    def __init__(self, n_inputs: int, hidden: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, n_classes - 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return log class probabilities of shape (n, n_classes)."""
        return stick_breaking_log_probabilities(self.layers(features))


class _BatchedRestarts(nn.Module):
    """Several independent networks of one architecture evaluated as one batched network.

    Member ``r``'s parameters are slice ``r`` of each stacked parameter, and the loss is the sum
    of the members' losses, so Adam (an element-wise optimizer) updates every member exactly as
    if it were trained alone on the same mini-batches -- at the cost of one wide matrix product
    per layer instead of one small product per member.
    """

    def __init__(self, members: list[_StickBreakingNetwork]) -> None:
        super().__init__()
        linears = [[m for m in member.layers if isinstance(m, nn.Linear)] for member in members]
        n_layers = len(linears[0])
        # Stored as (member, in, out) so that a layer is h @ W + b.
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([layers[k].weight.detach().T for layers in linears]))
            for k in range(n_layers)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([layers[k].bias.detach() for layers in linears])[:, None])
            for k in range(n_layers)
        )

    @property
    def n_members(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Map shared features (n, d) to every member's log class probabilities (R, n, C)."""
        first = self.weights[0]
        n_members, n_inputs, n_units = first.shape
        # All members see the same input: one (n, d) x (d, R * units) product.
        hidden = features @ first.permute(1, 0, 2).reshape(n_inputs, n_members * n_units)
        hidden = hidden.reshape(-1, n_members, n_units).transpose(0, 1) + self.biases[0]
        for weight, bias in zip(self.weights[1:], self.biases[1:], strict=True):
            hidden = torch.baddbmm(bias, torch.relu(hidden), weight)
        return stick_breaking_log_probabilities(hidden)

    def allocate_gradients(self) -> None:
        """Give every parameter a persistent ``.grad`` for :meth:`compute_gradients` to fill."""
        for parameter in self.parameters():
            parameter.grad = torch.zeros_like(parameter)

    def _forward_into(
        self, features: torch.Tensor, workspace: _Workspace
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Run the members on ``features`` (n, d) in ``workspace``'s buffers, allocating nothing.

        Returns the hidden activations (after the ReLU), each (R, n, units), and the outputs
        ``y`` before the link, transposed: (R, N - 1, n); the same arithmetic as
        :meth:`forward`. The output layer is computed as ``W.T @ h.T``: with its few outputs
        the product the other way round, ``h @ W``, is a skinny product that the BLAS does
        several times slower (at 4,096 rows, 32 units and 2 outputs: 0.12 against 0.05 ms).
        """
        n = features.shape[0]
        # Plain tuples: indexing an nn.ParameterList costs more than the small ops it feeds.
        weights, biases = tuple(self.weights), tuple(self.biases)
        members = range(weights[0].shape[0])
        last = len(weights) - 1
        below = features
        hidden = []
        for k in range(last):
            out = workspace.activation(k, n)
            if k == 0 and features.dtype != out.dtype:  # the bfloat16 first layer
                weight = workspace.first_weights_low()
                weight.copy_(weights[0])
                products = workspace.first_activation_low(n)
                for member in members:
                    torch.mm(features, weight[member], out=products[member])
                torch.add(products, biases[0], out=out)
            elif k == 0:  # every member sees the same input
                for member in members:
                    torch.addmm(biases[0][member], features, weights[0][member], out=out[member])
            else:
                torch.baddbmm(biases[k], below, weights[k], out=out)
            below = torch.relu_(out)
            hidden.append(below)
        out = workspace.output(n)
        for member in members:
            inputs = features if last == 0 else below[member]
            torch.mm(weights[last][member].T, inputs.T, out=out[member])
        out.add_(biases[last].transpose(1, 2))
        return hidden, out

    @torch.no_grad()
    def compute_gradients(
        self,
        features: torch.Tensor,
        target: torch.Tensor,
        scale: torch.Tensor,
        workspace: _Workspace,
    ) -> None:
        """Write into each ``.grad`` the gradient of the summed members' Eq. 5 loss on a batch.

        The same gradient that autograd gives for ``weighted_cross_entropy(self(features),
        labels, weights, total_weight).sum()``, written out so that a step allocates no memory
        (on a virtual machine, faulting in fresh pages for every intermediate cost more than
        the arithmetic). For example ``n`` with label ``c`` the stick-breaking link (Eq. 17)
        gives ``d(-ln P(c|x_n)) / dy_j = [j <= c] (sigma(y_j - b_j) - [j = c])``.

        Parameters
        ----------
        features : torch.Tensor of shape (n, d)
            In the parameters' dtype, or in the ``first_layer_dtype`` that ``workspace`` was
            made with (bfloat16): then the first layer's two products (forward, and the
            weight gradient) take bfloat16 operands, accumulate in float32 and round their
            result to bfloat16; everything else stays in the parameters' dtype.
        target : torch.Tensor of shape (N - 1, n)
            ``[j = c_n]``, transposed like the outputs of :meth:`_forward_into`.
        scale : torch.Tensor of shape (N - 1, n)
            ``[j <= c_n] w_n / total_weight``, transposed likewise.
        workspace : _Workspace
            Buffers for at least ``n`` rows and this many members.
        """
        n = features.shape[0]
        weights, biases = tuple(self.weights), tuple(self.biases)
        members = range(weights[0].shape[0])
        hidden, out = self._forward_into(features, workspace)
        grad = out.sub_(workspace.offsets).sigmoid_().sub_(target).mul_(scale)  # (R, N - 1, n)
        last = len(weights) - 1
        weight, bias = weights[last], biases[last]
        torch.sum(grad, dim=2, out=bias.grad.view(len(members), -1))
        transposed = workspace.output_weight_gradient()
        for member in members:
            inputs = features if last == 0 else hidden[-1][member]
            torch.mm(grad[member], inputs, out=transposed)
            weight.grad[member].copy_(transposed.T)
        if last == 0:
            return
        back = workspace.backprop(last - 1, n)
        for member in members:
            torch.mm(grad[member].T, weight[member].T, out=back[member])
        for k in reversed(range(last)):
            # Through the ReLU: hidden >= 0, so sign(hidden) is its derivative, 1 or 0.
            below = hidden[k]
            grad = back.mul_(torch.sign(below, out=workspace.mask(k, n)))
            weight, bias = weights[k], biases[k]
            torch.sum(grad, dim=1, keepdim=True, out=bias.grad)
            if k == 0 and features.dtype != grad.dtype:  # the bfloat16 first layer
                low = workspace.first_backprop_low(n)
                low.copy_(grad)
                product = workspace.first_weight_gradient_low()
                for member in members:
                    torch.mm(features.T, low[member], out=product)
                    weight.grad[member].copy_(product)
                break
            if k == 0:
                for member in members:
                    torch.mm(features.T, grad[member], out=weight.grad[member])
                break
            torch.bmm(hidden[k - 1].transpose(1, 2), grad, out=weight.grad)
            back = workspace.backprop(k - 1, n)
            torch.bmm(grad, weight.transpose(1, 2), out=back)

    @torch.no_grad()
    def held_out_losses(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        weights: torch.Tensor,
        workspace: _Workspace,
    ) -> torch.Tensor:
        """Each member's weighted mean cross-entropy (Eq. 5) on a data set, in chunks, float64."""
        total = torch.zeros(self.n_members, dtype=torch.float64, device=features.device)
        for start in range(0, features.shape[0], workspace.rows):
            stop = start + workspace.rows
            _, out = self._forward_into(features[start:stop], workspace)
            total += weighted_cross_entropy(
                stick_breaking_log_probabilities(out.transpose(1, 2)),
                labels[start:stop],
                weights[start:stop],
                1.0,
            ).double()
        return total / weights.double().sum()

    def keep(self, member: int, optimizer):
        """Drop every member but ``member``, carrying its Adam state over; return the optimizer."""
        old_state = {id(p): optimizer.state.get(p, {}) for p in self.parameters()}
        group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        for container in (self.weights, self.biases):
            for k, parameter in enumerate(container):
                state = old_state[id(parameter)]
                container[k] = nn.Parameter(parameter.detach()[member : member + 1].clone())
                old_state[id(container[k])] = state
        new_optimizer = type(optimizer)(self.parameters(), **group)
        for parameter in self.parameters():
            state = old_state[id(parameter)]
            if state:
                new_optimizer.state[parameter] = {
                    "step": state["step"].clone(),
                    "exp_avg": state["exp_avg"][member : member + 1].clone(),
                    "exp_avg_sq": state["exp_avg_sq"][member : member + 1].clone(),
                }
        return new_optimizer

    def member_state(self, member: int) -> list[torch.Tensor]:
        """Copy of member ``member``'s parameters, in :meth:`load_member_into` order."""
        return [p.detach()[member].clone() for p in self.parameters()]

    def load_member_into(self, state: list[torch.Tensor], network: _StickBreakingNetwork) -> None:
        """Write a :meth:`member_state` snapshot into a stand-alone network."""
        n_layers = len(self.weights)
        weights, biases = state[:n_layers], state[n_layers:]
        linears = [m for m in network.layers if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for linear, weight, bias in zip(linears, weights, biases, strict=True):
                linear.weight.copy_(weight.T)
                linear.bias.copy_(bias.reshape(-1))


class _ParameterAverage:
    """Exponential moving average of a :class:`_BatchedRestarts`' parameters (Polyak averaging).

    :meth:`update`, after each optimizer step, moves every averaged tensor towards the current
    parameters by ``max(1 - decay, 1 / (updates + 2))``: a plain running mean over the first
    steps, then an exponential one over about the last ``1 / (1 - decay)`` steps. Members are
    averaged independently (each is a slice), as Adam updates them.
    """

    def __init__(self, ensemble: _BatchedRestarts, decay: float) -> None:
        self.decay = float(decay)
        self.updates = 0
        self._bind(ensemble, [p.detach().clone() for p in ensemble.parameters()])

    def _bind(self, ensemble: _BatchedRestarts, average: list[torch.Tensor]) -> None:
        self._parameters = list(ensemble.parameters())
        self._average = average
        self._backup = [p.detach().clone() for p in self._parameters]

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current parameters into the average."""
        weight = max(1 - self.decay, 1.0 / (self.updates + 2))
        torch._foreach_lerp_(self._average, self._parameters, weight)
        self.updates += 1

    @contextmanager
    def swapped_in(self):
        """Inside the block the network's parameters are the averages; restored on leaving."""
        with torch.no_grad():
            torch._foreach_copy_(self._backup, self._parameters)
            torch._foreach_copy_(self._parameters, self._average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self._parameters, self._backup)

    def keep(self, member: int, ensemble: _BatchedRestarts) -> None:
        """Follow :meth:`_BatchedRestarts.keep`: keep member ``member``'s average only."""
        self._bind(ensemble, [a[member : member + 1].clone() for a in self._average])


class _FusedAdam:
    """Adam (Kingma & Ba 2015) with L2 weight decay: ``torch.optim.Adam(fused=True)``'s update.

    The fast recipe's optimizer. Each step is the same two kernels that
    ``torch.optim.Adam(..., fused=True)`` runs (``torch._foreach_add_`` on the step counters,
    then ``torch._fused_adam_``), on the same float32 state, so a fit is bit-identical to one
    with ``torch.optim.Adam`` (``test_fused_adam_steps_like_torch_adam`` checks it). What it
    leaves out is ``torch.optim.Optimizer``'s machinery: its per-step Python (hooks, profiler
    records, grad-mode guards; about 80 microseconds a step, 0.7 s of a 10^6-row fit) and,
    in the first optimizer a process makes, torch's lazy import of ``torch._dynamo`` (0.8-1.0 s
    on this project's machine), which every training job of the workflow would pay again.

    Only what the fast recipe uses is here: one parameter group whose ``"lr"`` may be changed
    between steps, ``state[parameter]`` with ``step``, ``exp_avg`` and ``exp_avg_sq`` as
    ``torch.optim.Adam`` keeps them (so :meth:`_BatchedRestarts.keep` carries it over), and
    :meth:`step`. Every parameter must have a ``.grad`` at each step.
    """

    def __init__(
        self,
        params,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.param_groups = [
            {
                "params": list(params),
                "lr": lr,
                "betas": tuple(betas),
                "eps": eps,
                "weight_decay": weight_decay,
            }
        ]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        self._lists: tuple[list[torch.Tensor], ...] | None = None

    def _state_lists(self) -> tuple[list[torch.Tensor], ...]:
        """(params, exp_avgs, exp_avg_sqs, steps), with state created as torch.optim.Adam does."""
        if self._lists is None:
            params = self.param_groups[0]["params"]
            for parameter in params:
                if parameter not in self.state:
                    self.state[parameter] = {
                        # A float32 scalar on the parameter's device, as the fused Adam keeps it.
                        "step": torch.zeros((), dtype=torch.float32, device=parameter.device),
                        "exp_avg": torch.zeros_like(parameter, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(
                            parameter, memory_format=torch.preserve_format
                        ),
                    }
            states = [self.state[parameter] for parameter in params]
            self._lists = (
                params,
                [state["exp_avg"] for state in states],
                [state["exp_avg_sq"] for state in states],
                [state["step"] for state in states],
            )
        return self._lists

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of every parameter from its ``.grad``."""
        group = self.param_groups[0]
        params, exp_avgs, exp_avg_sqs, steps = self._state_lists()
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params,
            [parameter.grad for parameter in params],
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )


def _shuffle_once_batches(n_rows: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Row order for shuffle-once batching: one permutation, cut into whole batches.

    Parameters
    ----------
    n_rows : int
        Number of fitting rows.
    batch_size : int
        Rows per batch, at most ``n_rows``.
    generator : torch.Generator
        Source of the permutation.

    Returns
    -------
    torch.Tensor of shape (ceil(n_rows / batch_size), batch_size), int64
        Row ``k`` lists the rows of batch ``k``. Every row appears at least once; the last
        batch is filled up with the first ``batch_size * n_batches - n_rows`` rows of the
        permutation (fewer than one batch), which therefore appear twice per epoch.
    """
    order = torch.randperm(n_rows, generator=generator)
    n_batches = -(-n_rows // batch_size)
    order = torch.cat([order, order[: n_batches * batch_size - n_rows]])
    return order.reshape(n_batches, batch_size)


class _Workspace:
    """Buffers that :class:`_BatchedRestarts` computes a batch of up to ``rows`` rows in.

    Each buffer is flat, so that the first ``n * units`` elements viewed as (R, n, units) --
    the outputs as (R, N - 1, n) -- are contiguous for any ``n <= rows`` (a short last chunk,
    too).
    """

    def __init__(
        self, ensemble: _BatchedRestarts, rows: int, first_layer_dtype: torch.dtype | None = None
    ) -> None:
        device, dtype = ensemble.weights[0].device, ensemble.weights[0].dtype
        members = ensemble.n_members
        self.rows = int(rows)
        self.members = members
        self.units = [weight.shape[2] for weight in ensemble.weights]
        size = [members * self.rows * units for units in self.units]
        self._activations = [torch.empty(n, dtype=dtype, device=device) for n in size]
        self._backprop = [torch.empty(n, dtype=dtype, device=device) for n in size[:-1]]
        self._masks = [torch.empty(n, dtype=dtype, device=device) for n in size[:-1]]
        last = ensemble.weights[-1]
        self._output_weight_gradient = torch.empty(
            (last.shape[2], last.shape[1]), dtype=dtype, device=device
        )
        self.offsets = _stick_breaking_offsets(self.units[-1], self._activations[-1])[:, None]
        self._low: dict[str, torch.Tensor] = {}
        if first_layer_dtype is not None and first_layer_dtype != dtype:
            if len(self.units) < 2:
                raise ValueError("a low-precision first layer needs a hidden layer after it")
            first = ensemble.weights[0]
            self._low = {
                "weights": torch.empty(first.shape, dtype=first_layer_dtype, device=device),
                "weight_gradient": torch.empty(
                    first.shape[1:], dtype=first_layer_dtype, device=device
                ),
            }
            self._low_activation = [torch.empty(size[0], dtype=first_layer_dtype, device=device)]
            self._low_backprop = [torch.empty(size[0], dtype=first_layer_dtype, device=device)]
        self._views: dict[tuple[int, int, int], torch.Tensor] = {}

    def _view(self, buffers: list[torch.Tensor], k: int, n: int) -> torch.Tensor:
        key = (id(buffers), k, n)  # views are kept: making one costs more than a small op
        view = self._views.get(key)
        if view is None:
            if n > self.rows:
                raise ValueError(f"workspace holds {self.rows} rows, asked for {n}")
            view = buffers[k][: self.members * n * self.units[k]].view(
                self.members, n, self.units[k]
            )
            self._views[key] = view
        return view

    def activation(self, k: int, n: int) -> torch.Tensor:
        return self._view(self._activations, k, n)

    def output(self, n: int) -> torch.Tensor:
        """The last layer's outputs, (R, N - 1, n)."""
        return self.activation(len(self.units) - 1, n).view(self.members, self.units[-1], n)

    def first_weights_low(self) -> torch.Tensor:
        """The first layer's weights in the low precision, (R, d, units)."""
        return self._low["weights"]

    def first_activation_low(self, n: int) -> torch.Tensor:
        return self._view(self._low_activation, 0, n)

    def first_backprop_low(self, n: int) -> torch.Tensor:
        return self._view(self._low_backprop, 0, n)

    def first_weight_gradient_low(self) -> torch.Tensor:
        """One member's first-layer weight gradient in the low precision, (d, units)."""
        return self._low["weight_gradient"]

    def output_weight_gradient(self) -> torch.Tensor:
        """One member's output-layer weight gradient, transposed: (N - 1, units)."""
        return self._output_weight_gradient

    def backprop(self, k: int, n: int) -> torch.Tensor:
        return self._view(self._backprop, k, n)

    def mask(self, k: int, n: int) -> torch.Tensor:
        return self._view(self._masks, k, n)


def count_parameters(n_inputs: int, hidden, n_classes: int) -> int:
    """Count the free parameters of the network for ``n_inputs`` (augmented) inputs.

    ``sum_layers (fan_in x fan_out + fan_out)`` with ``n_classes - 1`` outputs (Eq. 17).

    Parameters
    ----------
    n_inputs : int
        Number of network inputs after augmentation.
    hidden : sequence of int
        Units per hidden layer.
    n_classes : int
        Number of classes ``N``.

    Returns
    -------
    int
    """
    widths = [int(n_inputs), *[int(h) for h in hidden], int(n_classes) - 1]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))


# --------------------------------------------------------------------------------------------
# Classifier
# --------------------------------------------------------------------------------------------


def _restart_seeds(seed: int, restarts: int) -> tuple[list[int], np.random.Generator]:
    """Derive one torch seed per restart and a NumPy generator for data order from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(restarts + 1)
    torch_seeds = [int(child.generate_state(1, dtype=np.uint64)[0] >> 1) for child in children[1:]]
    return torch_seeds, np.random.default_rng(children[0])


def _stratified_split(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (fit, validation) with ``fraction`` of each class validated.

    Stratified so that a rare class is represented in both parts in proportion even in a small
    training set; a class with fewer than two examples stays wholly in the fitting part.
    """
    fit_parts, validation_parts = [], []
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_validation = int(round(fraction * rows.size)) if rows.size >= 2 else 0
        n_validation = min(max(n_validation, 1 if rows.size >= 2 else 0), rows.size - 1)
        validation_parts.append(rows[:n_validation])
        fit_parts.append(rows[n_validation:])
    return np.sort(np.concatenate(fit_parts)), np.sort(np.concatenate(validation_parts))


@contextmanager
def _flushing_denormals():
    """Treat subnormal floats as zero on the CPU inside the block (``torch.set_flush_denormal``).

    Late in a fit, at small learning rates, saturated sigmoids give gradients in the subnormal
    range, and arithmetic on those is many times slower on x86 CPUs (before the fast recipe's
    step was rewritten, flushing them halved the time of a 3 x 10^5-row fit, with the same
    steps and result). Their contribution to a float32 sum is below its rounding anyway. The
    setting is process-wide; it is switched back off (torch's default) on leaving.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _fast_first_layer_dtype(
    device: torch.device, hidden: tuple[int, ...], batch_size: int
) -> torch.dtype:
    """The dtype of the fast recipe's first-layer products: bfloat16 where the CPU has it.

    The first layer (80 inputs to 32 units) is nearly all of a step's arithmetic. On a CPU
    with AVX-512 BF16 its two products (forward, weight gradient) with bfloat16 operands and
    float32 accumulation take a third of the float32 time (4,096 rows, 1 thread); the
    parameters, Adam, the other layers, the link, the held-out evaluation and the returned
    network stay in float32/float64. What the rounding of the inputs and of the two products
    to 8 significant bits costs in KL was measured over many seeds and sizes
    (benchmarks/README.md). Elsewhere (other CPUs, where bfloat16 products are emulated and
    slow, a GPU, a network without a hidden layer, or batches smaller than
    ``_FAST_BFLOAT16_MIN_BATCH``) everything is float32.
    """
    supported = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    big = batch_size >= _FAST_BFLOAT16_MIN_BATCH
    if device.type == "cpu" and hidden and big and supported():
        return torch.bfloat16
    return torch.float32


def fast_weight_decay(weight_decay: float, n_rows: int, reference_rows: int | None) -> float:
    """The fast recipe's weight decay for a training set of ``n_rows`` rows.

    ``weight_decay * min(1, reference_rows / n_rows)``: constant up to ``reference_rows``,
    then falling as 1/N, so that the L2 penalty in the mean cross-entropy acts as a fixed
    Gaussian prior on the weights whose pull fades as the data grow. ``reference_rows=None``
    returns ``weight_decay`` unchanged.
    """
    if reference_rows is None or n_rows <= reference_rows:
        return float(weight_decay)
    return float(weight_decay) * reference_rows / n_rows


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Classifier(EstimatorParams):
    """Stick-breaking perceptron classifier of Section 3.1 of Lake & Tsai (2022).

    Parameters
    ----------
    hidden : tuple of int, default (32,)
        Units per hidden layer; (32,) is the simulation's network, (128, 32) the real-data one.
    augmentation : {"interpolation", "mathematician", "none"}, default "interpolation"
        Second-order feature augmentation convention; see :func:`augmentation_exponents`.
    recipe : {"fast", "paper"}, default "fast"
        Training procedure; see the module docstring.
    restarts : int, default 5
        Independent initialisations; the best one is kept (by training loss for "paper", by
        held-out loss for "fast").
    seed : int, default 0
        Makes the fit reproducible: initialisations, data split and mini-batch order all
        derive from it.
    n_classes : int, optional
        Number of classes; ``max(y) + 1`` when omitted.
    device : str, default "auto"
        Torch device; "auto" uses CUDA when available, else the CPU.
    threads : int, optional
        If given, ``torch.set_num_threads(threads)`` before fitting (a process-wide setting).
    lr : float, default 2e-3
        Adam learning rate ("fast": the initial one).
    weight_decay : float, default 1e-4
        Adam's (L2) weight decay, applied to all parameters. The paper recipe uses it as it is;
        the fast recipe scales it down for large training sets (``weight_decay_rows``).
    weight_decay_rows : int or None, default 100_000
        Fast recipe only: for a training set of ``N`` rows the weight decay is
        ``weight_decay * min(1, weight_decay_rows / N)`` (:func:`fast_weight_decay`), a fixed
        prior on the weights whose weight in the mean loss falls as 1/N, so that large sets
        converge to the true posterior instead of to a penalised, under-confident one. None
        keeps ``weight_decay`` at every size.
    tol : float, default 1e-8
        "paper": stop a restart when a full-batch step improves the loss by less than this.
    max_steps : int, default 25_000
        Largest number of optimizer steps per restart ("fast": in total).
    progress : bool, default True
        Show progress on stderr: a bar on a terminal, one line per fit elsewhere
        (:class:`deweight._progress.Progress`).

    Attributes
    ----------
    prior_ : ndarray of shape (n_classes,)
        Effective class prior of the training set (Eq. 7: weighted class totals over the total
        weight), i.e. the prior built into the fitted probabilities. With the ``fast`` recipe it
        is that of the rows fitted, without the rows held out for early stopping.
    n_classes_ : int
    n_features_ : int
    n_parameters_ : int
        Free parameters of the network.
    fit_report_ : dict
        How the fit went: ``recipe``, ``restarts``, ``best_restart``, ``final_loss`` (per
        restart; full-batch training loss for "paper", best held-out loss for "fast"),
        ``steps`` and ``converged`` (per restart; for "fast" None for the restarts dropped at
        the screening), ``wall_seconds``, ``device``, ``threads`` and, for "fast",
        ``batch_size``, ``n_fit``, ``n_validation``, ``learning_rate_cuts``,
        ``examples_processed`` (training examples through a forward and backward pass, summed
        over the restarts training at each step) and ``first_layer_dtype`` ("bfloat16" or
        "float32": the operands of the first layer's products while training) and
        ``parameter_average_decay`` (the decay of the averaged parameters that were evaluated
        and returned, or None where the last iterate was: batches under 1,024 rows).
    """

    def __init__(
        self,
        hidden=(32,),
        augmentation: str = "interpolation",
        recipe: str = "fast",
        restarts: int = 5,
        seed: int = 0,
        n_classes: int | None = None,
        device: str = "auto",
        threads: int | None = None,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        tol: float = 1e-8,
        max_steps: int = 25_000,
        progress: bool = True,
        weight_decay_rows: int | None = FAST_WEIGHT_DECAY_ROWS,
    ) -> None:
        hidden = tuple(int(h) for h in hidden)
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden layer sizes must be positive, got {hidden}")
        if augmentation not in AUGMENTATIONS:
            raise ValueError(f"augmentation {augmentation!r} is not one of {AUGMENTATIONS}")
        if recipe not in RECIPES:
            raise ValueError(f"recipe {recipe!r} is not one of {RECIPES}")
        if int(restarts) != restarts or restarts < 1:
            raise ValueError(f"restarts must be a positive integer, got {restarts!r}")
        if n_classes is not None and (int(n_classes) != n_classes or n_classes < 2):
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        if threads is not None and (int(threads) != threads or threads < 1):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        for name, value in (("lr", lr), ("tol", tol)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite, got {value!r}")
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be non-negative, got {weight_decay!r}")
        if int(max_steps) != max_steps or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        if weight_decay_rows is not None and (
            int(weight_decay_rows) != weight_decay_rows or weight_decay_rows < 1
        ):
            raise ValueError(
                f"weight_decay_rows must be a positive integer or None, got {weight_decay_rows!r}"
            )
        self.hidden = hidden
        self.augmentation = augmentation
        self.recipe = recipe
        self.restarts = int(restarts)
        self.seed = int(seed)
        self.n_classes = None if n_classes is None else int(n_classes)
        self.device = device
        self.threads = None if threads is None else int(threads)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.weight_decay_rows = None if weight_decay_rows is None else int(weight_decay_rows)
        self.tol = float(tol)
        self.max_steps = int(max_steps)
        self.progress = bool(progress)
        self._network: _StickBreakingNetwork | None = None
        self._scaler: RangeScaler | None = None

    # ----------------------------------------------------------------------------------------

    def _hyperparameters(self) -> dict:
        return {
            "hidden": list(self.hidden),
            "augmentation": self.augmentation,
            "recipe": self.recipe,
            "restarts": self.restarts,
            "seed": self.seed,
            "n_classes": self.n_classes,
            "device": self.device,
            "threads": self.threads,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "weight_decay_rows": self.weight_decay_rows,
            "tol": self.tol,
            "max_steps": self.max_steps,
            "progress": self.progress,
        }

    def _new_network(self, torch_seed: int) -> _StickBreakingNetwork:
        """Build a network with PyTorch's default initialisation drawn from ``torch_seed``."""
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
            torch.manual_seed(torch_seed)
            return _StickBreakingNetwork(self._n_inputs, self.hidden, self.n_classes_)

    def _features(self, X: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Scale and augment raw features into the network's input tensor."""
        scaled = torch.as_tensor(self._scaler.transform(X), dtype=dtype)
        return augment_quadratic(scaled, self.augmentation).to(device)

    def fit(self, X, y, sample_weight=None) -> Classifier:
        """Fit the classifier to labelled examples.

        Parameters
        ----------
        X : array_like of shape (n, d)
            Training features.
        y : array_like of shape (n,)
            Class labels in ``[0, n_classes)``; every class needs at least one example.
        sample_weight : array_like of shape (n,), optional
            Per-example loss weights ``w_n`` (Eq. 5), e.g. ``1/P(i)`` (Eq. 19).

        Returns
        -------
        Classifier
            ``self``.

        Raises
        ------
        ValueError
            If ``X`` is malformed, ``y`` has a label outside the classes, the weights are
            negative, non-finite or all zero, or a class has no (positively weighted)
            examples: the cross-entropy cannot learn a class it never sees.

        Warns
        -----
        ConvergenceWarning
            If a restart stops at ``max_steps`` before meeting its convergence criterion.
        """
        X = _check_matrix(X, name="X")
        labels = np.asarray(y)
        if labels.shape != (X.shape[0],):
            raise ValueError(f"y has shape {labels.shape}; X has {X.shape[0]} rows")
        self.prior_ = effective_prior(labels, sample_weight, self.n_classes)
        self.n_classes_ = self.prior_.size
        if self.n_classes_ < 2:
            raise ValueError("y holds a single class; a classifier needs at least two")
        empty = np.flatnonzero(self.prior_ <= 0)
        if empty.size:
            raise ValueError(
                f"class {int(empty[0])} has no examples with positive weight in y; the "
                "cross-entropy cannot learn a class it never sees (use a larger training set)"
            )
        labels = labels.astype(np.int64)
        weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        device = _resolve_device(self.device)
        self.n_features_ = X.shape[1]
        self._scaler = RangeScaler().fit(X)
        self._n_inputs = augmentation_exponents(self.n_features_, self.augmentation).shape[0]
        torch_seeds, rng = _restart_seeds(self.seed, self.restarts)

        start = time.perf_counter()
        features = self._features(X, torch.float32, device)
        labels_t = torch.as_tensor(labels, device=device)
        weights_t = torch.as_tensor(weights, dtype=torch.float32, device=device)
        if self.recipe == "paper":
            network, report = self._fit_paper(features, labels_t, weights_t, torch_seeds)
        else:
            with _flushing_denormals():
                network, report = self._fit_fast(features, labels, weights_t, torch_seeds, rng)
        self._network = network.to("cpu").double().eval()
        self.n_parameters_ = sum(p.numel() for p in self._network.parameters())
        self.fit_report_ = {
            "recipe": self.recipe,
            "restarts": self.restarts,
            **report,
            "wall_seconds": time.perf_counter() - start,
            "device": str(device),
            "threads": torch.get_num_threads(),
        }
        not_converged = [r for r, ok in enumerate(report["converged"]) if ok is False]
        if not_converged:
            warnings.warn(
                f"{self.recipe} recipe: restart(s) {not_converged} stopped at max_steps="
                f"{self.max_steps} before converging; the fit is usable but not at a minimum",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _progress_bar(self, description: str, total: int) -> Progress:
        return Progress(description, total, unit="steps", enabled=self.progress, mininterval=2.0)

    def _fit_paper(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        weights: torch.Tensor,
        torch_seeds: list[int],
    ) -> tuple[_StickBreakingNetwork, dict]:
        """Full-batch Adam per restart, stopped at an improvement below ``tol`` (Section 3.1)."""
        total_weight = weights.sum()
        final_losses, steps, converged, networks = [], [], [], []
        for restart, torch_seed in enumerate(torch_seeds):
            network = self._new_network(torch_seed).to(features.device)
            optimizer = torch.optim.Adam(
                network.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            restart_start = time.perf_counter()
            previous_loss, done = math.inf, False
            bar = self._progress_bar(f"paper restart {restart + 1}/{self.restarts}", self.max_steps)
            with bar:
                for step in range(1, self.max_steps + 1):
                    optimizer.zero_grad(set_to_none=True)
                    loss = weighted_cross_entropy(network(features), labels, weights, total_weight)
                    loss_value = loss.item()
                    if not math.isfinite(loss_value):
                        raise FloatingPointError(
                            f"paper recipe restart {restart}: loss became {loss_value} at step "
                            f"{step}"
                        )
                    # The paper's criterion: the step just taken improved the loss by < tol
                    # (a step that made it worse counts too). Its parameters are kept.
                    if previous_loss - loss_value < self.tol:
                        done = True
                        break
                    loss.backward()
                    optimizer.step()
                    previous_loss = loss_value
                    if step % 100 == 0:
                        bar.update(100)
                        bar.set_postfix(loss=f"{loss_value:.6f}")
            final_losses.append(loss_value)
            steps.append(step - 1 if done else step)
            converged.append(done)
            networks.append(network)
            logger.info(
                "recipe=paper restart=%d final_loss=%.8f steps=%d converged=%s seconds=%.1f",
                restart,
                loss_value,
                steps[-1],
                done,
                time.perf_counter() - restart_start,
            )
        best = int(np.argmin(final_losses))
        report = {
            "best_restart": best,
            "final_loss": final_losses,
            "steps": steps,
            "converged": converged,
        }
        return networks[best], report

    def _fit_fast(
        self,
        features: torch.Tensor,
        labels: np.ndarray,
        weights: torch.Tensor,
        torch_seeds: list[int],
        rng: np.random.Generator,
    ) -> tuple[_StickBreakingNetwork, dict]:
        """Batched-restart mini-batch Adam with plateau learning-rate cuts and early stopping."""
        device = features.device
        fit_rows, validation_rows = _stratified_split(labels, _FAST_VALIDATION_FRACTION, rng)
        if validation_rows.size == 0:
            raise ValueError(
                f"the fast recipe holds out {_FAST_VALIDATION_FRACTION:.0%} of each class for "
                f"early stopping, but the {labels.size} examples leave nothing to hold out"
            )
        # The network learns only from the fitting rows, so their (weighted) class balance is
        # the prior its probabilities carry (Eq. 7). Holding out even one example of a class
        # with a handful changes it, and Eq. 12 must divide by the prior actually learnt.
        self.prior_ = effective_prior(
            labels[fit_rows], weights.detach().cpu().numpy()[fit_rows], self.n_classes_
        )
        labels_t = torch.as_tensor(labels, device=device)
        fit_index = torch.as_tensor(fit_rows, device=device)
        validation_features = features[torch.as_tensor(validation_rows, device=device)]
        validation_labels = labels_t[validation_rows]
        validation_weights = weights[validation_rows]
        fit_features, fit_labels = features[fit_index], labels_t[fit_index]
        fit_weights = weights[fit_index]
        del fit_index
        n_fit = fit_rows.size
        batch_size = min(
            n_fit, max(_FAST_MIN_BATCH, min(_FAST_MAX_BATCH, n_fit // _FAST_BATCHES_PER_EPOCH))
        )
        first_layer_dtype = _fast_first_layer_dtype(device, self.hidden, batch_size)
        fit_features = fit_features.to(first_layer_dtype)
        batches_per_epoch = n_fit // batch_size  # the remainder is reshuffled into later epochs
        steps_per_evaluation = min(
            max(batches_per_epoch, _FAST_MIN_STEPS_PER_EVALUATION), _FAST_MAX_STEPS_PER_EVALUATION
        )
        # Unbiased mini-batch estimate of the full weighted mean loss. What the gradient needs
        # of each row's label and weight (see _BatchedRestarts.compute_gradients) is computed
        # once here, so that a step only gathers rows into preallocated buffers.
        batch_total_weight = batch_size * fit_weights.mean()
        classes = torch.arange(self.n_classes_ - 1, device=device)
        # Transposed, (N - 1, n), like the outputs in _BatchedRestarts._forward_into.
        fit_target = (classes[:, None] == fit_labels).to(features.dtype)
        fit_scale = (classes[:, None] <= fit_labels) * (fit_weights / batch_total_weight)
        fit_scale = fit_scale.to(features.dtype)
        del features, fit_labels, fit_weights
        batch_features = fit_features.new_empty((batch_size, fit_features.shape[1]))
        batch_target = fit_target.new_empty((fit_target.shape[0], batch_size))
        batch_scale = fit_scale.new_empty((fit_scale.shape[0], batch_size))

        members = [self._new_network(s) for s in torch_seeds]
        template = copy.deepcopy(members[0])
        ensemble = _BatchedRestarts(members).to(device)
        ensemble.allocate_gradients()
        workspace = _Workspace(ensemble, batch_size, first_layer_dtype)
        # torch.optim.Adam(fused=True)'s update without the Optimizer machinery (_FusedAdam).
        weight_decay = fast_weight_decay(self.weight_decay, labels.size, self.weight_decay_rows)
        optimizer = _FusedAdam(ensemble.parameters(), lr=self.lr, weight_decay=weight_decay)
        generator = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**62)))
        # Large sets: evaluate, screen and return the averaged parameters (see
        # _FAST_AVERAGE_MIN_BATCH). Small sets: the last iterate, as before.
        if batch_size >= _FAST_AVERAGE_MIN_BATCH:
            average = _ParameterAverage(ensemble, _FAST_AVERAGE_DECAY)
            patience, screen_evaluations = (
                _FAST_AVERAGED_PATIENCE,
                _FAST_AVERAGED_SCREEN_EVALUATIONS,
            )
        else:
            average = None
            patience, screen_evaluations = _FAST_PATIENCE, _FAST_SCREEN_EVALUATIONS

        if batch_size >= _FAST_SHUFFLE_ONCE_MIN_BATCH:
            # Shuffle once (see _FAST_SHUFFLE_ONCE_MIN_BATCH): the rows are stored batch by
            # batch, each batch contiguous, and an epoch visits the batches in a random order.
            batch_rows = _shuffle_once_batches(n_fit, batch_size, generator).to(device)
            n_batches = batch_rows.shape[0]
            fit_features = fit_features[batch_rows.reshape(-1)].reshape(n_batches, batch_size, -1)
            fit_target = fit_target[:, batch_rows].transpose(0, 1).contiguous()
            fit_scale = fit_scale[:, batch_rows].transpose(0, 1).contiguous()
            del batch_rows
            shuffle_once = True
        else:
            n_batches = 0
            shuffle_once = False

        def validation_losses() -> torch.Tensor:
            return ensemble.held_out_losses(
                validation_features, validation_labels, validation_weights, workspace
            )

        n_restarts = len(torch_seeds)
        member_ids = list(range(n_restarts))  # original restart index of each live member
        best_loss = [math.inf] * n_restarts
        best_state: list[list[torch.Tensor] | None] = [None] * n_restarts
        evaluations_since_best = 0
        cuts = 0
        evaluations = 0
        step = 0
        examples_processed = 0  # summed over the restarts still training at each step
        stopped_early = False
        # The rows (reshuffled every epoch) or, shuffling once, the batches of this epoch.
        order: torch.Tensor | list[int] = [] if shuffle_once else torch.empty(0, dtype=torch.int64)
        position = 0
        start = time.perf_counter()
        with self._progress_bar(f"fast ({n_restarts} restarts)", self.max_steps) as bar:
            while step < self.max_steps:
                ensemble.train()
                for _ in range(min(steps_per_evaluation, self.max_steps - step)):
                    if shuffle_once:
                        if position == len(order):
                            order = torch.randperm(n_batches, generator=generator).tolist()
                            position = 0
                        k = order[position]
                        position += 1
                        batch_features, batch_target = fit_features[k], fit_target[k]
                        batch_scale = fit_scale[k]
                    else:
                        if position + batch_size > order.numel():
                            order = torch.randperm(n_fit, generator=generator).to(device)
                            position = 0
                        batch = order[position : position + batch_size]
                        position += batch_size
                        torch.index_select(fit_features, 0, batch, out=batch_features)
                        torch.index_select(fit_target, 1, batch, out=batch_target)
                        torch.index_select(fit_scale, 1, batch, out=batch_scale)
                    ensemble.compute_gradients(batch_features, batch_target, batch_scale, workspace)
                    optimizer.step()
                    if average is not None:
                        average.update()
                    step += 1
                    examples_processed += batch_size * len(member_ids)
                bar.update(min(steps_per_evaluation, bar.total - bar.n))
                evaluations += 1
                improved = False
                with average.swapped_in() if average is not None else contextlib.nullcontext():
                    current = validation_losses().tolist()
                    if not all(math.isfinite(v) for v in current):
                        raise FloatingPointError(f"fast recipe: held-out loss became {current}")
                    for member, restart in enumerate(member_ids):
                        if current[member] < best_loss[restart]:
                            best_loss[restart] = current[member]
                            best_state[restart] = ensemble.member_state(member)
                            improved = True
                bar.set_postfix(
                    held_out_loss=f"{min(best_loss):.6f}",
                    lr=optimizer.param_groups[0]["lr"],
                )
                if len(member_ids) > 1 and evaluations >= screen_evaluations:
                    # Restarts exist to escape poor local minima, which show early; after the
                    # screening only the most promising one is worth its compute.
                    for restart in member_ids:
                        logger.info(
                            "recipe=fast restart=%d screened held_out_loss=%.8f steps=%d "
                            "seconds=%.1f",
                            restart,
                            best_loss[restart],
                            step,
                            time.perf_counter() - start,
                        )
                    keep = int(np.argmin([best_loss[r] for r in member_ids]))
                    optimizer = ensemble.keep(keep, optimizer)
                    if average is not None:
                        average.keep(keep, ensemble)
                    ensemble.allocate_gradients()
                    workspace = _Workspace(ensemble, batch_size, first_layer_dtype)
                    member_ids = [member_ids[keep]]
                evaluations_since_best = 0 if improved else evaluations_since_best + 1
                if evaluations_since_best >= patience:
                    if cuts == _FAST_LR_CUTS:
                        stopped_early = True
                        break
                    cuts += 1
                    evaluations_since_best = 0
                    for group in optimizer.param_groups:
                        group["lr"] *= _FAST_LR_CUT
        winner = member_ids[0] if len(member_ids) == 1 else int(np.argmin(best_loss))
        network = template.to(device)
        ensemble.load_member_into(best_state[winner], network)
        logger.info(
            "recipe=fast restart=%d final held_out_loss=%.8f steps=%d stopped_early=%s "
            "seconds=%.1f",
            winner,
            best_loss[winner],
            step,
            stopped_early,
            time.perf_counter() - start,
        )
        report = {
            "best_restart": winner,
            "final_loss": best_loss,
            "steps": [step if r == winner else None for r in range(n_restarts)],
            # A restart dropped at the screening was never meant to converge: None.
            "converged": [stopped_early if r == winner else None for r in range(n_restarts)],
            "batch_size": batch_size,
            "n_fit": int(n_fit),
            "fit_class_counts": np.bincount(labels[fit_rows], minlength=self.n_classes_).tolist(),
            "n_validation": int(validation_rows.size),
            "learning_rate_cuts": cuts,
            "examples_processed": examples_processed,
            "first_layer_dtype": str(first_layer_dtype).removeprefix("torch."),
            # None: the last iterate was evaluated and returned (small sets).
            "parameter_average_decay": None if average is None else average.decay,
            "weight_decay": weight_decay,
        }
        return network, report

    # ----------------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if self._network is None:
            raise NotFittedError("this Classifier is not fitted yet; call fit(X, y) first")

    def predict_proba(self, X) -> np.ndarray:
        """Return class probabilities ``P(i|x)`` with the training set's prior ``prior_``.

        Parameters
        ----------
        X : array_like of shape (n, d)

        Returns
        -------
        ndarray of shape (n, n_classes_), float64
            Rows sum to one.

        Raises
        ------
        ValueError
            If the classifier is not fitted or ``X`` has the wrong number of columns or a
            non-finite entry.
        """
        self._check_fitted()
        X = _check_matrix(X, name="X", n_columns=self.n_features_)
        probabilities = np.empty((X.shape[0], self.n_classes_))
        cpu = torch.device("cpu")
        with torch.no_grad():  # in chunks: the augmented float64 features of 10^6 rows are 640 MB
            for start in range(0, X.shape[0], _AUGMENT_CHUNK_ROWS):
                chunk = self._features(X[start : start + _AUGMENT_CHUNK_ROWS], torch.float64, cpu)
                probabilities[start : start + chunk.shape[0]] = torch.exp(self._network(chunk))
        return probabilities

    def save(self, path) -> None:
        """Write the fitted classifier to one file (atomically: temporary file, then rename).

        The file holds the network's state dict, the scaler's ranges, the hyperparameters,
        ``prior_`` and ``fit_report_``; :meth:`load` restores identical predictions.
        """
        self._check_fitted()
        path = Path(path)
        payload = {
            "format": _SAVE_FORMAT,
            "hyperparameters": self._hyperparameters(),
            "n_classes": self.n_classes_,
            "n_features": self.n_features_,
            "scaler": self._scaler.state_dict(),
            "network": self._network.state_dict(),
            "prior": self.prior_.tolist(),
            "fit_report": self.fit_report_,
        }
        with atomic_path(path) as temporary:
            torch.save(payload, temporary)

    @classmethod
    def load(cls, path) -> Classifier:
        """Read a classifier written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a saved deweight classifier.
        """
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != _SAVE_FORMAT:
            raise ValueError(f"{path} is not a classifier saved by deweight ({_SAVE_FORMAT})")
        # Files written before weight_decay_rows existed were fitted with a constant decay.
        classifier = cls(**({"weight_decay_rows": None} | payload["hyperparameters"]))
        classifier.n_classes_ = int(payload["n_classes"])
        classifier.n_features_ = int(payload["n_features"])
        classifier._scaler = RangeScaler.from_state_dict(payload["scaler"])
        classifier._n_inputs = augmentation_exponents(
            classifier.n_features_, classifier.augmentation
        ).shape[0]
        network = _StickBreakingNetwork(
            classifier._n_inputs, classifier.hidden, classifier.n_classes_
        ).double()
        network.load_state_dict(payload["network"])
        classifier._network = network.eval()
        classifier.n_parameters_ = sum(p.numel() for p in network.parameters())
        classifier.prior_ = np.asarray(payload["prior"], dtype=np.float64)
        classifier.fit_report_ = payload["fit_report"]
        return classifier
