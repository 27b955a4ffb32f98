"""The size sweeps of Sect. 4 of Lake & Tsai (2022): train each member, evaluate the whole sweep.

One sweep trains each model variant (base, weighted, biased, calibrated) on nested training
subsets of growing size (:func:`nested_subset`, :func:`nested_prefix`) and writes its test-set
probabilities (:mod:`deweight.predictions`); the evaluations turn a sweep's files into the
tables of Figs. 6-9, the Sect. 4.1 and 4.4 prior tables and the bias verdict, using the cases
of :mod:`deweight.cases` and the PCP tables of :mod:`deweight.verdict`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from deweight._files import read_parquet_with_metadata
from deweight.cases import (
    REAL_CASES,
    SIMULATION_CASES,
    TRAINED_FROM,
    case_prior,
    corrected_cases,
    inverse_prior_weights,
    kl_by_class,
    overshoot_by_case,
)
from deweight.predictions import Predictions, read_predictions, write_predictions
from deweight.priors import effective_prior, prediction_consistent_prior
from deweight.verdict import bias_verdict, pcp_table

__all__ = [
    "SUBSET_METHODS",
    "draw_large_test_set",
    "evaluate_real_sweep",
    "evaluate_recipe_comparison",
    "evaluate_simulation_sweep",
    "load_training_table",
    "nested_prefix",
    "nested_subset",
    "train_and_predict",
    "train_sweep_member",
]

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
    variant : {"base", "weighted", "biased"}
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

    if variant not in ("base", "weighted", "biased"):
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


def nested_subset(labels, size: int, seed: int, *, min_per_class: int = 3) -> np.ndarray:
    """Indices of a class-stratified random subset of ``size`` rows, nested across sizes.

    Every class keeps its share of the whole set, ``floor(size * n_c / n)``, but at least
    ``min_per_class`` examples (or all it has): a plain random subset of 10^3 rows of Table 4's
    data would miss the BL Lacs (0.02 %) most of the time, and neither a weighted fit
    (w = 1/P(i), Eq. 19) nor a cross-entropy can learn a class it never sees. The most abundant
    class takes the remainder. Within each class the rows are the first ones of one seeded
    permutation, and the per-class counts never decrease with ``size`` for the half-dex steps
    of the sweeps, so a smaller training set is contained in a larger one, as in the paper.

    Parameters
    ----------
    labels : array_like of shape (n,)
        Class of every row available for training.
    size : int
        Rows wanted; a size at or above ``n`` gives all rows.
    seed : int
    min_per_class : int, default 3

    Returns
    -------
    ndarray of int
        Sorted row indices.

    Raises
    ------
    ValueError
        If ``size`` is too small to hold ``min_per_class`` examples of every class.
    """
    labels = np.asarray(labels)
    n_rows = labels.size
    if size >= n_rows:
        return np.arange(n_rows)
    n_classes = int(labels.max()) + 1
    available = np.bincount(labels, minlength=n_classes)
    present = available > 0
    wanted = np.floor(size * available / n_rows).astype(np.int64)
    wanted = np.where(present, np.maximum(wanted, np.minimum(min_per_class, available)), 0)
    largest = int(np.argmax(available))
    others = wanted.sum() - wanted[largest]
    if others >= size:
        raise ValueError(
            f"a training set of {size} rows cannot hold {min_per_class} examples of each of "
            f"the {int(present.sum())} classes; use a larger size"
        )
    wanted[largest] = size - others
    # Near the full size the largest class can run out; hand its excess to the others.
    excess = max(0, int(wanted[largest] - available[largest]))
    wanted[largest] -= excess
    for cls in np.argsort(-available):
        room = int(available[cls] - wanted[cls])
        take = min(room, excess)
        wanted[cls] += take
        excess -= take
    rng = np.random.default_rng([seed, 7])
    chosen = []
    for cls in range(n_classes):
        rows = np.flatnonzero(labels == cls)
        chosen.append(rows[rng.permutation(rows.size)[: wanted[cls]]])
    return np.sort(np.concatenate(chosen))


def nested_prefix(n_rows: int, size: int) -> np.ndarray:
    """Indices of a plain random nested subset: the first ``size`` rows of a shuffled draw.

    The simulation's rows are shuffled when drawn (:func:`deweight.simulate.draw`), so its first
    ``size`` rows are a uniformly random subset, and a smaller one is contained in a larger one:
    the paper's training sets of Sect. 4.1, with no stratification. A rare class (2 % in Table
    2) then has a binomially scattered count, e.g. about 6 +- 2.5 rows of 316.

    Parameters
    ----------
    n_rows : int
        Rows available.
    size : int
        Rows wanted; a size at or above ``n_rows`` gives all rows.

    Returns
    -------
    ndarray of int
        ``0, 1, ..., min(size, n_rows) - 1``.

    Raises
    ------
    ValueError
        If ``size`` is not a positive integer.
    """
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return np.arange(min(int(size), int(n_rows)))


#: How :func:`train_sweep_member` draws its nested training subsets (config:
#: simulation.subsets; the real-data sweeps always stratify).
SUBSET_METHODS = ("stratified", "prefix")


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
    if subsets == "prefix":
        subset = nested_prefix(y_all.size, size)
    else:
        subset = nested_subset(y_all, size, seed)
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


# --------------------------------------------------------------------------------------------
# Evaluating whole sweeps
# --------------------------------------------------------------------------------------------


def _group_by_size(prediction_paths: Mapping[tuple[str, int], str]):
    """Read sweep predictions and group them by the training size actually used.

    Models of one requested size are grouped (and plotted) at the largest size one of them
    used; a ``calibrated`` model made before cross-fitting (trained on the train split alone,
    so on fewer rows) is grouped with the others of its request, its own count staying in its
    ``size_used``.
    """
    by_requested: dict[int, dict[str, Predictions]] = {}
    for (variant, requested), path in sorted(prediction_paths.items(), key=lambda kv: kv[0][1]):
        pred = read_predictions(path)
        if pred.metadata.get("variant", variant) != variant:
            raise ValueError(
                f"{path} holds the {pred.metadata['variant']!r} model, expected {variant!r}"
            )
        by_requested.setdefault(int(requested), {})[variant] = pred
    by_size: dict[int, dict[str, Predictions]] = {}
    for _requested, group in sorted(by_requested.items()):
        others = [p for v, p in group.items() if v != "calibrated"] or list(group.values())
        size = max(int(p.metadata["size_used"]) for p in others)
        # Two requested sizes above the rows available train on the same set; keep one.
        by_size.setdefault(size, {}).update(group)
    return dict(sorted(by_size.items()))


def _simulation_truth(test_path):
    """The simulated test set with its analytic posterior (Eq. 2) under the true prior."""
    from deweight import simulate

    X_test, y_test, metadata = load_training_table(test_path, role="test")
    true_prior = np.asarray(simulate.CLASS_FRACTIONS, dtype=np.float64)
    class_names = metadata.get("class_names") or [f"class {i}" for i in range(true_prior.size)]
    return X_test, y_test, true_prior, simulate.true_posterior(X_test, true_prior), class_names


def _simulation_curves(by_size, y_test, true_prior, true_probs, *, seed):
    """The Fig. 6 overshoot and Fig. 7 KL tables of predictions grouped by training size."""
    overshoots, kls = [], []
    for size, predictions in by_size.items():
        cases = corrected_cases(
            predictions, debias_prior=true_prior, weighted_correction="dewatered"
        )
        cases = {case: cases[case] for case in SIMULATION_CASES if case in cases}
        overshoots.append(overshoot_by_case(cases, y_test, size=size, seed=seed))
        kls.append(kl_by_class(cases, true_probs, y_test, size=size))
    return pd.concat(overshoots, ignore_index=True), pd.concat(kls, ignore_index=True)


def draw_large_test_set(seed: int, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A representative test set of ``n_rows`` drawn the same way as the 20,000-row one.

    Same distribution (Table 1 Gaussians, 60/38/2 % nominal fractions, one multinomial draw of
    the class counts) from a fourth generator spawned from ``SeedSequence(seed)``, so it is
    independent of the training, biased and test sets of :func:`deweight.simulate.draw_datasets`
    (its first three children) and reproducible.
    """
    from deweight import simulate

    child = np.random.SeedSequence(seed).spawn(4)[3]
    return simulate.draw(n_rows, simulate.CLASS_FRACTIONS, np.random.default_rng(child))


