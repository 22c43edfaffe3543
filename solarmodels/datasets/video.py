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
on the disk in any frame, "disk": (1, T, H, W) the limb-darkened disk of each frame}``.

**The limb-darkened disk** (:func:`disk_model`, scaled like the frames): the spotless disk each
frame would show, from the observer geometry only — disk radius ``R_t = asin(R_⊙/d_t)/Δ``
(``d_t`` the Sun-observer distance of the frame, ``Δ`` the pixel scale), centre at the
reference pixel, ``μ = √(1 − ρ²)`` at each pixel centre (``ρ`` the distance from the centre in
units of ``R_t``; orthographic, exact to ``R_⊙/d`` ≈ 0.5 %) and the profile
``I(μ) = Σ_k a_k μ^k`` fitted to the training frames (:func:`fit_disk_profile`, robust to spots).
The geometry is known at any time from the ephemeris (:func:`earth_disk_radius`), so the disk is
a legitimate condition when only a light curve is given; it is what the video model conditions
on and generates residuals from (``docs/diffusion.md``), and a baseline of its own.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from solarmodels.registry import register_dataset
from solarprep.datasets import normalize as norm

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    import numpy.typing as npt
    import xarray as xr

__all__ = ["VideoWindows", "split_frames", "synthetic_continuum_series", "video_windows",
           "disk_model", "fit_disk_profile", "frame_geometry", "earth_disk_radius",
           "disk_for_times"]

log = logging.getLogger(__name__)


#: Arcseconds per radian.
_ARCSEC = 180.0 * 3600.0 / np.pi


def _rho(shape, radius, center):
    """Distance of each pixel centre from ``center`` (x, y; 0-based) in units of ``radius``,
    ``(N, H, W)`` for ``N`` radii and centres."""
    radius = np.atleast_1d(np.asarray(radius, np.float64))
    center = np.atleast_2d(np.asarray(center, np.float64))
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    dx = xx[None] - center[:, 0, None, None]
    dy = yy[None] - center[:, 1, None, None]
    return np.sqrt(dx ** 2 + dy ** 2) / radius[:, None, None]


def disk_model(shape: Sequence[int], radius: npt.ArrayLike, center: npt.ArrayLike,
               coefficients: npt.ArrayLike) -> np.ndarray:
    """Limb-darkened disks ``(N, H, W)``: ``I(μ) = Σ_k a_k μ^k`` on the disk, NaN off it.

    Parameters
    ----------
    shape : (H, W)
    radius : array (N,)
        Disk radius of each frame in pixels.
    center : array (N, 2)
        Disk centre ``(x, y)`` of each frame, 0-based pixel coordinates.
    coefficients : sequence
        ``a_0 … a_K`` of the profile in ascending powers of ``μ = √(1 − ρ²)``.
    """
    rho = _rho(shape, radius, center)
    mu = np.sqrt(np.clip(1.0 - rho ** 2, 0.0, 1.0))
    out = np.polynomial.polynomial.polyval(mu, np.asarray(coefficients, np.float64))
    return np.where(rho < 1.0, out, np.nan)


def fit_disk_profile(frames: npt.ArrayLike, radius: npt.ArrayLike, center: npt.ArrayLike, *,
                     degree: int = 2, clip_sigma: float = 3.0,
                     iterations: int = 5) -> list[float]:
    """``a_0 … a_degree`` of ``I(μ) = Σ a_k μ^k`` fitted to the finite pixels of ``frames``
    (N, H, W) inside their disks by least squares, iteratively leaving out pixels more than
    ``clip_sigma`` residual rms away (spots); μ as in :func:`disk_model`."""
    frames = np.asarray(frames, np.float64)
    rho = _rho(frames.shape[-2:], radius, center)
    ok = np.isfinite(frames) & (rho < 1.0)
    mu = np.sqrt(np.clip(1.0 - rho[ok] ** 2, 0.0, 1.0))
    values = frames[ok]
    basis = np.stack([mu ** k for k in range(degree + 1)], axis=-1)
    keep = np.ones(values.shape, bool)
    coef = np.zeros(degree + 1)
    for _ in range(max(int(iterations), 1)):
        coef = np.linalg.lstsq(basis[keep], values[keep], rcond=None)[0]
        resid = values - basis @ coef
        sigma = resid[keep].std()
        new = np.abs(resid) <= clip_sigma * sigma if clip_sigma else keep
        if np.array_equal(new, keep):
            break
        keep = new
    return [float(c) for c in coef]


