"""EUV and UV images (AIA-like, DN): quiet corona, limb brightening, active regions.

Three kinds of passband:

``corona`` (94, 131, 171, 193, 211, 335 Å)
    An optically thin, spherically symmetric corona with emissivity
    ``ε ∝ exp(−h/H)`` above the photosphere (h = r − 1 in R☉, H the emission-measure
    scale height of the passband). The intensity is the line-of-sight integral,
    normalised to the disk centre: on the disk
    ``g(μ) = (1/H)∫₀^∞ e^{−h/H} r / √(r² − (1−μ²)) dh`` (≈ 1/μ, limb brightening,
    finite at the limb) and off the limb, at impact parameter ``p``,
    ``g(p) = (2/H)∫_{p−1}^∞ e^{−h/H} r / √(r² − p²) dh``, which falls off as
    ``e^{−(p−1)/H}``; both are tabulated once by quadrature.
``chromosphere`` (304 Å)
    On the disk a mild linear limb brightening ``1 + k(1 − μ)``; off the limb a
    thin rim decaying with scale height H (spicules, ~7 Mm).
``uv`` (1600, 1700 Å)
    A limb-darkened continuum ``1 − u(1 − μ)`` and a faint, very thin rim.

Active regions add ``Q·gain·(B_c / 100 G)^α`` where ``B_c`` is a coronal proxy of
the smoothed ``|B|``: each polarity's ``|B|`` smoothed by a Gaussian of 2° (flux
conserving: width ``σ_c = √(σ² + 2²)``, amplitude ``B σ²/σ_c²``) plus a loop
arcade along the segment joining the polarities. Off the limb, the proxy at the
limb point of the same position angle is continued with ``exp(−h/H)``.
Everything scales as (1 AU/d)², is multiplied by the exposure time (DN), and
gets Poisson-like noise ``σ² = (DN per photon)·I + σ_read²`` (σ_read = 1.2 DN).

The numbers in :data:`PASSBANDS` are order-of-magnitude AIA level-1 quiet-Sun
rates, not a calibration.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from solarprep.synthetic.features import angular_distance, feature_window

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TypeAlias

    from solarprep.coordinates.geometry import FrameGeometry

    Polarity: TypeAlias = "tuple[float, float, float, float]"

__all__ = ["Passband", "PASSBANDS", "quiet_profiles", "coronal_proxy", "limb_proxy",
           "AIA_READ_NOISE"]

log = logging.getLogger(__name__)

#: Read noise, DN: of the order of AIA's (Boerner et al. 2012, Sol. Phys. 275, 41).
AIA_READ_NOISE = 1.2
_SMOOTHING = 2.0  # deg, smoothing of |B| for the coronal proxy
_PROXY_REF = 100.0  # G


@dataclasses.dataclass(frozen=True)
class Passband:
    """Model parameters of one AIA-like passband.

    Attributes
    ----------
    wavelength : int
        Å.
    kind : {"corona", "chromosphere", "uv"}
    exptime : float
        Exposure time, s (AIA's usual values).
    quiet : float
        Quiet-Sun disk-centre rate, DN/s.
    scale_height : float
        Emission scale height H, R☉.
    ar_gain, ar_index : float
        Active-region term ``quiet·gain·(B_c/100 G)^index``.
    limb : float
        ``k`` of the 304 Å limb brightening or ``u`` of the UV limb darkening.
    dn_per_photon : float
        DN per detected photon (12398.4/λ eV / 3.65 eV per electron / 17.7 e⁻ per DN
        for the EUV channels).
    camera : int
        AIA camera number (INSTRUME = ``AIA_<camera>``).
    """

    wavelength: int
    kind: str
    exptime: float
    quiet: float
    scale_height: float
    ar_gain: float
    ar_index: float
    limb: float
    dn_per_photon: float
    camera: int


def _dn_per_photon(wavelength):
    return 12398.4 / wavelength / 3.65 / 17.7


PASSBANDS = {p.wavelength: p for p in (
    Passband(94, "corona", 2.9, 0.5, 0.10, 40.0, 2.0, 0.0, _dn_per_photon(94), 4),
    Passband(131, "corona", 2.9, 2.0, 0.05, 15.0, 1.8, 0.0, _dn_per_photon(131), 1),
    Passband(171, "corona", 2.0, 200.0, 0.07, 2.0, 1.2, 0.0, _dn_per_photon(171), 3),
    Passband(193, "corona", 2.0, 150.0, 0.10, 4.0, 1.4, 0.0, _dn_per_photon(193), 2),
    Passband(211, "corona", 2.9, 40.0, 0.11, 6.0, 1.6, 0.0, _dn_per_photon(211), 2),
    Passband(304, "chromosphere", 2.9, 40.0, 0.01, 3.0, 1.0, 0.5, _dn_per_photon(304), 4),
    Passband(335, "corona", 2.9, 3.0, 0.13, 10.0, 1.8, 0.0, _dn_per_photon(335), 1),
    Passband(1600, "uv", 1.0, 60.0, 0.003, 1.5, 1.0, 0.6, 0.06, 3),
    Passband(1700, "uv", 1.0, 900.0, 0.003, 0.5, 1.0, 0.7, 0.06, 3),
)}


@functools.lru_cache(maxsize=32)
def _shell_tables(scale_height, n=1025):
    """Tabulate the on-disk g(μ) and off-limb g(h) of an exponential shell (normalised to μ = 1)."""
    H = float(scale_height)
    nx = 4000
    xmax = math.sqrt(60.0 * H)
    x = (np.arange(nx) + 0.5) * (xmax / nx)  # midpoints, r = 1 + x² (or p + x²)
    dx = xmax / nx
    mu = np.linspace(0.0, 1.0, n)
    # on disk: h = x², dr = 2x dx, √(r² − b²) = √(μ² + 2x² + x⁴)
    r = 1.0 + x**2
    on = np.empty(n)
    for k, m in enumerate(mu):
        on[k] = np.sum(np.exp(-(x**2) / H) * r * 2.0 * x / np.sqrt(m * m + 2.0 * x**2 + x**4)) * dx
    on /= H
    h = np.linspace(0.0, 40.0 * H, n)
    off = np.empty(n)
    for k, hh in enumerate(h):
        p = 1.0 + hh
        rr = p + x**2  # √(r² − p²) = x √(r + p)
        off[k] = 2.0 * np.sum(np.exp(-(rr - 1.0) / H) * rr * 2.0 / np.sqrt(rr + p)) * dx
    off /= H
    return mu, on, h, off


def quiet_profiles(passband: Passband, mu: np.ndarray, impact: np.ndarray) -> np.ndarray:
    """Quiet-Sun intensity relative to disk centre, on and off the disk (float32).

    Parameters
    ----------
    passband : Passband
    mu : numpy.ndarray
        μ of the pixels (NaN off the disk).
    impact : numpy.ndarray
        Impact parameter of the lines of sight, R☉ (used off the disk).
    """
    on_disk = np.isfinite(mu)
    out = np.empty(mu.shape, np.float32)
    H = passband.scale_height
    height = impact[~on_disk] - 1.0
    if passband.kind == "corona":
        tmu, ton, th, toff = _shell_tables(H)
        out[on_disk] = np.interp(mu[on_disk], tmu, ton)
        out[~on_disk] = np.interp(height, th, toff, right=0.0)
    elif passband.kind == "chromosphere":
        k = passband.limb
        out[on_disk] = 1.0 + k * (1.0 - mu[on_disk])
        out[~on_disk] = (1.0 + k) * np.exp(-np.maximum(height, 0.0) / H)
    elif passband.kind == "uv":
        u = passband.limb
        out[on_disk] = 1.0 - u * (1.0 - mu[on_disk])
        out[~on_disk] = 0.3 * (1.0 - u) * np.exp(-np.maximum(height, 0.0) / H)
    else:
        raise ValueError(f"unknown passband kind {passband.kind!r}")
    return out


def _arcade_distance(lat, lon, p1, p2):
    """Distance (deg) to the segment p1–p2 in a local equirectangular plane (small regions)."""
    lat0 = 0.5 * (p1[0] + p2[0])
    c = math.cos(math.radians(lat0))

    def xy(la, lo):
        dl = (np.asarray(lo, float) - p1[1] + 180.0) % 360.0 - 180.0
        return dl * c, np.asarray(la, float) - p1[0]

    x, y = xy(lat, lon)
    bx, by = xy(p2[0], p2[1])
    length2 = float(bx * bx + by * by)
    t = np.clip((x * bx + y * by) / length2, 0.0, 1.0) if length2 > 0 else 0.0
    return np.hypot(x - t * bx, y - t * by)


def _proxy_terms(regions):
    """(lat, lon, amplitude, sigma_c) of smoothed polarities and the arcades of each region."""
    for polarities in regions:
        (la1, lo1, b1, s1), (la2, lo2, b2, s2) = polarities
        sc = math.sqrt(s1**2 + _SMOOTHING**2)
        a1 = abs(b1) * s1**2 / sc**2
        a2 = abs(b2) * s2**2 / sc**2
        yield (la1, lo1), (la2, lo2), a1, a2, sc


def coronal_proxy(lat: np.ndarray, lon: np.ndarray, geometry: FrameGeometry,
                  regions: Sequence[Sequence[Polarity]]) -> np.ndarray:
    """Coronal ``|B|`` proxy ``B_c`` (G, float64) on the disk pixels of ``lat``/``lon``.

    Parameters
    ----------
    regions : list of polarity pairs
        For each active region ``[(lat, lon, b_signed, sigma), (…)]`` at the frame time.
    """
    out = np.zeros(lat.shape, np.float64)
    for p1, p2, a1, a2, sc in _proxy_terms(regions):
        mid = (0.5 * (p1[0] + p2[0]), 0.5 * (p1[1] + p2[1]))
        half = 0.5 * float(np.hypot((p2[1] - p1[1]) * math.cos(math.radians(mid[0])),
                                    p2[0] - p1[0]))
        window = feature_window(geometry, lat.shape, mid[0], mid[1], half + 5.0 * sc)
        if window is None:
            continue
        la = lat[window].astype(np.float64)
        lo = lon[window].astype(np.float64)
        term = _proxy_at(la, lo, p1, p2, a1, a2, sc)
        out[window] += np.nan_to_num(term, nan=0.0)
    return out


def _proxy_at(la, lo, p1, p2, a1, a2, sc):
    d1 = angular_distance(la, lo, p1[0], p1[1])
    d2 = angular_distance(la, lo, p2[0], p2[1])
    da = _arcade_distance(la, lo, p1, p2)
    g = lambda d: np.exp(-0.5 * (d / sc) ** 2)  # noqa: E731
    return a1 * g(d1) + a2 * g(d2) + 0.5 * (a1 + a2) * g(da)


def limb_proxy(geometry: FrameGeometry, regions: Sequence[Sequence[Polarity]],
               n: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The coronal proxy along the limb: ``(angles, B_c)`` at ``n`` position angles."""
    from solarprep.synthetic.observer import limb_points

    angles = np.linspace(-math.pi, math.pi, n + 1)
    lat, lon = limb_points(geometry, angles)
    out = np.zeros(angles.shape)
    for p1, p2, a1, a2, sc in _proxy_terms(regions):
        out += _proxy_at(lat, lon, p1, p2, a1, a2, sc)
    return angles, out
