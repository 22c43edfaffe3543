"""Evaluation metrics of the seed systems, for NumPy arrays and torch tensors alike.

Every reduction takes an optional boolean ``mask`` (pixels to include, broadcast against the
data) and an ``axis`` (``None``: everything; an int or tuple: those axes, e.g. ``(-2, -1)`` for
one value per image). Inputs are promoted to float64; a torch input gives a torch result on the
same device, a NumPy input a NumPy result (0-d arrays become floats).

Image translation (Park et al. 2019; Kim et al. 2019; Jeong et al. 2020, 2022):
:func:`pearson_cc`, :func:`relative_error`, :func:`ppe`, :func:`euv_generation_metrics`
(the seed's 4× binned on-disk evaluation), :func:`rmse`, :func:`mae`, :func:`mse`,
:func:`magnetogram_rmse_regions` (full disk / active regions / quiet Sun, G), :func:`ssim`
(Wang et al. 2004), :func:`psnr` (with an explicit data range), :func:`total_unsigned_flux`
(with the true surface area of each pixel), :func:`tumf_kim2019` (the seed's flat-area version).

SOLARED (seed 5): :func:`per_tile_rmse`, :func:`emergence_time`, :func:`emergence_lead_time`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from solarmodels.errors import MetricError  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt
    import torch

    #: A NumPy array (or array_like) or a torch tensor.
    Data: TypeAlias = "npt.ArrayLike | torch.Tensor"
    #: A float (0-d), an array or a tensor, following the input.
    Metric: TypeAlias = "float | np.ndarray | torch.Tensor"
    Axis: TypeAlias = "int | tuple[int, ...] | None"

__all__ = ["mse", "rmse", "mae", "pearson_cc", "relative_error", "ppe", "psnr", "ssim",
           "disk_mask", "bin_image", "euv_generation_metrics", "magnetogram_rmse_regions",
           "total_unsigned_flux", "tumf_kim2019", "flux_correlation", "per_tile_rmse",
           "emergence_time", "emergence_lead_time", "RSUN_KM_KIM2019"]

log = logging.getLogger(__name__)

#: Solar radius used by Kim et al. (2019) for the TUMF pixel area, km.
RSUN_KM_KIM2019 = 695_500.0


# --------------------------------------------------------------------------- array helpers

def _is_torch(x):
    return type(x).__module__.split(".")[0] == "torch"


def _as_float(x, like_torch, device=None):
    if like_torch:
        import torch

        if not _is_torch(x):
            x = torch.as_tensor(np.asarray(x), device=device)
        return x.to(torch.float64)
    if _is_torch(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _prepare(pred, target, mask=None):
    """float64 copies of ``pred``, ``target`` and weights ``w`` (1 inside the mask, else 0)."""
    use_torch = _is_torch(pred) or _is_torch(target)
    device = pred.device if _is_torch(pred) else (target.device if _is_torch(target) else None)
    p = _as_float(pred, use_torch, device)
    t = _as_float(target, use_torch, device)
    if tuple(p.shape) != tuple(t.shape):
        raise MetricError(f"prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in "
                          "shape; compare arrays on the same grid")
    w = _as_float(mask if mask is not None else np.ones((), bool), use_torch, device)
    if use_torch:
        import torch

        return torch.broadcast_tensors(p, t, w)
    return np.broadcast_arrays(p, t, w)


def _sum(x, axis):
    if axis is None:
        return x.sum()
    return x.sum(axis if isinstance(axis, int) else tuple(axis))


def _out(x):
    if _is_torch(x):
        return x
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def _sqrt(x):
    return x.sqrt() if _is_torch(x) else np.sqrt(x)


def _check_finite(p, t, w, name):
    inside = w > 0
    bad = ~((p == p) & (t == t)) & inside                 # NaN inside the mask
    if bool(bad.any()):
        raise MetricError(f"{name}: NaN values inside the mask; pass mask= to exclude them "
                          "(e.g. the on-disk pixels) or fill them first")


def _where(cond, a, b):
    if _is_torch(cond):
        import torch

        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def _masked_mean(x, w, axis):
    return _sum(x * w, axis) / _sum(w, axis)


def _clean(x, w):
    """Zero the values outside the mask so that NaNs there cannot leak into sums."""
    return _where(w > 0, x, 0 * w)


# --------------------------------------------------------------------------- pixel metrics

def mse(pred: Data, target: Data, mask: Data | None = None, axis: Axis = None) -> Metric:
    """Mean squared error ``Σ w (p − t)² / Σ w`` over the mask (``w`` = 1 inside)."""
    p, t, w = _prepare(pred, target, mask)
    _check_finite(p, t, w, "mse")
    return _out(_masked_mean(_clean(p - t, w) ** 2, w, axis))


def rmse(pred: Data, target: Data, mask: Data | None = None, axis: Axis = None) -> Metric:
    """Root mean squared error ``√(Σ w (p − t)² / Σ w)``, in the units of the data."""
    value = mse(pred, target, mask, axis)
    return _out(_sqrt(value) if _is_torch(value) else np.sqrt(value))


def mae(pred: Data, target: Data, mask: Data | None = None, axis: Axis = None) -> Metric:
    """Mean absolute error ``Σ w |p − t| / Σ w``."""
    p, t, w = _prepare(pred, target, mask)
    _check_finite(p, t, w, "mae")
    return _out(_masked_mean(abs(_clean(p - t, w)), w, axis))


def pearson_cc(pred: Data, target: Data, mask: Data | None = None, axis: Axis = None) -> Metric:
    """Pearson correlation coefficient over the mask.

    ``r = Σ w (p − p̄)(t − t̄) / √(Σ w (p − p̄)² · Σ w (t − t̄)²)`` with masked means ``p̄``, ``t̄``;
    the "CC over the disk" of Park et al. (2019) and Jeong et al. (2020) with ``mask`` = on disk.
    NaN where either input is constant.
    """
    p, t, w = _prepare(pred, target, mask)
    _check_finite(p, t, w, "pearson_cc")
    p, t = _clean(p, w), _clean(t, w)
    keep = axis is not None
    pm = _masked_mean(p, w, axis)
    tm = _masked_mean(t, w, axis)
    if keep:
        pm, tm = _expand(pm, p, axis), _expand(tm, t, axis)
    dp, dt = (p - pm) * w, (t - tm) * w
    num = _sum(dp * dt, axis)
    den = _sqrt(_sum(dp * dp, axis) * _sum(dt * dt, axis))
    with np.errstate(invalid="ignore", divide="ignore"):      # constant input: NaN
        return _out(num / den)


def _expand(x, like, axis):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = sorted(a % like.ndim for a in axes)
    for a in axes:
        x = x.unsqueeze(a) if _is_torch(x) else np.expand_dims(x, a)
    return x


def relative_error(pred: Data, target: Data, mask: Data | None = None, axis: Axis = None) -> Metric:
    """Relative error of the totals, ``RE = (Σ w p − Σ w t) / Σ w t`` (Park et al. 2019)."""
    p, t, w = _prepare(pred, target, mask)
    _check_finite(p, t, w, "relative_error")
    sp, st = _sum(_clean(p, w) * w, axis), _sum(_clean(t, w) * w, axis)
    return _out((sp - st) / st)


def ppe(pred: Data, target: Data, threshold: float = 0.1, mask: Data | None = None,
        axis: Axis = None) -> Metric:
    """Percentage of pixels within a relative error: ``PPE = #{|p − t| ≤ threshold·|t|} / #mask``.

    Park et al. (2019) report PPE10 (``threshold=0.1``) and PPE50 (``0.5``) on intensities
    clipped to ≥ 1 (see :func:`euv_generation_metrics`). Returned as a fraction in [0, 1].
    Pixels with ``t = 0`` count as outside the tolerance unless ``p = 0`` too.
    """
    if not threshold > 0:
        raise MetricError(f"ppe: threshold must be positive, not {threshold}")
    p, t, w = _prepare(pred, target, mask)
    _check_finite(p, t, w, "ppe")
    ok = (abs(_clean(p - t, w)) <= threshold * abs(_clean(t, w))) * 1.0
    return _out(_sum(ok * w, axis) / _sum(w, axis))


def psnr(pred: Data, target: Data, data_range: float, mask: Data | None = None,
         axis: Axis = None) -> Metric:
    """Peak signal-to-noise ratio ``10 log10(R² / MSE)`` in dB with the data range ``R`` stated.

    ``data_range`` is required: the seeds' skimage calls used ``data_range=1`` on data spanning
    [−1, 1] (R = 2), which understates the PSNR by ``20 log10 2 ≈ 6.02 dB``.
    """
    if data_range is None or not float(data_range) > 0:
        raise MetricError(f"psnr: data_range must be a positive number (max − min of the data's "
                          f"scale, e.g. 2.0 for [−1, 1]), not {data_range!r}")
    value = mse(pred, target, mask, axis)
    if _is_torch(value):
        import torch

        return 10.0 * torch.log10(float(data_range) ** 2 / value)
    with np.errstate(divide="ignore"):                 # identical images: +inf dB
        return _out(10.0 * np.log10(float(data_range) ** 2 / np.asarray(value)))


# --------------------------------------------------------------------------- SSIM

def _gaussian_taps(sigma, truncate):
    radius = int(truncate * sigma + 0.5)
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (k / sigma) ** 2)
    return g / g.sum(), radius


def _filter_valid_numpy(x, taps, radius):
    from scipy.ndimage import correlate1d

    y = correlate1d(x, taps, axis=-1, mode="constant")
    y = correlate1d(y, taps, axis=-2, mode="constant")
    return y[..., radius:-radius, radius:-radius] if radius else y


def _filter_valid_torch(x, taps, radius):
    import torch

    lead = x.shape[:-2]
    h, w = x.shape[-2:]
    k = torch.as_tensor(taps, dtype=x.dtype, device=x.device)
    y = x.reshape(-1, 1, h, w)
    y = torch.nn.functional.conv2d(y, k.view(1, 1, 1, -1))
    y = torch.nn.functional.conv2d(y, k.view(1, 1, -1, 1))
    return y.reshape(*lead, h - 2 * radius, w - 2 * radius)


def ssim(pred: Data, target: Data, data_range: float, *, sigma: float = 1.5, truncate: float = 3.5,
         k1: float = 0.01, k2: float = 0.03, return_map: bool = False) -> Metric | tuple[Metric, Any]:
    """Structural similarity (Wang et al. 2004, IEEE TIP 13, 600) with a Gaussian window.

    For each window position (a Gaussian of σ = 1.5 px truncated at 3.5σ: 11×11 taps, only
    where it fits inside the image, as Wang et al.'s reference code),

    ``SSIM = (2 μ_p μ_t + C1)(2 σ_pt + C2) / ((μ_p² + μ_t² + C1)(σ_p² + σ_t² + C2))``,

    ``C1 = (k1 R)²``, ``C2 = (k2 R)²``, with weighted (not sample-corrected) moments. The result
    is the mean over the map, one value per image of the last two axes.

    Parameters
    ----------
    pred, target : array or tensor, (..., H, W)
        Finite images (fill off-disk NaNs first).
    data_range : float
        ``R``, the range of the data's scale (2 for [−1, 1]); required.
    return_map : bool
        Also return the SSIM map.
    """
    if data_range is None or not float(data_range) > 0:
        raise MetricError(f"ssim: data_range must be a positive number, not {data_range!r}")
    p, t, w = _prepare(pred, target)
    if p.ndim < 2:
        raise MetricError("ssim: inputs must be images (..., H, W)")
    if not bool(((p == p) & (t == t)).all()):
        raise MetricError("ssim: NaN in the images; fill off-disk pixels first "
                          "(e.g. with the off-disk value of the scaling)")
    taps, radius = _gaussian_taps(sigma, truncate)
    if min(p.shape[-2:]) < 2 * radius + 1:
        raise MetricError(f"ssim: images of {tuple(p.shape[-2:])} are smaller than the "
                          f"{2 * radius + 1}×{2 * radius + 1} window")
    filt = _filter_valid_torch if _is_torch(p) else _filter_valid_numpy
    mp, mt = filt(p, taps, radius), filt(t, taps, radius)
    vp = filt(p * p, taps, radius) - mp * mp
    vt = filt(t * t, taps, radius) - mt * mt
    cpt = filt(p * t, taps, radius) - mp * mt
    c1, c2 = (k1 * float(data_range)) ** 2, (k2 * float(data_range)) ** 2
    smap = ((2 * mp * mt + c1) * (2 * cpt + c2)) / ((mp * mp + mt * mt + c1) * (vp + vt + c2))
    value = _out(smap.mean((-2, -1)))
    return (value, smap) if return_map else value


# --------------------------------------------------------------------------- full-disk helpers

def disk_mask(shape: tuple[int, int], radius: float,
              center: tuple[float, float] | None = None) -> np.ndarray:
    """Boolean mask of the pixels whose centres lie at ``r < radius`` px from ``center``.

    ``center`` (row, column) defaults to the image centre ``((ny − 1)/2, (nx − 1)/2)``.
    """
    ny, nx = shape[-2:]
    cy, cx = ((ny - 1) / 2.0, (nx - 1) / 2.0) if center is None else center
    yy, xx = np.mgrid[0:ny, 0:nx]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < float(radius) ** 2


def bin_image(x: Any, factor: int) -> Any:
    """Mean over ``factor × factor`` blocks of the last two axes (sizes must divide)."""
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise MetricError(f"bin_image: {h}×{w} is not divisible by the binning {factor}")
    shape = tuple(x.shape[:-2]) + (h // factor, factor, w // factor, factor)
    return x.reshape(shape).mean((-3, -1))


def euv_generation_metrics(pred: Data, target: Data, *, radius: float = 392.0, binning: int = 4,
                           offset: float = 1.0,
                           clip: tuple[float, float] = (1.0, 2.0 ** 14)) -> dict[str, Metric]:
    """The evaluation of Park et al. (2019, ApJL 884, L23) for generated AIA images.

    Both images (physical units, DN) are binned ``binning × binning`` (1024² → 256²), the disk
    ``r < radius / binning`` px is kept, and ``x = clip(x + offset, *clip)``; then

    * ``cc``: :func:`pearson_cc` over the disk,
    * ``re``: :func:`relative_error` of the disk totals,
    * ``ppe10``, ``ppe50``: :func:`ppe` with tolerances 0.1 and 0.5.

    Returns
    -------
    dict of str to float (or arrays for stacked images, one value per image)
    """
    p = bin_image(_as_float(pred, _is_torch(pred)), binning)
    t = bin_image(_as_float(target, _is_torch(target)), binning)
    mask = disk_mask(p.shape, radius / binning)
    lo, hi = clip
    p = (p + offset).clip(lo, hi)
    t = (t + offset).clip(lo, hi)
    mask = np.broadcast_to(mask, tuple(p.shape))
    finite = np.isfinite(np.asarray(p.cpu() if _is_torch(p) else p)) & \
        np.isfinite(np.asarray(t.cpu() if _is_torch(t) else t))
    mask = mask & finite
    axis = (-2, -1)
    return {"cc": pearson_cc(p, t, mask, axis), "re": relative_error(p, t, mask, axis),
            "ppe10": ppe(p, t, 0.1, mask, axis), "ppe50": ppe(p, t, 0.5, mask, axis)}


def magnetogram_rmse_regions(pred: Data, target: Data, on_disk: Data, *, ar_threshold: float = 50.0,
                             active: Data | None = None,
                             axis: Axis = (-2, -1)) -> dict[str, Metric]:
    """RMSE in gauss over the full disk, the active regions and the quiet Sun.

    The categories of Jeong et al. (2022, ApJL 927, L28): ``active`` pixels are the on-disk
    pixels with ``|target| ≥ ar_threshold`` (G) unless an explicit ``active`` mask is given;
    the quiet Sun is the rest of the disk. (Jeong et al. do not state their threshold in the
    seed code; 50 G is this project's choice.)

    Returns
    -------
    dict with ``full_disk``, ``active_region``, ``quiet_sun`` (G) and ``active_fraction``.
    """
    t = _as_float(target, False)
    on = np.asarray(on_disk.cpu() if _is_torch(on_disk) else on_disk, bool)
    on = np.broadcast_to(on, t.shape)
    act = (np.abs(np.nan_to_num(t)) >= ar_threshold) if active is None else \
        np.broadcast_to(np.asarray(active, bool), t.shape)
    act = act & on
    quiet = on & ~act
    return {"full_disk": rmse(pred, target, on, axis),
            "active_region": rmse(pred, target, act, axis),
            "quiet_sun": rmse(pred, target, quiet, axis),
            "active_fraction": _out(act.sum(axis) / np.maximum(on.sum(axis), 1))}


# --------------------------------------------------------------------------- magnetic flux

def total_unsigned_flux(b: Data, pixel_area: Data, mask: Data | None = None, threshold: float = 0.0,
                        axis: Axis = (-2, -1)) -> Metric:
    """Total unsigned magnetic flux ``Φ = Σ |B| A`` over the mask where ``|B| > threshold``.

    Parameters
    ----------
    b : array or tensor, (..., H, W)
        Field in gauss (line-of-sight or radial).
    pixel_area : array or float
        Area on the solar surface of each pixel, cm² (for a line-of-sight image the projected
        area divided by μ: ``solarprep.photometry.foreshortening.pixel_area``). The product is in Mx.
    mask : bool array, optional
        Pixels to include (e.g. ``mu > 0.1``: near the limb ``1/μ`` diverges).
    threshold : float
        Noise floor in G (Kim et al. 2019 used 10 G).
    """
    bb, _, w = _prepare(b, b, mask)
    area = _as_float(pixel_area, _is_torch(bb), bb.device if _is_torch(bb) else None)
    keep = (abs(_clean(bb, w)) > threshold) & (w > 0)
    return _out(_sum(_where(keep, abs(bb) * area, 0 * w), axis))


def tumf_kim2019(b: Data, *, radius: float = 392.0, threshold: float = 10.0,
                 rsun_km: float = RSUN_KM_KIM2019) -> Metric:
    """Total unsigned magnetic flux as in Kim et al. (2019), Mx (no foreshortening).

    ``Φ = Σ_{r < radius, |B| > threshold} |B| · (R_☉ / radius)²``, pixel area in cm²
    (``R_☉ = 695,500 km``, 10¹⁰ cm² per km²). Every disk pixel gets the area of a pixel at disk
    centre: Φ is underestimated by ``1/μ`` towards the limb. Kept for comparison with the seed.
    """
    x = _as_float(b, _is_torch(b))
    area_cm2 = (rsun_km / float(radius)) ** 2 * 1e10
    mask = disk_mask(x.shape, radius)
    return total_unsigned_flux(x, area_cm2, mask, threshold)


def flux_correlation(flux_pred: Data, flux_target: Data) -> Metric:
    """Pearson correlation of two flux series (e.g. TUMF of generated vs observed images)."""
    return pearson_cc(flux_pred, flux_target)


# --------------------------------------------------------------------------- SOLARED

def per_tile_rmse(pred: Data, target: Data, axis: Axis = 0) -> Metric:
    """RMSE of each tile over the samples: ``√(mean_s (p[s, k] − t[s, k])²)``, shape (tiles,)."""
    return rmse(pred, target, None, axis)


def _hours(times, n):
    if times is None:
        return np.arange(n, dtype=np.float64)
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        return (times - times[0]).astype("timedelta64[ns]").astype(np.float64) / 3.6e12
    return times.astype(np.float64)


def _smooth(x, window):
    if window <= 1:
        return x
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(x, int(window), axis=0, mode="nearest")


def emergence_time(intensity: npt.ArrayLike, times: npt.ArrayLike | None = None, *,
                   threshold: float = -0.01, min_steps: int = 4, smooth: int = 5) -> float | np.ndarray:
    """Time at which a tile's continuum intensity starts to drop: flux emergence.

    Following Tirona et al. (the "EarlyDetect" definition): the intensity is smoothed with a
    centred running mean of ``smooth`` samples, its derivative ``dI/dt`` (per hour) is taken
    between consecutive samples, and emergence is the start of the first run of at least
    ``min_steps`` consecutive derivatives below ``threshold`` (−0.01 per hour on the normalised
    intensity; 4 steps = 4 h at the 1 h cadence).

    Parameters
    ----------
    intensity : array, (T,) or (T, tiles)
        Time along axis 0 (normalised intensity).
    times : array of datetime64 or float hours, (T,), optional
        Sample times (default: 0, 1, 2, … h).

    Returns
    -------
    float or ndarray
        Hours since ``times[0]`` (NaN where no emergence is found).
    """
    x = _as_float(intensity, False)
    t = _hours(times, x.shape[0])
    if t.shape[0] != x.shape[0]:
        raise MetricError(f"emergence_time: {x.shape[0]} samples but {t.shape[0]} times")
    flat = x.reshape(x.shape[0], -1)
    deriv = np.diff(_smooth(flat, smooth), axis=0) / np.diff(t)[:, None]
    below = deriv < threshold
    out = np.full(flat.shape[1], np.nan)
    for k in range(flat.shape[1]):
        run = 0
        for i, b in enumerate(below[:, k]):
            run = run + 1 if b else 0
            if run >= min_steps:
                out[k] = t[i - min_steps + 1]
                break
    out = out.reshape(x.shape[1:])
    return float(out) if out.ndim == 0 else out


def emergence_lead_time(observed: npt.ArrayLike, predicted: npt.ArrayLike,
                        times: npt.ArrayLike | None = None, *, horizon: float = 12.0,
                        **kwargs: Any) -> Metric:
    """How much earlier a forecast flags emergence than the observations do, hours.

    ``T_lead = (t_obs − t_pred) + horizon`` (Tirona et al.): ``t_obs`` is the
    :func:`emergence_time` of the observed intensity, ``t_pred`` that of the predicted
    intensity, both on the time axis of the *target* times, and ``horizon`` the forecast lead
    (12 h): a prediction for ``t_pred`` was issued ``horizon`` earlier. NaN where either series
    shows no emergence. ``kwargs`` go to :func:`emergence_time`.
    """
    t_obs = emergence_time(observed, times, **kwargs)
    t_pred = emergence_time(predicted, times, **kwargs)
    return _out(np.asarray(t_obs) - np.asarray(t_pred) + float(horizon))
