"""Surface features of the synthetic Sun and how they move and grow.

Features are defined at the reference time ``t0`` by their heliographic
Stonyhurst position and are carried by sidereal differential rotation in an
inertial frame, seen in Stonyhurst longitude:

.. math:: \\lambda(t) = \\lambda_0 + \\omega_{sid}(\\varphi)\\,(t - t_0) + \\delta(t),

where δ(t) is the Stonyhurst longitude at ``t`` of a point fixed in inertial space
that was at longitude 0 at ``t0`` (:func:`~solarprep.synthetic.observer.stonyhurst_drift`,
sunpy's transformation with Sun centre fixed). This is exactly what sunpy's
``RotatedSunFrame`` / ``propagate_with_solar_surface`` do with the same law.

Every feature may emerge: its strength is multiplied by

.. math:: f(t) = \\tfrac12\\left[1 + \\tanh\\frac{t - t_e}{\\tau}\\right]

(``t_emerge = None``: always fully present).
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from solarprep.dataset import as_seconds
from solarprep.synthetic.observer import project_to_pixel

if TYPE_CHECKING:
    import numpy.typing as npt
    from astropy.time import Time

    from solarprep.coordinates.geometry import FrameGeometry

__all__ = ["Sunspot", "Facula", "ActiveRegion", "random_features", "emergence_factor",
           "angular_distance", "destination", "feature_window", "hale_leading_sign",
           "RSUN_CM"]

log = logging.getLogger(__name__)

#: SDO photospheric radius in cm (flux densities in G, fluxes in Mx).
RSUN_CM = 6.96e10


@dataclasses.dataclass(frozen=True)
class _Evolving:
    def emergence_time(self):
        from astropy.time import Time

        return None if self.t_emerge is None else Time(self.t_emerge, scale="utc")


@dataclasses.dataclass(frozen=True)
class Sunspot(_Evolving):
    """A sunspot: dark umbra inside a penumbra, contrasts relative to the local quiet Sun.

    Attributes
    ----------
    lat, lon : float
        Stonyhurst latitude and longitude at ``t0``, deg.
    radius : float
        Outer (penumbral) radius, deg of heliocentric angle (1 deg ≈ 12.1 Mm).
    umbra_fraction : float
        Umbral radius / penumbral radius (about 0.4 for regular spots).
    umbra_contrast, penumbra_contrast : float
        I/I_quiet in the umbra (darkest at its centre) and penumbra, at 6173 Å.
    t_emerge : str or astropy.time.Time, optional
        Emergence time; the area grows as f(t) (radius as √f).
    tau : float or Quantity
        Emergence time scale (hours if a number).
    name : str
    """

    lat: float
    lon: float
    radius: float = 0.6
    umbra_fraction: float = 0.4
    umbra_contrast: float = 0.25
    penumbra_contrast: float = 0.8
    t_emerge: object = None
    tau: object = 12.0
    name: str = "spot"


@dataclasses.dataclass(frozen=True)
class Facula(_Evolving):
    """A facular region, brighter towards the limb.

    The continuum is multiplied by ``1 + contrast·g(μ)·exp(−d²/2σ²)`` with
    ``σ = radius/2`` and ``g(μ) = (27/4) μ (1 − μ)²``, zero at disk centre and at the
    limb and 1 at μ = 1/3: the centre-to-limb behaviour of facular continuum
    contrast (e.g. Ortiz et al. 2002, A&A 388, 1036), simplified.

    Attributes
    ----------
    lat, lon : float
        Stonyhurst position at ``t0``, deg.
    radius : float
        Extent, deg.
    contrast : float
        Peak contrast (reached at μ = 1/3).
    t_emerge, tau, name
        As for :class:`Sunspot`.
    """

    lat: float
    lon: float
    radius: float = 3.0
    contrast: float = 0.08
    t_emerge: object = None
    tau: object = 12.0
    name: str = "facula"


@dataclasses.dataclass(frozen=True)
class ActiveRegion(_Evolving):
    """A bipolar active region: two Gaussian polarities of radial field.

    Each polarity has ``B_r = ±B_peak·f(t)·exp(−d²/2σ²)`` with ``d`` the great-circle
    distance from its centre and ``B_peak = Φ/(2π σ² R☉²)`` (σ in radians, R☉ in
    cm, so that the flux of each polarity is Φ for small σ); the net flux is zero.

    Attributes
    ----------
    lat, lon : float
        Centre (midpoint of the polarities) at ``t0``, deg.
    flux : float
        Unsigned flux of each polarity at full emergence, Mx.
    separation : float
        Distance between the polarity centres, deg.
    tilt : float
        Angle of the bipole axis from the east-west line, deg, positive when the
        leading (westward) polarity is nearer the equator (Joy's law).
    sigma : float
        Gaussian width of each polarity, deg.
    leading_sign : int
        Sign of the leading polarity (+1 or −1); Hale's law:
        :func:`hale_leading_sign`.
    t_emerge, tau, name
        As for :class:`Sunspot`.
    """

    lat: float
    lon: float
    flux: float = 1e22
    separation: float = 6.0
    tilt: float = 5.0
    sigma: float = 0.8
    leading_sign: int = 1
    t_emerge: object = None
    tau: object = 12.0
    name: str = "AR"

    @property
    def peak_field(self):
        """Peak ``|B_r|`` of each polarity at full emergence, G."""
        sigma_cm = math.radians(self.sigma) * RSUN_CM
        return self.flux / (2.0 * math.pi * sigma_cm**2)

    def polarities(self, lat: float | None = None, lon: float | None = None
                   ) -> list[tuple[float, float, int]]:
        """``[(lat, lon, sign), (lat, lon, sign)]``: leading then following polarity.

        ``lat``, ``lon`` override the centre (e.g. the rotated centre at some time).
        """
        lat = self.lat if lat is None else lat
        lon = self.lon if lon is None else lon
        hemi = 1.0 if lat >= 0 else -1.0
        bearing = 90.0 + hemi * self.tilt  # from north through west (+lon)
        lead = destination(lat, lon, bearing, self.separation / 2.0)
        follow = destination(lat, lon, bearing + 180.0, self.separation / 2.0)
        s = int(np.sign(self.leading_sign)) or 1
        return [(lead[0], lead[1], s), (follow[0], follow[1], -s)]


def emergence_factor(feature: Sunspot | Facula | ActiveRegion, dt_s: float, t0: Time) -> float:
    """f(t) for ``feature`` at ``dt_s`` seconds after ``t0`` (1 if it does not evolve)."""
    te = feature.emergence_time()
    if te is None:
        return 1.0
    tau = as_seconds(feature.tau, "tau", unit="h")
    if tau <= 0:
        raise ValueError(f"feature {feature.name!r}: tau must be positive, not {feature.tau!r}")
    te_s = (te - t0).to_value("s")
    return 0.5 * (1.0 + math.tanh((dt_s - te_s) / tau))


def angular_distance(lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike,
                     lon2: npt.ArrayLike) -> np.ndarray:
    """Great-circle distance (deg) by the haversine formula, float64, broadcasting."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=float) - lon1)
    hav = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0))))