def frame_geometry(ds: xr.Dataset) -> dict[str, Any]:
    """Disk radius (pixels) and centre (x, y; 0-based) of every frame of a solar Dataset, from
    ``rsun_obs`` (or ``asin(rsun_ref/dsun_obs)``), ``cdelt1`` and the reference pixel (the disk
    centre when ``crval = 0``, as for helioprojective images centred on the Sun)."""
    n = ds.sizes["time"]

    def coord(name: str, default: float | None = None) -> np.ndarray:
        if name in ds.coords:
            return np.broadcast_to(np.asarray(ds[name].values, np.float64), (n,))
        if default is None:
            raise ValueError(f"the image Dataset has no {name!r} coordinate: cannot place the "
                             "limb-darkened disk")
        return np.full(n, float(default))

    if "rsun_obs" in ds.coords:
        rsun = coord("rsun_obs")
    else:
        rsun = np.arcsin(float(ds.attrs.get("rsun_ref", 6.96e8)) / coord("dsun_obs")) * _ARCSEC
    cdelt = np.abs(coord("cdelt1"))
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    cx = coord("crpix1", (nx + 1) / 2) - 1.0 - coord("crval1", 0.0) / cdelt
    cy = coord("crpix2", (ny + 1) / 2) - 1.0 - coord("crval2", 0.0) / cdelt
    return {"radius": rsun / cdelt, "center": np.stack([cx, cy], -1), "cdelt": float(cdelt[0]),
            "rsun_ref": float(ds.attrs.get("rsun_ref", 6.96e8))}


def earth_disk_radius(times: npt.ArrayLike, cdelt: float, rsun_ref: float = 6.96e8) -> np.ndarray:
    """Disk radius in pixels of ``cdelt`` arcsec seen from the Earth at ``times`` (ephemeris:
    ``sunpy.coordinates.get_earth``), for videos generated from a light curve alone."""
    from astropy.time import Time
    from sunpy.coordinates import get_earth

    d = get_earth(Time(np.asarray(times, "datetime64[ns]"))).radius.to_value("m")
    return np.arcsin(rsun_ref / np.atleast_1d(d)) * _ARCSEC / float(cdelt)


def disk_for_times(stats: Mapping[str, Any], times: npt.ArrayLike,
                   shape: Sequence[int]) -> np.ndarray:
    """The limb-darkened disks ``(N, H, W)`` of a run at ``times`` seen from the Earth, scaled
    like its frames (``2 I/I_max − 1``, −1 off the disk), from the run's stored frame
    statistics (``disk_coefficients``, ``cdelt``, ``rsun_ref``, ``disk_center``, ``i_max``)."""
    missing = [k for k in ("disk_coefficients", "cdelt", "disk_center", "i_max") if k not in stats]
    if missing:
        raise ValueError(f"the run's frame statistics lack {missing} (trained before the disk "
                         "model was stored): no limb-darkened disk for new times")
    radius = earth_disk_radius(times, stats["cdelt"], stats.get("rsun_ref", 6.96e8))
    center = np.broadcast_to(np.asarray(stats["disk_center"], np.float64), (len(radius), 2))
    disk = disk_model(tuple(shape), radius, center, stats["disk_coefficients"])
    return 2.0 * np.nan_to_num(disk, nan=0.0) / float(stats["i_max"]) - 1.0


