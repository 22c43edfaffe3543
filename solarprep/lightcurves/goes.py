"""GOES/XRS soft X-ray fluxes: reading every file kind, the SWPC scale, flare classes and events.

Files read by :func:`read_xrs` (one or many, any mix, sorted and concatenated along ``time``):

* **SDAC FITS** ``go{SS}{YYYYMMDD}.fits[.gz]`` (GOES 6–15 operational data as the Solar Data
  Analysis Center served them): extension ``FLUXES`` with ``TIME`` (s from ``DATE-OBS``) and
  ``FLUX`` (N, 2) — column 0 the 1–8 Å channel, column 1 the 0.5–4 Å channel (extension
  ``EDGES``), ``-99999`` for no data. These carry the historical **SWPC scaling**.
* **Reprocessed GOES-13/14/15 science data** ``sci_gxrs-l2-irrad_g{SS}_d*.nc`` (NCEI, 2 s):
  ``a_flux``, ``b_flux`` and quality flags. The SWPC factors are **removed** (true flux).
* **GOES-R (16–19) L2** ``sci_xrsf-l2-flx1s_*`` / ``sci_xrsf-l2-avg1m_*`` (NCEI): ``xrsa_flux``,
  ``xrsb_flux`` and ``xrsa_flag`` / ``xrsb_flag``. True flux, never scaled.

The SWPC scale. From GOES-8 to GOES-15 NOAA/SWPC multiplied the operational fluxes by 0.7
(1–8 Å) and 0.85 (0.5–4 Å) so that they matched GOES-7; the flare classes of the NOAA event lists
up to 2020 are on that scale. True (unscaled) fluxes are larger: ``true = swpc / 0.7`` for XRS-B,
``/ 0.85`` for XRS-A (NOAA/NCEI, *README for science-quality GOES 13-15 XRS data*, Machol et al.
2022; the X8.2 flare of 2017-09-10 reads X11.9 unscaled). Every Dataset made here says which scale
it is on in the global attribute ``flux_scale`` (``"swpc"`` or ``"true"``) and in each variable's
``flux_scale`` attribute; :func:`to_scale` converts between them, and the class functions read
the flag so that one never compares fluxes on different scales by mistake.

GOES class scale (1–8 Å): A < 1e-7 ≤ B < 1e-6 ≤ C < 1e-5 ≤ M < 1e-4 ≤ X W m⁻²; the number is the
flux in units of the class floor (``"M2.5"`` = 2.5e-5 W m⁻²).

Events (:func:`detect_flares`) follow the NOAA/SWPC rules on 1-minute averages of the 1–8 Å flux:
the **start** is the first minute of 4 consecutive minutes of strictly increasing flux whose last
value is at least 1.4 times the first; the **peak** is the maximum before the end; the **end** is
the first minute when the flux has fallen back half-way from the peak to the start flux.
"""
from __future__ import annotations

import glob
import logging
import math
import os
import pathlib
import re
import warnings
import zlib
from typing import TYPE_CHECKING

import numpy as np

from solarprep.dataset import as_seconds
from solarprep.errors import GoesDataError, QuantityError, SolarprepDeprecationWarning  # noqa: F401

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    import numpy.typing as npt
    import pandas as pd
    import xarray as xr

    from solarprep.dataset import Duration

__all__ = ["GOES_CLASSES", "SWPC_FACTORS", "MAX_PLAUSIBLE_FLUX", "read_xrs",
           "to_scale", "flare_class", "class_to_flux", "class_index", "class_letter",
           "detect_flares", "label_times", "one_minute"]

log = logging.getLogger(__name__)

#: The class letters in increasing order; the index is the label used by the models.
GOES_CLASSES = ("A", "B", "C", "M", "X")
_FLOORS = (("A", 1e-8), ("B", 1e-7), ("C", 1e-6), ("M", 1e-5), ("X", 1e-4))
_CLASS_RE = re.compile(r"^\s*([ABCMX])\s*(\d+(?:\.\d*)?|\.\d+)\s*$", re.IGNORECASE)

#: SWPC operational scaling (GOES 8-15): swpc = factor * true.
SWPC_FACTORS = {"xrsb": 0.7, "xrsa": 0.85}

