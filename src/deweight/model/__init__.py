"""The classifier of Section 3.1 of Lake & Tsai (2022): a small stick-breaking perceptron.

Where each part lives:

* :mod:`~deweight.model.features` -- range scaling (:class:`RangeScaler`) and the quadratic
  augmentation (:func:`augment_quadratic`, both conventions);
* :mod:`~deweight.model.network` -- the stick-breaking head (Eq. 17) and the weighted
  cross-entropy;
* :mod:`~deweight.model.fast` -- the fast recipe's schedule, in one place, and its fit;
  :mod:`~deweight.model.batched` -- the batched-restart machinery it drives;
* :mod:`~deweight.model.paper` -- the paper's recipe (full-batch Adam);
* :mod:`~deweight.model.classifier` -- the :class:`Classifier` estimator and its file format.

Every name importable from ``deweight.model`` before the split still is.
"""

from deweight.model.batched import (  # noqa: F401
    _BatchedRestarts,
    _FusedAdam,
    _ParameterAverage,
    _shuffle_once_batches,
    _Workspace,
)
from deweight.model.classifier import RECIPES, Classifier, _resolve_device  # noqa: F401
from deweight.model.fast import (  # noqa: F401
    FAST_WEIGHT_DECAY_ROWS,
    _fast_first_layer_dtype,
    fast_weight_decay,
)
from deweight.model.features import (  # noqa: F401
    _AUGMENT_BLOCK_ROWS,
    AUGMENTATIONS,
    RangeScaler,
    augment_quadratic,
    augmentation_exponents,
)
from deweight.model.network import (  # noqa: F401
    _StickBreakingNetwork,
    count_parameters,
    stick_breaking_log_probabilities,
    stick_breaking_probabilities,
    weighted_cross_entropy,
)

__all__ = [
    "AUGMENTATIONS",
    "RECIPES",
    "Classifier",
    "RangeScaler",
    "augment_quadratic",
    "augmentation_exponents",
    "count_parameters",
    "stick_breaking_log_probabilities",
    "stick_breaking_probabilities",
    "weighted_cross_entropy",
]
