"""The seeds' intensity and field normalisations, with their inverses back to physical units.

Three scalings map solar images to [−1, 1] for the image-translation networks
(reference facts §3–4):

* ``aia_log2`` (Park et al. 2019): ``y = 2·log2(clip(x + 1, 1, 2¹⁴)) / 14 − 1``; inverse
  ``x = 2^(7 (y + 1)) − 1``. Exact round trip for ``0 ≤ x ≤ 2¹⁴ − 1``.
* ``hmi_linear`` with ``limit`` 3000 G (Park et al. 2019; Jeong et al. 2020, 2022) or 100 G
  (Kim et al. 2019): ``y = clip(B, −L, L) / L``; inverse ``B = L·y``. Registered as
  ``hmi_3000`` and ``hmi_100`` too.
* ``euv_median_log10`` (Jeong et al. 2020, 2022): ``r = 100·x / median_disk(x)``,
  ``y = 2·log10(clip(r, 1, 200)) / log10(200) − 1``; inverse ``x = 200^((y+1)/2)·median/100``.
  The logarithm is taken *before* the map to [−1, 1] (the seed's 2022 ``Pipeline.py`` maps first
  and takes ``log10`` of negative numbers: NaN below mid-range). Missing pixels (NaN, e.g. off
  the disk) become −1, the value of ``r = 1``.

Functions work on NumPy or CuPy arrays (:func:`aia_log2`, …) and on xarray objects
(:func:`scale`, :func:`unscale`). On xarray objects the ``units`` attribute is checked (``DN``-based
for AIA, convertible to G for HMI, any for the EUV ratio), the scaled variable gets
``units = ""`` and the attributes ``scaling``, ``scaling_params`` (JSON), ``physical_units`` and
``physical_long_name``, and the EUV disk medians are kept as a coordinate
``<variable>_scaling_median`` along ``time``, so that :func:`unscale` needs nothing else.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from typing import Any, overload

import numpy as np
import xarray as xr

from solarprep.backend import array_of, is_cupy, to_host
from solarprep.dataset import append_history
from solarprep.errors import ScalingError  # noqa: F401 (re-exported)
from solarprep.parallel.blocks import is_chunked

__all__ = [ "Scaling", "SCALINGS", "aia_log2", "aia_log2_inverse", "hmi_linear",
           "hmi_linear_inverse", "euv_median_log10", "euv_median_log10_inverse", "disk_median",
           "scale", "unscale", "get_scaling"]

log = logging.getLogger(__name__)


def _xp(x):
    if is_cupy(x):
        import cupy

        return cupy
    return np


# --------------------------------------------------------------------------- array functions


def aia_log2(x: Any, *, log2_max: float = 14.0) -> Any:
    """AIA intensity → [−1, 1]: ``y = 2·log2(clip(x + 1, 1, 2^log2_max)) / log2_max − 1``.

    Park et al. (2019, ApJL 884, L23), ``utils.py``: ``log2((x + 1).clip(1, 2**14))``, 0…14 → [−1, 1].
    Values below 0 map to −1, values above ``2^log2_max − 1`` to +1. NaN stays NaN.
    """
    xp = _xp(x)
    x = xp.asarray(x, dtype=xp.float32)
    return (2.0 * xp.log2(xp.clip(x + 1.0, 1.0, 2.0 ** log2_max)) / log2_max - 1.0).astype(
        xp.float32)


def aia_log2_inverse(y: Any, *, log2_max: float = 14.0) -> Any:
    """Inverse of :func:`aia_log2`: ``x = 2^(log2_max (y + 1) / 2) − 1`` (same units as the input)."""
    xp = _xp(y)
    y = xp.asarray(y, dtype=xp.float64)
    return (xp.exp2(log2_max * (y + 1.0) / 2.0) - 1.0).astype(xp.float32)


def hmi_linear(b: Any, *, limit: float = 3000.0) -> Any:
    """Magnetic field (G) → [−1, 1]: ``y = clip(B, −L, L) / L`` (L = 3000 G or 100 G)."""
    xp = _xp(b)
    b = xp.asarray(b, dtype=xp.float32)
    return (xp.clip(b, -limit, limit) / limit).astype(xp.float32)


def hmi_linear_inverse(y: Any, *, limit: float = 3000.0) -> Any:
    """Inverse of :func:`hmi_linear`: ``B = L·y`` in gauss (saturated values stay at ±L)."""
    xp = _xp(y)
    return (xp.asarray(y, dtype=xp.float32) * limit).astype(xp.float32)


def disk_median(x: Any, on_disk: Any = None) -> Any:
    """Median of each frame over ``on_disk`` pixels (all finite pixels when None).

    ``x`` is (..., y, x); the result has the leading shape. NaNs are ignored.
    """
    xp = _xp(x)
    x = xp.asarray(x, dtype=xp.float64)
    if on_disk is not None:
        x = xp.where(xp.asarray(on_disk, dtype=bool), x, xp.nan)
    flat = x.reshape(x.shape[:-2] + (-1,))
    return xp.nanmedian(flat, axis=-1)


def euv_median_log10(x: Any, median: Any, *, ratio_scale: float = 100.0, ratio_max: float = 200.0,
                     nan_value: float = -1.0) -> Any:
    """EUV intensity → [−1, 1] relative to the on-disk median (Jeong et al. 2020, 2022).

    ``r = ratio_scale·x / median``, ``y = 2·log10(clip(r, 1, ratio_max)) / log10(ratio_max) − 1``.
    ``median`` broadcasts against the leading axes of ``x`` (one value per frame). NaN pixels
    get ``nan_value`` (−1, the value of ``r = 1``).
    """
    xp = _xp(x)
    x = xp.asarray(x, dtype=xp.float64)
    checked = to_host(median) if is_cupy(median) else np.asarray(median, dtype=np.float64)
    if (~(checked > 0)).any():  # checked on the host (one small read for a device median)
        raise ScalingError(f"euv_median_log10: the disk median must be positive, got {checked!r}; "
                           "check that the image is an EUV intensity and the disk mask is right")
    med = xp.asarray(median, dtype=xp.float64)
    med = med.reshape(med.shape + (1,) * (x.ndim - med.ndim))
    r = ratio_scale * x / med
    y = 2.0 * xp.log10(xp.clip(r, 1.0, ratio_max)) / math.log10(ratio_max) - 1.0
    return xp.where(xp.isnan(y), nan_value, y).astype(xp.float32)


def euv_median_log10_inverse(y: Any, median: Any, *, ratio_scale: float = 100.0,
                             ratio_max: float = 200.0) -> Any:
    """Inverse of :func:`euv_median_log10`: ``x = ratio_max^((y + 1)/2) · median / ratio_scale``."""
    xp = _xp(y)
    y = xp.asarray(y, dtype=xp.float64)
    med = xp.asarray(median, dtype=xp.float64)
    med = med.reshape(med.shape + (1,) * (y.ndim - med.ndim))
    return (ratio_max ** ((y + 1.0) / 2.0) * med / ratio_scale).astype(xp.float32)


# --------------------------------------------------------------------------- registry

@dataclasses.dataclass(frozen=True)
class Scaling:
    """A named scaling: forward/inverse functions, default parameters and the unit it expects.

    ``unit_kind`` is ``"DN"`` (a unit built on DN: DN, DN/s, …), ``"G"`` (convertible to gauss;
    the data are converted) or ``"any"``.
    """

    name: str
    forward: object
    inverse: object
    params: dict
    unit_kind: str
    needs_median: bool = False
    description: str = ""


SCALINGS = {
    "aia_log2": Scaling("aia_log2", aia_log2, aia_log2_inverse, {"log2_max": 14.0}, "DN",
                        description="log2(x + 1) clipped to 0–14 → [−1, 1] (Park et al. 2019)"),
    "hmi_linear": Scaling("hmi_linear", hmi_linear, hmi_linear_inverse, {"limit": 3000.0}, "G",
                          description="B clipped to ±limit G → [−1, 1]"),
    "hmi_3000": Scaling("hmi_3000", hmi_linear, hmi_linear_inverse, {"limit": 3000.0}, "G",
                        description="B clipped to ±3000 G → [−1, 1] (Park 2019; Jeong 2020)"),
    "hmi_100": Scaling("hmi_100", hmi_linear, hmi_linear_inverse, {"limit": 100.0}, "G",
                       description="B clipped to ±100 G → [−1, 1] (Kim et al. 2019)"),
    "euv_median_log10": Scaling(
        "euv_median_log10", euv_median_log10, euv_median_log10_inverse,
        {"ratio_scale": 100.0, "ratio_max": 200.0}, "any", needs_median=True,
        description="100·x/disk median, log10 of 1–200 → [−1, 1] (Jeong et al. 2020)"),
}


def get_scaling(name: str) -> Scaling:
    """The :class:`Scaling` registered as ``name``."""
    try:
        return SCALINGS[name]
    except KeyError:
        raise ScalingError(f"unknown scaling {name!r}; known scalings: {sorted(SCALINGS)}") \
            from None


# --------------------------------------------------------------------------- xarray layer

def _unit_factor(da, kind, name):
    """Factor converting ``da``'s values to the unit the scaling expects (checks the units)."""
    import astropy.units as u

    text = da.attrs.get("units")
    if text is None:
        raise ScalingError(f"variable {da.name!r} has no 'units' attribute; scaling {name!r} "
                           "needs to know the physical units (set da.attrs['units'])")
    try:
        unit = u.Unit(text, parse_strict="raise")
    except ValueError:
        raise ScalingError(f"variable {da.name!r} has units {text!r}, which astropy cannot "
                           "parse") from None
    if kind == "G":
        try:
            return unit.to(u.G)
        except u.UnitConversionError:
            raise ScalingError(f"scaling {name!r} needs a magnetic field convertible to G; "
                               f"variable {da.name!r} is in {text!r}") from None
    if kind == "DN" and u.Unit("DN") not in unit.bases:
        raise ScalingError(f"scaling {name!r} is for AIA intensities in DN (DN, DN / s); "
                           f"variable {da.name!r} is in {text!r}")
    return 1.0


