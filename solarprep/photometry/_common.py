"""Helpers shared by the photometry modules (foreshortening, limb darkening, disk integration)."""
import math

import numpy as np

from kernels.params import surface_params
from solarprep import backend
from solarprep.backend import to_host
from solarprep.coordinates.geometry import frame_geometries, kernel_params
from solarprep.dataset import data_variables
from solarprep.errors import (
    GeometryError,
    PhotometryError,  # noqa: F401 (re-exported)
)

__all__ = [ "check_mu_min", "image_variable", "image_array", "mu_array",
           "geometry_params", "to_host", "wavelength_nm", "float32_var"]


def check_mu_min(mu_min):
    """Return ``mu_min`` as a float after checking ``0 < mu_min ≤ 1``."""
    try:
        value = float(mu_min)
    except (TypeError, ValueError):
        raise PhotometryError(f"mu_min must be a number in (0, 1], not {mu_min!r}") from None
    if not (0.0 < value <= 1.0):
        raise PhotometryError(
            f"mu_min={mu_min!r} is outside (0, 1]: it is the smallest cosine of the heliocentric "
            "angle kept (0 is the limb, 1 disk centre); use e.g. mu_min=0.1")
    return value


def image_variable(ds, variable=None):
    """Name of the image variable to work on (the only one, or ``variable``)."""
    names = data_variables(ds)
    if variable is not None:
        if variable not in names:
            raise PhotometryError(
                f"variable {variable!r} is not an image variable (dims time, y, x) of the "
                f"Dataset; image variables: {names}")
        return variable
    if len(names) != 1:
        raise PhotometryError(
            f"the Dataset has {len(names)} image variables {names}: say which one with variable=")
    return names[0]


def image_array(ds, variable, device):
    """The variable's data as a C-contiguous float32 ``(nt, ny, nx)`` array on ``device``."""
    xp = backend.array_module(device)
    data = ds[variable].data
    if device == "cpu":
        data = to_host(data)
    return xp.ascontiguousarray(xp.asarray(data, dtype=np.float32))


def mu_array(ds, device):
    """``(ds_with_mu, mu)``: μ as float32 ``(1 or nt, ny, nx)`` on ``device``.

    Uses the Dataset's ``mu`` coordinate when present, otherwise computes it with
    :func:`solarprep.coordinates.geometry.disk_coordinates` (and returns the Dataset with it).
    """
    if "mu" not in ds.coords:
        from solarprep.coordinates.geometry import disk_coordinates

        ds = disk_coordinates(ds, device=device)
    xp = backend.array_module(device)
    mu = ds.coords["mu"].data
    if device == "cpu":
        mu = to_host(mu)
    mu = xp.asarray(mu, dtype=np.float32)
    if mu.ndim == 2:
        mu = mu[None]
    return ds, xp.ascontiguousarray(mu)


def geometry_params(ds, mu_min=0.0, *, shared=False):
    """Geometry rows ``(nt, 27)``: the 25 disk-geometry parameters, R☉ in Mm and ``mu_min``.

    With ``shared=True`` and every frame sharing one geometry, one row is returned.
    """
    try:
        geoms = frame_geometries(ds)
    except GeometryError as exc:
        raise PhotometryError(str(exc)) from None
    rsun_mm = np.array([g.rsun_ref * 1e-6 for g in geoms])
    p = surface_params(kernel_params(geoms), rsun_mm, float(mu_min))
    if shared and bool(np.all(p == p[:1])):
        p = p[:1]
    return np.ascontiguousarray(p)


def wavelength_nm(ds):
    """The Dataset's wavelength in nm (from the ``wavelength``/``wavelength_unit`` attributes)."""
    import astropy.units as u

    value = ds.attrs.get("wavelength", math.nan)
    unit = ds.attrs.get("wavelength_unit", "") or "Angstrom"
    try:
        value = float(value)
        nm = (value * u.Unit(unit)).to_value(u.nm)
    except (TypeError, ValueError):
        nm = math.nan
    if not math.isfinite(nm):
        raise PhotometryError(
            "the Dataset has no usable 'wavelength' attribute, needed for the Neckel & Labs "
            "(1994) law: pass the law explicitly, e.g. LimbDarkening.neckel_labs(617.3)")
    return nm


def float32_var(dims, data, units, long_name, **attrs):
    """An ``xarray.Variable`` of float32 data with ``units`` and ``long_name``."""
    import xarray as xr

    xp = np if not backend.is_cupy(data) else backend.array_module("cuda")
    return xr.Variable(dims, xp.asarray(data, dtype=np.float32),
                       {"units": units, "long_name": long_name, **attrs})
