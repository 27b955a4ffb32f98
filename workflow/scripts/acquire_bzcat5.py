"""Snakemake adapter: Roma-BZCAT 5 (VizieR VII/274) -> resources/archive/bzcat5.parquet."""

from deweight._workflow import network_settings, run_logged
from deweight.archive import VizierTableSpec, acquire_vizier_table


def main(smk):
    acquire_vizier_table(
        "Roma-BZCAT 5",
        VizierTableSpec.from_config(smk.params.catalogue),
        smk.output.table,
        server=smk.params.server,
        network=network_settings(smk.config),
        settings_record=dict(smk.params.catalogue),
        provenance_output=smk.output.provenance,
    )


run_logged(main, snakemake)  # noqa: F821
