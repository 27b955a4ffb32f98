"""A small, seeded, self-consistent sky for the archive end-to-end test (test data only).

`build_sky` makes one sky in the formats the archives serve:

- SDSS: ``SpecObj`` (a few thousand spectra on plates 266-799), ``PhotoObj`` for every
  ``bestObjID`` and ``TwoMass`` rows for some, with made-up but class-dependent colours;
- AllWISE: a source 0.1-1.2 arcsec from most spectra (none for a few, a second farther one
  for some), with fluxes, profile-fit magnitudes, ``cc_map`` flags and 2MASS J;
- Roma-BZCAT 5: the real rows of ``resources/bundled/bzcat5_with_photometry.csv`` as a
  VizieR VOTable with VizieR's labels (``Name``, ``RAJ2000``, ``DEJ2000``, ``Class``);
- 4LAC: the real Fermi-LAT DR3 high-latitude FITS file from ``resources/bundled/``;
- Clarke et al. (2020)-like per-class CSVs (``SDSS-ML-galaxies/-quasars/-stars.csv``, with
  pandas' unnamed index column) of Dirichlet-drawn probabilities.

Some spectra sit at real BZCAT BL Lac / FSRQ positions (within 1 arcsec), so the blazar
labelling finds real matches. Nothing here is survey data except the BZCAT and 4LAC rows;
it never leaves ``tests/``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import votable
from astropy.table import Table

from deweight.catalog import read_bzcat
from deweight.catalog.photometry import WISE_ZERO_POINT_MAG

BUNDLED = Path(__file__).resolve().parents[1] / "resources" / "bundled"
BINNED1 = 1 << 28
PLATES = (266, 799)

# Made-up class centres: J-W1, W1-W2, W2-W3, r-W1, r-i, g-r (mag) and the spread of each.
COLOURS = {
    "GALAXY": ([1.3, 0.2, 2.4, 3.0, 0.4, 0.8], 0.25),
    "STAR": ([0.5, 0.0, 0.2, 1.5, 0.2, 0.6], 0.2),
    "QSO": ([1.9, 1.0, 2.9, 3.5, 0.1, 0.2], 0.3),
    "bll": ([1.6, 0.6, 2.1, 3.2, 0.3, 0.5], 0.25),
    "fsrq": ([2.0, 1.1, 3.0, 3.8, 0.1, 0.3], 0.25),
}


@dataclass
class Sky:
    """The tables and files of one sky (see the module docstring)."""

    specobj: pd.DataFrame
    photoobj: pd.DataFrame
    twomass: pd.DataFrame
    allwise: pd.DataFrame
    bzcat_votable: bytes
    bzcat_rows: int
    lac_files: dict[str, bytes]
    lac_rows: int
    clarke_files: dict[str, bytes]
    clarke_rows: int
    plates: tuple[int, int] = PLATES


def _spec_obj_id(plate, fiber, mjd, run2d=26):
    """SDSS ``fSpecidFromSDSS``: plate << 50 | fiber << 38 | (mjd - 50000) << 24 | run2d << 10."""
    return (
        (plate.astype(np.uint64) << np.uint64(50))
        | (fiber.astype(np.uint64) << np.uint64(38))
        | ((mjd - 50000).astype(np.uint64) << np.uint64(24))
        | (np.uint64(run2d) << np.uint64(10))
    )


def _votable(table: Table) -> bytes:
    document = votable.from_table(table)
    document.resources[0].tables[0].name = "VII/274/bzcat5"
    buffer = io.BytesIO()
    document.to_xml(buffer)
    return buffer.getvalue()


def build_sky(seed: int = 20220701, n_ordinary: int = 3000, n_blazars: int = 260) -> Sky:
    """One sky; the same seed gives the same bytes."""
    rng = np.random.default_rng(seed)

    bzcat = read_bzcat(BUNDLED / "bzcat5_with_photometry.csv")
    blazar_rows = bzcat[bzcat["blazar_class"].isin(["bll", "fsrq"])]
    blazar_rows = blazar_rows.iloc[rng.choice(len(blazar_rows), n_blazars, replace=False)]

    classes = rng.choice(["GALAXY", "STAR", "QSO"], n_ordinary, p=[0.5, 0.35, 0.15])
    ra = rng.uniform(120.0, 240.0, n_ordinary)
    dec = np.degrees(
        np.arcsin(rng.uniform(np.sin(np.radians(-5)), np.sin(np.radians(60)), n_ordinary))
    )
    kinds = list(classes)
    # Spectra at real blazar positions (offset < 1 arcsec): SDSS calls them QSO or GALAXY.
    offsets = rng.uniform(0.0, 0.8, n_blazars) / 3600.0
    ra = np.concatenate([ra, blazar_rows["ra"].to_numpy() + offsets])
    dec = np.concatenate([dec, blazar_rows["dec"].to_numpy()])
    classes = np.concatenate(
        [classes, np.where(blazar_rows["blazar_class"] == "bll", "GALAXY", "QSO")]
    )
    kinds += blazar_rows["blazar_class"].tolist()
    n = len(ra)

    plate = rng.integers(PLATES[0], PLATES[1] + 1, n)
    fiber = np.zeros(n, dtype=np.int64)
    for value in np.unique(plate):
        members = np.flatnonzero(plate == value)
        fiber[members] = rng.permutation(1000)[: len(members)] + 1
    mjd = rng.integers(51600, 56000, n)
    spec_id = _spec_obj_id(plate, fiber, mjd)
    best_obj_id = (1237650000000000000 + np.arange(n) * 7919).astype(np.int64)
    z_warning = np.where(rng.random(n) < 0.04, 4, np.where(rng.random(n) < 0.1, 16, 0))
    specobj = pd.DataFrame(
        {
            "specObjID": spec_id,
            "bestObjID": best_obj_id,
            "ra": ra,
            "dec": dec,
            "class": classes,
            "subClass": "",
            "z": np.where(classes == "STAR", 0.0, rng.uniform(0.02, 2.0, n)),
            "zWarning": z_warning,
            "survey": "sdss",
            "programname": "legacy",
        }
    )

    centres = np.array([COLOURS[kind][0] for kind in kinds])
    spreads = np.array([COLOURS[kind][1] for kind in kinds])
    colours = centres + spreads[:, None] * rng.standard_normal((n, 6))
    j_w1, w1_w2, w2_w3, r_w1, r_i, g_r = colours.T
    w1 = rng.uniform(12.0, 15.0, n)
    w2, w3, j = w1 - w1_w2, w1 - w1_w2 - w2_w3, w1 + j_w1
    r = w1 + r_w1
    i, g = r - r_i, r + g_r
    extinction = {"g": 0.07, "r": 0.05, "i": 0.04}

    photo = {"objID": best_obj_id, "type": np.where(classes == "STAR", 6, 3)}
    for band, magnitude in (("g", g), ("r", r), ("i", i)):
        flux = 10 ** (-0.4 * (magnitude + extinction[band] - 22.5))
        ivar = 1.0 / (flux / 40.0) ** 2
        for kind in ("psf", "model"):
            photo[f"{kind}Flux_{band}"] = flux
            photo[f"{kind}FluxIvar_{band}"] = ivar
    photo["flags"] = np.full(n, BINNED1, dtype=np.int64)
    for band in "gri":
        photo[f"flags_{band}"] = np.full(n, BINNED1, dtype=np.int64)
    photo["clean"] = 1
    for band in "gri":
        photo[f"extinction_{band}"] = extinction[band]
    photoobj = pd.DataFrame(photo)

    with_2mass = np.flatnonzero(rng.random(n) < 0.6)
    twomass = pd.DataFrame(
        {
            "objID": best_obj_id[with_2mass],
            "ptsKey": 100000 + with_2mass,
            "ra": ra[with_2mass],
            "dec": dec[with_2mass],
            "j": j[with_2mass],
            "jIvar": 1.0 / 0.03**2,
            "phQual": "AAA",
        }
    )

    matched = np.flatnonzero(rng.random(n) < 0.95)
    separation = rng.uniform(0.1, 1.2, len(matched)) / 3600.0
    angle = rng.uniform(0, 2 * np.pi, len(matched))
    wise = {
        "ra": ra[matched] + separation * np.cos(angle) / np.cos(np.radians(dec[matched])),
        "dec": dec[matched] + separation * np.sin(angle),
    }
    for number, magnitude in ((1, w1), (2, w2), (3, w3)):
        band = f"W{number}"
        flux = 10 ** (-0.4 * (magnitude[matched] - WISE_ZERO_POINT_MAG[band]))
        wise[f"w{number}flux"] = flux
        wise[f"w{number}sigflux"] = flux / 40.0
        wise[f"w{number}mpro"] = magnitude[matched]
        wise[f"w{number}sigmpro"] = 0.03
        wise[f"w{number}magp"] = magnitude[matched]
        wise[f"w{number}sigp2"] = 0.02
        wise[f"w{number}cc_map"] = np.where(rng.random(len(matched)) < 0.03, 1, 0)
    # A few bad W1 uncertainties that Eq. 20 replaces.
    bad = rng.random(len(matched)) < 0.03
    wise["w1sigflux"] = np.where(bad, wise["w1flux"] / 3.0, wise["w1sigflux"])
    wise["cc_flags"] = "0000"
    wise["j_m_2mass"] = j[matched]
    wise["j_msig_2mass"] = 0.03
    allwise = pd.DataFrame(wise)
    allwise.insert(0, "designation", [f"J{index:08d}+sky" for index in matched])

    bzcat_all = read_bzcat(BUNDLED / "bzcat5_with_photometry.csv")
    bzcat_table = Table(
        {
            "Name": bzcat_all["name"].astype(str).to_numpy(),
            "RAJ2000": bzcat_all["ra"].to_numpy(),
            "DEJ2000": bzcat_all["dec"].to_numpy(),
            "Class": bzcat_all["class_raw"].astype(str).to_numpy(),
        }
    )

    lac_name = "table-4LAC-DR3-h.fits"
    lac_bytes = (BUNDLED / "4lac_dr3_highlat.fits").read_bytes()

    n_clarke = 3000
    probabilities = rng.dirichlet([2.0, 2.5, 0.4], n_clarke).round(5)
    predicted = np.array(["GALAXY", "STAR", "QSO"])[probabilities.argmax(axis=1)]
    clarke = pd.DataFrame(
        {
            "objid": 1237660000000000000 + np.arange(n_clarke) * 131,
            "ra": rng.uniform(0, 360, n_clarke).round(6),
            "dec": rng.uniform(-10, 70, n_clarke).round(6),
            **{f"psf_{b}": rng.uniform(17, 23, n_clarke).round(4) for b in "ugriz"},
            **{f"w{k}": rng.uniform(10, 17, n_clarke).round(3) for k in range(1, 5)},
            "resolvedr": rng.uniform(0, 1, n_clarke).round(4),
            "class_pred": predicted,
            "class_prob_galaxy": probabilities[:, 0],
            "class_prob_quasar": probabilities[:, 2],
            "class_prob_star": probabilities[:, 1],
        }
    )
    clarke_files = {
        f"SDSS-ML-{name}.csv": clarke[clarke["class_pred"] == label].to_csv().encode()
        for label, name in (("GALAXY", "galaxies"), ("QSO", "quasars"), ("STAR", "stars"))
    }

    return Sky(
        specobj=specobj,
        photoobj=photoobj,
        twomass=twomass,
        allwise=allwise,
        bzcat_votable=_votable(bzcat_table),
        bzcat_rows=len(bzcat_table),
        lac_files={lac_name: lac_bytes},
        lac_rows=len(Table.read(BUNDLED / "4lac_dr3_highlat.fits")),
        clarke_files=clarke_files,
        clarke_rows=n_clarke,
    )
