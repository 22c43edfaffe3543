"""Acoustic power maps on the CPU: FFT-input preparation and fused band sums (numba).

Twins of :mod:`kernels.cuda.power` (same names and arguments); the arithmetic is
in :mod:`kernels._power_math`. Pixels are flattened: a window of Dopplergrams is
a C-contiguous ``(N, P)`` float32 array (``P = ny·nx``), the spectrum a
``(K, P)`` complex64 array (``scipy.fft.rfft(x, axis=0)``). Work is split into
blocks of :data:`BLOCK` consecutive pixels, one block per thread at a time, so
that every inner loop runs over contiguous memory.
"""
from __future__ import annotations

import numba
import numpy as np

from .. import _power_math as _m

__all__ = ["prepare_series", "band_power", "prepare_series_serial", "band_power_serial",
           "prepare_rows", "band_power_rows", "BLOCK"]

#: Pixels per block of work (inner loops are vectorised over them).
BLOCK = 256

_sample = numba.njit(inline="always", cache=True)(_m.sample)
_detrended = numba.njit(inline="always", cache=True)(_m.detrended)
_power_term = numba.njit(inline="always", cache=True)(_m.power_term)


@numba.njit(inline="always", cache=True)
def _prepare_block(v, out, taper, detrend, p0, p1, centre, denom):
    n = v.shape[0]
    m = out.shape[0]
    diff = m == n - 1
    width = p1 - p0
    mean = np.zeros(width)
    slope = np.zeros(width)
    if detrend != _m.DETREND_NONE:
        for t in range(m):
            dt = t - centre
            for q in range(width):
                x = _sample(v, t, p0 + q, diff)
                mean[q] += x
                slope[q] += dt * x
        for q in range(width):
            mean[q] /= m
            if detrend == _m.DETREND_LINEAR:
                slope[q] /= denom
            else:
                slope[q] = 0.0
    for t in range(m):
        w = taper[t]
        for q in range(width):
            out[t, p0 + q] = _detrended(_sample(v, t, p0 + q, diff), t, mean[q], slope[q],
                                        centre, w)


@numba.njit(nogil=True, cache=True)
def _centre_denom(m):
    centre = (m - 1) / 2.0
    denom = 0.0
    for t in range(m):
        denom += (t - centre) * (t - centre)
    return centre, (denom if denom > 0.0 else 1.0)


@numba.njit(parallel=True, nogil=True, cache=True)
def _prepare_series(v, out, taper, detrend):
    npix = v.shape[1]
    centre, denom = _centre_denom(out.shape[0])
    nblocks = (npix + BLOCK - 1) // BLOCK
    for blk in numba.prange(nblocks):
        p0 = blk * BLOCK
        _prepare_block(v, out, taper, detrend, p0, min(p0 + BLOCK, npix), centre, denom)


@numba.njit(nogil=True, cache=True)
def prepare_series_serial(v, out, taper, detrend):
    """One-thread, GIL-free :func:`prepare_series` (for callers that parallelise over blocks)."""
    npix = v.shape[1]
    centre, denom = _centre_denom(out.shape[0])
    for p0 in range(0, npix, BLOCK):
        _prepare_block(v, out, taper, detrend, p0, min(p0 + BLOCK, npix), centre, denom)


@numba.njit(inline="always", cache=True)
def _band_block(spec, starts, stops, weights, out, p0, p1):
    width = p1 - p0
    acc = np.empty(width)
    for b in range(starts.shape[0]):
        for q in range(width):
            acc[q] = 0.0
        for k in range(starts[b], stops[b]):
            w = weights[b, k - starts[b]]
            for q in range(width):
                acc[q] += _power_term(spec[k, p0 + q], w)
        for q in range(width):
            out[b, p0 + q] = acc[q]


@numba.njit(parallel=True, nogil=True, cache=True)
def _band_power(spec, starts, stops, weights, out):
    npix = spec.shape[1]
    nblocks = (npix + BLOCK - 1) // BLOCK
    for blk in numba.prange(nblocks):
        p0 = blk * BLOCK
        _band_block(spec, starts, stops, weights, out, p0, min(p0 + BLOCK, npix))


@numba.njit(nogil=True, cache=True)
def band_power_serial(spec, starts, stops, weights, out):
    """One-thread, GIL-free :func:`band_power`."""
    npix = spec.shape[1]
    for p0 in range(0, npix, BLOCK):
        _band_block(spec, starts, stops, weights, out, p0, min(p0 + BLOCK, npix))


def _check_prepare(v, out, taper, *, rows=False):
    """Shapes of ``prepare_series`` (``out`` ``(M, P)``) or ``prepare_rows`` (``out`` ``(P, M)``)."""
    name = "prepare_rows" if rows else "prepare_series"
    m, npix = (out.shape[::-1] if rows else out.shape) if out.ndim == 2 else (0, -1)
    if v.ndim != 2 or out.ndim != 2 or v.shape[1] != npix:
        layout = "(P, M)" if rows else "(M, P)"
        raise ValueError(f"{name}: v {v.shape} and out {out.shape} must be (N, P) and "
                         f"{layout} with the same number of pixels P")
    if m not in (v.shape[0], v.shape[0] - 1) or m < 1:
        raise ValueError(f"{name}: out has {m} samples; it must have N - 1 = "
                         f"{v.shape[0] - 1} (difference) or N = {v.shape[0]} (no difference)")
    if taper.shape != (m,):
        raise ValueError(f"{name}: taper has shape {taper.shape}, expected ({m},)")


