"""Evaluating whole size sweeps: the tables of Figs. 6-9, the Sect. 4.1 and 4.4 priors, the verdict.

Each evaluation reads a sweep's predictions files (:mod:`deweight.predictions`), groups them by
the training size used, forms the cases of :mod:`deweight.cases` and tabulates them:
:func:`evaluate_simulation_sweep` (Figs. 6-7, the Sect. 4.1 priors, with
:func:`draw_large_test_set`), :func:`evaluate_recipe_comparison` (Figs. 6-7 of two training
recipes) and :func:`evaluate_real_sweep` (Figs. 8-9, the PCP table and the bias verdict of
:mod:`deweight.verdict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from deweight.cases import (
    REAL_CASES,
    SIMULATION_CASES,
    TRAINED_FROM,
    case_prior,
    corrected_cases,
    kl_by_class,
    overshoot_by_case,
)
from deweight.predictions import Predictions, read_predictions
from deweight.priors import prediction_consistent_prior
from deweight.reliability import reliability_curve
from deweight.sweeps.training import load_training_table
from deweight.verdict import bias_verdict, pcp_table

__all__ = [
    "draw_large_test_set",
    "evaluate_real_sweep",
    "evaluate_recipe_comparison",
    "evaluate_simulation_sweep",
]


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


def _simulation_cases(predictions, true_prior) -> dict:
    """The five cases of Figs. 6-7 from the trained models, in the paper's order (Eq. 12)."""
    cases = corrected_cases(predictions, debias_prior=true_prior, weighted_correction="dewatered")
    return {case: cases[case] for case in SIMULATION_CASES if case in cases}


def _simulation_curves(by_size, y_test, true_prior, true_probs, *, seed):
    """The Fig. 6 overshoot and Fig. 7 KL tables of predictions grouped by training size."""
    overshoots, kls = [], []
    for size, predictions in by_size.items():
        cases = _simulation_cases(predictions, true_prior)
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
    method: str,
    tol: float,
    max_iter: int,
    model_paths: Mapping[str, str] | None = None,
    n_test_large: int | None = None,
    z_threshold: float = 3.0,
) -> SimulationEvaluation:
    """Figs. 6-7, the Sect. 4.1 prior table, the bias verdict and the reliability curves.

    Parameters
    ----------
    prediction_paths : mapping of (variant, size) -> path
        Files written by :func:`~deweight.sweeps.training.train_sweep_member`.
    test_path : path
        The simulated test set (features x0..x3 and label).
    seed : int
        Seed of the stochastic classifier and of the large test set.
    method, tol, max_iter
        How the prediction-consistent priors are found (Eq. 14): the workflow's ``pcp:``
        settings, under their names there (the paper: half-EM, ``method="em"``).
    model_paths : mapping of variant -> path, optional
        The saved models of the largest size. With ``n_test_large`` they also predict a test
        set of that many rows (:func:`draw_large_test_set`), whose PCPs sit beside the
        20,000-row ones: how much of the gap to 60/38/2 % is the test draw.
    n_test_large : int, optional
        Rows of the large test set.
    z_threshold : float, default 3.0
        Of the bias verdict (:func:`deweight.verdict.bias_verdict`).

    Returns
    -------
    SimulationEvaluation
        ``overshoot`` (Fig. 6, :func:`overshoot_by_case`), ``kl`` (Fig. 7,
        :func:`kl_by_class`), ``pcp`` (the PCP of the weighted, biased and base models at the
        largest size and of the analytic posterior, next to the true prior, Sect. 4.1; column
        ``test_rows`` says on which test set), and, for the five cases at the largest size on
        the large test set (the 20,000-row one without it), ``verdict`` (the bias verdict the
        real-data tasks get) and ``reliability`` (:func:`deweight.reliability.reliability_curve`
        against the analytic posterior).
    """
    from deweight import simulate

    X_test, y_test, true_prior, true_probs, class_names = _simulation_truth(test_path)
    by_size = _group_by_size(prediction_paths)
    overshoot_table, kl_table = _simulation_curves(
        by_size, y_test, true_prior, true_probs, seed=seed
    )
    largest = max(by_size)
    priors = _SimulationPriors(
        by_size[largest],
        largest,
        true_prior,
        class_names,
        {"method": method, "tol": tol, "max_iter": max_iter},
    )
    pcps = priors.on(int(y_test.size), y_test, lambda v: by_size[largest][v].probs, true_probs)
    judged = by_size[largest]
    judged_truth = (y_test, true_probs)
    if n_test_large and model_paths:
        X_large, y_large = draw_large_test_set(seed, int(n_test_large))
        large_probs = _large_test_set_probs(model_paths, by_size[largest], largest, X_test, X_large)
        large_truth = simulate.true_posterior(X_large, true_prior)
        pcps += priors.on(int(n_test_large), y_large, large_probs.get, large_truth)
        judged = {
            variant: Predictions(probs=probs, labels=y_large, metadata=judged[variant].metadata)
            for variant, probs in large_probs.items()
        }
        judged_truth = (y_large, large_truth)
    pcp = pd.concat(pcps, ignore_index=True)
    pcp["true_prior"] = true_prior[pcp["class"].to_numpy()]
    pcp["size"] = pcp["size"].astype("Int64")
    verdict, reliability = _simulation_judgement(
        judged, *judged_truth, true_prior, class_names, largest, seed, priors.solver, z_threshold
    )
    return SimulationEvaluation(overshoot_table, kl_table, pcp, verdict, reliability)