_SCALES = ("swpc", "true")

#: The span of GOES/XRS data (GOES-1 was launched in 1975); times outside are corrupt.
_FIRST_TIME, _LAST_TIME = np.datetime64("1975-01-01", "ns"), np.datetime64("2100-01-01", "ns")

#: Largest plausible 1-8 Å or 0.5-4 Å flux, W m⁻² (X1000; the largest flares recorded are ~X30).
MAX_PLAUSIBLE_FLUX = 1e-2

#: What a damaged file raises from astropy, h5py, gzip, numpy or xarray while being read.
_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                RuntimeError, zlib.error)


# --------------------------------------------------------------------------- classes


def class_to_flux(goes_class: str) -> float:
    """Peak 1–8 Å flux (W m⁻²) of a GOES class such as ``"M2.5"`` (2.5e-5).

    ``flux = floor(letter) × number`` with floors A 1e-8, B 1e-7, C 1e-6, M 1e-5, X 1e-4.

    Raises
    ------
    ValueError
        If the string is not a letter A, B, C, M or X followed by a number.
    """
    m = _CLASS_RE.match(str(goes_class))
    if not m:
        raise ValueError(f"not a GOES class: {goes_class!r} (expected e.g. 'C3.4', 'M2.5', 'X1.0')")
    return dict(_FLOORS)[m.group(1).upper()] * float(m.group(2))


def flare_class(peak_flux: float, decimals: int = 1) -> str:
    """GOES class of a 1–8 Å peak flux (W m⁻²), e.g. ``2.5e-5 → "M2.5"``.

    Fluxes below 1e-8 are written as fractions of A1 (``"A0.5"``); X has no upper
    bound (``"X12.0"``). Rounding that reaches 10 moves to the next class
    (9.99e-6 → ``"M1.0"``). The flux must be on the scale the classes are meant
    for (the historical NOAA classes use the SWPC scale, see :func:`to_scale`).
    """
    flux = float(peak_flux)
    if not math.isfinite(flux) or flux <= 0:
        raise ValueError(f"peak flux must be a positive number in W/m², not {peak_flux!r}")
    index = 0
    for k, (_, floor) in enumerate(_FLOORS):
        if flux >= floor:
            index = k
    letter, floor = _FLOORS[index]
    number = round(flux / floor, decimals)
    if number >= 10.0 and letter != "X":
        letter, floor = _FLOORS[index + 1]
        number = round(flux / floor, decimals)
    return f"{letter}{number:.{decimals}f}"


