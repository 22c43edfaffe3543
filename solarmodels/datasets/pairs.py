"""Image pairs for translation models, read lazily from solarprep netCDF / zarr Datasets.

:class:`PairDataset` serves ``{"input": (C_in, H, W), "target": (C_out, H, W), "mask": (1, H, W),
"index": int}`` float32 samples from named variables of a solar Dataset (docs/dataset.md): each
variable has dims ``(sample_dim, y, x)`` (``sample_dim`` is usually ``time``) or ``(sample_dim,
channel, y, x)``; variables are stacked along the channel axis in the order given.

* **Lazy**: a file is opened with ``xarray.open_dataset`` (h5netcdf or zarr) and only the frame
  asked for is read.
* **No silent conversions**: values are used as stored. The units of every channel are recorded
  in :attr:`PairDataset.channels`; the instrument scalings (e.g. AIA log₂ → [−1, 1]) belong to
  solarprep and are applied before the file is written. NaN (off-disk pixels) raise an error
  naming the variable unless ``nan_to`` is given, in which case they become that value and the
  ``mask`` marks the finite target pixels.
* **Paired augmentation**: the seeds' "shake" pads both images by ``shake`` pixels (15 at 1024²:
  ``isize/64 − 1``) and crops the original size at one random offset in ``[0, 2·shake]``, the same
  for input and target; ``crop`` takes a random (training) or central (evaluation) window.
  Offsets come from ``numpy.random.default_rng([seed, epoch, index])``, so they are reproducible
  and independent of worker processes; the trainer calls :meth:`PairDataset.set_epoch`.
* **GPU**: a Dataset whose variables are CuPy arrays (``solarprep.backend.to_device(ds, "cuda")``)
  is served as CUDA tensors through DLPack (``solarprep.backend.to_torch``), never via the host.

Registered as dataset ``"pairs"`` (and ``"synthetic_pairs"``, an in-memory analytic pair set for
tests and benchmarks).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import pathlib
from typing import TYPE_CHECKING

import numpy as np
import torch
import xarray as xr

from solarmodels.config import ConfigError
from solarmodels.registry import register_dataset

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["PairDataset", "SyntheticPairs", "open_pairs", "paired_offsets"]

logger = logging.getLogger(__name__)


def _is_cupy(a):
    return type(a).__module__.split(".")[0] == "cupy"


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value if isinstance(value, (str, int, float, bool, list, type(None))) else str(value)


def open_pairs(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a solarprep netCDF file or zarr store lazily (nothing is loaded), with the units
    as in memory (:func:`solarprep.dataset.cf_decode`)."""
    from solarprep.dataset import cf_decode

    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such pair file; build one with `solarprep build-pairs`")
    if path.suffix == ".zarr" or path.is_dir():
        from solarprep.io.storage import check_zarr_codecs

        check_zarr_codecs(path)          # no pickle codec: it would run code from the store
        return cf_decode(xr.open_dataset(path, engine="zarr", chunks=None, consolidated=False))
    return cf_decode(xr.open_dataset(path, engine="h5netcdf"))


def paired_offsets(rng: np.random.Generator, height: int, width: int, out_h: int, out_w: int,
                   shake: int, train: bool) -> tuple[int, int]:
    """Top-left corner ``(dy, dx)`` of the output window in the ``shake``-padded frame."""
    h, w = height + 2 * shake, width + 2 * shake
    if out_h > h or out_w > w:
        raise ConfigError(f"crop {out_h}x{out_w} is larger than the frame {height}x{width}")
    if train:
        return int(rng.integers(0, h - out_h + 1)), int(rng.integers(0, w - out_w + 1))
    return (h - out_h) // 2, (w - out_w) // 2


def _pad(array, shake, mode, xp):
    if shake <= 0:
        return array
    widths = [(0, 0)] * (array.ndim - 2) + [(shake, shake), (shake, shake)]
    if mode == "constant":
        return xp.pad(array, widths, mode="constant", constant_values=0)
    return xp.pad(array, widths, mode=mode)


