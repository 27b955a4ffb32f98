"""Tests of deweight.illustrations (analytic numbers) and deweight.figures (plotting)."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image
from scipy.integrate import quad
from scipy.stats import norm

from deweight import figures, illustrations
from deweight.reliability import reliability_curve

SOURCE = "Synthetic test table (not a result)"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _outputs(tmp_path, stem: str) -> tuple:
    return tmp_path / f"{stem}.pdf", tmp_path / f"{stem}.png", tmp_path / f"{stem}.csv"


def _assert_png_matches_figure(png_path, fig: Figure, dpi: int) -> None:
    """The PNG has the figure's pixel size and is not a blank canvas."""
    width, height = fig.get_size_inches()
    with Image.open(png_path) as image:
        assert image.size == (round(width * dpi), round(height * dpi))
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 1.0


def _assert_titled_with_source(fig: Figure, source_label: str) -> None:
    assert fig._suptitle is not None
    assert source_label in fig._suptitle.get_text()


def _overshoot_table(cases=("base", "weighted", "deweighted"), classes=(0, 1, 2)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for case in cases:
        for class_index in classes:
            for metric in ("completeness", "reliability", "f1"):
                for size in (100, 1000, 10000):
                    predicted = 0.6 + 0.1 * class_index
                    overshoot = rng.normal(0, 0.02) + (0.1 if case == "weighted" else 0.0)
                    sigma = 0.1 / np.sqrt(size / 100)
                    rows.append(
                        {
                            "case": case,
                            "size": size,
                            "class": class_index,
                            "metric": metric,
                            "observed": predicted + overshoot,
                            "predicted": predicted,
                            "sigma": sigma,
                            "overshoot": overshoot,
                            "z": overshoot / sigma,
                        }
                    )
    return pd.DataFrame(rows)


def _kl_table() -> pd.DataFrame:
    rows = []
    for case in ("base", "weighted", "dewatered", "biased", "debiased"):
        for class_index in range(3):
            for size in (100, 1000, 10000):
                mean = 0.01 + 1.0 / np.sqrt(size) * (2.0 if case in ("weighted", "biased") else 1)
                rows.append(
                    {
                        "case": case,
                        "size": size,
                        "class": class_index,
                        "mean_kl": mean,
                        "sem_kl": 0.3 * mean,
                        "n": 500,
                    }
                )
    return pd.DataFrame(rows)


def _catalogue(n_per_class: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    centres = {"galaxy": (0.8, 1.5), "star": (0.4, 1.0), "AGN": (0.1, 0.3)}
    tables = []
    for name, (g_r, u_g) in centres.items():
        tables.append(
            pd.DataFrame(
                {
                    "g-r": rng.normal(g_r, 0.15, n_per_class),
                    "u-g": rng.normal(u_g, 0.2, n_per_class),
                    "r-i": rng.normal(0.3, 0.1, n_per_class),
                    "class_name": name,
                }
            )
        )
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------------------------
# save_figure
# --------------------------------------------------------------------------------------------


def test_save_figure_writes_three_files_and_csv_round_trips(tmp_path):
    fig = Figure(figsize=(3.0, 2.0))
    fig.subplots().plot([1, 2, 3], [0.1, 0.25, 1 / 3])
    data = pd.DataFrame(
        {"case": ["base", "weighted", "base"], "size": [1, 10, 100], "value": [0.1, 1 / 3, 2e-17]}
    )
    pdf, png, csv = _outputs(tmp_path / "new_directory", "figure")
    figures.save_figure(fig, data, pdf, png, csv, dpi=50)

    assert pdf.read_bytes().startswith(b"%PDF")
    _assert_png_matches_figure(png, fig, dpi=50)
    pd.testing.assert_frame_equal(pd.read_csv(csv), data, check_exact=True)
    # Nothing but the three outputs is left behind (no temporary files).
    assert sorted(path.name for path in pdf.parent.iterdir()) == [
        "figure.csv",
        "figure.pdf",
        "figure.png",
    ]


def test_save_figure_replaces_an_existing_output(tmp_path):
    pdf, png, csv = _outputs(tmp_path, "figure")
    csv.write_text("stale\n")
    fig = Figure(figsize=(2.0, 2.0))
    figures.save_figure(fig, pd.DataFrame({"a": [1]}), pdf, png, csv, dpi=20)
    assert csv.read_text().splitlines() == ["a", "1"]


# --------------------------------------------------------------------------------------------
# Illustrations (analytic numbers)
# --------------------------------------------------------------------------------------------


def test_two_gaussian_probabilities_sum_to_one_and_priors_follow_eq7():
    table = illustrations.two_gaussian_illustration(n_points=401)
    np.testing.assert_allclose(table["P0"] + table["P1"], 1.0, atol=1e-12)
    np.testing.assert_allclose(table["P0_weighted"] + table["P1_weighted"], 1.0, atol=1e-12)
    x = table["x"].to_numpy()
    # Integrated densities give back the class fractions; w_i = 1/P(i) balances them (Eq. 19).
    unweighted = [np.trapezoid(table[f"L{i}"], x) for i in range(2)]
    weighted = [np.trapezoid(table[f"L{i}_weighted"], x) for i in range(2)]
    np.testing.assert_allclose(unweighted, [0.9, 0.1], atol=1e-4)
    np.testing.assert_allclose(weighted, [0.5, 0.5], atol=1e-4)


def _closed_form_root_between_means(p0, p1, mu0=0.0, s0=1.0, mu1=1.5, s1=0.25) -> float:
    """Solve P0 N(x|mu0,s0) = P1 N(x|mu1,s1) as a quadratic a x^2 + b x + c = 0."""
    a = 1 / (2 * s1**2) - 1 / (2 * s0**2)
    b = mu0 / s0**2 - mu1 / s1**2
    c = mu1**2 / (2 * s1**2) - mu0**2 / (2 * s0**2) + np.log(p0 / s0) - np.log(p1 / s1)
    discriminant = np.sqrt(b**2 - 4 * a * c)
    roots = [(-b - discriminant) / (2 * a), (-b + discriminant) / (2 * a)]
    (between,) = [root for root in roots if mu0 <= root <= mu1]
    return between


def test_bayes_boundary_matches_closed_form_and_moves_toward_common_class():
    boundary = illustrations.bayes_boundary()
    assert boundary["unweighted"] == pytest.approx(
        _closed_form_root_between_means(0.9, 0.1), abs=1e-9
    )
    assert boundary["weighted"] == pytest.approx(
        _closed_form_root_between_means(0.5, 0.5), abs=1e-9
    )
    # Up-weighting the rare class widens its region toward class 0 (mean 0).
    assert boundary["weighted"] < boundary["unweighted"]


def test_bayes_boundary_is_nan_when_one_class_dominates_between_the_means():
    boundary = illustrations.bayes_boundary(fractions=(0.999, 0.001), sigmas=(1.0, 1.0))
    assert np.isnan(boundary["unweighted"])
    assert np.isfinite(boundary["weighted"])


def test_pcp_illustration_implied_abundance_is_eq13():
    curves, summary = illustrations.pcp_illustration(n_points=2001)
    np.testing.assert_allclose(summary["model_prior"], [0.5, 0.5])
    np.testing.assert_allclose(summary["true_fraction"], [0.9, 0.1])

    def weighted_probability_of_class1(x):
        density0 = 0.5 * norm.pdf(x, 0.0, 1.0)
        density1 = 0.5 * norm.pdf(x, 1.5, 0.25)
        return density1 / (density0 + density1)

    def unweighted_density(x):
        return 0.9 * norm.pdf(x, 0.0, 1.0) + 0.1 * norm.pdf(x, 1.5, 0.25)

    expected, _ = quad(
        lambda x: weighted_probability_of_class1(x) * unweighted_density(x), -12, 12, points=[1.5]
    )
    assert summary["implied_fraction"].iloc[1] == pytest.approx(expected, abs=1e-4)
    assert summary["implied_fraction"].sum() == pytest.approx(1.0)
    # The weighted model over-counts the rare class relative to the truth, but less than its
    # own prior says: the disagreement Fig. 2 illustrates.
    assert 0.1 < summary["implied_fraction"].iloc[1] < 0.5
    np.testing.assert_allclose(
        curves["L0_apparent"] + curves["L1_apparent"], curves["L_total"], rtol=1e-12
    )


def test_simulation_slices_rgb_channels_sum_to_one_and_match_table1():
    slices = illustrations.simulation_slices(grid_points=9, extent=4.0)
    assert set(slices["slice"]) == {"x0-x2", "x0-x1"}
    assert len(slices) == 2 * 9 * 9
    np.testing.assert_allclose(slices[["P0", "P1", "P2"]].sum(axis=1), 1.0, atol=1e-12)

    # Independent check at one point of the (x0, x2) slice: x = (2, 0, -4, 0).
    row = slices[
        (slices["slice"] == "x0-x2") & (slices["horizontal"] == 2.0) & (slices["vertical"] == -4.0)
    ].iloc[0]
    point = np.array([2.0, 0.0, -4.0, 0.0])
    means = np.array([[0, 0, 0, 0], [1, 0.5, 0, 0], [-0.75, -0.5, 0, 0]])
    sigmas = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 2, 1]])
    joint = np.array([0.6, 0.38, 0.02]) * np.prod(norm.pdf(point, means, sigmas), axis=1)
    np.testing.assert_allclose(row[["P0", "P1", "P2"]].to_numpy(float), joint / joint.sum())
    assert row["log10_density"] == pytest.approx(np.log10(joint.sum()))


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def test_plot_fig1_and_fig2(tmp_path):
    curves, summary = illustrations.pcp_illustration(n_points=201)
    pdf, png, csv = _outputs(tmp_path, "fig1")
    fig = figures.plot_fig1(curves, pdf, png, csv, dpi=40)
    _assert_png_matches_figure(png, fig, dpi=40)
    assert pdf.stat().st_size > 0
    written = pd.read_csv(csv)
    assert list(written.columns) == [
        "x",
        "L0",
        "L1",
        "L0_weighted",
        "L1_weighted",
        "P0",
        "P1",
        "P0_weighted",
        "P1_weighted",
    ]
    np.testing.assert_allclose(written["P1_weighted"], curves["P1_weighted"])

    pdf, png, csv = _outputs(tmp_path, "fig2")
    fig = figures.plot_fig2(curves, summary, pdf, png, csv, dpi=40)
    _assert_png_matches_figure(png, fig, dpi=40)
    written = pd.read_csv(csv)
    abundance = written[written["quantity"] == "abundance"].set_index(["panel", "class"])
    assert abundance.loc[("c", 1), "value"] == pytest.approx(summary["implied_fraction"].iloc[1])
    assert abundance.loc[("b", 0), "value"] == pytest.approx(0.5)
    assert {"density", "probability", "apparent_density", "true_density"} <= set(
        written["quantity"]
    )