def _pick(obj, variable):
    if hasattr(obj, "data_vars"):
        if variable is None:
            names = [n for n, v in obj.data_vars.items() if {"y", "x"} <= set(v.dims)]
            if len(names) != 1:
                raise ScalingError(f"the Dataset has image variables {names}; name the one to "
                                   "scale with variable=")
            variable = names[0]
        if variable not in obj.data_vars:
            raise ScalingError(f"variable {variable!r} is not in the Dataset "
                               f"({list(obj.data_vars)})")
        return obj[variable], variable
    return obj, obj.name


def _median_forward(x, mask=None, frames=None, *, scaling, params):
    """Scale frames by their own disk median: ``(scaled, median)``."""
    med = disk_median(x, mask)
    return get_scaling(scaling).forward(x, med, **params), med


def _median_inverse(y, median, frames=None, *, scaling, params):
    return get_scaling(scaling).inverse(y, median, **params)


def _chunked(func, da, per_frame, *, scaling, params, n_out=1):
    """``func`` on every block of frames of a chunked ``(time, ..., y, x)`` DataArray."""
    from solarprep.parallel.blocks import map_frames

    if da.dims[0] != "time":
        raise ScalingError(f"a chunked variable must have 'time' first to be scaled frame by "
                           f"frame, not dims {da.dims}")
    args = [da] if per_frame is None else [da, per_frame if hasattr(per_frame, "dims") else
                                           xr.DataArray(per_frame, dims=da.dims[-2:])]
    core = list(da.dims[1:])
    out = map_frames(func, *args, output_core_dims=[core, []][:n_out],
                     output_dtypes=[np.float32, np.float64][:n_out],
                     kwargs={"scaling": scaling, "params": params})
    return tuple(o.data for o in out) if n_out > 1 else out.data


