"""Photometry on the GPU: twins of :mod:`kernels.cpu.photometry` (same names and arguments).

Reductions (limb-darkening normal equations, disk sums) run as grid-stride
loops with per-thread float64 sums, a shared-memory tree per block and one
float64 atomic add per block and sum; the tiny solve runs on the device too
(one thread per frame), so a whole iterative fit + removal is a sequence of
launches with no host round trip.
"""
from __future__ import annotations

import math
from typing import Any

from numba import config, cuda, float64

from .._launch import frame_chunks, launch_stack
from .._photometry_math import DISK_NSUMS, LD_MAXC, MUMIN_IDX, NSUMS, compile_for

__all__ = ["ld_normal_sums", "ld_solve", "ld_divide", "surface_area", "foreshortening",
           "solid_angle_weights", "disk_sums"]

(_surface, _area, _model, _select, _accumulate, _contrast,
 _solve) = compile_for(cuda.jit(device=True))

#: Threads per block of the reduction kernels (a power of two; 16 under the CUDA
#: simulator, where every thread is a Python thread).
REDUCE_THREADS = 16 if config.ENABLE_CUDASIM else 128
#: Blocks per frame of the reduction kernels (upper bound; fewer for small images).
REDUCE_BLOCKS = 132


def _launch_reduction(kernel, shape, *args):
    """Launch a reduction: ``gridDim.x`` blocks stride over a frame's pixels, frames on ``y``."""
    nt, ny, nx = shape
    blocks = max(1, min(REDUCE_BLOCKS, math.ceil(ny * nx / (REDUCE_THREADS * 16))))
    for t0, n in frame_chunks(nt):
        kernel[(blocks, n), REDUCE_THREADS](*args, t0)


@cuda.jit(device=True)
def _block_sum_into(acc, shared, sums, t, n):
    """Add the ``n`` per-thread sums ``acc`` of a block into ``sums[t]``: a shared-memory
    tree over the block's threads, then one atomic add per block and sum."""
    tid = cuda.threadIdx.x
    for s in range(n):
        shared[s, tid] = acc[s]
    cuda.syncthreads()
    step = REDUCE_THREADS // 2
    while step > 0:
        if tid < step:
            for s in range(n):
                shared[s, tid] += shared[s, tid + step]
        cuda.syncthreads()
        step //= 2
    for s in range(tid, n, REDUCE_THREADS):
        cuda.atomic.add(sums, (t, s), shared[s, 0])


@cuda.jit
def _ld_sums(image, mu, p, sums, t0):
    t = t0 + cuda.blockIdx.y
    tid = cuda.threadIdx.x
    ny = image.shape[1]
    nx = image.shape[2]
    tm = t if mu.shape[0] > 1 else 0
    acc = cuda.local.array(NSUMS, float64)
    for k in range(NSUMS):
        acc[k] = 0.0
    pt = p[t]
    nd = int(pt[4]) - 1
    start = cuda.blockIdx.x * cuda.blockDim.x + tid
    stride = cuda.gridDim.x * cuda.blockDim.x
    for k in range(start, ny * nx, stride):
        i = k // nx
        j = k - i * nx
        x, r = _select(image[t, i, j], mu[tm, i, j], pt)
        if x == x:
            _accumulate(acc, x, r, nd)
    _block_sum_into(acc, cuda.shared.array((NSUMS, REDUCE_THREADS), float64), sums, t, NSUMS)


def ld_normal_sums(image: Any, mu: Any, p: Any, sums: Any) -> None:
    """Accumulate each frame's normal-equation sums; as :func:`kernels.cpu.ld_normal_sums`.

    All arrays on the device; ``sums`` is zeroed here before the atomic adds.
    """
    sums[...] = 0
    _launch_reduction(_ld_sums, image.shape, image, mu, p, sums)


@cuda.jit
def _ld_solve(sums, basis, p):
    t = cuda.grid(1)
    if t < p.shape[0]:
        a = cuda.local.array((LD_MAXC, LD_MAXC), float64)
        b = cuda.local.array(LD_MAXC, float64)
        c = cuda.local.array(LD_MAXC, float64)
        _solve(sums[t], basis, p[t], a, b, c)