class SimulationEvaluation(NamedTuple):
    """The tables :func:`evaluate_simulation_sweep` makes (see there)."""

    overshoot: pd.DataFrame
    kl: pd.DataFrame
    pcp: pd.DataFrame
    verdict: pd.DataFrame
    reliability: pd.DataFrame


def _simulation_judgement(
    predictions, labels, truth, true_prior, class_names, largest, seed, solver, z_threshold
):
    """Bias verdict and reliability curves of the five cases of the largest models.

    The debiased model's new prior is the true 60/38/2 (fixed, so without a variance), as in
    Figs. 6-7; the verdict's overshoot z is that of the same rows.
    """
    cases = _simulation_cases(predictions, true_prior)
    overshoot_table = overshoot_by_case(cases, labels, size=largest, seed=seed)
    verdicts, curves = [], []
    for case, probs in cases.items():
        verdict = _case_verdict(
            probs,
            predictions[TRAINED_FROM[case]],
            case,
            overshoot_table,
            solver,
            z_threshold,
            debias_prior=true_prior,
        )
        curve = reliability_curve(probs, true_probs=truth)
        for table in (verdict, curve):
            table.insert(0, "test_rows", int(labels.size))
            table.insert(0, "size", largest)
            table.insert(0, "model", case)
        verdicts.append(verdict)
        curves.append(curve)
    reliability = pd.concat(curves, ignore_index=True)
    reliability.insert(4, "class_name", [class_names[c] for c in reliability["class"]])
    return pd.concat(verdicts, ignore_index=True), reliability


@dataclass(frozen=True)
class _SimulationPriors:
    """The Sect. 4.1 prior table of the largest models of a simulation sweep, on one test set."""

    predictions: Mapping[str, Predictions]
    largest: int
    true_prior: np.ndarray
    class_names: list[str]
    solver: Mapping[str, object]

    def on(self, test_rows, labels, probs_of, analytic) -> list[pd.DataFrame]:
        """PCP tables of the weighted, biased and base models and of the analytic posterior.

        ``probs_of(variant)`` gives a model's probabilities on the test set (None: skip it);
        ``analytic`` is the analytic posterior (Eq. 2) on the same rows.
        """
        fractions = np.bincount(labels, minlength=self.true_prior.size) / labels.size
        tables = []
        for variant in ("weighted", "biased", "base"):
            if variant not in self.predictions or probs_of(variant) is None:
                continue
            pred = self.predictions[variant]
            tables.append(
                pcp_table(
                    probs_of(variant),
                    {"model prior (Eq. 7)": case_prior(variant, pred)},
                    class_names=self.class_names,
                    **self.solver,
                    extra={"model": variant, "size": self.largest, "test_rows": test_rows},
                    true_fractions=fractions,
                )
            )
        # Reference: the same estimate from the analytic posterior (Eq. 2) on the same test
        # set, which separates the test draw's own fluctuation from the models' errors.
        tables.append(
            pcp_table(
                analytic,
                {"model prior (Eq. 7)": self.true_prior},
                class_names=self.class_names,
                **self.solver,
                extra={"model": "analytic posterior", "size": np.nan, "test_rows": test_rows},
                true_fractions=fractions,
            )
        )
        return tables