def test_plot_fig3(tmp_path):
    slices = illustrations.simulation_slices(grid_points=15)
    pdf, png, csv = _outputs(tmp_path, "fig3")
    fig = figures.plot_fig3(slices, pdf, png, csv, source_label=SOURCE, dpi=40)
    _assert_png_matches_figure(png, fig, dpi=40)
    _assert_titled_with_source(fig, SOURCE)
    written = pd.read_csv(csv)
    np.testing.assert_allclose(written[["P0", "P1", "P2"]].sum(axis=1), 1.0, atol=1e-5)


def test_plot_overshoot_three_by_five(tmp_path):
    table = _overshoot_table(classes=(0, 1, 2, 3, 4))
    pdf, png, csv = _outputs(tmp_path, "fig9")
    names = ["galaxy", "star", "AGN", "BL Lac", "FSRQ"]
    fig = figures.plot_overshoot(
        table,
        pdf,
        png,
        csv,
        source_label=SOURCE,
        class_names=names,
        class_order=[0, 2, 1, 4, 3],
        abundances={0: 0.6991, 1: 0.0081, 2: 0.2913, 3: 0.0005, 4: 0.001},
        dpi=60,
    )
    _assert_png_matches_figure(png, fig, dpi=60)
    _assert_titled_with_source(fig, SOURCE)
    axes = np.array(fig.axes).reshape(3, 5)
    assert [ax.get_title() for ax in axes[0]] == [
        "galaxy (69.9%)",
        "AGN (29.1%)",
        "star (0.81%)",
        "FSRQ (0.1%)",
        "BL Lac (0.05%)",
    ]
    # Each panel keeps its own y range: the rows are not forced to one scale.
    assert (
        axes[0, 0].get_ylim() != axes[0, 4].get_ylim()
        or axes[1, 0].get_ylim() != axes[1, 4].get_ylim()
    )
    written = pd.read_csv(csv)
    assert len(written) == len(table)
    assert set(written["class_name"]) == set(names)


