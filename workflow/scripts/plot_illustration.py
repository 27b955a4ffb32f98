"""Figs. 1-3: the analytic illustrations (no training involved)."""

from deweight import figures, illustrations
from deweight._workflow import run_logged


def main(smk):
    out = smk.output
    if smk.rule == "fig1":
        figures.plot_fig1(illustrations.two_gaussian_illustration(), out.pdf, out.png, out.csv)
    elif smk.rule == "fig2":
        curves, summary = illustrations.pcp_illustration()
        figures.plot_fig2(curves, summary, out.pdf, out.png, out.csv)
    elif smk.rule == "fig3":
        figures.plot_fig3(illustrations.simulation_slices(), out.pdf, out.png, out.csv)
    else:
        raise ValueError(f"plot_illustration.py does not draw rule {smk.rule!r}")


run_logged(main, snakemake)  # noqa: F821