def destination(lat: float, lon: float, bearing: float, distance: float) -> tuple[float, float]:
    """Point at ``distance`` (deg) from ``(lat, lon)`` along ``bearing`` (deg from north to +lon)."""
    p1, l1 = math.radians(lat), math.radians(lon)
    b, d = math.radians(bearing), math.radians(distance)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1),
                         math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def feature_window(geometry: FrameGeometry, shape: tuple[int, int], lat: float, lon: float,
                   radius: float, *, rings: int = 6,
                   spokes: int = 32) -> tuple[slice, slice] | None:
    """Rows/columns slices of the pixels within ``radius`` (deg) of ``(lat, lon)``.

    The cap is sampled (centre, ``rings`` circles of ``spokes`` points), the visible
    samples are projected to pixels with :func:`project_to_pixel`, and their
    bounding box is widened by the projected spacing of the samples. Returns
    ``None`` when no part of the cap is visible.
    """
    ny, nx = shape
    radius = min(float(radius), 179.0)
    pts = [(lat, lon)]
    for k in range(1, rings + 1):
        dk = radius * k / rings
        for b in np.linspace(0.0, 360.0, spokes, endpoint=False):
            pts.append(destination(lat, lon, b, dk))
    pts = np.array(pts)
    col, row, visible = project_to_pixel(geometry, pts[:, 0], pts[:, 1])
    if not visible.any():
        return None
    rsun_px = geometry.rsun_obs / abs(geometry.cdelt1)
    margin = 2.0 + math.radians(radius) * rsun_px * max(1.0 / rings, math.pi / spokes) * 1.5
    r0 = int(max(0, math.floor(row[visible].min() - margin)))
    r1 = int(min(ny, math.ceil(row[visible].max() + margin) + 1))
    c0 = int(max(0, math.floor(col[visible].min() - margin)))
    c1 = int(min(nx, math.ceil(col[visible].max() + margin) + 1))
    if r0 >= r1 or c0 >= c1:
        return None
    return slice(r0, r1), slice(c0, c1)


