"""Tests of the simulated data set of Section 3.2 (Tables 1 and 2) of Lake & Tsai (2022)."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from deweight.simulate import (
    CLASS_FRACTIONS,
    CLASS_MEANS,
    CLASS_SIGMAS,
    N_FEATURES,
    class_log_likelihood,
    draw,
    draw_datasets,
    table1,
    table2,
    true_posterior,
)

REPO = Path(__file__).resolve().parents[1]


def _points(n: int = 500, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 2.0, size=(n, N_FEATURES))


# Table 1 of Lake & Tsai (2022), typed from the paper (/work/shared/paper): per class the
# means mu_0..mu_3 and standard deviations sigma_0..sigma_3 of the Gaussians.
PAPER_TABLE1 = {
    0: ((0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0)),
    1: ((1.0, 0.5, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0)),
    2: ((-0.75, -0.5, 0.0, 0.0), (1.0, 1.0, 2.0, 1.0)),
}
# Table 2, typed from the paper: nominal fraction and the counts of the paper's own draw in
# the training, biased and test sets, and the set sizes of its "all" row.
PAPER_TABLE2 = {
    0: (0.6, 599_622, 332_724, 11_962),
    1: (0.38, 380_367, 333_046, 7_657),
    2: (0.02, 20_011, 334_230, 381),
}
PAPER_SIZES = {"n_train": 10**6, "n_biased": 10**6, "n_test": 20_000}


def test_table1_is_the_papers_table():
    table = table1()
    assert list(table.index) == [0, 1, 2]
    for cls, (means, sigmas) in PAPER_TABLE1.items():
        assert tuple(table.loc[cls, [f"mu_{k}" for k in range(4)]]) == means, cls
        assert tuple(table.loc[cls, [f"sigma_{k}" for k in range(4)]]) == sigmas, cls
    # The module's constants, which draw() and true_posterior() use, are the same numbers.
    np.testing.assert_array_equal(CLASS_MEANS, [m for m, _ in PAPER_TABLE1.values()])
    np.testing.assert_array_equal(CLASS_SIGMAS, [s for _, s in PAPER_TABLE1.values()])


def test_fractions_and_sizes_are_table2s():
    assert CLASS_FRACTIONS == tuple(row[0] for row in PAPER_TABLE2.values())
    # The paper's counts sum to its "all" row (a check of the typing itself).
    for column, size in enumerate(PAPER_SIZES.values(), start=1):
        assert sum(row[column] for row in PAPER_TABLE2.values()) == size
    # The defaults of draw_datasets and the workflow's config are the paper's set sizes.
    defaults = inspect.signature(draw_datasets).parameters
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["simulation"]
    for name, size in PAPER_SIZES.items():
        assert defaults[name].default == size, name
        assert config[name] == size, name


def test_papers_table2_counts_are_a_plausible_draw_of_our_fractions():
    # The paper's counts are one multinomial draw; a wrong nominal fraction (a typo such as
    # 0.03 for class 2, about 50 sigma away from 20,011 of 10^6) fails this chi-square test.
    # The biased set's nominal fractions are measured from a draw of our own, so that a wrong
    # equal-composition constant fails as well.
    ours = table2(draw_datasets(seed=3, n_train=10, n_biased=300_000, n_test=10))
    biased_fractions = ours["N_biased"].iloc[:3].to_numpy() / 300_000
    for column, fractions in ((1, CLASS_FRACTIONS), (2, biased_fractions), (3, CLASS_FRACTIONS)):
        counts = np.array([row[column] for row in PAPER_TABLE2.values()])
        expected = counts.sum() * np.asarray(fractions)
        p_value = stats.chisquare(counts, expected).pvalue
        assert p_value > 1e-4, (column, counts, expected)
    np.testing.assert_allclose(biased_fractions, 1 / 3, atol=5 * np.sqrt(2 / 9 / 300_000))


def test_table2_of_the_workflow_sizes_has_the_papers_totals():
    table = table2(draw_datasets(seed=1, **PAPER_SIZES))
    assert table.loc[3, ["N_train", "N_biased", "N_test"]].tolist() == list(PAPER_SIZES.values())
    np.testing.assert_array_equal(
        table["fraction"].iloc[:3], [row[0] for row in PAPER_TABLE2.values()]
    )


def test_constants_are_read_only():
    with pytest.raises(ValueError):
        CLASS_MEANS[0, 0] = 1.0


def test_class_log_likelihood_matches_scipy_normal():
    x = _points()
    expected = np.column_stack(
        [stats.norm.logpdf(x, CLASS_MEANS[i], CLASS_SIGMAS[i]).sum(axis=1) for i in range(3)]
    )
    np.testing.assert_allclose(class_log_likelihood(x), expected, rtol=1e-12)


def test_true_posterior_matches_direct_bayes_rule():
    x = _points()
    densities = np.column_stack(
        [
            stats.multivariate_normal(CLASS_MEANS[i], np.diag(CLASS_SIGMAS[i] ** 2)).pdf(x)
            for i in range(3)
        ]
    )
    joint = densities * np.asarray(CLASS_FRACTIONS)
    expected = joint / joint.sum(axis=1, keepdims=True)
    posterior = true_posterior(x)
    np.testing.assert_allclose(posterior, expected, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0, rtol=1e-14)


def test_true_posterior_far_in_the_wings_is_finite():
    # Every density underflows to 0 here, so a direct computation would give 0/0.
    x = np.array([[60.0, 0.0, 0.0, 0.0], [-60.0, -60.0, 80.0, 0.0]])
    posterior = true_posterior(x)
    assert np.all(np.isfinite(posterior))
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0)
    # Far out along +x_0 class 1 (mean +1) wins; far out along x_2 the wide class 2 wins.
    assert posterior[0].argmax() == 1
    assert posterior[1, 2] == pytest.approx(1.0)


def test_true_posterior_with_weighted_prior_is_eq8():
    # Eq. 8: changing the prior multiplies each column by P_w(i)/P(i), then renormalises.
    x = _points()
    weighted = np.array([1 / 3, 1 / 3, 1 / 3])
    base = true_posterior(x)
    scaled = base * weighted / np.asarray(CLASS_FRACTIONS)
    np.testing.assert_allclose(
        true_posterior(x, weighted), scaled / scaled.sum(axis=1, keepdims=True), rtol=1e-12
    )


def test_true_posterior_zero_prior_gives_zero_column():
    posterior = true_posterior(_points(20), prior=(0.5, 0.5, 0.0))
    np.testing.assert_array_equal(posterior[:, 2], 0.0)
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((3, 3)), "shape"),
        (np.array([[0.0, 1.0, np.nan, 0.0]]), r"x\[0, 2\]"),
    ],
)
def test_bad_points_are_named(x, message):
    with pytest.raises(ValueError, match=message):
        true_posterior(x)


def test_bad_prior_is_rejected():
    with pytest.raises(ValueError, match="prior"):
        true_posterior(_points(3), prior=(0.5, 0.5, 0.5))


def test_draw_shapes_dtypes_and_class_distributions():
    X, y = draw(60_000, CLASS_FRACTIONS, np.random.default_rng(3))
    assert X.shape == (60_000, 4) and X.dtype == np.float64
    assert y.shape == (60_000,) and y.dtype == np.int64
    for i in range(3):
        rows = X[y == i]
        standard_error = CLASS_SIGMAS[i] / np.sqrt(rows.shape[0])
        assert np.all(np.abs(rows.mean(axis=0) - CLASS_MEANS[i]) < 5 * standard_error)
        # The standard error of a normal sample's std is about sigma / sqrt(2 n).
        assert np.all(np.abs(rows.std(axis=0) - CLASS_SIGMAS[i]) < 5 * standard_error / np.sqrt(2))


def test_draw_counts_scatter_multinomially():
    # "Randomly generated parts of a non-random total": the total is fixed, the class counts
    # vary with the multinomial variance n f (1 - f), not rounded to the nominal fractions.
    rng = np.random.default_rng(4)
    n, repeats = 500, 400
    counts = np.array(
        [np.bincount(draw(n, CLASS_FRACTIONS, rng)[1], minlength=3) for _ in range(repeats)]
    )
    np.testing.assert_array_equal(counts.sum(axis=1), n)
    fractions = np.asarray(CLASS_FRACTIONS)
    variance = n * fractions * (1 - fractions)
    mean_error = np.abs(counts.mean(axis=0) - n * fractions)
    assert np.all(mean_error < 5 * np.sqrt(variance / repeats))
    # Sample variance of `repeats` draws: chi-square with repeats - 1 degrees of freedom.
    low, high = stats.chi2.ppf([1e-4, 1 - 1e-4], repeats - 1) / (repeats - 1)
    ratio = counts.var(axis=0, ddof=1) / variance
    assert np.all((ratio > low) & (ratio < high)), ratio


def test_draw_rows_are_shuffled_so_prefixes_are_random_subsets():
    X, y = draw(20_000, CLASS_FRACTIONS, np.random.default_rng(5))
    assert not np.all(np.diff(y) >= 0)  # not grouped by class
    for k in (1_000, 5_000):
        prefix_fractions = np.bincount(y[:k], minlength=3) / k
        fractions = np.asarray(CLASS_FRACTIONS)
        assert np.all(np.abs(prefix_fractions - fractions) < 5 * np.sqrt(fractions / k))


def test_draw_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n must"):
        draw(-1, CLASS_FRACTIONS, rng)
    with pytest.raises(ValueError, match="fractions"):
        draw(10, (0.5, 0.5), rng)


def test_draw_datasets_is_reproducible_and_sets_are_independent():
    small = {"n_train": 2_000, "n_biased": 1_500, "n_test": 500}
    first = draw_datasets(seed=11, **small)
    second = draw_datasets(seed=11, **small)
    for name in ("train", "biased", "test"):
        np.testing.assert_array_equal(first[name][0], second[name][0])
        np.testing.assert_array_equal(first[name][1], second[name][1])
    other_seed = draw_datasets(seed=12, **small)
    assert not np.array_equal(first["train"][0], other_seed["train"][0])
    # Each set has its own generator: resizing the test set leaves the training set alone.
    bigger_test = draw_datasets(seed=11, n_train=2_000, n_biased=1_500, n_test=900)
    np.testing.assert_array_equal(first["train"][0], bigger_test["train"][0])
    np.testing.assert_array_equal(first["biased"][1], bigger_test["biased"][1])
    # The biased set has equal nominal fractions.
    biased_fractions = np.bincount(first["biased"][1], minlength=3) / 1_500
    assert np.all(np.abs(biased_fractions - 1 / 3) < 5 * np.sqrt(2 / 9 / 1_500))


def test_table2_counts_and_totals_from_rows():
    datasets = draw_datasets(seed=7, n_train=3_000, n_biased=1_200, n_test=800)
    table = table2(datasets)
    assert list(table["class"]) == ["0", "1", "2", "all"]
    assert list(table.columns) == ["class", "fraction", "N_train", "N_biased", "N_test"]
    for name, size in (("train", 3_000), ("biased", 1_200), ("test", 800)):
        column = f"N_{name}"
        np.testing.assert_array_equal(
            table[column].iloc[:3], np.bincount(datasets[name][1], minlength=3)
        )
        assert table[column].iloc[3] == table[column].iloc[:3].sum() == size
    np.testing.assert_allclose(table["fraction"], [0.6, 0.38, 0.02, 1.0])


def test_table2_needs_all_three_sets():
    datasets = draw_datasets(seed=7, n_train=30, n_biased=30, n_test=30)
    del datasets["biased"]
    with pytest.raises(ValueError, match="biased"):
        table2(datasets)
