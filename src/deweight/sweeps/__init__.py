"""The size sweeps of Sect. 4 of Lake & Tsai (2022): train each member, evaluate the whole sweep.

One sweep trains each model variant (base, weighted, biased, calibrated) on nested training
subsets of growing size and writes its test-set probabilities (:mod:`deweight.predictions`);
the evaluations turn a sweep's files into the tables of Figs. 6-9, the Sect. 4.1 and 4.4 prior
tables and the bias verdict, using the cases of :mod:`deweight.cases` and the PCP tables of
:mod:`deweight.verdict`.

What lives where:

* :mod:`~deweight.sweeps.subsets` -- the nested training subsets (:func:`nested_subset`,
  :func:`nested_prefix`);
* :mod:`~deweight.sweeps.training` -- one sweep member: read a prepared table, fit, write the
  model and its predictions (:func:`train_sweep_member`), and the variants of each sweep;
* :mod:`~deweight.sweeps.evaluation` -- whole sweeps: :func:`evaluate_simulation_sweep`,
  :func:`evaluate_recipe_comparison`, :func:`evaluate_real_sweep`.

Every name is importable from :mod:`deweight.sweeps` itself.
"""

from deweight.sweeps.evaluation import (
    draw_large_test_set,
    evaluate_real_sweep,
    evaluate_recipe_comparison,
    evaluate_simulation_sweep,
)
from deweight.sweeps.subsets import SUBSET_METHODS, nested_prefix, nested_subset
from deweight.sweeps.training import (
    MODEL_VARIANTS,
    REAL_VARIANTS,
    SIMULATION_VARIANTS,
    load_training_table,
    train_and_predict,
    train_sweep_member,
)

__all__ = [
    "MODEL_VARIANTS",
    "REAL_VARIANTS",
    "SIMULATION_VARIANTS",
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
