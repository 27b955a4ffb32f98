"""Eq. 20 per task: task A replaces only the W1 uncertainty (Sect. 3.3), task B W1-W3 (Sect. 3.4).

Each test builds one source whose catalogue uncertainty in one band gives SNR < 5 while the
profile-fit uncertainty of Eq. 20 would give SNR > 5, so whether the row survives the SNR cut
says whether Eq. 20 was applied to that band.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_settings import workflow_prepare_settings

from deweight import registry
from deweight.catalog import prepare_blazar_task, prepare_star_galaxy_agn, wise_flux_uncertainty_fix
from deweight.catalog.photometry import WISE_ZERO_POINT_MAG

PREPARE = workflow_prepare_settings()
#: The registry entries the preparers are called with.
ARCHIVE_SGA = registry.spec("archive", "sga")
ARCHIVE_BLAZAR = registry.spec("archive", "blazar")

# w?magp chosen so that F0 10^(-0.4 magp) = 100 DN = w?flux in every band.
MAGP = {band: WISE_ZERO_POINT_MAG[band] - 5.0 for band in ("W1", "W2", "W3")}
BAD_SIGMA = 30.0  # SNR 3.3 with flux 100 DN
SIGP2 = 0.01  # sigma_p2 = 0.4 ln(10) * 0.01 * 100 = 0.92 DN -> Eq. 20 fires for 30 DN


def _spec(n: int, spec_class: str = "GALAXY") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "specObjID": np.arange(n) + 1000,
            "bestObjID": np.arange(n) + 5000,
            "ra": 150.0,
            "dec": 0.5 * np.arange(n),
            "class": spec_class,
            "zWarning": 0,
        }
    )


def _wise(n: int, bad_band: str | None) -> pd.DataFrame:
    rows = []
    for index in range(n):
        row = {"specObjID": 1000 + index, "wise_separation_arcsec": 0.3}
        for band in ("W1", "W2", "W3"):
            prefix = band.lower()
            row.update(
                {
                    f"{prefix}flux": 100.0,
                    f"{prefix}sigflux": 2.0,
                    f"{prefix}magp": MAGP[band],
                    f"{prefix}sigp2": SIGP2,
                    f"{prefix}cc_map": 0,
                }
            )
        row.update({"j_m_2mass": 16.0, "j_msig_2mass": 0.05})
        rows.append(row)
    table = pd.DataFrame(rows)
    if bad_band is not None:
        table.loc[0, f"{bad_band.lower()}sigflux"] = BAD_SIGMA
    return table


def _photo(n: int) -> pd.DataFrame:
    binned1 = 1 << 28
    row = {"type": 3, "mode": 1}
    for band, extinction in (("g", 0.2), ("r", 0.1), ("i", 0.05)):
        row.update(
            {
                f"psfFlux_{band}": 100.0,
                f"psfFluxIvar_{band}": 1.0,
                f"modelFlux_{band}": 100.0,
                f"modelFluxIvar_{band}": 1.0,
                f"flags_{band}": binned1,
                f"extinction_{band}": extinction,
            }
        )
    return pd.DataFrame([{**row, "objID": 5000 + index} for index in range(n)])


NO_BLAZARS = pd.DataFrame({"ra": [10.0], "dec": [-60.0], "blazar_class": ["fsrq"]})


def test_the_constructed_row_is_one_that_eq20_rescues():
    fixed, replaced = wise_flux_uncertainty_fix(
        np.array([100.0]),
        np.array([BAD_SIGMA]),
        np.array([MAGP["W2"]]),
        np.array([SIGP2]),
        zero_point_mag=WISE_ZERO_POINT_MAG["W2"],
    )
    assert replaced.tolist() == [True]
    assert 100.0 / fixed[0] > 5 > 100.0 / BAD_SIGMA


def test_task_a_applies_eq20_to_w1():
    table, flow = prepare_star_galaxy_agn(
        _spec(3), _wise(3, "W1"), task=ARCHIVE_SGA, config=PREPARE
    )
    assert len(table) == 3
    assert table.attrs["diagnostics"]["eq20_replaced"] == {"W1": 1, "W2": 0}


@pytest.mark.parametrize("bad_band", ["W2"])
def test_task_a_keeps_the_catalogue_w2_uncertainty(bad_band):
    table, flow = prepare_star_galaxy_agn(
        _spec(3), _wise(3, bad_band), task=ARCHIVE_SGA, config=PREPARE
    )
    # The W2 SNR is 3.3 with w2sigflux; Eq. 20 is not applied to W2 in task A.
    assert flow.removed_by_step()["snr_w2"] == 1
    assert len(table) == 2
    assert table.attrs["diagnostics"]["eq20_bands"] == ["W1"]
    assert table.attrs["diagnostics"]["eq20_replaced"] == {"W1": 0, "W2": 0}


@pytest.mark.parametrize("bad_band", ["W1", "W2", "W3"])
def test_task_b_applies_eq20_to_each_of_w1_w2_w3(bad_band):
    table, flow = prepare_blazar_task(
        _spec(3), _wise(3, bad_band), _photo(3), NO_BLAZARS, task=ARCHIVE_BLAZAR, config=PREPARE
    )
    assert len(table) == 3, flow.removed_by_step()
    replaced = table.attrs["diagnostics"]["eq20_replaced"]
    assert replaced == {band: int(band == bad_band) for band in ("W1", "W2", "W3")}
    assert table.attrs["diagnostics"]["eq20_bands"] == ["W1", "W2", "W3"]
