"""Tracking: a region co-rotating with the Sun, resampled onto a fixed heliographic map.

:func:`track` builds a tracked cube the way JSOC's ``mtrack`` does: for every
frame, the patch centred on a point that moves with a chosen rotation rate is
resampled onto one map projection (Postel by default), so that the solar surface
stands still in the output. The geometry is computed per pixel inside one kernel
(:mod:`kernels._remap_math`), on the CPU or the GPU. See ``docs/derotation.md``.
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from kernels.params import PROJECTIONS as _CODES
from kernels.params import TR_BASIS, track_params
from solarprep import backend
from solarprep.coordinates.ephemeris import as_time, as_time_array, stonyhurst_drift
from solarprep.coordinates.geometry import frame_geometries, kernel_params
from solarprep.coordinates.rotation import DEG_PER_DAY, get_law
from solarprep.dataset import CONVENTIONS, MAP_FRAME_COORDS, append_history, data_variables, validate
from solarprep.errors import SolarDataError
from solarprep.parallel.blocks import require_explicit
from solarprep.remap._gather import empty_frames, remap_variables

if TYPE_CHECKING:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

__all__ = ["track", "PROJECTIONS", "map_coordinates"]

log = logging.getLogger(__name__)

#: Map projections by name: code used by the kernel and a description.
PROJECTIONS = {
    "postel": (_CODES["postel"], "Postel (azimuthal equidistant) about the tracked centre"),
    "cea": (_CODES["cea"], "Lambert cylindrical equal-area: x = Δλ, y = sin φ − sin φ₀"),
    "plate-carree": (_CODES["plate-carree"], "plate carrée: x = Δλ, y = φ − φ₀"),
}

_ALIASES = {"azimuthal-equidistant": "postel", "cylindrical-equal-area": "cea",
            "plate_carree": "plate-carree", "platecarree": "plate-carree", "car": "plate-carree"}


def track(ds: xr.Dataset, center: SkyCoord | tuple, shape: int | tuple[int, int],
          scale: float | u.Quantity, *, projection: str = "postel", rate: object = "snodgrass",
          frame: str = "carrington", reference_time: object = None, order: int = 3,
          device: str = "auto") -> xr.Dataset:
    """Resample every frame onto a heliographic map that follows a co-rotating region.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset of helioprojective images (``docs/dataset.md``).
    center : astropy.coordinates.SkyCoord or (lat, lon)
        The tracked centre at the reference time: a SkyCoord in
        :class:`~sunpy.coordinates.HeliographicCarrington` or
        :class:`~sunpy.coordinates.HeliographicStonyhurst`, or a ``(lat, lon)``
        pair (Quantities or degrees) in the frame named by ``frame``.
    shape : int or (int, int)
        Output map size ``(ny, nx)``.
    scale : float or astropy.units.Quantity
        Map scale per pixel at the centre: degrees of heliographic arc (a float is
        taken as deg/pixel) or a length on the surface (e.g. ``0.36 * u.Mm / u.pix``,
        converted with ``rsun_ref``).
    projection : {"postel", "cea", "plate-carree"}
        Postel (azimuthal equidistant, mtrack's default), Lambert cylindrical
        equal-area, or plate carrée (see Notes).
    rate : str, RotationLaw, tuple or Quantity
        Tracking rate: the sidereal rate of a law (``"snodgrass"`` default,
        ``"howard"``, ``"allen"``, ``"rigid"`` = Carrington rate, or ``(A, B, C)``)
        evaluated at the centre latitude, or one angular-rate Quantity (sidereal).
        The whole patch moves rigidly at that rate, as in mtrack.
    frame : {"carrington", "stonyhurst"}
        Frame of a ``(lat, lon)`` centre; Carrington longitudes use sunpy's
        :class:`~sunpy.coordinates.HeliographicCarrington` seen from the Earth
        (light-travel-time corrected).
    reference_time : time-like, optional
        When the centre is where ``center`` says; default the SkyCoord's
        ``obstime``, else the middle frame's time (as mtrack). A chunked (dask) Dataset
        needs it (or a SkyCoord with ``obstime``): the default depends on the whole series
        (:class:`~solarprep.errors.ChunkingError` otherwise).
    order : {1, 3}
        Bilinear, or Keys bicubic (default, like mtrack's cubic convolution).
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    xarray.Dataset
        A heliographic map Dataset, dims ``(time, y, x)``: ``x`` and ``y`` in degrees
        from the centre along the projection axes (x towards solar west), 2-D
        coordinates ``lat`` and ``dlon`` (latitude and longitude from the centre,
        deg), the observer per frame, ``center_hgs_lon`` and ``center_mu`` per
        frame, a ``valid`` mask, and the projection, rate and centre in ``attrs``.
        Map pixels whose surface point is on the far side or outside the input frame
        are NaN.

    Raises
    ------
    SolarDataError
        If the tracked patch leaves the visible disk entirely in some frame, or the
        data are not floating point.

    Notes
    -----
    With the centre at latitude φ₀ and Stonyhurst longitude λ₀(t), map-plane
    coordinates :math:`(u, v)` (radians) go to the sphere by

    * Postel: :math:`\\hat h = \\cos\\rho\\,\\hat C + \\frac{\\sin\\rho}{\\rho}(u\\hat E + v\\hat N)`,
      :math:`\\rho = \\sqrt{u^2+v^2}` (Snyder 1987, *Map Projections: A Working Manual*,
      USGS PP 1395, §25);
    * cylindrical equal-area: :math:`\\lambda = \\lambda_0 + u`, :math:`\\sin\\varphi = \\sin\\varphi_0 + v`
      (Snyder §10);
    * plate carrée: :math:`\\lambda = \\lambda_0 + u`, :math:`\\varphi = \\varphi_0 + v`.

    The centre moves as
    :math:`\\lambda_0(t) = \\lambda_0(t_{\\rm ref}) + \\omega(\\varphi_0)(t - t_{\\rm ref})
    + \\delta(t_{\\rm ref}, t)`, with ω the sidereal rate and δ the Stonyhurst drift of
    inertial space (:func:`solarprep.coordinates.ephemeris.stonyhurst_drift`).
    """
    validate(ds)
    key = _projection_name(projection)
    code = PROJECTIONS[key][0]
    if order not in (1, 3):
        raise ValueError(f"order must be 1 (bilinear) or 3 (Keys bicubic), not {order!r}")
    ny, nx = _shape(shape)
    names = data_variables(ds)
    for name in names:
        if not np.issubdtype(ds[name].dtype, np.floating):
            raise SolarDataError(f"variable {name!r} has dtype {ds[name].dtype}: tracking needs "
                                 "floating-point data; cast first, e.g. ds.astype('float32')")
    rsun_ref = float(ds.attrs["rsun_ref"])
    scale_rad = _scale_rad(scale, rsun_ref)
    times = as_time_array(ds["time"].values)
    if reference_time is None and getattr(center, "obstime", None) is None:
        require_explicit(ds, "track's default reference time (the middle frame)",
                         "reference_time='2011-02-15T12:00', or a SkyCoord center with obstime")
    t_ref, lat0, lon_ref = _center(center, frame, reference_time, times)
    omega = _rate(rate, lat0)

    dt = (times - t_ref).to_value("s")
    drift = np.radians(stonyhurst_drift(t_ref, times))
    lon_c = lon_ref + omega * dt + drift
    geometries = frame_geometries(ds)
    params = track_params(kernel_params(geometries), projection=code, scale=scale_rad,
                          reference_pixel=((nx - 1) / 2.0, (ny - 1) / 2.0),
                          basis=_basis(lat0, lon_c), lat0=lat0, lon0=lon_c)

    device = backend.resolve_device(device, ds)
    data, valid = remap_variables(ds, names, "track", params, (len(times), ny, nx), order, device,
                                  check=_check_visible)

    axis = (np.arange(nx) - (nx - 1) / 2.0) * math.degrees(scale_rad)
    yaxis = (np.arange(ny) - (ny - 1) / 2.0) * math.degrees(scale_rad)
    lat, dlon = map_coordinates(key, lat0, scale_rad, (ny, nx))
    center_mu = _center_mu(geometries, params[:, TR_BASIS:TR_BASIS + 3], rsun_ref)
    coords = {
        "time": ds["time"],
        "x": ("x", axis, {"units": "deg", "long_name": f"{key} map x (towards solar west)"}),
        "y": ("y", yaxis, {"units": "deg", "long_name": f"{key} map y (towards solar north)"}),
        "lat": (("y", "x"), lat.astype(np.float32),
                {"units": "deg", "long_name": "heliographic latitude"}),
        "dlon": (("y", "x"), dlon.astype(np.float32),
                 {"units": "deg", "long_name": "heliographic longitude from the tracked centre"}),
        "center_hgs_lon": ("time", np.degrees(lon_c),
                           {"units": "deg", "long_name": "Stonyhurst longitude of the centre"}),
        "center_mu": ("time", center_mu,
                      {"units": "", "long_name": "cosine of the heliocentric angle of the centre"}),
        "valid": (("time", "y", "x"), valid,
                  {"long_name": "source point on the visible disk inside the input frame"}),
    }
    for name in MAP_FRAME_COORDS:
        if name in ds.coords:
            coords[name] = ds[name]
    variables = {name: (("time", "y", "x"), data[name], dict(ds[name].attrs)) for name in names}
    attrs = {k: v for k, v in ds.attrs.items()
             if k not in ("ctype1", "ctype2", "lonpole", "history")}
    law_name = rate if isinstance(rate, str) else getattr(rate, "name", "custom")
    attrs.update({
        "Conventions": attrs.get("Conventions", CONVENTIONS),
        "projection": key,
        "projection_description": PROJECTIONS[key][1],
        "map_scale_deg": math.degrees(scale_rad),
        "map_scale_Mm": scale_rad * rsun_ref / 1e6,
        "center_lat": math.degrees(lat0),
        "center_hgs_lon_ref": math.degrees(lon_ref),
        "reference_time": t_ref.isot,
        "tracking_rate": str(law_name),
        "tracking_rate_rad_s": omega,
        "tracking_rate_deg_day": omega / DEG_PER_DAY,
        "interpolation_order": order,
        "history": ds.attrs.get("history", ""),
    })
    out = xr.Dataset(variables, coords=coords, attrs=attrs)
    return append_history(out, f"track(center=({math.degrees(lat0):.3f}, "
                               f"{math.degrees(lon_ref):.3f}) deg HGS at {t_ref.isot}, "
                               f"shape=({ny}, {nx}), projection={key!r}, rate={law_name!r}, "
                               f"order={order}, device={device!r})")


def map_coordinates(projection: str, lat0: float, scale_rad: float,
                    shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude offset (deg) of every map pixel, for a centre at ``lat0`` (rad).

    The inverse projections of :func:`track` in numpy (NaN outside the sphere).
    """
    ny, nx = shape
    u = (np.arange(nx) - (nx - 1) / 2.0)[None, :] * scale_rad
    v = (np.arange(ny) - (ny - 1) / 2.0)[:, None] * scale_rad
    u, v = np.broadcast_arrays(u, v)
    with np.errstate(invalid="ignore", divide="ignore"):
        if projection == "postel":
            rho = np.hypot(u, v)
            k = np.where(rho > 0, np.sin(rho) / np.where(rho > 0, rho, 1.0), 1.0)
            c = np.cos(rho)
            # Centre on the prime meridian: C = (cos φ₀, 0, sin φ₀), E = (0, 1, 0), N = (−sin φ₀, 0, cos φ₀).
            hx = c * math.cos(lat0) - k * v * math.sin(lat0)
            hy = k * u
            hz = c * math.sin(lat0) + k * v * math.cos(lat0)
            lat = np.degrees(np.arctan2(hz, np.hypot(hx, hy)))
            dlon = np.degrees(np.arctan2(hy, hx))
            bad = rho > math.pi
        elif projection == "cea":
            s = math.sin(lat0) + v
            lat = np.degrees(np.arcsin(np.clip(s, -1, 1)))
            dlon = np.degrees(u)
            bad = np.abs(s) > 1
        else:
            lat = np.degrees(lat0 + v)
            dlon = np.degrees(u)
            bad = np.abs(lat) > 90
    lat = np.where(bad, np.nan, lat)
    dlon = np.where(bad, np.nan, dlon)
    return lat, dlon


def _projection_name(projection):
    key = str(projection).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in PROJECTIONS:
        raise ValueError(f"unknown projection {projection!r}: use one of {list(PROJECTIONS)}")
    return key


def _shape(shape):
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape), int(shape))
    ny, nx = (int(s) for s in shape)
    if ny < 1 or nx < 1:
        raise ValueError(f"shape must be positive, not {shape!r}")
    return ny, nx


