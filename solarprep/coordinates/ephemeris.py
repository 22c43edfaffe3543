"""Where the observer is, and how the heliographic Stonyhurst frame turns, at any time.

Small wrappers over sunpy/astropy used by derotation, tracking and the synthetic Sun.
Everything here works offline: the Earth comes from astropy's built-in ephemeris
(:func:`sunpy.coordinates.get_earth`). Spacecraft ephemerides (STEREO, Solar
Orbiter, ...) need JPL Horizons or SPICE kernels, which this package never
downloads: pass the observer explicitly (a
:class:`~astropy.coordinates.SkyCoord`) where one is needed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solarprep.errors import EphemerisError  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence
    from typing import TypeAlias

    from astropy.coordinates import SkyCoord
    from astropy.time import Time

    TimeLike: TypeAlias = "Time | str | datetime.datetime | np.datetime64"

__all__ = ["as_time", "as_time_array", "stonyhurst_drift", "earth_observer",
           "observer_arrays", "EARTH_LIKE_TOLERANCE_DEG"]

#: Largest Stonyhurst angular distance (deg) at which an observer counts as the Earth
#: (SDO's geosynchronous orbit puts it within 0.02 deg of Earth centre).
EARTH_LIKE_TOLERANCE_DEG = 0.1


def as_time(t: TimeLike) -> Time:
    """An :class:`astropy.time.Time` (UTC) from a Time, string, datetime or datetime64."""
    from astropy.time import Time

    return t if isinstance(t, Time) else Time(t, scale="utc")


def as_time_array(times: TimeLike | Sequence[TimeLike] | np.ndarray) -> Time:
    """Like :func:`as_time`, always one-dimensional."""
    from astropy.time import Time

    t = as_time(times)
    return Time([t]) if t.isscalar else t


def stonyhurst_drift(t0: TimeLike, times: TimeLike | Sequence[TimeLike] | np.ndarray) -> np.ndarray:
    """Stonyhurst longitude at ``times`` of points fixed in inertial space at ``t0`` (deg).

    The point at Stonyhurst longitude 0 (on the solar equator) at ``t0`` is carried
    to each time with sunpy's own transformation, keeping Sun centre fixed
    (:func:`sunpy.coordinates.transform_with_sun_center`, as
    :func:`sunpy.coordinates.propagate_with_solar_surface` does). The Stonyhurst
    frame turns about the solar rotation axis, so the result is a pure longitude
    offset (about −0.9856 deg/day, following the Earth's true orbital motion),
    the same for every point.

    Returns
    -------
    numpy.ndarray
        Longitude offsets in degrees (not wrapped), one per time.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from sunpy.coordinates import HeliographicStonyhurst, transform_with_sun_center

    times = as_time_array(times)
    n = len(times)
    start = SkyCoord(np.zeros(n) * u.deg, np.zeros(n) * u.deg, np.ones(n) * u.R_sun,
                     frame=HeliographicStonyhurst(obstime=as_time(t0)))
    with transform_with_sun_center():
        moved = start.transform_to(HeliographicStonyhurst(obstime=times))
    lon = moved.lon.wrap_at(180 * u.deg).to_value(u.deg)
    # Unwrap in time so that long spans (> 180 deg) stay continuous.
    dt = (times - as_time(t0)).to_value(u.s)
    expected = -0.9856 * dt / 86400.0
    return lon + 360.0 * np.round((expected - lon) / 360.0)


def earth_observer(times: TimeLike | Sequence[TimeLike] | np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Earth's heliographic Stonyhurst position at ``times``.

    Returns
    -------
    dsun_m, hgln_deg, hglt_deg : numpy.ndarray
        Distance from Sun centre (m), Stonyhurst longitude and latitude (deg).
    """
    from sunpy.coordinates import get_earth

    return observer_arrays(get_earth(as_time_array(times)))


def observer_arrays(coord: SkyCoord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance (m) and Stonyhurst longitude/latitude (deg) of any observer SkyCoord."""
    import astropy.units as u
    from sunpy.coordinates import HeliographicStonyhurst

    try:
        hgs = coord.transform_to(HeliographicStonyhurst(obstime=coord.obstime))
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds
        raise EphemerisError(f"cannot place the observer {coord!r} in heliographic "
                             f"Stonyhurst coordinates: {exc}") from exc
    dsun = np.atleast_1d(hgs.radius.to_value(u.m))
    if not np.all(dsun > 1e9):
        raise EphemerisError("the observer coordinate has no (or a tiny) distance: give a "
                             "3-D SkyCoord with its distance from Sun centre")
    return (dsun, np.atleast_1d(hgs.lon.wrap_at(180 * u.deg).to_value(u.deg)),
            np.atleast_1d(hgs.lat.to_value(u.deg)))
