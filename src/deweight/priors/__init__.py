"""Class priors: the prior a training set implies, replacing it, and estimating it from data.

Section 2 of Lake & Tsai (2022): a classifier trained on a set with class prior ``P_M(i)`` (the
training-set composition, Eq. 3, or its weighted version, Eq. 7) returns probabilities
``P_M(i|x)`` that carry that prior. :func:`replace_prior` swaps it for another (Eq. 12,
"deweighting"); :func:`prediction_consistent_prior` finds the prior that agrees with the model's
own predictions on an unlabelled set (Eqs. 13-16). Where each part lives (each module imports
only those above it in this list):

* :mod:`~deweight.priors.replace` -- Eqs. 3, 7 and 12: :func:`effective_prior`,
  :func:`weighted_prior`, :func:`replace_prior`.
* :mod:`~deweight.priors.statistics` -- one pass's sufficient statistics over a block of rows:
  :class:`PassStatistics` (log-likelihood, C gradient sums, C x C Hessian sums, row count),
  :func:`block_statistics` (the statistics of one 2-D block for one trial prior, by the numba
  kernels of :mod:`~deweight.priors._kernels` or by NumPy, validating on request, errors
  naming the row and, given ``where``, the partition), :func:`combine_statistics` (add blocks
  in a fixed order), the in-memory/streamed probability source, :func:`mean_probability`
  (Eq. 13) and the choice of engine (``ENGINES``, ``NUMBA_MIN_ROWS``).
* :mod:`~deweight.priors.solvers` -- EM, SQUAREM and Newton on Eq. 14, and the covariance
  (Eq. 16). They see statistics, never rows.
* :mod:`~deweight.priors.pcp` -- :func:`solve_pcp`, the stable seam between data and solvers,
  and its front ends :func:`prediction_consistent_prior`, :class:`PredictionConsistentPrior`,
  with :class:`PCPResult`.

The seam, for an engine of its own (e.g. a map-reduce over a cluster's partitions)::

    def evaluate(ratio, *, validate):        # the statistics of the whole table at q = ratio
        return combine_statistics(
            block_statistics(part, ratio, validate=validate, row_offset=first_row, where=name)
            for part, first_row, name in partitions      # always in the same order
        )

    result = solve_pcp(evaluate, model_prior, method="newton", tol=1e-8)

:func:`solve_pcp` calls ``evaluate(None, validate=True)`` once (``q = 1``: the validating
first pass) and then only ``evaluate(ratio, validate=False)``. Its result depends on the data
only through these statistics, so statistics with the same bits give the same prior, standard
errors and iterations as :func:`prediction_consistent_prior` (which is ``solve_pcp`` with a
pass over one table, block by block).
"""

# The private helpers below were importable from the single module deweight.priors; they
# stay importable from here.
from deweight.priors._kernels import _compiled_kernels, _numba_installed  # noqa: F401
from deweight.priors.pcp import (  # noqa: F401
    PCPResult,
    PredictionConsistentPrior,
    _warn_about_result,
    prediction_consistent_prior,
    solve_pcp,
)
from deweight.priors.replace import (  # noqa: F401
    DEFAULT_CHUNK_ROWS,
    _check_weights,
    _checked_chunk_size,  # noqa: F401
    _prior_ratio,
    _replace_prior_in_log_space,
    effective_prior,
    replace_prior,
    weighted_prior,
)
from deweight.priors.solvers import (  # noqa: F401
    _SOLVERS,
    PCP_METHODS,
    _em_update,
    _log_likelihood_derivatives,
    _newton_direction,
    _prior_covariance,
    _simplex_tangent_basis,
    _solve_em,
    _solve_newton,
    _solve_squarem,
    _starting_point,
)
from deweight.priors.statistics import (  # noqa: F401
    ENGINES,
    NUMBA_MIN_ROWS,
    PassStatistics,
    _likelihood_pass,
    _ProbabilitySource,
    _resolve_engine,
    block_statistics,
    combine_statistics,
    mean_probability,
)

#: The name the pass statistics had before the package split.
_PassStatistics = PassStatistics

__all__ = [
    "PCPResult",
    "PassStatistics",
    "PredictionConsistentPrior",
    "block_statistics",
    "combine_statistics",
    "effective_prior",
    "mean_probability",
    "prediction_consistent_prior",
    "replace_prior",
    "solve_pcp",
    "weighted_prior",
]
