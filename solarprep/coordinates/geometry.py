"""Image and observer geometry: from headers to kernel parameters, and ``disk_coordinates``.

:class:`FrameGeometry` holds what a helioprojective TAN image needs to place each
pixel on the Sun: the WCS (reference pixel, value, scale, rotation) and the
observer (distance and heliographic Stonyhurst position). It is built from a
sunpy Map (:meth:`FrameGeometry.from_map`) or read from a solar Dataset's
per-frame coordinates (:func:`frame_geometries`), and packed into the float64
parameter vector of :mod:`kernels._disk_math`.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from kernels.params import GEOMETRY_LEN as NPARAMS
from solarprep import backend
from solarprep.dataset import GEOMETRY_COORDS, append_history
from solarprep.errors import GeometryError  # noqa: F401 (re-exported)
from solarprep.parallel.blocks import frame_rows, is_chunked, map_frames

if TYPE_CHECKING:
    from collections.abc import Iterable

    import sunpy.map

__all__ = ["FrameGeometry", "frame_geometries", "kernel_params",
           "disk_coordinates", "RSUN_REF_DEFAULT"]

log = logging.getLogger(__name__)

#: Default photospheric radius when a header has no RSUN_REF: IAU 2015 nominal, m.
RSUN_REF_DEFAULT = 695_700_000.0

_ARCSEC = math.pi / (180.0 * 3600.0)
_DEG = math.pi / 180.0


@dataclasses.dataclass(frozen=True)
class FrameGeometry:
    """Geometry of one helioprojective image (FITS conventions, angles as named).

    Attributes
    ----------
    crpix1, crpix2 : float
        Reference pixel, 1-based (FITS).
    crval1, crval2 : float
        Helioprojective longitude and latitude of the reference pixel, arcsec.
    cdelt1, cdelt2 : float
        Plate scale, arcsec per pixel.
    crota2 : float
        Rotation of the image axes from solar north, deg.
    dsun_obs : float
        Observer distance from Sun centre, m.
    hgln_obs, hglt_obs : float
        Observer's heliographic Stonyhurst longitude and latitude (B0), deg.
    rsun_ref : float
        Radius of the solar surface, m.
    lonpole : float
        Native longitude of the celestial pole (LONPOLE), deg.
    """

    crpix1: float
    crpix2: float
    crval1: float
    crval2: float
    cdelt1: float
    cdelt2: float
    crota2: float
    dsun_obs: float
    hgln_obs: float
    hglt_obs: float
    rsun_ref: float = RSUN_REF_DEFAULT
    lonpole: float = 180.0

    @property
    def pc_matrix(self):
        """The PC matrix implied by ``crota2`` and the plate scales (FITS paper II, eq. 189)."""
        rho = math.radians(self.crota2)
        lam = self.cdelt2 / self.cdelt1
        c, s = math.cos(rho), math.sin(rho)
        return np.array([[c, -s * lam], [s / lam, c]])

    @property
    def rsun_obs(self):
        """Apparent radius of the Sun seen by the observer, arcsec (exact for a sphere)."""
        return math.degrees(math.asin(self.rsun_ref / self.dsun_obs)) * 3600.0

    @classmethod
    def from_map(cls, smap: sunpy.map.GenericMap) -> FrameGeometry:
        """Read the geometry of a sunpy Map.

        Uses the Map's own properties (reference pixel and coordinate, scale,
        rotation matrix, observer coordinate, ``rsun_meters``), so every header
        variant sunpy understands is understood here.

        Raises
        ------
        GeometryError
            If the Map is not a helioprojective TAN image or has a skewed PC matrix.
        """
        wcs = smap.wcs.wcs
        ctype = tuple(str(c) for c in wcs.ctype)
        if ctype != ("HPLN-TAN", "HPLT-TAN"):
            raise GeometryError(
                f"the image's WCS is {ctype}, not helioprojective ('HPLN-TAN', 'HPLT-TAN'): "
                "solarprep reads solar images in helioprojective TAN coordinates only")
        scale1 = smap.scale.axis1.to_value("arcsec / pix")
        scale2 = smap.scale.axis2.to_value("arcsec / pix")
        pc = np.asarray(smap.rotation_matrix, dtype=float)
        rho = math.atan2(pc[1, 0] * scale2 / scale1, pc[0, 0])
        crota2 = math.degrees(rho)
        geom_scale = dict(cdelt1=scale1, cdelt2=scale2, crota2=crota2)
        # sunpy falls back to an Earth observer (with a warning) when the header has none;
        # solarprep.load detects that case and records it.
        observer = smap.observer_coordinate
        from sunpy.coordinates import HeliographicStonyhurst

        hgs = observer.transform_to(HeliographicStonyhurst(obstime=observer.obstime))
        ref = smap.reference_pixel
        refc = smap.reference_coordinate
        geom = cls(
            crpix1=ref.x.to_value("pix") + 1.0,
            crpix2=ref.y.to_value("pix") + 1.0,
            crval1=refc.Tx.to_value("arcsec"),
            crval2=refc.Ty.to_value("arcsec"),
            dsun_obs=hgs.radius.to_value("m"),
            hgln_obs=hgs.lon.wrap_at("180d").to_value("deg"),
            hglt_obs=hgs.lat.to_value("deg"),
            rsun_ref=smap.rsun_meters.to_value("m"),
            lonpole=float(wcs.lonpole),
            **geom_scale,
        )
        skew = np.abs(geom.pc_matrix - pc).max()
        if skew > 1e-9:
            raise GeometryError(
                f"the PC matrix {pc.tolist()} is not a rotation (it differs from the rotation "
                f"by CROTA2={crota2:.6f} deg by {skew:.2e}); skewed images are not supported")
        return geom

    def turned_half(self, ny: int, nx: int) -> FrameGeometry:
        """The geometry of the same image turned by 180° (``data[::-1, ::-1]``).

        Turning is an exact pixel permutation: FITS pixel ``p`` becomes
        ``n + 1 − p`` on both axes and the PC matrix changes sign, which is the
        rotation by ``crota2 − 180°``. Every pixel keeps its world coordinates.
        """
        crota2 = self.crota2 - 180.0 if self.crota2 > 0 else self.crota2 + 180.0
        return dataclasses.replace(self, crpix1=nx + 1.0 - self.crpix1,
                                   crpix2=ny + 1.0 - self.crpix2, crota2=crota2)

    def kernel_params(self) -> np.ndarray:
        """The float64 parameter vector of :mod:`kernels._disk_math` (length 25)."""
        p = np.empty(NPARAMS)
        p[0] = self.crpix1 - 1.0
        p[1] = self.crpix2 - 1.0
        m = np.diag([self.cdelt1, self.cdelt2]) @ self.pc_matrix * _ARCSEC
        p[2:6] = m.ravel()
        p[6:15] = _native_to_helioprojective(self.crval1 * _ARCSEC, self.crval2 * _ARCSEC,
                                             self.lonpole * _DEG).ravel()
        p[15] = self.dsun_obs / self.rsun_ref
        p[16:25] = _observer_to_stonyhurst(self.hglt_obs * _DEG, self.hgln_obs * _DEG).ravel()
        return p


def _native_to_helioprojective(alpha0, delta0, phi_p):
    """Rotation from TAN native Cartesian to helioprojective Cartesian.

    Columns are the images of the native basis vectors under the spherical
    rotation of Calabretta & Greisen (2002, eq. 2) with the native pole at the
    reference point (zenithal projection: ``(α_p, δ_p) = (α₀, δ₀)``).
    """

    def celestial(phi, theta):
        dphi = phi - phi_p
        lon = alpha0 + math.atan2(-math.cos(theta) * math.sin(dphi),
                                  math.sin(theta) * math.cos(delta0)
                                  - math.cos(theta) * math.sin(delta0) * math.cos(dphi))
        lat = math.asin(math.sin(theta) * math.sin(delta0)
                        + math.cos(theta) * math.cos(delta0) * math.cos(dphi))
        return [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]

    half_pi = math.pi / 2
    return np.array([celestial(0.0, 0.0), celestial(half_pi, 0.0), celestial(0.0, half_pi)]).T


def _observer_to_stonyhurst(b0, l0):
    """Rotation from (towards observer, west, north) axes to Stonyhurst Cartesian: Rz(L0)·Ry(B0)."""
    cb, sb, cl, sl = math.cos(b0), math.sin(b0), math.cos(l0), math.sin(l0)
    ry = np.array([[cb, 0.0, -sb], [0.0, 1.0, 0.0], [sb, 0.0, cb]])
    rz = np.array([[cl, -sl, 0.0], [sl, cl, 0.0], [0.0, 0.0, 1.0]])
    return rz @ ry


def frame_geometries(ds: xr.Dataset) -> list[FrameGeometry]:
    """One :class:`FrameGeometry` per frame of a solar Dataset, read from its coordinates."""
    missing = [name for name in GEOMETRY_COORDS if name not in ds.coords]
    if missing:
        raise GeometryError(
            f"the Dataset lacks the geometry coordinates {missing}; build it with "
            "solarprep.load (see docs/dataset.md)")
    columns = {name: np.atleast_1d(ds.coords[name].values).astype(float)
               for name in GEOMETRY_COORDS}
    rsun_ref = float(ds.attrs.get("rsun_ref", RSUN_REF_DEFAULT))
    lonpole = float(ds.attrs.get("lonpole", 180.0))
    n = len(columns["crpix1"])
    return [FrameGeometry(**{k: float(v[t]) for k, v in columns.items()},
                          rsun_ref=rsun_ref, lonpole=lonpole) for t in range(n)]


def kernel_params(geometries: Iterable[FrameGeometry]) -> np.ndarray:
    """Stack the parameter vectors of several frames into an ``(n, 25)`` float64 array."""
    return np.stack([g.kernel_params() for g in geometries])


def _disk_frames(params, *, shape, device):
    """μ, latitude, longitude and on-disk mask of the frames whose kernel rows are ``params``."""
    from kernels import get as get_kernel

    xp = backend.array_module(device)
    out_shape = (params.shape[0], *shape)
    mu = xp.empty(out_shape, dtype=np.float32)
    lat = xp.empty(out_shape, dtype=np.float32)
    lon = xp.empty(out_shape, dtype=np.float32)
    on_disk = xp.empty(out_shape, dtype=np.bool_)
    get_kernel("disk_coordinates", device)(xp.asarray(params), mu, lat, lon, on_disk)
    return mu, lat, lon, on_disk


def disk_coordinates(ds: xr.Dataset, *, device: str = "auto") -> xr.Dataset:
    """Add ``mu``, ``hgs_lat``, ``hgs_lon`` and ``on_disk`` coordinates to a solar Dataset.

    The geometry is computed analytically, pixel by pixel, from each frame's WCS
    and observer (no coordinate arrays are read), on the CPU (numba, all cores) or
    on the GPU (one fused numba.cuda kernel).

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset (see ``docs/dataset.md``).
    device : {"auto", "cpu", "cuda"}
        Where to compute; with ``"cuda"`` the new coordinates are CuPy arrays.

    Returns
    -------
    xarray.Dataset
        ``ds`` with the four coordinates, dims ``(y, x)`` when every frame shares
        one geometry, else ``(time, y, x)``. Off-disk pixels are NaN (False in
        ``on_disk``). For a chunked (dask) Dataset, per-frame coordinates are lazy and
        chunked along ``time`` like the data.

    Notes
    -----
    For a pixel whose line of sight makes the angle θ with the direction to Sun
    centre, seen from distance :math:`D` (in units of the solar radius),

    .. math:: \\mu = \\sqrt{1 - D^2 \\sin^2\\theta},

    the cosine of the angle between the local vertical and the direction back to
    the observer, i.e. the heliocentric angle as sunpy defines it
    (``sunpy.coordinates.utils.get_heliocentric_angle``). The orthographic
    approximation :math:`\\sqrt{1-\\rho^2}` differs from it by up to ~5e-3 near the
    limb. Pixel directions follow the gnomonic (TAN) projection and the spherical
    rotation of Calabretta & Greisen (2002, A&A 395, 1077); the surface point is
    rotated to heliographic Stonyhurst coordinates by the observer's B0 and L0
    (Thompson 2006, A&A 449, 791).
    """
    device = backend.resolve_device(device, ds)
    params = kernel_params(frame_geometries(ds))
    shared = bool(np.all(params == params[:1]))
    if shared:
        params = params[:1]
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    if not shared and is_chunked(ds):
        # One lazy block of coordinates per block of frames (parallel/blocks.py).
        mu, lat, lon, on_disk = (out.data for out in map_frames(
            _disk_frames, frame_rows(params), output_core_dims=[["y", "x"]] * 4,
            output_dtypes=[np.float32] * 3 + [np.bool_], output_sizes={"y": ny, "x": nx},
            device=device, kwargs={"shape": (ny, nx), "device": device},
            chunks_like=ds))
    else:
        mu, lat, lon, on_disk = _disk_frames(params, shape=(ny, nx), device=device)
    if shared:
        dims = ("y", "x")
        mu, lat, lon, on_disk = mu[0], lat[0], lon[0], on_disk[0]
    else:
        dims = ("time", "y", "x")
    coords = {
        "mu": xr.Variable(dims, mu, {"units": "", "long_name": "cosine of the heliocentric angle"}),
        "hgs_lat": xr.Variable(dims, lat, {"units": "deg",
                                           "long_name": "heliographic Stonyhurst latitude"}),
        "hgs_lon": xr.Variable(dims, lon, {"units": "deg",
                                           "long_name": "heliographic Stonyhurst longitude"}),
        "on_disk": xr.Variable(dims, on_disk, {"long_name": "line of sight meets the photosphere"}),
    }
    out = ds.assign_coords(coords)
    return append_history(out, f"disk_coordinates(device={device!r})")
