"""Tests of the stick-breaking perceptron classifier of Section 3.1 of Lake & Tsai (2022)."""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deweight import model as model_module
from deweight.errors import ConvergenceWarning
from deweight.model import (
    _AUGMENT_BLOCK_ROWS,
    Classifier,
    RangeScaler,
    _BatchedRestarts,
    _fast_first_layer_dtype,
    _FusedAdam,
    _ParameterAverage,
    _resolve_device,
    _shuffle_once_batches,
    _StickBreakingNetwork,
    _Workspace,
    augment_quadratic,
    augmentation_exponents,
    count_parameters,
    fast_weight_decay,
    stick_breaking_log_probabilities,
    stick_breaking_probabilities,
    weighted_cross_entropy,
)
from deweight.model import fast as fast_module
from deweight.priors import effective_prior, weighted_prior
from deweight.simulate import CLASS_FRACTIONS, draw, true_posterior

# Small, quick settings shared by the tests that fit: the behaviour under test does not depend
# on the network's size.
QUICK = {"hidden": (8,), "restarts": 2, "progress": False, "threads": 1}


def _simulated(n: int, seed: int = 0):
    return draw(n, CLASS_FRACTIONS, np.random.default_rng(seed))


def _mean_kl(p_true: np.ndarray, p_model: np.ndarray) -> float:
    return float(np.mean(np.sum(p_true * (np.log(p_true) - np.log(p_model)), axis=1)))


# --- Eq. 17: stick-breaking link -------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 6)),
        elements=st.one_of(
            st.floats(-50, 50),
            st.floats(-1e300, 1e300),
            st.sampled_from([-1e300, -745.0, -40.0, 0.0, 40.0, 745.0, 1e300]),
        ),
    )
)
def test_stick_breaking_probabilities_sum_to_one_for_any_outputs(outputs):
    log_probs = stick_breaking_log_probabilities(outputs)
    assert log_probs.shape == (outputs.shape[0], outputs.shape[1] + 1)
    assert np.all(np.isfinite(log_probs)) and np.all(log_probs <= 0)
    np.testing.assert_allclose(np.exp(log_probs).sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 5, 10])
def test_zero_outputs_give_equal_probabilities(n_classes):
    probabilities = stick_breaking_probabilities(np.zeros((4, n_classes - 1)))
    np.testing.assert_allclose(probabilities, 1.0 / n_classes, rtol=1e-14)


def test_zero_network_gives_equal_probabilities():
    network = _StickBreakingNetwork(80, (32,), 3).double()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
    features = torch.randn(7, 80, dtype=torch.float64)
    np.testing.assert_allclose(torch.exp(network(features)).detach().numpy(), 1 / 3, rtol=1e-14)


def test_stick_breaking_matches_the_direct_product_formula():
    outputs = np.random.default_rng(0).normal(0, 3, size=(50, 4))
    offsets = np.log(np.arange(4, 0, -1))  # b_i = ln(N - 1 - i), N = 5

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    expected = np.empty((50, 5))
    left = np.ones(50)
    for i in range(4):
        expected[:, i] = sigmoid(outputs[:, i] - offsets[i]) * left
        left = left * (1 - sigmoid(outputs[:, i] - offsets[i]))
    expected[:, 4] = left
    np.testing.assert_allclose(stick_breaking_probabilities(outputs), expected, rtol=1e-12)


def test_stick_breaking_inverts_its_log_odds_definition():
    # Eq. 17 defines y_i = ln(P(i) / sum_{j>i} P(j)) + b_i; feeding those y back must return P.
    probabilities = np.random.default_rng(1).dirichlet(np.ones(4), size=30)
    tail = np.cumsum(probabilities[:, ::-1], axis=1)[:, ::-1]  # sum_{j>=i} P(j)
    outputs = np.log(probabilities[:, :-1] / tail[:, 1:]) + np.log(np.arange(3, 0, -1))
    np.testing.assert_allclose(stick_breaking_probabilities(outputs), probabilities, rtol=1e-10)


def test_stick_breaking_keeps_torch_gradients():
    outputs = torch.zeros(2, 2, requires_grad=True)
    stick_breaking_log_probabilities(outputs)[:, 0].sum().backward()
    assert outputs.grad is not None and torch.all(outputs.grad[:, 0] > 0)


def test_stick_breaking_rejects_a_single_class():
    with pytest.raises(ValueError, match="N >= 2"):
        stick_breaking_probabilities(np.zeros((3, 0)))


# --- Feature scaling and augmentation -------------------------------------------------------


@pytest.mark.parametrize(
    ("n_features", "convention", "n_terms"),
    [
        (4, "interpolation", 80),
        (2, "interpolation", 8),
        (4, "mathematician", 14),
        (5, "mathematician", 20),
        (4, "none", 4),
    ],
)
def test_augmentation_sizes_and_products(n_features, convention, n_terms):
    exponents = augmentation_exponents(n_features, convention)
    assert exponents.shape == (n_terms, n_features)
    assert len({tuple(row) for row in exponents}) == n_terms  # no term twice
    degree = exponents.sum(axis=1)
    assert degree.min() >= 1
    if convention == "interpolation":
        assert exponents.max() == 2 and degree.max() == 2 * n_features
    elif convention == "mathematician":
        assert degree.max() == 2
    # The first n_features terms are the plain features.
    np.testing.assert_array_equal(exponents[:n_features], np.eye(n_features))
    X = np.random.default_rng(2).uniform(-1, 1, size=(9, n_features))
    expected = np.prod(X[:, None, :] ** exponents[None, :, :], axis=2)
    np.testing.assert_allclose(augment_quadratic(X, convention), expected, rtol=1e-14)
    tensor = augment_quadratic(torch.as_tensor(X), convention)
    assert isinstance(tensor, torch.Tensor)
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=1e-14)


