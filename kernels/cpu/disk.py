"""Disk geometry on the CPU: μ, Stonyhurst latitude/longitude, on-disk mask, sky position."""
from __future__ import annotations

import numba
import numpy as np

from .._disk_math import compile_for

__all__ = ["disk_coordinates", "sky_coordinates"]

_pixel_geometry, _sky_position, *_ = compile_for(numba.njit(inline="always", cache=True))


@numba.njit(parallel=True, nogil=True, cache=True)
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


@numba.njit(parallel=True, nogil=True, cache=True)
def _sky_coordinates(p, impact, angle):
    nt, ny, nx = impact.shape
    for row in numba.prange(nt * ny):
        t = row // ny
        i = row - t * ny
        pt = p[t]
        for j in range(nx):
            impact[t, i, j], angle[t, i, j] = _sky_position(i, j, pt)


def disk_coordinates(p: np.ndarray, mu: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                     on_disk: np.ndarray) -> None:
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


def sky_coordinates(p: np.ndarray, impact: np.ndarray, angle: np.ndarray) -> None:
    """Fill the impact parameter (solar radii) and position angle (rad) of every line of sight.

    The impact parameter ``D sin θ`` is the closest approach of the line of sight
    to Sun centre (> 1 off the limb); the position angle is measured from solar
    west towards solar north in the plane of the sky. ``p`` as for
    :func:`disk_coordinates`; outputs of shape ``(nt, ny, nx)``, float32 or float64.
    """
    _sky_coordinates(np.ascontiguousarray(p, dtype=np.float64), impact, angle)
