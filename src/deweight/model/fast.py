"""The fast recipe: its schedule, in one place, and the fit it drives (:func:`fit_fast`).

Mini-batch Adam on 90 % of the training set, all restarts at once (:mod:`deweight.model.batched`),
a learning rate cut when the loss on the held-out 10 % stops improving, early stopping, and the
best restart kept. Every number of the schedule is a ``_FAST_*`` constant below, with why it
has its value; the weight decay falls as 1/N above :data:`FAST_WEIGHT_DECAY_ROWS` rows
(:func:`fast_weight_decay`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from contextlib import contextmanager

import numpy as np
import torch

from deweight.model.batched import (
    _BatchedRestarts,
    _FusedAdam,
    _ParameterAverage,
    _shuffle_once_batches,
    _Workspace,
)
from deweight.model.network import weighted_cross_entropy
from deweight.model.polish import max_evaluations, polish
from deweight.priors import effective_prior

__all__ = ["FAST_WEIGHT_DECAY_ROWS", "fast_weight_decay", "fit_fast"]

logger = logging.getLogger(__name__)


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


# Large training sets (at least _FAST_POLISH_MIN_ROWS rows) end with this many full-batch
# L-BFGS iterations on the fitting rows (deweight.model.polish). Mini-batch Adam with early
# stopping leaves them short of the minimum of their loss, with the rare class's core under-
# confident: at 10^6 rows the weighted model's class-2 PCP came out 7-12 standard errors low,
# the biased model's 3-5. The polish brought every class of every model within 2.2 standard
# errors over 3 seeds and lowered the KL to the analytic posterior (benchmarks/README.md,
# "Convergence to the truth", rounds four to seven; issue 19). About 25 s at 10^6 rows.
_FAST_POLISH_ITERATIONS = 60


# Below this the polish overfits: without the weight decay that smaller sets need, it raised
# the KL of the common classes by up to 2x at 10^5 rows (the sixth round) and by up to 1.44x
# at 316,228 (the seventh); at 10^6 it lowered every class's (ratios 0.53-1.03).
_FAST_POLISH_MIN_ROWS = 1_000_000


# The share of the fit's L2 weight decay in the polish's objective: 0, the weighted
# cross-entropy alone. The fit's whole weight decay (1, the fourth round), even 1e-5 at 10^6
# rows, once its minimum is reached, biased the rare class by 2.5 standard errors; a tenth
# (the sixth round's Z60) was no better than none. Without it, 60 iterations from the
# early-stopped fit do not overfit 10^6 rows.
_FAST_POLISH_WEIGHT_DECAY_SHARE = 0.0


# Undo a polish that raises the held-out loss? Off: the fit it starts from is the state early
# stopping chose for its low held-out loss, so nearly any move raises that a little, and the
# guard undid most polishes that brought the rare class to the truth (the fifth round).
_FAST_POLISH_HELD_OUT_GUARD = False


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


class _FastFit:
    """One fit of the fast recipe, as named steps (see :func:`fit_fast`).

    The steps run in a fixed order, and draw from ``rng`` and the batch generator in the same
    order whatever the size, so that a fit is reproducible for a seed.
    """

    def __init__(self, model, features, labels, weights, torch_seeds, rng) -> None:
        self.model = model
        self.labels = labels
        self.n_restarts = len(torch_seeds)
        self.device = features.device
        self._hold_out(labels, weights, rng)
        self._prepare_rows(features, labels, weights)
        self._build_ensemble(torch_seeds, labels.size)
        self.generator = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**62)))
        self._choose_schedule()
        self._arrange_batches()

    # -- set-up --------------------------------------------------------------------------------

    def _hold_out(self, labels, weights, rng) -> None:
        """A stratified share of each class held out for early stopping and screening."""
        self.fit_rows, self.validation_rows = _stratified_split(
            labels, _FAST_VALIDATION_FRACTION, rng
        )
        if self.validation_rows.size == 0:
            raise ValueError(
                f"the fast recipe holds out {_FAST_VALIDATION_FRACTION:.0%} of each class for "
                f"early stopping, but the {labels.size} examples leave nothing to hold out"
            )
        # The network learns only from the fitting rows, so their (weighted) class balance is
        # the prior its probabilities carry (Eq. 7). Holding out even one example of a class
        # with a handful changes it, and Eq. 12 must divide by the prior actually learnt.
        self.model.prior_ = effective_prior(
            labels[self.fit_rows],
            weights.detach().cpu().numpy()[self.fit_rows],
            self.model.n_classes_,
        )

    def _prepare_rows(self, features, labels, weights) -> None:
        """The held-out tensors, the batch size, and what a step needs of each fitting row."""
        device, model = self.device, self.model
        labels_t = torch.as_tensor(labels, device=device)
        fit_index = torch.as_tensor(self.fit_rows, device=device)
        validation_rows = self.validation_rows
        self.validation = (
            features[torch.as_tensor(validation_rows, device=device)],
            labels_t[validation_rows],
            weights[validation_rows],
        )
        fit_features, fit_labels = features[fit_index], labels_t[fit_index]
        fit_weights = weights[fit_index]
        # The polish's float32 rows, kept only by the fits that will be polished.
        polishing = _FAST_POLISH_ITERATIONS and labels.size >= _FAST_POLISH_MIN_ROWS
        self.polish_rows = (fit_features, fit_labels, fit_weights) if polishing else None
        del fit_index
        self.n_fit = n_fit = self.fit_rows.size
        self.batch_size = batch_size = min(
            n_fit, max(_FAST_MIN_BATCH, min(_FAST_MAX_BATCH, n_fit // _FAST_BATCHES_PER_EPOCH))
        )
        self.first_layer_dtype = _fast_first_layer_dtype(
            device, model._params["hidden"], batch_size
        )
        self.fit_features = fit_features.to(self.first_layer_dtype)
        batches_per_epoch = n_fit // batch_size  # the remainder is reshuffled into later epochs
        self.steps_per_evaluation = min(
            max(batches_per_epoch, _FAST_MIN_STEPS_PER_EVALUATION), _FAST_MAX_STEPS_PER_EVALUATION
        )
        # Unbiased mini-batch estimate of the full weighted mean loss. What the gradient needs
        # of each row's label and weight (see _BatchedRestarts.compute_gradients) is computed
        # once here, so that a step only gathers rows into preallocated buffers.
        batch_total_weight = batch_size * fit_weights.mean()
        classes = torch.arange(model.n_classes_ - 1, device=device)
        # Transposed, (N - 1, n), like the outputs in _BatchedRestarts._forward_into.
        self.fit_target = (classes[:, None] == fit_labels).to(features.dtype)
        fit_scale = (classes[:, None] <= fit_labels) * (fit_weights / batch_total_weight)
        self.fit_scale = fit_scale.to(features.dtype)
        self.batch_features = self.fit_features.new_empty((batch_size, fit_features.shape[1]))
        self.batch_target = self.fit_target.new_empty((self.fit_target.shape[0], batch_size))
        self.batch_scale = self.fit_scale.new_empty((self.fit_scale.shape[0], batch_size))

    def _build_ensemble(self, torch_seeds, n_rows: int) -> None:
        """All restarts as one batched network, its workspace and its optimizer."""
        model = self.model
        members = [model._new_network(s) for s in torch_seeds]
        self.template = copy.deepcopy(members[0])
        self.ensemble = _BatchedRestarts(members).to(self.device)
        self.ensemble.allocate_gradients()
        self.workspace = _Workspace(self.ensemble, self.batch_size, self.first_layer_dtype)
        # torch.optim.Adam(fused=True)'s update without the Optimizer machinery (_FusedAdam).
        self.weight_decay = fast_weight_decay(
            model._params["weight_decay"], n_rows, model._params["weight_decay_rows"]
        )
        self.optimizer = _FusedAdam(
            self.ensemble.parameters(), lr=model._params["lr"], weight_decay=self.weight_decay
        )

    def _choose_schedule(self) -> None:
        """Large sets: evaluate, screen and return the averaged parameters, with their patience
        (see _FAST_AVERAGE_MIN_BATCH). Small sets: the last iterate, as before."""
        if self.batch_size >= _FAST_AVERAGE_MIN_BATCH:
            self.average = _ParameterAverage(self.ensemble, _FAST_AVERAGE_DECAY)
            self.patience = _FAST_AVERAGED_PATIENCE
            self.screen_evaluations = _FAST_AVERAGED_SCREEN_EVALUATIONS
        else:
            self.average = None
            self.patience, self.screen_evaluations = _FAST_PATIENCE, _FAST_SCREEN_EVALUATIONS

    def _arrange_batches(self) -> None:
        """Shuffle once (see _FAST_SHUFFLE_ONCE_MIN_BATCH): the rows are stored batch by batch,
        each batch contiguous, and an epoch visits the batches in a random order."""
        self.shuffle_once = self.batch_size >= _FAST_SHUFFLE_ONCE_MIN_BATCH
        self.n_batches = 0
        if self.shuffle_once:
            batch_size = self.batch_size
            batch_rows = _shuffle_once_batches(self.n_fit, batch_size, self.generator)
            batch_rows = batch_rows.to(self.device)
            self.n_batches = n_batches = batch_rows.shape[0]
            self.fit_features = self.fit_features[batch_rows.reshape(-1)].reshape(
                n_batches, batch_size, -1
            )
            self.fit_target = self.fit_target[:, batch_rows].transpose(0, 1).contiguous()
            self.fit_scale = self.fit_scale[:, batch_rows].transpose(0, 1).contiguous()
        # The rows (reshuffled every epoch) or, shuffling once, the batches of this epoch.
        self.order = [] if self.shuffle_once else torch.empty(0, dtype=torch.int64)
        self.position = 0

    # -- training ------------------------------------------------------------------------------

    def run(self):
        """Train until the learning rate has been cut ``_FAST_LR_CUTS`` times and the held-out
        loss stalls once more, or ``max_steps``; return the best network and the report."""
        model = self.model
        self.member_ids = list(range(self.n_restarts))  # restart index of each live member
        self.best_loss = [math.inf] * self.n_restarts
        self.best_state = [None] * self.n_restarts
        self.evaluations_since_best = self.cuts = self.evaluations = self.step = 0
        self.examples_processed = 0  # summed over the restarts still training at each step
        self.stopped_early = False
        self.start = time.perf_counter()
        with model._progress_bar(
            f"fast ({self.n_restarts} restarts)", model._params["max_steps"]
        ) as bar:
            while self.step < model._params["max_steps"]:
                self.ensemble.train()
                for _ in range(
                    min(self.steps_per_evaluation, model._params["max_steps"] - self.step)
                ):
                    self._step()
                bar.update(min(self.steps_per_evaluation, bar.total - bar.n))
                improved = self._evaluate()
                bar.set_postfix(
                    held_out_loss=f"{min(self.best_loss):.6f}",
                    lr=self.optimizer.param_groups[0]["lr"],
                )
                if len(self.member_ids) > 1 and self.evaluations >= self.screen_evaluations:
                    self._screen()
                if self._plateau(improved):
                    self.stopped_early = True
                    break
        return self._finish()

    def _next_batch(self):
        """The features, targets and scales of the next mini-batch."""
        if self.shuffle_once:
            if self.position == len(self.order):
                self.order = torch.randperm(self.n_batches, generator=self.generator).tolist()
                self.position = 0
            k = self.order[self.position]
            self.position += 1
            return self.fit_features[k], self.fit_target[k], self.fit_scale[k]
        batch_size = self.batch_size
        if self.position + batch_size > self.order.numel():
            self.order = torch.randperm(self.n_fit, generator=self.generator).to(self.device)
            self.position = 0
        batch = self.order[self.position : self.position + batch_size]
        self.position += batch_size
        torch.index_select(self.fit_features, 0, batch, out=self.batch_features)
        torch.index_select(self.fit_target, 1, batch, out=self.batch_target)
        torch.index_select(self.fit_scale, 1, batch, out=self.batch_scale)
        return self.batch_features, self.batch_target, self.batch_scale

    def _step(self) -> None:
        """One Adam step of every live restart on one mini-batch."""
        features, target, scale = self._next_batch()
        self.ensemble.compute_gradients(features, target, scale, self.workspace)
        self.optimizer.step()
        if self.average is not None:
            self.average.update()
        self.step += 1
        self.examples_processed += self.batch_size * len(self.member_ids)

    def _evaluate(self) -> bool:
        """Held-out loss of each live restart; keep each restart's best state. Improved?"""
        self.evaluations += 1
        improved = False
        average = self.average
        with average.swapped_in() if average is not None else contextlib.nullcontext():
            features, labels, weights = self.validation
            current = self.ensemble.held_out_losses(features, labels, weights, self.workspace)
            current = current.tolist()
            if not all(math.isfinite(v) for v in current):
                raise FloatingPointError(f"fast recipe: held-out loss became {current}")
            for member, restart in enumerate(self.member_ids):
                if current[member] < self.best_loss[restart]:
                    self.best_loss[restart] = current[member]
                    self.best_state[restart] = self.ensemble.member_state(member)
                    improved = True
        return improved

    def _screen(self) -> None:
        """Restarts exist to escape poor local minima, which show early; after the screening
        only the most promising one is worth its compute."""
        for restart in self.member_ids:
            logger.info(
                "recipe=fast restart=%d screened held_out_loss=%.8f steps=%d seconds=%.1f",
                restart,
                self.best_loss[restart],
                self.step,
                time.perf_counter() - self.start,
            )
        keep = int(np.argmin([self.best_loss[r] for r in self.member_ids]))
        self.optimizer = self.ensemble.keep(keep, self.optimizer)
        if self.average is not None:
            self.average.keep(keep, self.ensemble)
        self.ensemble.allocate_gradients()
        self.workspace = _Workspace(self.ensemble, self.batch_size, self.first_layer_dtype)
        self.member_ids = [self.member_ids[keep]]

    def _plateau(self, improved: bool) -> bool:
        """Cut the learning rate after ``patience`` evaluations without improvement; True when
        the last cut has been made and the loss stalled again (training stops)."""
        self.evaluations_since_best = 0 if improved else self.evaluations_since_best + 1
        if self.evaluations_since_best < self.patience:
            return False
        if self.cuts == _FAST_LR_CUTS:
            return True
        self.cuts += 1
        self.evaluations_since_best = 0
        for group in self.optimizer.param_groups:
            group["lr"] *= _FAST_LR_CUT
        return False

    def _polish(self, network):
        """Large sets: the full-batch L-BFGS polish (see _FAST_POLISH_ITERATIONS)."""
        rows, self.polish_rows = self.polish_rows, None
        if rows is None:
            return network, {}
        iterations = _FAST_POLISH_ITERATIONS
        weight_decay = self.weight_decay * _FAST_POLISH_WEIGHT_DECAY_SHARE
        before = self._held_out_loss(network)
        fitted = copy.deepcopy(network.state_dict()) if _FAST_POLISH_HELD_OUT_GUARD else None
        passes = max_evaluations(iterations)
        with self.model._progress_bar("polish (L-BFGS, full passes)", passes) as bar:
            network, report = polish(
                network, *rows, weight_decay, iterations, on_evaluation=lambda: bar.update(1)
            )
        after = self._held_out_loss(network)
        report.update(polish_held_out_loss_before=before, polish_held_out_loss_after=after)
        if _FAST_POLISH_HELD_OUT_GUARD and not after <= before:
            network.load_state_dict(fitted)
            report["polish_kept"] = False
        return network, report

    def _held_out_loss(self, network) -> float:
        """The weighted cross-entropy of one network on the held-out rows."""
        features, labels, weights = self.validation
        with torch.no_grad():
            return float(weighted_cross_entropy(network(features), labels, weights))

    def _finish(self):
        """The best restart's best state as a network, and the fit report."""
        best_loss, n_restarts = self.best_loss, self.n_restarts
        winner = self.member_ids[0] if len(self.member_ids) == 1 else int(np.argmin(best_loss))
        network = self.template.to(self.device)
        self.ensemble.load_member_into(self.best_state[winner], network)
        network, polished = self._polish(network)
        logger.info(
            "recipe=fast restart=%d final held_out_loss=%.8f steps=%d stopped_early=%s "
            "seconds=%.1f",
            winner,
            best_loss[winner],
            self.step,
            self.stopped_early,
            time.perf_counter() - self.start,
        )
        report = {
            "best_restart": winner,
            "final_loss": best_loss,
            "steps": [self.step if r == winner else None for r in range(n_restarts)],
            # A restart dropped at the screening was never meant to converge: None.
            "converged": [self.stopped_early if r == winner else None for r in range(n_restarts)],
            "batch_size": self.batch_size,
            "n_fit": int(self.n_fit),
            "fit_class_counts": np.bincount(
                self.labels[self.fit_rows], minlength=self.model.n_classes_
            ).tolist(),
            "n_validation": int(self.validation_rows.size),
            "learning_rate_cuts": self.cuts,
            "examples_processed": self.examples_processed,
            "first_layer_dtype": str(self.first_layer_dtype).removeprefix("torch."),
            # None: the last iterate was evaluated and returned (small sets).
            "parameter_average_decay": None if self.average is None else self.average.decay,
            "weight_decay": self.weight_decay,
            **polished,
        }
        return network, report


def fit_fast(model, features, labels, weights, torch_seeds, rng):
    """The fast recipe: batched-restart mini-batch Adam with plateau learning-rate cuts and
    early stopping on a held-out share (the schedule: the ``_FAST_*`` constants above).

    ``model`` is the :class:`~deweight.model.Classifier` being fitted (its settings, and its
    ``prior_``, which this sets); returns the best network and the fit report.
    """
    return _FastFit(model, features, labels, weights, torch_seeds, rng).run()
