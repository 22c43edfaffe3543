"""Dopplergram time differences and removal of the static velocity field.

Two ways to get rid of the large, slowly varying part of a Dopplergram (solar
rotation, the observer's motion, the convective blueshift/limb shift) before
looking at oscillations:

* :func:`doppler_difference`, the SOLARED choice:
  ``ΔV[i] = V[i+1] − V[i]``, gap-aware (a pair of frames further apart than
  ``gap_factor`` × the cadence is never differenced);
* :func:`remove_static_velocity`, a least-squares fit, frame by frame, of a smooth
  model of the static terms (see its Notes) subtracted from ``V``.

:func:`frame_cadence` detects the cadence and the gaps of a time axis; the power
maps (:mod:`solarprep.helioseismology.power`) use it too.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.dataset import append_history
from solarprep.errors import CadenceError, SolarDataError  # noqa: F401 (CadenceError re-exported)
from solarprep.helioseismology._common import pick_variable as _pick_variable
from solarprep.helioseismology.cadence import frame_cadence, regular_grid  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from solarprep.dataset import Duration

__all__ = ["doppler_difference", "remove_static_velocity", "static_velocity_basis"]

log = logging.getLogger(__name__)


def doppler_difference(ds: xr.Dataset, variable: str | None = None, *, gap_factor: float = 1.5,
                       cadence: Duration | None = None, name: str | None = None,
                       tolerance: float | Duration = 0.05) -> xr.Dataset:
    """Time differences ``ΔV[i] = V[i+1] − V[i]`` of a Dopplergram series, never across a gap.

    Parameters
    ----------
    ds : xarray.Dataset
        Solar Dataset with a ``(time, y, x)`` velocity variable.
    variable : str, optional
        Default ``vlos`` (or the only image variable).
    gap_factor : float
        Two consecutive frames further apart than ``gap_factor`` × the cadence are
        on either side of a gap and give no difference (default 1.5).
    cadence : astropy.units.Quantity, str or float, optional
        ``45 * u.s``, ``"45s"`` or seconds; detected from the time steps by default
        (:func:`~solarprep.helioseismology.cadence.frame_cadence`).
    name : str, optional
        Name of the output variable (default ``"d" + variable``).
    tolerance : float, astropy.units.Quantity or str
        Largest distance of a frame from the regular grid ``t₀ + n·cadence``: a number
        is in cadences (default 0.05, as :func:`solarprep.power_maps`), a duration
        (``2 * u.s``, ``"2s"``) is converted with the cadence; a series with more
        timing jitter is refused rather than differenced over uneven steps.

    Returns
    -------
    xarray.Dataset
        One frame per pair of consecutive frames that are not separated by a gap,
        labelled with the mid-time of the pair (``time``); the per-frame geometry
        coordinates are those of the first frame of the pair. The variable has the
        input's units, ``long_name`` "… time difference V[i+1] − V[i]" and the
        attributes ``cadence_s`` and ``differenced = 1``. Gaps stay visible in
        ``time`` (a difference is missing where a frame was missing). A chunked (dask)
        series gives a lazy result: each difference reads its two frames, across chunk
        borders where they fall (an overlap of one frame), so it equals the eager one.

    Raises
    ------
    CadenceError
        With fewer than two frames, times that do not increase, or frames off the
        regular grid by more than ``tolerance`` cadences.
    SolarDataError
        When no pair of frames is closer than ``gap_factor`` cadences.

    Notes
    -----
    The difference removes everything constant in time (rotation, limb shift,
    observer velocity over 45 s) and acts on oscillations as the filter
    ``|H(f)|² = |2 sin(πfΔt)|²`` (0.68 at 3 mHz for Δt = 45 s), which
    :func:`solarprep.power_maps` can compensate. SOLARED (Kasapis et al.,
    NASA-IMPACT ar_emergence) differences 8-hour cubes this way.
    """
    variable = _pick_variable(ds, variable)
    cadence, steps = frame_cadence(ds["time"].values, cadence)
    regular_grid(ds["time"].values, cadence, tolerance=tolerance)  # same check as power_maps
    keep = np.flatnonzero(steps <= gap_factor * cadence)
    if keep.size == 0:
        raise SolarDataError(f"no two consecutive frames are within {gap_factor} × {cadence:g} s; "
                             "nothing to difference")
    n_gaps = steps.size - keep.size
    if n_gaps:
        log.info("doppler_difference: %d gap(s) longer than %.3g s skipped", n_gaps,
                 gap_factor * cadence)
    var = ds[variable]
    data = var.data
    xp = backend.array_module("cuda" if backend.is_cupy(data) else "cpu")
    if keep.size == steps.size:
        diff = data[1:] - data[:-1]
    else:
        idx = xp.asarray(keep) if xp is not np else keep
        diff = data[idx + 1] - data[idx]
    first = ds.isel(time=keep)
    t = ds["time"].values
    mid = t[keep] + (t[keep + 1] - t[keep]) / 2
    out = first.drop_vars(list(ds.data_vars)).assign_coords(time=mid)
    name = name or f"d{variable}"
    attrs = dict(var.attrs)
    attrs["long_name"] = f"{var.attrs.get('long_name', variable)} time difference V[i+1] - V[i]"
    attrs["cadence_s"] = cadence
    attrs["differenced"] = 1
    out[name] = xr.Variable(var.dims, diff.astype(var.dtype, copy=False), attrs)
    return append_history(out, f"doppler_difference(variable={variable!r}, "
                               f"gap_factor={gap_factor}) cadence {cadence:g} s, {n_gaps} gap(s)")


def static_velocity_basis(lat: Any, lon: Any, b0: float, l0: float, dsun_rsun: float) -> Any:
    """Basis images of the static line-of-sight velocity (float64, ``(7,) + lat.shape``).

    For a surface point ``P`` (unit sphere, Stonyhurst Cartesian, from ``lat``,
    ``lon`` in degrees) seen from ``O = D(cos B0 cos L0, cos B0 sin L0, sin B0)`` with
    line of sight ``n̂ = (P − O)/|P − O|``:

    * 0-2: rotation ``(ẑ × P)·n̂ · sin^{2j}φ`` for ``j = 0, 1, 2`` (the law
      ``ω = A + B sin²φ + C sin⁴φ`` is linear in A, B, C);
    * 3-5: ``n̂_x, n̂_y, n̂_z`` (a constant observer velocity ``v`` adds ``−v·n̂``);
    * 6: ``μ = −P·n̂`` (limb shift / convective blueshift ``−v_cb μ``).

    NaN where ``lat`` is NaN. ``lat``/``lon`` may be NumPy or CuPy arrays (the basis
    is computed where they are); ``b0``, ``l0`` (deg) and ``dsun_rsun`` are numbers.
    """
    xp = backend.array_module("cuda" if backend.is_cupy(lat) else "cpu")
    phi = xp.radians(xp.asarray(lat, dtype=np.float64))
    lam = xp.radians(xp.asarray(lon, dtype=np.float64))
    cp = xp.cos(phi)
    px, py, pz = cp * xp.cos(lam), cp * xp.sin(lam), xp.sin(phi)
    b0, l0 = np.radians(b0), np.radians(l0)
    ox, oy, oz = (dsun_rsun * np.cos(b0) * np.cos(l0), dsun_rsun * np.cos(b0) * np.sin(l0),
                  dsun_rsun * np.sin(b0))
    nx, ny, nz = px - ox, py - oy, pz - oz
    norm = xp.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / norm, ny / norm, nz / norm
    rot = -py * nx + px * ny  # (ẑ × P)·n̂
    s2 = xp.sin(phi) ** 2
    mu = -(px * nx + py * ny + pz * nz)
    return xp.stack([rot, rot * s2, rot * s2 * s2, nx, ny, nz, mu])


def _polynomial_basis(xp, shape, degree):
    ny, nx = shape
    y = xp.linspace(-1.0, 1.0, ny)[:, None] * xp.ones((1, nx))
    x = xp.linspace(-1.0, 1.0, nx)[None, :] * xp.ones((ny, 1))
    return xp.stack([x**i * y**j for i in range(degree + 1) for j in range(degree + 1 - i)])


def remove_static_velocity(ds: xr.Dataset, variable: str | None = None, *, model: str = "auto",
                           degree: int = 2, device: str = "auto") -> xr.Dataset:
    """Subtract a least-squares model of the static velocity field, frame by frame.

    Parameters
    ----------
    ds : xarray.Dataset
        Dopplergrams ``(time, y, x)`` in m/s.
    variable : str, optional
        Default ``vlos``.
    model : {"auto", "physical", "polynomial"}
        ``"physical"`` fits the rotation profile, the observer's velocity and the
        limb shift (:func:`static_velocity_basis`), which needs the per-frame
        geometry of the solar Dataset convention (full-disk or any
        helioprojective image); ``"polynomial"`` fits a 2-D polynomial of
        ``degree`` in the pixel coordinates (for tracked patches without
        geometry); ``"auto"`` picks ``"physical"`` when the geometry is there.
    degree : int
        Polynomial degree for ``model="polynomial"``.
    device : {"auto", "cpu", "cuda"}
        Where the geometry, the fit (float64) and the residual are computed; on the
        GPU the cube never leaves the device (one read of the per-frame pixel counts
        and coefficients comes back).

    Returns
    -------
    xarray.Dataset
        ``ds`` with the variable replaced by the residual (float32, same units,
        ``long_name`` "… minus static model", on ``device``) and a
        ``static_coefficients`` ``(time, term)`` float64 variable (host) with the
        fitted coefficients.

    Raises
    ------
    solarprep.errors.SolarDataError
        A frame with fewer usable (finite) pixels than model terms.

    Notes
    -----
    Model (``physical``): ``v = Σ_j c_j ω_j(P)·… `` — explicitly
    ``v_static = (A + B s² + C s⁴)R (ẑ×P)·n̂ − v_obs·n̂ − v_cb μ`` with ``s = sin φ``,
    which is linear in the seven coefficients ``(AR, BR, CR, −v_obs, −v_cb)``; it is
    exactly the static part of the synthetic Sun's Dopplergrams
    (:mod:`solarprep.synthetic.doppler`) and, for real HMI data, the standard
    decomposition of Schou et al. (2012, Sol. Phys. 275, 327) (rotation, observer
    velocity OBS_VR/VW/VN, convective blueshift). It is fitted by linear least
    squares over the usable on-disk pixels of each frame (normal equations in
    float64, equilibrated by the diagonal); oscillations and noise average out over
    the disk. Unlike differencing, it keeps the oscillation signal with its full
    amplitude at every frequency (no ``|2 sin(πfΔt)|²`` response).
    """
    variable = _pick_variable(ds, variable)
    var = ds[variable]
    have_geometry = all(c in ds.coords for c in ("hglt_obs", "hgln_obs", "dsun_obs", "crpix1"))
    if model == "auto":
        model = "physical" if have_geometry else "polynomial"
    if model not in ("physical", "polynomial"):
        raise ValueError(f"model must be 'auto', 'physical' or 'polynomial', not {model!r}")
    if model == "physical" and not have_geometry:
        raise ValueError("model='physical' needs the per-frame geometry coordinates of the solar "
                         "Dataset convention (hglt_obs, hgln_obs, dsun_obs, crpix1, ...); "
                         "use model='polynomial' for patches without geometry")
    device = backend.resolve_device(device, ds)
    xp = backend.array_module(device)
    values = xp.asarray(var.data if device == "cuda" else backend.to_host(var.data))
    nt = values.shape[0]
    if model == "physical":
        from solarprep.coordinates.geometry import disk_coordinates

        geo = disk_coordinates(ds[[variable]], device=device)
        lat, lon = geo["hgs_lat"].data, geo["hgs_lon"].data
        rsun = float(ds.attrs.get("rsun_ref", 695_700_000.0))
        b0, l0, dsun = (np.asarray(ds[c].values, np.float64) for c in ("hglt_obs", "hgln_obs",
                                                                        "dsun_obs"))

        def basis_of(k):
            return static_velocity_basis(lat if lat.ndim == 2 else lat[k],
                                         lon if lon.ndim == 2 else lon[k],
                                         b0[k], l0[k], dsun[k] / rsun)
    else:
        poly = _polynomial_basis(xp, values.shape[1:], int(degree))

        def basis_of(k):
            return poly

    def usable(k):
        """Frame ``k`` (float64), its basis with NaN set to 0, and the usable pixels."""
        basis = basis_of(k)
        frame = values[k].astype(np.float64)
        finite = xp.isfinite(basis)
        ok = xp.isfinite(frame) & xp.all(finite, axis=0)
        return frame, xp.where(finite, basis, 0.0), ok

    nb = basis_of(0).shape[0]
    normal = xp.empty((nt, nb, nb))
    rhs = xp.empty((nt, nb))
    counts = xp.empty(nt)
    for k in range(nt):  # normal equations on the device, no read-back
        frame, basis, ok = usable(k)
        a = xp.where(ok, basis, 0.0).reshape(nb, -1)
        normal[k] = a @ a.T
        rhs[k] = a @ xp.where(ok, frame, 0.0).ravel()
        counts[k] = ok.sum()
    enough = counts >= nb
    scale = xp.sqrt(xp.where(xp.diagonal(normal, axis1=1, axis2=2) > 0,
                             xp.diagonal(normal, axis1=1, axis2=2), 1.0))
    eye = xp.eye(nb)
    g = xp.where(enough[:, None, None], normal / (scale[:, :, None] * scale[:, None, :]), eye)
    coeffs = xp.linalg.solve(g, (rhs / scale)[..., None])[..., 0] / scale
    read = backend.to_host(xp.concatenate([counts[:, None], coeffs], axis=1))  # one small read
    bad = np.flatnonzero(read[:, 0] < nb)
    if bad.size:
        k = int(bad[0])
        raise SolarDataError(f"frame {k}: only {int(read[k, 0])} usable pixels for a "
                             f"{nb}-term fit")
    resid = xp.empty(values.shape, dtype=np.float32)
    for k in range(nt):
        frame, basis, ok = usable(k)
        fit = xp.tensordot(coeffs[k], basis, axes=1)
        resid[k] = xp.where(ok, frame - fit, np.nan)
    out = ds.copy(deep=False)
    attrs = dict(var.attrs)
    attrs["long_name"] = f"{var.attrs.get('long_name', variable)} minus static model ({model})"
    out[variable] = xr.Variable(var.dims, resid, attrs)
    out["static_coefficients"] = xr.Variable(("time", "term"), read[:, 1:],
                                             {"long_name": f"static velocity model ({model}) "
                                                           "coefficients", "units": "m / s"})
    return append_history(out, f"remove_static_velocity(variable={variable!r}, model={model!r}, "
                               f"device={device!r})")
