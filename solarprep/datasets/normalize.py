"""Split-aware normalisation: statistics from the training split only, applied everywhere.

The one normalisation of the project's dataset builders (the SOLARED model-ready builder, the
light-curve → video windows, the GOES-class flare images). Statistics are fitted on the samples
of one split and stored (:class:`NormStats`, serialisable to a dict or Dataset attributes), then
applied to, or inverted on, any split:

.. code-block:: python

    stats = fit_zscore(lc, split_mask=lc.split == "train")   # or the split coordinate
    z = apply(lc, stats)                                        # every split
    back = invert(z, stats)

Methods, all ``z = (x − center) / scale`` with statistics of the training samples only:

* ``"zscore"``: center = mean, scale = standard deviation (population, ``ddof=0`` unless asked);
* ``"minmax"``: center = minimum, scale = maximum − minimum, so the training data span [0, 1];
* ``"peak"``: center = 0, scale = maximum (``x / x_max``; the video seed's frames);
* ``"percentile"``: center = the ``lo`` percentile, scale = ``hi`` − ``lo`` percentile
  (robust min-max; the flare images, on ``log10`` intensities).

NaNs are ignored when fitting and kept when applying. The light-curve seed z-scores with the
statistics of *all* files, so validation and test data leak into the model's inputs; the
SOLARED seed normalises each active region by its own min-max (test statistics leak too).

Device-agnostic: NumPy and CuPy arrays (bare or inside xarray objects) are reduced and
transformed with the array module of the input (``cupy`` for CuPy data: nothing is copied to
the host but the fitted statistics, a few numbers); torch tensors are transformed on their
device.

Statistics are never fitted on a chunked (dask) Dataset
(:class:`~solarprep.errors.ChunkingError`): fit them on an in-memory sample and
:func:`apply` them, lazily, to the chunked data.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from solarprep.backend import is_cupy
from solarprep.errors import NormalizationError  # noqa: F401 (re-exported)
from solarprep.parallel.blocks import require_explicit

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import ModuleType

__all__ = ["NormStats", "METHODS", "fit", "fit_zscore", "fit_minmax", "fit_peak",
           "fit_percentile", "apply", "invert", "array_module"]

log = logging.getLogger(__name__)

#: The normalisation methods (see the module docstring).
METHODS = ("zscore", "minmax", "peak", "percentile")


def array_module(array: Any) -> ModuleType:
    """``cupy`` for a CuPy array (or an xarray object holding one), else ``numpy``."""
    data = array.data if isinstance(array, (xr.DataArray, xr.Variable)) else array
    if is_cupy(data):
        import cupy

        return cupy
    return np


def _host(a):
    """Small statistics to host floats (``.get()`` for CuPy)."""
    return np.asarray(a.get() if is_cupy(a) else a, dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class NormStats:
    """Normalisation statistics fitted on one split.

    Attributes
    ----------
    method : {"zscore", "minmax", "peak", "percentile"}
    center : dict
        Variable name (``"__array__"`` for arrays) → mean, minimum, 0 or low percentile (float
        or nested list when statistics are kept per element of some dims).
    scale : dict
        Variable name → standard deviation, range, maximum or percentile range.
    keep : tuple of str or int
        Dims (xarray) or axes (arrays) along which separate statistics were kept.
    n_samples : int
        Number of samples (entries along the sample dim) used for the fit.
    """

    method: str
    center: dict
    scale: dict
    keep: tuple = ()
    n_samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (e.g. for ``ds.attrs["norm_stats"] = json.dumps(...)``)."""
        return {"method": self.method, "center": self.center, "scale": self.scale,
                "keep": list(self.keep), "n_samples": self.n_samples}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str) -> NormStats:
        if isinstance(d, str):
            d = json.loads(d)
        return cls(d["method"], dict(d["center"]), dict(d["scale"]), tuple(d.get("keep", ())),
                   int(d.get("n_samples", 0)))

    def center_of(self, name: str = "__array__") -> np.ndarray:
        """The center of variable ``name`` as a float64 array (shape of the kept dims)."""
        return np.asarray(self.center[name], np.float64)

    def scale_of(self, name: str = "__array__") -> np.ndarray:
        """The scale of variable ``name`` as a float64 array (shape of the kept dims)."""
        return np.asarray(self.scale[name], np.float64)