@overload
def scale(obj: xr.Dataset, scaling: str, *, variable: str | None = ..., on_disk: Any = ...,
          **params: float) -> xr.Dataset: ...


@overload
def scale(obj: xr.DataArray, scaling: str, *, variable: str | None = ..., on_disk: Any = ...,
          **params: float) -> xr.DataArray: ...


def scale(obj: xr.Dataset | xr.DataArray, scaling: str, *, variable: str | None = None,
          on_disk: Any = None, **params: float) -> xr.Dataset | xr.DataArray:
    """Apply a named scaling to an xarray DataArray or one variable of a Dataset.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Data with a ``units`` attribute (dims ``(..., y, x)``).
    scaling : str
        A name of :data:`SCALINGS`.
    variable : str, optional
        Variable of a Dataset (default: its only image variable).
    on_disk : array or xarray.DataArray of bool, optional
        For ``euv_median_log10``: pixels of the disk median (default: the ``on_disk``
        coordinate when present, else the disk computed from a solar Dataset's geometry,
        else every finite pixel).
    **params
        Overrides of the scaling's parameters (``limit=``, ``log2_max=``, …).

    Returns
    -------
    Same type as ``obj``; the variable is scaled (float32, ``units=""``) with the attributes
    :func:`unscale` needs.
    """
    import xarray as xr

    spec = get_scaling(scaling)
    da, name = _pick(obj, variable)
    if da.attrs.get("scaling"):
        raise ScalingError(f"variable {name!r} is already scaled with {da.attrs['scaling']!r}; "
                           "unscale it first")
    unknown = set(params) - set(spec.params)
    if unknown:
        raise ScalingError(f"scaling {scaling!r} has parameters {sorted(spec.params)}, "
                           f"not {sorted(unknown)}")
    p = {**spec.params, **params}
    factor = _unit_factor(da, spec.unit_kind, scaling)
    data = da.data * factor if factor != 1.0 else da.data
    coords = {}
    if spec.needs_median:
        mask = on_disk
        if mask is None and "on_disk" in da.coords:
            mask = da.coords["on_disk"]
        elif mask is None and hasattr(obj, "data_vars") and "crpix1" in obj.coords:
            from solarprep.coordinates.geometry import disk_coordinates

            mask = disk_coordinates(obj)["on_disk"]    # the seeds' disk median, where the data are
        if is_chunked(da):
            out, med = _chunked(_median_forward, da.copy(data=data), mask, scaling=scaling,
                                params=p, n_out=2)
        else:  # the per-frame medians: one read, a host coordinate
            med = to_host(disk_median(data, array_of(mask))).astype(np.float64)
            out = spec.forward(data, med, **p)
        lead = da.dims[:-2]
        coords[f"{name}_scaling_median"] = (lead, med,
                                           {"units": da.attrs["units"],
                                            "long_name": f"on-disk median of {name}"})
    elif is_chunked(da):
        out = data.map_blocks(spec.forward, dtype=np.float32, **p)  # pixel by pixel
    else:
        out = spec.forward(data, **p)
    attrs = {k: v for k, v in da.attrs.items() if k not in ("units", "long_name")}
    attrs.update(units="", long_name=f"{da.attrs.get('long_name', name)} ({scaling} scaled)",
                 scaling=scaling, scaling_params=json.dumps(p),
                 physical_units=str(da.attrs["units"]) if spec.unit_kind != "G" else "G",
                 physical_long_name=da.attrs.get("long_name", name))
    new = xr.DataArray(out, dims=da.dims, coords=da.coords, attrs=attrs, name=name)
    if coords:
        new = new.assign_coords(coords)
    if hasattr(obj, "data_vars"):
        result = obj.assign({name: new})
        return append_history(result, f"scale({name!r}, {scaling!r}, {json.dumps(p)})")
    return new