def ld_solve(sums: Any, basis: Any, p: Any) -> None:
    """Solve every frame's normal equations on the device; as :func:`kernels.cpu.ld_solve`."""
    nt = p.shape[0]
    _ld_solve[math.ceil(nt / 32), 32](sums, basis, p)


@cuda.jit
def _ld_divide(image, mu, p, out, t0):
    t = t0 + cuda.blockIdx.z
    j, i = cuda.grid(2)
    if i < image.shape[1] and j < image.shape[2]:
        tm = t if mu.shape[0] > 1 else 0
        out[t, i, j] = _contrast(image[t, i, j], mu[tm, i, j], p[t])


def ld_divide(image: Any, mu: Any, p: Any, out: Any) -> None:
    """Contrast ``I / m(μ)``; as :func:`kernels.cpu.ld_divide`."""
    launch_stack(_ld_divide, image.shape, image, mu, p, out)


@cuda.jit
def _surface_area(p, area, t0):
    t = t0 + cuda.blockIdx.z
    j, i = cuda.grid(2)
    if i < area.shape[1] and j < area.shape[2]:
        area[t, i, j] = _area(float64(i), float64(j), p[t])


def surface_area(p: Any, area: Any) -> None:
    """Surface area per pixel, Mm²; as :func:`kernels.cpu.surface_area`."""
    launch_stack(_surface_area, area.shape, p, area)


@cuda.jit
def _foreshortening(p, image, out, t0):
    t = t0 + cuda.blockIdx.z
    j, i = cuda.grid(2)
    if i < image.shape[1] and j < image.shape[2]:
        pt = p[0] if p.shape[0] == 1 else p[t]
        mu, omega, dist = _surface(i, j, pt)
        if mu >= pt[MUMIN_IDX]:
            out[t, i, j] = image[t, i, j] / mu
        else:
            out[t, i, j] = math.nan


def foreshortening(p: Any, image: Any, out: Any) -> None:
    """``image / μ`` where ``μ ≥ μ_min``; as :func:`kernels.cpu.foreshortening`."""
    launch_stack(_foreshortening, image.shape, p, image, out)


@cuda.jit
def _solid_angle_weights(p, weight, t0):
    t = t0 + cuda.blockIdx.z
    j, i = cuda.grid(2)
    if i < weight.shape[1] and j < weight.shape[2]:
        mu, omega, dist = _surface(i, j, p[t])
        weight[t, i, j] = omega if mu == mu else 0.0


def solid_angle_weights(p: Any, weight: Any) -> None:
    """Pixel solid angles on the disk, 0 elsewhere; as :func:`kernels.cpu.solid_angle_weights`."""
    launch_stack(_solid_angle_weights, weight.shape, p, weight)


@cuda.jit
def _disk_sums(image, weight, sums, t0):
    t = t0 + cuda.blockIdx.y
    tid = cuda.threadIdx.x
    ny = image.shape[1]
    nx = image.shape[2]
    tw = t if weight.shape[0] > 1 else 0
    acc = cuda.local.array(DISK_NSUMS, float64)
    for k in range(DISK_NSUMS):
        acc[k] = 0.0
    start = cuda.blockIdx.x * cuda.blockDim.x + tid
    stride = cuda.gridDim.x * cuda.blockDim.x
    for k in range(start, ny * nx, stride):
        i = k // nx
        j = k - i * nx
        w = float64(weight[tw, i, j])
        if w > 0.0:
            v = float64(image[t, i, j])
            acc[2] += w
            acc[4] += 1.0
            if v == v and not math.isinf(v):
                acc[0] += w * v
                acc[1] += w
                acc[3] += 1.0
    _block_sum_into(acc, cuda.shared.array((DISK_NSUMS, REDUCE_THREADS), float64), sums, t,
                    DISK_NSUMS)


def disk_sums(image: Any, weight: Any, sums: Any) -> None:
    """Per-frame disk sums; as :func:`kernels.cpu.disk_sums` (``sums`` zeroed here)."""
    sums[...] = 0
    _launch_reduction(_disk_sums, image.shape, image, weight, sums)
