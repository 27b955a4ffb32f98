"""The seams of deweight.priors a distributed engine builds on (issue 20).

``block_statistics`` on a plain 2-D block, ``PassStatistics`` added in a fixed order, and
``solve_pcp`` driven by a pass function over partitions; plus the estimator convention of
``PredictionConsistentPrior``.
"""

from __future__ import annotations

import numpy as np
import pytest

from deweight.errors import NotFittedError
from deweight.priors import (
    PassStatistics,
    PredictionConsistentPrior,
    block_statistics,
    combine_statistics,
    prediction_consistent_prior,
    solve_pcp,
)

ENGINES = ["numba", "numpy"]
MODEL = np.array([0.5, 0.3, 0.2])


def table(n_rows=20_000, n_classes=3, seed=5):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(n_classes, 0.7), size=n_rows)


def partitions(probs, sizes):
    """``(block, first row, file name)`` for consecutive blocks of the given sizes."""
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == probs.shape[0]
    return [
        (probs[start:stop], int(start), f"part-{index}.parquet")
        for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    ]


class Chunks:
    """The same blocks as a streamed table (``iter_chunks``)."""

    def __init__(self, parts):
        self.parts = parts

    def iter_chunks(self):
        return iter([block for block, _, _ in self.parts])


def pass_function(parts, engine):
    """A map-reduce pass: each partition's statistics, added in partition order."""
    calls = []

    def evaluate(ratio, *, validate):
        calls.append(validate)
        return combine_statistics(
            block_statistics(
                block, ratio, engine=engine, validate=validate, row_offset=first, where=name
            )
            for block, first, name in parts
        )

    return evaluate, calls


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("n_classes", [3, 5])
def test_block_statistics_are_the_sums_of_eqs_14_to_16(engine, n_classes):
    probs = table(3_000, n_classes)
    ratio = np.linspace(0.5, 2.0, n_classes)
    stats = block_statistics(probs, ratio, engine=engine)
    # Written out directly, row by row in vector form.
    s = probs @ ratio
    scaled = probs / s[:, None]
    assert stats.n_rows == 3_000
    np.testing.assert_allclose(stats.log_likelihood, np.log(s).sum(), rtol=1e-12)
    np.testing.assert_allclose(stats.gradient_sums, scaled.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.hessian_sums, scaled.T @ scaled, rtol=1e-12)
    np.testing.assert_array_equal(stats.hessian_sums, stats.hessian_sums.T)
    # No ratio means q = 1: the gradient sums are the column sums.
    at_one = block_statistics(probs, engine=engine)
    np.testing.assert_allclose(at_one.gradient_sums, probs.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_partition_statistics_add_up_to_those_of_the_whole(engine):
    probs = table()
    ratio = np.array([1.2, 0.9, 0.7])
    parts = [
        block_statistics(block, ratio, engine=engine)
        for block, _, _ in partitions(probs, [7_000, 0, 13_000])
    ]
    total = combine_statistics(parts)
    whole = block_statistics(probs, ratio, engine=engine)
    assert total.n_rows == whole.n_rows == 20_000
    np.testing.assert_allclose(total.log_likelihood, whole.log_likelihood, rtol=1e-12)
    np.testing.assert_allclose(total.gradient_sums, whole.gradient_sums, rtol=1e-12)
    np.testing.assert_allclose(total.hessian_sums, whole.hessian_sums, rtol=1e-12)
    # ``+`` is the same left-to-right sum, and an empty block adds nothing.
    summed = parts[0] + parts[1] + parts[2]
    assert summed.log_likelihood == total.log_likelihood
    np.testing.assert_array_equal(summed.hessian_sums, total.hessian_sums)
    assert parts[1].n_rows == 0 and (parts[0] + parts[1]) is parts[0]


def test_statistics_of_different_class_counts_or_of_no_rows_do_not_combine():
    three = block_statistics(table(10, 3), engine="numpy")
    four = block_statistics(table(10, 4), engine="numpy")
    with pytest.raises(ValueError, match="of 4 classes to those of 3"):
        three + four
    with pytest.raises(ValueError, match="probs has no rows"):
        combine_statistics([block_statistics(np.zeros((0, 3)), engine="numpy")])
    with pytest.raises(ValueError, match="probs has no rows"):
        combine_statistics([])
    assert isinstance(three, PassStatistics)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method", ["newton", "em", "squarem"])
def test_solve_pcp_over_partitions_is_bit_identical_to_streaming_the_same_blocks(engine, method):
    probs = table(30_000)
    parts = partitions(probs, [10_000, 1, 9_999, 0, 10_000])
    evaluate, calls = pass_function(parts, engine)
    result = solve_pcp(evaluate, MODEL, method=method, tol=1e-10)
    streamed = prediction_consistent_prior(
        Chunks(parts), MODEL, method=method, tol=1e-10, engine=engine
    )
    for name in ("prior", "stderr", "covariance", "mean_probability"):
        np.testing.assert_array_equal(getattr(result, name), getattr(streamed, name))
    assert result.iterations == streamed.iterations
    assert result.log_likelihood == streamed.log_likelihood
    # One validating pass first, then only unvalidated ones, each counted.
    assert calls[0] is True and not any(calls[1:])
    assert result.passes == streamed.passes == len(calls)
    assert result.converged


@pytest.mark.parametrize("engine", ENGINES)
def test_a_bad_row_is_named_by_its_row_in_the_table_and_its_partition(engine):
    probs = table(3_000)
    probs[2_345] = [0.5, 0.5, 0.5]
    parts = partitions(probs, [2_000, 1_000])
    evaluate, _ = pass_function(parts, engine)
    with pytest.raises(ValueError, match=r"^part-1\.parquet: probs row 2345 sums to 1\.5"):
        solve_pcp(evaluate, MODEL)
    # Without a label the message is the file path's own; without validation no error.
    with pytest.raises(ValueError, match=r"^probs row 345 sums to 1\.5"):
        block_statistics(probs[2_000:], engine=engine)
    assert block_statistics(probs, engine=engine, validate=False).n_rows == 3_000


def test_solve_pcp_checks_its_options_before_any_pass():
    evaluate, calls = pass_function(partitions(table(100), [100]), "numpy")
    for bad, message in [
        ({"method": "bfgs"}, "method must be one of"),
        ({"tol": -1}, "tol must be a positive finite number"),
        ({"max_iter": 0}, "max_iter must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            solve_pcp(evaluate, MODEL, **bad)
    assert calls == []


def test_estimator_stores_in_init_checks_in_fit_and_has_params():
    probs = table(5_000)
    estimator = PredictionConsistentPrior(model_prior=MODEL, method="bogus")
    assert estimator.get_params() == {
        "model_prior": MODEL,
        "method": "bogus",
        "tol": 1e-8,
        "max_iter": 1000,
    }
    with pytest.raises(NotFittedError, match="not fitted yet") as caught:
        estimator.predict_proba(probs)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, AttributeError)
    with pytest.raises(ValueError, match="method must be one of"):
        estimator.fit(probs)
    assert estimator.set_params(method="em", tol=1e-10) is estimator
    estimator.fit(probs)
    direct = prediction_consistent_prior(probs, MODEL, method="em", tol=1e-10)
    np.testing.assert_array_equal(estimator.prior_, direct.prior)
    copy = PredictionConsistentPrior(**estimator.get_params())
    np.testing.assert_array_equal(copy.fit(probs).prior_, direct.prior)
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['engine'\]"):
        estimator.set_params(engine="numba")
