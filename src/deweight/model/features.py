"""The classifier's inputs (Sect. 3.1 of Lake & Tsai 2022): each feature's training range mapped
onto [-1, 1] (:class:`RangeScaler`) and the second-order polynomial terms appended
(:func:`augment_quadratic`, in the "interpolation" or "mathematician" convention).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from typing import NamedTuple

import numpy as np
import torch

from deweight.errors import NotFittedError

__all__ = ["AUGMENTATIONS", "RangeScaler", "augment_quadratic", "augmentation_exponents"]


AUGMENTATIONS = ("interpolation", "mathematician", "none")


# Rows augmented at a time: the (rows, terms, features) gather tensor of a 65,536-row chunk of
# 4 features with 80 terms is 21 million floats, small enough never to dominate memory.
_AUGMENT_CHUNK_ROWS = 65_536


# Rows that augment_quadratic works on at a time, in buffers it reuses (a few MB).
_AUGMENT_BLOCK_ROWS = 4096


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_matrix(values, *, name: str, n_columns: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite float64 matrix, or raise naming the bad row and column."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_rows, n_features), got {array.shape}")
    if n_columns is not None and array.shape[1] != n_columns:
        raise ValueError(f"{name} has {array.shape[1]} columns, expected {n_columns}")
    bad_rows, bad_columns = np.nonzero(~np.isfinite(array))
    if bad_rows.size:
        row, column = int(bad_rows[0]), int(bad_columns[0])
        raise ValueError(f"{name}[{row}, {column}] is {array[row, column]!r}; must be finite")
    return array


# --------------------------------------------------------------------------------------------
# Scaling and augmentation
# --------------------------------------------------------------------------------------------


class RangeScaler:
    """Map each feature's training range linearly onto [-1, 1] (Section 3.1).

    Attributes
    ----------
    data_min_, data_max_ : ndarray of shape (n_features,)
        Smallest and largest training value of each feature; set by :meth:`fit`.
    """

    def __init__(self) -> None:
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None

    def fit(self, X) -> RangeScaler:
        """Record the range of each feature of the training data.

        Parameters
        ----------
        X : array_like of shape (n, d)
            Training features, finite.

        Returns
        -------
        RangeScaler
            ``self``.

        Raises
        ------
        ValueError
            If ``X`` is empty or non-finite, or a feature is constant (its range cannot be
            mapped onto [-1, 1]); the message names the column.
        """
        X = _check_matrix(X, name="X")
        if X.shape[0] == 0:
            raise ValueError("X has no rows; cannot find the range of its features")
        data_min, data_max = X.min(axis=0), X.max(axis=0)
        constant = np.flatnonzero(data_max <= data_min)
        if constant.size:
            column = int(constant[0])
            raise ValueError(
                f"X column {column} is constant ({data_min[column]!r}); a feature with no "
                "spread cannot be scaled to [-1, 1] and carries no information"
            )
        self.data_min_, self.data_max_ = data_min, data_max
        return self

    def transform(self, X) -> np.ndarray:
        """Scale features so that the training range of each maps onto [-1, 1].

        Values outside the training range map outside [-1, 1]; they are not clipped.

        Parameters
        ----------
        X : array_like of shape (n, d)

        Returns
        -------
        ndarray of shape (n, d), float64

        Raises
        ------
        ValueError
            If the scaler is not fitted, or ``X`` has the wrong number of columns or a
            non-finite entry.
        """
        if self.data_min_ is None or self.data_max_ is None:
            raise NotFittedError("this RangeScaler is not fitted yet; call fit(X) first")
        X = _check_matrix(X, name="X", n_columns=self.data_min_.size)
        return 2.0 * (X - self.data_min_) / (self.data_max_ - self.data_min_) - 1.0

    def fit_transform(self, X) -> np.ndarray:
        """Fit to ``X`` and return it scaled; see :meth:`fit` and :meth:`transform`."""
        return self.fit(X).transform(X)

    def state_dict(self) -> dict[str, list[float]]:
        """Return the fitted ranges as plain lists (loadable with ``torch.load(weights_only=True)``)."""
        if self.data_min_ is None or self.data_max_ is None:
            raise NotFittedError("this RangeScaler is not fitted yet; there is no state to save")
        return {"data_min": self.data_min_.tolist(), "data_max": self.data_max_.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict) -> RangeScaler:
        """Rebuild a fitted scaler from :meth:`state_dict` output.

        Raises
        ------
        ValueError
            If the state lacks a key, the two ranges differ in length, or a range is empty.
        """
        try:
            data_min = np.asarray(state["data_min"], dtype=np.float64)
            data_max = np.asarray(state["data_max"], dtype=np.float64)
        except KeyError as exc:
            raise ValueError(f"RangeScaler state has no {exc.args[0]!r} entry") from exc
        if data_min.shape != data_max.shape or data_min.ndim != 1:
            raise ValueError(
                f"RangeScaler state data_min {data_min.shape} and data_max {data_max.shape} "
                "must be 1-D of equal length"
            )
        constant = np.flatnonzero(~(data_max > data_min))
        if constant.size:
            raise ValueError(f"RangeScaler state column {int(constant[0])} has an empty range")
        scaler = cls()
        scaler.data_min_, scaler.data_max_ = data_min, data_max
        return scaler


def augmentation_exponents(n_features: int, convention: str) -> np.ndarray:
    """List the monomials that :func:`augment_quadratic` computes, as exponent vectors.

    Parameters
    ----------
    n_features : int
        Number of input features ``d``.
    convention : {"interpolation", "mathematician", "none"}
        "interpolation": every exponent ``n_k`` in {0, 1, 2} independently, except all zero
        (``3**d - 1`` terms). "mathematician": total degree 1 or 2 (``d + d(d+1)/2`` terms).
        "none": the features themselves (``d`` terms). Section 3.1 of Lake & Tsai (2022).

    Returns
    -------
    ndarray of shape (n_terms, d), int64
        Row ``m`` holds the exponents of term ``m``: ``term_m = prod_k x_k ** E[m, k]``. Terms
        are ordered by total degree, then by descending exponent of ``x_0``, ``x_1``, ..., so
        the plain features come first, in their own order.

    Raises
    ------
    ValueError
        If ``n_features < 1`` or ``convention`` is unknown.
    """
    if int(n_features) != n_features or n_features < 1:
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    if convention not in AUGMENTATIONS:
        raise ValueError(f"augmentation convention {convention!r} is not one of {AUGMENTATIONS}")
    n_features = int(n_features)
    if convention == "none":
        return np.eye(n_features, dtype=np.int64)
    exponents = np.array(list(product(range(3), repeat=n_features)), dtype=np.int64)
    degree = exponents.sum(axis=1)
    keep = degree > 0 if convention == "interpolation" else (degree >= 1) & (degree <= 2)
    exponents = exponents[keep]
    # Sort by degree, then by descending exponent of x_0, of x_1, ...: the degree-1 block is
    # then exactly the identity, i.e. the original features in their own order.
    descending_exponents = [-exponents[:, k] for k in reversed(range(n_features))]
    order = np.lexsort([*descending_exponents, exponents.sum(axis=1)])
    return exponents[order]


def augment_quadratic(X, convention: str = "interpolation"):
    """Append second-order polynomial terms to each feature vector (Section 3.1).

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n, d)
        Features, normally already scaled to [-1, 1] by :class:`RangeScaler`.
    convention : {"interpolation", "mathematician", "none"}, default "interpolation"
        Which monomials to compute; see :func:`augmentation_exponents`.

    Returns
    -------
    ndarray or torch.Tensor of shape (n, n_terms)
        Same type, dtype and device as ``X``; column ``m`` is
        ``prod_k X[:, k] ** augmentation_exponents(d, convention)[m, k]``. With 4 features the
        interpolation convention gives 80 columns, the mathematician's 14.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D or ``convention`` is unknown.
    """
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D of shape (n, n_features), got shape {tuple(X.shape)}")
    exponents = augmentation_exponents(X.shape[1], convention)
    if convention == "none":
        return X[:, :]
    n_rows, n_features = X.shape
    n_terms = exponents.shape[0]
    # powers[row, k, e] = x_k ** e; term m is prod_k x_k ** E[m, k], i.e. the product over k of
    # entry k * 3 + E[m, k] of the flattened powers. Blocks of rows are worked in preallocated
    # buffers: fresh multi-megabyte temporaries per block cost more in page faults than the
    # arithmetic.
    flat_index = (3 * np.arange(n_features)[None, :] + exponents).reshape(-1)
    block = max(1, min(n_rows, _AUGMENT_BLOCK_ROWS))
    if isinstance(X, torch.Tensor):
        flat_index = torch.as_tensor(flat_index, device=X.device)
        out = torch.empty((n_rows, n_terms), dtype=X.dtype, device=X.device)
        powers = torch.ones((block, n_features, 3), dtype=X.dtype, device=X.device)
        gathered = torch.empty((block, n_terms * n_features), dtype=X.dtype, device=X.device)
        _augment_blocks(X, flat_index, out, powers, gathered, _TORCH_BLOCK_OPS)
        return out
    X = np.asarray(X)
    dtype = np.result_type(X, np.float32)
    out = np.empty((n_rows, n_terms), dtype=dtype)
    powers = np.ones((block, n_features, 3), dtype=dtype)
    gathered = np.empty((block, n_terms * n_features), dtype=dtype)
    _augment_blocks(X, flat_index, out, powers, gathered, _NUMPY_BLOCK_OPS)
    return out


class _BlockOps(NamedTuple):
    """The three array operations of :func:`_augment_blocks`, for one backend, writing ``out``."""

    square: Callable  # (x, out): out = x * x
    take_columns: Callable  # (a, index, out): out = a[:, index]
    product_last: Callable  # (a, out): out = a.prod(last axis)


_NUMPY_BLOCK_OPS = _BlockOps(
    square=lambda x, out: np.multiply(x, x, out=out),
    take_columns=lambda a, index, out: np.take(a, index, axis=1, out=out),
    product_last=lambda a, out: np.prod(a, axis=-1, out=out),
)
_TORCH_BLOCK_OPS = _BlockOps(
    square=lambda x, out: torch.mul(x, x, out=out),
    take_columns=lambda a, index, out: torch.index_select(a, 1, index, out=out),
    product_last=lambda a, out: torch.prod(a, -1, out=out),
)


def _augment_blocks(X, flat_index, out, powers, gathered, ops: _BlockOps) -> None:
    """Fill ``out`` with :func:`augment_quadratic`'s terms, a block of rows at a time.

    ``powers`` (block, d, 3) has ones in its ``[:, :, 0]`` plane and ``gathered`` has
    (block, terms * d) entries; both are reused for every block. Works alike for NumPy arrays and
    torch tensors, whose operations ``ops`` supplies.
    """
    n_rows, n_features = X.shape
    n_terms = out.shape[1]
    block = powers.shape[0]
    for start in range(0, n_rows, block):
        chunk = X[start : start + block]
        n = chunk.shape[0]
        part = powers[:n]
        part[:, :, 1] = chunk
        ops.square(chunk, part[:, :, 2])
        ops.take_columns(part.reshape(n, 3 * n_features), flat_index, gathered[:n])
        ops.product_last(gathered[:n].reshape(n, n_terms, n_features), out[start : start + n])
