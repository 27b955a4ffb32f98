"""Snakemake adapter: 4LAC with counterpart positions (Fermi-LAT FITS, or VizieR) -> 4lac.parquet."""

from deweight.archive import acquire_4lac
from deweight.archive.workflow import logged_to, network_settings


def main(smk):
    with logged_to(smk.log[0]):
        acquire_4lac(
            smk.params.lac,
            smk.output.table,
            network=network_settings(smk.config),
            vizier_server=smk.params.vizier_server,
            provenance_output=smk.output.provenance,
        )


main(snakemake)
