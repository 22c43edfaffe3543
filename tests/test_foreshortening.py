"""Pixel areas, foreshortening corrections and total unsigned flux: against sunpy, analytic, real data."""
import math

import numpy as np
import pytest

import kernels.cpu
import kernels.cuda
import solarprep
from solarprep import synthetic
from solarprep.photometry._common import geometry_params
from solarprep.photometry.foreshortening import (
    CM2_PER_MM2,
    PhotometryError,
    foreshortening_correct,
    pixel_area,
    total_unsigned_flux,
)
from solarprep.photometry.integration import solid_angle

from .naive_photometry import T0, TIME, naive_surface, synthetic_dataset


def _corner_vectors(smap, rows, cols, sub=1):
    """Helioprojective unit vectors and Stonyhurst surface points (m) of sub-pixel corners.

    Returns lists over the ``(sub + 1)²`` corners of a ``sub × sub`` subdivision of
    each pixel, row-major, each ``(3, npix)``.
    """
    import astropy.units as u
    from sunpy.coordinates import HeliographicStonyhurst

    offsets = np.linspace(-0.5, 0.5, sub + 1)
    di, dj = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    c = smap.pixel_to_world((cols[None] + dj[:, None]) * u.pix, (rows[None] + di[:, None]) * u.pix)
    tx, ty = c.Tx.to_value(u.rad), c.Ty.to_value(u.rad)
    sky = np.stack([np.cos(ty) * np.cos(tx), np.cos(ty) * np.sin(tx), np.sin(ty)])
    h = c.transform_to(HeliographicStonyhurst(obstime=smap.reference_date))
    sun = h.cartesian.xyz.to_value(u.m)
    return [sky[:, k] for k in range(len(di))], [sun[:, k] for k in range(len(di))]


def _footprint_area(points, sub):
    """Sum of the flat areas (|d1 × d2|/2) of the sub-quadrilaterals, m²."""
    n = sub + 1
    total = 0.0
    for a in range(sub):
        for b in range(sub):
            p00, p01 = points[a * n + b], points[a * n + b + 1]
            p10, p11 = points[(a + 1) * n + b], points[(a + 1) * n + b + 1]
            total = total + 0.5 * np.linalg.norm(np.cross(p11 - p00, p10 - p01, axis=0), axis=0)
    return total


def _spherical_triangle(a, b, c):
    """Solid angle of a spherical triangle (Van Oosterom & Strackee 1983)."""
    num = np.abs(np.einsum("ij,ij->j", a, np.cross(b, c, axis=0)))
    den = 1 + np.einsum("ij,ij->j", a, b) + np.einsum("ij,ij->j", b, c) + np.einsum("ij,ij->j", c, a)
    return 2 * np.arctan2(num, den)


@pytest.mark.parametrize("source", ["synthetic", "aia171_full"])
def test_pixel_area_and_solid_angle_against_sunpy(source, real_fits):
    """Ω from the corners' directions (sunpy WCS) and A from the corners on the sphere (sunpy HGS)."""
    if source == "synthetic":
        sun = synthetic.SyntheticSun(seed=2, features=[], t0=T0, noise=False)
        smap = sun.continuum("2024-09-01", shape=96)  # B0 ≈ +7°, CROTA2 ≈ 180°
        ds = solarprep.load(smap, progress=False, north_up=False)
    else:
        ds = solarprep.load(real_fits[source], progress=False)
        smap = solarprep.to_maps(ds)[0]
    area = pixel_area(ds, device="cpu").values
    omega = solid_angle(ds, device="cpu").values
    ds = solarprep.disk_coordinates(ds, device="cpu")
    mu = ds["mu"].values
    rows, cols = np.nonzero(mu > 0.3)
    sky, _ = _corner_vectors(smap, rows.astype(float), cols.astype(float))
    # corners in order (0,0) (0,1) (1,0) (1,1)
    ref_omega = _spherical_triangle(sky[0], sky[1], sky[3]) + _spherical_triangle(sky[0], sky[3],
                                                                                  sky[2])
    np.testing.assert_allclose(omega[rows, cols], ref_omega, rtol=2e-6)
    # area: 4×4 sub-quadrilaterals of the footprint on the sphere (every 4th pixel)
    rows, cols = rows[::4], cols[::4]
    _, sun_pts = _corner_vectors(smap, rows.astype(float), cols.astype(float), sub=4)
    ref_area = _footprint_area(sun_pts, 4) / 1e12  # m² → Mm²
    rel = area[rows, cols] / ref_area - 1
    assert np.abs(rel).max() < 1e-3, np.abs(rel).max()
    assert abs(np.median(rel)) < 2e-4


