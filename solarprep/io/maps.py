"""From a solar Dataset back to sunpy Maps, one per frame, with the same data and WCS.

:func:`to_maps` rebuilds a FITS-like header for every frame from the per-frame
coordinates and the global attributes of the Dataset (``docs/dataset.md``), so
that the Map's data, world coordinates, observer, ``date`` and
``reference_date`` are those of the frame.
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from solarprep import backend
from solarprep.coordinates.geometry import frame_geometries
from solarprep.dataset import UNITS_ASTROPY, data_variables

if TYPE_CHECKING:
    import xarray as xr
    from sunpy.map import GenericMap

__all__ = ["to_maps"]

log = logging.getLogger(__name__)


def to_maps(ds: xr.Dataset, name: str | None = None) -> list[GenericMap]:
    """One :class:`sunpy.map.GenericMap` per frame of a solar Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset (``docs/dataset.md``); CuPy-backed data are copied to the host.
    name : str, optional
        The data variable to use; may be left out when the Dataset has only one.

    Returns
    -------
    list of sunpy.map.GenericMap
        One Map per frame, in time order, with float32 data. sunpy picks the
        instrument's Map class (``AIAMap``, ``HMIMap``, ``EUVIMap``...) from
        TELESCOP/INSTRUME/DETECTOR.

    Raises
    ------
    ValueError
        If ``name`` is not a data variable of ``ds``, or is left out while
        ``ds`` has several.
    solarprep.coordinates.geometry.GeometryError
        If ``ds`` lacks the per-frame geometry coordinates.

    Notes
    -----
    The header of frame ``t`` has CTYPE/CUNIT (arcsec)/CRPIX/CRVAL/CDELT, the PC
    matrix of :attr:`solarprep.coordinates.geometry.FrameGeometry.pc_matrix`, LONPOLE,
    DATE-OBS (``date_obs``), DATE-AVG and T_OBS (``time``, which sunpy's SDO
    classes read as the reference date; in TAI for HMI, as JSOC writes it; the
    other dates are UTC, the FITS default), HGLN_OBS/HGLT_OBS/DSUN_OBS,
    RSUN_REF, RSUN_OBS, TELESCOP ("observatory/detector"), OBSRVTRY, INSTRUME,
    DETECTOR, WAVELNTH/WAVEUNIT (when the wavelength is known), EXPTIME (when
    known) and BUNIT.
    """
    import sunpy.map

    name = _pick_variable(ds, name)
    var = ds[name]
    geometries = frame_geometries(ds)
    data = var.transpose("time", "y", "x").data
    maps = []
    for t, geometry in enumerate(geometries):
        frame = data[t]
        frame = backend.to_host(frame)
        header = _header(ds, var, t, geometry)
        smap = sunpy.map.Map(np.asarray(frame, dtype=np.float32), header)
        _check_reference_date(smap, ds["time"].values[t], t)
        maps.append(smap)
    return maps


def _pick_variable(ds, name):
    names = data_variables(ds)
    if name is None:
        if len(names) != 1:
            raise ValueError(f"the Dataset has the data variables {names}; pass name=... to "
                             "choose the one to turn into Maps")
        return names[0]
    if name not in names:
        raise ValueError(f"{name!r} is not a data variable of the Dataset (it has {names})")
    return name


def _header(ds, var, t, geometry):
    """The FITS header of frame ``t``."""
    attrs = ds.attrs
    ctype1, ctype2 = attrs.get("ctype1", "HPLN-TAN"), attrs.get("ctype2", "HPLT-TAN")
    pc = geometry.pc_matrix
    time = _iso(ds["time"].values[t])
    header = {
        "ctype1": ctype1, "ctype2": ctype2, "cunit1": "arcsec", "cunit2": "arcsec",
        "crpix1": geometry.crpix1, "crpix2": geometry.crpix2,
        "crval1": geometry.crval1, "crval2": geometry.crval2,
        "cdelt1": geometry.cdelt1, "cdelt2": geometry.cdelt2,
        "pc1_1": pc[0, 0], "pc1_2": pc[0, 1], "pc2_1": pc[1, 0], "pc2_2": pc[1, 1],
        "lonpole": geometry.lonpole,
        "date-avg": time,
        "t_obs": _t_obs(ds["time"].values[t], attrs),
        "hgln_obs": geometry.hgln_obs, "hglt_obs": geometry.hglt_obs,
        "dsun_obs": geometry.dsun_obs,
        "rsun_ref": geometry.rsun_ref,
        "bunit": _bunit(var.attrs),
    }
    header.update(_frame_values(ds, t))
    header.update(_instrument_keys(attrs))
    return header


def _bunit(attrs):
    """BUNIT from ``units``, or from the astropy unit a file keeps beside its CF string."""
    import astropy.units as u

    given = str(attrs.get(UNITS_ASTROPY) or attrs.get("units", ""))
    try:
        return u.Unit(given).to_string()
    except ValueError:
        return given


def _frame_values(ds, t):
    """DATE-OBS, RSUN_OBS and EXPTIME of frame ``t``, where the Dataset knows them."""
    out = {}
    if "date_obs" in ds.coords and not np.isnat(ds["date_obs"].values[t]):
        out["date-obs"] = _iso(ds["date_obs"].values[t])
    else:
        out["date-obs"] = _iso(ds["time"].values[t])
    for coord, key in (("rsun_obs", "rsun_obs"), ("exptime", "exptime")):
        if coord in ds.coords:
            value = float(ds[coord].values[t])
            if math.isfinite(value):
                out[key] = value
    return out


def _instrument_keys(attrs):
    observatory = str(attrs.get("observatory", ""))
    detector = str(attrs.get("detector", ""))
    instrument = str(attrs.get("instrument", ""))
    keys = {
        "obsrvtry": observatory.replace(" ", "_"),
        "telescop": f"{observatory}/{detector}" if detector else observatory,
        "instrume": instrument.replace(" ", "_"),
        "detector": detector,
    }
    wavelength = attrs.get("wavelength", math.nan)
    if wavelength is not None and math.isfinite(float(wavelength)):
        keys["wavelnth"] = float(wavelength)
        keys["waveunit"] = str(attrs.get("wavelength_unit", ""))
    return keys


def _iso(value):
    """A datetime64 as an ISO 8601 string with nanoseconds (exact)."""
    return np.datetime_as_string(np.datetime64(value, "ns"), unit="ns")


def _t_obs(value, attrs):
    """T_OBS as JSOC writes it: TAI (``2011.02.14_20:35:09.000000_TAI``) for HMI, else UTC ISO.

    Writing HMI's T_OBS in its own time scale makes the rebuilt Map's
    ``reference_date`` equal (not merely within 1e-11 s) to that of the original
    HMI Map. sunpy reads microseconds in this form, so a time with finer digits
    is written as UTC ISO.
    """
    from astropy.time import Time

    value = np.datetime64(value, "ns")
    is_hmi = any(str(attrs.get(key, "")).upper().startswith("HMI")
                 for key in ("detector", "instrument"))
    if not is_hmi or value != value.astype("datetime64[us]"):
        return _iso(value)
    tai = Time(_iso(value), format="isot", scale="utc").tai
    tai.precision = 6
    date, clock = tai.isot.split("T")
    return f"{date.replace('-', '.')}_{clock}_TAI"


def _check_reference_date(smap, time, t):
    reference = np.datetime64(smap.reference_date.utc.datetime64, "ns")
    if abs(int((reference - np.datetime64(time, "ns")).astype(np.int64))) > 1000:
        log.warning("frame %d: %s reads its reference date as %s, not the frame's time %s",
                    t, type(smap).__name__, reference, np.datetime64(time, "ns"))