def split_frames(n: int, fractions: Sequence[float] = (0.6, 0.2, 0.2)) -> dict[str, tuple[int, int]]:
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

    def __init__(self, frames: npt.ArrayLike, light_curve: npt.ArrayLike, times: npt.ArrayLike,
                 frame_range: tuple[int, int], stats: Mapping[str, Any], *, window: int = 16,
                 stride: int = 8, flux_factor: npt.ArrayLike | None = None,
                 attrs: Mapping[str, Any] | None = None, disk: npt.ArrayLike | None = None):
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
        self.disk = None
        if disk is not None:
            d = 2.0 * norm.apply(np.nan_to_num(np.asarray(disk, np.float32), nan=0.0),
                                 frame_stats) - 1.0
            self.disk = torch.from_numpy(d.astype(np.float32))
        lc = np.asarray(light_curve, np.float64)
        self.lc = torch.from_numpy(lc.astype(np.float32))
        self.z = torch.from_numpy(norm.apply(lc, lc_stats).astype(np.float32))
        t = np.asarray(times, dtype="datetime64[ns]")
        self.times = t
        self.hours = torch.from_numpy(((t - t[0]) / np.timedelta64(1, "h")).astype(np.float32))

    @staticmethod
    def norm_stats(stats: Mapping[str, Any]) -> tuple[norm.NormStats, norm.NormStats]:
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
        return {"frames": {**{k: (v if isinstance(v, (list, dict, str)) else float(v))
                              for k, v in self.stats.items()},
                           "window": int(self.window), "cadence_hours": cadence,
                           "frame_shape": list(self.x.shape[-2:]), **self.attrs}}

    @staticmethod
    def fit_stats(frames: npt.ArrayLike, light_curve: np.ndarray | Sequence[float],
                  frame_range: tuple[int, int]) -> dict[str, float]:
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
        out = {"input": self.x[s:e][None], "cond": self.z[s:e],
               "times": self.hours[s:e] - self.hours[s], "light_curve": self.lc[s:e],
               "flux_factor": self.flux_factor[s:e], "disk_mask": self.disk_mask}
        if self.disk is not None:
            out["disk"] = self.disk[s:e][None]
        return out


def synthetic_continuum_series(n_frames: int = 64, size: int = 32, *, cadence_hours: float = 12.0,
                               seed: int = 0, n_spots: int = 10,
                               spot_radius: tuple[float, float] = (3.0, 7.0),
                               start: str = "2024-05-01T00:00",
                               noise: bool = True) -> tuple[xr.Dataset, xr.Dataset]:
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


def video_windows(ds: xr.Dataset, lc: xr.Dataset, *, window: int = 16, stride: int = 8,
                  fractions: Sequence[float] = (0.6, 0.2, 0.2),
                  variable: str | None = None) -> dict[str, VideoWindows]:
    """``{"train", "val", "test"}`` :class:`VideoWindows` of an image Dataset and its light curve,
    all scaled with the training split's statistics, with the limb-darkened disk of every frame
    (profile fitted to the training frames; ``stats`` then hold ``disk_coefficients``,
    ``cdelt``, ``rsun_ref`` and ``disk_center`` for videos generated from a light curve)."""
    from solarprep.dataset import data_variables
    from solarprep.photometry.integration import one_au_factor

    name = variable or data_variables(ds)[0]
    frames = np.asarray(ds[name].values, np.float32)
    flux_name = "flux" if "flux" in lc else next(iter(lc.data_vars))
    light = np.asarray(lc[flux_name].values, np.float64)
    times = ds["time"].values
    ranges = split_frames(len(frames), fractions)
    stats: dict[str, Any] = VideoWindows.fit_stats(frames, light, ranges["train"])
    geo = frame_geometry(ds)
    lo, hi = ranges["train"]
    coef = fit_disk_profile(frames[lo:hi], geo["radius"][lo:hi], geo["center"][lo:hi])
    disk = disk_model(frames.shape[-2:], geo["radius"], geo["center"], coef)
    stats.update(disk_coefficients=coef, cdelt=geo["cdelt"], rsun_ref=geo["rsun_ref"],
                 disk_center=[float(v) for v in np.median(geo["center"], axis=0)])
    factor = None
    if "dsun_obs" in ds.coords:
        factor = one_au_factor(ds["dsun_obs"].values)
    attrs = {"units": str(ds[name].attrs.get("units", "")), "variable": name,
             "light_curve_units": str(lc[flux_name].attrs.get("units", "")),
             "light_curve_variable": flux_name}
    return {k: VideoWindows(frames, light, times, r, stats, window=window, stride=stride,
                            flux_factor=factor, attrs=attrs, disk=disk)
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
