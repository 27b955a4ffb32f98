"""Paper-faithful mode (issue 13): plain nested prefixes, the recipe-against-recipe evaluation
and figures, the Sect. 4.1 priors on a large test set, and the paper-recipe profile."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_settings import run_snakemake

from deweight import figures, simulate
from deweight._files import write_parquet_atomic
from deweight.predictions import write_predictions
from deweight.sweeps import (
    draw_large_test_set,
    evaluate_recipe_comparison,
    evaluate_simulation_sweep,
    nested_prefix,
    train_sweep_member,
)

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "paper"


# ------------------------------------------------------------------------------------------
# Plain nested prefixes (simulation.subsets: prefix)
# ------------------------------------------------------------------------------------------


def test_nested_prefixes_are_nested_and_capped_at_the_rows_available():
    small, large = nested_prefix(1000, 316), nested_prefix(1000, 3162)
    np.testing.assert_array_equal(small, np.arange(316))
    np.testing.assert_array_equal(large, np.arange(1000))
    assert set(small) <= set(large)
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="size"):
            nested_prefix(1000, bad)


def _write_set(path, X, y, name):
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = y
    metadata = {
        "data_source": "simulation",
        "set": name,
        "features": list(frame.columns[:-1]),
        "class_names": ["class 0", "class 1", "class 2"],
    }
    write_parquet_atomic(frame, path, metadata)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A small simulation (train and test sets) written as the workflow writes it."""
    root = tmp_path_factory.mktemp("sim")
    data = simulate.draw_datasets(seed=5, n_train=4_000, n_biased=10, n_test=3_000)
    for name in ("train", "test"):
        _write_set(root / f"{name}.parquet", *data[name], name)
    return root, data


def _train(root, size, subsets, tag, max_steps=30):
    return train_sweep_member(
        train_path=root / "train.parquet",
        test_path=root / "test.parquet",
        model_path=root / f"{tag}.pt",
        predictions_path=root / f"{tag}.parquet",
        variant="base",
        size=size,
        model_params={"hidden": [4], "restarts": 1, "max_steps": max_steps, "device": "auto"},
        seed=1,
        threads=1,
        subsets=subsets,
    )


def test_prefix_subsets_train_on_the_first_rows_and_stratified_ones_do_not(simulated):
    root, data = simulated
    y = data["train"][1]
    prefix = _train(root, 300, "prefix", "prefix")
    stratified = _train(root, 300, "stratified", "stratified")
    assert prefix.metadata["subsets"] == "prefix"
    # The prefix model's training fractions are exactly those of the first 300 rows.
    np.testing.assert_allclose(
        prefix.metadata["training_fractions"], np.bincount(y[:300], minlength=3) / 300
    )
    # The stratified subset gives every class floor(300 n_c / n) rows (at least 3).
    expected = np.floor(300 * np.bincount(y, minlength=3) / y.size)
    got = np.round(np.asarray(stratified.metadata["training_fractions"]) * 300)
    np.testing.assert_array_equal(got[1:], np.maximum(expected[1:], 3))
    with pytest.raises(ValueError, match="subsets"):
        _train(root, 300, "random", "bad")


# ------------------------------------------------------------------------------------------
# Sect. 4.1 priors beside a large test set
# ------------------------------------------------------------------------------------------


def test_large_test_set_is_reproducible_independent_and_representative():
    X, y = draw_large_test_set(11, 200_000)
    X2, y2 = draw_large_test_set(11, 200_000)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    # Independent of the three sets of draw_datasets with the same seed.
    sets = simulate.draw_datasets(seed=11, n_train=1_000, n_biased=1_000, n_test=1_000)
    for name in ("train", "biased", "test"):
        assert not np.array_equal(X[:1_000], sets[name][0])
    fractions = np.asarray(simulate.CLASS_FRACTIONS)
    sigma = np.sqrt(fractions * (1 - fractions) / y.size)
    assert np.all(np.abs(np.bincount(y, minlength=3) / y.size - fractions) < 5 * sigma)


