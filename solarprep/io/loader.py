"""Read solar images (FITS files or sunpy Maps) into the solar Dataset.

:func:`load` turns one or many helioprojective images into the
:class:`xarray.Dataset` described in ``docs/dataset.md``: dims ``(time, y, x)``,
one float32 data variable named after what it measures, the geometry of every
frame as coordinates along ``time`` and the constant metadata as global
attributes. Every reason a file cannot be used is reported as a
:class:`SolarDataError` that names the file, the problem and the fix.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import logging
import math
import os
import pathlib
import warnings
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from solarprep.backend import resolve_device, to_device
from solarprep.coordinates.geometry import FrameGeometry
from solarprep.dataset import CONVENTIONS, FRAME_COORDS, append_history, validate
from solarprep.errors import (
    GeometryError,
    SolarDataError,  # noqa: F401 (re-exported)
)
from solarprep.io import lazy
from solarprep.io._header import (
    TRUNCATED,
    check_date_obs,
    check_geometry,
    check_header_values,
    date_problem,
    has_checksum,
    image_header,
    truncated_error,
    unreadable,
    verify_checksums,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Sequence

    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from sunpy.map import GenericMap, MapSequence

__all__ = ["load", "expand_paths"]

log = logging.getLogger(__name__)

#: Progress bars are shown when more files than this are read.
_PROGRESS_MIN_FILES = 3

#: Header keywords without which an image cannot be placed on the Sun.
_REQUIRED_KEYS = ("ctype1", "ctype2", "cdelt1", "cdelt2", "crpix1", "crpix2")

#: Names that a data variable may not take (they are coordinates).
_RESERVED_NAMES = frozenset(("time", "x", "y", *FRAME_COORDS))

#: EUV (10-125 nm) and UV (125-300 nm) wavelength ranges, Angstrom, for variable names.
_EUV_MAX_ANGSTROM = 1250.0
_UV_MAX_ANGSTROM = 3000.0


@dataclasses.dataclass
class _Frame:
    """Everything :func:`load` keeps from one image."""

    label: str
    data: np.ndarray
    unit: object
    time: np.datetime64
    date_obs: np.datetime64
    exptime: float
    rsun_obs: float
    geometry: FrameGeometry
    observatory: str
    instrument: str
    detector: str
    wavelength: float
    wavelength_unit: str
    name: str
    long_name: str
    ctype: tuple
    assumed_observer: bool
    turned: bool


# --------------------------------------------------------------------------- public API


def load(source: str | os.PathLike[str] | GenericMap | MapSequence
         | Sequence[str | os.PathLike[str] | GenericMap], *, name: str | None = None,
         unit: str | u.UnitBase | None = None, observer: str | SkyCoord | None = None,
         north_up: bool = True, progress: bool = True, device: str = "auto",
         chunks: dict | int | None = None) -> xr.Dataset:
    """Read solar images into a solar Dataset (``docs/dataset.md``).

    Parameters
    ----------
    source : str or os.PathLike or sunpy.map.GenericMap or sunpy.map.MapSequence or list
        A FITS file, a glob pattern (``"data/aia_*.fits"``), a list of files,
        a sunpy Map, a list of Maps or a ``MapSequence``. Files are read with
        :func:`sunpy.map.Map` (compressed image HDUs included).
    name : str, optional
        Name of the data variable. By default it is derived from the header:
        ``intensity`` (continuum), ``blos`` (line-of-sight magnetogram), ``vlos``
        (Dopplergram), ``euv171``/``uv1600``... (EUV/UV imagers, by wavelength
        in Å), ``data`` otherwise.
    unit : str or astropy.units.Unit, optional
        Unit of the data, overriding the header's BUNIT for every frame. Needed
        when BUNIT cannot be parsed.
    observer : None or "earth" or astropy.coordinates.SkyCoord, optional
        Observer position for frames whose header gives none (no HGLN_OBS/
        HGLT_OBS/DSUN_OBS or equivalent). ``None`` and ``"earth"`` place the
        observer at Earth's centre at the frame's reference time (logged as a
        warning); a coordinate is used as given. Frames whose header has an
        observer keep it.
    north_up : bool, optional
        Turn frames whose image axes are rotated by more than 90° from solar north
        (HMI: CROTA2 ≈ 180°) by 180°, so that north is up and the ``x``/``y``
        labels are close to the true helioprojective coordinates. Turning is an
        exact pixel permutation with the WCS changed to match (see
        :meth:`FrameGeometry.turned_half`); ``False`` keeps the file's pixel order.
    progress : bool, optional
        Show a progress bar (``tqdm.auto``) when more than 3 files are read.
    device : {"auto", "cpu", "cuda"}, optional
        Where the data variables live: ``"cuda"`` puts them on the GPU as CuPy
        arrays, copied there once (coordinates stay on the host); ``"auto"`` keeps
        them on the host unless ``SOLARPREP_DEVICE=cuda`` (``docs/devices.md``).
    chunks : dict or int, optional
        ``{"time": n}``: a lazy, chunked Dataset. Only the headers are read (on the
        workers of the active dask client, if any, with a progress bar); the pixels stay
        a dask array with one block per file, rechunked to ``n`` frames per chunk, read
        when computed (:mod:`solarprep.io.lazy`; ``docs/parallel.md``). Errors that only
        the pixels reveal (all NaN) are raised then. The blocks stay NumPy (``device`` is
        not applied; ``solarprep run --device cuda`` moves them on the workers).

    Returns
    -------
    xarray.Dataset
        The solar Dataset with the frames sorted by time; it passes
        :func:`solarprep.dataset.validate`.

    Raises
    ------
    SolarDataError
        If a path does not exist or a pattern matches nothing; a file is not a
        readable FITS image, is truncated, or fails its CHECKSUM/DATASUM; an image
        is not 2-D, not helioprojective TAN, all NaN or infinite, lacks DATE-OBS,
        CTYPE, CDELT or CRPIX, has a DATE-OBS or BUNIT that cannot be parsed, a
        coordinate keyword that is not a finite number (CRPIX, CDELT, CRVAL,
        CROTA2, PC, DSUN_OBS, RSUN_REF, HGLN/HGLT_OBS, EXPTIME, ...) or a
        physically impossible one (CDELT = 0 or beyond 1 deg/pixel, RSUN_REF <= 0,
        DSUN_OBS <= RSUN_REF, negative EXPTIME, latitude beyond 90 deg); two frames
        share one time; the frames differ in shape, instrument, wavelength, units,
        RSUN_REF or LONPOLE. ``docs/guarantees.md`` lists the checks.
    TypeError
        If ``source`` is of an unsupported type.

    Notes
    -----
    Defaults, each logged where it applies:

    * no BUNIT in the header (and no ``unit=``): the data are dimensionless
      (``units=""``), with a warning;
    * no observer position: Earth's centre (``sunpy.coordinates.get_earth``) at
      the frame's reference time, with a warning, recorded in ``history``;
    * no RSUN_REF: sunpy's default (from RSUN_OBS and DSUN_OBS when present,
      else the IAU 2015 nominal photospheric radius, 695 700 km);
    * no EXPTIME: ``exptime`` is NaN; no RSUN_OBS: ``rsun_obs`` is computed
      from RSUN_REF and DSUN_OBS by sunpy; no WAVELNTH: ``wavelength`` is NaN
      (for the instruments whose sunpy class does not need it);
    * infinite pixels are missing data: set to NaN, with a warning.

    A stack mixing frames in ``DN`` and ``DN / s`` is converted to ``DN / s``
    by dividing the ``DN`` frames by their EXPTIME (recorded in ``history``).
    The time of a frame is sunpy's ``Map.reference_date`` (DATE-AVG, or T_OBS
    for SDO, ...) in UTC; ``date_obs`` is ``Map.date`` (DATE-OBS).
    """
    if name is not None:
        _check_name(name)
    items, source_attr, description = _resolve_source(source)
    if chunks is not None:
        chunks = lazy.check_chunks(chunks)
        frames = lazy.read_headers(items, progress=progress, unit=unit, observer=observer,
                                   north_up=north_up)
    else:
        frames = [_read_frame(label, get_map, unit=unit, observer=observer, north_up=north_up)
                  for label, get_map in _progress(items, progress)]
    frames.sort(key=lambda f: f.time)
    _check_stack(frames)
    frames, conversion = _harmonise_units(frames)
    ds = _build_dataset(frames, name=name, source_attr=source_attr, chunks=chunks)
    ds = append_history(ds, f"load: {description}")
    assumed = sum(f.assumed_observer for f in frames)
    if assumed:
        ds = append_history(ds, f"load: observer assumed at Earth's centre for {assumed} frame(s) "
                                "whose header gives no observer position")
    if conversion:
        ds = append_history(ds, f"load: {conversion}")
    turned = sum(f.turned for f in frames)
    if turned:
        ds = append_history(ds, f"load: turned {turned} frame(s) by 180 deg (CROTA2 near 180) "
                                "so that solar north is up; north_up=False keeps the file order")
    validate(ds)
    if chunks is None and resolve_device(device) == "cuda":  # chunked: blocks stay on the host
        ds = to_device(ds, "cuda")
    return ds


# --------------------------------------------------------------------------- sources


def _resolve_source(source):
    """``([(label, map_getter)], source attribute, description)`` for ``source``."""
    import sunpy.map

    if isinstance(source, sunpy.map.MapSequence):
        source = list(source.maps)
    if isinstance(source, (str, os.PathLike, sunpy.map.GenericMap)):
        source = [source]
    if not isinstance(source, (list, tuple)):
        raise TypeError(
            f"load() cannot read a {type(source).__name__}: pass a FITS path, a glob pattern, "
            "a list of paths, a sunpy Map, a list of Maps or a MapSequence")
    if not source:
        raise SolarDataError("load() was given an empty list: there is nothing to load")
    items, paths, n_maps = [], [], 0
    for entry in source:
        if isinstance(entry, sunpy.map.GenericMap):
            n_maps += 1
            label = f"sunpy Map #{n_maps - 1} ({type(entry).__name__})"
            items.append((label, _constant(entry)))
        elif isinstance(entry, (str, os.PathLike)):
            for path in _expand_path(entry):
                paths.append(path)
                items.append((str(path), _reader(path)))
        else:
            raise TypeError(
                f"load() cannot read a list entry of type {type(entry).__name__}: list entries "
                "must be FITS paths or sunpy Maps")
    return items, _source_attr(paths, n_maps), _describe(paths, n_maps)


def _constant(smap):
    return lambda unit: smap


def _reader(path):
    return functools.partial(_open_fits, path)


def expand_paths(source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[pathlib.Path]:
    """The files :func:`load` reads for a path, a glob pattern or a list of them (in order).

    Raises
    ------
    SolarDataError
        As :func:`load` does for a missing file, a folder or a pattern matching nothing.
    """
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    return [path for item in items for path in _expand_path(item)]


def _expand_path(entry):
    """One existing file for a path, the sorted matches for a glob pattern."""
    text = os.path.expanduser(os.fspath(entry))
    path = pathlib.Path(text)
    if path.is_file():
        return [path]
    if path.is_dir():
        raise SolarDataError(
            f"{text}: is a folder, not a file; pass a glob pattern such as "
            f"'{os.path.join(text, '*.fits')}' to load the files in it")
    if any(c in text for c in "*?["):
        matches = sorted(pathlib.Path(p) for p in glob.glob(text) if os.path.isfile(p))
        if not matches:
            raise SolarDataError(
                f"{text}: the pattern matches no file; check the folder and the pattern "
                f"(relative patterns are resolved from {os.getcwd()})")
        return matches
    raise SolarDataError(
        f"{text}: no such file; check the path (relative paths are resolved from {os.getcwd()})")


def _source_attr(paths, n_maps, max_listed=20):
    parts = []
    if paths:
        if len(paths) <= max_listed:
            parts.append(", ".join(str(p) for p in paths))
        else:
            parts.append(f"{len(paths)} files: {paths[0]} ... {paths[-1]}")
    if n_maps:
        parts.append("sunpy.map.Map objects")
    return "; ".join(parts)


def _describe(paths, n_maps):
    parts = []
    if paths:
        folders = sorted({str(p.parent) for p in paths})
        where = folders[0] if len(folders) == 1 else f"{len(folders)} folders"
        parts.append(f"{len(paths)} file{'s' if len(paths) != 1 else ''} from {where}")
    if n_maps:
        parts.append(f"{n_maps} sunpy Map{'s' if n_maps != 1 else ''}")
    return " and ".join(parts)


def _progress(items, progress):
    if not progress or len(items) <= _PROGRESS_MIN_FILES:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="solarprep.load", unit="file")


def _open_fits(path, unit=None, header_only=False):
    """Read one file with ``sunpy.map.Map``, turning every failure into a SolarDataError.

    ``header_only``: read the headers only; the Map's data are a zero-copy placeholder of
    the image's shape (lazy loading, :mod:`solarprep.io.lazy`).
    """
    import sunpy.map

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _header_maps(path) if header_only else sunpy.map.Map(str(path))
    except Exception as exc:  # sunpy/astropy raise OSError, ValueError, TypeError, ...
        if isinstance(exc, ValueError) and "did not parse as unit" in str(exc) \
                and _bunit_refused(path):
            # Some Map classes (HMIMap) parse BUNIT strictly while being built.
            return _open_with_unit(path, unit, exc, header_only)
        raise unreadable(path, exc) from exc
    truncated = [str(w.message) for w in caught if TRUNCATED in str(w.message)]
    if truncated:
        raise truncated_error(path, truncated[0])
    _relay_warnings(caught, path)
    if isinstance(result, list):
        raise SolarDataError(
            f"{path}: holds {len(result)} images (several image HDUs); solarprep reads one image "
            "per file: split the file, or read it with sunpy.map.Map and pass the Maps you want")
    if has_checksum(result.meta) and not header_only:  # lazy: the pixels are not read here
        verify_checksums(path)
    return result


def _bunit_refused(path):
    """Whether the BUNIT of the file (not another keyword) is what astropy cannot parse."""
    import astropy.units as u

    header, _ = image_header(path)
    bunit = None if header is None else header.get("BUNIT")
    if not isinstance(bunit, str):
        return False
    try:
        u.Unit(bunit, parse_strict="raise")
    except ValueError:
        return True
    return False


def _header_maps(path):
    """The Map(s) of a file built from its headers only, as ``sunpy.map.Map(path)`` would."""
    import sunpy.map
    from sunpy.io._fits import get_header  # what Map(path) reads, without the data

    maps = [sunpy.map.Map(_placeholder(header), header) for header in get_header(str(path))
            if int(header.get("NAXIS", 0) or 0) >= 2]
    if not maps:
        raise OSError(f"Found no HDUs with >= 2D data in '{path}'.")
    return maps[0] if len(maps) == 1 else maps


def _placeholder(header):
    """Zero-copy stand-in for an image of the header's shape (nothing is read)."""
    naxis = int(header.get("NAXIS", 0) or 0)
    return np.broadcast_to(np.float32(0), tuple(int(header[f"NAXIS{k}"])
                                                for k in range(naxis, 0, -1)))


