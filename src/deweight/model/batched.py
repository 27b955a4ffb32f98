"""The fast recipe's machinery: all restarts trained at once as one batched network.

:class:`_BatchedRestarts` (hand-written forward and backward passes of every restart in one
batched product), :class:`_Workspace` (its preallocated buffers), :class:`_FusedAdam` (the two
kernels of ``torch.optim.Adam(fused=True)``), :class:`_ParameterAverage` (an exponential moving
average of the parameters) and :func:`_shuffle_once_batches`. The schedule that drives them is
:mod:`deweight.model.fast`.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from deweight.model.network import (
    _stick_breaking_offsets,
    _StickBreakingNetwork,
    stick_breaking_log_probabilities,
    weighted_cross_entropy,
)

__all__ = []


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