def _train_mask(data, split_mask, dim, split):
    """Boolean mask along the sample dim (NumPy), from a mask, labels or a ``split`` coord."""
    n = data.sizes[dim] if isinstance(data, (xr.Dataset, xr.DataArray)) else np.shape(data)[0]
    if isinstance(split_mask, str) and split_mask == "all":
        return np.ones(n, dtype=bool)
    if split_mask is None:
        if isinstance(data, (xr.Dataset, xr.DataArray)) and "split" in data.coords:
            mask = np.asarray(data.coords["split"].values) == split
        else:
            raise NormalizationError(
                "no split given: pass split_mask (True for the training samples), or a Dataset "
                "with a 'split' coordinate; split_mask='all' uses every sample (only for data "
                "that will never be evaluated)")
    else:
        mask = getattr(split_mask, "values", split_mask)
        mask = _host(mask) if is_cupy(mask) else np.asarray(mask)
        if mask.dtype.kind in "UO":
            mask = mask == split
        mask = mask.astype(bool)
    if mask.shape != (n,):
        raise NormalizationError(f"split_mask has shape {mask.shape}, expected ({n},) along "
                                 f"the sample dimension {dim!r}")
    if not mask.any():
        raise NormalizationError(f"the split {split!r} selects no sample: nothing to fit on")
    return mask


def _variables(data):
    if isinstance(data, xr.Dataset):
        return {name: data[name] for name, v in data.data_vars.items()
                if np.issubdtype(v.dtype, np.number)}
    return {"__array__": data}


def _stats_of(values, method, ddof, percentiles):
    """Center and scale over axis 0 of ``values`` with the array module of ``values``."""
    xp = array_module(values)
    with np.errstate(all="ignore"):
        if method == "zscore":
            center = xp.nanmean(values, axis=0)
            scale = xp.nanstd(values, axis=0, ddof=ddof)
        elif method == "minmax":
            center = xp.nanmin(values, axis=0)
            scale = xp.nanmax(values, axis=0) - center
        elif method == "peak":
            scale = xp.nanmax(values, axis=0)
            center = xp.zeros_like(scale)
        else:
            lo, hi = xp.nanpercentile(values, list(percentiles), axis=0)
            center, scale = lo, hi - lo
    return _host(center), _host(scale)


def _training_values(var, mask, dim, keep):
    """Training samples of ``var`` as ``(n, *kept)`` float64, on the device of the data."""
    if isinstance(var, xr.DataArray):
        kept = [d for d in keep if d in var.dims]
        train = var.isel({dim: np.flatnonzero(mask)})
        other = [d for d in train.dims if d not in kept]
        arr = train.transpose(*other, *kept).data
        xp = array_module(arr)
        arr = xp.asarray(arr, dtype=xp.float64)
        return arr.reshape(-1, *arr.shape[len(other):])
    xp = array_module(var)
    arr = xp.asarray(var, dtype=xp.float64)[xp.asarray(mask)]
    axes = list(keep)
    arr = xp.moveaxis(arr, [0, *axes], list(range(1 + len(axes))))
    return arr.reshape(-1, *arr.shape[arr.ndim - len(axes):]) if axes else arr.reshape(-1)