def _check_bands(spec, starts, stops, weights, out, *, rows=False):
    """Shapes (and, for host arrays, bin ranges) of ``band_power`` / ``band_power_rows``.

    Device arrays are not read back: their values are the caller's to check on the host
    (solarprep builds them with :func:`solarprep.helioseismology.power.band_weights`).
    """
    nb = starts.shape[0]
    nk, npix = spec.shape[::-1] if rows else spec.shape
    if stops.shape != (nb,) or out.shape != (nb, npix) or weights.shape[0] != nb:
        raise ValueError(f"band_power: {nb} bands but stops {stops.shape}, weights "
                         f"{weights.shape}, out {out.shape} for spectrum {spec.shape}")
    if not (isinstance(starts, np.ndarray) and isinstance(stops, np.ndarray)):
        return
    if nb and (starts.min() < 0 or stops.max() > nk or np.any(stops - starts > weights.shape[1])):
        raise ValueError("band_power: band bins outside the spectrum or wider than the weights")


def prepare_series(v: np.ndarray, out: np.ndarray, taper: np.ndarray, detrend: int) -> None:
    """Fill ``out`` with the (differenced, detrended, tapered) FFT input of a window.

    Parameters
    ----------
    v : numpy.ndarray
        ``(N, P)`` float32 (or float64) Dopplergrams, C-contiguous.
    out : numpy.ndarray
        ``(M, P)`` float32 output; ``M = N − 1`` differences (``V[t+1] − V[t]``),
        ``M = N`` uses ``V`` itself.
    taper : numpy.ndarray
        ``(M,)`` float64 apodisation window (ones for none).
    detrend : int
        0 none, 1 subtract the mean, 2 subtract the least-squares line
        (:data:`kernels._power_math.DETREND_LINEAR`).
    """
    taper = np.ascontiguousarray(taper, dtype=np.float64)
    _check_prepare(v, out, taper)
    _prepare_series(v, out, taper, int(detrend))


def band_power(spec: np.ndarray, starts: np.ndarray, stops: np.ndarray, weights: np.ndarray,
               out: np.ndarray) -> None:
    """Fused band sums ``out[b, p] = Σ_k weights[b, k − starts[b]]·|spec[k, p]|²``.

    Parameters
    ----------
    spec : numpy.ndarray
        ``(K, P)`` complex64 spectrum (time-frequency axis first).
    starts, stops : numpy.ndarray
        int64 ``(nb,)`` first and one-past-last bin of each band.
    weights : numpy.ndarray
        float64 ``(nb, W)``, ``W ≥ max(stops − starts)``: the weight of each bin.
    out : numpy.ndarray
        ``(nb, P)`` float32 or float64 output.
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    stops = np.ascontiguousarray(stops, dtype=np.int64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    _check_bands(spec, starts, stops, weights, out)
    _band_power(spec, starts, stops, weights, out)


# -- pixel-major twins (the GPU path's layout): a window (N, P) in, samples (P, M) out ------

@numba.njit(parallel=True, nogil=True, cache=True)
def _prepare_rows(v, out, taper, detrend, centre, denom):
    n = v.shape[0]
    m = out.shape[1]
    diff = m == n - 1
    for p in numba.prange(v.shape[1]):
        mean = 0.0
        slope = 0.0
        if detrend != _m.DETREND_NONE:
            for t in range(m):
                x = _sample(v, t, p, diff)
                mean += x
                slope += (t - centre) * x
            mean /= m
            slope = slope / denom if detrend == _m.DETREND_LINEAR else 0.0
        for t in range(m):
            out[p, t] = _detrended(_sample(v, t, p, diff), t, mean, slope, centre, taper[t])


@numba.njit(parallel=True, nogil=True, cache=True)
def _band_power_rows(spec, starts, stops, weights, out):
    for p in numba.prange(spec.shape[0]):
        for b in range(starts.shape[0]):
            acc = 0.0
            for k in range(starts[b], stops[b]):
                acc += _power_term(spec[p, k], weights[b, k - starts[b]])
            out[b, p] = acc


def prepare_rows(v: np.ndarray, out: np.ndarray, taper: np.ndarray, detrend: int) -> None:
    """:func:`prepare_series` written pixel-major: ``out[p, t]`` for an FFT along the last axis.

    Parameters
    ----------
    v : numpy.ndarray
        ``(N, P)`` Dopplergrams of one window (time-major, as stored).
    out : numpy.ndarray
        ``(P, M)`` float32 (or float64) output, ``M = N − 1`` or ``N`` as in
        :func:`prepare_series`.
    taper, detrend
        As :func:`prepare_series`.
    """
    taper = np.ascontiguousarray(taper, dtype=np.float64)
    _check_prepare(v, out, taper, rows=True)
    centre, denom = _centre_denom(out.shape[1])
    _prepare_rows(v, out, taper, int(detrend), centre, denom)


def band_power_rows(spec: np.ndarray, starts: np.ndarray, stops: np.ndarray, weights: np.ndarray,
                    out: np.ndarray) -> None:
    """:func:`band_power` of a pixel-major spectrum ``spec`` ``(P, K)``; ``out`` is ``(nb, P)``."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    stops = np.ascontiguousarray(stops, dtype=np.int64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    _check_bands(spec, starts, stops, weights, out, rows=True)
    _band_power_rows(spec, starts, stops, weights, out)
