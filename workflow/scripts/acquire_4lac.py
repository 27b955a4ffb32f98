"""Snakemake adapter: 4LAC from VizieR (DR1 as in the paper; DR3 selectable) -> 4lac.parquet."""

from deweight.archive import acquire_vizier_table, resolve_4lac_spec
from deweight.archive.workflow import logged_to, network_settings


def main(smk):
    with logged_to(smk.log[0]):
        acquire_vizier_table(
            "4LAC",
            resolve_4lac_spec(smk.params.catalogue),
            smk.output.table,
            server=smk.params.server,
            network=network_settings(smk.config),
            settings_record=dict(smk.params.catalogue),
            provenance_output=smk.output.provenance,
        )


main(snakemake)