@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_augmentation_across_row_blocks(as_tensor, dtype):
    # Rows are augmented in blocks of reused buffers: every block, the short last one
    # included, must give the direct product formula, and an empty input an empty output.
    n_rows = 2 * _AUGMENT_BLOCK_ROWS + 3
    X = np.random.default_rng(3).uniform(-1.5, 1.5, size=(n_rows, 4)).astype(dtype)
    exponents = augmentation_exponents(4, "interpolation")
    expected = np.prod(X[:, None, :].astype(np.float64) ** exponents[None, :, :], axis=2)
    for rows in (slice(0, n_rows), slice(0, 0), slice(5, 6)):
        data = torch.as_tensor(X[rows]) if as_tensor else X[rows]
        out = augment_quadratic(data, "interpolation")
        assert isinstance(out, torch.Tensor) == as_tensor
        out = np.asarray(out)
        assert out.dtype == dtype and out.shape == (X[rows].shape[0], 80)
        np.testing.assert_allclose(out, expected[rows], rtol=4 * np.finfo(dtype).eps)


def test_augmentation_rejects_unknown_convention():
    with pytest.raises(ValueError, match="convention"):
        augment_quadratic(np.zeros((2, 3)), "cubic")


def test_range_scaler_maps_training_range_to_plus_minus_one():
    X = np.random.default_rng(3).normal(5, 3, size=(200, 4))
    scaler = RangeScaler().fit(X)
    scaled = scaler.transform(X)
    np.testing.assert_allclose(scaled.min(axis=0), -1.0)
    np.testing.assert_allclose(scaled.max(axis=0), 1.0)
    np.testing.assert_allclose(scaler.transform(X.min(axis=0, keepdims=True)), -1.0)
    # Linear: the midpoint of the range maps to 0.
    midpoint = (X.min(axis=0) + X.max(axis=0)) / 2
    np.testing.assert_allclose(scaler.transform(midpoint[None]), 0.0, atol=1e-15)
    restored = RangeScaler.from_state_dict(scaler.state_dict())
    np.testing.assert_array_equal(restored.transform(X), scaled)


def test_range_scaler_names_a_constant_column():
    X = np.random.default_rng(3).normal(size=(10, 3))
    X[:, 1] = 4.0
    with pytest.raises(ValueError, match="column 1 is constant"):
        RangeScaler().fit(X)


def test_range_scaler_names_a_non_finite_entry():
    X = np.ones((4, 2))
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"X\[2, 1\]"):
        RangeScaler().fit(X)


# --- Parameter counts (Sections 3.2-3.4) ----------------------------------------------------


def _module_parameters(n_inputs, hidden, n_classes):
    network = _StickBreakingNetwork(n_inputs, hidden, n_classes)
    return sum(p.numel() for p in network.parameters())


def test_parameter_count_of_the_simulation_network():
    """Section 3.2: [(3^4 - 1) x 32 + 32] + [32 x 2 + 2] = 2,658."""
    assert count_parameters(80, (32,), 3) == _module_parameters(80, (32,), 3) == 2_658


def test_parameter_count_of_the_star_galaxy_agn_network():
    """Section 3.3: [(3^2 - 1) x 128 + 128] + [128 x 32 + 32] + [32 x 2 + 2] = 5,346."""
    assert count_parameters(8, (128, 32), 3) == _module_parameters(8, (128, 32), 3) == 5_346


def test_parameter_count_of_the_blazar_network():
    """Section 3.4: five classes need N - 1 = 4 outputs, so 6,948 parameters, not 6,915.

    The paper writes [1/2 5 (5 + 3) x 128 + 128] + [128 x 32 + 32] + [32 x 3 + 3] = 6,915, but
    a five-class stick-breaking network (Eq. 17) has four outputs; its last layer has
    32 x 4 + 4 = 132 parameters, not 32 x 3 + 3 = 99. The paper's last bracket looks carried
    over from the three-output form; the other two brackets (2,688 and 4,128) agree.
    """
    n_inputs = augmentation_exponents(5, "mathematician").shape[0]
    assert n_inputs == 20
    assert count_parameters(n_inputs, (128, 32), 5) == _module_parameters(20, (128, 32), 5)
    assert count_parameters(n_inputs, (128, 32), 5) == 6_948
    assert 20 * 128 + 128 + 128 * 32 + 32 + 32 * 3 + 3 == 6_915  # the paper's arithmetic


# --- Loss -----------------------------------------------------------------------------------


