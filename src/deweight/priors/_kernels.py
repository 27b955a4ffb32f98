"""The numba kernels of one likelihood pass (used by :mod:`deweight.priors.statistics`).

Each kernel sums, for its block of rows, ``log s_m``, ``p[m, j] / s_m`` and
``p[m, j] p[m, k] / s_m**2`` in float64 (whatever the table's dtype) and returns one row of
partial sums per block; the caller adds the blocks in a fixed order. With ``validate`` true it
also records the first row of each block that is not a probability vector, so the first pass
doubles as input validation. A row with ``s_m == 0`` (all its probability on classes of zero
prior) makes the log-likelihood -inf and is otherwise skipped. The notation is that of
:mod:`deweight.priors.statistics`.
"""

from __future__ import annotations

import functools
import importlib.util
import math

import numpy as np

# numba is a declared dependency, but the NumPy path keeps the library usable without it. It
# is imported (and the kernels below compiled or loaded from their cache) on the first pass
# that needs it, by :func:`_compiled_kernels`, not when this module is imported: prior
# replacement and the command line's other subcommands never pay for it.
numba = None

# Rows per parallel work item of the numba kernels. The blocks, not the threads, fix the order
# of the floating-point sums, so results do not depend on the number of threads.
_KERNEL_BLOCK_ROWS = 16_384
# The kernels sum log s_m as the logarithm of a running product of the s_m, taken only when
# the product leaves [_PRODUCT_LOW, _PRODUCT_HIGH] (and once at the end of a block): a
# logarithm per row would dominate the cost of a pass. For s_m of order one the product stays
# in range for hundreds of rows or more. The bounds leave room for any s_m in [_FACTOR_LOW, _FACTOR_HIGH] to be
# multiplied in without overflow or underflow; an s_m outside (tiny, huge, 0 for a row the
# prior cannot explain, which gives -inf) has its own logarithm taken. The product's relative rounding error grows like sqrt(rows multiplied) * 2**-53, far below the
# noise the line searches allow for (see :func:`deweight.priors.solvers._likelihood_noise`).
_PRODUCT_LOW = 1e-200
_PRODUCT_HIGH = 1e200
_FACTOR_LOW = 1e-100
_FACTOR_HIGH = 1e100


def _add_log_factor(s, product, log_sum):
    """Add ``log s`` to ``log(product) + log_sum``; return the new ``(product, log_sum)``.

    The kernels' running product of the s_m: ``s`` is multiplied into ``product``, which is
    moved into ``log_sum`` by one logarithm when it leaves [_PRODUCT_LOW, _PRODUCT_HIGH]; an
    ``s`` outside [_FACTOR_LOW, _FACTOR_HIGH] (tiny, huge, 0 or NaN) has its own logarithm
    taken (-inf when it is not positive, NaN included). :func:`_compiled_kernels` compiles it
    into the kernels.
    """
    if _FACTOR_LOW <= s <= _FACTOR_HIGH:
        product *= s
        if not _PRODUCT_LOW <= product <= _PRODUCT_HIGH:
            log_sum += math.log(product)
            product = 1.0
    else:  # extreme, zero or NaN: its own logarithm
        log_sum += math.log(s) if s > 0.0 else -math.inf
    return product, log_sum


def _generic_pass_kernel(probs, ratio, validate, atol, block_rows):
    """Partial sums of one likelihood pass for any number of classes (numba kernel)."""
    n_rows, n_classes = probs.shape
    n_blocks = (n_rows + block_rows - 1) // block_rows
    n_stats = 1 + n_classes + n_classes * (n_classes + 1) // 2
    partial = np.zeros((n_blocks, n_stats))
    first_bad = np.full(n_blocks, -1, dtype=np.int64)
    for block in numba.prange(n_blocks):
        start = block * block_rows
        stop = min(start + block_rows, n_rows)
        log_sum = 0.0
        product = 1.0
        gradient = np.zeros(n_classes)
        hessian = np.zeros((n_classes, n_classes))
        scaled = np.empty(n_classes)
        for m in range(start, stop):
            if validate:
                total = 0.0
                negative = False
                for j in range(n_classes):
                    value = np.float64(probs[m, j])
                    total += value
                    negative = negative or value < 0.0
                if negative or not abs(total - 1.0) <= atol:
                    if first_bad[block] < 0:
                        first_bad[block] = m
                    continue
            s = 0.0
            for j in range(n_classes):
                s += ratio[j] * np.float64(probs[m, j])
            product, log_sum = _add_log_factor(s, product, log_sum)
            if not s > 0.0:
                continue
            inverse = 1.0 / s
            for j in range(n_classes):
                scaled[j] = np.float64(probs[m, j]) * inverse
                gradient[j] += scaled[j]
            for j in range(n_classes):
                for k in range(j, n_classes):
                    hessian[j, k] += scaled[j] * scaled[k]
        log_sum += math.log(product)
        partial[block, 0] = log_sum
        index = 1 + n_classes
        for j in range(n_classes):
            partial[block, 1 + j] = gradient[j]
            for k in range(j, n_classes):
                partial[block, index] = hessian[j, k]
                index += 1
    return partial, first_bad