def test_plot_overshoot_writes_only_the_cases_plotted(tmp_path):
    table = _overshoot_table(cases=("base", "weighted", "dewatered", "biased", "debiased"))
    pdf, png, csv = _outputs(tmp_path, "fig6")
    fig = figures.plot_overshoot(
        table,
        pdf,
        png,
        csv,
        source_label=SOURCE,
        class_names={0: "class 0", 1: "class 1", 2: "class 2"},
        cases=["base", "weighted"],
        dpi=40,
    )
    _assert_png_matches_figure(png, fig, dpi=40)
    written = pd.read_csv(csv)
    assert set(written["case"]) == {"base", "weighted"}
    legend_labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert legend_labels == ["base", "weighted", "ideal (zero)"]


def test_plot_kl(tmp_path):
    pdf, png, csv = _outputs(tmp_path, "fig7")
    # Default resolution: the PNG is 150 dpi.
    fig = figures.plot_kl(_kl_table(), pdf, png, csv, source_label=SOURCE, class_names="012")
    _assert_png_matches_figure(png, fig, dpi=150)
    _assert_titled_with_source(fig, SOURCE)
    assert all(ax.get_yscale() == "log" and ax.get_xscale() == "log" for ax in fig.axes)
    written = pd.read_csv(csv)
    pd.testing.assert_series_equal(
        written.sort_values(["case", "class", "size"])["mean_kl"].reset_index(drop=True),
        _kl_table().sort_values(["case", "class", "size"])["mean_kl"].reset_index(drop=True),
        check_exact=False,
    )


