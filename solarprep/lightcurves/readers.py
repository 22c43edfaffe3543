"""``load_lightcurve``: SDO/EVE, GOES/XRS, SOHO/VIRGO, TESS and Kepler files → light-curve Datasets.

Every reader returns the light-curve Dataset of ``docs/dataset.md``: the single dimension
``time`` (UTC datetime64), float32 variables with ``units`` and ``long_name``, a boolean
coordinate ``gap`` (a flagged or missing sample, or the first sample after a jump longer than 1.5
cadences), and the attributes ``Conventions``, ``instrument``, ``product``, ``target``
(``"sun"`` or ``"star"``), ``cadence_s`` (median spacing) and ``source``.

=========================  ====================================================  ======================
file                       how it is read                                        variables
=========================  ====================================================  ======================
EVE ESP level 1            astropy: ``YEAR``, ``DOY``, ``SOD`` (UTC) and bands   ``qd``, ``ch_18``, ...
EVE level 2 lines (EVL)    astropy: ``LinesData``/``LinesMeta`` HDUs, TAI time   ``line_<name>``
GOES/XRS (every kind)      :func:`solarprep.lightcurves.goes.read_xrs`           ``xrsa``, ``xrsb``
SOHO/VIRGO TSI text        daily/hourly V8 files: ISO time, TAI, JD, 5 TSI cols  ``tsi``
TESS / Kepler light curve  astropy ``TimeSeries.read(format="tess.fits"|...)``   ``flux``, ``flux_err``
=========================  ====================================================  ======================

Quality: TESS/Kepler cadences with ``QUALITY & quality_bitmask`` non-zero are NaN and marked
in ``gap`` (default: every flag bit, the most conservative choice; ``quality_bitmask=0``
keeps all). EVE ESP/lines fill values (≤ −1) and VIRGO's missing values (≤ 0) are NaN. TESS
and Kepler times are barycentric (BJD TDB) converted to UTC by astropy.
"""
from __future__ import annotations

import logging
import os
import pathlib
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from solarprep.dataset import CONVENTIONS, append_history
from solarprep.errors import GoesDataError, LightCurveError
from solarprep.lightcurves.conditioning import cadence_seconds, mark_gaps, normalize_to_1au
from solarprep.lightcurves.conditioning import resample as _resample_curve
from solarprep.lightcurves.goes import read_xrs

if TYPE_CHECKING:
    from solarprep.dataset import Duration, PathLike

__all__ = ["load_lightcurve", "read_eve", "read_virgo", "read_stellar", "KINDS"]

log = logging.getLogger(__name__)

#: The file kinds :func:`load_lightcurve` recognises.
KINDS = ("eve_esp", "eve_lines", "goes", "virgo", "tess", "kepler")


def _kind(path):
    name = path.name.lower()
    if name.startswith("eve_l1_esp") or "esp" in name and name.startswith("eve"):
        return "eve_esp"
    if name.startswith("evl_"):
        return "eve_lines"
    if name.startswith(("go1", "go0", "sci_gxrs", "sci_xrs")):
        return "goes"
    if "virgo" in name or name.endswith((".dat", ".txt")):
        return "virgo"
    if name.startswith("tess") or name.endswith("_lc.fits"):
        return "tess"
    if name.startswith("kplr") or name.endswith(("_llc.fits", "_slc.fits")):
        return "kepler"
    if name.endswith((".fits", ".fit", ".fits.gz", ".fit.gz")):
        from astropy.io import fits

        try:
            head = fits.getheader(path, 0)
        except OSError:
            return None
        telescope = str(head.get("TELESCOP", "")).upper()
        return {"TESS": "tess", "KEPLER": "kepler"}.get(telescope)
    return None


