"""The 4LAC column names: which column of a Fermi-LAT 4LAC table plays each role.

Read by the acquisition stage (``deweight.archive.lac``) and the preparation stage
(``deweight.catalog.blazars``) alike, so it sits below both and imports nothing of the library
but the column lookup.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from deweight._columns import find_column

__all__ = ["LAC_FITS_COLUMNS", "LAC_REQUIRED_ROLES", "lac_column_map"]

#: Column maps (role -> column) of the Fermi-LAT 4LAC FITS files: DR3's ``table-4LAC-DR3-h.fits``
#: / ``-l.fits`` and DR1's high-latitude table (as in ``resources/bundled/``). ``ra``/``dec`` are
#: the associated counterpart's position, the paper's "radio companion" (Sect. 3.4).
LAC_FITS_COLUMNS: dict[str, dict[str, str]] = {
    "dr3": {
        "name": "Source_Name",
        "class": "CLASS",
        "ra": "RA_Counterpart",
        "dec": "DEC_Counterpart",
        "assoc": "ASSOC1",
    },
    # The official DR1 files (v19) use the same names as DR3.
    "dr1": {
        "name": "Source_Name",
        "class": "CLASS",
        "ra": "RA_Counterpart",
        "dec": "DEC_Counterpart",
        "assoc": "ASSOC1",
    },
}
#: Roles a 4LAC column map must name; ``assoc`` is optional.
LAC_REQUIRED_ROLES = ("name", "class", "ra", "dec")


def lac_column_map(
    table: pd.DataFrame, columns: Mapping[str, str] | None, label: str
) -> dict[str, str]:
    """The actual columns of a 4LAC table for each role of an explicit or known column map.

    Roles: ``name`` (source name), ``class`` (the CLASS string), ``ra`` and ``dec`` (the
    counterpart position the paper matches on, Sect. 3.4) and optionally ``assoc`` (the
    counterpart's name).

    Parameters
    ----------
    table : pandas.DataFrame
        The 4LAC table as read.
    columns : mapping of str to str, optional
        Role -> column name. None tries the Fermi-LAT FITS names of each release
        (:data:`LAC_FITS_COLUMNS`), DR3 first.
    label : str
        Name of the table for messages.

    Returns
    -------
    dict
        Role -> actual column name (matched case-insensitively); ``assoc`` only if present.

    Raises
    ------
    ValueError
        If a required role is missing from the map, or a mapped column from the table; the
        message lists the columns the table has.
    """
    candidates = [dict(columns)] if columns is not None else list(LAC_FITS_COLUMNS.values())
    found = list(map(str, table.columns))
    for candidate in candidates:
        unmapped = [role for role in LAC_REQUIRED_ROLES if not candidate.get(role)]
        if unmapped:
            raise ValueError(
                f"The 4LAC column map for {label} has no column for {unmapped}; it needs "
                f"{list(LAC_REQUIRED_ROLES)} (optional: 'assoc'). The table has {found}"
            )
        actual = {role: find_column(table, [name]) for role, name in candidate.items() if name}
        missing = [candidate[role] for role in LAC_REQUIRED_ROLES if actual.get(role) is None]
        if not missing:
            return {role: name for role, name in actual.items() if name is not None}
    if columns is not None:
        raise ValueError(
            f"{label} lacks the 4LAC column(s) {missing} named in the column map "
            f"{dict(columns)}; it has {found}"
        )
    raise ValueError(
        f"{label} has neither the DR3 nor the DR1 Fermi-LAT 4LAC columns "
        f"({LAC_FITS_COLUMNS['dr3']} / {LAC_FITS_COLUMNS['dr1']}); it has {found}. Pass an "
        "explicit column map."
    )
