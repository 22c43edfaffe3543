"""SDO-like FITS headers and an atomic FITS writer.

The headers carry the keys real HMI and AIA files carry (TELESCOP, INSTRUME,
CONTENT, BUNIT, the helioprojective TAN WCS, DATE-OBS/T_OBS, DSUN_OBS, HGLN/HGLT,
CRLN/CRLT, RSUN_REF/RSUN_OBS, OBS_VR/VW/VN), so that ``sunpy.map.Map`` reads them
as :class:`~sunpy.map.sources.HMIMap` or :class:`~sunpy.map.sources.AIAMap`, plus
``SYNTHETIC = T`` (9 characters: written with the HIERARCH convention, read back as
``SYNTHETIC`` by astropy and sunpy) and the seed (SYNSEED). As in real data, T_OBS is the observation's
reference time (HMI writes it in TAI, ``2024.05.01_00:01:09.00_TAI``) and
DATE-OBS the start of the observation (T_OBS minus half the exposure/cadence).
"""
from __future__ import annotations

import logging
import math
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

from solarprep.io.atomic import atomic_path

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt
    import sunpy.map
    from astropy.io import fits
    from astropy.time import Time

    from solarprep.coordinates.geometry import FrameGeometry
    from solarprep.synthetic.observer import ObserverStates

__all__ = ["hmi_header", "aia_header", "write_fits", "make_map", "HMI_CONTENT"]

log = logging.getLogger(__name__)

#: CONTENT and BUNIT of the HMI-like products.
HMI_CONTENT = {
    "continuum": ("CONTINUUM INTENSITY", "DN/s"),
    "magnetogram": ("MAGNETOGRAM", "Gauss"),
    "dopplergram": ("DOPPLERGRAM", "m/s"),
    "radial_field": ("RADIAL FIELD (SYNTHETIC TRUTH)", "Gauss"),
}


def _common(geometry, states, k, shape, seed, extra):
    ny, nx = shape
    rsun_obs = math.degrees(math.asin(geometry.rsun_ref / geometry.dsun_obs)) * 3600.0
    cards = [
        ("NAXIS", 2), ("NAXIS1", nx), ("NAXIS2", ny),
        ("CTYPE1", "HPLN-TAN"), ("CTYPE2", "HPLT-TAN"),
        ("CUNIT1", "arcsec"), ("CUNIT2", "arcsec"),
        ("CRPIX1", geometry.crpix1), ("CRPIX2", geometry.crpix2),
        ("CRVAL1", geometry.crval1), ("CRVAL2", geometry.crval2),
        ("CDELT1", geometry.cdelt1), ("CDELT2", geometry.cdelt2),
        ("CROTA2", geometry.crota2),
        ("DSUN_OBS", geometry.dsun_obs), ("DSUN_REF", 149597870691.0),
        ("HGLN_OBS", geometry.hgln_obs), ("HGLT_OBS", geometry.hglt_obs),
        ("CRLN_OBS", float(states.crln[k])), ("CRLT_OBS", float(states.crlt[k])),
        ("RSUN_REF", geometry.rsun_ref), ("RSUN_OBS", rsun_obs),
        ("OBS_VR", float(states.obs_vr[k])), ("OBS_VW", float(states.obs_vw[k])),
        ("OBS_VN", float(states.obs_vn[k])),
        ("WCSNAME", "Helioprojective-cartesian"),
        ("QUALITY", 0),
    ]
    cards += list(extra)
    cards += [("HIERARCH SYNTHETIC", True), ("SYNSEED", int(seed)),
              ("ORIGIN", "solarprep.synthetic")]
    return cards