def _open_with_unit(path, unit, exc, header_only=False):
    """Build the Map of a file whose BUNIT sunpy refuses, with BUNIT replaced by ``unit``."""
    import astropy.units as u
    import sunpy.map
    from astropy.io import fits

    with fits.open(path) as hdul:
        hdu = next(h for h in hdul if h.is_image and int(h.header.get("NAXIS", 0) or 0) >= 2)
        header = hdu.header.copy()
        data = _placeholder(header) if header_only else np.array(hdu.data)
    if unit is None:
        raise SolarDataError(
            f"{path}: the header's BUNIT={header.get('BUNIT')!r} is not a unit astropy or sunpy "
            "can parse; pass the right unit to load(..., unit='...'), e.g. unit='DN / s'") from exc
    try:
        header["BUNIT"] = u.Unit(unit, parse_strict="raise").to_string()
    except (ValueError, TypeError) as err:
        raise SolarDataError(f"unit={unit!r} is not a unit astropy understands ({err})") from err
    return sunpy.map.Map(data, header)


def _relay_warnings(caught, label):
    """Re-issue warnings caught while reading, except the >2-D truncation (load reports it)."""
    for w in caught:
        if "more than 2 dimensions" in str(w.message):
            continue
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


# --------------------------------------------------------------------------- one frame