def test_sweep_priors_on_a_large_test_set_sit_beside_the_small_ones(simulated):
    root, _ = simulated
    prediction_paths, model_paths = {}, {}
    for size in (1_000, 4_000):
        tag = f"pcp_n{size}"
        _train(root, size, "prefix", tag, max_steps=60)
        prediction_paths[("base", size)] = root / f"{tag}.parquet"
    model_paths["base"] = root / "pcp_n4000.pt"
    overshoot, kl, pcp, verdict, reliability = evaluate_simulation_sweep(
        prediction_paths,
        root / "test.parquet",
        seed=3,
        method="newton",
        tol=1e-8,
        max_iter=1000,
        model_paths=model_paths,
        n_test_large=100_000,
    )
    assert set(pcp["test_rows"]) == {3_000, 100_000}
    assert set(pcp["model"]) == {"base", "analytic posterior"}
    assert set(kl["size"]) == {1_000, 4_000}
    # The verdict and the reliability curves are those of the largest model on the large set.
    assert set(verdict["test_rows"]) == set(reliability["test_rows"]) == {100_000}
    assert set(verdict["model"]) == {"base"} and set(verdict["size"]) == {4_000}
    analytic = pcp[pcp["model"] == "analytic posterior"].set_index(["test_rows", "class"])
    # The analytic posterior's PCP is consistent with the truth on either test set, and the
    # large set's standard error is about sqrt(100,000 / 3,000) = 5.8 times smaller.
    for rows in (3_000, 100_000):
        part = analytic.loc[rows]
        z = (part["pcp"] - part["true_prior"]) / part["stderr"]
        assert np.all(np.abs(z) < 5), part
    ratio = analytic.loc[3_000, "stderr"] / analytic.loc[100_000, "stderr"]
    np.testing.assert_allclose(ratio, np.sqrt(100_000 / 3_000), rtol=0.3)
    # A model file that is not the evaluated fit is refused.
    with pytest.raises(ValueError, match="does not reproduce"):
        evaluate_simulation_sweep(
            prediction_paths,
            root / "test.parquet",
            seed=3,
            method="newton",
            tol=1e-8,
            max_iter=1000,
            model_paths={"base": root / "pcp_n1000.pt"},
            n_test_large=1_000,
        )


# ------------------------------------------------------------------------------------------
# Recipe against recipe
# ------------------------------------------------------------------------------------------


def _fake_predictions(root, recipe, variant, size, probs, labels, prior):
    path = root / f"{recipe}_{variant}_{size}.parquet"
    metadata = {
        "variant": variant,
        "size_requested": size,
        "size_used": size,
        "model_prior": list(prior),
        "training_fractions": list(simulate.CLASS_FRACTIONS),
        "class_names": ["class 0", "class 1", "class 2"],
        "fit_report": {"recipe": recipe},
    }
    write_predictions(path, probs, labels, metadata)
    return path


