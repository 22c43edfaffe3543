"""Observer positions and velocities, image geometry, and pixel ↔ Sun mappings.

The synthetic Sun places every observation with sunpy's ephemeris (astropy's
builtin ERFA ephemeris: no download): the Earth's heliographic Stonyhurst
position from :func:`sunpy.coordinates.get_earth`, its heliocentric velocity from
:func:`astropy.coordinates.get_body_barycentric_posvel`, Carrington longitudes
from :class:`sunpy.coordinates.HeliographicCarrington`. All of them are computed
for many times in one vectorised call.

Pixels are placed on the Sun with the project's analytic per-pixel geometry
(:class:`solarprep.coordinates.geometry.FrameGeometry` and ``kernels.cpu.disk_coordinates``);
:func:`project_to_pixel` is its exact inverse for a few points, and
:func:`sky_geometry` gives, for every pixel, the impact parameter of its line of
sight and its position angle (used off the limb).
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import numpy as np

import kernels.cpu
from solarprep.coordinates.ephemeris import as_time, as_time_array, stonyhurst_drift  # noqa: F401 (re-exported)
from solarprep.coordinates.geometry import FrameGeometry

if TYPE_CHECKING:
    from collections.abc import Sequence

    import astropy.units as u
    import numpy.typing as npt
    from astropy.time import Time

__all__ = ["Observer", "ObserverStates", "observer_states", "stonyhurst_drift",
           "image_geometry", "pixel_geometry", "project_to_pixel", "sky_geometry",
           "limb_points", "AU", "RSUN_SDO"]

log = logging.getLogger(__name__)

#: Astronomical unit, m (IAU 2012).
AU = 149_597_870_700.0
#: Photospheric radius used by SDO (RSUN_REF in HMI/AIA headers), m.
RSUN_SDO = 696_000_000.0


@dataclasses.dataclass(frozen=True)
class Observer:
    """An observer at a fixed heliographic Stonyhurst position (e.g. a STEREO-like spacecraft).

    Attributes
    ----------
    distance : float
        Distance from Sun centre, m.
    lat : float
        Stonyhurst latitude (B0), deg.
    lon : float
        Stonyhurst longitude, deg (0 = towards the Earth, positive to the west).
    name : str
        A label (reported by :meth:`SyntheticSun.truth`); the headers stay SDO-like.

    Notes
    -----
    The observer is fixed in the Stonyhurst frame, which turns with the Earth's
    orbital motion; its inertial velocity is therefore ``Ω ẑ × r`` with Ω the
    frame's angular velocity (about 0.9856 deg/day), and OBS_VR = 0.
    """

    distance: float
    lat: float = 0.0
    lon: float = 0.0
    name: str = "synthetic observer"

    @classmethod
    def from_quantities(cls, distance: u.Quantity, lat: u.Quantity, lon: u.Quantity,
                        name: str = "synthetic observer") -> Observer:
        """Build an observer from Quantities (distance in any length unit, e.g. AU)."""
        import astropy.units as u

        return cls(u.Quantity(distance).to_value(u.m), u.Quantity(lat).to_value(u.deg),
                   u.Quantity(lon).to_value(u.deg), name)


@dataclasses.dataclass(frozen=True)
class ObserverStates:
    """Observer position and velocity at ``n`` times (arrays of length ``n``).

    Attributes
    ----------
    times : astropy.time.Time
        The times (UTC).
    dsun, hgln, hglt : numpy.ndarray
        Distance from Sun centre (m) and Stonyhurst longitude/latitude (deg).
    crln, crlt : numpy.ndarray
        Carrington longitude/latitude of the observer (deg).
    velocity : numpy.ndarray
        ``(n, 3)`` inertial velocity relative to Sun centre, m/s, in the Stonyhurst
        Cartesian axes of each time.
    obs_vr, obs_vw, obs_vn : numpy.ndarray
        Velocity components away from the Sun, to solar west and to solar north
        (the OBS_VR/OBS_VW/OBS_VN of SDO headers), m/s.
    """

    times: object
    dsun: np.ndarray
    hgln: np.ndarray
    hglt: np.ndarray
    crln: np.ndarray
    crlt: np.ndarray
    velocity: np.ndarray
    obs_vr: np.ndarray
    obs_vw: np.ndarray
    obs_vn: np.ndarray
    name: str = "SDO"

    def __len__(self):
        return len(self.dsun)

    def position(self, k: int) -> np.ndarray:
        """Stonyhurst Cartesian position of the observer at time ``k``, m."""
        b, l, d = math.radians(self.hglt[k]), math.radians(self.hgln[k]), self.dsun[k]
        return np.array([d * math.cos(b) * math.cos(l), d * math.cos(b) * math.sin(l),
                         d * math.sin(b)])


def _hcrs_to_hgs_vectors(vectors, times):
    """Rotate ``(n, 3)`` vectors given in HCRS (ICRS-aligned) axes into HGS axes at ``times``."""
    import astropy.units as u
    from astropy.coordinates import HCRS, CartesianRepresentation, SkyCoord
    from sunpy.coordinates import HeliographicStonyhurst

    rep = CartesianRepresentation(vectors.T * u.m)
    out = SkyCoord(rep, frame=HCRS(obstime=times)).transform_to(
        HeliographicStonyhurst(obstime=times))
    return np.stack([out.cartesian.x.to_value(u.m), out.cartesian.y.to_value(u.m),
                     out.cartesian.z.to_value(u.m)], axis=-1)


_as_time = as_time
_as_time_array = as_time_array


def observer_states(observer: str | Observer, times: Time | str | Sequence[str | Time]) -> ObserverStates:
    """Positions and velocities of ``observer`` at ``times``, vectorised.

    Parameters
    ----------
    observer : "earth" or Observer
        The Earth (centre) from the ephemeris, or a fixed Stonyhurst position.
    times : astropy.time.Time or str or list
        One or many times (UTC).

    Returns
    -------
    ObserverStates
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord, get_body_barycentric_posvel
    from sunpy.coordinates import HeliographicCarrington, HeliographicStonyhurst, get_earth

    times = _as_time_array(times)
    n = len(times)
    if isinstance(observer, str) and observer.lower() == "earth":
        earth = get_earth(times)
        dsun = earth.radius.to_value(u.m)
        hgln = earth.lon.wrap_at(180 * u.deg).to_value(u.deg)
        hglt = earth.lat.to_value(u.deg)
        pe, ve = get_body_barycentric_posvel("earth", times)
        ps, vs = get_body_barycentric_posvel("sun", times)
        v_icrs = (ve - vs).xyz.to_value(u.m / u.s).T.reshape(n, 3)
        velocity = _hcrs_to_hgs_vectors(v_icrs, times)
        name = "SDO"
    elif isinstance(observer, Observer):
        dsun = np.full(n, float(observer.distance))
        hgln = np.full(n, float(observer.lon))
        hglt = np.full(n, float(observer.lat))
        # Angular velocity of the Stonyhurst frame from sunpy's own drift (centred difference).
        h = 600.0
        drift = stonyhurst_drift(times[0], np.concatenate([times - h * u.s, times + h * u.s]))
        omega_frame = -np.radians(drift[n:] - drift[:n]) / (2 * h)
        b, l = np.radians(hglt), np.radians(hgln)
        pos = dsun[:, None] * np.stack([np.cos(b) * np.cos(l), np.cos(b) * np.sin(l),
                                        np.sin(b)], -1)
        velocity = omega_frame[:, None] * np.stack([-pos[:, 1], pos[:, 0], np.zeros(n)], -1)
        name = observer.name
    else:
        raise ValueError(f"observer must be 'earth' or a synthetic.Observer, not {observer!r}")
    coords = SkyCoord(hgln * u.deg, hglt * u.deg, dsun * u.m,
                      frame=HeliographicStonyhurst(obstime=times))
    hgc = coords.transform_to(HeliographicCarrington(observer="self", obstime=times))
    crln = hgc.lon.to_value(u.deg)
    crlt = hgc.lat.to_value(u.deg)
    # Local (radial, west, north) unit vectors at the observer.
    b, l = np.radians(hglt), np.radians(hgln)
    r_hat = np.stack([np.cos(b) * np.cos(l), np.cos(b) * np.sin(l), np.sin(b)], -1)
    w_hat = np.stack([-np.sin(l), np.cos(l), np.zeros(n)], -1)
    n_hat = np.cross(r_hat, w_hat)
    return ObserverStates(
        times=times, dsun=np.asarray(dsun, float), hgln=np.asarray(hgln, float),
        hglt=np.asarray(hglt, float), crln=np.asarray(crln, float), crlt=np.asarray(crlt, float),
        velocity=velocity,
        obs_vr=np.einsum("ij,ij->i", velocity, r_hat),
        obs_vw=np.einsum("ij,ij->i", velocity, w_hat),
        obs_vn=np.einsum("ij,ij->i", velocity, n_hat), name=name)


