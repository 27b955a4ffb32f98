"""Tests of the input checks in deweight._validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deweight._validation import check_labels, check_prior, check_probabilities


def _probability_rows(n_rows: int, n_classes: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(n_classes), size=n_rows)


# --- check_probabilities ---------------------------------------------------------------------


def test_valid_float64_table_is_returned_without_copy():
    probs = _probability_rows(10, 3)
    checked = check_probabilities(probs)
    assert checked is probs


def test_float32_is_kept_and_can_be_refused():
    probs = _probability_rows(10, 3).astype(np.float32)
    assert check_probabilities(probs).dtype == np.float32
    assert check_probabilities(probs) is probs
    widened = check_probabilities(probs, allow_float32=False)
    assert widened.dtype == np.float64
    np.testing.assert_array_equal(widened, probs.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.float16])
def test_other_dtypes_become_float64(dtype):
    probs = np.eye(3).astype(dtype)
    checked = check_probabilities(probs)
    assert checked.dtype == np.float64
    np.testing.assert_array_equal(checked, np.eye(3))


def test_nested_lists_are_accepted():
    checked = check_probabilities([[0.25, 0.75], [1.0, 0.0]])
    np.testing.assert_array_equal(checked, [[0.25, 0.75], [1.0, 0.0]])


@pytest.mark.parametrize(
    ("bad_value", "reason"),
    [(np.nan, "non-finite"), (np.inf, "non-finite"), (-0.2, "negative")],
)
def test_bad_value_names_the_row(bad_value, reason):
    probs = _probability_rows(500_000, 3)
    probs[300_001] = [bad_value, 0.6, 0.6]
    with pytest.raises(ValueError, match=rf"probs row 300001 contains a {reason}"):
        check_probabilities(probs)


def test_row_not_summing_to_one_is_named_with_its_values():
    probs = _probability_rows(20, 3)
    probs[7] = [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match=r"row 7 sums to 1.5.*\[0.5, 0.5, 0.5\]"):
        check_probabilities(probs)


def test_first_of_several_bad_rows_is_reported():
    probs = _probability_rows(20, 2)
    probs[[4, 12]] = [[0.9, 0.9], [np.nan, 1.0]]
    with pytest.raises(ValueError, match="row 4 "):
        check_probabilities(probs)


def test_atol_controls_the_row_sum_tolerance():
    probs = np.array([[0.5, 0.5 + 5e-4]])
    check_probabilities(probs)  # within the default 1e-3
    with pytest.raises(ValueError, match="row 0 sums"):
        check_probabilities(probs, atol=1e-4)


def test_row_offset_shifts_reported_index_and_name_is_used():
    probs = np.array([[1.0, 0.0], [0.2, 0.2]])
    with pytest.raises(ValueError, match=r"chunk row 1001 sums"):
        check_probabilities(probs, name="chunk", row_offset=1000)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 1), (4, 0)])
def test_wrong_shapes_raise(shape):
    with pytest.raises(ValueError, match="probs"):
        check_probabilities(np.ones(shape))


def test_complex_and_text_raise():
    with pytest.raises(ValueError, match="real-valued"):
        check_probabilities(np.ones((2, 2), dtype=complex) / 2)
    with pytest.raises(ValueError, match="numeric"):
        check_probabilities(np.array([["a", "b"]]))


def test_empty_table_with_columns_is_valid():
    assert check_probabilities(np.zeros((0, 4))).shape == (0, 4)


# Entries from a small set so that valid rows (e.g. [0.5, 0.5], [1, 0]) are common.
_ENTRIES = st.sampled_from([0.0, 0.25, 0.5, 0.5 + 4e-4, 1.0, -0.25, np.nan, np.inf, -np.inf])


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 3)), elements=_ENTRIES))
def test_accepts_exactly_the_valid_tables(values):
    with np.errstate(invalid="ignore"):  # inf + -inf
        row_sums = values.sum(axis=1)
    valid_rows = (
        np.isfinite(values).all(axis=1) & (values >= 0).all(axis=1) & (np.abs(row_sums - 1) <= 1e-3)
    )
    if valid_rows.all():
        assert check_probabilities(values) is values
    else:
        first = int(np.flatnonzero(~valid_rows)[0])
        with pytest.raises(ValueError, match=rf"row {first} "):
            check_probabilities(values)


# --- check_prior ----------------------------------------------------------------------------


def test_prior_is_renormalised_exactly():
    prior = check_prior([0.2, 0.3, 0.5 + 5e-7])
    assert prior.dtype == np.float64
    assert prior.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(prior, [0.2, 0.3, 0.5], atol=1e-6)


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        ([0.5, np.nan, 0.5], r"prior\[1\] is nan"),
        ([0.5, -0.1, 0.6], r"prior\[1\] is -0.1.*strictly positive"),
        ([0.5, 0.5, 0.0], r"prior\[2\] is 0.0.*strictly positive"),
        ([0.5, 0.6], "sums to 1.1"),
        ([[0.5, 0.5]], "1-D"),
        ([], "at least one class"),
    ],
)
def test_bad_priors_raise(prior, message):
    with pytest.raises(ValueError, match=message):
        check_prior(prior)


def test_prior_length_and_zero_permission():
    with pytest.raises(ValueError, match="model_prior has 2 entries but there are 3 classes"):
        check_prior([0.5, 0.5], 3, name="model_prior")
    np.testing.assert_array_equal(check_prior([0.0, 1.0], 2, allow_zero=True), [0.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        check_prior([-0.5, 1.5], allow_zero=True)


# --- check_labels ---------------------------------------------------------------------------


def test_labels_are_returned_as_int64():
    labels = check_labels(np.array([0, 2, 1], dtype=np.int8), 3)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [0, 2, 1])
    np.testing.assert_array_equal(check_labels([1.0, 0.0], 2), [1, 0])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 3, 1], r"labels\[1\] is 3, outside the class range \[0, 3\)"),
        ([0, -1], r"labels\[1\] is -1"),
        ([0.0, 1.5], r"labels\[1\] is 1.5, which is not an integer"),
        ([0.0, np.nan], r"labels\[1\] is nan"),
        ([[0, 1]], "1-D"),
        ([True, False], "integer class indices"),
        (["a"], "integer class indices"),
    ],
)
def test_bad_labels_raise(labels, message):
    with pytest.raises(ValueError, match=message):
        check_labels(np.asarray(labels), 3)


def test_labels_name_and_class_count_are_checked():
    with pytest.raises(ValueError, match=r"assigned\[0\]"):
        check_labels([5], 2, name="assigned")
    with pytest.raises(ValueError, match="n_classes"):
        check_labels([0], 0)
