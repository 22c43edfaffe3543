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
from solarprep.parallel.blocks import frame_rows, is_chunked, map_frames

__all__ = ["check_mu_min", "image_variable", "image_array", "mu_array", "as_image", "as_mu",
           "with_mu", "frame_apply", "geometry_params", "geometry_map", "frame_stack_or_map",
           "to_host", "wavelength_nm", "float32_var"]


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


def as_image(data, device):
    """An image stack (or a block of one) as a C-contiguous float32 array on ``device``."""
    xp = backend.array_module(device)
    if device == "cpu":
        data = to_host(data)
    return xp.ascontiguousarray(xp.asarray(data, dtype=np.float32))


def as_mu(mu, device):
    """μ (``(y, x)`` or ``(nt, y, x)``, or a block) as float32 ``(1 or nt, ny, nx)`` on ``device``."""
    mu = as_image(mu, device)
    return mu[None] if mu.ndim == 2 else mu


def image_array(ds, variable, device):
    """The variable's data as a C-contiguous float32 ``(nt, ny, nx)`` array on ``device``."""
    return as_image(ds[variable].data, device)


def with_mu(ds, device):
    """``ds`` with its ``mu`` coordinate, computed by ``disk_coordinates`` when missing."""
    if "mu" not in ds.coords:
        from solarprep.coordinates.geometry import disk_coordinates

        ds = disk_coordinates(ds, device=device)
    return ds


def mu_array(ds, device):
    """``(ds_with_mu, mu)``: μ as float32 ``(1 or nt, ny, nx)`` on ``device``.

    Uses the Dataset's ``mu`` coordinate when present, otherwise computes it with
    :func:`solarprep.coordinates.geometry.disk_coordinates` (and returns the Dataset with it).
    """
    ds = with_mu(ds, device)
    return ds, as_mu(ds.coords["mu"].data, device)


def frame_apply(func, ds, variable, *rows, outputs, device, **options):
    """``func(image, mu, *rows, device=device, **options)`` on the series or block by block.

    ``image`` is the variable, ``mu`` the Dataset's μ coordinate, ``rows`` per-frame
    parameter arrays (``(nt, ...)``). ``outputs`` lists ``(core dims, dtype)`` of what
    ``func`` returns (dims after ``time``), or ``(core dims, dtype, "cpu")`` for outputs
    that ``func`` returns on the host whatever the device. Eagerly ``func`` gets the whole arrays; for a
    chunked Dataset it runs on every block of frames through
    :func:`solarprep.parallel.blocks.map_frames` and lazy arrays come back (the frame
    indices of the block are passed last, for messages).
    """
    sizes = {"y": ds.sizes["y"], "x": ds.sizes["x"], **options.pop("output_sizes", {})}
    if not is_chunked(ds[variable]):
        return func(ds[variable].data, ds.coords["mu"].data, *rows, device=device, **options)
    result = map_frames(func, ds[variable], ds.coords["mu"], *(frame_rows(r) for r in rows),
                        output_core_dims=[list(out[0]) for out in outputs],
                        output_dtypes=[out[1] for out in outputs], output_sizes=sizes,
                        device=[out[2] if len(out) > 2 else device for out in outputs],
                        kwargs={"device": device, **options}, frame_index=True)
    return tuple(r.data for r in result) if len(outputs) > 1 else result.data


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


def _geometry_frames(params, frames=None, *, kernel, shape, device):
    from kernels import get

    xp = backend.array_module(device)
    out = xp.empty((params.shape[0], *shape), dtype=np.float32)
    get(kernel, device)(xp.asarray(params), out)
    return out


def geometry_map(ds, kernel, mu_min, device):
    """A per-pixel map of the geometry (``kernel(params, out)``), float32 ``(1 or nt, ny, nx)``.

    One frame when every frame shares the geometry; otherwise one per frame, lazy and
    chunked along ``time`` like the data for a chunked Dataset.
    """
    p = geometry_params(ds, mu_min, shared=True)
    options = {"kernel": kernel, "shape": (ds.sizes["y"], ds.sizes["x"]), "device": device}
    if p.shape[0] > 1 and is_chunked(ds):
        return map_frames(_geometry_frames, frame_rows(p), output_core_dims=[["y", "x"]],
                          output_dtypes=[np.float32],
                          output_sizes=dict(zip(("y", "x"), options["shape"])), device=device,
                          kwargs=options, chunks_like=ds).data
    return _geometry_frames(p, **options)


def frame_stack_or_map(array):
    """A DataArray for :func:`map_frames`: ``(nt, y, x)`` stacks split with the frames,
    ``(1, y, x)`` or ``(y, x)`` maps (shared by every frame) given whole to every block."""
    import xarray as xr

    if array.ndim == 3 and array.shape[0] > 1:
        return xr.DataArray(array, dims=("time", "y", "x"))
    return xr.DataArray(array.reshape(array.shape[-2:]), dims=("y", "x"))


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

    if backend.is_dask(data):
        data = data.astype(np.float32)
    else:
        xp = np if not backend.is_cupy(data) else backend.array_module("cuda")
        data = xp.asarray(data, dtype=np.float32)
    return xr.Variable(dims, data,
                       {"units": units, "long_name": long_name, **attrs})
