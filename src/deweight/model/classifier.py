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

import logging
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from deweight._estimator import EstimatorParams
from deweight._files import atomic_path
from deweight._progress import Progress
from deweight.errors import ConvergenceWarning, NotFittedError
from deweight.model.fast import FAST_WEIGHT_DECAY_ROWS, _flushing_denormals, fit_fast
from deweight.model.features import (
    _AUGMENT_CHUNK_ROWS,
    AUGMENTATIONS,
    RangeScaler,
    _check_matrix,
    augment_quadratic,
    augmentation_exponents,
)
from deweight.model.network import _StickBreakingNetwork
from deweight.model.paper import fit_paper
from deweight.priors import effective_prior

__all__ = ["RECIPES", "Classifier"]


logger = logging.getLogger(__name__)


RECIPES = ("fast", "paper")


_SAVE_FORMAT = "deweight.Classifier/1"


# --------------------------------------------------------------------------------------------
# Classifier
# --------------------------------------------------------------------------------------------


def _checked_params(params: dict) -> dict:
    """The settings of a :class:`Classifier`, checked and normalised (ints, floats, a tuple).

    Called by ``fit`` (and ``load``): ``__init__`` only stores what it is given, as in
    scikit-learn, so that ``set_params`` and ``get_params`` see the values as passed.

    Raises
    ------
    ValueError
        Naming the first setting that is out of its range.
    """
    hidden = tuple(int(h) for h in params["hidden"])
    if any(h < 1 for h in hidden):
        raise ValueError(f"hidden layer sizes must be positive, got {hidden}")
    if params["augmentation"] not in AUGMENTATIONS:
        raise ValueError(f"augmentation {params['augmentation']!r} is not one of {AUGMENTATIONS}")
    if params["recipe"] not in RECIPES:
        raise ValueError(f"recipe {params['recipe']!r} is not one of {RECIPES}")
    for name in ("restarts", "max_steps"):
        _check_count(name, params[name])
    for name in ("threads", "weight_decay_rows"):
        if params[name] is not None:
            _check_count(name, params[name])
    n_classes = params["n_classes"]
    if n_classes is not None and (int(n_classes) != n_classes or n_classes < 2):
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    for name in ("lr", "tol"):
        if not (math.isfinite(params[name]) and params[name] > 0):
            raise ValueError(f"{name} must be positive and finite, got {params[name]!r}")
    if not (math.isfinite(params["weight_decay"]) and params["weight_decay"] >= 0):
        raise ValueError(f"weight_decay must be non-negative, got {params['weight_decay']!r}")
    optional = {
        name: None if params[name] is None else int(params[name])
        for name in ("n_classes", "threads", "weight_decay_rows")
    }
    return (
        params
        | optional
        | {
            "hidden": hidden,
            "restarts": int(params["restarts"]),
            "seed": int(params["seed"]),
            "max_steps": int(params["max_steps"]),
            "lr": float(params["lr"]),
            "weight_decay": float(params["weight_decay"]),
            "tol": float(params["tol"]),
            "progress": bool(params["progress"]),
        }
    )


