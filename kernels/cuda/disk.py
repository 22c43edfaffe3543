"""Disk geometry on the GPU: one thread per pixel (columns fastest), geometry computed in registers."""
from __future__ import annotations

from typing import Any

from numba import cuda

from .._disk_math import compile_for
from .._launch import launch_stack

__all__ = ["disk_coordinates", "sky_coordinates"]

_pixel_geometry, _sky_position, *_ = compile_for(cuda.jit(device=True))


@cuda.jit
def _disk_coordinates(p, mu, lat, lon, on_disk, t0):
    t = t0 + cuda.blockIdx.z
    j, i = cuda.grid(2)
    if i < mu.shape[1] and j < mu.shape[2]:
        m, la, lo = _pixel_geometry(i, j, p[t])
        mu[t, i, j] = m
        lat[t, i, j] = la
        lon[t, i, j] = lo
        on_disk[t, i, j] = m == m


@cuda.jit
def _sky_coordinates(p, impact, angle, t0):
    t = t0 + cuda.blockIdx.z
    j, i = cuda.grid(2)
    if i < impact.shape[1] and j < impact.shape[2]:
        b, a = _sky_position(i, j, p[t])
        impact[t, i, j] = b
        angle[t, i, j] = a


def disk_coordinates(p: Any, mu: Any, lat: Any, lon: Any, on_disk: Any) -> None:
    """Fill ``mu``, ``lat``, ``lon`` (float32, deg) and ``on_disk`` (bool) for a stack of frames.

    Same contract as :func:`kernels.cpu.disk_coordinates`; all arrays on the device
    (``p`` float64 of shape ``(nt, 25)``, outputs ``(nt, ny, nx)``).
    """
    launch_stack(_disk_coordinates, mu.shape, p, mu, lat, lon, on_disk)


def sky_coordinates(p: Any, impact: Any, angle: Any) -> None:
    """Impact parameter and position angle of every line of sight; as :func:`kernels.cpu.sky_coordinates`."""
    launch_stack(_sky_coordinates, impact.shape, p, impact, angle)