def evaluate_simulation_sweep(
    prediction_paths: Mapping[tuple[str, int], str],
    test_path,
    *,
    seed: int,
    pcp_method: str,
    tol: float,
    max_iter: int,
    model_paths: Mapping[str, str] | None = None,
    n_test_large: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Figs. 6-7 and the Sect. 4.1 prior table from the simulation sweep's predictions.

    Parameters
    ----------
    prediction_paths : mapping of (variant, size) -> path
        Files written by :func:`train_sweep_member`.
    test_path : path
        The simulated test set (features x0..x3 and label).
    seed : int
        Seed of the stochastic classifier and of the large test set.
    pcp_method, tol, max_iter
        How the prediction-consistent priors are found; the workflow passes its ``pcp:``
        settings (the paper: half-EM, ``"em"``).
    model_paths : mapping of variant -> path, optional
        The saved models of the largest size. With ``n_test_large`` they also predict a test
        set of that many rows (:func:`draw_large_test_set`), whose PCPs sit beside the
        20,000-row ones: how much of the gap to 60/38/2 % is the test draw.
    n_test_large : int, optional
        Rows of the large test set.

    Returns
    -------
    overshoot : DataFrame
        Long table for Fig. 6 (see :func:`overshoot_by_case`).
    kl : DataFrame
        Table for Fig. 7 (see :func:`kl_by_class`).
    pcp : DataFrame
        The PCP of the weighted, biased and base models at the largest size, and of the
        analytic posterior, next to the true prior (Sect. 4.1); column ``test_rows`` says on
        which test set.
    """
    from deweight import simulate

    X_test, y_test, true_prior, true_probs, class_names = _simulation_truth(test_path)
    by_size = _group_by_size(prediction_paths)
    overshoot_table, kl_table = _simulation_curves(
        by_size, y_test, true_prior, true_probs, seed=seed
    )
    largest = max(by_size)
    solver = {"method": pcp_method, "tol": tol, "max_iter": max_iter}

    def priors_on(test_rows, labels, probs_of, analytic):
        fractions = np.bincount(labels, minlength=true_prior.size) / labels.size
        tables = []
        for variant in ("weighted", "biased", "base"):
            if variant not in by_size[largest] or probs_of(variant) is None:
                continue
            pred = by_size[largest][variant]
            tables.append(
                pcp_table(
                    probs_of(variant),
                    {"model prior (Eq. 7)": case_prior(variant, pred)},
                    class_names=class_names,
                    **solver,
                    extra={"model": variant, "size": largest, "test_rows": test_rows},
                    true_fractions=fractions,
                )
            )
        # Reference: the same estimate from the analytic posterior (Eq. 2) on the same test
        # set, which separates the test draw's own fluctuation from the models' errors.
        tables.append(
            pcp_table(
                analytic,
                {"model prior (Eq. 7)": true_prior},
                class_names=class_names,
                **solver,
                extra={"model": "analytic posterior", "size": np.nan, "test_rows": test_rows},
                true_fractions=fractions,
            )
        )
        return tables

    pcps = priors_on(int(y_test.size), y_test, lambda v: by_size[largest][v].probs, true_probs)
    if n_test_large and model_paths:
        from deweight.model import Classifier  # torch is imported only when predicting

        X_large, y_large = draw_large_test_set(seed, int(n_test_large))
        large_probs = {}
        for variant, path in model_paths.items():
            stored = by_size[largest].get(variant)
            if stored is None:
                continue
            classifier = Classifier.load(path)
            # The model file must be the one whose predictions were evaluated above.
            if not np.allclose(classifier.predict_proba(X_test), stored.probs, atol=1e-5):
                raise ValueError(
                    f"{path} does not reproduce the {variant} predictions of size {largest}; "
                    "the model and prediction files are from different fits"
                )
            large_probs[variant] = classifier.predict_proba(X_large)
        pcps += priors_on(
            int(n_test_large),
            y_large,
            large_probs.get,
            simulate.true_posterior(X_large, true_prior),
        )
    pcp = pd.concat(pcps, ignore_index=True)
    pcp["true_prior"] = true_prior[pcp["class"].to_numpy()]
    pcp["size"] = pcp["size"].astype("Int64")
    return overshoot_table, kl_table, pcp


def evaluate_recipe_comparison(
    prediction_paths: Mapping[tuple[str, str, int], str],
    test_path,
    *,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figs. 6-7 of two training recipes side by side, on the same test set and classifier draws.

    Parameters
    ----------
    prediction_paths : mapping of (recipe, variant, size) -> path
        Files written by :func:`train_sweep_member`; each file's fit report must name the
        recipe it is filed under.
    test_path : path
        The simulated test set.
    seed : int
        Seed of the stochastic classifier (the same draws for both recipes).

    Returns
    -------
    overshoot, kl : DataFrame
        The tables of :func:`evaluate_simulation_sweep` with a first column ``recipe``.
    """
    _, y_test, true_prior, true_probs, _ = _simulation_truth(test_path)
    overshoots, kls = [], []
    for recipe in dict.fromkeys(key[0] for key in prediction_paths):
        paths = {(v, n): p for (r, v, n), p in prediction_paths.items() if r == recipe}
        by_size = _group_by_size(paths)
        for predictions in by_size.values():
            for variant, pred in predictions.items():
                trained = pred.metadata.get("fit_report", {}).get("recipe")
                if trained != recipe:
                    raise ValueError(
                        f"{paths[(variant, int(pred.metadata['size_requested']))]} was trained "
                        f"with the {trained!r} recipe, but is filed under {recipe!r}"
                    )
        overshoot_table, kl_table = _simulation_curves(
            by_size, y_test, true_prior, true_probs, seed=seed
        )
        overshoot_table.insert(0, "recipe", recipe)
        kl_table.insert(0, "recipe", recipe)
        overshoots.append(overshoot_table)
        kls.append(kl_table)
    return pd.concat(overshoots, ignore_index=True), pd.concat(kls, ignore_index=True)


def evaluate_real_sweep(
    prediction_paths: Mapping[tuple[str, int], str],
    *,
    task: str,
    seed: int,
    z_threshold: float,
    pcp_method: str,
    tol: float,
    max_iter: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Figs. 8-9, the bundled Sect. 4.4 table and the bias verdict from a real-data sweep.

    Returns
    -------
    overshoot : DataFrame
        Long table (case, size, class, class_name, metric, ...), cases base, weighted,
        deweighted and (when the sweep has it) calibrated.
    pcp : DataFrame
        PCPs of the base and weighted models' test-set probabilities (labels unused) at the
        largest size, assuming (a) a flat model prior and (b) the training-set composition;
        for the calibrated model (c) the balance of the out-of-fold rows its calibration was
        fitted on, which is its model prior (:attr:`deweight.Calibrator.prior_`; the
        training-set composition itself when cross-fitted).
    verdict : DataFrame
        One row per case and class (see :func:`bias_verdict`), at the largest size.
    """
    by_size = _group_by_size(prediction_paths)
    overshoots = []
    cases_at = {}
    for size, predictions in by_size.items():
        cases = corrected_cases(predictions)
        cases = {case: cases[case] for case in REAL_CASES if case in cases}
        cases_at[size] = cases
        overshoots.append(
            overshoot_by_case(cases, next(iter(predictions.values())).labels, size=size, seed=seed)
        )
    overshoot_table = pd.concat(overshoots, ignore_index=True)
    largest = max(by_size)
    predictions = by_size[largest]
    any_pred = next(iter(predictions.values()))
    class_names = any_pred.metadata["class_names"]
    n_classes = len(class_names)
    overshoot_table.insert(3, "class_name", [class_names[c] for c in overshoot_table["class"]])
    overshoot_table.insert(1, "task", task)
    # The class abundance of the largest training set, for the column titles of Figs. 8-9.
    train_fractions = np.asarray(any_pred.metadata["training_fractions"])
    overshoot_table["training_fraction"] = train_fractions[overshoot_table["class"].to_numpy()]
    labels = any_pred.labels
    test_fractions = np.bincount(labels, minlength=n_classes) / labels.size
    flat = np.full(n_classes, 1.0 / n_classes)

    pcps = []
    for variant in ("base", "weighted"):
        if variant not in predictions:
            continue
        pred = predictions[variant]
        pcps.append(
            pcp_table(
                pred.probs,
                {"flat": flat, "training composition": pred.metadata["training_fractions"]},
                class_names=class_names,
                method=pcp_method,
                tol=tol,
                max_iter=max_iter,
                extra={"task": task, "model": variant, "size": largest},
                true_fractions=test_fractions,
                model_prior_name="training composition" if variant == "base" else "flat",
            )
        )
    if "calibrated" in predictions:
        pred = predictions["calibrated"]
        pcps.append(
            pcp_table(
                pred.probs,
                {
                    "flat": flat,
                    "training composition": pred.metadata["training_fractions"],
                    "calibration balance": pred.metadata["model_prior"],
                },
                class_names=class_names,
                method=pcp_method,
                tol=tol,
                max_iter=max_iter,
                extra={"task": task, "model": "calibrated", "size": largest},
                true_fractions=test_fractions,
                model_prior_name="calibration balance",
            )
        )

    verdicts = []
    at_largest = overshoot_table[overshoot_table["size"] == largest]
    for case, probs in cases_at[largest].items():
        trained = predictions[TRAINED_FROM[case]]
        prior = np.asarray(case_prior(case, trained), dtype=np.float64)
        result = prediction_consistent_prior(
            probs, prior, method=pcp_method, tol=tol, max_iter=max_iter
        )
        z = (
            at_largest[at_largest["case"] == case]
            .assign(abs_z=lambda f: f["z"].abs())
            .groupby("class")["abs_z"]
            .max()
            .reindex(range(n_classes))
            .to_numpy()
        )
        # A training set's class fractions are themselves estimates (base, deweighted); the
        # flat prior of the weighted model is fixed by construction.
        size_used = trained.metadata["size_used"]
        prior_variance = None if case == "weighted" else prior * (1 - prior) / size_used
        table = bias_verdict(
            prior,
            result.prior,
            result.stderr,
            z,
            z_threshold=z_threshold,
            model_prior_variance=prior_variance,
        )
        table.insert(0, "class_name", class_names)
        table.insert(0, "size", largest)
        table.insert(0, "model", case)
        table.insert(0, "task", task)
        verdicts.append(table)
    return (
        overshoot_table,
        pd.concat(pcps, ignore_index=True),
        pd.concat(verdicts, ignore_index=True),
    )
