"""The bias verdict per class and the Sect. 4.4 PCP table of the Clarke et al. (2020) catalogue."""

import numpy as np
import pandas as pd
from workflow_settings import workflow_config

from deweight.verdict import bias_verdict


def test_bias_verdict_distinguishes_the_three_cases():
    table = bias_verdict(
        model_prior=[0.5, 0.3, 0.2],
        pcp=[0.5, 0.45, 0.05],
        pcp_stderr=[0.01, 0.01, 0.01],
        max_abs_overshoot_z=[1.0, 10.0, 10.0],
        z_threshold=3.0,
    )
    assert list(table["verdict"]) == [
        "no significant bias",
        "prior mismatch",
        "prior mismatch",
    ]
    table = bias_verdict([0.5, 0.5], [0.5, 0.5], [0.01, 0.01], [0.5, 4.0], z_threshold=3.0)
    assert list(table["verdict"]) == ["no significant bias", "probabilities inaccurate"]
    np.testing.assert_allclose(table["prior_difference_sigma"], 0.0)


def test_bias_verdict_counts_an_infinite_overshoot_and_flags_the_boundary():
    # A missed metric whose predicted variance is zero has z = inf: the strongest evidence.
    table = bias_verdict([0.5, 0.5], [0.5, 0.5], [0.01, 0.01], [np.inf, np.nan])
    assert list(table["verdict"]) == ["probabilities inaccurate", "no significant bias"]
    table = bias_verdict([0.9, 0.1], [1.0, 1e-9], [0.02, 0.02], [0.0, 0.0])
    assert list(table["pcp_on_boundary"]) == [False, True]


def test_bias_verdict_includes_the_model_priors_own_sampling_error():
    # 0.10 vs 0.13 is 3 sigma of the PCP alone (0.01) but not once a 100-row training
    # fraction's own error, sqrt(0.1 * 0.9 / 100) = 0.03, is added.
    alone = bias_verdict([0.9, 0.1], [0.87, 0.13], [0.01, 0.01], [0, 0], z_threshold=2.0)
    both = bias_verdict(
        [0.9, 0.1],
        [0.87, 0.13],
        [0.01, 0.01],
        [0, 0],
        z_threshold=2.0,
        model_prior_variance=[0.9 * 0.1 / 100, 0.9 * 0.1 / 100],
    )
    assert list(alone["verdict"]) == ["prior mismatch"] * 2
    assert list(both["verdict"]) == ["no significant bias"] * 2
    np.testing.assert_allclose(both["prior_difference_sigma"].abs(), 0.03 / np.sqrt(0.001))


def test_clarke_pcp_table_streams_a_catalogue_and_recovers_its_prior(tmp_path):
    """Sect. 4.4 on a small stand-in for the Clarke et al. (2020) catalogue.

    Rows are exact posteriors under a flat model prior of a known mixture with prior
    (0.45, 0.50, 0.05), so the flat-prior PCP must recover that prior within its error.
    """
    from deweight.verdict import clarke_pcp_table

    # The catalogue's columns as the workflow names them (config: archive.clarke2020).
    columns = workflow_config()["archive"]["clarke2020"]["probability_columns"]

    rng = np.random.default_rng(3)
    true_prior = np.array([0.45, 0.50, 0.05])
    n = 60_000
    labels = rng.choice(3, size=n, p=true_prior)
    means = np.array([[2.0, 0.0], [0.0, 2.0], [-1.5, -1.5]])
    x = means[labels] + rng.normal(size=(n, 2))
    log_like = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(-1)
    flat_posterior = np.exp(log_like - log_like.max(1, keepdims=True))
    flat_posterior /= flat_posterior.sum(1, keepdims=True)
    frame = pd.DataFrame(flat_posterior.astype(np.float32), columns=columns)
    frame.insert(0, "objid", np.arange(n))
    path = tmp_path / "clarke2020.parquet"
    frame.to_parquet(path)
    table = clarke_pcp_table(
        path,
        training_prior=(0.729, 0.150, 0.121),
        method="newton",
        tol=1e-8,
        max_iter=1000,
        columns=columns,
    )
    flat = table[table["assumed_prior_name"] == "flat"].sort_values("class")
    assert flat["converged"].all()
    z = (flat["pcp"].to_numpy() - true_prior) / flat["stderr"].to_numpy()
    assert np.all(np.abs(z) < 4), z
    np.testing.assert_allclose(flat["mean_probability"], flat_posterior.mean(0), atol=1e-5)
    assert set(table["assumed_prior_name"]) == {"flat", "training composition"}