def _read_frame(label, get_map, *, unit, observer, north_up, pixels=None):
    """One frame; with ``pixels`` (:class:`~solarprep.io.lazy.LazyPixels`), from the header only."""
    smap = get_map(unit)
    _check_2d(label, smap)
    _check_required_keys(label, smap)
    check_header_values(label, smap.meta)
    _check_helioprojective(label, smap)
    time, date_obs = _frame_times(label, smap)
    frame_unit = _frame_unit(label, smap, unit)
    smap, assumed = _with_observer(label, smap, observer)
    geometry = _geometry(label, smap)
    data = _frame_data(label, smap) if pixels is None else pixels(smap)
    turned = north_up and abs(geometry.crota2) > 90.0
    if turned:
        data = np.ascontiguousarray(data[::-1, ::-1]) if pixels is None else data.turned()
        geometry = geometry.turned_half(*data.shape)
    name, long_name = _variable_name(smap, frame_unit)
    wavelength, wavelength_unit = _wavelength(smap)
    return _Frame(
        label=label, data=data, unit=frame_unit, time=time, date_obs=date_obs,
        exptime=_exptime(smap), rsun_obs=float(smap.rsun_obs.to_value("arcsec")),
        geometry=geometry, observatory=str(smap.observatory), instrument=str(smap.instrument),
        detector=str(smap.detector), wavelength=wavelength, wavelength_unit=wavelength_unit,
        name=name, long_name=long_name,
        ctype=tuple(str(c) for c in smap.wcs.wcs.ctype), assumed_observer=assumed,
        turned=turned)