def load_lightcurve(path: PathLike, *, kind: str | None = None, flux: str = "pdcsap",
                    quality_bitmask: str | int = "default", normalize: bool = False,
                    resample: Duration | None = None) -> xr.Dataset:
    """Read a light-curve file into a light-curve Dataset (module docstring).

    Parameters
    ----------
    path : str or os.PathLike
    kind : str, optional
        One of :data:`KINDS`; guessed from the file name (and header) by default.
    flux : {"pdcsap", "sap"}
        TESS/Kepler: the systematics-corrected (PDCSAP) or simple aperture flux.
    quality_bitmask : "default", "none" or int
        TESS/Kepler cadences to reject: ``"default"`` every flag bit, ``"none"`` (or 0) none,
        an int the bits to reject.
    normalize : bool
        Scale solar irradiances to 1 AU (:func:`normalize_to_1au`; refused for stars).
    resample : str, optional
        Bin averages on a regular grid of this cadence (``"1min"``, ``"12h"``;
        :func:`solarprep.lightcurves.resample`).

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    LightCurveError
        A missing file, an unknown kind, a file that does not hold what its kind needs.
    """
    path = pathlib.Path(os.path.expanduser(os.fspath(path)))
    if not path.is_file():
        raise LightCurveError(f"{path}: no such file")
    kind = kind or _kind(path)
    if kind not in KINDS:
        raise LightCurveError(f"{path}: not a light-curve file this reader knows (kind={kind!r}"
                              f"); pass kind= one of {KINDS}")
    try:
        if kind == "eve_esp":
            ds = read_eve(path)
        elif kind == "eve_lines":
            ds = read_eve(path, lines=True)
        elif kind == "goes":
            ds = _goes(path)
        elif kind == "virgo":
            ds = read_virgo(path)
        else:
            ds = read_stellar(path, mission=kind, flux=flux, quality_bitmask=quality_bitmask)
    except GoesDataError as exc:
        raise LightCurveError(str(exc)) from exc
    if normalize:
        ds = normalize_to_1au(ds)
    if resample is not None:
        ds = _resample_curve(ds, resample)
    return ds


def _dataset(times, variables, valid, *, path, instrument, product, target="sun", **attrs):
    times = np.asarray(times, dtype="datetime64[ns]")
    order = np.argsort(times, kind="stable")
    times = times[order]
    data = {name: ("time", np.asarray(v, np.float64)[order].astype(np.float32),
                   {"units": units, "long_name": long_name})
            for name, (v, units, long_name) in variables.items()}
    valid = np.asarray(valid, bool)[order]
    gap = ("time", mark_gaps(times, valid),
           {"long_name": "flagged or missing sample, or first sample after a jump longer "
                         "than 1.5 cadences"})
    ds = xr.Dataset(data, coords={"time": ("time", times,
                                           {"long_name": "time of the sample (UTC)"}),
                                  "gap": gap},
                    attrs={"Conventions": CONVENTIONS, "title": f"{instrument} {product}",
                           "instrument": instrument, "product": product, "target": target,
                           "cadence_s": cadence_seconds(times), "source": path.name, **attrs})
    return append_history(ds, f"load_lightcurve: {path.name} ({product})")


def read_eve(path: PathLike, *, lines: bool = False) -> xr.Dataset:
    """SDO/EVE: ESP level-1 broadbands or level-2 spectral lines (``EVL_L2_*``).

    ESP is read with astropy rather than sunpy's ``ESPTimeSeries``: sunpy 7.0.5 puts the
    samples of the shipped 2011-02-15 file at 03:28 UTC, twice the seconds of day (``SOD``
    6250 s = 01:44:10, the X2.2 flare's rise).

    ESP channels: ``qd`` (0.1–7 nm), ``ch_18``, ``ch_26``, ``ch_30``, ``ch_36`` (nm), W m⁻².
    Lines: one variable per line of ``LinesMeta`` (``line_fe_ix_17_1`` ...), W m⁻², from
    ``LinesData``'s ``LINE_IRRADIANCE`` and the ``TAI`` column (s since 1958-01-01 TAI).
    """
    path = pathlib.Path(path)
    if lines:
        return _eve_lines(path)
    from astropy.io import fits

    try:
        with fits.open(path) as hdul:
            table = hdul[1].data
            year = np.asarray(table["YEAR"], np.int64)
            doy = np.asarray(table["DOY"], np.int64)
            sod = np.asarray(table["SOD"], np.float64)
            bands = {c: np.asarray(table[c], np.float64) for c in _ESP_BANDS}
    except (KeyError, IndexError, OSError, TypeError) as exc:
        raise LightCurveError(f"{path}: not an EVE ESP level-1 file (needs YEAR, DOY, SOD and "
                              f"{', '.join(_ESP_BANDS)} in extension 1): {exc}") from exc
    days = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + (doy - 1)
    times = days.astype("datetime64[ns]") + np.round(sod * 1e9).astype("timedelta64[ns]")
    variables, valid = {}, np.ones(times.size, bool)
    for col, v in bands.items():
        v = np.where(v <= -1.0, np.nan, v)
        valid &= np.isfinite(v)
        band = "0.1-7 nm" if col == "QD" else f"{col[3:]} nm"
        variables[col.lower()] = (v, "W / m2", f"SDO/EVE ESP {band} irradiance")
    return _dataset(times, variables, valid, path=path, instrument="SDO/EVE",
                    product="ESP level 1")