def test_integer_weights_act_like_clones():
    # Eqs. 5-6: weight w_n on an example is the same loss as w_n identical copies of it.
    generator = torch.Generator().manual_seed(0)
    log_probs = torch.log_softmax(torch.randn(6, 3, generator=generator), dim=-1)
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    weights = torch.tensor([1.0, 3.0, 2.0, 1.0, 4.0, 1.0])
    cloned = torch.repeat_interleave(torch.arange(6), weights.long())
    weighted = weighted_cross_entropy(log_probs, labels, weights)
    copies = weighted_cross_entropy(log_probs[cloned], labels[cloned], torch.ones(cloned.numel()))
    torch.testing.assert_close(weighted, copies)
    # Scale-free: multiplying every weight by a constant changes nothing.
    torch.testing.assert_close(weighted_cross_entropy(log_probs, labels, 7 * weights), weighted)


def test_batched_restarts_train_exactly_like_separate_networks():
    # Adam is element-wise and the batched loss is a sum, so each member must follow the path
    # it would follow alone -- including after the others are dropped with keep().
    torch.manual_seed(0)
    members = [_StickBreakingNetwork(6, (5, 4), 3).double() for _ in range(3)]
    alone = [_StickBreakingNetwork(6, (5, 4), 3).double().requires_grad_(False) for _ in range(3)]
    for source, target in zip(members, alone, strict=True):
        target.load_state_dict(source.state_dict())
        target.requires_grad_(True)
    batched = _BatchedRestarts(members)
    batched_optimizer = torch.optim.Adam(batched.parameters(), lr=1e-2, weight_decay=1e-3)
    alone_optimizers = [torch.optim.Adam(n.parameters(), lr=1e-2, weight_decay=1e-3) for n in alone]
    features = torch.randn(40, 6, dtype=torch.float64)
    labels = torch.randint(0, 3, (40,))
    weights = torch.rand(40, dtype=torch.float64)

    def step_all():
        batched_optimizer.zero_grad()
        weighted_cross_entropy(batched(features), labels, weights).sum().backward()
        batched_optimizer.step()
        for network, optimizer in zip(alone, alone_optimizers, strict=True):
            optimizer.zero_grad()
            weighted_cross_entropy(network(features), labels, weights).backward()
            optimizer.step()

    for _ in range(5):
        step_all()
    for member, network in enumerate(alone):
        check = _StickBreakingNetwork(6, (5, 4), 3).double()
        batched.load_member_into(batched.member_state(member), check)
        torch.testing.assert_close(check(features), network(features))
    batched_optimizer = batched.keep(1, batched_optimizer)
    alone, alone_optimizers = alone[1:2], alone_optimizers[1:2]
    for _ in range(5):
        step_all()
    check = _StickBreakingNetwork(6, (5, 4), 3).double()
    batched.load_member_into(batched.member_state(0), check)
    torch.testing.assert_close(check(features), alone[0](features))


@pytest.mark.parametrize(
    ("hidden", "n_classes"), [((5, 4), 3), ((7,), 4), ((), 3), ((6,), 2), ((3, 5, 2), 5)]
)
def test_hand_written_gradients_match_autograd(hidden, n_classes):
    # The fast recipe writes the gradient of Eq. 5 through Eq. 17 by hand; autograd on the
    # batched network's forward() is the independent reference.
    torch.manual_seed(1)
    batched = _BatchedRestarts(
        [_StickBreakingNetwork(6, hidden, n_classes).double() for _ in range(3)]
    )
    features = 3 * torch.randn(40, 6, dtype=torch.float64)  # large outputs: saturated links
    labels = torch.randint(0, n_classes, (40,))
    weights = torch.rand(40, dtype=torch.float64)
    total_weight = 17.0
    weighted_cross_entropy(batched(features), labels, weights, total_weight).sum().backward()
    reference = [parameter.grad.clone() for parameter in batched.parameters()]
    batched.allocate_gradients()
    classes = torch.arange(n_classes - 1)
    target = (classes[:, None] == labels).double()  # (N - 1, n), as compute_gradients takes them
    scale = (classes[:, None] <= labels) * (weights / total_weight)
    batched.compute_gradients(features, target, scale, _Workspace(batched, 64))
    for parameter, expected in zip(batched.parameters(), reference, strict=True):
        torch.testing.assert_close(parameter.grad, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("hidden", "n_classes"), [((32,), 3), ((7, 4), 4), ((6,), 2)])
def test_bfloat16_first_layer_gradients_stay_close_to_float32(hidden, n_classes):
    # With bfloat16 features the first layer's two products round their operands and results
    # to 8 significant bits, and a unit whose pre-activation rounds across zero flips its
    # ReLU; over a 4,000-row batch each member's gradient must still be autograd's to a few
    # per cent (a mis-wired member, layer or bias is off by 50 % or more).
    torch.manual_seed(3)
    batched = _BatchedRestarts([_StickBreakingNetwork(80, hidden, n_classes) for _ in range(3)])
    features = (2 * torch.rand(4000, 80) - 1).bfloat16()  # exactly representable in both
    labels = torch.randint(0, n_classes, (4000,))
    weights = torch.rand(4000)
    weighted_cross_entropy(batched(features.float()), labels, weights, 50.0).sum().backward()
    reference = [parameter.grad.clone() for parameter in batched.parameters()]
    batched.allocate_gradients()
    classes = torch.arange(n_classes - 1)
    target = (classes[:, None] == labels).float()
    scale = (classes[:, None] <= labels) * (weights / 50.0)
    workspace = _Workspace(batched, 4096, torch.bfloat16)
    batched.compute_gradients(features, target, scale, workspace)
    for parameter, expected in zip(batched.parameters(), reference, strict=True):
        for member in range(3):
            error = (parameter.grad[member] - expected[member]).norm() / expected[member].norm()
            assert error < 0.05, (tuple(parameter.shape), member, float(error))
    # The float32 path on the same batch is autograd's to float32 rounding.
    batched.compute_gradients(features.float(), target, scale, _Workspace(batched, 4096))
    for parameter, expected in zip(batched.parameters(), reference, strict=True):
        torch.testing.assert_close(parameter.grad, expected, rtol=1e-4, atol=1e-6)


