"""Derotation: every frame of a solar Dataset as the Sun looks at another time.

:func:`derotate` remaps each frame to a target time, seen from the observer at that
time, turning every surface point by a differential rotation law. The geometry
(pixel → surface → rotated surface → input pixel) is computed analytically inside
one kernel per pixel, on the CPU (numba, all cores) or on the GPU (one fused
numba.cuda kernel), so no coordinate array is ever stored (see
:mod:`kernels._remap_math` and ``docs/derotation.md``).
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from kernels.params import DR_DT, derotate_params
from solarprep import backend
from solarprep.coordinates.ephemeris import (
    EARTH_LIKE_TOLERANCE_DEG,
    as_time_array,
    earth_observer,
    observer_arrays,
    stonyhurst_drift,
)
from solarprep.coordinates.geometry import frame_geometries, kernel_params
from solarprep.coordinates.rotation import SYNODIC_OFFSET, get_law
from solarprep.dataset import append_history, data_variables, validate
from solarprep.errors import EphemerisError, SolarDataError
from solarprep.remap._gather import empty_frames, remap_variables

if TYPE_CHECKING:
    import xarray as xr
    from astropy.coordinates import SkyCoord

__all__ = ["derotate", "DISK_COORDS"]

log = logging.getLogger(__name__)

#: Coordinates that describe one geometry and go stale when the observer or time changes.
DISK_COORDS = ("mu", "hgs_lat", "hgs_lon", "on_disk")


def derotate(ds: xr.Dataset, to: object, *, model: object = "howard", frame_time: str = "sidereal",
             order: int = 1, observer: str | SkyCoord = "auto", device: str = "auto") -> xr.Dataset:
    """Remap every frame of ``ds`` to how the Sun looks at time ``to``.

    Each output pixel keeps its frame's pixel grid (reference pixel, value, scale
    and rotation) but is seen by the observer at the target time. The surface
    point it shows is followed back in time by the rotation law to the input
    frame, projected into it, and the input is interpolated there.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset (``docs/dataset.md``) with float data variables.
    to : str, datetime, numpy.datetime64, astropy.time.Time or sequence of them
        The target time: one for every frame, or one per frame.
    model : str, RotationLaw or tuple
        Sidereal rotation law ω(φ) = A + B sin²φ + C sin⁴φ: ``"howard"`` (Howard,
        Harvey & Forgach 1990, Sol. Phys. 130, 295; the default, as in sunpy),
        ``"snodgrass"`` (Snodgrass & Ulrich 1990, ApJ 351, 309), ``"allen"``
        (Allen's Astrophysical Quantities), ``"rigid"`` (Carrington rate
        14.1844 deg/day), a :class:`~solarprep.coordinates.rotation.RotationLaw`, or ``(A, B,
        C)`` angular-rate Quantities. See :mod:`solarprep.coordinates.rotation`.
    frame_time : {"sidereal", "synodic"}
        ``"sidereal"`` (default) turns points by the sidereal rate in inertial space
        and follows the Earth's true orbital motion in the Stonyhurst frame, exactly
        as :func:`sunpy.coordinates.propagate_with_solar_surface`; ``"synodic"``
        uses the rate minus 0.9856 deg/day in a Stonyhurst frame taken as fixed
        (sunpy's ``frame_time="synodic"``; differs by up to ~0.03 deg/day).
    order : {1, 3}
        Interpolation: 1 bilinear (default), 3 Keys bicubic (a = −1/2).
    observer : "auto", "earth", "same" or astropy.coordinates.SkyCoord
        Who looks at the target time. ``"auto"`` is the Earth when every frame was
        taken from the Earth or near it (SDO; within 0.1 deg) and an error
        otherwise; ``"earth"`` forces the Earth; ``"same"`` keeps each frame's own
        observer position (useful for tests and for fixed observers); a SkyCoord
        (one, or one per frame) gives the observer explicitly, e.g. STEREO from
        JPL Horizons.
    device : {"auto", "cpu", "cuda"}
        Where to compute. With ``"cuda"`` the result holds CuPy arrays.

    Returns
    -------
    xarray.Dataset
        Same variables, dims and pixel grid. ``time`` is the target time (the
        ``obstime`` of the new geometry), ``source_time`` the input frame time;
        ``dsun_obs``, ``hgln_obs``, ``hglt_obs``, ``rsun_obs`` describe the
        target observer. Output pixels off the target disk, or whose surface point
        was on the far side of the Sun or outside the input frame, are NaN; the
        boolean coordinate ``valid`` (time, y, x) is True where the source point
        was on the visible disk inside the input frame (a NaN input pixel still
        gives NaN there). Stale disk coordinates (``mu``, ...) are dropped.

    Raises
    ------
    SolarDataError
        Integer data (cast to float first), or a frame in which no output pixel
        sees a point that was visible in the input (e.g. Δt near half a rotation,
        or a cutout whose region has rotated off the disk).
    EphemerisError
        No target observer can be found (a non-Earth observer with
        ``observer="auto"``).

    Notes
    -----
    For an output pixel showing the unit surface vector :math:`\\hat h` (heliographic
    Stonyhurst at the target time :math:`t_1`, latitude φ), the surface element was at
    Stonyhurst longitude

    .. math:: \\lambda_0 = \\lambda_1 - \\omega(\\varphi)\\,(t_1 - t_0) - \\delta(t_0, t_1)

    at the input time :math:`t_0`, where δ is the change of Stonyhurst longitude of an
    inertially fixed point (the Earth's orbital motion, ≈ −0.9856 deg/day;
    :func:`solarprep.coordinates.ephemeris.stonyhurst_drift`). It is visible from the input
    observer at distance :math:`D` (solar radii) when :math:`D\\,\\hat h\\cdot\\hat o > 1`.
    The projections are the exact TAN (gnomonic) ones of the frames' WCS
    (Calabretta & Greisen 2002, A&A 395, 1077; Thompson 2006, A&A 449, 791).
    """
    validate(ds)
    if order not in (1, 3):
        raise ValueError(f"order must be 1 (bilinear) or 3 (Keys bicubic), not {order!r}")
    if frame_time not in ("sidereal", "synodic"):
        raise ValueError(f"frame_time must be 'sidereal' or 'synodic', not {frame_time!r}")
    law = get_law(model)
    names = data_variables(ds)
    for name in names:
        if not np.issubdtype(ds[name].dtype, np.floating):
            raise SolarDataError(
                f"variable {name!r} has dtype {ds[name].dtype}: derotation needs floating-point "
                "data (NaN marks pixels without a source); cast first, e.g. "
                "ds.astype('float32')")
    nt = ds.sizes["time"]
    source_times = as_time_array(ds["time"].values)
    target_times = _target_times(to, nt)
    dt = (target_times - source_times).to_value("s")

    geometries = frame_geometries(ds)
    dsun, hgln, hglt = _target_observer(observer, geometries, source_times, target_times)
    targets = [dataclasses.replace(g, dsun_obs=float(d), hgln_obs=float(ln), hglt_obs=float(lt))
               for g, d, ln, lt in zip(geometries, dsun, hgln, hglt)]

    a, b, c = law.A, law.B, law.C
    if frame_time == "sidereal":
        drift = _drift(source_times, target_times)
    else:
        drift = np.zeros(nt)
        a -= SYNODIC_OFFSET
    params = derotate_params(kernel_params(targets), kernel_params(geometries), dt, drift,
                             (a, b, c))

    device = backend.resolve_device(device, ds)
    out, valid = remap_variables(ds, names, "derotate", params, (nt, ds.sizes["y"], ds.sizes["x"]),
                                 order, device, check=_check_overlap)

    new_times = target_times.utc.datetime64.astype("datetime64[ns]")
    rsun_obs = [g.rsun_obs for g in targets]
    result = ds.drop_vars([n for n in DISK_COORDS if n in ds.coords])
    for name in names:
        result[name] = ds[name].variable.copy(data=out[name])
    result = result.assign_coords(
        source_time=("time", ds["time"].values,
                     {"long_name": "time of the input frame"}),
        valid=(("time", "y", "x"), valid,
               {"long_name": "source point on the visible disk inside the input frame"}))
    result = result.assign_coords(time=new_times)
    for name, values in (("date_obs", new_times), ("dsun_obs", dsun), ("hgln_obs", hgln),
                         ("hglt_obs", hglt), ("rsun_obs", np.asarray(rsun_obs))):
        if name in result.coords:
            result = result.assign_coords(
                {name: ("time", np.asarray(values), dict(ds[name].attrs))})
    result.attrs.update({
        "derotation_law": law.name,
        "derotation_law_coefficients_rad_s": [law.A, law.B, law.C],
        "derotation_frame_time": frame_time,
        "derotation_order": order,
    })
    target_text = str(np.datetime_as_string(new_times[0], "s")) if np.all(
        new_times == new_times[0]) else f"{nt} per-frame times"
    return append_history(result, f"derotate(to={target_text}, model={law.name!r}, "
                                  f"frame_time={frame_time!r}, order={order}, device={device!r})")


def _target_times(to, nt):
    try:
        times = as_time_array(to)
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds
        raise ValueError(f"cannot read the target time {to!r}: {exc}") from exc
    if len(times) == 1:
        times = as_time_array([times[0]] * nt)
    if len(times) != nt:
        raise ValueError(f"give one target time or one per frame ({nt}), not {len(times)}")
    return times


def _target_observer(observer, geometries, source_times, target_times):
    nt = len(geometries)
    if isinstance(observer, str):
        key = observer.lower()
        if key == "same":
            return (np.array([g.dsun_obs for g in geometries]),
                    np.array([g.hgln_obs for g in geometries]),
                    np.array([g.hglt_obs for g in geometries]))
        if key == "auto":
            _require_earth_like(geometries, source_times)
            key = "earth"
        if key == "earth":
            return earth_observer(target_times)
        raise ValueError(f"observer must be 'auto', 'earth', 'same' or a SkyCoord, not {observer!r}")
    dsun, hgln, hglt = observer_arrays(observer)
    if len(dsun) == 1:
        return np.full(nt, dsun[0]), np.full(nt, hgln[0]), np.full(nt, hglt[0])
    if len(dsun) != nt:
        raise ValueError(f"give one observer or one per frame ({nt}), not {len(dsun)}")
    return dsun, hgln, hglt


def _require_earth_like(geometries, source_times):
    dsun, hgln, hglt = earth_observer(source_times)
    for k, g in enumerate(geometries):
        lat1, lat2 = math.radians(g.hglt_obs), math.radians(hglt[k])
        dlon = math.radians(g.hgln_obs - hgln[k])
        cos_sep = (math.sin(lat1) * math.sin(lat2)
                   + math.cos(lat1) * math.cos(lat2) * math.cos(dlon))
        sep = math.degrees(math.acos(min(1.0, max(-1.0, cos_sep))))
        if sep > EARTH_LIKE_TOLERANCE_DEG or abs(g.dsun_obs / dsun[k] - 1.0) > 0.01:
            raise EphemerisError(
                f"frame {k} was observed from Stonyhurst (lon, lat) = ({g.hgln_obs:.3f}, "
                f"{g.hglt_obs:.3f}) deg at {g.dsun_obs / 1.495978707e11:.4f} AU, which is not "
                "the Earth, and solarprep has no ephemeris for other observers: pass "
                "observer=SkyCoord(...) for the target time (e.g. from "
                "sunpy.coordinates.get_horizons_coord, which needs internet), or "
                "observer='same' to keep the frame's own position")


def _drift(source_times, target_times):
    """δ in rad per frame: Stonyhurst drift of an inertially fixed point from source to target."""
    reference = source_times[0]
    before = stonyhurst_drift(reference, source_times)
    after = stonyhurst_drift(reference, target_times)
    return np.radians(after - before)


def _check_overlap(valid, frames, params):
    """Raise for frames without any output pixel whose source was visible (block-wise)."""
    empty = empty_frames(valid)
    if empty.size:
        k = int(empty[0])
        raise SolarDataError(
            f"{empty.size} frame(s) have no output pixel whose surface point was visible in the "
            f"input, first frame {int(frames[k])} (Δt = {params[k, DR_DT] / 86400:.2f} days): "
            "the region has rotated off the disk (about half a solar rotation, 13.6 days, "
            "leaves no overlap); choose a closer target time")