def fit(data: Any, method: str, split_mask: Any = None, *, dim: str = "time", split: str = "train",
        keep: Sequence[str | int] = (), ddof: int = 0,
        percentiles: tuple[float, float] = (0.5, 99.9)) -> NormStats:
    """Fit the statistics of ``method`` (one of :data:`METHODS`) on the training samples.

    Parameters
    ----------
    data : xarray.Dataset, xarray.DataArray or array (NumPy or CuPy)
        Samples along ``dim`` (arrays: along axis 0).
    method : str
        ``"zscore"``, ``"minmax"``, ``"peak"`` or ``"percentile"`` (module docstring).
    split_mask : array of bool or of split labels, optional
        True (or the label ``split``) for the samples to fit on; default: the ``split``
        coordinate of ``data`` equal to ``split``. ``"all"`` fits on every sample (say so
        explicitly: it leaks evaluation data).
    dim : str
        The sample dimension of xarray input.
    split : str
        Label of the training split.
    keep : tuple
        Dims (xarray) or axes (arrays, ≥ 1) along which separate statistics are kept (e.g.
        ``("channel",)``); default: one center/scale per variable.
    ddof : int
        Delta degrees of freedom of the standard deviation (``"zscore"``).
    percentiles : (float, float)
        Low and high percentiles (``"percentile"``), in per cent.

    Returns
    -------
    NormStats

    Raises
    ------
    NormalizationError
        No training sample, a variable without finite values, or a zero scale.
    """
    if method not in METHODS:
        raise NormalizationError(f"unknown normalisation {method!r}; use one of {METHODS}")
    if isinstance(data, (xr.Dataset, xr.DataArray)):
        require_explicit(data, f"{method} statistics of the training split",
                         "fit them on an in-memory sample, stats = fit(ds.isel(time=...)"
                         ".compute(), ...), then normalise lazily with apply(ds, stats)")
    mask = _train_mask(data, split_mask, dim, split)
    center, scale = {}, {}
    for name, var in _variables(data).items():
        if isinstance(var, xr.DataArray) and dim not in var.dims:
            continue
        c, s = _stats_of(_training_values(var, mask, dim, keep), method, ddof, percentiles)
        if not np.all(np.isfinite(c)) or not np.all(np.isfinite(s)):
            raise NormalizationError(f"variable {name!r} has no finite value in the split")
        if np.any(s == 0):
            raise NormalizationError(
                f"variable {name!r} is constant on the split ({method} scale 0): it cannot be "
                "normalised; drop it or keep statistics over fewer dims")
        center[name] = c.tolist()
        scale[name] = s.tolist()
    if not center:
        raise NormalizationError(f"no numeric variable along {dim!r} to normalise")
    return NormStats(method, center, scale, tuple(keep), int(mask.sum()))


def fit_zscore(data: Any, split_mask: Any = None, *, dim: str = "time", split: str = "train",
               keep: Sequence[str | int] = (), ddof: int = 0) -> NormStats:
    """Mean and standard deviation of ``data`` over the training samples only (see :func:`fit`)."""
    return fit(data, "zscore", split_mask, dim=dim, split=split, keep=keep, ddof=ddof)


def fit_minmax(data: Any, split_mask: Any = None, *, dim: str = "time", split: str = "train",
               keep: Sequence[str | int] = ()) -> NormStats:
    """Minimum and range of ``data`` over the training samples only (see :func:`fit`)."""
    return fit(data, "minmax", split_mask, dim=dim, split=split, keep=keep)


def fit_peak(data: Any, split_mask: Any = None, *, dim: str = "time", split: str = "train",
             keep: Sequence[str | int] = ()) -> NormStats:
    """Largest training value as the scale, zero center: ``z = x / x_max`` (see :func:`fit`)."""
    return fit(data, "peak", split_mask, dim=dim, split=split, keep=keep)


def fit_percentile(data: Any, split_mask: Any = None, *, dim: str = "time", split: str = "train",
                   keep: Sequence[str | int] = (),
                   percentiles: tuple[float, float] = (0.5, 99.9)) -> NormStats:
    """Robust min-max: ``z = (x − P_lo)/(P_hi − P_lo)`` with training percentiles (see :func:`fit`)."""
    return fit(data, "percentile", split_mask, dim=dim, split=split, keep=keep,
               percentiles=percentiles)


