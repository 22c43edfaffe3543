"""Acoustic power maps on the GPU: FFT-input preparation and fused band sums (numba.cuda).

Twins of :mod:`kernels.cpu.power`, same names and arguments, one thread per
pixel: thread ``p`` walks along time (or frequency), so neighbouring threads read
neighbouring addresses (coalesced). Arrays are CUDA arrays (CuPy, numba device
arrays; NumPy arrays under the CUDA simulator). The arithmetic is in
:mod:`kernels._power_math`.
"""
import math

import numpy as np
from numba import cuda

from .. import _power_math as _m
from ..cpu.power import _check_bands, _check_prepare

__all__ = ["prepare_series", "band_power", "THREADS_1D"]

#: Threads per block of the 1-D (pixel) launches.
THREADS_1D = 256

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


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def prepare_series(v, out, taper, detrend):
    """Fill ``out`` with the FFT input of a window; as :func:`kernels.cpu.prepare_series`.

    ``v`` ``(N, P)``, ``out`` ``(M, P)`` and ``taper`` ``(M,)`` float64 on the device.
    """
    _check_prepare(v, out, taper)
    _prepare_series[_blocks(v.shape[1]), THREADS_1D](v, out, taper, int(detrend))


def band_power(spec, starts, stops, weights, out):
    """Fused band sums; as :func:`kernels.cpu.band_power`, all arrays on the device."""
    _check_bands(spec, _host(starts), _host(stops), weights, out)
    _band_power[_blocks(spec.shape[1]), THREADS_1D](spec, starts, stops, weights, out)