def _three_class_pass_kernel(probs, ratio, validate, atol, block_rows):
    """:func:`_generic_pass_kernel` unrolled for three classes (numba kernel).

    Three classes (star / galaxy / quasar) is the case with 10^8-row tables; with the ten
    running sums in scalar variables they stay in registers, which doubles the speed.
    """
    n_rows = probs.shape[0]
    n_blocks = (n_rows + block_rows - 1) // block_rows
    partial = np.zeros((n_blocks, 10))
    first_bad = np.full(n_blocks, -1, dtype=np.int64)
    q0 = ratio[0]
    q1 = ratio[1]
    q2 = ratio[2]
    for block in numba.prange(n_blocks):
        start = block * block_rows
        stop = min(start + block_rows, n_rows)
        log_sum = 0.0
        product = 1.0
        g0 = g1 = g2 = 0.0
        h00 = h01 = h02 = h11 = h12 = h22 = 0.0
        for m in range(start, stop):
            p0 = np.float64(probs[m, 0])
            p1 = np.float64(probs[m, 1])
            p2 = np.float64(probs[m, 2])
            if validate:
                total = p0 + p1 + p2
                if p0 < 0.0 or p1 < 0.0 or p2 < 0.0 or not abs(total - 1.0) <= atol:
                    if first_bad[block] < 0:
                        first_bad[block] = m
                    continue
            s = q0 * p0 + q1 * p1 + q2 * p2
            product, log_sum = _add_log_factor(s, product, log_sum)
            if not s > 0.0:
                continue
            inverse = 1.0 / s
            a0 = p0 * inverse
            a1 = p1 * inverse
            a2 = p2 * inverse
            g0 += a0
            g1 += a1
            g2 += a2
            h00 += a0 * a0
            h01 += a0 * a1
            h02 += a0 * a2
            h11 += a1 * a1
            h12 += a1 * a2
            h22 += a2 * a2
        log_sum += math.log(product)
        partial[block, 0] = log_sum
        partial[block, 1] = g0
        partial[block, 2] = g1
        partial[block, 3] = g2
        partial[block, 4] = h00
        partial[block, 5] = h01
        partial[block, 6] = h02
        partial[block, 7] = h11
        partial[block, 8] = h12
        partial[block, 9] = h22
    return partial, first_bad


_KERNELS: tuple | None = None


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _compiled_kernels():
    """The numba-compiled pass kernels ``(generic, three_class)``, made on first use."""
    global _KERNELS, numba
    if _KERNELS is None:
        import numba as numba_module
        from numba.extending import register_jitable

        numba = numba_module  # the kernels refer to numba.prange through this global
        # The kernels call _add_log_factor: registered with numba, it is compiled into them
        # (inlined in numba's IR, as if written out in each). Being in this file, a change to it
        # also invalidates the kernels' on-disk cache, which is keyed by this file's timestamp.
        register_jitable(inline="always")(_add_log_factor)
        # fastmath stays off: reassociating the sums would make results depend on
        # vectorisation. nogil lets other Python threads (progress bars, memory samplers,
        # servers) run meanwhile. error_model="numpy": the one division (1 / s_m) is guarded
        # by s_m > 0, so the Python error model's ZeroDivisionError check is dead code.
        # cache=True: compiled once per machine (on disk, beside this file, or in numba's
        # per-user cache directory when that is not writable), then loaded in well under a
        # second by every later process.
        options = {
            "parallel": True,
            "cache": True,
            "fastmath": False,
            "nogil": True,
            "error_model": "numpy",
        }
        _KERNELS = (
            numba.njit(**options)(_generic_pass_kernel),
            numba.njit(**options)(_three_class_pass_kernel),
        )
    return _KERNELS


def _unpack_partial_sums(partial: np.ndarray, n_classes: int):
    """Turn the flat per-block sums of a kernel into (log-likelihood, gradient, Hessian)."""
    totals = partial.sum(axis=0)
    gradient = totals[1 : 1 + n_classes].copy()
    hessian = np.zeros((n_classes, n_classes))
    upper = np.triu_indices(n_classes)
    hessian[upper] = totals[1 + n_classes :]
    hessian = hessian + np.triu(hessian, 1).T
    return float(totals[0]), gradient, hessian


def _statistics_numba(chunk: np.ndarray, ratio: np.ndarray, validate: bool, atol: float):
    generic, three_class = _compiled_kernels()
    kernel = three_class if chunk.shape[1] == 3 else generic
    partial, first_bad = kernel(chunk, ratio, validate, atol, _KERNEL_BLOCK_ROWS)
    bad_rows = first_bad[first_bad >= 0]
    first = int(bad_rows.min()) if bad_rows.size else -1
    return (*_unpack_partial_sums(partial, chunk.shape[1]), first)
