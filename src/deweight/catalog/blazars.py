"""The merged BZCAT + 4LAC blazar catalogue of Section 3.4 of Lake & Tsai (2022), and labelling.

Classes
-------
Roma-BZCAT 5th edition (Massaro et al. 2015) gives each source a "Source classification" string:
"BL Lac", "BL Lac-galaxy dominated", "QSO RLoud flat radio sp." or "Blazar Uncertain type", which
its names encode as the prefixes 5BZB, 5BZG, 5BZQ and 5BZU. The paper assigns BL Lac when the
string starts with "BL Lac" and FSRQ when it starts with "QSO RLoud", so

=========  =============================  ===========
prefix     classification string          class here
=========  =============================  ===========
5BZB       BL Lac                         ``bll``
5BZG       BL Lac-galaxy dominated        ``bll``
5BZQ       QSO RLoud flat radio sp.       ``fsrq``
5BZU       Blazar Uncertain type          ``unknown``
=========  =============================  ===========

When a table carries the classification string it is used; otherwise (the bundled file, whose
``Class`` column is a numeric code) the class comes from the name prefix through this table.

4LAC ``CLASS`` is compared case-insensitively (upper case marks a firm identification, lower
case an association; the paper ignores the difference): ``bll`` -> ``bll``, ``fsrq`` ->
``fsrq``, ``bcu`` (blazar candidate of uncertain type) -> ``unknown``; every other class (rdg,
agn, nlsy1, css, ssrq, sey, ...) -> ``other``. Positions are those of the associated counterpart
(the paper's "radio companion"): ``RA_Counterpart`` / ``DEC_Counterpart`` in the official DR1
and DR3 files alike (:data:`deweight.lac_columns.LAC_FITS_COLUMNS`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.table import Table

from deweight.catalog._tables import as_float, find_column
from deweight.catalog.cutflow import CutFlow
from deweight.lac_columns import lac_column_map

__all__ = [
    "BLAZAR_CLASSES",
    "BZCAT_PREFIX_CLASSIFICATION",
    "bzcat_class",
    "lac_column_map",
    "label_blazars",
    "lac_class",
    "merge_blazar_catalogs",
    "read_4lac",
    "read_bzcat",
]

#: The blazar classes kept in the merged catalogue.
BLAZAR_CLASSES: tuple[str, str] = ("bll", "fsrq")

#: BZCAT 5 name prefix -> its "Source classification" string (Massaro et al. 2015).
BZCAT_PREFIX_CLASSIFICATION = {
    "5BZB": "BL Lac",
    "5BZG": "BL Lac-galaxy dominated",
    "5BZQ": "QSO RLoud flat radio sp.",
    "5BZU": "Blazar Uncertain type",
}

_BZCAT_NAME_COLUMNS = ("BZCAT5 Source name", "Source name", "Name", "name", "BZCAT5")
_BZCAT_RA_COLUMNS = ("RA (J2000.0)", "RAJ2000", "_RAJ2000", "ra")
_BZCAT_DEC_COLUMNS = ("Dec (J2000.0)", "DEJ2000", "_DEJ2000", "dec")
_BZCAT_CLASS_COLUMNS = ("Source classification", "Class", "class_raw")


def bzcat_class(classification: Iterable[str]) -> np.ndarray:
    """Class of BZCAT sources from their "Source classification" strings.

    Parameters
    ----------
    classification : iterable of str
        E.g. "BL Lac", "BL Lac-galaxy dominated", "QSO RLoud flat radio sp.",
        "Blazar Uncertain type".

    Returns
    -------
    numpy.ndarray of str
        ``bll`` if the string starts with "BL Lac", ``fsrq`` if with "QSO RLoud", ``unknown``
        if with "Blazar Uncertain", else ``other``.
    """
    result = []
    for text in classification:
        text = str(text).strip()
        if text.startswith("BL Lac"):
            result.append("bll")
        elif text.startswith("QSO RLoud"):
            result.append("fsrq")
        elif text.startswith("Blazar Uncertain"):
            result.append("unknown")
        else:
            result.append("other")
    return np.asarray(result, dtype=object)


def lac_class(class_strings: Iterable[str]) -> np.ndarray:
    """Class of 4LAC sources from their ``CLASS`` strings, ignoring case.

    Parameters
    ----------
    class_strings : iterable of str
        4LAC ``CLASS`` values, e.g. "bll", "FSRQ", "bcu", "rdg".

    Returns
    -------
    numpy.ndarray of str
        ``bll``, ``fsrq``, ``unknown`` (for bcu) or ``other``.
    """
    mapping = {"bll": "bll", "fsrq": "fsrq", "bcu": "unknown"}
    return np.asarray(
        [mapping.get(str(text).strip().lower(), "other") for text in class_strings], dtype=object
    )


def read_bzcat(
    path_or_table,
    *,
    keep_columns: Sequence[str] = (),
    cutflow: CutFlow | None = None,
    table_name: str | None = None,
) -> pd.DataFrame:
    """Read Roma-BZCAT 5 into the normalised form used by :func:`merge_blazar_catalogs`.

    Parameters
    ----------
    path_or_table : str, os.PathLike, astropy.table.Table or pandas.DataFrame
        A CSV or FITS file, or a table already in memory. Recognised columns (case-insensitive):
        name from "BZCAT5 Source name" / "Source name" / "Name"; position from
        "RA (J2000.0)" & "Dec (J2000.0)" or "RAJ2000" & "DEJ2000", either sexagesimal strings
        (RA in hours) or decimal degrees; classification from a string column
        "Source classification" / "Class" if it holds text, else from the name prefix.
    keep_columns : sequence of str, optional
        Further columns to carry through unchanged (e.g. the SDSS magnitudes).
    cutflow : CutFlow, optional
        If given, rows without a usable position are recorded in it as removed.
    table_name : str, optional
        Name used in messages; defaults to the file path, or "BZCAT table".

    Returns
    -------
    pandas.DataFrame
        Columns ``ra``, ``dec`` (deg, ICRS), ``name``, ``class_raw`` (the classification
        string), ``blazar_class`` (``bll``, ``fsrq``, ``unknown`` or ``other``), then
        ``keep_columns``.

    Raises
    ------
    ValueError
        If no name, position or keep column can be found; the message names the table.
    """
    table, label = _load_table(path_or_table, table_name, "BZCAT table")
    name_column = _need(table, _BZCAT_NAME_COLUMNS, "source name", label)
    ra_column = _need(table, _BZCAT_RA_COLUMNS, "right ascension", label)
    dec_column = _need(table, _BZCAT_DEC_COLUMNS, "declination", label)
    names = table[name_column].astype(str).str.strip().to_numpy(dtype=object)

    class_column = find_column(table, _BZCAT_CLASS_COLUMNS)
    class_values = table[class_column] if class_column is not None else None
    if class_values is not None and _holds_text(class_values):
        class_raw = class_values.astype(str).str.strip().to_numpy(dtype=object)
    else:
        # The bundled compilation's "Class" is a numeric code, so the classification string is
        # rebuilt from the name prefix, which BZCAT 5 assigns from the same classification.
        class_raw = np.asarray(
            [BZCAT_PREFIX_CLASSIFICATION.get(name[:4].upper(), "") for name in names], dtype=object
        )
    ra, dec = _positions(table[ra_column], table[dec_column], sexagesimal_ra_unit=u.hourangle)
    result = pd.DataFrame(
        {
            "ra": ra,
            "dec": dec,
            "name": names,
            "class_raw": class_raw,
            "blazar_class": bzcat_class(class_raw),
        }
    )
    for column in keep_columns:
        actual = find_column(table, [column])
        if actual is None:
            raise ValueError(f"{label} is missing required column {column!r}")
        result[column] = table[actual].to_numpy()
    return _drop_bad_positions(result, cutflow, "bzcat_position", f"{label}: no usable position")


def read_4lac(
    path_or_table,
    *,
    columns: Mapping[str, str] | None = None,
    cutflow: CutFlow | None = None,
    table_name: str | None = None,
) -> pd.DataFrame:
    """Read a 4LAC table (DR1 or DR3) into the normalised form used by the merge.

    Parameters
    ----------
    path_or_table : str, os.PathLike, astropy.table.Table, pandas.DataFrame, or a list of these
        The FITS file(s), Parquet/CSV file(s) or table(s). A list is concatenated (e.g. the
        DR3 high- and low-latitude tables).
    columns : mapping of str to str, optional
        Explicit column map, role -> column (see :func:`lac_column_map`); by default the
        Fermi-LAT FITS names of DR3 or DR1.
    cutflow : CutFlow, optional
        If given, rows without a usable counterpart position are recorded in it as removed.
    table_name : str, optional
        Name used in messages; defaults to the file path, or "4LAC table".

    Returns
    -------
    pandas.DataFrame
        Columns ``ra``, ``dec`` (counterpart position, deg), ``name`` (``Source_Name``),
        ``class_raw`` (``CLASS`` stripped), ``blazar_class`` (``bll``, ``fsrq``, ``unknown`` or
        ``other``), ``assoc`` (``ASSOC1``, the counterpart's name, if present).

    Raises
    ------
    ValueError
        If the name, class or counterpart position column is missing (the message lists the
        columns found), or no row has a finite counterpart position.
    """
    if isinstance(path_or_table, (list, tuple)):
        parts = [read_4lac(part, columns=columns, table_name=table_name) for part in path_or_table]
        combined = pd.concat(parts, ignore_index=True)
        return _drop_bad_positions(combined, cutflow, "4lac_position", "4LAC: no usable position")
    table, label = _load_table(path_or_table, table_name, "4LAC table")
    mapped = lac_column_map(table, columns, label)
    ra, dec = as_float(table[mapped["ra"]]), as_float(table[mapped["dec"]])
    if len(table) and not (np.isfinite(ra) & np.isfinite(dec)).any():
        raise ValueError(
            f"{label}: no row has a finite counterpart position in {mapped['ra']!r}/"
            f"{mapped['dec']!r}"
        )
    class_raw = _strings(table[mapped["class"]])
    assoc = mapped.get("assoc")
    result = pd.DataFrame(
        {
            "ra": ra,
            "dec": dec,
            "name": _strings(table[mapped["name"]]),
            "class_raw": class_raw,
            "blazar_class": lac_class(class_raw),
            "assoc": _strings(table[assoc]) if assoc is not None else "",
        }
    )
    return _drop_bad_positions(result, cutflow, "4lac_position", f"{label}: no usable position")


def merge_blazar_catalogs(
    bzcat: pd.DataFrame,
    lac: pd.DataFrame,
    *,
    match_radius_arcsec: float = 10.0,
    drop_names: Sequence[str] = ("4FGL J1956.1+0234",),
) -> pd.DataFrame:
    """Merge BZCAT and 4LAC into one list of BL Lacs and FSRQs, as in Section 3.4.

    The rules of Lake & Tsai (2022):

    1. 4LAC sources named in ``drop_names`` are removed first (the paper drops
       4FGL J1956.1+0234, whose DR1 counterpart is the same NVSS source as 4FGL J1955.7+0214's).
    2. BZCAT positions are matched to 4LAC counterpart positions within
       ``match_radius_arcsec``; a matched pair is one blazar (``origin="both"``). Pairs are made
       one-to-one, closest first; a source that lies within the radius of an already paired
       source of the other catalogue is a duplicate of that blazar and is dropped (with a
       warning naming it).
    3. The class of a pair is 4LAC's (newer), unless 4LAC says ``bcu``; then it is BZCAT's.
    4. Only ``bll`` and ``fsrq`` are kept; ``unknown`` (5BZU, or bcu without a BZCAT class) and
       ``other`` are dropped.

    Parameters
    ----------
    bzcat, lac : pandas.DataFrame
        As returned by :func:`read_bzcat` and :func:`read_4lac` (columns ``ra``, ``dec``,
        ``name``, ``class_raw``; the class is recomputed from ``class_raw``).
    match_radius_arcsec : float, default 10.0
        Radius within which a BZCAT source and a 4LAC counterpart are the same blazar, arcsec.
    drop_names : sequence of str
        4LAC ``Source_Name`` values to remove before matching.

    Returns
    -------
    pandas.DataFrame
        One row per blazar, columns ``ra``, ``dec`` (deg; the BZCAT position when there is one,
        else the 4LAC counterpart), ``name`` (BZCAT name if any, else 4LAC), ``blazar_class``
        (``bll`` or ``fsrq``), ``origin`` (``bzcat``, ``4lac`` or ``both``), ``bzcat_name``,
        ``lac_name``, ``ra_bzcat``, ``dec_bzcat``, ``ra_4lac``, ``dec_4lac`` (NaN or "" when
        absent), ``bzcat_class``, ``lac_class``. ``attrs["merge_counts"]`` holds the
        bookkeeping (inputs, dropped names, pairs, class disagreements, rows per class).

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    for frame, label in ((bzcat, "BZCAT table"), (lac, "4LAC table")):
        for column in ("ra", "dec", "name", "class_raw"):
            if column not in frame.columns:
                raise ValueError(f"{label} is missing required column {column!r}")
    bzcat = bzcat.reset_index(drop=True)
    lac = lac.reset_index(drop=True)
    drop_set = {str(name).strip() for name in drop_names}
    lac_names = lac["name"].astype(str).str.strip()
    dropped_by_name = sorted(set(lac_names[lac_names.isin(drop_set)]))
    lac = lac.loc[~lac_names.isin(drop_set)].reset_index(drop=True)
    missing = sorted(drop_set - set(dropped_by_name))
    if missing:
        warnings.warn(f"4LAC sources to drop not found in the 4LAC table: {missing}", stacklevel=2)

    bz_class = bzcat_class(bzcat["class_raw"])
    lc_class = lac_class(lac["class_raw"])
    _warn_self_duplicates(lac, match_radius_arcsec)

    bz_index, lac_index, duplicate_bz, duplicate_lac = _pair_one_to_one(
        _coords(bzcat), _coords(lac), match_radius_arcsec
    )
    if duplicate_bz or duplicate_lac:
        names = [bzcat["name"][i] for i in duplicate_bz] + [lac["name"][i] for i in duplicate_lac]
        warnings.warn(
            f"dropped {len(names)} source(s) lying within {match_radius_arcsec} arcsec of an "
            f"already paired blazar of the other catalogue: {names}",
            stacklevel=2,
        )

    paired_bz = set(bz_index.tolist()) | set(duplicate_bz)
    paired_lac = set(lac_index.tolist()) | set(duplicate_lac)
    bz_only = np.asarray([i for i in range(len(bzcat)) if i not in paired_bz], dtype=int)
    lac_only = np.asarray([i for i in range(len(lac)) if i not in paired_lac], dtype=int)

    pair_bz_class = bz_class[bz_index]
    pair_lac_class = lc_class[lac_index]
    pair_class = np.where(pair_lac_class == "unknown", pair_bz_class, pair_lac_class)
    empty = np.full(0, "", dtype=object)

    def block(bz_rows, lac_rows, classes, origin) -> pd.DataFrame:
        n = len(classes)
        has_bz, has_lac = bz_rows is not None, lac_rows is not None
        bz_ra = bzcat["ra"].to_numpy()[bz_rows] if has_bz else np.full(n, np.nan)
        bz_dec = bzcat["dec"].to_numpy()[bz_rows] if has_bz else np.full(n, np.nan)
        lac_ra = lac["ra"].to_numpy()[lac_rows] if has_lac else np.full(n, np.nan)
        lac_dec = lac["dec"].to_numpy()[lac_rows] if has_lac else np.full(n, np.nan)
        bz_names = bzcat["name"].to_numpy(dtype=object)[bz_rows] if has_bz else np.full(n, "")
        lac_names_ = lac["name"].to_numpy(dtype=object)[lac_rows] if has_lac else np.full(n, "")
        return pd.DataFrame(
            {
                "ra": bz_ra if has_bz else lac_ra,
                "dec": bz_dec if has_bz else lac_dec,
                "name": bz_names if has_bz else lac_names_,
                "blazar_class": classes,
                "origin": origin,
                "bzcat_name": bz_names,
                "lac_name": lac_names_,
                "ra_bzcat": bz_ra,
                "dec_bzcat": bz_dec,
                "ra_4lac": lac_ra,
                "dec_4lac": lac_dec,
                "bzcat_class": bz_class[bz_rows] if has_bz else np.full(n, ""),
                "lac_class": lc_class[lac_rows] if has_lac else np.full(n, ""),
            }
        )

    merged = pd.concat(
        [
            block(bz_index, lac_index, pair_class, "both"),
            block(bz_only, None, bz_class[bz_only] if len(bz_only) else empty, "bzcat"),
            block(None, lac_only, lc_class[lac_only] if len(lac_only) else empty, "4lac"),
        ],
        ignore_index=True,
    )
    disagreements = int(np.sum(pair_bz_class != pair_lac_class))
    kept = merged[merged["blazar_class"].isin(BLAZAR_CLASSES)].reset_index(drop=True)
    kept.attrs["merge_counts"] = {
        "bzcat_in": int(len(bzcat)),
        "lac_in": int(len(lac) + len(dropped_by_name)),
        "lac_dropped_by_name": dropped_by_name,
        "pairs": int(len(bz_index)),
        "pairs_class_disagreement": disagreements,
        "pairs_bcu_resolved_by_bzcat": int(np.sum(pair_lac_class == "unknown")),
        "duplicates_dropped": int(len(duplicate_bz) + len(duplicate_lac)),
        "dropped_not_bll_or_fsrq": int(len(merged) - len(kept)),
        "kept": int(len(kept)),
        "kept_by_class": {c: int(np.sum(kept["blazar_class"] == c)) for c in BLAZAR_CLASSES},
        "kept_by_origin": {o: int(np.sum(kept["origin"] == o)) for o in ("both", "bzcat", "4lac")},
    }
    return kept


def label_blazars(ra, dec, blazars: pd.DataFrame, *, radius_arcsec: float = 5.0) -> np.ndarray:
    """Blazar class of each source within ``radius_arcsec`` of a merged blazar, else "".

    Section 3.4: "Any SpecObj source that is within 5'' of a Roma-BZCAT source's coordinates or a
    4LAC source's companion gets labeled as the merged catalog's blazar class". So both positions
    of a merged blazar are used when the table carries them (``ra_bzcat``/``dec_bzcat`` and
    ``ra_4lac``/``dec_4lac``, as :func:`merge_blazar_catalogs` returns), otherwise ``ra``/``dec``.
    A source near several blazars takes the class of the nearest position.

    Parameters
    ----------
    ra, dec : array_like
        Positions of the sources to label, deg (ICRS).
    blazars : pandas.DataFrame
        The merged catalogue, with ``blazar_class``.
    radius_arcsec : float, default 5.0
        Matching radius, arcsec; a separation equal to the radius counts as a match.

    Returns
    -------
    numpy.ndarray of str
        ``bll``, ``fsrq`` or ``""`` for each source.
    """
    ra = np.atleast_1d(np.asarray(ra, dtype=float))
    dec = np.atleast_1d(np.asarray(dec, dtype=float))
    labels = np.full(ra.shape, "", dtype=object)
    if "blazar_class" not in blazars.columns:
        raise ValueError("blazar table is missing required column 'blazar_class'")
    position_pairs = [("ra_bzcat", "dec_bzcat"), ("ra_4lac", "dec_4lac")]
    if not all(c in blazars.columns for pair in position_pairs for c in pair):
        position_pairs = [("ra", "dec")]
    candidate_ra, candidate_dec, candidate_class = [], [], []
    for ra_column, dec_column in position_pairs:
        pair_ra = as_float(blazars[ra_column])
        pair_dec = as_float(blazars[dec_column])
        usable = np.isfinite(pair_ra) & np.isfinite(pair_dec)
        candidate_ra.append(pair_ra[usable])
        candidate_dec.append(pair_dec[usable])
        candidate_class.append(blazars["blazar_class"].to_numpy(dtype=object)[usable])
    catalogue_ra = np.concatenate(candidate_ra)
    catalogue_dec = np.concatenate(candidate_dec)
    classes = np.concatenate(candidate_class)
    finite = np.isfinite(ra) & np.isfinite(dec)
    if catalogue_ra.size == 0 or not finite.any():
        return labels
    sources = SkyCoord(ra[finite] * u.deg, dec[finite] * u.deg)
    catalogue = SkyCoord(catalogue_ra * u.deg, catalogue_dec * u.deg)
    nearest, separation, _ = sources.match_to_catalog_sky(catalogue)
    matched = separation <= radius_arcsec * u.arcsec
    finite_labels = np.full(int(finite.sum()), "", dtype=object)
    finite_labels[matched] = classes[nearest[matched]]
    labels[finite] = finite_labels
    return labels


# --------------------------------------------------------------------------------------------
# helpers


def _load_table(
    path_or_table, table_name: str | None, default_label: str
) -> tuple[pd.DataFrame, str]:
    """A DataFrame and a label for messages from a path, Table or DataFrame."""
    if isinstance(path_or_table, pd.DataFrame):
        return path_or_table, table_name or default_label
    if isinstance(path_or_table, Table):
        return _table_to_frame(path_or_table), table_name or default_label
    path = os.fspath(path_or_table)
    if path.lower().endswith((".fits", ".fit", ".fits.gz")):
        return _table_to_frame(Table.read(path)), table_name or path
    if path.lower().endswith(".parquet"):
        return pd.read_parquet(path), table_name or path
    return pd.read_csv(path), table_name or path


def _table_to_frame(table: Table) -> pd.DataFrame:
    # Byte-string FITS columns are decoded so that names compare equal to Python strings.
    columns = {}
    for name in table.colnames:
        column = table[name]
        if column.ndim > 1:
            continue
        values = np.asarray(column.filled() if hasattr(column, "filled") else column)
        if values.dtype.kind == "S":
            values = np.char.decode(values, "ascii", errors="replace")
        if values.dtype.byteorder not in ("=", "|"):
            values = values.astype(values.dtype.newbyteorder("="))
        columns[name] = values
    return pd.DataFrame(columns)


def _need(table: pd.DataFrame, candidates: Sequence[str], what: str, label: str) -> str:
    column = find_column(table, candidates)
    if column is None:
        raise ValueError(
            f"{label} is missing required column {candidates[0]!r} ({what}; also accepted: "
            f"{', '.join(repr(c) for c in candidates[1:])})"
        )
    return column


def _holds_text(values: pd.Series) -> bool:
    """True if a column holds classification text rather than numeric codes."""
    present = values.dropna()
    if present.empty:
        return False
    numeric = pd.to_numeric(present, errors="coerce")
    return bool(numeric.isna().all())


def _strings(values) -> np.ndarray:
    return np.asarray([str(v).strip() for v in np.asarray(values, dtype=object)], dtype=object)


def _positions(ra_values, dec_values, *, sexagesimal_ra_unit) -> tuple[np.ndarray, np.ndarray]:
    """Decimal-degree positions from numeric degrees or sexagesimal strings; NaN if unusable."""
    ra_numeric, dec_numeric = as_float(ra_values), as_float(dec_values)
    if np.isfinite(ra_numeric).any() or np.isfinite(dec_numeric).any():
        return ra_numeric, dec_numeric
    ra_text = np.asarray([str(v).strip() for v in ra_values], dtype=object)
    dec_text = np.asarray([str(v).strip() for v in dec_values], dtype=object)
    try:
        coords = SkyCoord(ra_text, dec_text, unit=(sexagesimal_ra_unit, u.deg))
        return coords.ra.deg, coords.dec.deg
    except (ValueError, TypeError):
        pass
    # One malformed entry makes the vectorised parse fail, so fall back to row by row.
    ra_deg = np.full(len(ra_text), np.nan)
    dec_deg = np.full(len(ra_text), np.nan)
    for index, (ra_one, dec_one) in enumerate(zip(ra_text, dec_text, strict=True)):
        try:
            coord = SkyCoord(ra_one, dec_one, unit=(sexagesimal_ra_unit, u.deg))
        except (ValueError, TypeError):
            continue
        ra_deg[index], dec_deg[index] = coord.ra.deg, coord.dec.deg
    return ra_deg, dec_deg


def _drop_bad_positions(
    table: pd.DataFrame, cutflow: CutFlow | None, step: str, reason: str
) -> pd.DataFrame:
    ra, dec = table["ra"].to_numpy(dtype=float), table["dec"].to_numpy(dtype=float)
    good = np.isfinite(ra) & np.isfinite(dec) & (dec >= -90) & (dec <= 90)
    if cutflow is not None:
        return cutflow.apply(table, good, step, reason).reset_index(drop=True)
    if not good.all():
        warnings.warn(f"{reason}: dropped {int((~good).sum())} row(s)", stacklevel=3)
    return table.loc[good].reset_index(drop=True)


def _coords(table: pd.DataFrame) -> SkyCoord:
    return SkyCoord(
        table["ra"].to_numpy(dtype=float) * u.deg, table["dec"].to_numpy(dtype=float) * u.deg
    )


def _pair_one_to_one(
    first: SkyCoord, second: SkyCoord, radius_arcsec: float
) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """Closest-first one-to-one pairs within the radius, plus the losers of contested pairs."""
    empty = np.zeros(0, dtype=int)
    if len(first) == 0 or len(second) == 0:
        return empty, empty, [], []
    # SkyCoord.search_around_sky(other) returns indices into `other` first, then into self.
    index_first, index_second, separation, _ = second.search_around_sky(
        first, radius_arcsec * u.arcsec
    )
    order = np.argsort(separation.arcsec, kind="stable")
    used_first: set[int] = set()
    used_second: set[int] = set()
    pairs_first, pairs_second = [], []
    for k in order:
        i, j = int(index_first[k]), int(index_second[k])
        if i in used_first or j in used_second:
            continue
        used_first.add(i)
        used_second.add(j)
        pairs_first.append(i)
        pairs_second.append(j)
    all_first = {int(i) for i in index_first}
    all_second = {int(j) for j in index_second}
    duplicate_first = sorted(all_first - used_first)
    duplicate_second = sorted(all_second - used_second)
    return (
        np.asarray(pairs_first, dtype=int),
        np.asarray(pairs_second, dtype=int),
        duplicate_first,
        duplicate_second,
    )


def _warn_self_duplicates(lac: pd.DataFrame, radius_arcsec: float) -> None:
    """Warn about 4LAC sources sharing a counterpart (the paper dropped one such by name)."""
    if len(lac) < 2:
        return
    coords = _coords(lac)
    index_a, index_b, _, _ = coords.search_around_sky(coords, radius_arcsec * u.arcsec)
    pairs = [(int(a), int(b)) for a, b in zip(index_a, index_b, strict=True) if a < b]
    if pairs:
        names = [(lac["name"][a], lac["name"][b]) for a, b in pairs]
        warnings.warn(
            f"{len(pairs)} pair(s) of 4LAC sources have counterparts within {radius_arcsec} "
            f"arcsec of each other and are kept as separate blazars: {names}. Add one of each "
            "pair to drop_names to merge them (the paper dropped 4FGL J1956.1+0234 this way).",
            stacklevel=3,
        )