def test_bfloat16_first_layer_only_on_a_cpu_with_it_a_hidden_layer_and_big_batches(
    monkeypatch,
):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert _fast_first_layer_dtype(cpu, (32,), 4096) == torch.bfloat16
    assert _fast_first_layer_dtype(cpu, (32,), 1024) == torch.bfloat16
    assert _fast_first_layer_dtype(cpu, (32,), 1023) == torch.float32
    assert _fast_first_layer_dtype(cpu, (), 4096) == torch.float32
    assert _fast_first_layer_dtype(cuda, (32,), 4096) == torch.float32
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert _fast_first_layer_dtype(cpu, (32,), 4096) == torch.float32
    # What the fit used is in its report (600 rows: batches of 256).
    X, y = _simulated(600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        report = Classifier(**QUICK, max_steps=100, device="cpu").fit(X, y).fit_report_
    assert report["first_layer_dtype"] == "float32"


def _small_step_batch(n: int = 40, n_features: int = 6, n_classes: int = 3):
    """Features and the (target, scale) rows of compute_gradients for n random float64 examples.

    target and scale are laid out (N - 1, n), as the fast recipe stores them.
    """
    features = torch.randn(n, n_features, dtype=torch.float64)
    labels = torch.randint(0, n_classes, (n,))
    classes = torch.arange(n_classes - 1)
    target = (classes[:, None] == labels).double()
    scale = (classes[:, None] <= labels) * torch.rand(n, dtype=torch.float64) / n
    return features, target, scale


def test_hand_written_batched_steps_train_like_separate_networks():
    # The fast recipe's own step (compute_gradients, then Adam) on 3 members at once
    # must move each member as the same step on that member alone does, over many steps and
    # after the others are dropped.
    torch.manual_seed(6)
    nets = [_StickBreakingNetwork(6, (5,), 3).double() for _ in range(3)]
    together = _BatchedRestarts(nets)
    alone = [_BatchedRestarts([net]) for net in nets]
    optimizers = [
        torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=1e-3) for b in [together, *alone]
    ]
    for batched in [together, *alone]:
        batched.allocate_gradients()
    features, target, scale = _small_step_batch()
    workspaces = [_Workspace(b, 40) for b in [together, *alone]]
    for _ in range(20):
        for batched, optimizer, workspace in zip(
            [together, *alone], optimizers, workspaces, strict=True
        ):
            batched.compute_gradients(features, target, scale, workspace)
            optimizer.step()
    for member, single in enumerate(alone):
        for got, want in zip(together.member_state(member), single.member_state(0), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    optimizers[0] = together.keep(2, optimizers[0])
    together.allocate_gradients()
    workspaces[0] = _Workspace(together, 40)
    for _ in range(10):
        for batched, optimizer, workspace in zip(
            [together, alone[2]],
            [optimizers[0], optimizers[3]],
            [workspaces[0], workspaces[3]],
            strict=True,
        ):
            batched.compute_gradients(features, target, scale, workspace)
            optimizer.step()
    for got, want in zip(together.member_state(0), alone[2].member_state(0), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_parameter_average_is_a_running_then_exponential_mean():
    torch.manual_seed(4)
    batched = _BatchedRestarts([_StickBreakingNetwork(3, (2,), 3).double() for _ in range(2)])
    start = [p.detach().clone() for p in batched.parameters()]
    average = _ParameterAverage(batched, decay=0.9)
    values = torch.randn(15, dtype=torch.float64)
    for value in values:
        with torch.no_grad():
            for parameter in batched.parameters():
                parameter.fill_(value)
        average.update()
        if average.updates == 8:
            # The first updates weigh 1/2, 1/3, ...: the plain mean of the start and the steps.
            with average.swapped_in():
                for parameter, initial in zip(batched.parameters(), start, strict=True):
                    expected = (initial + values[:8].sum()) / 9
                    torch.testing.assert_close(parameter, expected, rtol=1e-12, atol=1e-12)
            # Leaving the block restores the current parameters.
            assert all(torch.all(p == values[7]) for p in batched.parameters())
    # From the 9th update on, weight 1 - decay = 0.1: an exponential mean.
    expected = [(initial + values[:9].sum()) / 10 for initial in start]
    for value in values[9:]:
        expected = [e + 0.1 * (value - e) for e in expected]
    with average.swapped_in():
        for parameter, want in zip(batched.parameters(), expected, strict=True):
            torch.testing.assert_close(parameter, want, rtol=1e-12, atol=1e-12)


def test_averaged_batched_restarts_average_each_member_as_alone():
    # Averaging 3 members trained together gives, member by member, the average of the same
    # member trained alone, also after keep() has dropped the others.
    torch.manual_seed(9)
    nets = [_StickBreakingNetwork(6, (5,), 3).double() for _ in range(3)]
    together = _BatchedRestarts(nets)
    alone = [_BatchedRestarts([net]) for net in nets]
    batched_all = [together, *alone]
    optimizers = [torch.optim.Adam(b.parameters(), lr=1e-2) for b in batched_all]
    averages = [_ParameterAverage(b, decay=0.8) for b in batched_all]
    for batched in batched_all:
        batched.allocate_gradients()
    features, target, scale = _small_step_batch()
    workspaces = [_Workspace(b, 40) for b in batched_all]

    def steps(which, n):
        for _ in range(n):
            for i in which:
                batched_all[i].compute_gradients(features, target, scale, workspaces[i])
                optimizers[i].step()
                averages[i].update()

    def averaged_state(i, member):
        with averages[i].swapped_in():
            return batched_all[i].member_state(member)

    steps([0, 1, 2, 3], 20)
    for member in range(3):
        for got, want in zip(averaged_state(0, member), averaged_state(member + 1, 0), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
        # The average is not the last iterate (the test would pass trivially otherwise).
        assert not torch.equal(averaged_state(0, member)[0], together.member_state(member)[0])
    optimizers[0] = together.keep(2, optimizers[0])
    averages[0].keep(2, together)
    together.allocate_gradients()
    workspaces[0] = _Workspace(together, 40)
    steps([0, 3], 10)
    for got, want in zip(averaged_state(0, 0), averaged_state(3, 0), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def _fit_small(monkeypatch, min_batch, seed=5):
    monkeypatch.setattr(fast_module, "_FAST_AVERAGE_MIN_BATCH", min_batch)
    monkeypatch.setattr(fast_module, "_FAST_SHUFFLE_ONCE_MIN_BATCH", min_batch)
    X, y = _simulated(3_000, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = Classifier(**QUICK, max_steps=1_500, device="cpu").fit(X, y)
    return classifier, classifier.predict_proba(X[:300])


def test_small_fits_are_unchanged_by_the_large_set_gates(monkeypatch):
    # 2,700 rows fitted: batches of 256, below the gates (averaging and shuffle-once). The
    # default fit must be bit-identical to one with the gates forced off, and differ from one
    # with them forced on.
    assert fast_module._FAST_SHUFFLE_ONCE_MIN_BATCH == fast_module._FAST_AVERAGE_MIN_BATCH
    default, p_default = _fit_small(monkeypatch, fast_module._FAST_AVERAGE_MIN_BATCH)
    assert default.fit_report_["batch_size"] < fast_module._FAST_AVERAGE_MIN_BATCH
    assert default.fit_report_["parameter_average_decay"] is None
    off, p_off = _fit_small(monkeypatch, 10**12)
    np.testing.assert_array_equal(p_default, p_off)
    assert default.fit_report_["steps"] == off.fit_report_["steps"]
    on, p_on = _fit_small(monkeypatch, 1)
    assert on.fit_report_["parameter_average_decay"] == fast_module._FAST_AVERAGE_DECAY
    assert not np.array_equal(p_default, p_on)


def test_fast_returns_the_averaged_parameters_of_its_best_evaluation(monkeypatch):
    # With the gate forced on, record what the network holds at each held-out evaluation:
    # the averaged parameters (inside swapped_in) and the last iterate (outside). The fit must
    # return the averaged parameters of one of its evaluations, never a last iterate.
    averaged, last = [], []
    original = _ParameterAverage.swapped_in

    @contextmanager
    def recording(self):
        last.append([p.detach().clone() for p in self._parameters])
        with original(self):
            averaged.append([p.detach().clone() for p in self._parameters])
            yield

    monkeypatch.setattr(_ParameterAverage, "swapped_in", recording)
    monkeypatch.setattr(fast_module, "_FAST_AVERAGE_MIN_BATCH", 1)
    X, y = _simulated(600, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = Classifier(**{**QUICK, "restarts": 1}, max_steps=500).fit(X, y)
    assert classifier.fit_report_["parameter_average_decay"] == fast_module._FAST_AVERAGE_DECAY
    returned = list(classifier._network.parameters())  # Linear weights are (out, in)

    def same(snapshot):
        n_layers = len(snapshot) // 2
        as_linear = [w[0].T for w in snapshot[:n_layers]] + [b[0, 0] for b in snapshot[n_layers:]]
        order = [0, n_layers, *[i for k in range(1, n_layers) for i in (k, n_layers + k)]]
        return all(torch.equal(returned[j], as_linear[i].double()) for j, i in enumerate(order))

    assert len(averaged) >= 5
    assert any(same(snapshot) for snapshot in averaged)
    assert not any(same(snapshot) for snapshot in last)


@pytest.mark.parametrize("n_rows, batch_size", [(4096, 1024), (10_000, 1024), (7, 7), (9, 4)])
def test_shuffle_once_batches_cover_every_row_once_per_epoch(n_rows, batch_size):
    generator = torch.Generator().manual_seed(3)
    batches = _shuffle_once_batches(n_rows, batch_size, generator)
    n_batches = -(-n_rows // batch_size)
    assert batches.shape == (n_batches, batch_size)
    counts = torch.bincount(batches.reshape(-1), minlength=n_rows)
    assert counts.numel() == n_rows
    # Every row once; only the filler of the last batch (fewer than a batch) twice.
    assert torch.all(counts >= 1) and torch.all(counts <= 2)
    assert int((counts == 2).sum()) == n_batches * batch_size - n_rows < batch_size
    # A permutation, not the identity; the same generator seed gives the same batches.
    assert not torch.equal(batches.reshape(-1)[:n_rows], torch.arange(n_rows)) or n_rows < 3
    again = _shuffle_once_batches(n_rows, batch_size, torch.Generator().manual_seed(3))
    assert torch.equal(batches, again)


def test_shuffle_once_fit_reads_batches_as_slices_of_one_array(monkeypatch):
    # From the gate on, every step's batch is a view into one array holding all the batches,
    # block k at offset k * batch rows, and each epoch visits every block once, in a fresh
    # order. Below the gate, every batch is gathered into the same preallocated buffer.
    seen = []
    original = _BatchedRestarts.compute_gradients

    def recording(self, features, target, scale, workspace):
        assert features.is_contiguous() and target.is_contiguous() and scale.is_contiguous()
        offset = features.data_ptr() - features.untyped_storage().data_ptr()
        seen.append((features.untyped_storage().data_ptr(), offset, features.shape))
        block_bytes = features.numel() * features.element_size()
        assert offset % block_bytes == 0
        return original(self, features, target, scale, workspace)

    monkeypatch.setattr(_BatchedRestarts, "compute_gradients", recording)
    X, y = _simulated(3_000, seed=5)  # 2,700 rows fitted, batches of 256
    for gate, shuffled_once in ((1, True), (10**12, False)):
        monkeypatch.setattr(fast_module, "_FAST_SHUFFLE_ONCE_MIN_BATCH", gate)
        seen.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = Classifier(**QUICK, max_steps=40, device="cpu").fit(X, y)
        batch, n_fit = fit.fit_report_["batch_size"], fit.fit_report_["n_fit"]
        assert len(seen) == 40 and all(shape[0] == batch for _, _, shape in seen)
        assert len({storage for storage, _, _ in seen}) == 1
        offsets = [offset for _, offset, _ in seen]
        if shuffled_once:
            # Block numbers: offsets in units of one batch (the recording checked that they
            # divide exactly).
            n_batches = -(-n_fit // batch)
            block_bytes = max(offsets) // (n_batches - 1)
            blocks = [o // block_bytes for o in offsets]
            first, second = blocks[:n_batches], blocks[n_batches : 2 * n_batches]
            assert sorted(first) == list(range(n_batches)) == sorted(second)  # each once
            assert first != second  # a fresh order each epoch
        else:
            assert set(offsets) == {0}


def test_bfloat16_fit_is_reproducible_for_a_seed():
    if not getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
        pytest.skip("this CPU has no AVX-512 BF16; the fit stays float32")
    X, y = _simulated(75_000, seed=7)  # 67,500 rows fitted: batches of 1,054 rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [Classifier(**QUICK, max_steps=150, device="cpu").fit(X, y) for _ in range(2)]
    assert fits[0].fit_report_["first_layer_dtype"] == "bfloat16"
    assert fits[0].fit_report_["batch_size"] >= 1024
    np.testing.assert_array_equal(fits[0].predict_proba(X[:500]), fits[1].predict_proba(X[:500]))


def test_chunked_held_out_losses_match_the_whole_set_loss():
    torch.manual_seed(2)
    batched = _BatchedRestarts([_StickBreakingNetwork(6, (5,), 3).double() for _ in range(4)])
    features = torch.randn(50, 6, dtype=torch.float64)
    labels = torch.randint(0, 3, (50,))
    weights = torch.rand(50, dtype=torch.float64)
    expected = weighted_cross_entropy(batched(features), labels, weights)
    for rows in (7, 50, 64):  # a short last chunk, exactly one chunk, a part-filled one
        losses = batched.held_out_losses(features, labels, weights, _Workspace(batched, rows))
        torch.testing.assert_close(losses, expected.detach(), rtol=1e-12, atol=0)


# --- Classifier -----------------------------------------------------------------------------


def test_fit_predicts_probabilities_and_reports():
    X, y = _simulated(600)
    classifier = Classifier(**QUICK).fit(X, y)
    probabilities = classifier.predict_proba(X[:50])
    assert probabilities.shape == (50, 3) and probabilities.dtype == np.float64
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    assert classifier.n_classes_ == 3
    assert classifier.n_parameters_ == count_parameters(80, (8,), 3)
    report = classifier.fit_report_
    assert report["recipe"] == "fast" and report["restarts"] == 2
    assert report["best_restart"] in (0, 1) and len(report["final_loss"]) == 2
    # The device under test is whatever "auto" resolves to on this machine.
    assert report["threads"] == 1 and report["device"] == str(_resolve_device("auto"))
    assert torch.device(report["device"]).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert report["wall_seconds"] > 0
    # The fast recipe's prior is that of the rows it fitted (10 % are held out to stop early).
    fit_counts = np.asarray(report["fit_class_counts"])
    assert fit_counts.sum() == report["n_fit"] < y.size
    np.testing.assert_allclose(classifier.prior_, fit_counts / fit_counts.sum(), rtol=1e-12)
    np.testing.assert_allclose(classifier.prior_, np.bincount(y, minlength=3) / y.size, atol=0.01)


def test_fast_report_counts_the_examples_processed():
    X, y = _simulated(600, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = Classifier(**{**QUICK, "restarts": 1}, max_steps=120).fit(X, y).fit_report_
        three = Classifier(**{**QUICK, "restarts": 3}, max_steps=600).fit(X, y).fit_report_
    assert one["examples_processed"] == one["steps"][0] * one["batch_size"]
    # Three restarts train side by side until the screening, then one goes on alone.
    steps = max(s for s in three["steps"] if s is not None)
    assert steps * three["batch_size"] < three["examples_processed"]
    assert three["examples_processed"] < 3 * steps * three["batch_size"]
    assert (three["examples_processed"] - steps * three["batch_size"]) % (
        2 * three["batch_size"]
    ) == 0


def test_fast_prior_excludes_the_held_out_example_of_a_tiny_class():
    """A class with two examples loses one to early stopping; the prior must say so."""
    X, y = _simulated(600, seed=4)
    rare = np.flatnonzero(y == 2)
    keep = np.ones(y.size, bool)
    keep[rare[2:]] = False
    X, y = X[keep], y[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = Classifier(**QUICK, max_steps=100).fit(X, y)
    n_fit = classifier.fit_report_["n_fit"]
    assert classifier.prior_[2] == pytest.approx(1 / n_fit)
    assert classifier.prior_[2] < 2 / y.size


def test_weighted_fit_prior_is_eq7():
    X, y = _simulated(600, seed=1)
    counts = np.bincount(y, minlength=3)
    class_weights = y.size / counts  # w_i = 1 / P(i), Eq. 19
    with warnings.catch_warnings():  # a short fit is enough: the prior does not depend on it
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = Classifier(**QUICK, recipe="paper", max_steps=200).fit(
            X, y, sample_weight=class_weights[y]
        )
    # Eq. 7 with w_i = 1/P(i): every class gets the same total weight (the paper recipe fits
    # every row, so the weights' balance is exact).
    np.testing.assert_allclose(classifier.prior_, [1 / 3, 1 / 3, 1 / 3], rtol=1e-12)
    np.testing.assert_allclose(
        classifier.prior_, weighted_prior(counts / y.size, class_weights), rtol=1e-12
    )
    np.testing.assert_allclose(
        classifier.prior_, effective_prior(y, class_weights[y], n_classes=3), rtol=1e-12
    )


def test_save_load_round_trip(tmp_path):
    X, y = _simulated(400, seed=2)
    with warnings.catch_warnings():  # a short fit is enough to test the round trip
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = Classifier(**QUICK, max_steps=300, seed=3).fit(X, y)
    path = tmp_path / "model.pt"
    classifier.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left
    loaded = Classifier.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), classifier.predict_proba(X))
    np.testing.assert_array_equal(loaded.prior_, classifier.prior_)
    assert loaded.n_parameters_ == classifier.n_parameters_
    assert loaded.fit_report_ == classifier.fit_report_
    assert tuple(loaded.hidden) == (8,) and loaded.seed == 3


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"format": "something else"}, path)
    with pytest.raises(ValueError, match="not a classifier"):
        Classifier.load(path)


@pytest.mark.parametrize("recipe", ["fast", "paper"])
def test_fit_is_reproducible_for_a_seed(recipe):
    X, y = _simulated(300, seed=4)
    settings_ = {**QUICK, "recipe": recipe, "max_steps": 150}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = Classifier(**settings_, seed=5).fit(X, y).predict_proba(X)
        again = Classifier(**settings_, seed=5).fit(X, y).predict_proba(X)
        other = Classifier(**settings_, seed=6).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_paper_recipe_warns_when_it_hits_max_steps():
    X, y = _simulated(200, seed=5)
    with pytest.warns(ConvergenceWarning, match="max_steps=20"):
        classifier = Classifier(**QUICK, recipe="paper", max_steps=20).fit(X, y)
    assert classifier.fit_report_["converged"] == [False, False]
    assert classifier.fit_report_["steps"] == [20, 20]


def test_paper_recipe_stops_when_a_step_stops_improving():
    X, y = _simulated(150, seed=6)
    settings_ = {**QUICK, "recipe": "paper", "restarts": 1, "lr": 5e-2, "tol": 1e-3}
    classifier = Classifier(**settings_).fit(X, y)
    report = classifier.fit_report_
    assert report["converged"] == [True] and report["steps"][0] < 25_000


def test_kl_to_the_true_posterior_falls_with_training_size():
    X, y = _simulated(10_000, seed=7)
    X_test, _ = _simulated(5_000, seed=8)
    kl = {}
    for n in (300, 10_000):
        classifier = Classifier(**QUICK).fit(X[:n], y[:n])
        truth = true_posterior(X_test, classifier.prior_)
        kl[n] = _mean_kl(truth, classifier.predict_proba(X_test))
    assert kl[10_000] < 0.5 * kl[300], kl


def test_a_class_without_examples_is_named():
    X, y = _simulated(200, seed=9)
    keep = y != 2
    with pytest.raises(ValueError, match="class 2 has no examples"):
        Classifier(**QUICK, n_classes=3).fit(X[keep], y[keep])


def test_bad_inputs_are_named():
    X, y = _simulated(50, seed=10)
    X_bad = X.copy()
    X_bad[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"X\[7, 3\]"):
        Classifier(**QUICK).fit(X_bad, y)
    with pytest.raises(ValueError, match="y has shape"):
        Classifier(**QUICK).fit(X, y[:-1])
    with pytest.raises(ValueError, match="recipe"):
        Classifier(recipe="slow").fit(X, y)
    with pytest.raises(ValueError, match="not fitted"):
        Classifier().predict_proba(X)


def test_fused_adam_steps_like_torch_adam():
    # The fast recipe's optimizer runs torch.optim.Adam(fused=True)'s kernels without the
    # Optimizer machinery: the same steps must give the same bits, also after a learning-rate
    # cut and after keep() has carried the state of one member over.
    torch.manual_seed(11)
    nets = [_StickBreakingNetwork(6, (5,), 3) for _ in range(3)]
    ours = _BatchedRestarts(copy.deepcopy(nets))
    theirs = _BatchedRestarts(copy.deepcopy(nets))
    optimizers = [
        _FusedAdam(ours.parameters(), lr=1e-2, weight_decay=1e-3),
        torch.optim.Adam(theirs.parameters(), lr=1e-2, weight_decay=1e-3, fused=True),
    ]
    features, target, scale = _small_step_batch()
    features, target, scale = features.float(), target.float(), scale.float()

    def steps(n):
        for batched, optimizer in zip((ours, theirs), optimizers, strict=True):
            workspace = _Workspace(batched, 40)
            for _ in range(n):
                batched.compute_gradients(features, target, scale, workspace)
                optimizer.step()

    for batched in (ours, theirs):
        batched.allocate_gradients()
    steps(15)
    for optimizer in optimizers:
        optimizer.param_groups[0]["lr"] *= 0.25
    steps(15)
    pairs = zip((ours, theirs), optimizers, strict=True)
    optimizers = [batched.keep(1, optimizer) for batched, optimizer in pairs]
    assert isinstance(optimizers[0], _FusedAdam)
    for batched in (ours, theirs):
        batched.allocate_gradients()
    steps(15)
    for got, want in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(got, want)
    state = optimizers[0].state[next(iter(ours.parameters()))]
    assert state["step"].item() == 45


# --- Weight decay that fades with the training-set size (issue 19) ---------------------------


@pytest.mark.parametrize(
    "n_rows, reference, expected",
    [
        (50_000, 100_000, 1e-4),
        (100_000, 100_000, 1e-4),
        (10**6, 100_000, 1e-5),
        (10**6, None, 1e-4),
    ],
)
def test_fast_weight_decay_is_constant_then_falls_as_one_over_n(n_rows, reference, expected):
    assert fast_weight_decay(1e-4, n_rows, reference) == pytest.approx(expected, rel=1e-12)


def test_fast_fit_uses_the_scaled_weight_decay_and_the_paper_recipe_does_not(monkeypatch):
    # A 3,000-row fit with weight_decay_rows=1,000 must run Adam with a third of the decay
    # (the report says so) and so differ from the constant-decay fit; the paper recipe ignores
    # weight_decay_rows.
    seen = []
    original = model_module._FusedAdam.__init__

    def recording(self, params, lr, weight_decay=0.0, **kwargs):
        seen.append(weight_decay)
        original(self, params, lr, weight_decay=weight_decay, **kwargs)

    monkeypatch.setattr(model_module._FusedAdam, "__init__", recording)
    X, y = _simulated(3_000, seed=2)
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for rows in (1_000, None):
            classifier = Classifier(**QUICK, max_steps=300, weight_decay_rows=rows).fit(X, y)
            fits[rows] = classifier.predict_proba(X[:200])
            expected = 1e-4 * (1_000 / 3_000 if rows else 1.0)
            assert classifier.fit_report_["weight_decay"] == pytest.approx(expected)
            assert seen[-1] == pytest.approx(expected)
        paper_decays = []
        adam = torch.optim.Adam

        def recording_adam(params, **kwargs):
            paper_decays.append(kwargs.get("weight_decay"))
            return adam(params, **kwargs)

        monkeypatch.setattr(torch.optim, "Adam", recording_adam)
        Classifier(**QUICK, recipe="paper", max_steps=20, weight_decay_rows=10).fit(X, y)
    assert not np.array_equal(fits[1_000], fits[None])
    # The paper recipe's full-batch Adam keeps the constant decay, whatever weight_decay_rows.
    assert paper_decays and all(decay == 1e-4 for decay in paper_decays)


def test_a_file_saved_before_weight_decay_rows_loads_as_constant_decay(tmp_path):
    X, y = _simulated(600, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = Classifier(**QUICK, max_steps=100).fit(X, y)
    path = tmp_path / "old.pt"
    classifier.save(path)
    payload = torch.load(path, weights_only=True)
    del payload["hyperparameters"]["weight_decay_rows"]
    torch.save(payload, path)
    loaded = Classifier.load(path)
    assert loaded.weight_decay_rows is None
    np.testing.assert_array_equal(loaded.predict_proba(X[:50]), classifier.predict_proba(X[:50]))
    assert Classifier.load(tmp_path / "old.pt").weight_decay_rows is None
    classifier.save(tmp_path / "new.pt")
    assert Classifier.load(tmp_path / "new.pt").weight_decay_rows == classifier.weight_decay_rows
