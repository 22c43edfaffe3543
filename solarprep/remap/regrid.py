"""Regridding full-disk images to a standard disk-centred, north-up grid of fixed disk radius.

The image-translation seeds (reference facts §3–4) train on pairs of full-disk images (HMI
magnetogram and AIA passband; EUV and HMI magnetogram) resampled so that the solar disk has a
fixed radius (392 px at 1024² for Park et al. 2019 and Kim et al. 2019; 450 px for Jeong et
al. 2020), centred, with solar north up. :func:`regrid_disk` puts every frame of a solar Dataset
on that grid; :func:`build_pairs` does it for two instruments and matches their frames in time.

The standard grid of a frame
    A helioprojective TAN image of ``shape`` pixels seen by the frame's own observer, with the
    reference pixel at the image centre (``CRPIX = (n + 1)/2``) pointing at Sun centre
    (``CRVAL = 0``), ``CROTA2 = 0`` (north up) and the plate scale

    ``CDELT = tan(θ_☉) / radius`` (in degrees of the intermediate coordinate, FITS paper II),

    ``θ_☉ = arcsin(R_☉ / D)`` the apparent radius, so that the limb lies exactly ``radius``
    pixels from the centre (the TAN projection's ``tan`` matters at the 1e-5 level).

Each output pixel is a line of sight; its position in the input image follows from the input
WCS (wcslib through astropy, gnomonic projections of the same observer, no surface model), so
off-limb emission (EUV corona) is kept. Interpolation is ``scipy.ndimage.map_coordinates``
(bilinear by default) after a Gaussian anti-aliasing filter of σ = (f − 1)/2 input pixels
when the grid is ``f`` times coarser (the rule of skimage's ``resize``). Missing input pixels
(NaN) are not smeared: an output pixel whose interpolation stencil touches one is NaN.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import warnings

import numpy as np
import xarray as xr

from solarprep.coordinates.geometry import FrameGeometry, frame_geometries
from solarprep.dataset import FRAME_COORDS, append_history, data_variables
from solarprep.errors import PairError  # noqa: F401 (re-exported)
from solarprep.parallel.blocks import frame_rows, is_chunked, map_frames

__all__ = ["disk_grid_geometry", "regrid_disk", "DEFAULT_RADIUS", "DEFAULT_SHAPE"]

log = logging.getLogger(__name__)

#: Disk radius (px) and image size of the Park et al. (2019) / Kim et al. (2019) pairs.
DEFAULT_RADIUS = 392.0
DEFAULT_SHAPE = 1024


def _shape(shape):
    if np.isscalar(shape):
        shape = (int(shape), int(shape))
    ny, nx = (int(s) for s in shape)
    if ny < 4 or nx < 4:
        raise PairError(f"the output grid must be at least 4×4 pixels, not {shape!r}")
    return ny, nx


def disk_grid_geometry(geometry: FrameGeometry, shape: int | tuple[int, int], radius: float, *,
                       scale: float | None = None) -> FrameGeometry:
    """The standard grid of a frame: centred, north up, disk of ``radius`` px (module docstring).

    Parameters
    ----------
    geometry : solarprep.coordinates.geometry.FrameGeometry
        The input frame (its observer and solar radius are kept).
    shape : int or (int, int)
        Output ``(ny, nx)``.
    radius : float
        Disk radius in output pixels (ignored when ``scale`` is given).
    scale : float, optional
        A fixed plate scale (arcsec per pixel) instead of a fixed disk radius: the AIA
        level-1.5 grid is 0.6″ (``solarprep.prep``).

    Returns
    -------
    solarprep.coordinates.geometry.FrameGeometry
    """
    ny, nx = _shape(shape)
    if scale is not None:
        if not scale > 0:
            raise PairError(f"scale must be positive (arcsec per pixel), not {scale!r}")
        cdelt = float(scale)
    else:
        if not radius > 0:
            raise PairError(f"radius must be positive, not {radius!r}")
        theta = math.asin(geometry.rsun_ref / geometry.dsun_obs)
        cdelt = math.degrees(math.tan(theta)) * 3600.0 / float(radius)
    return FrameGeometry(crpix1=(nx + 1) / 2.0, crpix2=(ny + 1) / 2.0, crval1=0.0, crval2=0.0,
                         cdelt1=cdelt, cdelt2=cdelt, crota2=0.0, dsun_obs=geometry.dsun_obs,
                         hgln_obs=geometry.hgln_obs, hglt_obs=geometry.hglt_obs,
                         rsun_ref=geometry.rsun_ref, lonpole=180.0)


def _wcs(g):
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["HPLN-TAN", "HPLT-TAN"]
    w.wcs.cunit = ["arcsec", "arcsec"]
    w.wcs.crpix = [g.crpix1, g.crpix2]
    w.wcs.crval = [g.crval1, g.crval2]
    w.wcs.cdelt = [g.cdelt1, g.cdelt2]
    w.wcs.pc = g.pc_matrix
    w.wcs.lonpole = g.lonpole
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w.wcs.set()
    return w


def _source_pixels(g_out, g_in, shape):
    """0-based (row, column) in the input image of every output pixel centre."""
    ny, nx = shape
    jj, ii = np.meshgrid(np.arange(nx, dtype=np.float64), np.arange(ny, dtype=np.float64))
    w_out, w_in = _wcs(g_out), _wcs(g_in)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lon, lat = w_out.wcs_pix2world(jj.ravel(), ii.ravel(), 0)
        col, row = w_in.wcs_world2pix(lon, lat, 0)
    return row.reshape(shape), col.reshape(shape)


def _resample(image, rows, cols, factor, order):
    from scipy.ndimage import gaussian_filter, map_coordinates

    valid = np.isfinite(image)
    filled = np.where(valid, image, 0.0).astype(np.float64)
    weight = valid.astype(np.float64)
    if factor > 1.0:
        sigma = (factor - 1.0) / 2.0
        filled = gaussian_filter(filled, sigma, mode="constant")
        weight = gaussian_filter(weight, sigma, mode="constant")
        filled = np.where(weight > 0, filled / np.where(weight > 0, weight, 1), 0.0)
        weight = np.where(valid, 1.0, 0.0)
    coords = np.stack([rows, cols])
    out = map_coordinates(filled, coords, order=order, mode="constant", cval=np.nan,
                          prefilter=order > 1)
    inside = map_coordinates(weight, coords, order=1, mode="constant", cval=0.0)
    out[~(inside > 1.0 - 1e-6)] = np.nan
    return out.astype(np.float32)


def _host(values):
    return values.get() if hasattr(values, "get") else np.asarray(values)


def regrid_disk(ds: xr.Dataset, *, shape: int | tuple[int, int] = DEFAULT_SHAPE,
                radius: float = DEFAULT_RADIUS, order: int = 1, antialias: bool = True,
                limb_mask: float | None = None, variables: list[str] | None = None,
                progress: bool = True, scale: float | None = None) -> xr.Dataset:
    """Put every frame of a solar Dataset on its standard disk grid (module docstring).

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset (``docs/dataset.md``), on the host.
    shape : int or (int, int)
        Output size (default 1024).
    radius : float
        Disk radius in output pixels (default 392).
    order : int
        Spline order of the interpolation (1 bilinear, 3 bicubic).
    antialias : bool
        Gaussian pre-filter when the output pixels are larger than the input's.
    limb_mask : float, optional
        Set pixels at ``r > limb_mask·radius`` to NaN (Park et al. 0.99, Jeong et al. 0.98).
    variables : list of str, optional
        Image variables to resample (default: all).
    scale : float, optional
        A fixed plate scale (arcsec per pixel) instead of a fixed disk radius; ``radius``
        and ``limb_mask`` then refer to the mean disk radius of the frames.

    Returns
    -------
    xarray.Dataset
        Same variables and per-frame observer, new WCS coordinates (``crval = 0``,
        ``crota2 = 0``, ``cdelt`` per frame), attribute ``disk_radius_px``. A chunked (dask)
        Dataset gives lazy variables, resampled block by block.
    """
    ny, nx = _shape(shape)
    names = variables or data_variables(ds)
    if not names:
        raise PairError("the Dataset has no image variable with dims (time, y, x)")
    geoms = frame_geometries(ds)
    out_geoms = [disk_grid_geometry(g, (ny, nx), radius, scale=scale) for g in geoms]
    if scale is not None:
        radius = float(np.mean([math.degrees(math.tan(math.asin(g.rsun_ref / g.dsun_obs)))
                                * 3600.0 / scale for g in geoms]))
    rows = [np.array([dataclasses.astuple(g) for g in gs]) for gs in (geoms, out_geoms)]
    options = dict(shape=(ny, nx), radius=radius, order=order, antialias=antialias,
                   limb_mask=limb_mask)
    if is_chunked(ds[names]):
        out = map_frames(_regrid_frames, *(ds[name] for name in names),
                         *(frame_rows(r) for r in rows),
                         output_core_dims=[["y", "x"]] * len(names),
                         output_dtypes=[np.float32] * len(names), output_sizes={"y": ny, "x": nx},
                         kwargs=options)
        out = [o.data for o in (out if len(names) > 1 else (out,))]
    else:
        out = _regrid_frames(*(ds[name].data for name in names), *rows, progress=progress,
                             **options)
    return _dataset(ds, names, dict(zip(names, out)), out_geoms, (ny, nx), radius,
                    f"regrid_disk(shape=({ny}, {nx}), "
                    + (f"scale={scale}" if scale is not None else f"radius={radius}")
                    + f", order={order}, antialias={antialias}, limb_mask={limb_mask})")


def _regrid_frames(*arrays, shape, radius, order, antialias, limb_mask, progress=False):
    """Resample frames (or a block of them) of every image in ``arrays[:-2]`` to their grids.

    ``arrays[-2:]`` are the input and output geometries, one row of :class:`FrameGeometry`
    fields per frame. Returns one float32 ``(nt, ny, nx)`` array per image.
    """
    from tqdm.auto import tqdm

    ny, nx = shape
    images, (rows_in, rows_out) = arrays[:-2], arrays[-2:]
    nt = rows_in.shape[0]
    data = [np.empty((nt, ny, nx), np.float32) for _ in images]
    yy, xx = np.mgrid[0:ny, 0:nx]
    r_px = np.hypot(yy - (ny - 1) / 2.0, xx - (nx - 1) / 2.0)
    for t in tqdm(range(nt), disable=not progress, desc="regrid", leave=False):
        g_in, g_out = FrameGeometry(*rows_in[t]), FrameGeometry(*rows_out[t])
        rows, cols = _source_pixels(g_out, g_in, (ny, nx))
        factor = g_out.cdelt1 / math.sqrt(abs(g_in.cdelt1 * g_in.cdelt2)) if antialias else 1.0
        for image, out in zip(images, data):
            img = _host(image[t]).astype(np.float64)
            out[t] = _resample(img, rows, cols, factor, order)
            if limb_mask is not None:
                out[t][r_px > float(limb_mask) * radius] = np.nan
    return tuple(data)


def _dataset(ds, names, data, geoms, shape, radius, message):
    ny, nx = shape
    g0 = geoms[0]
    coords = {
        "time": ("time", ds["time"].values, dict(ds["time"].attrs)),
        "y": ("y", g0.crval2 + g0.cdelt2 * (np.arange(ny) + 1.0 - g0.crpix2),
              {"units": "arcsec", "long_name": "helioprojective latitude of the row axis "
                                               "(frame 0)"}),
        "x": ("x", g0.crval1 + g0.cdelt1 * (np.arange(nx) + 1.0 - g0.crpix1),
              {"units": "arcsec", "long_name": "helioprojective longitude of the column axis "
                                               "(frame 0)"}),
    }
    for key, (units, long_name) in FRAME_COORDS.items():
        if key in ("crpix1", "crpix2", "crval1", "crval2", "cdelt1", "cdelt2", "crota2"):
            values = np.array([getattr(g, key) for g in geoms], np.float64)
        else:
            values = ds[key].values
        attrs = {"units": units, "long_name": long_name} if units else {"long_name": long_name}
        coords[key] = ("time", values, attrs)
    out = xr.Dataset({name: (("time", "y", "x"), data[name], dict(ds[name].attrs))
                      for name in names}, coords=coords, attrs=dict(ds.attrs))
    out.attrs.update(disk_radius_px=float(radius), lonpole=180.0)
    return append_history(out, message)
