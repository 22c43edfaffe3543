"""Split-aware normalisation: statistics from the training split only, applied everywhere.

The light-curve seed z-scores its brightness with the mean and standard
deviation of *all* files, so validation and test data leak into the model's
inputs. Here the statistics are fitted on the samples of one split and stored
(:class:`NormStats`, serialisable to a dict or Dataset attributes), then applied
to, or inverted on, any split:

.. code-block:: python

    stats = fit_zscore(lc, split_mask=lc.split == "train")   # or split coordinate
    z = apply(lc, stats)                                        # every split
    back = invert(z, stats)

z-score: ``z = (x − mean)/std`` (population std, ``ddof=0`` unless asked);
min-max: ``z = (x − min)/(max − min)`` ∈ [0, 1] on the training split. NaNs are
ignored when fitting and kept when applying. Statistics are never fitted on a chunked
(dask) Dataset (:class:`~solarprep.errors.ChunkingError`): fit them on an in-memory sample
and :func:`apply` them, lazily, to the chunked data.
"""
import dataclasses
import json
import logging

import numpy as np
import xarray as xr

from solarprep.errors import NormalizationError  # noqa: F401 (re-exported)
from solarprep.parallel.blocks import require_explicit

__all__ = ["NormStats", "NormalizationError", "fit_zscore", "fit_minmax", "apply", "invert"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NormStats:
    """Normalisation statistics fitted on one split.

    Attributes
    ----------
    method : {"zscore", "minmax"}
    center : dict
        Variable name (``"__array__"`` for arrays) → mean or minimum (float or
        nested list when statistics are kept per element of some dims).
    scale : dict
        Variable name → standard deviation or (maximum − minimum).
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

    def to_dict(self):
        """A JSON-serialisable dict (e.g. for ``ds.attrs["norm_stats"] = json.dumps(...)``)."""
        return {"method": self.method, "center": self.center, "scale": self.scale,
                "keep": list(self.keep), "n_samples": self.n_samples}

    def to_json(self):
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d):
        if isinstance(d, str):
            d = json.loads(d)
        return cls(d["method"], dict(d["center"]), dict(d["scale"]), tuple(d.get("keep", ())),
                   int(d.get("n_samples", 0)))


def _train_mask(data, split_mask, dim, split):
    """Boolean mask along the sample dim (numpy), from a mask, labels or a ``split`` coord."""
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
        mask = np.asarray(getattr(split_mask, "values", split_mask))
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


def _stats_of(values, method, ddof):
    with np.errstate(all="ignore"):
        if method == "zscore":
            center = np.nanmean(values, axis=0)
            scale = np.nanstd(values, axis=0, ddof=ddof)
        else:
            center = np.nanmin(values, axis=0)
            scale = np.nanmax(values, axis=0) - center
    return center, scale


def _fit(data, split_mask, method, *, dim, split, keep, ddof):
    if isinstance(data, (xr.Dataset, xr.DataArray)):
        require_explicit(data, f"{method} statistics of the training split",
                         "fit them on an in-memory sample, stats = fit_zscore(ds.isel(time=...)"
                         ".compute(), ...), then normalise lazily with apply(ds, stats)")
    mask = _train_mask(data, split_mask, dim, split)
    center, scale = {}, {}
    for name, var in _variables(data).items():
        if isinstance(var, xr.DataArray):
            if dim not in var.dims:
                continue
            kept = [d for d in keep if d in var.dims]
            train = var.isel({dim: np.flatnonzero(mask)})
            other = [d for d in train.dims if d not in kept]
            arr = np.asarray(train.transpose(*other, *kept).values, dtype=np.float64)
            arr = arr.reshape(-1, *arr.shape[len(other):])
        else:
            arr = np.asarray(var, dtype=np.float64)[mask]
            axes = [a for a in keep]
            arr = np.moveaxis(arr, [0, *axes], list(range(1 + len(axes))))
            arr = arr.reshape(-1, *arr.shape[arr.ndim - len(axes):]) if axes else arr.reshape(-1)
        c, s = _stats_of(arr, method, ddof)
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


def fit_zscore(data, split_mask=None, *, dim="time", split="train", keep=(), ddof=0):
    """Mean and standard deviation of ``data`` over the training samples only.

    Parameters
    ----------
    data : xarray.Dataset, xarray.DataArray or array
        Samples along ``dim`` (arrays: along axis 0).
    split_mask : array of bool or of split labels, optional
        True (or the label ``split``) for the samples to fit on; default: the
        ``split`` coordinate of ``data`` equal to ``split``. ``"all"`` fits on
        every sample (say so explicitly: it leaks evaluation data).
    dim : str
        The sample dimension of xarray input.
    split : str
        Label of the training split.
    keep : tuple
        Dims (xarray) or axes (arrays, ≥ 1) along which separate statistics are
        kept (e.g. ``("channel",)``); default: one mean/std per variable.
    ddof : int
        Delta degrees of freedom of the standard deviation.

    Returns
    -------
    NormStats
    """
    return _fit(data, split_mask, "zscore", dim=dim, split=split, keep=keep, ddof=ddof)


def fit_minmax(data, split_mask=None, *, dim="time", split="train", keep=()):
    """Minimum and range of ``data`` over the training samples only (see :func:`fit_zscore`)."""
    return _fit(data, split_mask, "minmax", dim=dim, split=split, keep=keep, ddof=0)


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


def _broadcastable(stat, var, keep):
    stat = np.asarray(stat, dtype=np.float64)
    if stat.ndim == 0:
        return stat
    if isinstance(var, xr.DataArray):
        kept = [d for d in keep if d in var.dims]
        return xr.DataArray(stat, dims=kept)
    shape = [1] * np.ndim(var)
    for axis, size in zip(keep, stat.shape):
        shape[axis] = size
    return stat.reshape(shape)


def _transform_one(var, stats, name, forward):
    c = _broadcastable(stats.center[name], var, stats.keep)
    s = _broadcastable(stats.scale[name], var, stats.keep)
    if type(var).__module__.startswith("torch"):
        import torch

        c = torch.as_tensor(np.asarray(c), dtype=var.dtype, device=var.device)
        s = torch.as_tensor(np.asarray(s), dtype=var.dtype, device=var.device)
        return (var - c) / s if forward else var * s + c
    if isinstance(var, xr.DataArray):
        out = (var - c) / s if forward else var * s + c
        out = out.astype(var.dtype)
        out.attrs = dict(var.attrs)
        if forward:
            out.attrs["original_units"] = var.attrs.get("units", "")
            out.attrs["units"] = ""
            out.attrs["normalization"] = stats.method
        else:
            out.attrs.pop("normalization", None)
            if "original_units" in out.attrs:
                out.attrs["units"] = out.attrs.pop("original_units")
        return out.transpose(*var.dims)
    arr = np.asarray(var)
    out = (arr - c) / s if forward else arr * s + c
    return out.astype(arr.dtype) if arr.dtype.kind == "f" else out


def apply(data, stats):
    """Normalise ``data`` (any split) with statistics from :func:`fit_zscore`/:func:`fit_minmax`."""
    return _transform(data, stats, True)


def invert(data, stats):
    """Undo :func:`apply`: ``x = z·scale + center`` (xarray units restored)."""
    return _transform(data, stats, False)
