"""AIA-171-like images labelled by GOES flare class, for the class-conditional DDPM.

Two sources, one torch Dataset (:class:`FlareImageDataset`, samples
``{"input": (1, H, W) float32 in [−1, 1], "label": int64 0..4}``):

* **synthetic** (:func:`synthetic_flare_images`, :func:`synthetic_flare_series`): the project's
  synthetic Sun (``SyntheticSun.euv``, 171 Å) plus a flare brightening at the brightest active
  region whose amplitude follows the GOES 1–8 Å flux, ``ΔI = gain · Ĩ · (F / 1e-5 W m⁻²)^{1/2}``
  (Ĩ the on-disk median; a model, not a calibration), Gaussian of ``flare_sigma`` disk radii.
  The series version draws a GOES-like curve (:func:`solarprep.synthetic.goes_xrs`) and labels
  every frame with :func:`solarprep.lightcurves.goes.label_times`; the sample version draws one flux per image
  uniformly in log within a chosen class (balanced classes) and labels it with
  :func:`solarprep.lightcurves.goes.class_index`.
* **real**: any solar Dataset of images (``solarprep.load`` of AIA files) and labels from
  :func:`solarprep.lightcurves.goes.label_times` of a GOES file (:func:`images_from_dataset`).

Scaling: ``x = 2 (log10(max(I, 1)) − lo)/(hi − lo) − 1``, clipped to [−1, 1], with ``lo``, ``hi``
the 0.5 and 99.9 percentiles of the **training** images (:func:`fit_scaling`, the ``percentile``
normalisation of :mod:`solarprep.datasets.normalize`); :func:`invert_scaling` maps samples back
to intensities (DN for AIA).
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from solarmodels.registry import register_dataset
from solarprep.datasets import normalize as norm

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt
    import xarray as xr
    from astropy.time import Time

    from solarprep.synthetic.goes import Flare

__all__ = ["FlareImageDataset", "synthetic_flare_images", "synthetic_flare_series",
           "images_from_dataset", "fit_scaling", "apply_scaling", "invert_scaling"]

log = logging.getLogger(__name__)


def _log(images):
    return np.log10(np.maximum(np.nan_to_num(np.asarray(images, np.float64), nan=1.0), 1.0))


def _stats(stats):
    return norm.NormStats("percentile", {"__array__": float(stats["lo"])},
                          {"__array__": float(stats["hi"]) - float(stats["lo"])})


def fit_scaling(images: npt.ArrayLike, lo_pct: float = 0.5, hi_pct: float = 99.9) -> dict:
    """Log-scale limits from training images: ``{"lo", "hi"}`` of ``log10(max(I, 1))``.

    All ``images`` given are training images (``fit_percentile`` over every pixel).
    """
    try:
        s = norm.fit_percentile(_log(images), "all", percentiles=(lo_pct, hi_pct))
    except norm.NormalizationError:
        raise ValueError("the training images have no dynamic range; check the data") from None
    lo = float(s.center_of())
    return {"lo": lo, "hi": lo + float(s.scale_of())}


def apply_scaling(images: npt.ArrayLike, stats: Mapping[str, float]) -> np.ndarray:
    """``2 (log10(max(I, 1)) − lo)/(hi − lo) − 1`` clipped to [−1, 1], float32."""
    x = 2.0 * norm.apply(_log(images), _stats(stats)) - 1.0
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def invert_scaling(x: npt.ArrayLike, stats: Mapping[str, float]) -> np.ndarray:
    """Inverse of :func:`apply_scaling` (inside the clip): ``I = 10^(lo + (x + 1)/2 (hi − lo))``."""
    x = np.asarray(x, np.float64)
    return (10.0 ** norm.invert((x + 1.0) / 2.0, _stats(stats))).astype(np.float32)


class FlareImageDataset(Dataset):
    """Images (N, H, W) in physical units and labels (N,) → scaled tensors (see module docstring).

    Parameters
    ----------
    images : array (N, H, W)
    labels : array (N,) of int 0..4 (−1 = unlabelled, dropped)
    stats : dict, optional
        :func:`fit_scaling` of the training split; computed from ``images`` when None (pass the
        training split's stats to the validation and test splits).
    """

    physical_units = "DN"

    def __init__(self, images: npt.ArrayLike, labels: npt.ArrayLike, stats: Mapping[str, float] | None = None,
                 *, physical_units: str = "DN") -> None:
        images = np.asarray(images)
        labels = np.asarray(labels).astype(np.int64)
        keep = labels >= 0
        if images.ndim != 3 or len(images) != len(labels):
            raise ValueError(f"images must be (N, H, W) with N labels; got {images.shape} and "
                             f"{labels.shape}")
        self.stats = stats or fit_scaling(images[keep])
        self.x = torch.from_numpy(apply_scaling(images[keep], self.stats))[:, None]
        self.y = torch.from_numpy(labels[keep])
        self.physical_units = physical_units

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"input": self.x[i], "label": self.y[i]}

    @property
    def target_attrs(self) -> dict:
        """The scaling (stored in each checkpoint's meta by the trainer: samples of a trained run
        go back to intensities with :func:`invert_scaling`)."""
        return {"image": {"scaling": "log10_percentile", "lo": self.stats["lo"],
                          "hi": self.stats["hi"], "units": "1",
                          "physical_units": self.physical_units,
                          "shape": list(self.x.shape[-2:])}}

    def class_counts(self, num_classes: int = 5) -> np.ndarray:
        """Number of samples per class."""
        return np.bincount(self.y.numpy(), minlength=num_classes)


# --------------------------------------------------------------------------- synthetic


def _base_frames(seed, times, size, wavelength):
    from solarprep import synthetic

    sun = synthetic.SyntheticSun(seed=seed, noise=False)
    frames, centres = [], []
    for t in times:
        img = np.nan_to_num(np.asarray(sun.euv(t, wavelength, shape=size).data, np.float64))
        frames.append(img)
        yy, xx = np.mgrid[:size, :size]
        r = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2)
        inside = np.where(r < 0.42 * size, img, -np.inf)
        centres.append(np.unravel_index(np.argmax(inside), img.shape))
    return frames, centres


def _flare_image(base, centre, flux, gain, sigma_px, rng, noise):
    size = base.shape[0]
    yy, xx = np.mgrid[:size, :size]
    med = np.median(base[base > 0]) if np.any(base > 0) else 1.0
    amp = gain * med * math.sqrt(flux / 1e-5)
    img = base + amp * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma_px ** 2))
    if noise:
        img = img * (1.0 + noise * rng.standard_normal(img.shape))
    return img


def synthetic_flare_images(n: int, size: int = 32, *, seed: int = 0,
                           classes: Sequence[int] = (0, 1, 2, 3, 4), gain: float = 3.0,
                           flare_sigma: float = 0.2, n_base: int = 4, wavelength: int = 171,
                           noise: float = 0.02, start: str | Time = "2024-05-01"
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced synthetic 171 Å images with a flare of random GOES class each.

    Returns ``(images (n, size, size) float32 in DN, labels (n,) int64, fluxes (n,) float64)``;
    the classes cycle through ``classes``, the flux is log-uniform within the class, the label is
    ``solarprep.lightcurves.goes.class_index(flux)``. ``n_base`` base frames 6 h apart are rendered once.
    """
    from astropy.time import Time, TimeDelta

    from solarprep.lightcurves import goes

    rng = np.random.default_rng(seed)
    t0 = Time(start)
    times = [(t0 + TimeDelta(6 * 3600 * k, format="sec")).isot for k in range(n_base)]
    frames, centres = _base_frames(seed, times, size, wavelength)
    sigma_px = flare_sigma * size / 2
    images, fluxes = [], []
    for k in range(n):
        c = classes[k % len(classes)]
        flux = 10 ** (-8 + c + rng.uniform(0.0, 0.999)) if c < 4 else 10 ** rng.uniform(-4, -3.3)
        b = int(rng.integers(n_base))
        images.append(_flare_image(frames[b], centres[b], flux, gain, sigma_px, rng, noise))
        fluxes.append(flux)
    fluxes = np.asarray(fluxes)
    return np.asarray(images, np.float32), goes.class_index(fluxes), fluxes


def synthetic_flare_series(n_frames: int = 120, size: int = 32, *, cadence_minutes: float = 12.0,
                           seed: int = 0, flares: Sequence[Flare | tuple[str | Time, str]] | None = None,
                           gain: float = 3.0, flare_sigma: float = 0.2,
                           window_minutes: float = 6.0, wavelength: int = 171, noise: float = 0.02,
                           start: str | Time = "2024-05-01T00:00"
                           ) -> tuple[np.ndarray, xr.Dataset, xr.Dataset]:
    """A time series of synthetic 171 Å frames whose flares follow a GOES-like curve.

    Returns ``(images (N, size, size) float32, goes Dataset, labels Dataset)`` — the labels from
    :func:`solarprep.lightcurves.goes.label_times` with a ±``window_minutes`` window. Default flares: one of
    each class B, C, M, X spread over the series on an A5 background.
    """
    from astropy.time import Time, TimeDelta

    from solarprep.lightcurves import goes
    from solarprep.synthetic import goes_xrs

    t0 = Time(start)
    span = n_frames * cadence_minutes * 60.0
    end = t0 + TimeDelta(span, format="sec")
    if flares is None:
        flares = [((t0 + TimeDelta(span * f, format="sec")).isot, c)
                  for f, c in ((0.15, "B5"), (0.35, "C5"), (0.6, "M5"), (0.85, "X2"))]
    xrs = goes_xrs(t0, end, 60.0, flares=flares, background="A5", seed=seed)
    xrs.attrs["flux_scale"] = "swpc"
    times = np.array([(t0 + TimeDelta(cadence_minutes * 60.0 * k, format="sec")).datetime64
                      for k in range(n_frames)], dtype="datetime64[ns]")
    n_base = max(1, int(math.ceil(span / (6 * 3600))))
    base_times = [(t0 + TimeDelta(6 * 3600 * k, format="sec")).isot for k in range(n_base)]
    frames, centres = _base_frames(seed, base_times, size, wavelength)
    flux = np.interp(times.astype("datetime64[ns]").astype(np.int64),
                     xrs.time.values.astype(np.int64), xrs.xrsb.values.astype(np.float64))
    rng = np.random.default_rng(seed)
    sigma_px = flare_sigma * size / 2
    images = []
    for k in range(n_frames):
        b = min(int(k * cadence_minutes * 60 // (6 * 3600)), n_base - 1)
        images.append(_flare_image(frames[b], centres[b], flux[k], gain, sigma_px, rng, noise))
    labels = goes.label_times(times, xrs, before=f"{window_minutes}min",
                              after=f"{window_minutes}min")
    return np.asarray(images, np.float32), xrs, labels


def images_from_dataset(ds: xr.Dataset, size: int | None = None,
                        variable: str | None = None) -> np.ndarray:
    """Frames (N, size, size) float32 of a solar image Dataset (e.g. ``solarprep.load`` of AIA
    171 files), NaN → 0, area-resampled to ``size`` (None keeps the size)."""
    from solarprep.dataset import data_variables

    names = data_variables(ds)
    if not names:
        raise ValueError("the Dataset has no (time, y, x) image variable")
    name = variable or names[0]
    x = torch.from_numpy(np.nan_to_num(np.asarray(ds[name].values, np.float32)))[:, None]
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    return x[:, 0].numpy()


@register_dataset("synthetic_flares")
def _build_synthetic_flares(split="train", n=256, size=32, seed=0, **kwargs):
    """Registry builder: balanced synthetic flare images; ``train``/``val``/``test`` differ in seed.

    The val and test splits use the train split's scaling.
    """
    offsets = {"train": 0, "val": 1000, "test": 2000}
    if split not in offsets:
        return None
    imgs, labels, _ = synthetic_flare_images(n if split == "train" else max(n // 4, 10), size,
                                             seed=seed + offsets[split], **kwargs)
    stats = None
    if split != "train":
        train_imgs, _, _ = synthetic_flare_images(n, size, seed=seed, **kwargs)
        stats = fit_scaling(train_imgs)
    return FlareImageDataset(imgs, labels, stats)
