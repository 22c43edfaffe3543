"""Disk integration: from a ``(time, y, x)`` solar Dataset to a light curve along ``time``.

The flux received from the Sun is the integral of the specific intensity over
the solid angle of the disk, ``F = ∫ I dΩ``, approximated by ``Σ I_pix Ω_pix``
over the on-disk pixels, with the exact solid angle of every pixel of the
gnomonic (TAN) projection (:mod:`kernels._photometry_math`). Pixel intensities do
not depend on the observer's distance; the integrated flux does, as ``1/d²``,
so only ``F`` is normalised to 1 AU (``F·(d/1 AU)²``). See ``docs/photometry.md``.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.dataset import CONVENTIONS, append_history
from solarprep.errors import PhotometryError
from solarprep.parallel.blocks import frame_rows, is_chunked, map_frames, require_explicit
from solarprep.photometry._common import (
    as_image,
    as_mu,
    check_mu_min,
    float32_var,
    frame_stack_or_map,
    geometry_map,
    image_variable,
    to_host,
    with_mu,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from solarprep.photometry.limb_darkening import LimbDarkening

__all__ = ["disk_integrate", "solid_angle", "relative_variation", "one_au_factor", "AU"]

log = logging.getLogger(__name__)

#: Astronomical unit, m (IAU 2012 Resolution B2).
AU = 149_597_870_700.0

_QUANTITIES = ("flux", "mean_intensity")


def one_au_factor(distance: npt.ArrayLike) -> np.ndarray:
    """``(d / 1 AU)²`` for an observer–Sun distance ``d`` in metres: the factor that puts a
    flux received at ``d`` on the 1-AU scale (the flux falls as ``1/d²``)."""
    return (np.asarray(distance, dtype=np.float64) / AU) ** 2


def _weights(ds, device):
    """Solid angle (sr, float32) of every on-disk pixel, 0 elsewhere: ``(1 or nt, ny, nx)``."""
    return geometry_map(ds, "solid_angle_weights", 0.0, device)


def solid_angle(ds: xr.Dataset, *, device: str = "auto") -> xr.DataArray:
    """Solid angle (sr) of every pixel whose line of sight meets the photosphere (0 elsewhere).

    Returns a float32 DataArray, dims ``(y, x)`` (shared geometry) or ``(time, y, x)``.
    """
    device = backend.resolve_device(device, ds)
    w = _weights(ds, device)
    dims = ("y", "x") if w.shape[0] == 1 else ("time", "y", "x")
    return xr.DataArray(w[0] if w.shape[0] == 1 else w, dims=dims, name="solid_angle",
                        attrs={"units": "sr", "long_name": "pixel solid angle on the disk"})


def _as_one_dataset(ds):
    """A single Dataset from a Dataset or a list of Datasets of one instrument and unit."""
    if isinstance(ds, xr.Dataset):
        return ds
    items = list(ds)
    if not items:
        raise PhotometryError("no Dataset given")
    keys = [(d.attrs.get("instrument", ""), d.attrs.get("wavelength", np.nan)) for d in items]
    instruments = {str(k[0]) for k in keys}
    if len(instruments) > 1:
        raise PhotometryError(
            f"the frames come from different instruments {sorted(instruments)}: a light curve "
            "must come from one instrument; integrate each one separately")
    names = [tuple(sorted(v for v, x in d.data_vars.items() if x.dims == ("time", "y", "x")))
             for d in items]
    units = {tuple(d[v].attrs.get("units", "") for v in n) for d, n in zip(items, names)}
    if len(set(names)) > 1 or len(units) > 1:
        raise PhotometryError(
            f"the frames have different variables or units {sorted(units)}: convert them to "
            "one unit before integrating")
    return xr.concat(items, dim="time", combine_attrs="override")


def _check_frames(ds, variable):
    for coord in ("instrument", "units"):
        if coord in ds.coords and ds.coords[coord].dims == ("time",):
            values = set(np.asarray(ds.coords[coord].values).tolist())
            if len(values) > 1:
                raise PhotometryError(
                    f"the frames have different {coord} {sorted(map(str, values))}: a light "
                    "curve must come from one instrument in one unit")
    units = ds[variable].attrs.get("units", None)
    if units is None:
        raise PhotometryError(f"variable {variable!r} has no 'units': say what it measures")


def relative_variation(values: npt.ArrayLike, reference: str | float = "median") -> tuple[Any, float]:
    """``(values/ref − 1)·1e6`` in ppm, NaN-aware.

    ``reference``: ``"median"``, ``"mean"``, ``"max"`` (e.g. the spotless level of a
    transit), ``"first"`` (first finite value), an
    int (index of a frame) or a number (the reference value itself).
    """
    if backend.is_dask(values):  # a lazy light curve: only an explicit value is possible
        ref = float(reference)
        if not np.isfinite(ref) or ref == 0:
            raise PhotometryError(f"the reference value {ref} cannot normalise the light curve")
        return (values / ref - 1.0) * 1e6, ref
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        raise PhotometryError("no finite value to take a reference from")
    if isinstance(reference, str):
        if reference == "median":
            ref = float(np.median(finite))
        elif reference == "mean":
            ref = float(np.mean(finite))
        elif reference == "first":
            ref = float(finite[0])
        elif reference == "max":
            ref = float(np.max(finite))
        else:
            raise PhotometryError(f"reference={reference!r}: use 'median', 'mean', 'max', "
                                  "'first', a frame index or a value")
    elif isinstance(reference, (int, np.integer)):
        ref = float(v[int(reference)])
    else:
        ref = float(reference)
    if not np.isfinite(ref) or ref == 0:
        raise PhotometryError(f"the reference value {ref} cannot normalise the light curve")
    return (v / ref - 1.0) * 1e6, ref


def disk_integrate(ds: xr.Dataset | list[xr.Dataset], *, quantity: str = "flux",
                   variable: str | None = None, normalize_distance: bool = True,
                   reference: str | float = "median", min_covered: float = 0.99,
                   limb_darkening: xr.Dataset | LimbDarkening | None = None,
                   mu_min: float | None = None, device: str = "auto") -> xr.Dataset:
    """Integrate every frame over the solar disk: a light-curve Dataset along ``time``.

    Parameters
    ----------
    ds : xarray.Dataset or list of xarray.Dataset
        Solar Dataset(s) of one instrument and unit (a list is concatenated along
        ``time`` after checking that).
    quantity : {"flux", "mean_intensity"}
        The main variable: the flux ``F = Σ I Ω`` (units of the variable × sr) or
        the mean intensity over the covered disk ``Σ I Ω / Σ Ω``.
    variable : str, optional
        The image variable (default: the only one).
    normalize_distance : bool
        Scale the flux to 1 AU, ``F·(d/1 AU)²`` (the mean intensity never is).
    reference : str, int or float
        Reference of ``relative_variation`` (ppm; see :func:`relative_variation`). A
        chunked (dask) Dataset needs a value: the default median (or any statistic or
        frame of the series) depends on the whole series
        (:class:`~solarprep.errors.ChunkingError` otherwise); the light curve is then lazy.
    min_covered : float
        Frames whose covered fraction of the disk (by solid angle) is below this
        get NaN in the main variable instead of a biased value.
    limb_darkening : xarray.Dataset or LimbDarkening, optional
        Also integrate this limb-darkening profile (a :func:`fit_limb_darkening`
        result, or a law and the Dataset's ``ld_i0``) over the same covered
        pixels and give ``relative_flux = F / F_model``: the light curve with the
        limb-darkening normalisation removed (1 for a featureless disk).
    mu_min : float, optional
        Only integrate pixels with ``μ ≥ mu_min`` (default: the whole disk).
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    xarray.Dataset
        ``flux`` or ``mean_intensity`` (float32), ``relative_variation`` (ppm),
        ``covered_fraction``, ``disk_solid_angle`` (sr), ``n_pixels``; coordinate
        ``dsun_obs``; attribute ``reference_value``.

    Raises
    ------
    PhotometryError
        For mixed instruments or units, a frame with no on-disk pixel (an
        off-disk cutout), an unknown quantity or ``mu_min`` outside (0, 1].

    Notes
    -----
    Pixel intensities are left alone: the specific intensity does not depend on
    the distance. The received flux is :math:`F = \\int I\\, d\\Omega` and scales
    as :math:`1/d^2`; for a limb-darkened sphere seen from distance d,
    :math:`F d^2 = \\pi R^2 I_0 \\cdot 2\\int_0^1 L(\\mu)\\mu\\, d\\mu` up to terms of
    order :math:`(R/d)^2 \\approx 2\\times10^{-5}`. Missing pixels (NaN) are
    left out; ``covered_fraction = Σ_finite Ω / Σ_disk Ω``.
    """
    if quantity not in _QUANTITIES:
        raise PhotometryError(f"quantity={quantity!r} is not one of {_QUANTITIES}")
    ds = _as_one_dataset(ds)
    variable = image_variable(ds, variable)
    _check_frames(ds, variable)
    device = backend.resolve_device(device, ds)
    from kernels.params import DISK_SUMS_LEN as DISK_NSUMS

    chunked = is_chunked(ds[variable])
    if chunked and isinstance(reference, (str, int, np.integer)):
        require_explicit(ds, f"disk_integrate's reference={reference!r} (a statistic of the "
                             "light curve)", "reference=<value> in the light curve's units")
    xp = backend.array_module(device)
    weight = _weights(ds, device)
    if mu_min is not None:
        mu_min = check_mu_min(mu_min)
        mu = with_mu(ds, device).coords["mu"].data
        mu = (mu[None] if mu.ndim == 2 else mu) if chunked else as_mu(mu, device)
        weight = xp.where(mu >= mu_min, weight, np.float32(0))
    if chunked:
        s = map_frames(_sums_frames, ds[variable], frame_stack_or_map(weight),
                       output_core_dims=[["sum"]], output_dtypes=[np.float64],
                       output_sizes={"sum": DISK_NSUMS}, kwargs={"device": device},
                       frame_index=True).data
    else:
        s = _sums_frames(ds[variable].data, weight, device=device)
    covered = s[:, 1] / s[:, 2]
    flux = s[:, 0].copy()
    dsun = np.asarray(ds["dsun_obs"].values, dtype=np.float64)
    units = ds[variable].attrs.get("units", "")
    if quantity == "flux":
        main = flux * one_au_factor(dsun) if normalize_distance else flux
        main_units = f"{units} sr".strip() if units else "sr"
        where = " at 1 AU" if normalize_distance else ""
        long_name = f"disk-integrated {ds[variable].attrs.get('long_name', variable)}{where}"
    else:
        main = flux / s[:, 1]
        main_units = units
        long_name = f"disk-averaged {ds[variable].attrs.get('long_name', variable)}"
    main = np.where(covered >= min_covered, main, np.nan)
    if not chunked:  # (a chunked light curve is checked when computed: NaN frames)
        _report_coverage(ds, covered, min_covered)
    rel, ref = relative_variation(main, reference)
    data = {
        quantity: float32_var(("time",), main, main_units, long_name,
                              normalized_to_1au=int(normalize_distance and quantity == "flux")),
        "relative_variation": float32_var(("time",), rel, "",
                                          f"relative variation of {quantity} (ppm)",
                                          comment="units: parts per million"),
        "covered_fraction": float32_var(("time",), covered, "",
                                        "fraction of the disk's solid angle with finite data"),
        "disk_solid_angle": float32_var(("time",), s[:, 2], "sr",
                                        "solid angle of the integrated disk"),
        "n_pixels": float32_var(("time",), s[:, 3], "", "finite on-disk pixels"),
    }
    if limb_darkening is not None:
        data.update(_model_flux(ds, variable, limb_darkening, weight, flux, device))
    out = xr.Dataset(data, coords={"time": ds["time"].values,
                                   "dsun_obs": ("time", dsun, {"units": "m"})},
                     attrs={"Conventions": CONVENTIONS,
                            "title": f"light curve of {variable}",
                            "instrument": ds.attrs.get("instrument", ""),
                            "source_variable": variable, "reference_value": ref,
                            "history": ds.attrs.get("history", "")})
    return append_history(out, f"disk_integrate({variable!r}, quantity={quantity!r}, "
                               f"normalize_distance={normalize_distance}, device={device!r})")


def _report_coverage(ds, covered, min_covered):
    """Say which frames are NaN for lack of data; raise when no frame is left."""
    low = np.flatnonzero(~(covered >= min_covered))
    if not low.size:
        return
    times = np.datetime_as_string(ds["time"].values[low[:3]], unit="s")
    shown = ", ".join(f"frame {k} ({t}) {covered[k]:.1%}" for k, t in zip(low, times))
    shown += ", ..." if low.size > 3 else ""
    if low.size == covered.size:
        raise PhotometryError(
            f"every frame covers less than min_covered={min_covered:g} of the disk with finite "
            f"data ({shown}): NaN pixels on the disk leave nothing to integrate without bias; "
            "fill or crop the missing pixels, or lower min_covered (the flux then misses the "
            "NaN part of the disk)")
    log.warning("disk_integrate: %d frame(s) cover less than min_covered=%g of the disk with "
                "finite data and are NaN: %s", low.size, min_covered, shown)


def _sums_frames(image, weight, frames=None, *, device):
    """Per frame ``[Σ wI, Σ w (finite), Σ w (disk), n finite, n disk]`` (host float64)."""
    from kernels import get
    from kernels.params import DISK_SUMS_LEN as DISK_NSUMS

    xp = backend.array_module(device)
    image = as_image(image, device)
    sums = xp.zeros((image.shape[0], DISK_NSUMS))
    get("disk_sums", device)(image, as_mu(weight, device), sums)
    s = to_host(sums)
    if not np.all(s[:, 4] > 0):
        bad = np.flatnonzero(~(s[:, 4] > 0))
        bad = (bad if frames is None else np.asarray(frames)[bad]).tolist()
        raise PhotometryError(
            f"frames {bad} have no pixel on the solar disk (an off-limb cutout?): nothing to "
            "integrate")
    return s


def _model_frames(image, mu, weight, poly, i0, frames=None, *, device):
    """Per frame, the flux of the profile ``i0·L(μ)`` (rows ``poly``) over the finite pixels."""
    from kernels import get
    from kernels.params import DISK_SUMS_LEN as DISK_NSUMS
    from solarprep.photometry.limb_darkening import LimbDarkening

    xp = backend.array_module(device)
    image, mu = as_image(image, device), as_mu(mu, device)
    nt = image.shape[0]
    model = xp.empty_like(image)
    for t in range(nt):
        prof = LimbDarkening(tuple(poly[t]))(mu[t if mu.shape[0] > 1 else 0])
        model[t] = xp.where(xp.isfinite(image[t]), prof * np.float32(i0[t]), np.nan)
    sums = xp.zeros((nt, DISK_NSUMS))
    get("disk_sums", device)(model, as_mu(weight, device), sums)
    return to_host(sums)[:, 0]


def _model_flux(ds, variable, law, weight, flux, device):
    """``flux_model`` and ``relative_flux`` for a limb-darkening profile over the covered pixels."""
    from solarprep.photometry.limb_darkening import LimbDarkening

    nt = ds.sizes["time"]
    if isinstance(law, xr.Dataset):
        poly, i0 = to_host(law["polynomial"].data), to_host(law["i0"].data)
    elif isinstance(law, LimbDarkening):
        if "ld_i0" not in ds:
            raise PhotometryError("a LimbDarkening law needs the Dataset's ld_i0 (or pass a fit)")
        poly, i0 = np.array(law.coefficients)[None], to_host(ds["ld_i0"].data)
    else:
        raise PhotometryError("limb_darkening must be a fit Dataset or a LimbDarkening")
    poly = np.broadcast_to(np.atleast_2d(poly), (nt, np.shape(poly)[-1]))
    i0 = np.broadcast_to(np.asarray(i0, float), (nt,))
    ds = with_mu(ds, device)
    if is_chunked(ds[variable]):
        fm = map_frames(_model_frames, ds[variable], ds.coords["mu"], frame_stack_or_map(weight),
                        frame_rows(poly), frame_rows(i0), output_core_dims=[[]],
                        output_dtypes=[np.float64], kwargs={"device": device}).data
    else:
        fm = _model_frames(ds[variable].data, ds.coords["mu"].data, weight, poly, i0,
                           device=device)
    units = ds[variable].attrs.get("units", "")
    return {"flux_model": float32_var(("time",), fm, f"{units} sr".strip(),
                                      "flux of the limb-darkening profile (same pixels)"),
            "relative_flux": float32_var(("time",), flux / fm, "",
                                         "flux / limb-darkening-profile flux")}
