"""Disk geometry on the GPU: one thread per pixel, geometry computed in registers."""
from numba import cuda

from .._disk_math import pixel_geometry as _pixel_geometry_py
from .._launch import grid_3d

__all__ = ["disk_coordinates"]

_pixel_geometry = cuda.jit(device=True)(_pixel_geometry_py)


@cuda.jit
def _disk_coordinates(p, mu, lat, lon, on_disk):
    t = cuda.blockIdx.z
    i, j = cuda.grid(2)
    if i < mu.shape[1] and j < mu.shape[2]:
        m, la, lo = _pixel_geometry(i, j, p[t])
        mu[t, i, j] = m
        lat[t, i, j] = la
        lon[t, i, j] = lo
        on_disk[t, i, j] = m == m


def disk_coordinates(p, mu, lat, lon, on_disk):
    """Fill ``mu``, ``lat``, ``lon`` (float32, deg) and ``on_disk`` (bool) for a stack of frames.

    Same contract as :func:`kernels.cpu.disk_coordinates`; all arrays on the device
    (``p`` float64 of shape ``(nt, 25)``, outputs ``(nt, ny, nx)``).
    """
    blocks, threads = grid_3d(mu.shape)
    _disk_coordinates[blocks, threads](p, mu, lat, lon, on_disk)
