"""Acoustic power maps on the GPU: FFT-input preparation and fused band sums (numba.cuda).

Twins of :mod:`kernels.cpu.power`, same names and arguments. The arithmetic is in
:mod:`kernels._power_math`. Arrays are CUDA arrays (CuPy, numba device arrays;
NumPy arrays or the CuPy stand-in under the CUDA simulator).

``prepare_series``/``band_power`` (time-major, ``(M, P)``): one thread per pixel
walking along time, neighbouring threads on neighbouring addresses.

``prepare_rows``/``band_power_rows`` (pixel-major, what solarprep's GPU path
uses): the window is read as stored, ``(N, P)``, and written as ``(P, M)`` so
that the FFT runs along the last, contiguous axis (one batched R2C, no copy).
``prepare_rows`` works on tiles of :data:`TILE` pixels: the per-pixel mean and
slope are reduced in shared memory, then :data:`TILE` × :data:`TILE` sample tiles
are transposed through shared memory, so reads (along pixels) and writes (along
time) are both coalesced. ``band_power_rows`` gives each pixel a row of
:data:`BAND_LANES` threads that read the band bins of its spectrum row
contiguously and reduce them in shared memory.
"""
from __future__ import annotations

import math
from typing import Any

from numba import config, cuda, float64

from .. import _power_math as _m
from ..cpu.power import _centre_denom, _check_bands, _check_prepare

__all__ = ["prepare_series", "band_power", "prepare_rows", "band_power_rows", "THREADS_1D",
           "TILE", "BAND_LANES"]

#: Threads per block of the 1-D (pixel) launches.
THREADS_1D = 256
#: Pixels (and samples) per tile of ``prepare_rows``; its blocks are TILE × TILE_ROWS threads.
#: Threads per pixel of ``band_power_rows`` (a power of two) and pixels per block. Smaller
#: under the CUDA simulator, where every thread is a Python thread (tests run both sets).
TILE, TILE_ROWS, BAND_LANES, BAND_PIXELS = (8, 2, 2, 8) if config.ENABLE_CUDASIM else (32, 8, 32, 8)

_sample = cuda.jit(device=True)(_m.sample)
_detrended = cuda.jit(device=True)(_m.detrended)
_power_term = cuda.jit(device=True)(_m.power_term)


@cuda.jit
def _prepare_series(v, out, taper, detrend):
    p = cuda.grid(1)
    n = v.shape[0]
    npix = v.shape[1]
    m = out.shape[0]
    if p >= npix:
        return
    diff = m == n - 1
    centre = (m - 1) / 2.0
    mean = 0.0
    slope = 0.0
    if detrend != 0:
        denom = 0.0
        for t in range(m):
            x = _sample(v, t, p, diff)
            mean += x
            slope += (t - centre) * x
            denom += (t - centre) * (t - centre)
        mean /= m
        if detrend == 2 and denom > 0.0:
            slope /= denom
        else:
            slope = 0.0
    for t in range(m):
        out[t, p] = _detrended(_sample(v, t, p, diff), t, mean, slope, centre, taper[t])


@cuda.jit
def _band_power(spec, starts, stops, weights, out):
    p = cuda.grid(1)
    if p >= spec.shape[1]:
        return
    for b in range(starts.shape[0]):
        acc = 0.0
        s0 = starts[b]
        for k in range(s0, stops[b]):
            acc += _power_term(spec[k, p], weights[b, k - s0])
        out[b, p] = acc


def _blocks(n):
    return max(1, math.ceil(n / THREADS_1D))


def prepare_series(v: Any, out: Any, taper: Any, detrend: int) -> None:
    """Fill ``out`` with the FFT input of a window; as :func:`kernels.cpu.prepare_series`.

    ``v`` ``(N, P)``, ``out`` ``(M, P)`` and ``taper`` ``(M,)`` float64 on the device.
    """
    _check_prepare(v, out, taper)
    _prepare_series[_blocks(v.shape[1]), THREADS_1D](v, out, taper, int(detrend))


def band_power(spec: Any, starts: Any, stops: Any, weights: Any, out: Any) -> None:
    """Fused band sums; as :func:`kernels.cpu.band_power`, all arrays on the device."""
    _check_bands(spec, starts, stops, weights, out)
    _band_power[_blocks(spec.shape[1]), THREADS_1D](spec, starts, stops, weights, out)


