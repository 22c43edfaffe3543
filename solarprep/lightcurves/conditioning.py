"""1-AU normalisation, regular resampling and conditioning values of light curves.

The light-curve → video model (reference facts §1) is conditioned on the Sun's
disk-integrated flux normalised to 1 AU, ``F·(d/1 AU)²`` (the flux falls as ``1/d²``;
:func:`solarprep.photometry.disk_integrate` with ``normalize_distance=True``), one value per
frame, z-scored with training statistics. The same steps, for any light-curve Dataset
(``docs/lightcurves.md``):

* :func:`one_au_factor` and :func:`normalize_to_1au`: ``(d/1 AU)²`` from a ``dsun_obs``
  coordinate or, for instruments near Earth (SDO, GOES, SOHO at L1 ±1 %), Earth's distance
  from sunpy's ephemeris;
* :func:`resample`: bin averages on a regular time grid, empty bins NaN and marked in the
  ``gap`` coordinate;
* :func:`condition`: values at given (frame) times, within a tolerance, z-scored.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from solarprep.dataset import append_history, as_seconds
from solarprep.errors import LightCurveError
from solarprep.photometry.integration import one_au_factor

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from solarprep.dataset import Duration

__all__ = ["one_au_factor", "normalize_to_1au", "resample", "condition", "cadence_seconds",
           "mark_gaps"]

log = logging.getLogger(__name__)


def cadence_seconds(times: npt.ArrayLike) -> float:
    """The median spacing (s) of increasing datetime64 times; NaN for fewer than two."""
    t = np.asarray(times, dtype="datetime64[ns]")
    if t.size < 2:
        return float("nan")
    return float(np.median(np.diff(t).astype(np.float64)) / 1e9)


def mark_gaps(times: npt.ArrayLike, valid: npt.ArrayLike, factor: float = 1.5) -> np.ndarray:
    """Boolean ``gap`` per sample: not ``valid``, or after a jump longer than ``factor`` cadences."""
    t = np.asarray(times, dtype="datetime64[ns]")
    gap = ~np.asarray(valid, dtype=bool)
    if t.size > 1:
        step = np.diff(t).astype(np.float64) / 1e9
        gap[1:] |= step > factor * cadence_seconds(t)
    return gap


def _variables(ds, variables):
    if variables is None:
        variables = [n for n, v in ds.data_vars.items()
                     if v.dims == ("time",) and v.dtype.kind == "f"
                     and v.attrs.get("units", "") not in ("", None)]
    elif isinstance(variables, str):
        variables = [variables]
    missing = [v for v in variables if v not in ds]
    if missing:
        raise LightCurveError(f"no variable {missing} in the light curve; it has "
                              f"{sorted(ds.data_vars)}")
    return list(variables)


def normalize_to_1au(ds: xr.Dataset, variables: str | Sequence[str] | None = None, *,
                     distance: str | float | npt.ArrayLike = "auto") -> xr.Dataset:
    """Scale irradiance variables of a light curve to 1 AU: ``F·(d/1 AU)²``.

    Parameters
    ----------
    ds : xarray.Dataset
        A light-curve Dataset (dim ``time``).
    variables : str or list of str, optional
        Default: every float variable along ``time`` with units.
    distance : "auto", "earth", float or array
        Observer–Sun distance (m): ``"auto"`` takes the ``dsun_obs`` coordinate when there
        is one, else Earth's (``"earth"``: sunpy's ``get_earth``, right for SDO, GOES and, to
        1 %, SOHO at L1); or give it.

    Returns
    -------
    xarray.Dataset
        A copy with the variables scaled, ``dsun_obs`` as a coordinate, attribute
        ``normalized_to_1au = 1`` (a Dataset already normalised is returned unchanged).

    Raises
    ------
    LightCurveError
        For a stellar light curve (``attrs["target"] == "star"``: no Sun distance applies)
        or an unknown variable.
    """
    if int(ds.attrs.get("normalized_to_1au", 0)):
        return ds
    if ds.attrs.get("target") == "star":
        raise LightCurveError(f"{ds.attrs.get('title', 'this light curve')} is a stellar light "
                              "curve: there is no Sun distance to normalise to 1 AU")
    names = _variables(ds, variables)
    if isinstance(distance, str):
        if distance == "auto" and "dsun_obs" in ds.coords:
            d = np.asarray(ds["dsun_obs"].values, np.float64)
            where = "the dsun_obs coordinate"
        elif distance in ("auto", "earth"):
            d = _earth_distance(ds["time"].values)
            where = "Earth's distance (sunpy ephemeris)"
        else:
            raise LightCurveError(f"distance={distance!r}: 'auto', 'earth' or metres")
    else:
        d = np.broadcast_to(np.asarray(distance, np.float64), (ds.sizes["time"],))
        where = "the distance given"
    factor = one_au_factor(d)
    out = ds.copy()
    for name in names:
        attrs = dict(ds[name].attrs, normalized_to_1au=1)
        out[name] = (ds[name] * factor).astype(np.float32)
        out[name].attrs = attrs
        out[name].attrs["long_name"] = f"{attrs.get('long_name', name)} at 1 AU"
    out = out.assign_coords(dsun_obs=("time", np.asarray(d, np.float64), {"units": "m"}))
    out.attrs["normalized_to_1au"] = 1
    return append_history(out, f"normalize_to_1au({names}) with {where}")


def _earth_distance(times):
    """Earth–Sun distance (m) at ``times``: sunpy's ephemeris on an hourly grid, interpolated
    linearly (the distance changes by < 1e-9 of itself from the chord within an hour)."""
    from astropy.time import Time
    from sunpy.coordinates import get_earth

    t = np.asarray(times, "datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
    hour = 3600.0
    grid = np.arange(np.floor(t.min() / hour), np.ceil(t.max() / hour) + 1.0) * hour
    at = Time(grid, format="unix")
    return np.interp(t, grid, get_earth(at).radius.to_value("m"))


def resample(ds: xr.Dataset, cadence: Duration, *, start: npt.ArrayLike | None = None,
             end: npt.ArrayLike | None = None) -> xr.Dataset:
    """Bin averages of a light curve on a regular grid of ``cadence`` (bins labelled by start).

    Parameters
    ----------
    ds : xarray.Dataset
    cadence : astropy.units.Quantity, str, timedelta or float
        e.g. ``1 * u.min``, ``"12h"``, or seconds.
    start, end : datetime64-like, optional
        Grid limits (default: the data's, floored to the cadence).

    Returns
    -------
    xarray.Dataset
        Float variables along ``time`` averaged (NaN-aware) per bin; coordinate ``gap`` True for
        bins without any finite sample; attribute ``cadence_s``.
    """
    import pandas as pd

    step = pd.Timedelta(as_seconds(cadence, "cadence", allow_zero=False), unit="s")
    t = pd.DatetimeIndex(ds["time"].values)
    if len(t) == 0:
        raise LightCurveError("the light curve is empty: nothing to resample")
    t0 = pd.Timestamp(start) if start is not None else t[0].floor(step)
    t1 = pd.Timestamp(end) if end is not None else t[-1]
    grid = pd.date_range(t0, t1, freq=step)
    names = [n for n, v in ds.data_vars.items() if v.dims == ("time",) and v.dtype.kind == "f"]
    index = np.floor((t - t0) / step).astype(np.int64)
    inside = (index >= 0) & (index < len(grid))
    data = {}
    any_finite = np.zeros(len(grid), bool)
    for name in names:
        v = np.asarray(ds[name].values, np.float64)
        ok = inside & np.isfinite(v)
        total = np.bincount(index[ok], weights=v[ok], minlength=len(grid))
        count = np.bincount(index[ok], minlength=len(grid))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        any_finite |= count > 0
        data[name] = ("time", mean.astype(np.float32), dict(ds[name].attrs))
    coords = {"time": grid.to_numpy().astype("datetime64[ns]"),
              "gap": ("time", ~any_finite, {"long_name": "no finite sample in the bin"})}
    out = xr.Dataset(data, coords=coords, attrs=dict(ds.attrs))
    out.attrs["cadence_s"] = step.total_seconds()
    return append_history(out, f"lightcurves.resample({step})")


def condition(ds: xr.Dataset, times: npt.ArrayLike, *, variable: str | None = None,
              tolerance: Duration = "1h", mean: float | None = None,
              std: float | None = None) -> np.ndarray:
    """Conditioning values of a light curve at given times (e.g. a video's frame times).

    The value at each time is the mean of the finite samples within ``± tolerance`` (no
    interpolation across gaps: a time with no sample that close raises). With
    ``mean`` and ``std`` (training statistics, as :class:`solarmodels` video windows use)
    the values are z-scored ``(b − mean)/std``; otherwise returned as they are.

    Parameters
    ----------
    ds : xarray.Dataset
        A light curve.
    times : array_like of datetime64
    variable : str, optional
        Default: the first float variable with units.
    tolerance : astropy.units.Quantity, str, timedelta or float
        ``1 * u.h``, ``"1h"`` (the default), or seconds.
    mean, std : float, optional
        Training statistics for a z-score.

    Returns
    -------
    numpy.ndarray (float32)
    """
    names = _variables(ds, variable)
    name = names[0] if variable is None else variable
    tol = np.timedelta64(int(round(as_seconds(tolerance, "tolerance") * 1e9)), "ns")
    t = np.asarray(ds["time"].values, "datetime64[ns]")
    v = np.asarray(ds[name].values, np.float64)
    ok = np.isfinite(v)
    t, v = t[ok], v[ok]
    want = np.asarray(times, "datetime64[ns]")
    if t.size == 0:
        raise LightCurveError(f"{name!r} has no finite value")
    lo = np.searchsorted(t, want - tol, side="left")
    hi = np.searchsorted(t, want + tol, side="right")
    empty = hi <= lo
    if empty.any():
        raise LightCurveError(f"no {name!r} sample within {tolerance} of "
                              f"{want[empty][0]} ({int(empty.sum())} time(s)); widen tolerance= "
                              "or choose times inside the light curve")
    csum = np.concatenate([[0.0], np.cumsum(v)])
    values = (csum[hi] - csum[lo]) / (hi - lo)
    if mean is not None or std is not None:
        values = (values - float(mean or 0.0)) / float(std or 1.0)
    return values.astype(np.float32)
