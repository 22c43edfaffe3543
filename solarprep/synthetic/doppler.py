"""Dopplergrams (HMI-like, m/s, positive = redshift = away from the observer).

.. math::

    v = (\\mathbf v_\\odot - \\mathbf v_{obs})\\cdot\\hat{\\mathbf n}
        - v_{cb}\\,\\mu + v_p + \\text{noise}

* **Rotation and observer motion**, exact geometry: the surface point
  ``P`` (radius R☉, Stonyhurst Cartesian) moves with the sidereal rotation law,
  ``v_☉ = ω(φ) ẑ × P``; the observer at ``O`` moves with its inertial velocity
  relative to Sun centre (OBS_VR/VW/VN); ``n̂ = (P − O)/|P − O|`` is the unit vector
  from the observer to the point. The radial part of the observer's motion gives
  the OBS_VR offset, its tangential part a ±~140 m/s east–west gradient.
* **Convective blueshift / limb effect** (simplified): granular upflows seen at
  heliocentric angle θ contribute ``−v_cb·μ`` (disk centre −v_cb, limb 0); cf.
  Dravins (1982, ARA&A 20, 61).
* **p modes**: stochastically excited, damped oscillators (Goldreich & Keeley
  1977, ApJ 212, 243): at each node of a grid with spacing ``pmode_scale`` an
  AR(2) process — the exact discretisation of a damped oscillator driven by
  white noise — with a Lorentzian power spectrum centred on ``pmode_frequency``
  (3.2 mHz) of full width ``pmode_width`` (1 mHz), unit variance, independent
  between nodes, interpolated bilinearly (variance-corrected) to the pixels.
  Mostly vertical motion: multiplied by μ, and by ``1 − s·tanh(abs(B_r)/B_s)`` to
  mimic the suppression of acoustic power in strong field (Hindman & Brown 1998,
  ApJ 504, 1029): s = 0.6, B_s = 300 G.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    from solarprep.coordinates.rotation import RotationLaw

__all__ = ["DopplerParams", "PModes", "rotation_velocity"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DopplerParams:
    """Parameters of the Dopplergram model (SI units: m/s, Hz, Mm, G).

    Attributes
    ----------
    pmode_rms : float
        rms p-mode velocity in quiet Sun at disk centre, m/s (0 switches p modes off).
    pmode_frequency, pmode_width : float
        Centre and full width at half maximum of the Lorentzian p-mode spectrum, Hz.
    pmode_scale : float
        Horizontal coherence length (node spacing), Mm; never finer than a pixel.
    suppression, b_suppression : float
        Amplitude factor ``1 − suppression·tanh(|B_r|/b_suppression)``.
    convective_blueshift : float
        Disk-centre convective blueshift v_cb, m/s (the limb term is −v_cb·μ).
    noise : float
        Gaussian noise, m/s.
    observer_motion : bool
        Include the observer's velocity (OBS_VR/VW/VN) in the line-of-sight velocity.
    """

    pmode_rms: float = 250.0
    pmode_frequency: float = 3.2e-3
    pmode_width: float = 1.0e-3
    pmode_scale: float = 4.0
    suppression: float = 0.6
    b_suppression: float = 300.0
    convective_blueshift: float = 200.0
    noise: float = 10.0
    observer_motion: bool = True


@numba.njit(parallel=True, cache=True)
def _rotation_velocity(lat, lon, a, b, c, rsun, obs, vobs, out):
    ny, nx = lat.shape
    d2r = math.pi / 180.0
    for i in numba.prange(ny):
        for j in range(nx):
            la = lat[i, j]
            if la != la:
                out[i, j] = math.nan
                continue
            phi = la * d2r
            lam = lon[i, j] * d2r
            cp = math.cos(phi)
            px = rsun * cp * math.cos(lam)
            py = rsun * cp * math.sin(lam)
            pz = rsun * math.sin(phi)
            s2 = math.sin(phi) ** 2
            omega = a + b * s2 + c * s2 * s2
            vx = -omega * py - vobs[0]
            vy = omega * px - vobs[1]
            vz = -vobs[2]
            nxv = px - obs[0]
            nyv = py - obs[1]
            nzv = pz - obs[2]
            norm = math.sqrt(nxv * nxv + nyv * nyv + nzv * nzv)
            out[i, j] = (vx * nxv + vy * nyv + vz * nzv) / norm


def rotation_velocity(lat: np.ndarray, lon: np.ndarray, law: RotationLaw, observer_position: npt.ArrayLike,
                      observer_velocity: npt.ArrayLike, rsun: float) -> np.ndarray:
    """Line-of-sight velocity of the rotating surface (m/s, float32, + = away).

    Parameters
    ----------
    lat, lon : numpy.ndarray
        Stonyhurst latitude/longitude of the pixels, deg (NaN off the disk).
    law : solarprep.coordinates.rotation.RotationLaw
        Sidereal rotation law.
    observer_position, observer_velocity : array_like
        Observer position (m) and inertial velocity relative to Sun centre (m/s),
        Stonyhurst Cartesian axes.
    rsun : float
        Solar radius, m.
    """
    out = np.empty(lat.shape, np.float32)
    _rotation_velocity(np.ascontiguousarray(lat, np.float32), np.ascontiguousarray(lon, np.float32),
                       law.A, law.B, law.C, float(rsun),
                       np.asarray(observer_position, np.float64),
                       np.asarray(observer_velocity, np.float64), out)
    return out


class PModes:
    """Stochastic p-mode velocity pattern, generated frame by frame (unit variance, float32).

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    spacing : int
        Node spacing in pixels (≥ 1).
    cadence : float
        Time step, s.
    frequency, width : float
        Centre and FWHM of the Lorentzian spectrum, Hz.
    rng : numpy.random.Generator
        Seeded generator; the sequence of frames depends only on it.

    Notes
    -----
    A damped oscillator ``ẍ + 2ηẋ + ω₀²x = noise`` sampled every Δt is the AR(2)
    process ``x_n = a₁x_{n−1} + a₂x_{n−2} + σ_e e_n`` with poles ``r e^{±iω₀Δt}``,
    ``r = e^{−ηΔt}``, ``a₁ = 2r cos ω₀Δt``, ``a₂ = −r²``; its spectrum is a Lorentzian of
    FWHM ``η/π`` (here ``η = π·width``). ``σ_e`` is set for unit stationary variance
    ``γ₀ = (1 − a₂)/((1 + a₂)((1 − a₂)² − a₁²))·σ_e²`` and the first two values are
    drawn from the stationary distribution (lag-1 correlation ``a₁/(1 − a₂)``), so
    the process is stationary from the first frame.
    """

    def __init__(self, shape: tuple[int, int], spacing: int, cadence: float, frequency: float,
                 width: float, rng: np.random.Generator) -> None:
        self.shape = tuple(shape)
        self.spacing = max(1, int(spacing))
        self.rng = rng
        ny, nx = self.shape
        s = self.spacing
        self.grid_shape = (ny - 1) // s + 2, (nx - 1) // s + 2
        eta = math.pi * width
        r = math.exp(-eta * cadence)
        theta = 2.0 * math.pi * frequency * cadence
        self.a1 = 2.0 * r * math.cos(theta)
        self.a2 = -r * r
        gamma0 = (1 - self.a2) / ((1 + self.a2) * ((1 - self.a2) ** 2 - self.a1**2))
        self.sigma_e = 1.0 / math.sqrt(gamma0)
        rho1 = self.a1 / (1 - self.a2)
        n1 = rng.standard_normal(self.grid_shape)
        n2 = rng.standard_normal(self.grid_shape)
        self._prev = n1
        self._curr = rho1 * n1 + math.sqrt(max(0.0, 1 - rho1 * rho1)) * n2
        if s > 1:
            y = np.arange(ny) / s
            x = np.arange(nx) / s
            self._i0 = np.floor(y).astype(np.intp)
            self._j0 = np.floor(x).astype(np.intp)
            self._fy = (y - self._i0).astype(np.float32)[:, None]
            self._fx = (x - self._j0).astype(np.float32)[None, :]
            var = (((1 - self._fy) ** 2 + self._fy**2) * ((1 - self._fx) ** 2 + self._fx**2))
            self._norm = (1.0 / np.sqrt(var)).astype(np.float32)

    def _upsample(self, g):
        ny, nx = self.shape
        if self.spacing == 1:
            return g[:ny, :nx].astype(np.float32)
        g = g.astype(np.float32)
        rows0 = g[self._i0]
        rows1 = g[self._i0 + 1]
        top = rows0[:, self._j0] * (1 - self._fx) + rows0[:, self._j0 + 1] * self._fx
        bot = rows1[:, self._j0] * (1 - self._fx) + rows1[:, self._j0 + 1] * self._fx
        return (top * (1 - self._fy) + bot * self._fy) * self._norm

    def first(self) -> np.ndarray:
        """The pattern at the first time (stationary start)."""
        return self._upsample(self._curr)

    def step(self) -> np.ndarray:
        """Advance one time step and return the new pattern."""
        new = (self.a1 * self._curr + self.a2 * self._prev
               + self.sigma_e * self.rng.standard_normal(self.grid_shape))
        self._prev, self._curr = self._curr, new
        return self._upsample(new)
