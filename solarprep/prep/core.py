"""``solarprep.prep``: AIA level 1 → 1.5, HMI north up with quality rejection, EUVI level 0 → 1.

Steps (``docs/prep.md``), each recorded in ``history``:

==========  ==============================================================================
instrument  what is done
==========  ==============================================================================
AIA         QUALITY rejection; exposure normalisation DN → DN/s (``EXPTIME``); optional
            degradation correction (aiapy ``degradation`` with a correction table given
            offline); registration: north up, Sun centre at the image centre, 0.6″ pixels
            (binned images keep their binning: 0.6″ × round(CDELT/0.6″), aiapy's rule) or
            a chosen disk radius
HMI         QUALITY rejection (:data:`HMI_QUALITY_MASKS`); registration as AIA (0.6″, the
            SSW ``hmi_prep`` grid, or the native plate scale with ``scale="native"``)
EUVI        bias subtraction (``BIASMEAN`` when ``OFFSETCR`` = 0), summing correction
            (``IPSUM``), exposure normalisation DN → DN/s, registration north up and centred
            at the native plate scale
==========  ==============================================================================

Registration resamples each frame through its WCS onto the centred north-up grid
(:func:`solarprep.remap.regrid_disk`, bicubic by default), so the Sun centre lands at the
image centre even where the level-1 reference pixel is not the Sun centre. aiapy's
``register`` instead centres the reference coordinate (``CRVAL``), which is the Sun centre for
full-resolution AIA level 1 (``CRVAL = 0``) but not for re-binned files.

What SolarSoft's ``secchi_prep`` does for EUVI that is **not** reproduced here (its
calibration files are not distributed with Python packages): flat-field and vignetting
correction, the photometric calibration factor to photons, the guide-telescope pointing and
roll update (``euvi_point``), missing-block filling and cosmic-ray cleaning.
"""
from __future__ import annotations

import logging
import math
import os
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from solarprep.dataset import append_history, data_variables
from solarprep.errors import PrepError
from solarprep.io import load
from solarprep.remap import regrid_disk

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["prep", "AIA_SCALE", "HMI_QUALITY_MASKS", "aia_scale", "quality_mask"]

log = logging.getLogger(__name__)

#: The AIA level-1.5 plate scale, arcsec per pixel.
AIA_SCALE = 0.6

#: QUALITY bits rejected, by name (JSOC, *HMI QUALITY keyword for level 1.5*, 24 May 2013;
#: the same word for AIA, SDO user guide §7.7.6). ``"strict"``: any bit (QUALITY ≠ 0, the
#: SDOML choice); ``"nodata"``: the "no observable produced" bits 0x80000000–0x00400000
#: (QUAL_NODATA, QUAL_TARGETFILTERGRAMMISSING, ..., QUAL_MISSINGKEYWORDLEV1P); ``"none"``.
HMI_QUALITY_MASKS = {"strict": 0xFFFFFFFF, "nodata": 0xFFC00000, "none": 0}


def quality_mask(quality: str | int) -> int:
    """The QUALITY bitmask of a name in :data:`HMI_QUALITY_MASKS` or an int."""
    if isinstance(quality, str):
        if quality not in HMI_QUALITY_MASKS:
            raise PrepError(f"quality={quality!r}: one of {sorted(HMI_QUALITY_MASKS)} or an int "
                            "bitmask")
        return HMI_QUALITY_MASKS[quality]
    return int(quality) & 0xFFFFFFFF


def aia_scale(cdelt: float) -> float:
    """aiapy's level-1.5 plate scale for an image of plate scale ``cdelt`` (arcsec):
    0.6″ × round(cdelt/0.6″), at least 0.6″ (a re-binned image keeps its binning)."""
    return AIA_SCALE * max(1.0, round(abs(float(cdelt)) / AIA_SCALE))


def _family(ds):
    text = f"{ds.attrs.get('instrument', '')} {ds.attrs.get('detector', '')}".upper()
    for name in ("AIA", "HMI", "EUVI"):
        if name in text:
            return name
    raise PrepError(f"prep() knows SDO/AIA, SDO/HMI and STEREO/EUVI images; this Dataset's "
                    f"instrument is {ds.attrs.get('instrument')!r} (detector "
                    f"{ds.attrs.get('detector')!r})")


