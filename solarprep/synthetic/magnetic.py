"""Photospheric magnetic field (HMI-like line-of-sight magnetogram, G).

The field is radial: active-region polarities (Gaussian in great-circle
distance, :class:`~solarprep.synthetic.features.ActiveRegion`) plus a weak
mixed-polarity network (:class:`NetworkField`), both attached to the rotating
surface. The line-of-sight component of a radial field seen at heliocentric
angle θ is ``B_los = B_r·μ`` (μ = cos θ); the magnetogram adds Gaussian noise,
8 G by default (the noise of HMI 45 s magnetograms is of order 10 G; Liu et al.
2012, Sol. Phys. 279, 295).
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numba
import numpy as np

from solarprep.synthetic.features import feature_window
from solarprep.synthetic.photosphere import distance_to

if TYPE_CHECKING:
    from collections.abc import Iterable

    from solarprep.coordinates.geometry import FrameGeometry

__all__ = ["NetworkField", "add_polarities"]

log = logging.getLogger(__name__)


def add_polarities(out: np.ndarray, lat: np.ndarray, lon: np.ndarray, geometry: FrameGeometry,
                   polarities: Iterable[tuple[float, float, float, float]], *,
                   nsigma: float = 5.0) -> np.ndarray:
    """Add Gaussian radial-field polarities to ``out`` in place.

    Parameters
    ----------
    out : numpy.ndarray
        float32 image to add to (NaN off the disk is kept: NaN + x = NaN).
    lat, lon : numpy.ndarray
        Stonyhurst latitude/longitude of the pixels (deg).
    geometry : FrameGeometry
    polarities : iterable of (lat, lon, b_signed, sigma)
        Centre (deg), signed peak field (G) and width (deg) of each polarity.
    nsigma : float
        Evaluated within ``nsigma·σ`` of the centre (the Gaussian is 4e-6 of its
        peak at 5σ).
    """
    for plat, plon, b, sigma in polarities:
        if b == 0.0:
            continue
        window = feature_window(geometry, out.shape, plat, plon, nsigma * sigma)
        if window is None:
            continue
        d = distance_to(lat, lon, window, plat, plon)
        term = b * np.exp(-0.5 * (d / sigma) ** 2)
        out[window] += np.nan_to_num(term, nan=0.0).astype(np.float32)
    return out


@numba.njit(parallel=True, cache=True)
def _sample(grid, lat0, dlat, dlon, lat, lon_corot, out):
    nlat, nlon = grid.shape
    ny, nx = lat.shape
    for i in numba.prange(ny):
        for j in range(nx):
            la = lat[i, j]
            lo = lon_corot[i, j]
            if la != la or lo != lo:
                out[i, j] = math.nan
                continue
            y = (la - lat0) / dlat
            x = (lo % 360.0) / dlon
            i0 = int(math.floor(y))
            if i0 < 0:
                i0 = 0
            if i0 > nlat - 2:
                i0 = nlat - 2
            fy = y - i0
            j0 = int(math.floor(x))
            fx = x - j0
            j0 = j0 % nlon
            j1 = (j0 + 1) % nlon
            out[i, j] = ((1.0 - fy) * ((1.0 - fx) * grid[i0, j0] + fx * grid[i0, j1])
                         + fy * ((1.0 - fx) * grid[i0 + 1, j0] + fx * grid[i0 + 1, j1]))


class NetworkField:
    """Weak mixed-polarity network field, a smooth Gaussian random field on the sphere.

    White noise on a latitude–longitude grid (``resolution`` deg) is smoothed with
    a Gaussian of ``correlation`` deg (periodic in longitude) and scaled to an rms
    of ``rms`` G. The pattern is fixed on the rotating surface: it is sampled at
    each pixel's position at ``t0`` (bilinear interpolation).

    Parameters
    ----------
    seed : int
    rms : float
        Root-mean-square radial field, G (default 10).
    resolution, correlation : float
        Grid spacing and smoothing length, deg.
    """

    def __init__(self, seed: int, rms: float = 10.0, resolution: float = 0.5,
                 correlation: float = 1.0) -> None:
        from scipy.ndimage import gaussian_filter

        self.rms = float(rms)
        self.resolution = float(resolution)
        nlat = int(round(180.0 / resolution)) + 1
        nlon = int(round(360.0 / resolution))
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
        white = rng.standard_normal((nlat, nlon))
        field = gaussian_filter(white, sigma=correlation / resolution, mode=("nearest", "wrap"))
        std = field.std()
        self.grid = (field * (self.rms / std if std > 0 else 0.0)).astype(np.float32)

    def __call__(self, lat: np.ndarray, lon_corot: np.ndarray) -> np.ndarray:
        """The radial network field (G, float32) at latitude ``lat`` and co-rotating longitude."""
        out = np.empty(lat.shape, np.float32)
        if self.rms == 0.0:
            out[...] = np.where(np.isnan(lat), np.float32(np.nan), np.float32(0.0))
            return out
        _sample(self.grid, -90.0, self.resolution, self.resolution,
                np.ascontiguousarray(lat, np.float32), np.ascontiguousarray(lon_corot, np.float32),
                out)
        return out