def _check_2d(label, smap):
    meta = smap.meta
    naxis = int(meta.get("naxis", 2) or 2)
    extra = {f"NAXIS{k}": meta.get(f"naxis{k}", 1) for k in range(3, naxis + 1)}
    if np.ndim(smap.data) != 2 or any(int(v) > 1 for v in extra.values()):
        sizes = ", ".join(f"{k}={v}" for k, v in extra.items())
        raise SolarDataError(
            f"{label}: is a data cube ({sizes}), not one 2-D image; solarprep reads one image "
            "per file: split the cube into 2-D images (one FITS file or sunpy Map per frame)")


def _check_required_keys(label, smap):
    missing = [key.upper() for key in _REQUIRED_KEYS if key not in smap.meta]
    if missing:
        raise SolarDataError(
            f"{label}: the header lacks {', '.join(missing)}, without which the image cannot be "
            "placed on the Sun; add the keywords to the header (for a Map: "
            "smap.meta['KEY'] = value) or load the instrument's level-1 file")


def _check_helioprojective(label, smap):
    ctype = (str(smap.coordinate_system.axis1).strip().upper(),
             str(smap.coordinate_system.axis2).strip().upper())
    if ctype != ("HPLN-TAN", "HPLT-TAN"):
        raise SolarDataError(
            f"{label}: the image's coordinates are CTYPE1={ctype[0]!r}, CTYPE2={ctype[1]!r}, not "
            "helioprojective ('HPLN-TAN', 'HPLT-TAN'); solarprep reads solar images in "
            "helioprojective TAN coordinates only: reproject the image first (e.g. "
            "sunpy's Map.reproject_to) or check that this is a solar image")


