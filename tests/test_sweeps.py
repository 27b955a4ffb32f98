"""The size sweeps: nested, class-stratified training subsets."""

import numpy as np
import pytest

from deweight.sweeps import nested_subset


def test_nested_subsets_are_stratified_nested_and_reproducible():
    # Table 4's classes: galaxy, star, AGN, BL Lac, FSRQ (train + dev).
    counts = [304_862, 3_516, 127_017, 224, 418]
    labels = np.repeat(np.arange(5), counts)
    sizes = [316, 1000, 3162, 10_000, 31_623, 100_000, 316_228]
    subsets = [nested_subset(labels, size, seed=5) for size in sizes]
    for size, subset in zip(sizes, subsets, strict=True):
        assert len(subset) == size == len(np.unique(subset))
        in_subset = np.bincount(labels[subset], minlength=5)
        assert in_subset.min() >= 3  # every class present, even at 316 rows
        # shares follow the whole set's, within the minimum and rounding
        expected = np.maximum(np.floor(size * np.array(counts) / sum(counts)), 3)
        assert np.all(np.abs(in_subset[1:] - expected[1:]) <= 1)
    for small, large in zip(subsets, subsets[1:], strict=False):
        assert set(small) <= set(large)
    np.testing.assert_array_equal(subsets[0], nested_subset(labels, 316, seed=5))
    assert not np.array_equal(subsets[0], nested_subset(labels, 316, seed=6))
    np.testing.assert_array_equal(nested_subset(labels, 10**7, seed=5), np.arange(labels.size))


def test_nested_subset_refuses_a_size_too_small_for_every_class():
    labels = np.repeat(np.arange(5), [100, 100, 100, 5, 5])
    with pytest.raises(ValueError, match="cannot hold 3 examples"):
        nested_subset(labels, 12, seed=0)


def test_predictions_are_keyed_by_their_own_metadata_whatever_their_order(tmp_path):
    from deweight.predictions import index_predictions, write_predictions

    probs, labels = np.full((4, 2), 0.5), np.array([0, 1, 0, 1])
    paths = {}
    for recipe in ("fast", "paper"):
        for variant in ("base", "weighted"):
            for size in (316, 1000):
                path = tmp_path / f"{recipe}_{variant}_{size}.parquet"
                meta = {
                    "variant": variant,
                    "size_requested": size,
                    "fit_report": {"recipe": recipe},
                }
                write_predictions(path, probs, labels, meta)
                paths[(recipe, variant, size)] = path
    keys = ("fit_report.recipe", "variant", "size_requested")
    shuffled = [paths[key] for key in sorted(paths, key=lambda k: (k[2], k[1], k[0]))]
    assert index_predictions(shuffled, keys) == {
        key: paths[key] for key in sorted(paths, key=lambda k: (k[2], k[1], k[0]))
    }
    expected = list(paths)
    indexed = index_predictions(shuffled, keys, expected=expected)
    assert list(indexed.items()) == list(paths.items())
    # A missing member, an unexpected one, a file filed twice and a file without the key.
    with pytest.raises(ValueError, match=r"missing \[\('paper', 'weighted', 1000\)\]"):
        index_predictions(shuffled[:-1], keys, expected=expected)
    with pytest.raises(ValueError, match=r"not expected \[\('fast', 'base', 316\)\]"):
        index_predictions(shuffled, keys, expected=expected[1:])
    with pytest.raises(ValueError, match="are both the predictions of"):
        index_predictions([*shuffled, shuffled[0]], keys)
    with pytest.raises(ValueError, match="has no 'fit_report.seed'"):
        index_predictions(shuffled, ("fit_report.seed",))