def test_plot_colour_density_combined_counts_and_contours(tmp_path):
    catalogue = _catalogue()
    pdf, png, csv = _outputs(tmp_path, "fig4")
    fig = figures.plot_colour_density(
        catalogue,
        pdf,
        png,
        csv,
        source_label=SOURCE,
        panels=[("g-r", "u-g")],
        class_names=["galaxy", "star", "AGN"],
        smoothing_mag=0.03,
        bins=60,
        limits=[((-1.0, 2.0), (-1.0, 3.0))],
        dynamic_range_dex=8.0,
        dpi=40,
    )
    _assert_png_matches_figure(png, fig, dpi=40)
    _assert_titled_with_source(fig, SOURCE)
    written = pd.read_csv(csv)
    assert set(written["class"]) == {"all", "galaxy", "star", "AGN"}
    # The grid is in counts per mag^2: summed over the cells it gives back the source count.
    step_x, step_y = 3.0 / 60, 4.0 / 60
    for name, expected in (("all", 1200), ("AGN", 400)):
        cells = written[written["class"] == name]
        total = (10.0 ** cells["log10_density"]).sum() * step_x * step_y
        assert total == pytest.approx(expected, rel=0.01)
    # The default contour encloses about 80% of each class.
    galaxy = written[written["class"] == "galaxy"]
    level = galaxy["contour_log10_level"].iloc[0]
    inside = (10.0 ** galaxy.loc[galaxy["log10_density"] >= level, "log10_density"]).sum()
    assert inside / (10.0 ** galaxy["log10_density"]).sum() == pytest.approx(0.8, abs=0.02)


def test_plot_colour_density_by_class(tmp_path):
    pdf, png, csv = _outputs(tmp_path, "fig5")
    fig = figures.plot_colour_density(
        _catalogue(),
        pdf,
        png,
        csv,
        source_label=SOURCE,
        panels=[("g-r", "u-g"), ("r-i", "g-r")],
        class_names=["galaxy", "star", "AGN", "FSRQ"],
        smoothing_mag=[0.015, 0.025],
        by_class=True,
        bins=40,
        dpi=40,
    )
    _assert_png_matches_figure(png, fig, dpi=40)
    written = pd.read_csv(csv)
    # A class with no sources gets an empty panel and no rows, not an error.
    assert set(written["class"]) == {"galaxy", "star", "AGN"}
    assert set(written["panel"]) == {"u-g vs g-r", "g-r vs r-i"}