def _frame_times(label, smap):
    """``(time, date_obs)`` as UTC datetime64[ns]: ``Map.reference_date`` and ``Map.date``."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            date, reference = smap.date, smap.reference_date
    except (ValueError, TypeError) as exc:
        raise SolarDataError(
            f"{label}: the observation time in the header cannot be parsed ({exc}); fix "
            "DATE-OBS (ISO 8601, e.g. '2011-02-15T00:00:00.34')") from exc
    defaulted = any("Missing metadata for observation time" in str(w.message) for w in caught)
    if defaulted or getattr(smap, "_default_time", None) is not None:
        raise date_problem(label, smap.meta)
    check_date_obs(label, smap.meta)
    return _datetime64(reference), _datetime64(date)


def _datetime64(time):
    return np.datetime64(time.utc.datetime64, "ns")


def _frame_unit(label, smap, unit):
    """The frame's unit: ``unit=`` if given, else ``Map.unit``; errors on an unparseable BUNIT."""
    import astropy.units as u

    if unit is not None:
        try:
            parsed = u.Unit(unit, parse_strict="raise")
        except (ValueError, TypeError) as exc:
            raise SolarDataError(
                f"unit={unit!r} is not a unit astropy understands ({exc}); pass e.g. "
                "unit='DN / s'") from exc
        return _check_unit_round_trip(label, parsed)
    bunit = smap.meta.get("bunit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = smap.unit
    except (ValueError, TypeError):
        parsed = None
    if parsed is not None:
        return _check_unit_round_trip(label, u.Unit(parsed))
    if bunit is not None and str(bunit).strip():
        raise SolarDataError(
            f"{label}: the header's BUNIT={bunit!r} is not a unit astropy or sunpy can parse; "
            "pass the right unit to load(..., unit='...'), e.g. unit='DN / s'")
    log.warning("%s: the header has no BUNIT; the data are taken as dimensionless (units='') "
                "- pass load(..., unit='...') to set the unit", label)
    return u.dimensionless_unscaled


def _check_unit_round_trip(label, unit):
    import astropy.units as u

    text = unit.to_string()
    try:
        ok = u.Unit(text, parse_strict="raise") == unit
    except ValueError:
        ok = False
    if not ok:
        raise SolarDataError(
            f"{label}: the unit {unit!r} cannot be written as a string that astropy reads back "
            f"({text!r}); pass an equivalent unit to load(..., unit='...')")
    return unit


def _observer_missing(smap):
    """True when sunpy would fall back to an Earth observer because the header gives none."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _ = smap.observer_coordinate
    return any("Missing metadata for observer" in str(w.message) for w in caught)


def _with_observer(label, smap, observer):
    """``(smap, False)`` if the header has an observer, else a copy with HGLN/HGLT/DSUN_OBS set."""
    import sunpy.map
    from astropy.coordinates import BaseCoordinateFrame, SkyCoord
    from sunpy.coordinates import HeliographicStonyhurst, get_earth

    if not _observer_missing(smap):
        return smap, False
    obstime = smap.reference_date
    if observer is None or (isinstance(observer, str) and observer.lower() == "earth"):
        coord = get_earth(obstime)
        log.warning("%s: the header gives no observer position (HGLN_OBS/HGLT_OBS/DSUN_OBS or "
                    "equivalent); assuming an observer at Earth's centre at %s", label,
                    obstime.utc.isot)
    elif isinstance(observer, (SkyCoord, BaseCoordinateFrame)):
        coord = observer
        log.info("%s: the header gives no observer position; using observer=%s", label, observer)
    else:
        raise TypeError(f"observer={observer!r} is not supported: pass None, 'earth' or an "
                        "astropy SkyCoord giving the observer's position")
    try:
        hgs = SkyCoord(coord).transform_to(HeliographicStonyhurst(obstime=obstime))
    except Exception as exc:
        raise SolarDataError(f"{label}: observer={observer!r} cannot be transformed to "
                             f"heliographic Stonyhurst coordinates ({exc})") from exc
    meta = smap.meta.copy()
    meta["hgln_obs"] = float(hgs.lon.wrap_at("180d").to_value("deg"))
    meta["hglt_obs"] = float(hgs.lat.to_value("deg"))
    meta["dsun_obs"] = float(hgs.radius.to_value("m"))
    return sunpy.map.Map(smap.data, meta), True


def _geometry(label, smap):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # NaN from a bad header: below
            geometry = FrameGeometry.from_map(smap)
    except GeometryError as exc:
        raise SolarDataError(f"{label}: {exc}") from exc
    except (ValueError, TypeError, ArithmeticError) as exc:  # e.g. astropy SingularMatrixError
        raise SolarDataError(f"{label}: the header's WCS cannot be used ({type(exc).__name__}: "
                             f"{exc}); check CDELT, CROTA2/PC and CRPIX") from exc
    check_geometry(label, geometry)
    return geometry


def _frame_data(label, smap):
    """The image as float32 with NaN for masked and BLANK pixels; errors when all NaN."""
    raw = np.asarray(smap.data)
    data = raw.astype(np.float32)
    blank = smap.meta.get("blank")
    if np.issubdtype(raw.dtype, np.integer) and blank is not None:
        data[raw == blank] = np.nan
    mask = getattr(smap, "mask", None)
    if mask is not None and np.any(mask):
        data[np.broadcast_to(np.asarray(mask, dtype=bool), data.shape)] = np.nan
    infinite = np.isinf(data)
    if infinite.any():
        log.warning("%s: %d pixel(s) are infinite; they are set to NaN (missing data)", label,
                    int(infinite.sum()))
        data[infinite] = np.nan
    if np.isnan(data).all():
        raise SolarDataError(
            f"{label}: every pixel is NaN or infinite (no data); check that this is the right "
            "file, or leave it out of the list")
    return data


def _exptime(smap):
    exposure = smap.exposure_time
    return math.nan if exposure is None else float(exposure.to_value("s"))


def _wavelength(smap):
    wavelength = smap.wavelength
    if wavelength is None:
        return math.nan, ""
    return float(wavelength.value), wavelength.unit.to_string()


def _variable_name(smap, unit):
    """``(name, long_name)`` from what the header says is measured (``docs/dataset.md``)."""
    import astropy.units as u

    who = "/".join(p for p in (str(smap.observatory), str(smap.detector or smap.instrument)) if p)
    measurement = smap.measurement
    content = " ".join(str(x).lower() for x in (smap.meta.get("content", ""), measurement)
                       if isinstance(x, str))
    if "magnetogram" in content or unit.is_equivalent(u.G):
        return "blos", f"{who} line-of-sight magnetic field"
    if "doppler" in content or unit.is_equivalent(u.m / u.s):
        return "vlos", f"{who} line-of-sight velocity"
    if "continuum" in content:
        return "intensity", f"{who} continuum intensity"
    wavelength = smap.wavelength
    if wavelength is not None and wavelength.unit.is_equivalent(u.AA):
        angstrom = float(wavelength.to_value(u.AA))
        label = f"{angstrom:g}"
        if 0 < angstrom < _EUV_MAX_ANGSTROM:
            return f"euv{round(angstrom)}", f"{who} {label} Å intensity"
        if angstrom < _UV_MAX_ANGSTROM:
            return f"uv{round(angstrom)}", f"{who} {label} Å intensity"
        return "data", f"{who} {label} Å image"
    return "data", f"{who} image".strip()


def _check_name(name):
    if not isinstance(name, str) or not name.strip():
        raise SolarDataError(f"name={name!r} must be a non-empty string")
    if name in _RESERVED_NAMES:
        raise SolarDataError(f"name={name!r} is the name of a coordinate of the solar Dataset; "
                             "choose another variable name")


# --------------------------------------------------------------------------- the stack


def _check_stack(frames):
    """Frames of one Dataset must share shape, instrument, wavelength, RSUN_REF and LONPOLE."""
    first = frames[0]
    for frame in frames[1:]:
        if frame.data.shape != first.data.shape:
            raise SolarDataError(
                f"the images differ in shape: {first.label} is {first.data.shape} (ny, nx) but "
                f"{frame.label} is {frame.data.shape}; load images of one shape together "
                "(resample or crop them first)")
        if _identity(frame) != _identity(first):
            raise SolarDataError(
                f"the images mix instruments or wavelengths: {first.label} is "
                f"{_identity_text(first)} but {frame.label} is {_identity_text(frame)}; load each "
                "instrument and wavelength separately (one load() call each)")
        for attr in ("rsun_ref", "lonpole"):
            a, b = getattr(first.geometry, attr), getattr(frame.geometry, attr)
            if a != b:
                raise SolarDataError(
                    f"the images differ in {attr.upper()}: {first.label} has {a} but "
                    f"{frame.label} has {b}; a Dataset holds one value: fix the headers, or "
                    "load the images separately")
        if frame.ctype != first.ctype:
            raise SolarDataError(
                f"the images differ in CTYPE: {first.label} has {first.ctype} but {frame.label} "
                f"has {frame.ctype}")
    times = np.array([f.time for f in frames])
    duplicated = times[1:] == times[:-1]
    if duplicated.any():
        k = int(np.argmax(duplicated))
        raise SolarDataError(
            f"{frames[k].label} and {frames[k + 1].label} have the same time {times[k]} "
            f"({int(duplicated.sum())} duplicated frame time(s)); a Dataset holds one frame per "
            "time: leave the duplicate out (the same file twice?) or fix its time keywords "
            "(DATE-OBS, DATE-AVG, T_OBS)")


def _identity(frame):
    family = frame.instrument.split(" ")[0] if frame.instrument else ""
    wavelength = None if math.isnan(frame.wavelength) else frame.wavelength
    return (frame.name, frame.observatory, family, frame.detector, wavelength,
            frame.wavelength_unit)


def _identity_text(frame):
    wl = "" if math.isnan(frame.wavelength) else f" {frame.wavelength:g} {frame.wavelength_unit}"
    return f"{frame.observatory}/{frame.instrument} ({frame.detector}){wl}, {frame.name!r}"


def _harmonise_units(frames):
    """Give every frame one unit, dividing DN frames by EXPTIME in a DN + DN/s stack."""
    import astropy.units as u

    units = []
    for frame in frames:
        if not any(frame.unit == seen for seen in units):
            units.append(frame.unit)
    if len(units) == 1:
        return frames, None
    dn, dn_per_s = u.DN, u.DN / u.s
    if len(units) == 2 and any(x == dn for x in units) and any(x == dn_per_s for x in units):
        converted = [_divide_by_exptime(f) if f.unit == dn else f for f in frames]
        n = sum(f.unit == dn for f in frames)
        return converted, f"divided {n} frame(s) in DN by their EXPTIME to give DN / s"
    first = frames[0]
    other = next(f for f in frames if f.unit != first.unit)
    raise SolarDataError(
        f"the images mix units: {first.label} is in {first.unit.to_string()!r} but "
        f"{other.label} is in {other.unit.to_string()!r}; load them separately, or pass "
        "load(..., unit='...') if the headers are wrong")


def _divide_by_exptime(frame):
    import astropy.units as u

    if not (math.isfinite(frame.exptime) and frame.exptime > 0):
        raise SolarDataError(
            f"{frame.label}: is in DN while other images are in DN / s, and it has no usable "
            f"EXPTIME ({frame.exptime}) to convert it; add EXPTIME to the header or load the "
            "DN images separately")
    if isinstance(frame.data, lazy.LazyPixels):
        data = frame.data.divided(frame.exptime)  # when read
    else:
        data = (frame.data.astype(np.float64) / frame.exptime).astype(np.float32)
    return dataclasses.replace(frame, data=data, unit=u.DN / u.s)


# --------------------------------------------------------------------------- the Dataset


def _build_dataset(frames, *, name, source_attr, chunks=None):
    first = frames[0]
    geom = first.geometry
    ny, nx = first.data.shape
    x = geom.crval1 + geom.cdelt1 * (np.arange(nx) + 1.0 - geom.crpix1)
    y = geom.crval2 + geom.cdelt2 * (np.arange(ny) + 1.0 - geom.crpix2)
    coords = {
        "time": ("time", np.array([f.time for f in frames], dtype="datetime64[ns]"),
                 {"long_name": "reference time of the frame (UTC)"}),
        "y": ("y", y, {"units": "arcsec",
                       "long_name": "helioprojective latitude of the row axis (frame 0)"}),
        "x": ("x", x, {"units": "arcsec",
                       "long_name": "helioprojective longitude of the column axis (frame 0)"}),
    }
    coords.update(_frame_coords(frames))
    var_name = name or first.name
    pixels = (np.stack([f.data for f in frames]) if chunks is None
              else lazy.lazy_stack([f.data for f in frames], chunks))
    variable = xr.Variable(("time", "y", "x"), pixels,
                           {"units": first.unit.to_string(), "long_name": first.long_name})
    ds = xr.Dataset({var_name: variable}, coords=coords)
    ds.attrs = _global_attrs(frames, source_attr)
    return ds


def _frame_coords(frames):
    columns = {
        "date_obs": np.array([f.date_obs for f in frames], dtype="datetime64[ns]"),
        "exptime": [f.exptime for f in frames],
        "rsun_obs": [f.rsun_obs for f in frames],
    }
    for key in FRAME_COORDS:
        if key not in columns:
            columns[key] = [float(getattr(f.geometry, key)) for f in frames]
    coords = {}
    for key, (units, long_name) in FRAME_COORDS.items():
        values = np.asarray(columns[key])
        if not np.issubdtype(values.dtype, np.datetime64):
            values = values.astype(np.float64)
        # A datetime64 coordinate carries no ``units`` attribute: netCDF encoding sets it.
        attrs = {"units": units, "long_name": long_name} if units else {"long_name": long_name}
        coords[key] = ("time", values, attrs)
    return coords


def _global_attrs(frames, source_attr):
    from solarprep._version import __version__

    first = frames[0]
    instruments = sorted({f.instrument for f in frames})
    return {
        "Conventions": CONVENTIONS,
        "title": first.long_name,
        "observatory": first.observatory,
        "instrument": ", ".join(instruments),
        "detector": first.detector,
        "wavelength": first.wavelength,
        "wavelength_unit": first.wavelength_unit,
        "rsun_ref": float(first.geometry.rsun_ref),
        "ctype1": first.ctype[0],
        "ctype2": first.ctype[1],
        "lonpole": float(first.geometry.lonpole),
        "solarprep_version": __version__,
        "source": source_attr,
    }
