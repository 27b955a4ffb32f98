"""A full-batch L-BFGS polish of a fitted network: the last stretch to the loss's minimum.

Mini-batch Adam with early stopping leaves large training sets short of the minimum of their
own loss, and what it leaves is not noise but a bias: the logits of the rare class's core stay
too small, so its probabilities are under-confident and its prediction-consistent prior comes
out low (issue 19; benchmarks/README.md, "Convergence to the truth"). The gap is in the
directions the mini-batch noise hides (a loss change of a few 10^-4 at 10^6 rows), where a
deterministic quasi-Newton method on the whole set closes it in a few tens of iterations.
"""

from __future__ import annotations

import copy
import time

import torch

from deweight.model.network import weighted_cross_entropy

__all__ = ["max_evaluations", "polish"]

#: Rows per chunk of the full-batch passes (bounded memory at any training-set size).
_CHUNK_ROWS = 1 << 18


class _FullBatchObjective:
    """The fast recipe's objective on all fitting rows: the weighted mean cross-entropy of
    Eq. 5 plus the L2 penalty ``weight_decay / 2 * |theta|^2`` that Adam's (coupled) weight
    decay descends, evaluated in chunks whose gradients add up."""

    def __init__(self, network, features, labels, weights, weight_decay: float, on_evaluation):
        self.network = network
        self.features = features
        self.labels = labels
        self.weights = weights
        self.total_weight = float(weights.sum())
        self.weight_decay = float(weight_decay)
        self.on_evaluation = on_evaluation
        self.evaluations = 0

    def penalty(self) -> torch.Tensor:
        return 0.5 * self.weight_decay * sum((p * p).sum() for p in self.network.parameters())

    def value(self) -> float:
        with torch.no_grad():
            return float(self._data_loss(backward=False) + self.penalty())

    def _data_loss(self, backward: bool) -> float:
        total = 0.0
        for start in range(0, self.labels.numel(), _CHUNK_ROWS):
            stop = start + _CHUNK_ROWS
            log_probs = self.network(self.features[start:stop])
            loss = weighted_cross_entropy(
                log_probs, self.labels[start:stop], self.weights[start:stop], self.total_weight
            )
            if backward:
                loss.backward()
            total += float(loss.detach())
        return total

    def __call__(self) -> torch.Tensor:
        """The closure of ``torch.optim.LBFGS``: value, with the gradient accumulated."""
        self.evaluations += 1
        for parameter in self.network.parameters():
            parameter.grad = None
        data = self._data_loss(backward=True)
        penalty = self.penalty()
        penalty.backward()
        if self.on_evaluation is not None:
            self.on_evaluation()
        return torch.tensor(data + float(penalty.detach()))


def max_evaluations(iterations: int) -> int:
    """The most objective evaluations (full passes) ``iterations`` L-BFGS iterations make."""
    return iterations * 5 // 4


def polish(
    network,
    features,
    labels,
    weights,
    weight_decay: float,
    iterations: int,
    on_evaluation=None,
):
    """Run ``iterations`` L-BFGS iterations (strong Wolfe line search) on the full objective.

    Parameters
    ----------
    network : torch.nn.Module
        The fitted network (float32), polished in place.
    features : torch.Tensor of shape (n, d), float32
        The fitting rows' network inputs (the rows the mini-batches came from).
    labels : torch.Tensor of shape (n,), int64
    weights : torch.Tensor of shape (n,)
        Per-row loss weights (Eq. 5).
    weight_decay : float
        The fit's L2 weight decay: the polish minimises the same objective.
    iterations : int
        L-BFGS iterations (each one or a few full passes; at most
        :func:`max_evaluations` passes in all).
    on_evaluation : callable, optional
        Called after each full pass (e.g. to advance a progress bar).

    Returns
    -------
    network, dict
        The network, and for the fit report ``polish_kept`` (False if the polish did not lower
        the loss, e.g. it became non-finite: the network is then the fitted one, unchanged),
        ``polish_iterations``, ``polish_evaluations``, ``polish_loss_before``,
        ``polish_loss_after`` and ``polish_seconds``.
    """
    start = time.perf_counter()
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    objective = _FullBatchObjective(network, features, labels, weights, weight_decay, on_evaluation)
    before = objective.value()
    fitted = copy.deepcopy(network.state_dict())
    optimizer = torch.optim.LBFGS(
        network.parameters(),
        lr=1.0,
        max_iter=iterations,
        max_eval=max_evaluations(iterations),
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )
    optimizer.step(objective)
    after = objective.value()
    kept = after <= before  # False also for a non-finite loss
    if not kept:  # a line search does not raise the loss; should it, the fit stands as it was
        network.load_state_dict(fitted)
    for parameter in network.parameters():
        parameter.grad = None
    return network, {
        "polish_kept": kept,
        "polish_iterations": int(optimizer.state[optimizer._params[0]].get("n_iter", 0)),
        "polish_evaluations": objective.evaluations,
        "polish_loss_before": before,
        "polish_loss_after": after,
        "polish_seconds": time.perf_counter() - start,
    }
