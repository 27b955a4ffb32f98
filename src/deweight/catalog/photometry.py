"""Photometric conversions and quality tests used to prepare the catalogues of Lake & Tsai (2022).

Magnitude systems used here
---------------------------
* AllWISE ``w?flux`` / ``w?sigflux`` are profile-fit fluxes in image data numbers (DN). The
  AllWISE Vega magnitude is ``m = MAGZP - 2.5 log10(F / DN)`` with the Atlas-image zero points
  ``MAGZP`` = 20.5, 19.5, 18.0, 13.0 mag for W1, W2, W3, W4 (WISE All-Sky explanatory supplement,
  section 2.3f, https://wise2.ipac.caltech.edu/docs/release/allsky/expsup/sec2_3f.html, the
  paper's footnote 5). ``w?mpro`` is the same quantity as tabulated by IRSA.
* 2MASS ``J`` (SDSS ``TwoMass.j``, AllWISE ``j_m_2mass``) is a Vega magnitude. Its uncertainty
  is a magnitude error; the flux signal-to-noise ratio follows from
  ``sigma_F / F = 0.4 ln(10) sigma_m`` (first-order propagation of ``m = -2.5 log10 F``).
* SDSS ``psfFlux_?`` / ``modelFlux_?`` are in nanomaggies, with AB magnitude
  ``m = 22.5 - 2.5 log10(f / nanomaggy)`` (Pogson; SDSS g, r, i are within about 0.02 mag of AB).
  ``*FluxIvar_?`` are inverse variances in nanomaggy**-2.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from deweight.catalog._tables import parse_bitmask

__all__ = [
    "SDSS_CLEAN_BAND_REJECT_BITS",
    "SDSS_PHOTO_FLAGS",
    "WISE_ZERO_POINT_MAG",
    "magnitude_error_snr",
    "nanomaggies_to_ab_mag",
    "sdss_clean_photometry",
    "wise_dn_to_vega_mag",
    "wise_flux_uncertainty_fix",
]

#: AllWISE Atlas-image magnitude zero points, in Vega mag for a flux of 1 DN.
WISE_ZERO_POINT_MAG: Mapping[str, float] = {"W1": 20.5, "W2": 19.5, "W3": 18.0, "W4": 13.0}

#: SDSS photometric-pipeline object flags: name -> bit number in the 64-bit ``flags`` /
#: ``flags_?`` columns of ``PhotoObj`` (bits 0-31 are the pipeline's ``flags``, bits 32-63 its
#: ``flags2`` shifted up by 32). Values as in the SkyServer ``PhotoFlags`` table / the
#: ``dbo.fPhotoFlags()`` function (e.g. BINNED1 = 0x10000000, DEBLEND_NOPEAK = 0x400000000000);
#: see https://www.sdss.org/dr16/algorithms/photo_flags/ and the SkyServer schema browser.
#: Only the flags the quality cuts use, and their close relatives, are listed.
SDSS_PHOTO_FLAGS: Mapping[str, int] = {
    "CANONICAL_CENTER": 0,
    "BRIGHT": 1,
    "EDGE": 2,
    "BLENDED": 3,
    "CHILD": 4,
    "PEAKCENTER": 5,
    "NODEBLEND": 6,
    "NOPROFILE": 7,
    "COSMIC_RAY": 12,
    "INTERP": 17,
    "SATURATED": 18,
    "NOTCHECKED": 19,
    "BINNED1": 28,
    "BINNED2": 29,
    "BINNED4": 30,
    "BAD_COUNTS_ERROR": 40,
    "SATUR_CENTER": 43,
    "INTERP_CENTER": 44,
    "DEBLENDED_AT_EDGE": 45,
    "DEBLEND_NOPEAK": 46,
    "PSF_FLUX_INTERP": 47,
    "NOTCHECKED_CENTER": 58,
}

#: Flags that, set in a band, make that band's photometry unclean in the SDSS recommended
#: selection of clean point-source photometry (DR16 "Recommendation on the Use of Photometric
#: Processing Flags", https://www.sdss.org/dr16/algorithms/photo_flags_recommend/, and the
#: SkyServer "clean photometry" sample query, whose mask 0x8100000c00a4 is exactly these bits).
#: INTERP_CENTER is tested together with COSMIC_RAY and DEBLEND_NOPEAK is not tested at all,
#: see :func:`sdss_clean_photometry`.
SDSS_CLEAN_BAND_REJECT_BITS: tuple[str, ...] = (
    "EDGE",
    "PEAKCENTER",
    "NOPROFILE",
    "SATURATED",
    "NOTCHECKED",
    "BAD_COUNTS_ERROR",
    "PSF_FLUX_INTERP",
)


def _bit(name: str) -> np.uint64:
    return np.uint64(1) << np.uint64(SDSS_PHOTO_FLAGS[name])


def wise_flux_uncertainty_fix(
    flux,
    sigflux,
    magp,
    sigp2,
    *,
    factor: float = 2.0,
    fractional_floor: float = 0.02,
    zero_point_mag: float = 20.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Replace bad AllWISE flux uncertainties by the one implied by the multi-epoch scatter.

    Implements Eq. 20 of Lake & Tsai (2022) (the procedure of Lake et al. 2018). With
    ``F0 = 10**(0.4 * zero_point_mag)`` DN, the uncertainty estimated from the standard deviation
    of the mean of the single-exposure measurements is

    ``sigma_p2 = 0.4 ln(10) * sigp2 * F0 * 10**(-0.4 * magp)``

    and ``sigflux`` is replaced by ``sigma_p2`` where

    ``sigflux > factor * sqrt((fractional_floor * flux)**2 + sigma_p2**2)``.

    Where ``sigma_p2`` cannot be computed (``magp`` or ``sigp2`` missing or not positive) the
    catalogued ``sigflux`` is kept: there is nothing better to replace it with.

    Parameters
    ----------
    flux : array_like
        ``w?flux``, profile-fit flux in DN.
    sigflux : array_like
        ``w?sigflux``, its catalogued uncertainty in DN.
    magp : array_like
        ``w?magp``, mean magnitude of the single-exposure measurements, Vega mag.
    sigp2 : array_like
        ``w?sigp2``, standard deviation of that mean, mag.
    factor : float, default 2.0
        How much larger than the alternative estimate ``sigflux`` may be before it is replaced
        (the "2" of Eq. 20).
    fractional_floor : float, default 0.02
        Fractional flux floor added in quadrature to ``sigma_p2`` (the "0.02" of Eq. 20).
    zero_point_mag : float, default 20.5
        Atlas magnitude zero point of the band in Vega mag for 1 DN (20.5 for W1, 19.5 for W2,
        18.0 for W3; see :data:`WISE_ZERO_POINT_MAG`).

    Returns
    -------
    sigma_fixed : numpy.ndarray
        The flux uncertainty to use, in DN.
    replaced_mask : numpy.ndarray of bool
        True where ``sigflux`` was replaced by ``sigma_p2``.
    """
    flux = np.asarray(flux, dtype=float)
    sigflux = np.asarray(sigflux, dtype=float)
    magp = np.asarray(magp, dtype=float)
    sigp2 = np.asarray(sigp2, dtype=float)
    zero_flux = 10.0 ** (0.4 * zero_point_mag)
    with np.errstate(invalid="ignore", over="ignore"):
        sigma_p2 = 0.4 * np.log(10.0) * sigp2 * zero_flux * 10.0 ** (-0.4 * magp)
        usable = np.isfinite(sigma_p2) & (sigma_p2 > 0)
        threshold = factor * np.sqrt((fractional_floor * flux) ** 2 + sigma_p2**2)
        replaced = usable & (sigflux > threshold)
    return np.where(replaced, sigma_p2, sigflux), replaced


