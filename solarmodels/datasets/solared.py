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
from typing import TYPE_CHECKING

import numpy as np
import torch
import xarray as xr

from solarmodels.config import ConfigError
from solarmodels.registry import register_dataset
from solarprep.dataset import cf_decode
from solarprep.datasets.solared import CHANNELS

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    import numpy.typing as npt
    from astropy.units import Quantity

    from solarprep.datasets.normalize import NormStats

__all__ = ["CHANNELS", "SolaredDataset", "synthetic_solared", "from_timelines",
           "real_timeline_folders", "central_tiles", "dataset_options"]

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


def central_tiles(n: int, tile_row: npt.ArrayLike, tile_col: npt.ArrayLike) -> np.ndarray:
    """Indices of the ``n`` tiles nearest the centre of the tile grid (sorted).

    Distance ``(r − r̄)² + (c − c̄)²`` from the mean row and column of the tiles; ties are
    broken by the tile order. ``n = 10`` is our reading of the SuryaBench setting of ten
    central tiles (unverified: the row/column choice of the seed is not in its code).
    """
    r = np.asarray(tile_row, np.float64)
    c = np.asarray(tile_col, np.float64)
    d = (r - r.mean()) ** 2 + (c - c.mean()) ** 2
    return np.sort(np.argsort(d, kind="stable")[:int(n)])


def _tile_index(tiles, data):
    """``tiles`` (None, a list of indices, or ``"centralN"``) as an index array, or None."""
    if tiles is None:
        return None
    if isinstance(tiles, str):
        if not tiles.startswith("central") or not tiles[7:].isdigit():
            raise ConfigError(f"data.tiles must be a list of tile indices or 'central<N>' "
                              f"(e.g. 'central10'), not {tiles!r}")
        if "tile_row" not in data.coords:
            raise ConfigError("data.tiles='central…' needs the tile_row/tile_col coordinates")
        return central_tiles(int(tiles[7:]), data["tile_row"].values, data["tile_col"].values)
    index = np.asarray(tiles, int)
    n = int(data.sizes["tile"])
    if index.ndim != 1 or index.size == 0 or index.min() < 0 or index.max() >= n:
        raise ConfigError(f"data.tiles must be tile indices in 0…{n - 1}, got {tiles!r}")
    return index


