"""Foreshortening: surface area of every pixel, μ corrections, total unsigned magnetic flux.

A pixel of solid angle Ω whose line of sight meets the photosphere at distance ℓ
from the observer and at the heliocentric angle θ (μ = cos θ) covers

.. math:: A = \\frac{\\Omega\\, \\ell^2}{\\mu}

on the solar surface: ``Ω ℓ²`` is the area it covers perpendicular to the line
of sight, and a surface element tilted by θ is ``1/μ`` times larger than its
projection. Ω follows from the gnomonic (TAN) projection,
``Ω = |det M| (1 + ξ² + η²)^(−3/2)`` (``M`` = CDELT·PC in radians, ``(ξ, η)`` the
intermediate world coordinates; Calabretta & Greisen 2002, A&A 395, 1077), and
ℓ, μ from the exact finite-distance geometry of :mod:`kernels._disk_math`
(Thompson 2006, A&A 449, 791). See ``docs/photometry.md``.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.dataset import append_history, data_variables
from solarprep.errors import PhotometryError
from solarprep.parallel.blocks import frame_rows, is_chunked, map_frames
from solarprep.photometry._common import (
    as_image,
    check_mu_min,
    frame_stack_or_map,
    geometry_map,
    geometry_params,
    image_variable,
    to_host,
    with_mu,
)

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["pixel_area", "foreshortening_correct", "total_unsigned_flux", "CM2_PER_MM2"]

log = logging.getLogger(__name__)

#: 1 Mm² in cm² (the factor between ``pixel_area`` and the areas of flux integrals in Mx).
CM2_PER_MM2 = 1e16

_KINDS = ("area", "radial-field")


def _area_array(ds, mu_min, device):
    """Surface area per pixel (Mm², float32) on ``device``, ``(1 or nt, ny, nx)``."""
    return geometry_map(ds, "surface_area", mu_min, device)


def _foreshorten_frames(image, params, frames=None, *, device):
    """``image / μ`` (NaN below μ_min) of a stack of frames (or a block of one)."""
    from kernels import get

    xp = backend.array_module(device)
    image = as_image(image, device)
    corrected = xp.empty_like(image)
    get("foreshortening", device)(xp.asarray(params), image, corrected)
    return corrected


def _area_variable(area):
    dims = ("y", "x") if area.shape[0] == 1 else ("time", "y", "x")
    data = area[0] if area.shape[0] == 1 else area
    return xr.Variable(dims, data, {
        "units": "Mm2", "long_name": "area on the photosphere covered by the pixel",
        "cm2_per_unit": CM2_PER_MM2,
        "formula": "A = Omega * l**2 / mu (pixel solid angle, distance to the surface, mu)"})


def pixel_area(ds: xr.Dataset, *, mu_min: float | None = None, device: str = "auto") -> xr.DataArray:
    """Area on the solar surface covered by every pixel, in Mm², from the exact geometry.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset (its per-frame WCS and observer are read).
    mu_min : float, optional
        Pixels with ``μ < mu_min`` get NaN (the area grows as 1/μ at the limb);
        default: every on-disk pixel.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    xarray.DataArray
        float32, dims ``(y, x)`` when every frame shares one geometry, else
        ``(time, y, x)``; NaN off the disk; ``units="Mm2"`` and the attribute
        ``cm2_per_unit = 1e16``.

    Notes
    -----
    :math:`A = \\Omega \\ell^2 / \\mu` with the pixel solid angle
    :math:`\\Omega = |\\det M| (1+\\xi^2+\\eta^2)^{-3/2}` of the gnomonic projection,
    the distance :math:`\\ell = R_\\odot (D\\cos\\theta - \\mu)` from the observer to
    the surface point and :math:`\\mu = \\sqrt{1 - D^2\\sin^2\\theta}` (module
    docstring; ``docs/photometry.md``). Tested against finite differences of
    sunpy's heliographic coordinates of the pixel corners.
    """
    mu_min = 0.0 if mu_min is None else check_mu_min(mu_min)
    device = backend.resolve_device(device, ds)
    area = _area_array(ds, mu_min, device)
    return xr.DataArray(_area_variable(area), name="pixel_area")


def foreshortening_correct(ds: xr.Dataset, *, kind: str = "area", mu_min: float = 0.1,
                           variables: list[str] | None = None, device: str = "auto") -> xr.Dataset:
    """Divide image variables by μ and add the ``pixel_area`` coordinate.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset.
    kind : {"area", "radial-field"}
        ``"area"``: the projected-area correction of a per-area quantity,
        ``value/μ``. ``"radial-field"``: the radial field of a line-of-sight
        magnetogram under the radial-field assumption, ``B_r ≈ B_los/μ``. The
        arithmetic is the same; names, long names and history say which.
    mu_min : float
        Pixels with ``μ < mu_min`` become NaN (never infinite); in (0, 1].
    variables : list of str, optional
        Image variables to correct (default: all).
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    xarray.Dataset
        The corrected variables (float32), plus ``pixel_area`` (Mm², NaN below
        ``mu_min``; see :func:`pixel_area`) as a coordinate.
    """
    if kind not in _KINDS:
        raise PhotometryError(f"kind={kind!r} is not one of {_KINDS}")
    mu_min = check_mu_min(mu_min)
    device = backend.resolve_device(device, ds)
    names = data_variables(ds) if variables is None else [image_variable(ds, v)
                                                          for v in variables]
    if not names:
        raise PhotometryError("the Dataset has no image variable (dims time, y, x) to correct")
    p = geometry_params(ds, mu_min, shared=True)
    # One shared row goes whole to every block; per-frame rows are split with the frames.
    rows = xr.DataArray(p, dims=("row", "param")) if p.shape[0] == 1 else frame_rows(p)
    out = ds.copy()
    for name in names:
        if is_chunked(ds[name]):
            corrected = map_frames(_foreshorten_frames, ds[name], rows,
                                   output_core_dims=[["y", "x"]], output_dtypes=[np.float32],
                                   device=device, kwargs={"device": device}).data
        else:
            corrected = _foreshorten_frames(ds[name].data, p, device=device)
        attrs = dict(ds[name].attrs)
        long_name = attrs.get("long_name", name)
        if kind == "radial-field":
            attrs["long_name"] = f"radial field B_r = B_los/mu from {long_name}"
        else:
            attrs["long_name"] = f"{long_name} / mu (projected-area correction)"
        attrs["mu_min"] = mu_min
        out[name] = xr.Variable(ds[name].dims, corrected, attrs)
    out = out.assign_coords(pixel_area=_area_variable(_area_array(ds, mu_min, device)))
    return append_history(out, f"foreshortening_correct(kind={kind!r}, mu_min={mu_min}, "
                               f"variables={names}, device={device!r})")


def total_unsigned_flux(data: xr.Dataset | npt.ArrayLike, mask: npt.ArrayLike | None = None, *,
                        variable: str | None = None, kind: str = "radial", mu_min: float = 0.1,
                        threshold: float = 0.0, mu: npt.ArrayLike | None = None,
                        pixel_area: npt.ArrayLike | None = None,
                        device: str = "auto") -> float | np.ndarray | xr.DataArray:
    """Total unsigned magnetic flux (Mx) of a line-of-sight magnetogram over a mask.

    Parameters
    ----------
    data : xarray.Dataset or array
        A solar Dataset with a magnetogram in G (or named by ``variable``), or
        an array of ``B_los`` in G (``(ny, nx)`` or ``(nt, ny, nx)``; then ``mu``
        and ``pixel_area`` are required).
    mask : array of bool, optional
        Pixels to include (broadcast against the image); default: all on-disk
        pixels with ``μ ≥ mu_min``.
    kind : {"radial", "los"}
        ``"radial"`` (default): :math:`\\Phi = \\sum |B_{los}/\\mu|\\, A` with the
        surface area A of each pixel: the flux through the photosphere under the
        radial-field assumption. ``"los"``: :math:`\\sum |B_{los}|\\, A\\mu`, the
        flux of the line-of-sight component through the plane of the sky.
    mu_min : float
        Pixels with ``μ < mu_min`` are left out; in (0, 1].
    threshold : float
        Pixels with ``|B_los| ≤ threshold`` (G) are left out (noise floor).
    mu, pixel_area : array, optional
        For array input: μ and the pixel area in Mm² (:func:`pixel_area`).
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    float or numpy.ndarray or xarray.DataArray
        Φ in Mx (G cm²): a DataArray along ``time`` for a Dataset (lazy for a chunked
        one), a float per 2-D array, an array per frame for 3-D input.

    Raises
    ------
    PhotometryError
        When no pixel of any frame is left (eager input; a chunked Dataset gives 0 for
        such frames, as the eager result does for frames without pixels).

    Notes
    -----
    With B in G and areas in cm² (``1 Mm² = 1e16 cm²``), Φ is in Mx. The radial
    choice counts each pixel's flux through the surface it covers; it amplifies
    noise near the limb as 1/μ², hence ``mu_min`` and ``threshold``.
    """
    if kind not in ("radial", "los"):
        raise PhotometryError(f"kind={kind!r} is not one of ('radial', 'los')")
    mu_min = check_mu_min(mu_min)
    if isinstance(data, xr.Dataset):
        ds = data
        variable = image_variable(ds, variable)
        units = ds[variable].attrs.get("units", "")
        if units not in ("G", "Gauss", "gauss"):
            raise PhotometryError(f"variable {variable!r} has units {units!r}: total unsigned "
                                  "flux needs a magnetogram in G")
        device = backend.resolve_device(device, ds)
        ds = with_mu(ds, device)
        area = _area_array(ds, mu_min, device)
        options = {"kind": kind, "mu_min": mu_min, "threshold": threshold, "device": device}
        if is_chunked(ds[variable]):
            args = [ds[variable], ds.coords["mu"], frame_stack_or_map(area)]
            if mask is not None:
                args.append(frame_stack_or_map(backend.array_of(mask)))
            flux = map_frames(_flux_frames, *args, output_core_dims=[[]],
                              output_dtypes=[np.float64], device="cpu",
                              kwargs={**options, "allow_empty": True}).data
        else:
            flux = _flux_frames(ds[variable].data, ds.coords["mu"].data, area,
                                *(() if mask is None else (mask,)), **options)
        return xr.DataArray(flux.astype(np.float64), dims=("time",),
                            coords={"time": ds["time"].values}, name="total_unsigned_flux",
                            attrs={"units": "Mx", "long_name": f"total unsigned flux ({kind})",
                                   "mu_min": mu_min, "threshold_G": float(threshold)})
    if mu is None or pixel_area is None:
        raise PhotometryError("total_unsigned_flux of a bare array needs mu= and pixel_area= "
                              "(Mm²); or pass the solar Dataset")
    on_gpu = backend.is_cupy(backend.array_of(data))
    squeeze = np.ndim(backend.array_of(data)) == 2
    flux = _flux_frames(data, mu, pixel_area, mask, kind=kind, mu_min=mu_min,
                        threshold=threshold, device="cuda" if on_gpu else "cpu")
    return float(flux[0]) if squeeze else flux


def _flux_frames(b, mu, area, mask=None, frames=None, *, kind, mu_min, threshold, device,
                 allow_empty=False):
    """Φ per frame (Mx, host float64) of a stack or of a block of one.

    The sums run on ``device`` (the data are copied there once if they are not); one read
    of ``(2, nt)`` numbers brings them back.
    """
    xp = backend.array_module(device)

    def on_device(a):
        a = backend.array_of(a)
        a = xp.asarray(a if device == "cuda" else to_host(a), dtype=np.float64)
        return a[None] if a.ndim == 2 else a

    b, mu, area = on_device(b), on_device(mu), on_device(area)
    keep = xp.isfinite(b) & (mu >= mu_min) & xp.isfinite(area) & (xp.abs(b) > threshold)
    if mask is not None:
        m = backend.array_of(mask)
        keep &= xp.asarray(m if device == "cuda" else to_host(m), dtype=bool)
    if kind == "radial":
        per_px = xp.abs(b) / mu * area
    else:
        per_px = xp.abs(b) * area * mu
    per_px = xp.where(keep, per_px, 0.0)
    sums = to_host(xp.stack([per_px.sum(axis=(1, 2)), keep.sum(axis=(1, 2)).astype(np.float64)]))
    if not sums[1].any() and not allow_empty:
        raise PhotometryError(
            f"no pixel left for the flux (on disk, μ ≥ mu_min={mu_min}, |B| > {threshold} G, in "
            "the mask): is this an off-disk cutout?")
    return sums[0] * CM2_PER_MM2
