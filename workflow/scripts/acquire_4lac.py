"""Snakemake adapter: 4LAC with counterpart positions (Fermi-LAT FITS, or VizieR) -> 4lac.parquet."""

from deweight._workflow import network_settings, run_logged
from deweight.archive import acquire_4lac


def main(smk):
    acquire_4lac(
        smk.params.lac,
        smk.output.table,
        network=network_settings(smk.config),
        vizier_server=smk.params.vizier_server,
        provenance_output=smk.output.provenance,
    )


run_logged(main, snakemake)  # noqa: F821
