"""The workflow states each choice once: the schema, read by the rules, agrees with the library.

The schema (workflow/schemas/config.schema.yaml) lists the recipes, the variants of each sweep
and the PCP solvers a configuration may choose; the rules' wildcard constraints are read from
it (workflow/rules/common.smk), and these tests hold it to the library's own constants.
"""

from __future__ import annotations

import pytest
from workflow_settings import REPO_ROOT

from deweight import registry, simulate, sweeps
from deweight._workflow import schema_choices
from deweight.model import RECIPES
from deweight.priors import PCP_METHODS

SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
RULES = REPO_ROOT / "workflow" / "rules"


def test_the_schema_s_choices_are_the_library_s():
    assert schema_choices(SCHEMA, "simulation.model.recipe") == list(RECIPES)
    assert schema_choices(SCHEMA, "simulation.variants") == list(sweeps.SIMULATION_VARIANTS)
    assert schema_choices(SCHEMA, "realdata.variants") == list(sweeps.REAL_VARIANTS)
    assert set(schema_choices(SCHEMA, "pcp.method")) == set(PCP_METHODS)
    assert schema_choices(SCHEMA, "data.source") == sorted(registry.SOURCES, reverse=True)
    # Every simulation variant is a model the sweep can fit; the real sweep adds calibrated.
    assert set(sweeps.SIMULATION_VARIANTS) <= set(sweeps.MODEL_VARIANTS)
    assert set(sweeps.REAL_VARIANTS) - set(sweeps.MODEL_VARIANTS) == {"calibrated"}


def test_schema_choices_follow_references_and_name_what_is_missing():
    # simulation.model is a $ref to definitions/model.
    assert schema_choices(SCHEMA, "simulation.model.augmentation") == [
        "interpolation",
        "mathematician",
        "none",
    ]
    with pytest.raises(KeyError, match="no setting 'simulation.nosuch'"):
        schema_choices(SCHEMA, "simulation.nosuch")
    with pytest.raises(KeyError, match="'seed' lists no allowed values"):
        schema_choices(SCHEMA, "seed")


@pytest.mark.parametrize(
    "written",
    ['"fast|paper"', '"base|weighted', '"class 0"', '"resources/archive/', '"logs/'],
)
def test_no_rule_writes_a_list_or_a_folder_by_hand(written):
    for path in RULES.glob("*.smk"):
        assert written not in path.read_text(), path.name


def test_the_simulation_s_class_names_are_one_per_class():
    names = registry.SIMULATION_CLASS_NAMES
    assert len(names) == len(set(names)) == simulate.N_CLASSES == len(simulate.CLASS_FRACTIONS)