def _read(source, progress):
    """``(Dataset, per-frame header dicts sorted like the Dataset, or None)``."""
    import xarray as xr

    if isinstance(source, xr.Dataset):
        return source, None
    import sunpy.map

    if isinstance(source, sunpy.map.GenericMap):
        maps = [source]
    elif isinstance(source, sunpy.map.MapSequence):
        maps = list(source.maps)
    elif isinstance(source, (list, tuple)) and source and all(
            isinstance(m, sunpy.map.GenericMap) for m in source):
        maps = list(source)
    else:
        items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
        try:  # sunpy.map.Map expands globs and folders, as load() does
            maps = sunpy.map.Map([os.fspath(p) for p in items])
        except Exception as exc:  # sunpy raises ValueError, OSError, NoMatchError ...
            raise PrepError(f"{[os.fspath(p) for p in items]}: cannot be read as FITS images "
                            f"({type(exc).__name__}: {exc}); check the paths or pattern") from exc
        maps = maps if isinstance(maps, list) else [maps]
    times = [m.reference_date for m in maps]
    order = sorted(range(len(maps)), key=lambda k: times[k])
    headers = [dict(maps[k].meta) for k in order]
    return load([maps[k] for k in order], progress=progress, device="cpu"), headers


def _reject_quality(ds, headers, quality, family):
    mask = quality_mask(quality)
    if "quality" in ds.coords:
        values = np.asarray(ds["quality"].values, np.int64)
    elif headers is not None:
        values = np.array([int(h.get("quality", 0) or 0) for h in headers], np.int64)
    else:
        if mask:
            log.info("prep: the Dataset has no 'quality' coordinate; no %s frame rejected "
                     "(pass the FITS files to prep() to use their QUALITY)", family)
        return ds, headers, "no QUALITY available"
    bad = (values & mask) != 0
    if bad.all():
        raise PrepError(f"every frame has a rejected QUALITY flag ({[hex(v) for v in values]}, "
                        f"mask {mask:#x}); pass quality='nodata' or 'none' to keep them")
    ds = ds.assign_coords(quality=("time", values, {"long_name": "QUALITY keyword"}))
    if bad.any():
        log.warning("prep: %d %s frame(s) rejected for QUALITY & %#x", int(bad.sum()), family,
                    mask)
        ds = ds.isel(time=np.flatnonzero(~bad))
        headers = [h for h, b in zip(headers, bad) if not b] if headers else headers
    return ds, headers, f"{int(bad.sum())} frame(s) rejected for QUALITY & {mask:#x}"


def _scale_each(ds, factors, units, message):
    out = ds.copy()
    f = np.asarray(factors, np.float64)[:, None, None]
    for name in data_variables(ds):
        attrs = dict(ds[name].attrs, units=units)
        out[name] = ds[name].copy(data=(np.asarray(ds[name].values, np.float64) * f)
                                  .astype(np.float32))
        out[name].attrs = attrs
    return append_history(out, message)


def _per_second(ds, family):
    names = data_variables(ds)
    units = {ds[n].attrs.get("units", "") for n in names}
    if units == {"DN / s"}:
        return ds
    if not units <= {"DN", ""}:
        raise PrepError(f"{family} exposure normalisation needs data in DN, not {sorted(units)}")
    exptime = np.asarray(ds["exptime"].values, np.float64)
    if not np.all(np.isfinite(exptime) & (exptime > 0)):
        bad = np.flatnonzero(~(np.isfinite(exptime) & (exptime > 0)))
        raise PrepError(f"frames {bad.tolist()} have no usable EXPTIME ({exptime[bad]}); "
                        "exposure normalisation needs it (exposure=False skips it)")
    return _scale_each(ds, 1.0 / exptime, "DN / s", "prep: divided by EXPTIME (DN -> DN / s)")


def _degradation(ds, correction_table):
    import astropy.units as u
    from astropy.time import Time

    if correction_table is None:
        raise PrepError(
            "the AIA degradation correction needs aiapy's correction table, which aiapy "
            "downloads (JSOC aia.response or SSW); get it once where the internet is reachable "
            "(aiapy.calibrate.util.get_correction_table('SSW'), or the SSW file "
            "$SSW/sdo/aia/response/aia_V*_response_table.txt) and pass correction_table=PATH, "
            "or prep(..., degradation=False)")
    from aiapy.calibrate import degradation
    from aiapy.calibrate.util import get_correction_table

    table = correction_table
    if isinstance(table, (str, os.PathLike)):
        if not os.path.isfile(table):
            raise PrepError(f"correction_table={os.fspath(table)!r}: no such file")
        table = get_correction_table(pathlib.Path(table))
    wavelength = float(ds.attrs.get("wavelength", math.nan))
    try:
        factor = degradation(wavelength * u.AA, Time(ds["time"].values), correction_table=table)
    except (ValueError, KeyError) as exc:
        raise PrepError(f"the correction table cannot correct {wavelength:g} Å at these times "
                        f"({exc})") from exc
    units = ds[data_variables(ds)[0]].attrs.get("units", "DN / s")
    return _scale_each(ds, 1.0 / np.asarray(factor.value), units,
                       f"prep: divided by the aiapy degradation factor "
                       f"({np.round(factor.value, 4).tolist()})")


