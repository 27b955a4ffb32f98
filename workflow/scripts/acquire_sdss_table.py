"""Snakemake adapter: one SDSS DR16 table -> resources/archive/sdss_<name>.parquet.

Serves the rules acquire_sdss_specobj, acquire_sdss_photoobj and acquire_sdss_twomass: the
table is the rule name's last part, and a joined table (PhotoObj, TwoMass) has the
``specobj_table`` param naming the table it is joined to on bestObjID.
"""

from deweight._workflow import network_settings, run_logged
from deweight.archive import acquire_sdss_table


def main(smk):
    joined = smk.params.get("specobj_table")
    acquire_sdss_table(
        smk.rule.removeprefix("acquire_sdss_"),
        smk.params.common,
        smk.params.table,
        smk.output.table,
        network=network_settings(smk.config),
        provenance_output=smk.output.provenance,
        **({} if joined is None else {"specobj_table": joined}),
    )


run_logged(main, snakemake)  # noqa: F821