# Solar-cycle minima (decimal years) and the cycle that starts there.
_CYCLE_STARTS = ((1976.2, 21), (1986.8, 22), (1996.4, 23), (2008.9, 24), (2019.9, 25))


def hale_leading_sign(lat: float, time: str | Time) -> int:
    """Leading-polarity sign by Hale's law for the cycle in progress at ``time``.

    Odd cycles (23, 25) have positive leading polarity in the north and negative in
    the south; even cycles (22, 24) the opposite (e.g. NOAA 11158, S20 in cycle 24:
    leading positive). Cycles after 2019.9 are extrapolated every 11 years.
    """
    from astropy.time import Time

    year = Time(time, scale="utc").decimalyear
    cycle = 21
    for start, number in _CYCLE_STARTS:
        if year >= start:
            cycle = number
    if year >= _CYCLE_STARTS[-1][0]:
        cycle = 25 + int((year - _CYCLE_STARTS[-1][0]) // 11.0)
    north = 1 if cycle % 2 == 1 else -1
    return north if lat >= 0 else -north


def random_features(seed: int, t0: str | Time,
                    n_regions: int | None = None) -> list[ActiveRegion | Sunspot | Facula]:
    """A seeded, plausible set of active regions with their spots and faculae.

    Active regions lie in the activity belts (5–35° latitude), on the visible
    hemisphere at ``t0`` (longitude −75…60°), with fluxes log-uniform in
    2e21–3e22 Mx, peak fields 800–2500 G, Joy's-law tilts (≈ 0.5·``|lat|`` ± 5°),
    Hale's-law polarity, and about a third still emerging in the two days after
    ``t0``. Regions above 5e21 Mx carry a leading spot (and a following spot above 1.5e22 Mx) at the
    polarity centres, radius ∝ √Φ, and a facular region around them.

    Parameters
    ----------
    seed : int
    t0 : str or astropy.time.Time
    n_regions : int, optional
        Number of active regions (default: 3–6, seeded).

    Returns
    -------
    list
        :class:`ActiveRegion`, :class:`Sunspot` and :class:`Facula` objects.
    """
    import astropy.units as u
    from astropy.time import Time

    t0 = Time(t0, scale="utc")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    n = int(rng.integers(3, 7)) if n_regions is None else int(n_regions)
    features = []
    for k in range(n):
        hemi = 1.0 if rng.random() < 0.5 else -1.0
        lat = hemi * rng.uniform(5.0, 35.0)
        lon = rng.uniform(-75.0, 60.0)
        flux = 10 ** rng.uniform(np.log10(2e21), np.log10(3e22))
        # peak field 800 G (2e21 Mx) to 2500 G (3e22 Mx); σ from Φ = 2π σ² R² B_peak
        b_peak = 800.0 + 1700.0 * np.clip(np.log10(flux / 2e21) / np.log10(15.0), 0.0, 1.0)
        sigma = math.degrees(math.sqrt(flux / (2.0 * math.pi * b_peak)) / RSUN_CM)
        separation = float(np.clip(4.0 * (flux / 1e22) ** 0.3, 2.0, 9.0))
        tilt = 0.5 * abs(lat) + rng.normal(0.0, 5.0)
        emerging = rng.random() < 0.35
        t_emerge = (t0 + rng.uniform(-0.2, 2.0) * u.day).isot if emerging else None
        tau = float(rng.uniform(6.0, 18.0))
        name = f"AR{k + 1}"
        ar = ActiveRegion(lat=lat, lon=lon, flux=flux, separation=separation, tilt=tilt,
                          sigma=sigma, leading_sign=hale_leading_sign(lat, t0),
                          t_emerge=t_emerge, tau=tau, name=name)
        features.append(ar)
        (la, lo, _), (lf, lf_lon, _) = ar.polarities()
        if flux > 5e21:
            radius = 0.55 * math.sqrt(flux / 1e22)
            features.append(Sunspot(la, lo, radius=radius, t_emerge=t_emerge, tau=tau,
                                    name=f"{name} leading spot"))
            if flux > 1.5e22:
                features.append(Sunspot(lf, lf_lon, radius=0.7 * radius,
                                        umbra_contrast=0.3, t_emerge=t_emerge, tau=tau,
                                        name=f"{name} following spot"))
        features.append(Facula(lat, lon, radius=separation / 2 + 2.5 * sigma,
                               contrast=float(rng.uniform(0.05, 0.1)), t_emerge=t_emerge,
                               tau=tau, name=f"{name} faculae"))
    log.debug("random_features(seed=%s): %d regions, %d features", seed, n, len(features))
    return features
