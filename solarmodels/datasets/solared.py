"""SOLARED samples for the spatio-temporal models, read from solarprep's model-ready Dataset.

The Dataset is the output of :func:`solarprep.datasets.solared.build` (``docs/solared.md``):
``inputs (sample, time, channel, tile)`` with the channels ``power_2_3, power_3_4, power_4_5,
power_5_6, flux`` in that order, ``targets (sample, tile)`` (the normalised continuum intensity
``lead`` steps after the window) and the coordinates ``split``, ``active_region``,
``window_end``, ``target_time`` along ``sample``; the normalisation in the attributes
(``x_norm = (x − offset)/scale``); ``last_intensity (sample, tile)``, the normalised intensity at
the last step of each window (the persistence forecast), in files built since it was added.

:class:`SolaredDataset` serves ``{"input": (T, C, N), "target": (N,), "index": int}`` float32
samples of one split, plus ``"persistence": (N,)`` when the file has ``last_intensity``.
Channels are checked against the expected order, never reordered or converted silently.
:func:`synthetic_solared` makes a small Dataset of the same layout with a learnable target
(for tests, benchmarks and the demo when the real timelines are absent).

Registered as dataset ``"solared"``: ``data = {"dataset": "solared", "path": "solared.nc"}``
or ``{"dataset": "solared", "timelines": ["…/AR11158", "…/AR11726"], "splits": {...}}`` (built
through solarprep on first use).
"""
from __future__ import annotations

import logging
import pathlib

import numpy as np
import torch
import xarray as xr

from solarmodels.config import ConfigError
from solarmodels.registry import register_dataset
from solarprep.dataset import cf_decode
from solarprep.datasets.solared import CHANNELS

__all__ = ["CHANNELS", "SolaredDataset", "synthetic_solared", "from_timelines",
           "real_timeline_folders"]

logger = logging.getLogger(__name__)


def _check_layout(ds):
    problems = []
    if "inputs" not in ds or ds["inputs"].dims != ("sample", "time", "channel", "tile"):
        problems.append("variable 'inputs' with dims (sample, time, channel, tile)")
    if "targets" not in ds or ds["targets"].dims != ("sample", "tile"):
        problems.append("variable 'targets' with dims (sample, tile)")
    if problems:
        raise ConfigError("not a SOLARED model-ready Dataset (solarprep.datasets.solared.build); "
                          "it needs " + " and ".join(problems))
    if "channel" in ds.coords:
        got = tuple(str(c) for c in ds["channel"].values)
        if got != CHANNELS:
            raise ConfigError(f"SOLARED channels are {got}, expected {CHANNELS} in this order; "
                              "rebuild the Dataset with solarprep (channels are never reordered "
                              "silently)")


class SolaredDataset(torch.utils.data.Dataset):
    """Samples of one split of a SOLARED model-ready Dataset.

    Parameters
    ----------
    data : xarray.Dataset or str or pathlib.Path
        The Dataset, or a netCDF file of it (opened lazily; one sample is read per item).
    split : str, optional
        ``"train"``, ``"val"`` or ``"test"`` (the ``split`` coordinate); None for all samples.
    """

    def __init__(self, data, split=None):
        lazy = not isinstance(data, xr.Dataset)
        if lazy:
            path = pathlib.Path(data)
            if not path.exists():
                raise FileNotFoundError(f"{path}: no SOLARED Dataset; build one with "
                                        "solarprep.datasets.solared.build(...)")
            data = cf_decode(xr.open_dataset(path, engine="h5netcdf"))
        _check_layout(data)
        if split is not None:
            if "split" not in data.coords:
                raise ConfigError("the SOLARED Dataset has no 'split' coordinate; pass split=None")
            index = np.flatnonzero(data["split"].values.astype(str) == split)
            data = data.isel(sample=index)
        self.data = data
        self.split = split
        # a file is read one sample at a time; an in-memory Dataset is indexed directly
        self._inputs = data["inputs"] if lazy else data["inputs"].values
        self._targets = data["targets"] if lazy else data["targets"].values
        self._last = None
        if "last_intensity" in data:
            self._last = data["last_intensity"] if lazy else data["last_intensity"].values

    def __len__(self):
        return int(self.data.sizes["sample"])

    def __getitem__(self, i):
        x = self._inputs[i]
        y = self._targets[i]
        x = np.asarray(getattr(x, "values", x), np.float32)
        y = np.asarray(getattr(y, "values", y), np.float32)
        out = {"input": torch.from_numpy(x), "target": torch.from_numpy(y), "index": int(i)}
        if self._last is not None:
            last = self._last[i]
            out["persistence"] = torch.from_numpy(np.asarray(getattr(last, "values", last),
                                                             np.float32))
        return out

    @property
    def target_attrs(self) -> dict:
        """The normalisation of the targets (stored in each checkpoint's meta by the trainer),
        so that a run can map its predictions back to SOLARED intensity units and normalise
        new regions the way it was trained."""
        keys = ("target_scale", "target_offset", "normalization", "norm_stats", "lead",
                "window", "stride")
        out = {}
        for k in keys:
            if k in self.data.attrs:
                v = self.data.attrs[k]
                out[k] = v.item() if isinstance(v, np.generic) else v
        out["units"] = ""
        return {"targets": out}

    def fingerprint(self) -> str:
        """Hash of the regions, split, sample count and normalisation (checkpoint meta)."""
        import hashlib

        ar = self.data["active_region"].values if "active_region" in self.data.coords else []
        text = (f"{sorted(set(np.asarray(ar).astype(str).tolist()))}|{self.split}|{len(self)}|"
                f"{self.data.attrs.get('norm_stats', '')}|{self.data.sizes.get('time')}")
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def grid(self):
        """(rows, cols) of the tile grid when the tiles fill one (7×9 for SOLARED), else None."""
        if "tile_row" not in self.data.coords:
            return None
        rows = np.unique(self.data["tile_row"].values)
        cols = np.unique(self.data["tile_col"].values)
        return (rows.size, cols.size) if rows.size * cols.size == self.data.sizes["tile"] \
            else None

    def denormalize_target(self, y):
        """Back from the normalised target to SOLARED intensity units (``y·scale + offset``)."""
        scale = float(self.data.attrs.get("target_scale", 1.0))
        offset = float(self.data.attrs.get("target_offset", 0.0))
        return y * scale + offset