def test_pixel_area_sums_to_the_visible_cap():
    ds, sun = synthetic_dataset(512)
    d = sun.truth(TIME)["observer"]["dsun_obs"]
    r = float(ds.attrs["rsun_ref"])
    mu_min = 0.2
    area = pixel_area(ds, mu_min=mu_min, device="cpu").values
    assert np.isnan(area[0, 0]) and np.isfinite(area[256, 256])

    def mu_of(psi):
        ell = math.sqrt(d * d + r * r - 2 * d * r * math.cos(psi))
        return (d * math.cos(psi) - r) / ell

    from scipy.optimize import brentq
    psi = brentq(lambda x: mu_of(x) - mu_min, 0, math.acos(r / d))
    cap = 2 * math.pi * (r / 1e6) ** 2 * (1 - math.cos(psi))
    assert np.nansum(area, dtype=np.float64) == pytest.approx(cap, rel=2e-3)
    # disk centre: Ω ℓ² with ℓ = d − R
    p = geometry_params(ds)[0]
    centre = abs(p[2] * p[5] - p[3] * p[4]) * ((d - r) / 1e6) ** 2
    assert np.nanmin(area) == pytest.approx(centre, rel=1e-3)


def test_foreshortening_correct_area_and_radial_field():
    ds, _ = synthetic_dataset(64)
    out = foreshortening_correct(ds, kind="area", mu_min=0.2, device="cpu")
    ref = solarprep.disk_coordinates(ds, device="cpu")["mu"].values
    v = out["intensity"].values[0]
    keep = ref >= 0.2
    np.testing.assert_allclose(v[keep], ds["intensity"].values[0][keep] / ref[keep], rtol=2e-6)
    assert np.all(np.isnan(v[~keep])) and not np.isinf(v).any()
    pa = out["pixel_area"]
    assert pa.attrs["units"] == "Mm2" and pa.attrs["cm2_per_unit"] == CM2_PER_MM2
    assert np.all(np.isnan(pa.values[~keep])) and np.all(np.isfinite(pa.values[keep]))
    assert "history" in out.attrs and "foreshortening_correct" in out.attrs["history"]
    b = foreshortening_correct(ds, kind="radial-field", mu_min=0.2, device="cpu")
    assert b["intensity"].attrs["long_name"].startswith("radial field")


def test_surface_kernels_twins_and_naive():
    """CPU and CUDA (simulator) surface kernels against a numpy construction from explicit angles."""
    ds, _ = synthetic_dataset(32)
    ds = ds.assign_coords(crval1=("time", [150.0]), crota2=("time", [23.0]))
    p = geometry_params(ds, 0.05)
    mu_ref, omega_ref, area_ref = naive_surface(p[0], 32, 32)
    image = np.random.default_rng(0).uniform(1, 2, (1, 32, 32)).astype(np.float32)
    results = {}
    for name, mod in (("cpu", kernels.cpu), ("cuda", kernels.cuda)):
        area = np.empty((1, 32, 32), np.float32)
        weight = np.empty((1, 32, 32), np.float32)
        out = np.empty_like(image)
        mod.surface_area(p, area)
        mod.solid_angle_weights(p, weight)
        mod.foreshortening(p, image, out)
        results[name] = (area, weight, out)
    keep = mu_ref >= 0.05
    for area, weight, out in results.values():
        np.testing.assert_allclose(area[0][keep], area_ref[keep], rtol=2e-5)
        np.testing.assert_allclose(weight[0][np.isfinite(mu_ref)], omega_ref[np.isfinite(mu_ref)],
                                   rtol=1e-6)
        np.testing.assert_allclose(out[0][keep], image[0][keep] / mu_ref[keep], rtol=2e-5)
        assert np.all(np.isnan(out[0][~keep]))
    for a, b in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(b, a, rtol=1e-5, equal_nan=True)


