"""Disk geometry on the CPU: μ, Stonyhurst latitude/longitude and the on-disk mask."""
import numba
import numpy as np

from .._disk_math import pixel_geometry as _pixel_geometry_py

__all__ = ["disk_coordinates"]

_pixel_geometry = numba.njit(inline="always", cache=True)(_pixel_geometry_py)


@numba.njit(parallel=True, cache=True)
def _disk_coordinates(p, mu, lat, lon, on_disk):
    nt, ny, nx = mu.shape
    for row in numba.prange(nt * ny):
        t = row // ny
        i = row - t * ny
        pt = p[t]
        for j in range(nx):
            m, la, lo = _pixel_geometry(i, j, pt)
            mu[t, i, j] = m
            lat[t, i, j] = la
            lon[t, i, j] = lo
            on_disk[t, i, j] = m == m


def disk_coordinates(p, mu, lat, lon, on_disk):
    """Fill ``mu``, ``lat``, ``lon`` (float32, deg) and ``on_disk`` (bool) for a stack of frames.

    Parameters
    ----------
    p : numpy.ndarray
        float64 parameters, shape ``(nt, 25)``: one row per frame (see
        :mod:`kernels._disk_math`).
    mu, lat, lon : numpy.ndarray
        float32 outputs of shape ``(nt, ny, nx)``, C-contiguous.
    on_disk : numpy.ndarray
        bool output of the same shape.
    """
    _disk_coordinates(np.ascontiguousarray(p, dtype=np.float64), mu, lat, lon, on_disk)
