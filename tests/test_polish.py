"""The full-batch L-BFGS polish of the fast recipe (deweight.model.polish; issue 19).

Checked against an independent minimiser: without a hidden layer the stick-breaking network is
a chain of logistic regressions, whose weighted, L2-penalised loss is convex; SciPy's L-BFGS-B
on a NumPy implementation of the same loss finds the one minimum, and the polish must reach it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from deweight.model import Classifier
from deweight.model import fast as fast_module
from deweight.model.network import _StickBreakingNetwork
from deweight.model.polish import polish


def _problem(n_rows: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n_rows, p=[0.6, 0.3, 0.1])
    means = np.array([[0.0, 0.0], [1.5, 0.5], [0.5, 2.0]])
    features = rng.normal(means[labels], 1.0)
    weights = np.where(labels == 2, 5.0, 1.0)
    return features, labels, weights


def _numpy_loss(theta, features, labels, weights, weight_decay):
    """Stick-breaking cross-entropy (Eq. 17) of a linear model, weighted (Eq. 5), plus L2."""
    n_inputs = features.shape[1]
    w = theta[: 2 * n_inputs].reshape(2, n_inputs)
    b = theta[2 * n_inputs :]
    shifted = features @ w.T + b - np.log([2.0, 1.0])
    take = -np.logaddexp(0.0, -shifted)  # ln sigma
    leave = -np.logaddexp(0.0, shifted)  # ln (1 - sigma)
    log_probs = np.column_stack([take[:, 0], leave[:, 0] + take[:, 1], leave[:, 0] + leave[:, 1]])
    data = -(weights * log_probs[np.arange(labels.size), labels]).sum() / weights.sum()
    return data + 0.5 * weight_decay * float(theta @ theta)


def test_polish_reaches_the_minimum_of_a_convex_stick_breaking_loss():
    features, labels, weights = _problem()
    weight_decay = 1e-3
    torch.manual_seed(0)
    network = _StickBreakingNetwork(2, (), 3)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels)
    w = torch.as_tensor(weights, dtype=torch.float32)
    network, report = polish(network, x, y, w, weight_decay, iterations=200)
    theta = np.concatenate(
        [network.layers[0].weight.detach().numpy().ravel(), network.layers[0].bias.detach().numpy()]
    )
    reference = minimize(
        _numpy_loss,
        np.zeros(6),
        args=(features, labels, weights, weight_decay),
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000},
    )
    assert reference.success
    np.testing.assert_allclose(theta, reference.x, atol=2e-4)
    assert report["polish_loss_after"] == pytest.approx(reference.fun, abs=1e-6)
    assert report["polish_kept"] and report["polish_loss_after"] < report["polish_loss_before"]
    assert all(p.grad is None for p in network.parameters())


def test_polish_keeps_the_fit_when_the_loss_would_not_fall(monkeypatch):
    features, labels, weights = _problem(500)
    torch.manual_seed(1)
    network = _StickBreakingNetwork(2, (4,), 3)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    # A step that makes every parameter NaN: the loss becomes non-finite, the fit stands.
    monkeypatch.setattr(
        torch.optim.LBFGS,
        "step",
        lambda self, closure: [p.data.fill_(float("nan")) for p in self._params],
    )
    x = torch.as_tensor(features, dtype=torch.float32)
    network, report = polish(
        network, x, torch.as_tensor(labels), torch.ones(labels.size), 1e-4, iterations=5
    )
    assert report["polish_kept"] is False
    for name, value in network.state_dict().items():
        assert torch.equal(value, before[name])


def _fit(monkeypatch, iterations: int, min_rows: int):
    monkeypatch.setattr(fast_module, "_FAST_POLISH_ITERATIONS", iterations)
    monkeypatch.setattr(fast_module, "_FAST_POLISH_MIN_ROWS", min_rows)
    features, labels, weights = _problem(4000, seed=2)
    model = Classifier(hidden=(8,), restarts=2, seed=3, n_classes=3, progress=False, threads=1)
    return model.fit(features, labels, sample_weight=weights), features


def test_fast_fits_polish_from_the_size_threshold_and_only_there(monkeypatch):
    plain, features = _fit(monkeypatch, 0, 1000)
    below, _ = _fit(monkeypatch, 20, 10**6)
    polished, _ = _fit(monkeypatch, 20, 1000)
    # Below the threshold the fit is the unpolished one, bit for bit, and says nothing of it.
    assert np.array_equal(plain.predict_proba(features), below.predict_proba(features))
    assert "polish_iterations" not in below.fit_report_
    report = polished.fit_report_
    assert 0 < report["polish_iterations"] <= 20
    assert report["polish_loss_after"] < report["polish_loss_before"]
    same = np.array_equal(plain.predict_proba(features), polished.predict_proba(features))
    if report["polish_kept"]:
        assert not same
    else:  # only the held-out guard, when on, undoes a polish that lowered the loss
        assert fast_module._FAST_POLISH_HELD_OUT_GUARD
        assert report["polish_held_out_loss_after"] > report["polish_held_out_loss_before"]
        assert same


def test_a_polish_that_raises_the_held_out_loss_is_undone(monkeypatch):
    def ruinous(network, *args, **kwargs):
        with torch.no_grad():
            for parameter in network.parameters():
                parameter.mul_(-3.0)  # a network much worse on any rows
        return network, {"polish_kept": True}

    plain, features = _fit(monkeypatch, 0, 1000)
    monkeypatch.setattr(fast_module, "polish", ruinous)
    monkeypatch.setattr(fast_module, "_FAST_POLISH_HELD_OUT_GUARD", True)
    guarded, _ = _fit(monkeypatch, 20, 1000)
    report = guarded.fit_report_
    assert report["polish_kept"] is False
    assert report["polish_held_out_loss_after"] > report["polish_held_out_loss_before"]
    assert np.array_equal(plain.predict_proba(features), guarded.predict_proba(features))
