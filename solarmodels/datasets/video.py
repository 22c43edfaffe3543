"""Continuum-intensity videos and their light curves, for the light-curve → video model (seed 1).

Frames: limb-darkened continuum intensity (``solarprep`` image Dataset, e.g. the synthetic Sun's
HMI-like continuum, or real HMI through ``solarprep.load``) — pixel values are **not** multiplied
by ``(d/1 AU)²`` as the seed does (the specific intensity does not depend on distance; the seed's
per-pixel factor puts a ±3.4 %/yr signal into the images). The light curve is the 1-AU-normalised
disk integral from :func:`solarprep.photometry.integration.disk_integrate` (``quantity="flux"``,
``normalize_distance=True``).

Scaling, from the **training split only** (:mod:`solarprep.datasets.normalize`):

* frames ``x = 2 I / I_max − 1`` (``I_max`` the largest training pixel, ``fit_peak``; off-disk
  ``I = 0`` → −1): linear, nothing clipped (the seed's ±3σ uint8 window saturates spots and the
  disk);
* light curve ``z = (b − μ_b)/σ_b`` (``fit_zscore``; the seed z-scores over *all* files).

Windows of ``window = 16`` frames with ``stride = 8`` (the seed's); the series is cut into
contiguous train / val / test blocks (60 / 20 / 20 % of the frames by default) and windows never
cross a block boundary. Samples: ``{"input": (1, T, H, W), "cond": (T,) z-scored light curve,
"times": (T,) hours since the window start, "light_curve": (T,) 1-AU flux, "flux_factor": (T,)
(d/1 AU)² that puts a frame's disk sum on the light curve's 1-AU scale, "disk_mask": (H, W) pixels
on the disk in any frame}``.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from solarmodels.registry import register_dataset
from solarprep.datasets import normalize as norm

__all__ = ["VideoWindows", "split_frames", "synthetic_continuum_series", "video_windows"]

log = logging.getLogger(__name__)


def split_frames(n: int, fractions=(0.6, 0.2, 0.2)) -> dict:
    """Contiguous frame ranges ``{"train": (0, a), "val": (a, b), "test": (b, n)}``."""
    a = int(round(fractions[0] * n))
    b = int(round((fractions[0] + fractions[1]) * n))
    return {"train": (0, a), "val": (a, b), "test": (b, n)}


class VideoWindows(Dataset):
    """Sliding windows over one frame range of a continuum series (module docstring).

    Parameters
    ----------
    frames : array (N, H, W)
        Intensity, NaN off the disk.
    light_curve : array (N,)
        1-AU-normalised disk integral.
    times : array (N,) datetime64
    frame_range : (start, stop)
    stats : dict
        ``{"i_max", "lc_mean", "lc_std"}`` from the training split (:meth:`fit_stats`).
    window, stride : int
    flux_factor : array (N,), optional
        ``(d/1 AU)²`` per frame.
    attrs : dict, optional
        ``units`` of the frames and ``light_curve_units`` (recorded with the statistics in
        :attr:`target_attrs`).
    """

    def __init__(self, frames, light_curve, times, frame_range, stats, *, window=16, stride=8,
                 flux_factor=None, attrs=None):
        frames = np.asarray(frames, np.float32)
        self.disk_mask = torch.from_numpy(np.isfinite(frames).any(0).astype(np.float32))
        factor = np.ones(len(frames)) if flux_factor is None else np.asarray(flux_factor)
        self.flux_factor = torch.from_numpy(factor.astype(np.float32))
        self.stats = dict(stats)
        lo, hi = frame_range
        self.starts = list(range(lo, hi - window + 1, stride))
        if not self.starts:
            log.debug("VideoWindows: range %s shorter than one window of %d", frame_range, window)
        self.window = window
        self.attrs = dict(attrs or {})
        frame_stats, lc_stats = self.norm_stats(stats)
        x = 2.0 * norm.apply(np.nan_to_num(frames, nan=0.0), frame_stats) - 1.0
        self.x = torch.from_numpy(x.astype(np.float32))
        lc = np.asarray(light_curve, np.float64)
        self.lc = torch.from_numpy(lc.astype(np.float32))
        self.z = torch.from_numpy(norm.apply(lc, lc_stats).astype(np.float32))
        t = np.asarray(times, dtype="datetime64[ns]")
        self.times = t
        self.hours = torch.from_numpy(((t - t[0]) / np.timedelta64(1, "h")).astype(np.float32))

    @staticmethod
    def norm_stats(stats) -> tuple:
        """The frame (peak) and light-curve (z-score) :class:`~solarprep.datasets.normalize.
        NormStats` of a ``{"i_max", "lc_mean", "lc_std"}`` dict."""
        frames = norm.NormStats("peak", {"__array__": 0.0}, {"__array__": float(stats["i_max"])})
        lc = norm.NormStats("zscore", {"__array__": float(stats["lc_mean"])},
                            {"__array__": float(stats["lc_std"])})
        return frames, lc

    @property
    def target_attrs(self) -> dict:
        """Scaling statistics and units (stored in each checkpoint's meta by the trainer)."""
        cadence = float(np.median(np.diff(self.hours.numpy()))) if len(self.hours) > 1 else 0.0
        return {"frames": {**{k: float(v) for k, v in self.stats.items()},
                           "window": int(self.window), "cadence_hours": cadence,
                           "frame_shape": list(self.x.shape[-2:]), **self.attrs}}

    @staticmethod
    def fit_stats(frames, light_curve, frame_range) -> dict:
        """Scaling statistics of the training frames and light curve (``fit_peak`` of the frames,
        ``fit_zscore`` of the light curve, on the frames of ``frame_range`` only)."""
        lo, hi = frame_range
        mask = np.zeros(len(light_curve), bool)
        mask[lo:hi] = True
        peak = norm.fit_peak(np.asarray(frames, np.float32), mask)
        lc = norm.fit_zscore(np.asarray(light_curve, np.float64), mask)
        return {"i_max": float(peak.scale_of()), "lc_mean": float(lc.center_of()),
                "lc_std": float(lc.scale_of())}

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, i):
        s = self.starts[i]
        e = s + self.window
        return {"input": self.x[s:e][None], "cond": self.z[s:e],
                "times": self.hours[s:e] - self.hours[s], "light_curve": self.lc[s:e],
                "flux_factor": self.flux_factor[s:e], "disk_mask": self.disk_mask}