def _large_test_set_probs(model_paths, predictions, largest, X_test, X_large):
    """Each saved model's probabilities on the large test set, checked against its predictions."""
    from deweight.model import Classifier  # torch is imported only when predicting

    large_probs = {}
    for variant, path in model_paths.items():
        stored = predictions.get(variant)
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
    return large_probs


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
        Files written by :func:`~deweight.sweeps.training.train_sweep_member`; each file's fit report must name the
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
    method: str,
    tol: float,
    max_iter: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Figs. 8-9, the Sect. 4.4 table, the bias verdict and reliability of a real-data sweep.

    ``prediction_paths``, ``seed`` and the PCP settings ``method``, ``tol`` and ``max_iter``
    are those of :func:`evaluate_simulation_sweep`; ``task`` fills the ``task`` column and
    ``z_threshold`` is the verdict's (:func:`bias_verdict`).

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
    reliability : DataFrame
        Each case's reliability curves at the largest size on the test split, against the
        observed fraction of each class (:func:`deweight.reliability.reliability_curve`).
    """
    solver = {"method": method, "tol": tol, "max_iter": max_iter}
    by_size = _group_by_size(prediction_paths)
    overshoot_table, cases_at = _real_overshoot(by_size, task, seed)
    largest = max(by_size)
    predictions = by_size[largest]
    pcp = _real_pcps(predictions, task, largest, solver)
    verdicts, curves = [], []
    at_largest = overshoot_table[overshoot_table["size"] == largest]
    labels = next(iter(predictions.values())).labels
    class_names = next(iter(predictions.values())).metadata["class_names"]
    for case, probs in cases_at[largest].items():
        verdict = _case_verdict(
            probs, predictions[TRAINED_FROM[case]], case, at_largest, solver, z_threshold
        )
        curve = reliability_curve(probs, labels=labels)
        curve.insert(1, "class_name", [class_names[c] for c in curve["class"]])
        for table in (verdict, curve):
            table.insert(0, "size", largest)
            table.insert(0, "model", case)
            table.insert(0, "task", task)
        verdicts.append(verdict)
        curves.append(curve)
    verdict_table = pd.concat(verdicts, ignore_index=True)
    return overshoot_table, pcp, verdict_table, pd.concat(curves, ignore_index=True)


def _real_overshoot(by_size, task: str, seed: int):
    """The Figs. 8-9 table of a real-data sweep, and the cases at each size."""
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
    any_pred = next(iter(by_size[max(by_size)].values()))
    class_names = any_pred.metadata["class_names"]
    overshoot_table.insert(3, "class_name", [class_names[c] for c in overshoot_table["class"]])
    overshoot_table.insert(1, "task", task)
    # The class abundance of the largest training set, for the column titles of Figs. 8-9.
    train_fractions = np.asarray(any_pred.metadata["training_fractions"])
    overshoot_table["training_fraction"] = train_fractions[overshoot_table["class"].to_numpy()]
    return overshoot_table, cases_at


def _real_pcps(predictions, task: str, largest: int, solver) -> pd.DataFrame:
    """The Sect. 4.4 table of the largest models of a real-data sweep (labels unused)."""
    any_pred = next(iter(predictions.values()))
    class_names = any_pred.metadata["class_names"]
    n_classes = len(class_names)
    labels = any_pred.labels
    test_fractions = np.bincount(labels, minlength=n_classes) / labels.size
    flat = np.full(n_classes, 1.0 / n_classes)
    # Each model's candidate priors, the one it carries last.
    candidates = {
        "base": ("training composition", {}),
        "weighted": ("flat", {}),
        "calibrated": (
            "calibration balance",
            {"calibration balance": "model_prior"},
        ),
    }
    pcps = []
    for variant, (model_prior_name, extra_priors) in candidates.items():
        if variant not in predictions:
            continue
        pred = predictions[variant]
        priors = {"flat": flat, "training composition": pred.metadata["training_fractions"]}
        priors |= {name: pred.metadata[key] for name, key in extra_priors.items()}
        pcps.append(
            pcp_table(
                pred.probs,
                priors,
                class_names=class_names,
                **solver,
                extra={"task": task, "model": variant, "size": largest},
                true_fractions=test_fractions,
                model_prior_name=model_prior_name,
            )
        )
    return pd.concat(pcps, ignore_index=True)


def _case_verdict(
    probs, trained, case: str, at_largest, solver, z_threshold, *, debias_prior=None
) -> pd.DataFrame:
    """The bias verdict of one case at the largest size: its prior against its PCP."""
    class_names = trained.metadata["class_names"]
    n_classes = len(class_names)
    prior = np.asarray(case_prior(case, trained, debias_prior=debias_prior), dtype=np.float64)
    result = prediction_consistent_prior(probs, prior, **solver)
    z = (
        at_largest[at_largest["case"] == case]
        .assign(abs_z=lambda f: f["z"].abs())
        .groupby("class")["abs_z"]
        .max()
        .reindex(range(n_classes))
        .to_numpy()
    )
    # A training set's class fractions are themselves estimates (base, deweighted); the
    # flat prior of the weighted model and the debiased model's true prior are fixed.
    size_used = trained.metadata["size_used"]
    fixed = case in ("weighted", "debiased")
    prior_variance = None if fixed else prior * (1 - prior) / size_used
    table = bias_verdict(
        prior,
        result.prior,
        result.stderr,
        z,
        z_threshold=z_threshold,
        model_prior_variance=prior_variance,
    )
    table.insert(0, "class_name", class_names)
    return table
