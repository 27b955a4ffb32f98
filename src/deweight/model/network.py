"""The network of Sect. 3.1: a fully connected ReLU network with ``N - 1`` outputs turned into
class probabilities by the stick-breaking link (Eq. 17 of Lake & Tsai 2022), and the weighted
cross-entropy it is fitted by (Eq. 5).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "count_parameters",
    "stick_breaking_log_probabilities",
    "stick_breaking_probabilities",
    "weighted_cross_entropy",
]


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

    The exponential of :func:`stick_breaking_log_probabilities`, which says what ``outputs``
    may be and when it raises: ``P(i|x)`` of shape ``(..., N)``, non-negative and summing to
    one along the last axis, of the type of ``outputs``.
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