class SolaredDataset(torch.utils.data.Dataset):
    """Samples of one split of a SOLARED model-ready Dataset.

    Parameters
    ----------
    data : xarray.Dataset or str or pathlib.Path
        The Dataset, or a netCDF file of it (opened lazily; one sample is read per item).
    split : str, optional
        ``"train"``, ``"val"`` or ``"test"`` (the ``split`` coordinate); None for all samples.
    intensity_channel : bool
        Append the continuum-intensity history of the window (``intensity_history``, normalised
        like the targets) as a sixth input channel, after the five of the seed.
    tiles : list of int or str, optional
        Keep only these tiles (inputs, targets, persistence and the tile coordinates);
        ``"central10"`` keeps the ten tiles nearest the grid centre (:func:`central_tiles`).
    """

    def __init__(self, data: xr.Dataset | str | os.PathLike[str], split: str | None = None, *,
                 intensity_channel: bool = False,
                 tiles: Sequence[int] | str | None = None):
        lazy = not isinstance(data, xr.Dataset)
        if not isinstance(data, xr.Dataset):
            path = pathlib.Path(data)
            if not path.exists():
                raise FileNotFoundError(f"{path}: no SOLARED Dataset; build one with "
                                        "solarprep.datasets.solared.build(...)")
            data = cf_decode(xr.open_dataset(path, engine="h5netcdf"))
        _check_layout(data)
        if intensity_channel and "intensity_history" not in data:
            raise ConfigError("data.intensity_channel needs the variable 'intensity_history' "
                              "(SOLARED files built since it was added): rebuild the dataset "
                              "with solarprep build-solared")
        if split is not None:
            if "split" not in data.coords:
                raise ConfigError("the SOLARED Dataset has no 'split' coordinate; pass split=None")
            index = np.flatnonzero(data["split"].values.astype(str) == split)
            data = data.isel(sample=index)
        keep = _tile_index(tiles, data)
        if keep is not None:
            data = data.isel(tile=keep)
        self.data = data
        self.split = split
        self.intensity_channel = bool(intensity_channel)
        self.channels = CHANNELS + (("intensity",) if intensity_channel else ())

        # a file is read one sample at a time; an in-memory Dataset is indexed directly
        def source(name):
            if name not in data:
                return None
            return data[name] if lazy else data[name].values

        self._inputs = source("inputs")
        self._targets = source("targets")
        self._last = source("last_intensity")
        self._history = source("intensity_history") if intensity_channel else None

    def __len__(self):
        return int(self.data.sizes["sample"])

    @staticmethod
    def _item(array, i):
        value = array[i]
        return torch.from_numpy(np.asarray(getattr(value, "values", value), np.float32))

    def __getitem__(self, i):
        x = self._item(self._inputs, i)
        if self._history is not None:
            x = torch.cat([x, self._item(self._history, i)[:, None]], dim=1)
        out = {"input": x, "target": self._item(self._targets, i), "index": int(i)}
        if self._last is not None:
            out["persistence"] = self._item(self._last, i)
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
    def grid(self) -> tuple[int, int] | None:
        """(rows, cols) of the tile grid when the tiles fill one (7×9 for SOLARED), else None."""
        if "tile_row" not in self.data.coords:
            return None
        rows = np.unique(self.data["tile_row"].values)
        cols = np.unique(self.data["tile_col"].values)
        return (rows.size, cols.size) if rows.size * cols.size == self.data.sizes["tile"] \
            else None

    def denormalize_target(self, y: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Back from the normalised target to SOLARED intensity units (``y·scale + offset``)."""
        scale = float(self.data.attrs.get("target_scale", 1.0))
        offset = float(self.data.attrs.get("target_offset", 0.0))
        return y * scale + offset


def synthetic_solared(n_samples: int = 64, *, window: int = 120, n_tiles: int = 63,
                      lead: int = 12, seed: int = 0,
                      splits: Sequence[float] = (0.75, 0.25, 0.0),
                      noise: float = 0.05) -> xr.Dataset:
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


def real_timeline_folders() -> list[pathlib.Path]:
    """The AR folders of the real SOLARED timelines (``../shared/data/real/solared``), or []."""
    from solarprep.io.sample_data import real_data_dir

    root = real_data_dir()
    if root is None or not (root / "solared").is_dir():
        return []
    return sorted(p for p in (root / "solared").iterdir() if p.is_dir())


def from_timelines(folders: Iterable[str | os.PathLike[str]], *,
                   splits: Mapping[str, Any] | Sequence[float] | None = None,
                   window: int | Quantity | str = 120, lead: int | Quantity | str = 12,
                   normalize: str | NormStats | Mapping[str, Any] | None = "zscore",
                   stride: int = 1, seed: int = 0, progress: bool = False) -> xr.Dataset:
    """Model-ready Dataset from AR folders of ``.npz`` timelines (solarprep's SOLARED builder)."""
    from solarprep.datasets.solared import build

    return build([pathlib.Path(f) for f in folders], splits=splits, window=window, lead=lead,
                 normalize=normalize, stride=stride, seed=seed, progress=progress)


_BUILT: dict = {}


@register_dataset("solared")
def _solared_dataset(split="train", *, path=None, timelines=None, splits=None, window=120,
                     lead=12, normalize="zscore", stride=1, seed=0, synthetic=0,
                     intensity_channel=False, tiles=None):
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
    out = SolaredDataset(ds, split, intensity_channel=intensity_channel, tiles=tiles)
    return out if len(out) else None


def dataset_options(data_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The :class:`SolaredDataset` options (``intensity_channel``, ``tiles``) of a run's ``data``
    configuration, so that files given later are read the way the run was trained."""
    data = dict(data_config or {})
    return {k: data[k] for k in ("intensity_channel", "tiles") if data.get(k) is not None}