def test_recipe_comparison_scores_each_recipe_on_the_same_test_set(simulated):
    root, data = simulated
    X_test, y_test = data["test"]
    truth = simulate.true_posterior(X_test)
    flat = np.full(3, 1 / 3)
    biased_truth = simulate.true_posterior(X_test, flat)
    # "paper" predicts the analytic posterior exactly; "fast" is the same blurred towards flat.
    blurred = 0.8 * truth + 0.2 / 3
    paths = {}
    for recipe, probs, biased in (
        ("paper", truth, biased_truth),
        ("fast", blurred, 0.8 * biased_truth + 0.2 / 3),
    ):
        for size in (316, 1000):
            paths[(recipe, "base", size)] = _fake_predictions(
                root, recipe, "base", size, probs, y_test, simulate.CLASS_FRACTIONS
            )
            paths[(recipe, "biased", size)] = _fake_predictions(
                root, recipe, "biased", size, biased, y_test, flat
            )
    overshoot, kl = evaluate_recipe_comparison(paths, root / "test.parquet", seed=2)
    assert set(kl["recipe"]) == {"paper", "fast"}
    assert set(kl["case"]) == {"base", "biased", "debiased"}
    paper = kl[kl["recipe"] == "paper"]
    fast = kl[kl["recipe"] == "fast"]
    # Eq. 12 turns the exact biased posterior back into the exact one: zero KL for the paper
    # recipe's base and debiased cases, positive for every fast case.
    np.testing.assert_allclose(paper[paper["case"] != "biased"]["mean_kl"], 0.0, atol=1e-12)
    assert np.all(fast["mean_kl"] > 1e-4)
    assert set(overshoot["recipe"]) == {"paper", "fast"}
    # Same seed, same case, same probabilities: the same stochastic classes for either label.
    assert len(overshoot) == 2 * len(overshoot[overshoot["recipe"] == "paper"])
    # A file filed under the wrong recipe is refused, naming it.
    wrong = dict(paths)
    wrong[("paper", "base", 316)] = paths[("fast", "base", 316)]
    with pytest.raises(ValueError, match="fast_base_316.parquet was trained with the 'fast'"):
        evaluate_recipe_comparison(wrong, root / "test.parquet", seed=2)

    for function, table, extra in (
        (figures.plot_kl_recipes, kl, {}),
        (figures.plot_overshoot_recipes, overshoot, {"class_index": 2}),
    ):
        out = [root / f"{function.__name__}.{ext}" for ext in ("pdf", "png", "csv")]
        function(table, *out, source_label="test data", class_names=["a", "b", "c"], **extra)
        written = pd.read_csv(out[2])
        expected = table if not extra else table[table["class"] == 2]
        assert len(written) == len(expected)
        assert set(written["recipe"]) == {"paper", "fast"}
        assert all(path.stat().st_size > 0 for path in out)
    with pytest.raises(ValueError, match="unknown recipe"):
        figures.plot_kl_recipes(
            kl[kl["recipe"] == "paper"].assign(recipe="other"),
            *out,
            source_label="x",
            class_names=["a", "b", "c"],
        )


# ------------------------------------------------------------------------------------------
# The paper-recipe profile
# ------------------------------------------------------------------------------------------


def test_paper_profile_preset_trains_every_model_with_the_papers_recipe():
    from snakemake.utils import update_config, validate

    settings = yaml.safe_load((PROFILE / "config.yaml").read_text())
    preset_files = [REPO / path for path in settings["configfiles"]]
    assert all(path.is_file() for path in preset_files)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path in preset_files:
        update_config(config, yaml.safe_load(path.read_text()))
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    models = [config["simulation"]["model"], *config["realdata"]["model"].values()]
    for model in models:
        assert (model["recipe"], model["restarts"], model["max_steps"]) == ("paper", 5, 25_000)
    assert config["simulation"]["subsets"] == "prefix"
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["output"]
    assert config["output"]["results"] != default["results"]
    assert config["output"]["logs"] != default["logs"]


def _snakemake(*args):
    result = run_snakemake(args)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def _job_counts(text):
    table = text[text.index("Job stats:") :].split("\n\n")[0]
    counts = {}
    for line in table.splitlines()[3:]:
        if len(line.split()) == 2:
            counts[line.split()[0]] = int(line.split()[1])
    return counts


def _output_files(text):
    lines = [line.split("\t") for line in text.splitlines() if "\t" in line]
    return [fields[0] for fields in lines[1:]]


def test_paper_profile_lists_the_whole_dag_in_its_own_folder():
    profile = ["--workflow-profile", str(PROFILE.relative_to(REPO))]
    # Every job of the default run, none more ...
    default_counts = _job_counts(_snakemake("-n", "--forceall"))
    paper_counts = _job_counts(_snakemake("-n", "--forceall", *profile))
    assert paper_counts == default_counts
    assert paper_counts["train_simulation"] > 0 and paper_counts["train_real"] > 0
    # ... and every output in the paper-recipe folder, while the default run has none there.
    outputs = _output_files(_snakemake("--summary", *profile))
    assert outputs and all(path.startswith("results/paper-recipe/") for path in outputs)
    for part in ("simulation/predictions/", "bundled/predictions/", "bundled/figures/fig9"):
        assert any(path.startswith(f"results/paper-recipe/{part}") for path in outputs), part
    default_outputs = _output_files(_snakemake("--summary"))
    assert default_outputs and not any("paper-recipe" in path for path in default_outputs)
