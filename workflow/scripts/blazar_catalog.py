"""Merge Roma-BZCAT 5 and 4LAC into one BL Lac / FSRQ catalogue (Sect. 3.4)."""

import logging
from pathlib import Path

from deweight import catalog
from deweight._files import write_parquet_atomic
from deweight._workflow import run_logged
from deweight.lac_columns import LAC_FITS_COLUMNS


def main(smk):
    prepare = smk.params.prepare
    if smk.wildcards.source == "bundled":
        catalog.verify_bundled(Path(smk.input.bzcat).parent)
    bzcat = catalog.read_bzcat(smk.input.bzcat)
    # The bundled FITS file of the configured release, or the archive's 4lac.parquet, which
    # deweight.archive.acquire_4lac writes under the DR3 FITS names whatever its source.
    release = prepare["lac_release"] if smk.wildcards.source == "bundled" else "dr3"
    # prepare.lac_low_latitude adds the release's low-latitude table (|b| < 10 deg).
    tables = [smk.input.lac, *([smk.input.lac_low] if "lac_low" in smk.input.keys() else [])]
    lac = catalog.read_4lac(
        tables if len(tables) > 1 else tables[0], columns=LAC_FITS_COLUMNS[release]
    )
    merged = catalog.merge_blazar_catalogs(
        bzcat,
        lac,
        match_radius_arcsec=prepare["blazar_merge_radius_arcsec"],
        drop_names=tuple(prepare["drop_4lac"]),
    )
    counts = merged.groupby(["blazar_class", "origin"]).size()
    logging.getLogger("blazar_catalog").info("merged: %d sources\n%s", len(merged), counts)
    write_parquet_atomic(
        merged, smk.output[0], {"data_source": smk.wildcards.source, "table": "blazars"}
    )


run_logged(main, snakemake)  # noqa: F821