def _transform(data, stats, forward):
    if isinstance(data, xr.Dataset):
        out = data.copy()
        for name in stats.center:
            if name not in data:
                raise NormalizationError(
                    f"variable {name!r} of the statistics is not in the Dataset")
            out[name] = _transform_one(data[name], stats, name, forward)
        return out
    key = "__array__" if "__array__" in stats.center else None
    if key is None:
        if isinstance(data, xr.DataArray) and data.name in stats.center:
            key = data.name
        else:
            raise NormalizationError("these statistics were fitted on a Dataset: pass a Dataset "
                                     "or one of its variables by name")
    return _transform_one(data, stats, key, forward)


def _broadcast_shape(stat, dims_or_ndim, keep):
    """``stat`` (axes in the order of the kept dims) reshaped to broadcast against the data."""
    if stat.ndim == 0:
        return stat
    if isinstance(dims_or_ndim, tuple):                 # xarray dims
        kept = [d for d in keep if d in dims_or_ndim]
        order = sorted(range(len(kept)), key=lambda i: dims_or_ndim.index(kept[i]))
        stat = stat.transpose(order)
        shape = [stat.shape[order.index(kept.index(d))] if d in kept else 1
                 for d in dims_or_ndim]
        return stat.reshape(shape)
    shape = [1] * dims_or_ndim
    for axis, size in zip(keep, stat.shape):
        shape[axis] = size
    return stat.reshape(shape)


def _affine(arr, c, s, forward):
    return (arr - c) / s if forward else arr * s + c


def _transform_one(var, stats, name, forward):
    c = stats.center_of(name)
    s = stats.scale_of(name)
    if type(var).__module__.startswith("torch"):
        import torch

        c = torch.as_tensor(_broadcast_shape(c, var.ndim, stats.keep), dtype=var.dtype,
                            device=var.device)
        s = torch.as_tensor(_broadcast_shape(s, var.ndim, stats.keep), dtype=var.dtype,
                            device=var.device)
        return _affine(var, c, s, forward)
    if isinstance(var, xr.DataArray):
        data = var.data
        xp = array_module(data)
        dtype = data.dtype if data.dtype.kind == "f" else np.float64
        cc = xp.asarray(_broadcast_shape(c, var.dims, stats.keep), dtype=np.float64)
        ss = xp.asarray(_broadcast_shape(s, var.dims, stats.keep), dtype=np.float64)
        out = var.copy(data=_affine(data, cc, ss, forward).astype(dtype))
        out.attrs = dict(var.attrs)
        if forward:
            out.attrs["original_units"] = var.attrs.get("units", "")
            out.attrs["units"] = ""
            out.attrs["normalization"] = stats.method
        else:
            out.attrs.pop("normalization", None)
            if "original_units" in out.attrs:
                out.attrs["units"] = out.attrs.pop("original_units")
        return out
    xp = array_module(var)
    arr = xp.asarray(var)
    cc = xp.asarray(_broadcast_shape(c, arr.ndim, stats.keep))
    ss = xp.asarray(_broadcast_shape(s, arr.ndim, stats.keep))
    out = _affine(arr, cc, ss, forward)
    return out.astype(arr.dtype) if arr.dtype.kind == "f" else out


def apply(data: Any, stats: NormStats) -> Any:
    """Normalise ``data`` (any split) with statistics from :func:`fit`: ``z = (x − center)/scale``.

    Works on xarray objects (units moved to ``original_units``, ``normalization`` recorded),
    NumPy or CuPy arrays (on their device) and torch tensors (on theirs).
    """
    return _transform(data, stats, True)


def invert(data: Any, stats: NormStats) -> Any:
    """Undo :func:`apply`: ``x = z·scale + center`` (xarray units restored)."""
    return _transform(data, stats, False)