#: ESP level-1 irradiance columns (W m⁻²): zeroth order 0.1-7 nm and the 18, 26, 30, 36 nm bands.
_ESP_BANDS = ("QD", "CH_18", "CH_26", "CH_30", "CH_36")


def _eve_lines(path):
    from astropy.io import fits
    from astropy.time import Time, TimeDelta

    try:
        with fits.open(path) as hdul:
            meta = hdul["LINESMETA"].data
            table = hdul["LINESDATA"].data
            names = [str(n).strip() for n in meta["NAME"]]
            centers = np.asarray(meta["WAVE_CENTER"], np.float64)
            irradiance = np.asarray(table["LINE_IRRADIANCE"], np.float64)
            tai = np.asarray(table["TAI"], np.float64)
    except (KeyError, OSError) as exc:
        raise LightCurveError(f"{path}: not an EVE level-2 lines file (needs the LinesMeta and "
                              f"LinesData extensions with NAME, WAVE_CENTER, TAI and "
                              f"LINE_IRRADIANCE): {exc}") from exc
    times = (Time("1958-01-01T00:00:00", scale="tai") + TimeDelta(tai, format="sec")).utc.datetime64
    irradiance = np.where(irradiance < 0, np.nan, irradiance)
    variables = {}
    for k, (name, center) in enumerate(zip(names, centers)):
        key = "line_" + "_".join(name.lower().replace(".", " ").split()) + f"_{center:.1f}" \
            .replace(".", "_")
        variables[key] = (irradiance[:, k], "W / m2", f"SDO/EVE {name} {center:.2f} nm "
                                                      "line irradiance")
    return _dataset(times, variables, np.isfinite(irradiance).all(1), path=path,
                    instrument="SDO/EVE", product="level 2 lines")


def _goes(path):
    ds = read_xrs(path)
    valid = np.isfinite(ds["xrsa"].values) & np.isfinite(ds["xrsb"].values)
    out = _dataset(ds["time"].values,
                   {n: (ds[n].values, ds[n].attrs["units"], ds[n].attrs["long_name"])
                    for n in ("xrsa", "xrsb")}, valid, path=pathlib.Path(path),
                   instrument="GOES/XRS", product=ds.attrs["product"],
                   platform=ds.attrs["platform"], flux_scale=ds.attrs["flux_scale"])
    for n in ("xrsa", "xrsb"):
        out[n].attrs["flux_scale"] = ds.attrs["flux_scale"]
    return out


#: VIRGO V8 text columns after the time: TAI (s), JD, then the TSI columns (W m⁻²).
VIRGO_COLUMNS = ("pmo6v_a_old_scale", "virgo_old_scale", "virgo_uncertainty",
                 "pmo6v_a", "tsi")