def _check_count(name: str, value) -> None:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _restart_seeds(seed: int, restarts: int) -> tuple[list[int], np.random.Generator]:
    """Derive one torch seed per restart and a NumPy generator for data order from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(restarts + 1)
    torch_seeds = [int(child.generate_state(1, dtype=np.uint64)[0] >> 1) for child in children[1:]]
    return torch_seeds, np.random.default_rng(children[0])


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
        self.hidden = hidden
        self.augmentation = augmentation
        self.recipe = recipe
        self.restarts = restarts
        self.seed = seed
        self.n_classes = n_classes
        self.device = device
        self.threads = threads
        self.lr = lr
        self.weight_decay = weight_decay
        self.tol = tol
        self.max_steps = max_steps
        self.progress = progress
        self.weight_decay_rows = weight_decay_rows

    # ----------------------------------------------------------------------------------------

    def _hyperparameters(self) -> dict:
        """The checked settings the classifier was fitted with, as saved to a file."""
        return self._params | {"hidden": list(self._params["hidden"])}

    def _new_network(self, torch_seed: int) -> _StickBreakingNetwork:
        """Build a network with PyTorch's default initialisation drawn from ``torch_seed``."""
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
            torch.manual_seed(torch_seed)
            return _StickBreakingNetwork(self._n_inputs, self._params["hidden"], self.n_classes_)

    def _features(self, X: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Scale and augment raw features into the network's input tensor."""
        scaled = torch.as_tensor(self._scaler.transform(X), dtype=dtype)
        return augment_quadratic(scaled, self._params["augmentation"]).to(device)

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
            If a setting is out of its range (checked here, not in ``__init__``, which only
            stores, as in scikit-learn), ``X`` is malformed, ``y`` has a label outside the
            classes, the weights are negative, non-finite or all zero, or a class has no
            (positively weighted) examples: the cross-entropy cannot learn a class it never
            sees.

        Warns
        -----
        ConvergenceWarning
            If a restart stops at ``max_steps`` before meeting its convergence criterion.
        """
        self._params = params = _checked_params(self.get_params())
        X = _check_matrix(X, name="X")
        labels = np.asarray(y)
        if labels.shape != (X.shape[0],):
            raise ValueError(f"y has shape {labels.shape}; X has {X.shape[0]} rows")
        self.prior_ = effective_prior(labels, sample_weight, params["n_classes"])
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

        if params["threads"] is not None:
            torch.set_num_threads(params["threads"])
        device = _resolve_device(params["device"])
        self.n_features_ = X.shape[1]
        self._scaler = RangeScaler().fit(X)
        self._n_inputs = augmentation_exponents(self.n_features_, params["augmentation"]).shape[0]
        torch_seeds, rng = _restart_seeds(params["seed"], params["restarts"])

        start = time.perf_counter()
        features = self._features(X, torch.float32, device)
        labels_t = torch.as_tensor(labels, device=device)
        weights_t = torch.as_tensor(weights, dtype=torch.float32, device=device)
        if params["recipe"] == "paper":
            network, report = fit_paper(self, features, labels_t, weights_t, torch_seeds)
        else:
            with _flushing_denormals():
                network, report = fit_fast(self, features, labels, weights_t, torch_seeds, rng)
        self._network = network.to("cpu").double().eval()
        self.n_parameters_ = sum(p.numel() for p in self._network.parameters())
        self.fit_report_ = {
            "recipe": params["recipe"],
            "restarts": params["restarts"],
            **report,
            "wall_seconds": time.perf_counter() - start,
            "device": str(device),
            "threads": torch.get_num_threads(),
        }
        not_converged = [r for r, ok in enumerate(report["converged"]) if ok is False]
        if not_converged:
            warnings.warn(
                f"{params['recipe']} recipe: restart(s) {not_converged} stopped at max_steps="
                f"{params['max_steps']} before converging; the fit is usable but not at a minimum",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _progress_bar(self, description: str, total: int) -> Progress:
        return Progress(description, total, unit="steps", enabled=self.progress, mininterval=2.0)

    # ----------------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if getattr(self, "_network", None) is None:
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
        classifier._params = _checked_params(classifier.get_params())
        classifier.n_classes_ = int(payload["n_classes"])
        classifier.n_features_ = int(payload["n_features"])
        classifier._scaler = RangeScaler.from_state_dict(payload["scaler"])
        classifier._n_inputs = augmentation_exponents(
            classifier.n_features_, classifier._params["augmentation"]
        ).shape[0]
        network = _StickBreakingNetwork(
            classifier._n_inputs, classifier._params["hidden"], classifier.n_classes_
        ).double()
        network.load_state_dict(payload["network"])
        classifier._network = network.eval()
        classifier.n_parameters_ = sum(p.numel() for p in network.parameters())
        classifier.prior_ = np.asarray(payload["prior"], dtype=np.float64)
        classifier.fit_report_ = payload["fit_report"]
        return classifier