def _reliability_table() -> pd.DataFrame:
    """Two cases' reliability curves on labelled rows, with the workflow's class_name column."""
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=2_000)
    labels = np.array([rng.choice(3, p=row) for row in probs])
    tables = []
    for case, shift in (("base", 0.0), ("weighted", 0.1)):
        shifted = np.clip(probs + shift * (probs[:, [2]] - probs), 0, None)
        shifted /= shifted.sum(axis=1, keepdims=True)
        table = reliability_curve(shifted, labels=labels, bins=5).assign(model=case)
        table.insert(2, "class_name", table["class"].map({0: "galaxy", 1: "star", 2: "bll"}))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def test_plot_reliability_reads_class_names_from_the_table_unless_given(tmp_path):
    table = _reliability_table()
    pdf, png, csv = _outputs(tmp_path, "default")
    fig = figures.plot_reliability(table, pdf, png, csv, source_label=SOURCE, reference="observed")
    _assert_png_matches_figure(png, fig, dpi=150)
    _assert_titled_with_source(fig, SOURCE)
    written = pd.read_csv(csv)
    assert len(written) == len(table)
    shown = ["Galaxy", "Star", "BL Lac"]  # as figures show the registry's galaxy, star, bll
    assert set(zip(written["class"], written["class_name"], strict=True)) == set(enumerate(shown))
    assert [ax.get_title() for ax in fig.axes[:3]] == ["(a) Galaxy", "(b) Star", "(c) BL Lac"]
    # Names given explicitly win over the table's.
    explicit = _outputs(tmp_path, "explicit")
    figures.plot_reliability(
        table, *explicit, source_label=SOURCE, reference="observed", class_names="xyz"
    )
    assert set(pd.read_csv(explicit[2])["class_name"]) == {"x", "y", "z"}
    # A class with two names, or no names at all, is refused before anything is written.
    clash = table.assign(class_name=table["class_name"].where(table["model"] == "base", "other"))
    rejected = _outputs(tmp_path, "rejected")
    with pytest.raises(ValueError, match="more than one class_name"):
        figures.plot_reliability(clash, *rejected, source_label=SOURCE, reference="observed")
    with pytest.raises(ValueError, match="class_name"):
        figures.plot_reliability(
            table.drop(columns="class_name"), *rejected, source_label=SOURCE, reference="observed"
        )
    assert not any(path.exists() for path in rejected)


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _call_with_missing_column(name: str, tmp_path):
    outputs = _outputs(tmp_path, name)
    curves, summary = illustrations.pcp_illustration(n_points=51)
    calls = {
        "fig1": lambda: figures.plot_fig1(curves.drop(columns="P1_weighted"), *outputs),
        "fig2": lambda: figures.plot_fig2(
            curves, summary.drop(columns="implied_fraction"), *outputs
        ),
        "fig3": lambda: figures.plot_fig3(
            illustrations.simulation_slices(5).drop(columns="P2"), *outputs
        ),
        "overshoot": lambda: figures.plot_overshoot(
            _overshoot_table().drop(columns="sigma"),
            *outputs,
            source_label=SOURCE,
            class_names=["a", "b", "c"],
        ),
        "kl": lambda: figures.plot_kl(
            _kl_table().drop(columns="sem_kl"), *outputs, source_label=SOURCE, class_names="abc"
        ),
        "colour": lambda: figures.plot_colour_density(
            _catalogue().drop(columns="u-g"),
            *outputs,
            source_label=SOURCE,
            panels=[("g-r", "u-g")],
            class_names=["galaxy"],
        ),
    }
    return calls[name]


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("fig1", "P1_weighted"),
        ("fig2", "implied_fraction"),
        ("fig3", "P2"),
        ("overshoot", "sigma"),
        ("kl", "sem_kl"),
        ("colour", "u-g"),
    ],
)
def test_missing_column_raises_value_error_naming_it(name, missing, tmp_path):
    with pytest.raises(ValueError, match=f"missing required column.*'{missing}'"):
        _call_with_missing_column(name, tmp_path)()
    # Nothing is written when the input is rejected.
    assert list(tmp_path.iterdir()) == []