def class_index(value: str | npt.ArrayLike) -> int | np.ndarray:
    """Class label 0..4 (A, B, C, M, X) of a class string (``"M2.5"``, ``"m"``) or flux(es).

    Array input (fluxes in W m⁻²) gives an int64 array; fluxes below 1e-7 (and NaN or ≤ 0)
    are class A (0).
    """
    if isinstance(value, str):
        letter = value.strip()[:1].upper()
        if letter not in GOES_CLASSES:
            raise ValueError(f"not a GOES class: {value!r} (expected one of A, B, C, M, X)")
        return GOES_CLASSES.index(letter)
    flux = np.asarray(value, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        idx = np.floor(np.log10(np.where(flux > 0, flux, 1e-12))) + 8
    out = np.clip(np.nan_to_num(idx, nan=0.0), 0, 4).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def class_letter(value: int | str | float) -> str:
    """Class letter of an index 0..4, a class string or a flux."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return GOES_CLASSES[int(value)]
    return GOES_CLASSES[class_index(value)]


# --------------------------------------------------------------------------- reading


def _expand(source):
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    paths = []
    for entry in source:
        entry = os.fspath(entry)
        if any(c in entry for c in "*?["):
            found = sorted(glob.glob(entry))
            if not found:
                raise GoesDataError(f"no GOES/XRS file matches {entry!r}: check the pattern")
            paths += found
        elif os.path.isdir(entry):
            paths += sorted(str(p) for p in pathlib.Path(entry).iterdir()
                            if _kind(p.name) is not None)
        else:
            if not os.path.exists(entry):
                raise GoesDataError(f"GOES/XRS file {entry!r} does not exist")
            paths.append(entry)
    if not paths:
        raise GoesDataError("no GOES/XRS files given")
    return paths


def _kind(name):
    name = os.path.basename(name).lower()
    if re.match(r"^go\d{2}\d{8}\.fits(\.gz)?$", name) or re.match(r"^go\d{6}\.fits(\.gz)?$", name):
        return "sdac"
    if name.startswith("sci_gxrs") and name.endswith(".nc"):
        return "reprocessed"
    if name.startswith(("sci_xrsf", "sci_xrs")) and name.endswith(".nc"):
        return "goesr"
    if name.endswith((".fits", ".fits.gz", ".fts")):
        return "sdac"
    if name.endswith(".nc"):
        return "netcdf"
    return None


def _satellite_from_name(name):
    m = re.search(r"_g(\d{2})_", os.path.basename(name))
    if m:
        return int(m.group(1))
    m = re.match(r"^go(\d{2})\d{8}", os.path.basename(name))
    return int(m.group(1)) if m else None


def _read_sdac(path):
    import gzip
    import io

    from astropy.io import fits

    source = path
    if str(path).lower().endswith(".gz"):   # decompressed whole: a truncated stream raises
        with gzip.open(path) as fh:
            source = io.BytesIO(fh.read())
    with warnings.catch_warnings(record=True) as caught, fits.open(source) as hdul:
        warnings.simplefilter("always")
        hdul.readall()               # every HDU: a truncated file is found here
        truncated = [w for w in caught if "may have been truncated" in str(w.message)]
        if truncated:
            raise GoesDataError(f"{path}: the FITS file is truncated ({truncated[0].message}); "
                                "download it again")
        head = hdul[0].header
        if "FLUXES" not in hdul:
            raise GoesDataError(f"{path}: no FLUXES extension (HDUs: "
                                f"{[h.name for h in hdul]}); not an SDAC GOES/XRS FITS file")
        table = hdul["FLUXES"].data
        columns = [] if table is None else [c.upper() for c in table.columns.names]
        if "TIME" not in columns or "FLUX" not in columns:
            raise GoesDataError(f"{path}: the FLUXES table has columns {columns}, not TIME and "
                                "FLUX; not an SDAC GOES/XRS FITS file")
        seconds = np.asarray(table["TIME"][0], dtype=np.float64)
        flux = np.asarray(table["FLUX"][0], dtype=np.float64)
        edges = None
        if "EDGES" in hdul:
            edges = np.asarray(hdul["EDGES"].data["EDGES"][0], dtype=float).reshape(2, 2)
        date = str(head.get("DATE-OBS", "")).strip()
        telescope = str(head.get("TELESCOP", "GOES")).strip()
    if seconds.ndim != 1 or flux.shape != (seconds.size, 2):
        raise GoesDataError(f"{path}: TIME has shape {seconds.shape} and FLUX {flux.shape}; "
                            "expected (N,) and (N, 2) (two channels per time)")
    if not np.all(np.isfinite(seconds)):
        raise GoesDataError(f"{path}: {int((~np.isfinite(seconds)).sum())} TIME value(s) are not "
                            "finite numbers; the file is corrupt")
    outside = (seconds < -3600) | (seconds > 90000)
    if outside.any():
        raise GoesDataError(f"{path}: {int(outside.sum())} TIME value(s) (first "
                            f"{seconds[outside][0]:g} s) are outside the file's day "
                            "(0-86400 s after DATE-OBS); the file is corrupt")
    m = re.match(r"(\d{2})/(\d{2})/(\d{2,4})$", date)
    if not m:
        raise GoesDataError(f"{path}: DATE-OBS {date!r} is not DD/MM/YYYY; cannot place the times")
    day, month, year = m.groups()
    if len(year) == 2:
        year = ("19" if int(year) > 50 else "20") + year
    try:
        t0 = np.datetime64(f"{year}-{month}-{day}T00:00:00", "ns")
    except ValueError:
        raise GoesDataError(f"{path}: DATE-OBS {date!r} is not a date") from None
    times = t0 + np.round(seconds * 1e9).astype("timedelta64[ns]")
    flux[flux <= -9999] = np.nan
    long_col, short_col = 0, 1
    if edges is not None and edges[0, 1] < edges[1, 1]:   # first row is 0.5-4 Å
        long_col, short_col = 1, 0
    sat = _satellite_from_name(path) or _int_or_none(re.sub(r"\D", "", telescope))
    return times, flux[:, short_col], flux[:, long_col], {
        "platform": f"GOES-{sat}" if sat else telescope, "satellite": sat or -1,
        "product": "SDAC operational FITS", "native_scale": "swpc"}


def _int_or_none(text):
    try:
        return int(text)
    except ValueError:
        return None


def _read_netcdf(path, kind):
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as raw:
        raw = raw.load()
    if "time" not in raw.variables or raw["time"].ndim != 1 \
            or not np.issubdtype(raw["time"].dtype, np.datetime64):
        what = "no time variable" if "time" not in raw.variables else \
            f"a time variable of dtype {raw['time'].dtype} and units " \
            f"{raw['time'].encoding.get('units', raw['time'].attrs.get('units'))!r}"
        raise GoesDataError(f"{path}: {what}, not times xarray can decode (CF 'seconds since "
                            "...'); cannot place the fluxes in time")
    sat = _satellite_from_name(path)
    if "xrsb_flux" in raw:                                   # GOES-R L2 (flx1s or avg1m)
        a, b = raw["xrsa_flux"].values, raw["xrsb_flux"].values
        flags = [raw[n].values for n in ("xrsa_flag", "xrsb_flag") if n in raw]
        product = "GOES-R L2 " + ("1-minute averages" if "avg1m" in path else "XRS fluxes")
        if sat is None:
            sat = _int_or_none(str(raw.attrs.get("platform", "")).lower().lstrip("g"))
        for k, f in enumerate(flags):
            bad = (np.asarray(f).astype(np.int64) & 3) != 0      # eclipse or bad_data
            if k == 0:
                a = np.where(bad, np.nan, a)
            else:
                b = np.where(bad, np.nan, b)
    elif "b_flux" in raw:                                    # reprocessed GOES 1-15
        a, b = raw["a_flux"].values, raw["b_flux"].values
        if "a_flags" in raw:
            a = np.where(np.asarray(raw["a_flags"].values) != 0, np.nan, a)
        if "b_flags" in raw:
            b = np.where(np.asarray(raw["b_flags"].values) != 0, np.nan, b)
        product = "reprocessed science-quality L2 (SWPC factors removed)"
    else:
        raise GoesDataError(f"{path}: neither xrsa_flux/xrsb_flux (GOES-R L2) nor a_flux/b_flux "
                            "(reprocessed GOES 13-15) found; not a GOES/XRS netCDF file")
    times = raw["time"].values.astype("datetime64[ns]")
    if np.asarray(a).shape != times.shape or np.asarray(b).shape != times.shape:
        raise GoesDataError(f"{path}: the fluxes have shapes {np.shape(a)} and {np.shape(b)} but "
                            f"time has {times.shape}; expected one value per time")
    return times, np.asarray(a, np.float64), np.asarray(b, np.float64), {
        "platform": f"GOES-{sat}" if sat else "GOES", "satellite": sat or -1,
        "product": product, "native_scale": "true"}


def read_xrs(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
             scale: str = "native", progress: bool = False) -> xr.Dataset:
    """Read GOES/XRS files of any kind into one light-curve Dataset.

    Parameters
    ----------
    source : str, path, glob or list of them, or a folder
        SDAC FITS (``go15YYYYMMDD.fits[.gz]``), reprocessed GOES-13/15 L2 netCDF
        (``sci_gxrs-l2-irrad_*``) and GOES-R L2 netCDF (``sci_xrsf-l2-*``), in any mix.
    scale : {"native", "swpc", "true"}
        ``"native"`` keeps each file on its own scale (files on different scales then
        raise); ``"swpc"`` / ``"true"`` convert every file (see :func:`to_scale`).
    progress : bool
        Progress bar over the files.

    Returns
    -------
    xarray.Dataset
        Light curve along ``time`` (datetime64[ns], UTC, sorted, duplicates dropped):
        ``xrsa`` (0.5–4 Å) and ``xrsb`` (1–8 Å), float32, ``units = "W / m2"``; NaN where the
        file has no or flagged data, and where a value is impossible: negative, infinite or
        above :data:`MAX_PLAUSIBLE_FLUX` (logged; their number is the global attribute
        ``masked_samples``). Global attributes ``flux_scale`` ("swpc" or "true"),
        ``platform``, ``product``, ``source``, ``masked_samples``.

    Raises
    ------
    GoesDataError
        A missing, empty, truncated or corrupt file; an unknown format; a file without a
        decodable time variable (or SDAC ``TIME``/``DATE-OBS``), with times outside 1975-2100
        or with fluxes that do not match the times; files on different scales with
        ``scale="native"``. The message names the file.
    """
    import xarray as xr
    from tqdm.auto import tqdm

    from solarprep.dataset import CONVENTIONS, append_history

    if scale not in ("native", *_SCALES):
        raise GoesDataError(f"scale must be 'native', 'swpc' or 'true', not {scale!r}")
    parts = []
    for path in tqdm(_expand(source), desc="GOES/XRS", disable=not progress):
        times, a, b, meta = _read_file(path)
        a, b, masked = _mask_impossible(path, a, b)
        meta["masked"] = masked
        target = meta["native_scale"] if scale == "native" else scale
        a = a * _factor("xrsa", meta["native_scale"], target)
        b = b * _factor("xrsb", meta["native_scale"], target)
        parts.append((times, a, b, meta, target, path))
    scales = {p[4] for p in parts}
    if len(scales) > 1:
        raise GoesDataError("these files are on different flux scales "
                            f"({', '.join(f'{os.path.basename(p[5])}: {p[4]}' for p in parts)}); "
                            "pass scale='swpc' or scale='true' to convert them to one")
    flux_scale = scales.pop()
    times = np.concatenate([p[0] for p in parts])
    a = np.concatenate([p[1] for p in parts])
    b = np.concatenate([p[2] for p in parts])
    order = np.argsort(times, kind="stable")
    times, a, b = times[order], a[order], b[order]
    keep = np.concatenate([[True], np.diff(times) > np.timedelta64(0, "ns")])
    times, a, b = times[keep], a[keep], b[keep]
    masked = sum(p[3]["masked"] for p in parts)
    platforms = sorted({p[3]["platform"] for p in parts})
    products = sorted({p[3]["product"] for p in parts})
    ds = xr.Dataset(
        {"xrsa": ("time", a.astype(np.float32), _var_attrs("0.5-4", flux_scale)),
         "xrsb": ("time", b.astype(np.float32), _var_attrs("1-8", flux_scale))},
        coords={"time": times},
        attrs={"Conventions": CONVENTIONS, "title": "GOES/XRS soft X-ray flux",
               "instrument": "XRS", "platform": ", ".join(platforms),
               "product": "; ".join(products), "flux_scale": flux_scale,
               "source": ", ".join(os.path.basename(p[5]) for p in parts)})
    ds.attrs["masked_samples"] = int(masked)
    log.debug("read_xrs: %d files, %d samples, scale %s", len(parts), times.size, flux_scale)
    note = f", {masked} impossible value(s) set to NaN" if masked else ""
    return append_history(ds, f"goes.read_xrs({len(parts)} files, scale={scale!r}){note}")


def _read_file(path):
    """``(times, xrsa, xrsb, meta)`` of one file; any failure is a GoesDataError naming it."""
    kind = _kind(path)
    if kind not in ("sdac", "reprocessed", "goesr", "netcdf"):
        raise GoesDataError(f"{path}: not a GOES/XRS file kind this reader knows (SDAC FITS "
                            "go*.fits, sci_gxrs-l2-*.nc, sci_xrsf-l2-*.nc)")
    if os.path.getsize(path) == 0:
        raise GoesDataError(f"{path}: the file is empty (0 bytes); download it again")
    try:
        times, a, b, meta = _read_sdac(path) if kind == "sdac" else _read_netcdf(path, kind)
    except GoesDataError:
        raise
    except _READ_ERRORS as exc:
        what = "SDAC GOES/XRS FITS" if kind == "sdac" else "GOES/XRS netCDF"
        raise GoesDataError(f"{path}: cannot be read as {what} ({type(exc).__name__}: {exc}); "
                            "the file may be truncated or corrupt: download it again") from exc
    if np.isnat(times).any():
        raise GoesDataError(f"{path}: {int(np.isnat(times).sum())} time(s) are missing (NaT)")
    outside = (times < _FIRST_TIME) | (times > _LAST_TIME)
    if outside.any():
        raise GoesDataError(f"{path}: {int(outside.sum())} time(s) (first {times[outside][0]}) "
                            f"are outside {_FIRST_TIME.astype('datetime64[Y]')}-"
                            f"{_LAST_TIME.astype('datetime64[Y]')}; the time variable or its "
                            "units are corrupt")
    backwards = int((np.diff(times) <= np.timedelta64(0, "ns")).sum())
    if backwards:
        log.warning("%s: the times go backwards or repeat at %d place(s); the samples are "
                    "sorted and repeated times dropped (check the file)", path, backwards)
    return times, a, b, meta


def _mask_impossible(path, a, b):
    """NaN for fluxes no detector can give (negative, infinite, above MAX_PLAUSIBLE_FLUX)."""
    masked = 0
    out = []
    for name, flux in (("xrsa", a), ("xrsb", b)):
        with np.errstate(invalid="ignore"):
            bad = np.isinf(flux) | (flux < 0) | (flux > MAX_PLAUSIBLE_FLUX)
        if bad.any():
            log.warning("%s: %d %s value(s) are negative, infinite or above %g W/m2 (first %r); "
                        "set to NaN", path, int(bad.sum()), name, MAX_PLAUSIBLE_FLUX,
                        float(flux[bad][0]))
            flux = np.where(bad, np.nan, flux)
            masked += int(bad.sum())
        out.append(flux)
    return out[0], out[1], masked


def _var_attrs(band, scale):
    what = "SWPC-scaled" if scale == "swpc" else "true (unscaled)"
    return {"units": "W / m2", "long_name": f"GOES/XRS {band} Å irradiance, {what}",
            "flux_scale": scale}


def _factor(channel, source, target):
    if source == target:
        return 1.0
    f = SWPC_FACTORS[channel]
    return f if target == "swpc" else 1.0 / f


def _scale_of(ds):
    scale = ds.attrs.get("flux_scale")
    if scale not in _SCALES:
        raise GoesDataError(f"the Dataset has flux_scale={scale!r}; set ds.attrs['flux_scale'] to "
                            "'swpc' (historical NOAA classes) or 'true' (GOES-R, reprocessed data)")
    return scale


def to_scale(ds: xr.Dataset, scale: str) -> xr.Dataset:
    """Put a GOES/XRS Dataset on the SWPC scale or the true-flux scale.

    ``swpc = 0.7 · true`` (1–8 Å, ``xrsb``) and ``0.85 · true`` (0.5–4 Å, ``xrsa``), the
    operational scaling of GOES 8–15 (NOAA/NCEI science-data README). Compare with the
    historical NOAA classes on ``"swpc"``.
    """
    from solarprep.dataset import append_history

    if scale not in _SCALES:
        raise GoesDataError(f"scale must be 'swpc' or 'true', not {scale!r}")
    current = _scale_of(ds)
    if current == scale:
        return ds
    out = ds.copy()
    for name in ("xrsa", "xrsb"):
        if name in out:
            attrs = dict(out[name].attrs)
            out[name] = (out[name] * np.float32(_factor(name, current, scale))).astype(np.float32)
            attrs.update(_var_attrs("0.5-4" if name == "xrsa" else "1-8", scale))
            out[name].attrs = attrs
    out.attrs["flux_scale"] = scale
    return append_history(out, f"goes.to_scale({scale!r})")


# --------------------------------------------------------------------------- events


def one_minute(ds: xr.Dataset, variable: str = "xrsb") -> pd.Series:
    """1-minute averages (bins labelled by their start, NaN-aware) of one channel, as a Series."""
    series = ds[variable].to_series().astype(np.float64)
    return series.resample("1min").mean()


def detect_flares(ds: xr.Dataset, *, variable: str = "xrsb", scale: str = "swpc",
                  rise: Duration = "4min", rise_ratio: float = 1.4, min_class: str | None = None,
                  rise_minutes: int | None = None) -> xr.Dataset:
    """Flare events in a GOES/XRS light curve with NOAA/SWPC-like rules.

    On 1-minute averages ``F_i`` of the 1–8 Å flux (on ``scale``):

    * start ``i``: ``F_i < F_{i+1} < … < F_{i+n-1}`` (``n`` = ``rise`` in minutes, 4) and
      ``F_{i+n-1} ≥ rise_ratio · F_i`` (1.4);
    * end: the first minute ``j`` after the peak with ``F_j ≤ (F_peak + F_start)/2``
      (half-way back to the start flux); the last sample if the data stop first
      (``complete = False``);
    * peak: the maximum between start and end; its class from the 1-minute peak flux
      (as in the NOAA event lists); ``peak_time`` is the time of the highest sample of
      the full-cadence data within that peak minute ± 1 minute.

    Reference: NOAA/SWPC, *Solar event reports* (event definitions of the edited event lists).

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`read_xrs` (or :func:`solarprep.synthetic.goes_xrs`, taken as SWPC scale
        when it has no ``flux_scale`` attribute and ``synthetic`` is set).
    variable : str
    scale : {"swpc", "true"}
    rise : astropy.units.Quantity, str or float
        Length of the monotonic rise that starts an event: ``4 * u.min``, ``"4min"``, or
        a number of minutes; a whole number of minutes (the rule runs on 1-minute
        averages), at least 2.
    rise_ratio : float
        Growth of the flux over the rise (1.4).
    min_class : str, optional
        Drop events whose peak is below this class (e.g. ``"C1"``).
    rise_minutes : int, optional
        Deprecated: ``rise`` in minutes (``rise_minutes=4`` is ``rise=4 * u.min``).

    Returns
    -------
    xarray.Dataset
        Along ``event``: ``start_time``, ``peak_time``, ``end_time`` (datetime64[ns]),
        ``peak_flux`` (float64, W m⁻²), ``goes_class`` (str), ``class_index`` (0..4),
        ``complete`` (bool); attribute ``flux_scale``.
    """
    import pandas as pd
    import xarray as xr

    if rise_minutes is not None:
        warnings.warn("detect_flares(rise_minutes=) is deprecated and will be removed: use "
                      f"rise={rise_minutes} * u.min (or rise='{rise_minutes}min')",
                      SolarprepDeprecationWarning, stacklevel=2)
        rise = rise_minutes
    rise_minutes = _whole_minutes(rise)
    ds = _on_scale(ds, scale)
    minute = one_minute(ds, variable)
    f = minute.to_numpy()
    t = minute.index.to_numpy().astype("datetime64[ns]")
    raw = ds[variable].to_series().astype(np.float64)
    n = len(f)
    events = []
    i = 0
    floor = class_to_flux(min_class) if min_class else 0.0
    while i + rise_minutes - 1 < n:
        win = f[i:i + rise_minutes]
        if (np.all(np.isfinite(win)) and np.all(np.diff(win) > 0)
                and win[-1] >= rise_ratio * win[0]):
            start = i
            peak = i
            end = None
            j = i + 1
            while j < n:
                if np.isfinite(f[j]):
                    if f[j] > f[peak]:
                        peak = j
                    elif f[j] <= 0.5 * (f[peak] + f[start]):
                        end = j
                        break
                j += 1
            complete = end is not None
            if end is None:
                end = n - 1
            if f[peak] >= floor:
                t_peak = t[peak]
                window = raw[pd.Timestamp(t_peak) - pd.Timedelta("1min"):
                             pd.Timestamp(t_peak) + pd.Timedelta("2min")]
                if window.notna().any():
                    t_peak = window.idxmax().to_datetime64()
                events.append((t[start], t_peak, t[end], float(f[peak]),
                               flare_class(f[peak]), class_index(float(f[peak])), complete))
            i = end + 1
        else:
            i += 1
    cols = list(zip(*events)) if events else [[]] * 7
    out = xr.Dataset(
        {"start_time": ("event", np.asarray(cols[0], dtype="datetime64[ns]")),
         "peak_time": ("event", np.asarray(cols[1], dtype="datetime64[ns]")),
         "end_time": ("event", np.asarray(cols[2], dtype="datetime64[ns]")),
         "peak_flux": ("event", np.asarray(cols[3], dtype=np.float64),
                       {"units": "W / m2", "long_name": "1-minute peak 1-8 Å flux"}),
         "goes_class": ("event", np.asarray(cols[4], dtype=str)),
         "class_index": ("event", np.asarray(cols[5], dtype=np.int64)),
         "complete": ("event", np.asarray(cols[6], dtype=bool))},
        attrs={"flux_scale": scale, "rules": f"NOAA-like: {rise_minutes}-min rise, ratio "
                                             f"{rise_ratio}, end half-way to start flux"})
    log.debug("detect_flares: %d events", len(events))
    return out


def _timedelta(value, name):
    return np.timedelta64(int(round(as_seconds(value, name) * 1e9)), "ns")


def _whole_minutes(rise):
    """The rise of :func:`detect_flares` as a whole number (>= 2) of 1-minute averages."""
    minutes = as_seconds(rise, "rise", unit="min") / 60.0
    if abs(minutes - round(minutes)) > 1e-9 or round(minutes) < 2:
        raise QuantityError(f"rise={rise!r} is {minutes:g} min: the rule runs on 1-minute "
                            "averages, so give a whole number of minutes, at least 2 "
                            "(rise=4 * u.min)")
    return int(round(minutes))


def _on_scale(ds, scale):
    if "flux_scale" not in ds.attrs and ds.attrs.get("synthetic"):
        ds = ds.copy()
        ds.attrs["flux_scale"] = scale          # synthetic classes are defined on any one scale
    return to_scale(ds, scale)


def label_times(times: npt.ArrayLike | xr.Dataset | xr.DataArray, xrs: xr.Dataset, *,
                before: Duration = "30min", after: Duration = "30min", variable: str = "xrsb",
                scale: str = "swpc") -> xr.Dataset:
    """Label image times by the largest GOES class in a window around each.

    ``label_k = class of max F(t)`` over ``t ∈ [t_k − before, t_k + after]`` on 1-minute
    averages of the 1–8 Å flux (``scale``), as the seed labels AIA images (Ramunno et al.
    2024) — the background class when no flare is in the window.

    Parameters
    ----------
    times : array-like of datetime64 (or xarray Dataset / DataArray with ``time``)
    xrs : xarray.Dataset
        GOES/XRS light curve (:func:`read_xrs`).
    before, after : astropy.units.Quantity, str, timedelta or float
        The window around each time: ``30 * u.min``, ``"30min"``, a ``timedelta``, or
        seconds.
    variable, scale : str

    Returns
    -------
    xarray.Dataset
        Along ``time``: ``label`` (int64, 0..4 = A..X; -1 where the window has no data),
        ``goes_class`` (str, ``""`` without data), ``window_max_flux`` (float32, W m⁻²).
    """
    import xarray as xr

    if hasattr(times, "coords") and "time" in getattr(times, "coords", {}):
        times = times["time"].values
    times = np.asarray(times, dtype="datetime64[ns]")
    minute = one_minute(_on_scale(xrs, scale), variable).dropna()
    idx = minute.index.to_numpy().astype("datetime64[ns]")
    vals = minute.to_numpy()
    lo = np.searchsorted(idx, times - _timedelta(before, "before"), side="left")
    hi = np.searchsorted(idx, times + _timedelta(after, "after"), side="right")
    peak = np.full(times.shape, np.nan)
    for k, (a, b) in enumerate(zip(lo, hi)):
        if b > a:
            peak[k] = vals[a:b].max()
    labels = np.where(np.isfinite(peak), class_index(np.nan_to_num(peak, nan=1e-9)), -1)
    classes = np.array([flare_class(p) if np.isfinite(p) and p > 0 else "" for p in peak])
    return xr.Dataset(
        {"label": ("time", labels.astype(np.int64),
                   {"long_name": "GOES class index (0..4 = A, B, C, M, X; -1 no data)"}),
         "goes_class": ("time", classes),
         "window_max_flux": ("time", peak.astype(np.float32),
                             {"units": "W / m2", "long_name": "largest 1-minute 1-8 Å flux "
                                                              "in the window"})},
        coords={"time": times},
        attrs={"flux_scale": scale, "window": f"-{before} .. +{after}"})