def _scale_rad(scale, rsun_ref):
    import astropy.units as u

    if isinstance(scale, u.Quantity):
        q = scale
        if q.unit.is_equivalent(u.deg / u.pix) or q.unit.is_equivalent(u.m / u.pix):
            q = q * u.pix
        if q.unit.is_equivalent(u.rad):
            value = q.to_value(u.rad)
        elif q.unit.is_equivalent(u.m):
            value = q.to_value(u.m) / rsun_ref
        else:
            raise ValueError(f"map scale {scale!r} must be an angle or a surface length per "
                             "pixel, e.g. 0.03 * u.deg / u.pix or 0.36 * u.Mm / u.pix")
    else:
        value = math.radians(float(scale))
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"map scale must be positive, not {scale!r}")
    return value


def _center(center, frame, reference_time, times):
    """Reference time, centre latitude and Stonyhurst longitude (rad) at that time."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from sunpy.coordinates import HeliographicCarrington, HeliographicStonyhurst

    if isinstance(center, SkyCoord):
        obstime = center.obstime
        t_ref = as_time(reference_time) if reference_time is not None else (
            obstime if obstime is not None else times[len(times) // 2])
        coord = center
        if coord.obstime is None:
            coord = SkyCoord(coord.frame.replicate(obstime=t_ref))
    else:
        try:
            lat, lon = center
        except (TypeError, ValueError):
            raise ValueError(f"center must be a SkyCoord or a (lat, lon) pair, not {center!r}") \
                from None
        lat = u.Quantity(lat, u.deg)
        lon = u.Quantity(lon, u.deg)
        t_ref = as_time(reference_time) if reference_time is not None else times[len(times) // 2]
        key = str(frame).lower()
        if key == "carrington":
            system = HeliographicCarrington(obstime=t_ref, observer="earth")
        elif key == "stonyhurst":
            system = HeliographicStonyhurst(obstime=t_ref)
        else:
            raise ValueError(f"frame must be 'carrington' or 'stonyhurst', not {frame!r}")
        coord = SkyCoord(lon, lat, 1 * u.R_sun, frame=system)
    hgs = coord.transform_to(HeliographicStonyhurst(obstime=t_ref))
    lat0 = float(hgs.lat.to_value(u.rad))
    if abs(lat0) >= math.pi / 2:
        raise ValueError("the tracked centre cannot be a pole: the map axes are undefined there")
    return t_ref, lat0, float(hgs.lon.wrap_at(180 * u.deg).to_value(u.rad))


def _rate(rate, lat0):
    import astropy.units as u

    if isinstance(rate, u.Quantity):
        if not rate.unit.is_equivalent(u.rad / u.s) or not rate.isscalar:
            raise ValueError(f"a tracking rate Quantity must be one angular rate, not {rate!r}")
        return float(rate.to_value(u.rad / u.s))
    return float(get_law(rate).rate(math.degrees(lat0)))


def _basis(lat0, lon_c):
    """Rows ``[C, E, N]`` (flattened) for every centre longitude in ``lon_c``."""
    cl, sl = math.cos(lat0), math.sin(lat0)
    c, s = np.cos(lon_c), np.sin(lon_c)
    zeros = np.zeros_like(lon_c)
    return np.stack([cl * c, cl * s, sl + zeros,          # C
                     -s, c, zeros,                         # E
                     -sl * c, -sl * s, cl + zeros], axis=1)  # N


def _center_mu(geometries, centers, rsun_ref):
    """μ of the tracked centre seen by each frame's observer (NaN behind the limb)."""
    mu = np.empty(len(geometries))
    for k, g in enumerate(geometries):
        b, l = math.radians(g.hglt_obs), math.radians(g.hgln_obs)
        obs = np.array([math.cos(b) * math.cos(l), math.cos(b) * math.sin(l), math.sin(b)])
        d = g.dsun_obs / rsun_ref
        line = d * obs - centers[k]
        cos_angle = float(centers[k] @ line) / float(np.linalg.norm(line))
        mu[k] = cos_angle if cos_angle > 0 else np.nan
    return mu


def _check_visible(valid, frames, params):
    """Raise for frames in which the tracked patch is entirely off the disk (block-wise)."""
    empty = empty_frames(valid)
    if empty.size:
        raise SolarDataError(
            f"the tracked patch is entirely off the visible disk in {empty.size} frame(s), first "
            f"frame {int(frames[int(empty[0])])}: track over a shorter span or choose a centre "
            "that stays on the disk")