def image_geometry(states: ObserverStates, k: int, shape: tuple[int, int], cdelt: float, crota2: float,
                   rsun_ref: float = RSUN_SDO) -> FrameGeometry:
    """The :class:`~solarprep.coordinates.geometry.FrameGeometry` of a full-disk image centred on the Sun.

    Parameters
    ----------
    states : ObserverStates
    k : int
        Which time of ``states``.
    shape : tuple of int
        ``(ny, nx)``.
    cdelt : float
        Plate scale, arcsec per pixel (both axes).
    crota2 : float
        Image rotation from solar north, deg (about 180 for HMI).
    rsun_ref : float
        Photospheric radius, m.
    """
    ny, nx = shape
    return FrameGeometry(crpix1=(nx + 1) / 2.0, crpix2=(ny + 1) / 2.0, crval1=0.0, crval2=0.0,
                         cdelt1=float(cdelt), cdelt2=float(cdelt), crota2=float(crota2),
                         dsun_obs=float(states.dsun[k]), hgln_obs=float(states.hgln[k]),
                         hglt_obs=float(states.hglt[k]), rsun_ref=float(rsun_ref))


def pixel_geometry(geometry: FrameGeometry, shape: tuple[int, int]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """μ, Stonyhurst latitude and longitude (deg, float32) and the on-disk mask of every pixel.

    Runs the project's CPU kernel ``kernels.cpu.disk_coordinates``.
    """
    from kernels.cpu import disk_coordinates

    ny, nx = shape
    mu = np.empty((1, ny, nx), np.float32)
    lat = np.empty_like(mu)
    lon = np.empty_like(mu)
    on_disk = np.empty((1, ny, nx), np.bool_)
    disk_coordinates(geometry.kernel_params()[None, :], mu, lat, lon, on_disk)
    return mu[0], lat[0], lon[0], on_disk[0]


def _unit_vectors(lat_deg, lon_deg):
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    lon = np.radians(np.asarray(lon_deg, dtype=float))
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def project_to_pixel(geometry: FrameGeometry, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel position of surface points (inverse of the disk-geometry kernel).

    Parameters
    ----------
    geometry : FrameGeometry
    lat_deg, lon_deg : array_like
        Stonyhurst latitude and longitude of points on the photosphere.

    Returns
    -------
    col, row : numpy.ndarray
        0-based pixel coordinates (column = x, row = y).
    visible : numpy.ndarray of bool
        Whether the point is on the visible hemisphere.
    """
    p = geometry.kernel_params()
    r1 = p[6:15].reshape(3, 3)
    r2 = p[16:25].reshape(3, 3)
    m = p[2:6].reshape(2, 2)
    dist = p[15]
    h = _unit_vectors(lat_deg, lon_deg)
    q = h @ r2  # R2ᵀ·h for each row
    visible = q[..., 0] * dist > 1.0
    c = np.stack([dist - q[..., 0], q[..., 1], q[..., 2]], -1)
    c /= np.linalg.norm(c, axis=-1, keepdims=True)
    v = c @ r1  # R1ᵀ·c
    xi = v[..., 1] / v[..., 2]
    eta = -v[..., 0] / v[..., 2]
    d = np.linalg.solve(m, np.stack([xi.ravel(), eta.ravel()]))
    col = (p[0] + d[0]).reshape(xi.shape)
    row = (p[1] + d[1]).reshape(xi.shape)
    return col, row, visible


def sky_geometry(geometry: FrameGeometry, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Impact parameter (Rsun) and position angle (rad) of every pixel's line of sight.

    The impact parameter is the distance of closest approach of the line of sight
    to Sun centre, ``D sin θ`` in units of the solar radius; the position angle
    ``atan2(c_z, c_y)`` is measured from solar west towards solar north in the
    plane of the sky. Off the limb the height above the photosphere is
    ``impact − 1`` (for the part of the line of sight nearest to the Sun).
    """
    ny, nx = shape
    impact = np.empty((1, ny, nx), np.float64)
    angle = np.empty((1, ny, nx), np.float64)
    kernels.cpu.sky_coordinates(geometry.kernel_params()[None], impact, angle)
    return impact[0], angle[0]


def limb_points(geometry: FrameGeometry, angle: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Stonyhurst latitude and longitude (deg) of the limb at position angles ``angle`` (rad)."""
    p = geometry.kernel_params()
    r2 = p[16:25].reshape(3, 3)
    dist = p[15]
    rho = math.sqrt(1.0 - 1.0 / dist**2)
    angle = np.asarray(angle, dtype=float)
    q = np.stack([np.full(angle.shape, 1.0 / dist), rho * np.cos(angle), rho * np.sin(angle)], -1)
    h = q @ r2.T
    lat = np.degrees(np.arctan2(h[..., 2], np.hypot(h[..., 0], h[..., 1])))
    lon = np.degrees(np.arctan2(h[..., 1], h[..., 0]))
    return lat, lon