@cuda.jit
def _prepare_rows(v, out, taper, detrend, centre, denom):
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    p0 = cuda.blockIdx.x * TILE
    p = p0 + tx
    npix = v.shape[1]
    m = out.shape[1]
    diff = m == v.shape[0] - 1
    partial = cuda.shared.array((2, TILE_ROWS, TILE), float64)
    moments = cuda.shared.array((2, TILE), float64)
    tile = cuda.shared.array((TILE, TILE + 1), float64)  # [sample][pixel], +1: no bank conflicts
    s0 = 0.0
    s1 = 0.0
    if detrend != 0 and p < npix:
        for t in range(ty, m, TILE_ROWS):  # a warp reads TILE neighbouring pixels
            x = _sample(v, t, p, diff)
            s0 += x
            s1 += (t - centre) * x
    partial[0, ty, tx] = s0
    partial[1, ty, tx] = s1
    cuda.syncthreads()
    if ty == 0:
        a = 0.0
        b = 0.0
        for r in range(TILE_ROWS):
            a += partial[0, r, tx]
            b += partial[1, r, tx]
        moments[0, tx] = a / m
        moments[1, tx] = b / denom if detrend == 2 else 0.0
    cuda.syncthreads()
    for t0 in range(0, m, TILE):
        for r in range(ty, TILE, TILE_ROWS):  # read along pixels
            t = t0 + r
            if t < m and p < npix:
                tile[r, tx] = _detrended(_sample(v, t, p, diff), t, moments[0, tx],
                                         moments[1, tx], centre, taper[t])
        cuda.syncthreads()
        for r in range(ty, TILE, TILE_ROWS):  # write along time
            q = p0 + r
            t = t0 + tx
            if q < npix and t < m:
                out[q, t] = tile[tx, r]
        cuda.syncthreads()


def prepare_rows(v: Any, out: Any, taper: Any, detrend: int) -> None:
    """The FFT input of a window, pixel-major; as :func:`kernels.cpu.prepare_rows`.

    ``v`` ``(N, P)`` (a window of the stored cube), ``out`` ``(P, M)``, ``taper``
    ``(M,)`` float64, all on the device.
    """
    _check_prepare(v, out, taper, rows=True)
    centre, denom = _centre_denom(out.shape[1])
    blocks = max(1, math.ceil(v.shape[1] / TILE))
    _prepare_rows[blocks, (TILE, TILE_ROWS)](v, out, taper, int(detrend), centre, denom)


@cuda.jit
def _band_power_rows(spec, starts, stops, weights, out):
    lane = cuda.threadIdx.x
    row = cuda.threadIdx.y
    p = cuda.blockIdx.x * BAND_PIXELS + row
    npix = spec.shape[0]
    acc = cuda.shared.array((BAND_PIXELS, BAND_LANES), float64)
    for b in range(starts.shape[0]):
        s = 0.0
        if p < npix:
            s0 = starts[b]
            for k in range(s0 + lane, stops[b], BAND_LANES):  # contiguous along the row
                s += _power_term(spec[p, k], weights[b, k - s0])
        acc[row, lane] = s
        cuda.syncthreads()
        step = BAND_LANES // 2
        while step > 0:
            if lane < step:
                acc[row, lane] += acc[row, lane + step]
            cuda.syncthreads()
            step //= 2
        if lane == 0 and p < npix:
            out[b, p] = acc[row, 0]
        cuda.syncthreads()


def band_power_rows(spec: Any, starts: Any, stops: Any, weights: Any, out: Any) -> None:
    """Fused band sums of a pixel-major spectrum ``(P, K)``; as :func:`kernels.cpu.band_power_rows`.

    All arrays on the device; ``starts``/``stops`` are not read back to the host
    (check them there, as :func:`solarprep.helioseismology.power.band_weights` does).
    """
    _check_bands(spec, starts, stops, weights, out, rows=True)
    blocks = max(1, math.ceil(spec.shape[0] / BAND_PIXELS))
    _band_power_rows[blocks, (BAND_LANES, BAND_PIXELS)](spec, starts, stops, weights, out)
