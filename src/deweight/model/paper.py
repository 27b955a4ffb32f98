"""The paper's training recipe (Sect. 3.1 of Lake & Tsai 2022): full-batch Adam, lr 2e-3, weight
decay 1e-4, each restart stopped when a step improves the loss by less than ``tol``.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from deweight.model.network import _StickBreakingNetwork, weighted_cross_entropy

__all__ = ["fit_paper"]

logger = logging.getLogger(__name__)


def fit_paper(
    model,
    features: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    torch_seeds: list[int],
) -> tuple[_StickBreakingNetwork, dict]:
    """The paper's recipe: full-batch Adam per restart, stopped at an improvement below ``tol``,
    best of the restarts by final training loss (Section 3.1 of Lake & Tsai 2022).

    ``model`` is the :class:`~deweight.model.Classifier` being fitted (its settings); returns the
    best network and the fit report.
    """
    total_weight = weights.sum()
    final_losses, steps, converged, networks = [], [], [], []
    for restart, torch_seed in enumerate(torch_seeds):
        network = model._new_network(torch_seed).to(features.device)
        optimizer = torch.optim.Adam(
            network.parameters(), lr=model._params["lr"], weight_decay=model._params["weight_decay"]
        )
        restart_start = time.perf_counter()
        previous_loss, done = math.inf, False
        bar = model._progress_bar(
            f"paper restart {restart + 1}/{model._params['restarts']}", model._params["max_steps"]
        )
        with bar:
            for step in range(1, model._params["max_steps"] + 1):
                optimizer.zero_grad(set_to_none=True)
                loss = weighted_cross_entropy(network(features), labels, weights, total_weight)
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    raise FloatingPointError(
                        f"paper recipe restart {restart}: loss became {loss_value} at step {step}"
                    )
                # The paper's criterion: the step just taken improved the loss by < tol
                # (a step that made it worse counts too). Its parameters are kept.
                if previous_loss - loss_value < model._params["tol"]:
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