def test_total_unsigned_flux_synthetic_region():
    """Two Gaussian polarities of 1e22 Mx each: Σ|B_los/μ| A = 2e22 Mx (radial field)."""
    ar = synthetic.ActiveRegion(lat=12.0, lon=-25.0, flux=1e22)
    sun = synthetic.SyntheticSun(seed=1, features=[ar], t0=T0, network_rms=0.0, noise=False)
    ds = solarprep.load(sun.magnetogram(T0, shape=512), progress=False)
    flux = total_unsigned_flux(ds, device="cpu")
    assert flux.attrs["units"] == "Mx"
    assert float(flux[0]) == pytest.approx(2e22, rel=0.02)
    los = float(total_unsigned_flux(ds, kind="los", device="cpu")[0])
    mu_ar = np.cos(np.radians(25)) * np.cos(np.radians(12 - float(ds.hglt_obs[0])))
    assert los == pytest.approx(2e22 * mu_ar**2, rel=0.05)
    # the array form with the same μ and areas gives the same number; a mask selects a half
    ds = solarprep.disk_coordinates(ds, device="cpu")
    area = pixel_area(ds, device="cpu").values
    arr = total_unsigned_flux(ds["blos"].values[0], mu=ds["mu"].values, pixel_area=area)
    assert arr == pytest.approx(float(flux[0]), rel=1e-9)
    east = ds["hgs_lon"].values < -25.0
    half = total_unsigned_flux(ds["blos"].values[0], east, mu=ds["mu"].values, pixel_area=area)
    assert 0.3 < half / arr < 0.7


def test_total_unsigned_flux_ar11158(real_fits, caplog):
    """The real AR 11158 magnetogram (2011-02-14 20:34): of order 1e22 Mx, as published."""
    ds = solarprep.load(real_fits["hmi_blos"], progress=False)
    flux = float(total_unsigned_flux(ds, threshold=50.0, device="cpu")[0])
    flux_all = float(total_unsigned_flux(ds, device="cpu")[0])
    print(f"AR 11158 total unsigned flux: {flux:.3e} Mx (|B| > 50 G), {flux_all:.3e} Mx (all)")
    assert 1e22 < flux < 1e23
    assert flux < flux_all


def test_bad_inputs():
    ds, _ = synthetic_dataset(32)
    with pytest.raises(PhotometryError, match="kind='volume' is not one of"):
        foreshortening_correct(ds, kind="volume", device="cpu")
    with pytest.raises(PhotometryError, match=r"outside \(0, 1\]"):
        foreshortening_correct(ds, mu_min=0, device="cpu")
    with pytest.raises(PhotometryError, match="needs a magnetogram in G"):
        total_unsigned_flux(ds, device="cpu")
    with pytest.raises(PhotometryError, match="needs mu= and pixel_area="):
        total_unsigned_flux(np.ones((4, 4)))
    off = ds.assign(intensity=ds["intensity"].assign_attrs(units="G"))
    off = off.assign_coords(crval1=("time", [3000.0]))
    with pytest.raises(PhotometryError, match="off-disk cutout"):
        total_unsigned_flux(off, device="cpu")
