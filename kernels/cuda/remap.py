"""Derotation and tracking on the GPU: one fused kernel, geometry in registers, no coordinate arrays."""
from __future__ import annotations

from typing import Any

from numba import cuda

from .._launch import launch_stack
from .._remap_math import NDEROTATE, NTRACK, compile_for

__all__ = ["derotate", "track"]

_derotate_source, _track_source, _sample = compile_for(cuda.jit(device=True))


def _gather_kernel(source):
    """One thread per output pixel: ``out[t, i, j] = image[t](source(i, j, p[t]))``."""

    @cuda.jit
    def gather(p, image, out, valid, order, t0):
        t = t0 + cuda.blockIdx.z
        j, i = cuda.grid(2)
        if i < out.shape[1] and j < out.shape[2]:
            x, y = source(i, j, p[t])
            out[t, i, j] = _sample(image, t, x, y, order)
            valid[t, i, j] = x == x and x >= -0.5 and x <= image.shape[2] - 0.5 \
                and y >= -0.5 and y <= image.shape[1] - 0.5

    return gather


_derotate = _gather_kernel(_derotate_source)
_track = _gather_kernel(_track_source)


def _launch(kernel, p, image, out, valid, order, width):
    if order not in (1, 3):
        raise ValueError(f"order must be 1 (bilinear) or 3 (Keys bicubic), not {order!r}")
    if p.shape != (out.shape[0], width):
        raise ValueError(f"params must have shape ({out.shape[0]}, {width}), not {p.shape}")
    launch_stack(kernel, out.shape, p, image, out, valid, order)


def derotate(p: Any, image: Any, out: Any, valid: Any, order: int = 1) -> None:
    """Derotate a stack of frames on the GPU; same contract as :func:`kernels.cpu.derotate`.

    All arrays on the device (``p`` float64 ``(nt, 55)``).
    """
    _launch(_derotate, p, image, out, valid, order, NDEROTATE)


def track(p: Any, image: Any, out: Any, valid: Any, order: int = 1) -> None:
    """Tracked-map resampling on the GPU; same contract as :func:`kernels.cpu.track`."""
    _launch(_track, p, image, out, valid, order, NTRACK)
