"""Training the members of a size sweep: one (variant, size) model and its test-set probabilities.

:func:`train_sweep_member` is one job of the workflow's training rules: it reads a prepared
table (:func:`load_training_table`), draws the nested training subset
(:mod:`deweight.sweeps.subsets`), fits the variant's model (:func:`train_and_predict`; the
``calibrated`` variant also cross-fits a calibrator) and writes the model and its
predictions file (:mod:`deweight.predictions`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping

import numpy as np

from deweight._files import read_parquet_with_metadata
from deweight.cases import inverse_prior_weights
from deweight.predictions import Predictions, write_predictions
from deweight.priors import effective_prior
from deweight.sweeps.subsets import SUBSET_METHODS, nested_prefix, nested_subset

__all__ = [
    "MODEL_VARIANTS",
    "REAL_VARIANTS",
    "SIMULATION_VARIANTS",
    "load_training_table",
    "train_and_predict",
    "train_sweep_member",
]

#: The models :func:`train_and_predict` fits: unweighted (``base``; ``biased`` is the same fit
#: on the equal-composition training set) or weighted by w_i = 1/P(i) (Eq. 19).
MODEL_VARIANTS = ("base", "weighted", "biased")
#: The variants of the simulation sweep (Sect. 4.1; config: ``simulation.variants``).
SIMULATION_VARIANTS = MODEL_VARIANTS
#: The variants of the real-data sweeps (Sects. 4.2-4.3; config: ``realdata.variants``):
#: ``calibrated`` (beyond the paper) is the weighted model with a cross-fitted calibration.
REAL_VARIANTS = ("base", "weighted", "calibrated")

log = logging.getLogger(__name__)


def train_and_predict(
    X_train,
    y_train,
    X_test,
    *,
    variant: str,
    n_classes: int,
    model_params: Mapping,
    seed: int,
    threads: int | None = None,
):
    """Fit one of the paper's models and return it with its test-set probabilities.

    Parameters
    ----------
    X_train, y_train : ndarray of shape (N, d) and (N,)
        The training subset (already the requested size).
    X_test : ndarray of shape (n, d)
        Features of the test set.
    variant : {"base", "weighted", "biased"}, one of :data:`MODEL_VARIANTS`
        ``weighted`` applies w_i = 1/P(i) (Eq. 19); ``base`` and ``biased`` are unweighted (the
        biased variant differs only in the training set it is given).
    n_classes : int
        Number of classes.
    model_params : mapping
        Keyword arguments of :class:`deweight.model.Classifier`.
    seed : int
        Seed of the fit (restarts and mini-batches).
    threads : int, optional
        Torch CPU threads.

    Returns
    -------
    classifier : deweight.model.Classifier
    probs : ndarray of shape (n, C)
    """
    from deweight.model import Classifier  # torch is imported only when training

    if variant not in MODEL_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected base, weighted or biased")
    weights = inverse_prior_weights(y_train, n_classes) if variant == "weighted" else None
    classifier = Classifier(**dict(model_params), seed=seed, n_classes=n_classes, threads=threads)
    start = time.perf_counter()
    classifier.fit(X_train, y_train, sample_weight=weights)
    log.info(
        "trained %s on %d rows in %.1f s: %s",
        variant,
        len(y_train),
        time.perf_counter() - start,
        classifier.fit_report_,
    )
    return classifier, classifier.predict_proba(X_test)


def load_training_table(path, *, role: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Features, labels and metadata of the rows of a prepared table that play ``role``.

    A table with a ``split`` column (a prepared real catalogue, Sect. 3.3) gives
    ``train`` + ``dev`` rows for ``role="train"`` -- the paper merges dev into train for the
    final fits -- and ``test`` rows for ``role="test"``; ``role="train_only"`` and ``"dev"``
    give the two apart (for calibrating on a held-back split; the workflow's ``calibrated``
    case cross-fits on train + dev instead). A table without one (the simulation) is used
    whole, except that ``train_only`` and ``dev`` need it.
    """
    frame, metadata = read_parquet_with_metadata(path)
    features = metadata.get("features")
    if not features:
        raise ValueError(f"{path}: no feature list in its metadata; was it made by the workflow?")
    missing = [c for c in [*features, "label"] if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; columns are {list(frame.columns)}")
    if "split" in frame.columns:
        wanted = {
            "train": ("train", "dev"),
            "test": ("test",),
            "train_only": ("train",),
            "dev": ("dev",),
        }[role]
        frame = frame[frame["split"].isin(wanted)]
    elif role in ("train_only", "dev"):
        raise ValueError(f"{path}: no split column, so no {role} rows (needed to calibrate)")
    if frame.empty:
        raise ValueError(f"{path}: no rows for the {role} role")
    X = frame[features].to_numpy(np.float64)
    y = frame["label"].to_numpy(np.int64)
    return X, y, metadata


def train_sweep_member(
    *,
    train_path,
    test_path,
    model_path,
    predictions_path,
    variant: str,
    size: int,
    model_params: Mapping,
    seed: int,
    threads: int | None = None,
    subsets: str = "stratified",
    calibration_folds: int = 5,
) -> Predictions:
    """Train one (variant, size) model of a sweep; save it and its test-set probabilities.

    ``subsets`` chooses the nested training subset: ``"stratified"`` (:func:`nested_subset`)
    or ``"prefix"`` (:func:`nested_prefix`, a plain random subset of a shuffled draw).

    ``variant="calibrated"`` (real data only) is the weighted model cross-fitted with
    bias-corrected temperature scaling (:class:`deweight.Calibrator`): ``calibration_folds``
    fold models, each trained on the other folds of the same training subset, give out-of-fold
    probabilities of every training row, on which the calibrator is fitted
    (:func:`deweight.calibration.cross_fitted_calibrator`); the weighted model trained on the
    whole subset (train + dev, as the other variants) is saved and its calibrated test-set
    probabilities written. Their model prior, stored as ``model_prior``, is the calibrator's
    ``prior_``: the class balance of the training subset.
    """
    if subsets not in SUBSET_METHODS:
        raise ValueError(f"subsets must be one of {SUBSET_METHODS}, got {subsets!r}")
    calibrate = variant == "calibrated"
    X_all, y_all, metadata = load_training_table(train_path, role="train")
    X_test, y_test, _ = load_training_table(test_path, role="test")
    class_names = metadata.get("class_names") or [str(i) for i in range(int(y_all.max()) + 1)]
    n_classes = len(class_names)
    subset = (
        nested_prefix(y_all.size, size) if subsets == "prefix" else nested_subset(y_all, size, seed)
    )
    X, y = X_all[subset], y_all[subset]
    if len(y) < size:
        log.warning("asked for %d training rows, only %d exist: using all of them", size, len(y))
    classifier, probs = train_and_predict(
        X,
        y,
        X_test,
        variant="weighted" if calibrate else variant,
        n_classes=n_classes,
        model_params=model_params,
        seed=seed + size,
        threads=threads,
    )
    classifier.save(model_path)
    report = {k: v for k, v in classifier.fit_report_.items() if _is_jsonable(v)}
    model_prior = [float(v) for v in classifier.prior_]
    calibration = None
    if calibrate:
        probs, calibration = _cross_fitted(
            X,
            y,
            probs,
            n_classes=n_classes,
            model_params=model_params,
            seed=[seed, size],
            threads=threads,
            folds=calibration_folds,
        )
        calibration["uncalibrated_model_prior"] = model_prior
        model_prior = calibration.pop("prior")
    meta = {
        "variant": variant,
        "size_requested": int(size),
        "size_used": int(len(y)),
        "model_prior": model_prior,
        "training_fractions": [float(v) for v in effective_prior(y, n_classes=n_classes)],
        "class_names": list(class_names),
        "data_source": metadata.get("data_source", "unknown"),
        "task": metadata.get("task"),
        "subsets": subsets,
        "fit_report": report,
    }
    if calibration is not None:
        meta["calibration"] = calibration
    write_predictions(predictions_path, probs, y_test, meta)
    return Predictions(probs=probs, labels=y_test, metadata=meta)


def _cross_fitted(X, y, test_probs, *, n_classes, model_params, seed, threads, folds):
    """Calibrate the weighted model's test probabilities with BCTS fitted out of fold.

    The fold models are weighted models like the final one, each seeded from ``seed`` and its
    fold. Returns the calibrated test probabilities and a JSON-able record of the fit (with the
    calibrator's ``prior``).
    """
    from deweight.calibration import cross_fitted_calibrator

    def fold_model(X_fit, y_fit, X_held, fold):
        fold_seed = int(np.random.SeedSequence([*seed, fold]).generate_state(1)[0])
        _, probs = train_and_predict(
            X_fit,
            y_fit,
            X_held,
            variant="weighted",
            n_classes=n_classes,
            model_params=model_params,
            seed=fold_seed,
            threads=threads,
        )
        return probs

    fit = cross_fitted_calibrator(X, y, fold_model, folds=folds, seed=seed, method="bcts")
    calibrator = fit.calibrator
    record = {
        "method": calibrator.method,
        "folds": int(folds),
        "n_out_of_fold": int(y.size),
        "temperature": float(calibrator.temperature_),
        "biases": [float(v) for v in calibrator.biases_],
        "nll_before": float(calibrator.nll_before_),
        "nll_after": float(calibrator.nll_after_),
    }
    log.info("calibrated on %d out-of-fold rows (%d folds): %s", y.size, folds, record)
    record["prior"] = [float(v) for v in calibrator.prior_]
    return calibrator.transform(test_probs), record


def _is_jsonable(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