def _euvi_level1(ds, headers):
    if headers is None:
        raise PrepError("EUVI level 0 → 1 needs the FITS headers (BIASMEAN, OFFSETCR, IPSUM): "
                        "pass the files or Maps to prep(), not a Dataset")
    bias = np.array([float(h.get("biasmean", 0.0)) if float(h.get("offsetcr", 0.0) or 0.0) == 0
                     else 0.0 for h in headers])
    summed = np.array([float(h.get("ipsum", 1.0) or 1.0) for h in headers])
    out = ds.copy()
    for name in data_variables(ds):
        data = np.asarray(ds[name].values, np.float64) - bias[:, None, None]
        data /= (2.0 ** (2.0 * (summed - 1.0)))[:, None, None]
        out[name] = ds[name].copy(data=data.astype(np.float32))
    return append_history(out, f"prep: EUVI bias {bias.tolist()} DN subtracted (BIASMEAN, "
                               f"OFFSETCR=0), divided by the on-board summing 4^(IPSUM-1)")


def prep(source: object, *, scale: str | float = "auto", radius: float | None = None,
         shape: int | tuple[int, int] | None = None, order: int = 3, exposure: bool = True,
         degradation: bool = False, correction_table: object = None, quality: str | int = "strict",
         progress: bool = False) -> xr.Dataset:
    """Prepare SDO/AIA, SDO/HMI or STEREO/EUVI images (module docstring): level 1.5 / 1.

    Parameters
    ----------
    source : xarray.Dataset, FITS path(s), glob, sunpy Map(s)
        Files (or Maps) give every step their header keywords (QUALITY, BIASMEAN ...); a
        Dataset (from :func:`solarprep.load` or :func:`solarprep.open_sdoml`) uses its
        ``quality`` coordinate when it has one.
    scale : "auto", "native" or float
        Output plate scale (arcsec/px): ``"auto"`` is aiapy's 0.6″ rule for AIA and HMI
        (:func:`aia_scale`) and the native scale for EUVI.
    radius : float, optional
        Put the disk at this radius in pixels instead (the seeds' 392 or 450 px).
    shape : int or (int, int), optional
        Output size (default: the input's).
    order : int
        Spline order of the resampling (3 as aiapy; 1 bilinear).
    exposure : bool
        AIA and EUVI: divide by EXPTIME (DN → DN/s).
    degradation : bool
        AIA: divide by aiapy's time-dependent degradation factor; needs ``correction_table``.
    correction_table : path or astropy.table.Table, optional
        aiapy's correction table (the file ``get_correction_table`` reads), available offline.
    quality : "strict", "nodata", "none" or int
        QUALITY bits whose frames are dropped (:data:`HMI_QUALITY_MASKS`).

    Returns
    -------
    xarray.Dataset
        The prepared solar Dataset (north up, Sun centred; ``prep_level`` 1.5 for SDO, 1 for
        EUVI), with every step in ``history``.

    Raises
    ------
    PrepError
        An instrument other than AIA/HMI/EUVI, a missing EXPTIME, degradation without a
        correction table, every frame rejected, EUVI from a Dataset (no headers).
    """
    ds, headers = _read(source, progress)
    family = _family(ds)
    ds, headers, rejection = _reject_quality(ds, headers, quality, family)
    ds = append_history(ds, f"prep: {family} {rejection}")
    if family == "EUVI":
        ds = _euvi_level1(ds, headers)
    if exposure and family in ("AIA", "EUVI"):
        ds = _per_second(ds, family)
    if degradation:
        if family != "AIA":
            raise PrepError(f"degradation correction is for AIA only, not {family}")
        ds = _degradation(ds, correction_table)
    cdelt = float(np.mean(np.abs(ds["cdelt1"].values)))
    if radius is None:
        if scale == "auto":
            scale = cdelt if family == "EUVI" else aia_scale(cdelt)
        elif scale == "native":
            scale = cdelt
        scale = float(scale)
    else:
        scale = None
    out = regrid_disk(ds, shape=shape or (ds.sizes["y"], ds.sizes["x"]),
                      radius=radius if radius is not None else 1.0, scale=scale, order=order,
                      antialias=True, progress=progress)
    if "quality" in ds.coords:
        out = out.assign_coords(quality=("time", ds["quality"].values,
                                         dict(ds["quality"].attrs)))
    out.attrs["prep_level"] = 1.0 if family == "EUVI" else 1.5
    where = f"{scale:g} arcsec/px" if scale is not None else f"disk radius {radius:g} px"
    return append_history(out, f"prep: {family} registered north up, Sun centred, {where}")