def test_overshoot_rejects_unknown_case_and_duplicate_rows(tmp_path):
    table = _overshoot_table()
    outputs = _outputs(tmp_path, "bad")
    unknown = table.assign(case=table["case"].replace("weighted", "wieghted"))
    with pytest.raises(ValueError, match="wieghted"):
        figures.plot_overshoot(unknown, *outputs, source_label=SOURCE, class_names="abc")
    with pytest.raises(ValueError, match="more than one row"):
        figures.plot_overshoot(
            pd.concat([table, table.iloc[:1]]), *outputs, source_label=SOURCE, class_names="abc"
        )
    with pytest.raises(ValueError, match="source_label"):
        figures.plot_overshoot(table, *outputs, source_label=" ", class_names="abc")


_PLOT_FUNCTIONS = [
    "plot_fig1",
    "plot_fig2",
    "plot_fig3",
    "plot_colour_density",
    "plot_overshoot",
    "plot_overshoot_recipes",
    "plot_kl",
    "plot_kl_recipes",
    "plot_reliability",
]


@pytest.mark.parametrize("name", _PLOT_FUNCTIONS)
def test_every_figure_takes_the_outputs_source_label_and_dpi_and_says_so(name):
    function = getattr(figures, name)
    parameters = inspect.signature(function).parameters
    names = list(parameters)
    outputs = names.index("pdf_path")
    assert names[outputs : outputs + 3] == ["pdf_path", "png_path", "csv_path"]
    assert all(parameters[n].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for n in names[:3])
    assert parameters["source_label"].kind is inspect.Parameter.KEYWORD_ONLY
    assert names[-1] == "dpi" and parameters["dpi"].default == 150
    doc = function.__doc__
    assert doc.count("as for every figure") == 1
    assert doc.index("as for every figure") < doc.index("Raises")


def test_a_figure_takes_its_outputs_by_keyword_and_refuses_an_unknown_one(tmp_path):
    curves, _ = illustrations.pcp_illustration(n_points=51)
    pdf, png, csv = _outputs(tmp_path, "fig1")
    with pytest.raises(TypeError, match="bar_z"):
        figures.plot_fig1(curves, pdf, png, csv, bar_z=1.0)
    assert list(tmp_path.iterdir()) == []
    fig = figures.plot_fig1(curves, csv_path=csv, png_path=png, pdf_path=pdf, dpi=30)
    _assert_png_matches_figure(png, fig, dpi=30)
    # The illustrations have a default source label, the second title line.
    assert "Analytic illustration" in fig.get_suptitle()
    assert pdf.exists() and csv.exists()


def test_case_styles_are_fixed_and_distinct():
    shown_together = ["base", "weighted", "dewatered", "biased", "debiased", "ideal"]
    colours = [figures.CASE_STYLES[case]["color"] for case in shown_together]
    assert len(set(colours)) == len(colours)
    # The paper's two spellings of the corrected case look the same in every figure.
    dewatered = dict(figures.CASE_STYLES["dewatered"], label=None)
    deweighted = dict(figures.CASE_STYLES["deweighted"], label=None)
    assert dewatered == deweighted


def test_class_names_and_styles_come_from_the_registry():
    from deweight import registry

    for name, style in registry.CLASSES.items():
        assert figures.display_class_name(name) == style.display
        drawn = {"color": figures.OKABE_ITO[style.colour], "linestyle": style.linestyle}
        # By class name or by the name the figure shows (the density figures get the latter).
        assert figures._class_style(name, 0) == drawn
        assert figures._class_style(style.display, 3) == drawn
    # AGN and the bundled sample's QSO are one class drawn alike; BL Lac is written out.
    assert figures._class_style("qso", 0) == figures._class_style("agn", 1)
    assert figures.display_class_name("bll") == "BL Lac"
    # A class the registry does not know keeps its name and takes a colour by position.
    assert figures.display_class_name("comet") == "comet"
    assert figures._class_style("comet", 0)["color"] != figures._class_style("comet", 1)["color"]