def synthetic_solared(n_samples=64, *, window=120, n_tiles=63, lead=12, seed=0,
                      splits=(0.75, 0.25, 0.0), noise=0.05):
    """A small Dataset with the layout of the SOLARED model-ready Dataset and a learnable target.

    Inputs are smooth random walks per channel and tile; the target of a tile is
    ``−(mean flux of the tile over the last 12 steps) + 0.5·(mean 3–4 mHz power) + noise``, so a
    network that pools over time can learn it. Samples are split in order by ``splits``.
    """
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.2, (n_samples, window, len(CHANNELS), n_tiles))
    x = np.cumsum(steps, axis=1).astype(np.float32)
    x -= x.mean(axis=(1, 3), keepdims=True)
    y = (-x[:, -12:, 4].mean(1) + 0.5 * x[:, -12:, 1].mean(1)
         + noise * rng.normal(size=(n_samples, n_tiles))).astype(np.float32)
    counts = np.floor(np.asarray(splits, float) / sum(splits) * n_samples).astype(int)
    counts[0] = n_samples - counts[1:].sum()
    split = np.repeat(np.array(["train", "val", "test"]), counts)
    grid = (7, 9) if n_tiles == 63 else (1, n_tiles)
    rows, cols = np.divmod(np.arange(n_tiles), grid[1])
    end = np.datetime64("2011-02-10T00:00", "ns") + np.arange(n_samples) * np.timedelta64(1, "h")
    return xr.Dataset(
        {"inputs": (("sample", "time", "channel", "tile"), x, {"units": "", "long_name":
                    "synthetic normalised input timelines"}),
         "targets": (("sample", "tile"), y, {"units": "", "long_name":
                     "synthetic normalised continuum intensity"})},
        coords={"channel": np.array(CHANNELS), "tile_row": ("tile", rows + 1),
                "tile_col": ("tile", cols), "active_region": ("sample", ["synthetic"] * n_samples),
                "split": ("sample", split), "window_end": ("sample", end),
                "target_time": ("sample", end + np.timedelta64(lead, "h"))},
        attrs={"title": "synthetic SOLARED-layout dataset", "lead": lead, "window": window,
               "target_offset": 0.0, "target_scale": 1.0})


def real_timeline_folders():
    """The AR folders of the real SOLARED timelines (``../shared/data/real/solared``), or []."""
    from solarprep.io.sample_data import real_data_dir

    root = real_data_dir()
    if root is None or not (root / "solared").is_dir():
        return []
    return sorted(p for p in (root / "solared").iterdir() if p.is_dir())


def from_timelines(folders, *, splits=None, window=120, lead=12, normalize="zscore", stride=1,
                   seed=0, progress=False):
    """Model-ready Dataset from AR folders of ``.npz`` timelines (solarprep's SOLARED builder)."""
    from solarprep.datasets.solared import build

    return build([pathlib.Path(f) for f in folders], splits=splits, window=window, lead=lead,
                 normalize=normalize, stride=stride, seed=seed, progress=progress)


_BUILT: dict = {}


@register_dataset("solared")
def _solared_dataset(split="train", *, path=None, timelines=None, splits=None, window=120,
                     lead=12, normalize="zscore", stride=1, seed=0, synthetic=0):
    """Dataset builder for the trainer CLI (see the module docstring)."""
    if path is not None:
        ds = cf_decode(xr.open_dataset(path, engine="h5netcdf"))
    elif timelines is not None:
        key = (tuple(str(t) for t in timelines), repr(splits), window, lead, normalize, stride,
               seed)
        if key not in _BUILT:
            _BUILT[key] = from_timelines(timelines, splits=splits, window=window, lead=lead,
                                         normalize=normalize, stride=stride, seed=seed)
        ds = _BUILT[key]
    elif synthetic:
        ds = synthetic_solared(int(synthetic), window=window, lead=lead, seed=seed)
    else:
        raise ConfigError("data for 'solared' needs path= (model-ready netCDF), timelines= "
                          "(AR folders of .npz timelines) or synthetic=N")
    out = SolaredDataset(ds, split)
    return out if len(out) else None
