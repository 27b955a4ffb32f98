"""Private: the preparation steps that the archive tasks and their bundled stand-ins share."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from deweight.catalog._tables import as_float, sdss_class_cut_reason
from deweight.catalog.blazars import label_blazars
from deweight.catalog.cutflow import CutFlow


def class_and_position_cuts(
    table: pd.DataFrame,
    cutflow: CutFlow,
    sdss_classes: Mapping[str, str],
    step_prefix: str = "",
) -> pd.DataFrame:
    """The first cuts of every task: an SDSS class the task keeps, a finite, possible position.

    The ``class`` column is stripped and upper-cased in the returned table (archives and
    exports differ in case); the steps are ``spec_class`` and ``position``, after
    ``step_prefix``.
    """
    table = table.reset_index(drop=True)
    table["class"] = table["class"].astype(str).str.strip().str.upper()
    table = cutflow.apply(
        table,
        table["class"].isin(list(sdss_classes)).to_numpy(),
        f"{step_prefix}spec_class",
        sdss_class_cut_reason(sdss_classes),
    )
    ra, dec = as_float(table["ra"]), as_float(table["dec"])
    return cutflow.apply(
        table,
        np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90),
        f"{step_prefix}position",
        "non-finite or impossible ra/dec",
    )


def relabel_blazars(
    table: pd.DataFrame,
    sdss_classes: Mapping[str, str],
    blazars: pd.DataFrame,
    radius_arcsec: float,
) -> tuple[pd.Series, np.ndarray, dict[str, int]]:
    """Class name of each row: its SDSS class's, or that of a merged blazar within the radius.

    Section 3.4's rule: a source within ``radius_arcsec`` of a blazar of the merged BZCAT +
    4LAC catalogue takes the blazar's class (``bll`` or ``fsrq``) whatever its SDSS class.

    Returns
    -------
    class_names : pandas.Series
        Per row of ``table``, on its index.
    blazar_labels : ndarray of str
        The blazar class of each row, ``""`` where none is within the radius.
    relabelled_from : dict of str to int
        How many rows of each SDSS class name became blazars.
    """
    class_names = table["class"].map(dict(sdss_classes))
    blazar_labels = label_blazars(table["ra"], table["dec"], blazars, radius_arcsec=radius_arcsec)
    is_blazar = blazar_labels != ""
    relabelled_from = {
        name: int(np.sum(is_blazar & (class_names.to_numpy() == name)))
        for name in sdss_classes.values()
    }
    class_names = class_names.where(~is_blazar, pd.Series(blazar_labels, index=table.index))
    return class_names, blazar_labels, relabelled_from