@overload
def unscale(obj: xr.Dataset, *, variable: str | None = ...) -> xr.Dataset: ...


@overload
def unscale(obj: xr.DataArray, *, variable: str | None = ...) -> xr.DataArray: ...


def unscale(obj: xr.Dataset | xr.DataArray, *, variable: str | None = None
            ) -> xr.Dataset | xr.DataArray:
    """Invert :func:`scale`: back to physical units, with the original ``units``/``long_name``.

    Works on anything :func:`scale` returned, and on network outputs placed in a copy of it
    (same attributes and median coordinate).
    """
    import xarray as xr

    da, name = _pick(obj, variable)
    scaling = da.attrs.get("scaling")
    if not scaling:
        raise ScalingError(f"variable {name!r} carries no 'scaling' attribute: it was not made "
                           "by solarprep.datasets.scalings.scale")
    spec = get_scaling(scaling)
    p = json.loads(da.attrs.get("scaling_params", "{}"))
    if spec.needs_median:
        key = f"{name}_scaling_median"
        if key not in da.coords:
            raise ScalingError(f"variable {name!r} lacks the coordinate {key!r} with the disk "
                               "medians that euv_median_log10 needs to invert")
        if is_chunked(da):
            out = _chunked(_median_inverse, da, da.coords[key], scaling=scaling, params=p)
        else:
            out = _median_inverse(da.data, da.coords[key].data, scaling=scaling, params=p)
    elif is_chunked(da):
        out = da.data.map_blocks(spec.inverse, dtype=np.float32, **p)  # pixel by pixel
    else:
        out = spec.inverse(da.data, **p)
    attrs = {k: v for k, v in da.attrs.items()
             if k not in ("scaling", "scaling_params", "physical_units", "physical_long_name")}
    attrs.update(units=da.attrs.get("physical_units", ""),
                 long_name=da.attrs.get("physical_long_name", name))
    new = xr.DataArray(out, dims=da.dims, coords=da.coords, attrs=attrs, name=name)
    drop = [c for c in new.coords if c == f"{name}_scaling_median"]
    new = new.drop_vars(drop)
    if hasattr(obj, "data_vars"):
        result = obj.drop_vars(drop).assign({name: new})
        return append_history(result, f"unscale({name!r}, {scaling!r})")
    return new