def wise_dn_to_vega_mag(flux_dn, band: str) -> np.ndarray:
    """Vega magnitude of an AllWISE flux in DN: ``MAGZP - 2.5 log10(F)``.

    Parameters
    ----------
    flux_dn : array_like
        Flux in DN; non-positive values give NaN.
    band : {"W1", "W2", "W3", "W4"}
        The WISE band, selecting the zero point in :data:`WISE_ZERO_POINT_MAG`.

    Returns
    -------
    numpy.ndarray
        Vega magnitude.
    """
    flux_dn = np.asarray(flux_dn, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        magnitude = WISE_ZERO_POINT_MAG[band.upper()] - 2.5 * np.log10(flux_dn)
    return np.where(flux_dn > 0, magnitude, np.nan)


def nanomaggies_to_ab_mag(flux_nanomaggies) -> np.ndarray:
    """AB magnitude of an SDSS flux in nanomaggies: ``22.5 - 2.5 log10(f)``.

    Parameters
    ----------
    flux_nanomaggies : array_like
        Flux in nanomaggies; non-positive values give NaN.

    Returns
    -------
    numpy.ndarray
        AB magnitude (Pogson, as the paper constructs magnitudes from fluxes; the SDSS asinh
        magnitudes differ from it only for fluxes within a few times the sky noise).
    """
    flux = np.asarray(flux_nanomaggies, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        magnitude = 22.5 - 2.5 * np.log10(flux)
    return np.where(flux > 0, magnitude, np.nan)


def magnitude_error_snr(magnitude_error) -> np.ndarray:
    """Flux signal-to-noise ratio implied by a magnitude uncertainty: ``1 / (0.4 ln10 sigma_m)``.

    Parameters
    ----------
    magnitude_error : array_like
        One-sigma magnitude uncertainty, mag; non-positive values give NaN.

    Returns
    -------
    numpy.ndarray
        ``F / sigma_F``. SNR = 5 corresponds to ``sigma_m = 0.217`` mag.
    """
    error = np.asarray(magnitude_error, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = 1.0 / (0.4 * np.log(10.0) * error)
    return np.where(error > 0, snr, np.nan)


def sdss_clean_photometry(band_flags: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Which sources pass the SDSS clean-photometry flag tests, with Lake & Tsai's exceptions.

    The SDSS recommendation (DR16 "photo_flags_recommend", the recipe behind ``PhotoObj.clean``)
    rejects a band's photometry if any of EDGE, PEAKCENTER, NOPROFILE, SATURATED, NOTCHECKED,
    BAD_COUNTS_ERROR or PSF_FLUX_INTERP is set, or if INTERP_CENTER and COSMIC_RAY are both set,
    or if DEBLEND_NOPEAK is set with a large PSF error; it requires a BINNED1 detection. Section
    3.4 of Lake & Tsai (2022) applies it with two exceptions, which this function follows:

    * every band given (g, r, i in the paper) must pass the per-band tests individually, except
      that DEBLEND_NOPEAK is ignored (the SNR > 5 cuts make it irrelevant);
    * BINNED1 need only be set in one of the bands.

    Parameters
    ----------
    band_flags : mapping of str to array_like
        Per-band 64-bit flag columns (``flags_g``, ``flags_r``, ``flags_i``), keyed by band name.
        Rows with a missing or negative flag value fail ``valid_flags`` and every other test.

    Returns
    -------
    dict of str to numpy.ndarray of bool
        ``valid_flags`` (all bands hold a usable bit mask), ``deblend_ok`` (no PEAKCENTER or
        NOTCHECKED in any band), ``interpolation_ok`` (no PSF_FLUX_INTERP, BAD_COUNTS_ERROR, or
        INTERP_CENTER together with COSMIC_RAY, in any band), ``detection_ok`` (no EDGE,
        NOPROFILE or SATURATED in any band), ``binned1_any`` (BINNED1 in at least one band) and
        ``clean`` (all of these).
    """
    if not band_flags:
        raise ValueError("sdss_clean_photometry needs the flag column of at least one band")
    parsed = {band: parse_bitmask(values) for band, values in band_flags.items()}
    n_rows = len(next(iter(parsed.values()))[0])
    zero = np.uint64(0)
    valid = np.ones(n_rows, dtype=bool)
    deblend_ok = np.ones(n_rows, dtype=bool)
    interpolation_ok = np.ones(n_rows, dtype=bool)
    detection_ok = np.ones(n_rows, dtype=bool)
    binned1_any = np.zeros(n_rows, dtype=bool)
    deblend_bits = _bit("PEAKCENTER") | _bit("NOTCHECKED")
    interpolation_bits = _bit("PSF_FLUX_INTERP") | _bit("BAD_COUNTS_ERROR")
    detection_bits = _bit("EDGE") | _bit("NOPROFILE") | _bit("SATURATED")
    for band_valid, masks in parsed.values():
        valid &= band_valid
        deblend_ok &= (masks & deblend_bits) == zero
        interpolated_cosmic_ray = ((masks & _bit("INTERP_CENTER")) != zero) & (
            (masks & _bit("COSMIC_RAY")) != zero
        )
        interpolation_ok &= ((masks & interpolation_bits) == zero) & ~interpolated_cosmic_ray
        detection_ok &= (masks & detection_bits) == zero
        binned1_any |= band_valid & ((masks & _bit("BINNED1")) != zero)
    deblend_ok &= valid
    interpolation_ok &= valid
    detection_ok &= valid
    binned1_any &= valid
    return {
        "valid_flags": valid,
        "deblend_ok": deblend_ok,
        "interpolation_ok": interpolation_ok,
        "detection_ok": detection_ok,
        "binned1_any": binned1_any,
        "clean": deblend_ok & interpolation_ok & detection_ok & binned1_any,
    }