class PairDataset(torch.utils.data.Dataset):
    """Paired input/target frames of one solar Dataset (see the module docstring).

    Parameters
    ----------
    source : path-like or xarray.Dataset
        A solarprep ``.nc`` / ``.zarr`` file (opened lazily) or an open Dataset.
    input, target : str or list of str
        Variables stacked as input and target channels (``input="hmi_blos"``,
        ``target=["aia_171", "aia_193"]``).
    split : str, optional
        Keep samples whose ``split_var`` equals this (``"train"``, ``"val"``, ``"test"``).
    split_var : str
        Name of the split coordinate/variable along the sample dimension.
    crop : int or (int, int), optional
        Output window; default the full frame.
    shake : int
        Paired random shift in pixels (seed: 15 at 1024²); 0 disables it.
    augment : bool, optional
        Random windows (default: True when ``split`` is ``None`` or ``"train"``).
    pad_mode : str
        ``"edge"``, ``"reflect"`` or ``"constant"`` (zeros) padding for the shake.
    nan_to : float, optional
        Replace NaN with this value (and report them in ``mask``); default: NaN is an error.
    mask : str, optional
        Variable (1 = valid) used as the loss mask instead of the finite-target mask.
    seed : int
        Seed of the augmentation offsets.
    sample_dim : str, optional
        Sample dimension (default: the first dimension of the first input variable).
    """

    def __init__(self, source: str | os.PathLike[str] | xr.Dataset, input: str | Sequence[str],
                 target: str | Sequence[str], *, split: str | None = None, split_var: str = "split",
                 crop: int | tuple[int, int] | None = None, shake: int = 0,
                 augment: bool | None = None, pad_mode: str = "edge", nan_to: float | None = None,
                 mask: str | None = None, seed: int = 0, sample_dim: str | None = None) -> None:
        self.path = None if isinstance(source, xr.Dataset) else pathlib.Path(source)
        self.ds = source if isinstance(source, xr.Dataset) else open_pairs(source)
        self._pid = os.getpid()
        self.inputs = [input] if isinstance(input, str) else list(input)
        self.targets = [target] if isinstance(target, str) else list(target)
        self.mask_var = mask
        missing = [v for v in self.inputs + self.targets + ([mask] if mask else [])
                   if v not in self.ds.variables]
        if missing:
            raise ConfigError(f"variables {missing} are not in the pair Dataset "
                              f"(it has {sorted(self.ds.data_vars)}); set data.input / data.target")
        first = self.ds[self.inputs[0]]
        self.sample_dim = sample_dim or first.dims[0]
        self.height, self.width = int(first.shape[-2]), int(first.shape[-1])
        for v in self.inputs + self.targets:
            da = self.ds[v]
            if da.dims[0] != self.sample_dim or da.ndim not in (3, 4) or \
                    da.shape[-2:] != (self.height, self.width):
                raise ConfigError(f"variable {v!r} has dims {da.dims} {da.shape}; expected "
                                  f"({self.sample_dim}, [channel,] y, x) with a "
                                  f"{self.height}x{self.width} frame like {self.inputs[0]!r}")
        n = self.ds.sizes[self.sample_dim]
        if split is not None:
            if split_var not in self.ds.variables:
                raise ConfigError(f"split={split!r} requested but the Dataset has no {split_var!r} "
                                  "coordinate; leave split unset or add one")
            labels = np.asarray(self.ds[split_var].values).astype(str)
            self.indices = np.flatnonzero(labels == split)
        else:
            self.indices = np.arange(n)
        self.split = split
        if crop is None:
            crop = (self.height, self.width)
        self.crop = (int(crop), int(crop)) if np.isscalar(crop) else tuple(int(c) for c in crop)
        self.shake = int(shake)
        self.augment = (split in (None, "train")) if augment is None else bool(augment)
        if pad_mode not in ("edge", "reflect", "constant"):
            raise ConfigError(f"pad_mode must be 'edge', 'reflect' or 'constant', got {pad_mode!r}")
        self.pad_mode = pad_mode
        self.nan_to = nan_to
        self.seed = int(seed)
        self.epoch = 0
        #: True when the variables are CuPy arrays: samples are CUDA tensors (DLPack, no copy)
        self.on_device = isinstance(source, xr.Dataset) and _is_cupy(first.data)
        paired_offsets(np.random.default_rng(0), self.height, self.width, *self.crop, self.shake,
                       False)

    # ----------------------------------------------------------------- metadata
    @property
    def channels(self) -> dict:
        """``{"input": [(variable, units), ...], "target": [...]}`` as stored in the file."""
        def info(names):
            return [(v, str(self.ds[v].attrs.get("units", ""))) for v in names]
        return {"input": info(self.inputs), "target": info(self.targets)}

    @property
    def target_attrs(self) -> dict:
        """Attributes of the target variables (units, and ``scaling``/``scaling_params``/
        ``physical_units`` written by ``solarprep.datasets.scalings.scale``), JSON-ready; the trainer
        stores them in each checkpoint's meta so predictions can be unscaled."""
        return {v: {k: _json_value(a) for k, a in self.ds[v].attrs.items()} for v in self.targets}

    def fingerprint(self) -> str:
        """Hash of the source (path, size, mtime; or the variables' shapes), variables and split."""
        h = hashlib.sha256()
        if self.path is not None:
            st = os.stat(self.path)
            h.update(f"{self.path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(str({v: self.ds[v].shape for v in self.inputs + self.targets}).encode())
            h.update(str(self.ds.attrs.get("history", "")).encode())
        h.update(f"{self.inputs}|{self.targets}|{self.split}|{len(self)}".encode())
        return h.hexdigest()[:16]

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation offsets of ``epoch`` (called by the trainer)."""
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.indices)

    # ----------------------------------------------------------------- items
    def _stack(self, names, i):
        parts = []
        for v in names:
            a = self.ds[v].isel({self.sample_dim: i}).data
            if not _is_cupy(a):
                a = np.asarray(a)
            parts.append(a[None] if a.ndim == 2 else a)
        if self.on_device:
            import cupy as xp
        else:
            xp = np
        return xp.concatenate(parts, axis=0).astype(xp.float32, copy=False), xp

    def _finite(self, array, names, i, xp):
        bad = ~xp.isfinite(array)
        if not bool(bad.any()):
            return array, None
        if self.nan_to is None:
            raise ValueError(
                f"non-finite values in {names} at {self.sample_dim} index {i} "
                f"({int(bad.sum())} pixels); set data.nan_to (e.g. -1 for off-disk pixels in "
                "[-1, 1] scaled data) or fix the scaling (log before rescaling)")
        return xp.where(bad, xp.float32(self.nan_to), array), bad

    def _reopen_in_worker(self):
        # a DataLoader worker (forked) must not share the parent's HDF5 file handle
        if self.path is not None and self._pid != os.getpid():
            self.ds = open_pairs(self.path)
            self._pid = os.getpid()

    def __getitem__(self, k):
        self._reopen_in_worker()
        i = int(self.indices[k])
        x, xp = self._stack(self.inputs, i)
        y, _ = self._stack(self.targets, i)
        x, _ = self._finite(x, self.inputs, i, xp)
        y, bad = self._finite(y, self.targets, i, xp)
        if self.mask_var:
            m = (self.ds[self.mask_var].isel({self.sample_dim: i}).data > 0)
            m = (m if _is_cupy(m) else np.asarray(m)).astype(xp.float32)[None]
        elif bad is not None:
            m = (~bad.any(axis=0, keepdims=True)).astype(xp.float32)
        else:
            m = xp.ones((1, self.height, self.width), dtype=xp.float32)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        dy, dx = paired_offsets(rng, self.height, self.width, *self.crop, self.shake, self.augment)
        h, w = self.crop
        out = {}
        for key, a, mode in (("input", x, self.pad_mode), ("target", y, self.pad_mode),
                             ("mask", m, "constant")):
            a = _pad(a, self.shake, mode, xp)[:, dy:dy + h, dx:dx + w]
            a = xp.ascontiguousarray(a)
            out[key] = torch.from_dlpack(a) if xp is not np else torch.from_numpy(a)
        out["index"] = i
        return out


class SyntheticPairs(torch.utils.data.Dataset):
    """In-memory analytic pairs for tests and benchmarks (no file, no solar physics).

    The input is a smooth random field ``x`` (sum of Gaussian blobs, values ≈ [−1, 1]) and the
    target a fixed nonlinear, non-local function of it:
    ``y = tanh(2·blur(x)) − 0.5·x²`` per target channel (channel ``c`` uses blur width ``1 + c``
    pixels), so a translation network can learn it but not trivially.
    """

    def __init__(self, n: int = 16, size: int = 32, in_channels: int = 1, out_channels: int = 1,
                 seed: int = 0, blobs: int = 6) -> None:
        g = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        x = np.zeros((n, in_channels, size, size), np.float32)
        for s in range(n):
            for c in range(in_channels):
                for _ in range(blobs):
                    cy, cx = g.uniform(0, size, 2)
                    r = g.uniform(size / 16, size / 5)
                    x[s, c] += g.uniform(-1, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        x = np.clip(x, -1, 1)
        t = torch.from_numpy(x.mean(1, keepdims=True))
        ys = []
        for c in range(out_channels):
            k = 2 * (1 + c) + 1
            blur = torch.nn.functional.avg_pool2d(t, k, stride=1, padding=k // 2,
                                                  count_include_pad=False)
            ys.append(torch.tanh(2 * blur) - 0.5 * t ** 2)
        self.x = torch.from_numpy(x)
        self.y = torch.cat(ys, 1).float()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input": self.x[i], "target": self.y[i]}


@register_dataset("pairs")
def _pairs(split="train", *, path, input, target, val_fraction=0.0, **kwargs):
    """Builder of ``data = {dataset = "pairs", path, input, target, ...}`` (see PairDataset).

    Uses the file's ``split`` coordinate when present; otherwise, with ``val_fraction > 0``, the
    last ``ceil(val_fraction · n)`` samples are the validation split, and ``"test"`` is absent.
    """
    ds = open_pairs(path)
    split_var = kwargs.pop("split_var", "split")
    if split_var in ds.variables:
        labels = np.asarray(ds[split_var].values).astype(str)
        if not (labels == split).any():
            return None
        out = PairDataset(ds, input, target, split=split, split_var=split_var, **kwargs)
        out.path = pathlib.Path(path)
        return out
    if split == "test":
        return None
    full = PairDataset(ds, input, target, **{**kwargs, "augment": split == "train"
                                              if "augment" not in kwargs else kwargs["augment"]})
    full.path = pathlib.Path(path)
    n = len(full)
    n_val = int(math.ceil(val_fraction * n)) if val_fraction > 0 else 0
    if split == "val":
        if n_val == 0:
            return None
        full.indices = full.indices[n - n_val:]
    else:
        full.indices = full.indices[:n - n_val]
    return full


@register_dataset("synthetic_pairs")
def _synthetic_pairs(split="train", *, n=16, n_val=4, size=32, in_channels=1, out_channels=1,
                     seed=0):
    """Builder of :class:`SyntheticPairs` (``val`` uses seed + 1, ``test`` seed + 2)."""
    count = {"train": n, "val": n_val, "test": n_val}.get(split, 0)
    if count == 0:
        return None
    offset = {"train": 0, "val": 1, "test": 2}[split]
    return SyntheticPairs(count, size, in_channels, out_channels, seed + offset)