def hmi_header(kind: str, time: Time, geometry: FrameGeometry, states: ObserverStates, k: int,
               shape: tuple[int, int], *, seed: int = 0, cadence: float = 45.0,
               extra: Sequence[tuple[str, Any]] = ()) -> fits.Header:
    """Header of an HMI-like 45 s product (``kind`` in :data:`HMI_CONTENT`)."""
    import astropy.units as u

    content, bunit = HMI_CONTENT[kind]
    from astropy.time import Time

    tai = Time(time, scale="tai", precision=2)
    t_obs = tai.isot.replace("-", ".").replace("T", "_") + "_TAI"
    date_obs = (time - cadence / 2 * u.s).utc.isot
    cards = [
        ("TELESCOP", "SDO/HMI"), ("INSTRUME", "HMI_FRONT2"), ("DETECTOR", "HMI"),
        ("CAMERA", 2), ("WAVELNTH", 6173.0), ("WAVEUNIT", "Angstrom"),
        ("CONTENT", content), ("BUNIT", bunit),
        ("DATE-OBS", date_obs), ("T_OBS", t_obs), ("CADENCE", float(cadence)),
        ("TRECSTEP", float(cadence)),
    ]
    return _fits_header(cards + _common(geometry, states, k, shape, seed, extra))


def aia_header(wavelength: int, time: Time, geometry: FrameGeometry, states: ObserverStates, k: int,
               shape: tuple[int, int], *, exptime: float, camera: int, seed: int = 0,
               extra: Sequence[tuple[str, Any]] = ()) -> fits.Header:
    """Header of an AIA-like level-1.5 image (DN)."""
    import astropy.units as u

    date_obs = (time - exptime / 2 * u.s).utc.isot
    wave_str = f"{int(wavelength)}_THIN" if wavelength < 1000 else f"{int(wavelength)}"
    cards = [
        ("TELESCOP", "SDO/AIA"), ("INSTRUME", f"AIA_{camera}"), ("DETECTOR", "AIA"),
        ("CAMERA", int(camera)), ("WAVELNTH", int(wavelength)), ("WAVEUNIT", "angstrom"),
        ("WAVE_STR", wave_str), ("IMG_TYPE", "LIGHT"), ("LVL_NUM", 1.5),
        ("BUNIT", "DN"), ("EXPTIME", float(exptime)),
        ("DATE-OBS", date_obs), ("T_OBS", time.utc.isot + "Z"),
    ]
    return _fits_header(cards + _common(geometry, states, k, shape, seed, extra))


def _fits_header(cards):
    from astropy.io import fits

    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    for key, value in cards:
        header[key] = value
    return header


def make_map(data: npt.ArrayLike, header: fits.Header) -> sunpy.map.GenericMap:
    """A sunpy Map of ``data`` (float32) with ``header``."""
    import sunpy.map

    return sunpy.map.Map(np.asarray(data, dtype=np.float32), header)


_SKIP = ("KEYCOMMENTS", "COMMENT", "HISTORY", "SIMPLE", "BITPIX", "EXTEND")


def write_fits(obj: sunpy.map.GenericMap | np.ndarray, path: str | os.PathLike,
               header: fits.Header | Mapping[str, Any] | None = None, *,
               overwrite: bool = True) -> pathlib.Path:
    """Write a Map (or an array with a header) as a FITS file, atomically.

    The file is written under a temporary name in the same folder, flushed and
    renamed into place (:func:`solarprep.io.atomic.atomic_path`), so a reader never
    sees a partial file and a failed write leaves no temporary behind.

    Parameters
    ----------
    obj : sunpy.map.GenericMap or numpy.ndarray
    path : str or pathlib.Path
    header : astropy.io.fits.Header or dict, optional
        Required when ``obj`` is an array.
    overwrite : bool
        Replace an existing file (default) or raise ``FileExistsError``.

    Returns
    -------
    pathlib.Path
    """
    from astropy.io import fits

    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    if header is None:
        if not hasattr(obj, "meta"):
            raise ValueError("write_fits needs a header when given an array")
        data, meta = obj.data, obj.meta
    else:
        data, meta = obj, header
    hdr = fits.Header()
    for key, value in meta.items():
        key = str(key).upper()
        if len(key) > 8 and not key.startswith("HIERARCH "):
            key = "HIERARCH " + key
        if key in _SKIP or key.startswith("NAXIS"):
            continue
        if isinstance(value, (np.generic,)):
            value = value.item()
        hdr[key] = value
    hdu = fits.PrimaryHDU(np.asarray(data, dtype=np.float32), header=hdr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        hdu.writeto(tmp, output_verify="silentfix")
    log.debug("wrote %s", path)
    return path
