"""Snakemake adapter: Roma-BZCAT 5 (VizieR VII/274) -> resources/archive/bzcat5.parquet."""

from deweight.archive import VizierTableSpec, acquire_vizier_table
from deweight.archive.workflow import logged_to, network_settings


def main(smk):
    with logged_to(smk.log[0]):
        acquire_vizier_table(
            "Roma-BZCAT 5",
            VizierTableSpec.from_config(smk.params.catalogue),
            smk.output.table,
            server=smk.params.server,
            network=network_settings(smk.config),
            settings_record=dict(smk.params.catalogue),
            provenance_output=smk.output.provenance,
        )


main(snakemake)