def synthetic_continuum_series(n_frames: int = 64, size: int = 32, *, cadence_hours: float = 12.0,
                               seed: int = 0, n_spots: int = 10, spot_radius=(3.0, 7.0),
                               start="2024-05-01T00:00", noise: bool = True):
    """Synthetic HMI-like continuum frames and their light curve.

    Large sunspots (radius ``spot_radius`` degrees, so that they show at 32²) on random
    longitudes all around the Sun, half emerging during the series, rotating with the Sun.

    Returns
    -------
    (xarray.Dataset, xarray.Dataset)
        The image Dataset (``solarprep.load`` of the frames) and the light curve from
        ``solarprep.photometry.integration.disk_integrate(ds, quantity="flux", normalize_distance=True)``.
    """
    from astropy.time import Time, TimeDelta

    from solarprep import load, synthetic
    from solarprep.photometry.integration import disk_integrate

    rng = np.random.default_rng(seed)
    t0 = Time(start)
    span_h = n_frames * cadence_hours
    spots = []
    for k in range(n_spots):
        emerge = None
        if k % 2:
            emerge = (t0 + TimeDelta(rng.uniform(0, span_h) * 3600, format="sec")).isot
        spots.append(synthetic.Sunspot(lat=float(rng.choice([-1, 1]) * rng.uniform(5, 30)),
                                       lon=float(rng.uniform(-180, 180)),
                                       radius=float(rng.uniform(*spot_radius)),
                                       t_emerge=emerge, tau=24.0, name=f"spot{k}"))
    sun = synthetic.SyntheticSun(seed=seed, features=spots, t0=t0, noise=noise)
    maps = [sun.continuum((t0 + TimeDelta(k * cadence_hours * 3600, format="sec")).isot,
                          shape=size) for k in range(n_frames)]
    ds = load(maps, progress=False, device="cpu")
    lc = disk_integrate(ds, quantity="flux", normalize_distance=True, device="cpu")
    return ds, lc


def video_windows(ds, lc, *, window=16, stride=8, fractions=(0.6, 0.2, 0.2), variable=None):
    """``{"train", "val", "test"}`` :class:`VideoWindows` of an image Dataset and its light curve,
    all scaled with the training split's statistics."""
    from solarprep.dataset import data_variables
    from solarprep.photometry.integration import one_au_factor

    name = variable or data_variables(ds)[0]
    frames = np.asarray(ds[name].values, np.float32)
    flux_name = "flux" if "flux" in lc else next(iter(lc.data_vars))
    light = np.asarray(lc[flux_name].values, np.float64)
    times = ds["time"].values
    ranges = split_frames(len(frames), fractions)
    stats = VideoWindows.fit_stats(frames, light, ranges["train"])
    factor = None
    if "dsun_obs" in ds.coords:
        factor = one_au_factor(ds["dsun_obs"].values)
    attrs = {"units": str(ds[name].attrs.get("units", "")), "variable": name,
             "light_curve_units": str(lc[flux_name].attrs.get("units", "")),
             "light_curve_variable": flux_name}
    return {k: VideoWindows(frames, light, times, r, stats, window=window, stride=stride,
                            flux_factor=factor, attrs=attrs)
            for k, r in ranges.items()}


_SERIES: dict = {}


@register_dataset("synthetic_continuum_video")
def _build_synthetic_video(split="train", n_frames=64, size=32, window=16, stride=8, seed=0,
                           **kwargs):
    """Registry builder of :func:`synthetic_continuum_series` windows (``split`` of train/val/test).

    The series is rendered once per set of arguments (kept for the other splits); a split
    shorter than one window is absent (``None``): ``n_frames`` ≥ 5 windows gives every split
    at least one window with the 60/20/20 % blocks.
    """
    key = (n_frames, size, seed, repr(sorted(kwargs.items())))
    if key not in _SERIES:
        _SERIES.clear()
        _SERIES[key] = synthetic_continuum_series(n_frames, size, seed=seed, **kwargs)
    ds, lc = _SERIES[key]
    parts = video_windows(ds, lc, window=window, stride=stride)
    part = parts.get(split)
    return part if part is not None and len(part) else None