def read_virgo(path: PathLike, *, column: str = "tsi") -> xr.Dataset:
    """SOHO/VIRGO total solar irradiance, daily or hourly V8 text files (PMOD/WRC).

    The V8 files (``VIRGO_TSI_daily_V8_*.txt``, ``..._hourly_...``) have comment lines
    starting with ``;`` or ``#`` and eight columns: UTC time (ISO 8601), TAI seconds, Julian
    date, TSI of PMO6V-A and of the fused VIRGO A+B series on the original VIRGO scale,
    the fused series' uncertainty, and PMO6V-A and the fused series on the new
    SI-traceable scale (≈ 1361 W m⁻², the default ``column="tsi"``). Values ≤ 0 (the
    files' missing-value markers, e.g. −99) are NaN. TSI is by definition at 1 AU
    (``normalized_to_1au = 1``). Finsterle et al. 2021, *Sci. Rep.* 11, 7835.
    """
    path = pathlib.Path(path)
    times, rows = [], []
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text[0] in ";#%":
                continue
            parts = text.split()
            if len(parts) != 3 + len(VIRGO_COLUMNS):
                raise LightCurveError(
                    f"{path}:{number}: {len(parts)} columns, expected 8 (ISO time, TAI, JD and "
                    "five TSI columns) of a VIRGO V8 TSI text file")
            try:
                times.append(np.datetime64(parts[0].rstrip("Z"), "ns"))
                rows.append([float(x) for x in parts[3:]])
            except ValueError as exc:
                raise LightCurveError(f"{path}:{number}: cannot read {text!r} ({exc})") from exc
    if not rows:
        raise LightCurveError(f"{path}: no data line (is it a VIRGO TSI text file?)")
    if column not in VIRGO_COLUMNS:
        raise LightCurveError(f"column={column!r}: one of {VIRGO_COLUMNS}")
    values = np.asarray(rows, np.float64)
    values[values <= 0] = np.nan
    k = VIRGO_COLUMNS.index(column)
    tsi = values[:, k]
    ds = _dataset(times, {"tsi": (tsi, "W / m2", "SOHO/VIRGO total solar irradiance at 1 AU")},
                  np.isfinite(tsi), path=path, instrument="SOHO/VIRGO",
                  product=f"TSI ({column})", normalized_to_1au=1)
    ds["tsi"].attrs["normalized_to_1au"] = 1
    return ds


def read_stellar(path: PathLike, *, mission: str = "tess", flux: str = "pdcsap",
                 quality_bitmask: str | int = "default") -> xr.Dataset:
    """A TESS or Kepler light-curve file through astropy's ``TimeSeries`` readers.

    ``flux``/``flux_err`` are the PDCSAP (default) or SAP columns (e⁻ s⁻¹); cadences with a
    rejected QUALITY bit (``quality_bitmask``, module docstring) or a NaN flux are NaN and
    marked in ``gap``; attribute ``n_rejected`` counts the flagged cadences.
    """
    import warnings

    from astropy.timeseries import TimeSeries

    path = pathlib.Path(path)
    if flux not in ("pdcsap", "sap"):
        raise LightCurveError(f"flux={flux!r}: 'pdcsap' or 'sap'")
    if quality_bitmask == "default":
        mask = -1
    elif quality_bitmask in ("none", None):
        mask = 0
    else:
        mask = int(quality_bitmask)
    fmt = "tess.fits" if mission == "tess" else "kepler.fits"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = TimeSeries.read(path, format=fmt)
    except Exception as exc:  # astropy raises ValueError/TypeError/OSError for a wrong file
        raise LightCurveError(f"{path}: cannot be read as a {mission.upper()} light curve "
                              f"({exc})") from exc
    quality_col = "quality" if "quality" in ts.colnames else "sap_quality"
    quality = np.asarray(ts[quality_col].value if hasattr(ts[quality_col], "value")
                         else ts[quality_col]).astype(np.int64)
    flagged = (quality & mask) != 0
    f = np.asarray(getattr(ts[f"{flux}_flux"], "value", ts[f"{flux}_flux"]), np.float64)
    e = np.asarray(getattr(ts[f"{flux}_flux_err"], "value", ts[f"{flux}_flux_err"]),
                   np.float64)
    unit = getattr(ts[f"{flux}_flux"], "unit", None)
    f = np.where(flagged, np.nan, f)
    e = np.where(flagged, np.nan, e)
    valid = np.isfinite(f)
    good_time = np.isfinite(ts.time.jd)
    times = ts.time[good_time].utc.datetime64
    label = "PDCSAP" if flux == "pdcsap" else "SAP"
    name = str(ts.meta.get("OBJECT", "")).strip() or path.stem
    ds = _dataset(times, {"flux": (f[good_time], unit.to_string() if unit else "",
                                   f"{mission.upper()} {label} flux of {name}"),
                          "flux_err": (e[good_time], unit.to_string() if unit else "",
                                       f"{mission.upper()} {label} flux uncertainty")},
                  valid[good_time], path=path, instrument=mission.upper(),
                  product=f"{label} light curve", target="star", object=name,
                  flux_column=f"{flux}_flux", quality_bitmask=int(mask),
                  n_rejected=int(flagged.sum()))
    return ds
