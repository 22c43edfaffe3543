"""disk_coordinates against sunpy/astropy on the real files, and its invariants."""
import warnings

import astropy.units as u
import numpy as np
import pytest
import sunpy.map
from sunpy.coordinates import HeliographicStonyhurst
from sunpy.map.maputils import all_coordinates_from_map

import solarprep
from solarprep.coordinates.geometry import FrameGeometry, GeometryError, frame_geometries


def sunpy_reference(smap):
    """μ, lat, lon (deg) and on-disk mask of every pixel, through astropy's frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hgs = all_coordinates_from_map(smap).transform_to(
            HeliographicStonyhurst(obstime=smap.reference_date))
    observer = smap.observer_coordinate.transform_to(hgs.frame)
    p = hgs.cartesian.xyz.to_value(u.m)
    o = observer.cartesian.xyz.to_value(u.m)[:, None, None]
    v = o - p
    mu = (p * v).sum(0) / (np.sqrt((p**2).sum(0)) * np.sqrt((v**2).sum(0)))
    return mu, hgs.lat.deg, hgs.lon.wrap_at(180 * u.deg).deg, np.isfinite(hgs.lat.deg)


@pytest.mark.parametrize("north_up", [True, False])
@pytest.mark.parametrize("key", ["aia171_full", "aia171_cutout", "hmi_blos", "hmi_ic",
                                 "euvi_a", "euvi_b"])
def test_matches_sunpy_on_real_files(real_fits, key, north_up):
    smap = sunpy.map.Map(real_fits[key])
    ds = solarprep.disk_coordinates(solarprep.load(real_fits[key], north_up=north_up),
                                    device="cpu")
    mu, lat, lon, on = sunpy_reference(smap)
    if north_up and key.startswith("hmi"):  # HMI (CROTA2 ≈ 180°) was turned by 180° on load
        assert abs(float(ds["crota2"][0])) < 1.0
        mu, lat, lon, on = (a[::-1, ::-1] for a in (mu, lat, lon, on))
    assert ds["mu"].dims == ("y", "x")
    np.testing.assert_array_equal(ds["on_disk"].values, on)
    assert on.sum() > 1000
    assert np.abs(ds["mu"].values[on] - mu[on]).max() < 1e-6
    assert np.abs(ds["hgs_lat"].values[on] - lat[on]).max() < 1e-4
    dlon = (ds["hgs_lon"].values[on] - lon[on] + 180) % 360 - 180
    assert np.abs(dlon).max() < 1e-4
    assert np.isnan(ds["mu"].values[~on]).all()


def test_mu_is_not_orthographic(real_fits):
    """μ is exact for the finite observer distance, not the orthographic √(1 − ρ²)."""
    ds = solarprep.disk_coordinates(solarprep.load(real_fits["aia171_full"]), device="cpu")
    geom = frame_geometries(ds)[0]
    xx, yy = np.meshgrid(ds["x"].values, ds["y"].values)
    rho = np.hypot(xx, yy) / geom.rsun_obs  # unrotated near disk centre: x, y ≈ Tx, Ty
    ortho = np.sqrt(np.clip(1 - rho**2, 0, None))
    on = ds["on_disk"].values & (rho < 1)
    diff = np.abs(ds["mu"].values - ortho)[on]
    assert diff.max() > 1e-3          # the difference is real near the limb ...
    assert diff[ortho[on] > 0.9].max() < 1e-3  # ... and small near disk centre


def test_known_points():
    """Disk centre lands at (B0, L0) with μ = 1; a point one radius out is off the disk."""
    geom = FrameGeometry(crpix1=51, crpix2=51, crval1=0, crval2=0, cdelt1=20, cdelt2=20,
                         crota2=30, dsun_obs=1.5e11, hgln_obs=12.0, hglt_obs=-5.0)
    from kernels import cpu
    from solarprep.coordinates.geometry import kernel_params

    out = [np.empty((1, 101, 101), np.float32) for _ in range(3)]
    mask = np.empty((1, 101, 101), bool)
    cpu.disk_coordinates(kernel_params([geom]), *out, mask)
    mu, lat, lon = (a[0] for a in out)
    assert mu[50, 50] == pytest.approx(1.0, abs=1e-7)
    assert lat[50, 50] == pytest.approx(-5.0, abs=1e-5)
    assert lon[50, 50] == pytest.approx(12.0, abs=1e-5)
    assert not mask[0, 50, 0] and not mask[0, 0, 0]


def test_varying_geometry_gives_3d_coordinates(real_fits):
    smap = sunpy.map.Map(real_fits["aia171_full"])
    later = smap.meta.copy()
    later["date-obs"] = "2011-02-15T06:00:00.34"
    later["t_obs"] = "2011-02-15T06:00:01.34Z"      # AIA: the frame time is T_OBS
    later["crpix1"] = smap.meta["crpix1"] + 1.5
    stack = solarprep.load([smap, sunpy.map.Map(smap.data, later)])
    ds = solarprep.disk_coordinates(stack, device="cpu")
    assert ds["mu"].dims == ("time", "y", "x")
    one = solarprep.disk_coordinates(stack.isel(time=[1]), device="cpu")
    np.testing.assert_array_equal(ds["mu"].values[1], one["mu"].values)
    assert "disk_coordinates" in ds.attrs["history"]


def test_north_up_gives_true_helioprojective_labels(real_fits):
    """AR 11158 lay south-west of disk centre: after turning, x > 0 and y < 0 as on the Sun."""
    smap = sunpy.map.Map(real_fits["hmi_blos"])
    ds = solarprep.load(real_fits["hmi_blos"])
    np.testing.assert_array_equal(ds["blos"].values[0], smap.data[::-1, ::-1].astype(np.float32))
    centre = smap.pixel_to_world(*(np.array(smap.data.shape[::-1]) / 2 - 0.5) * u.pix)
    assert centre.Tx.arcsec > 0 and centre.Ty.arcsec < 0
    x_mid = float(ds["x"].values[ds.sizes["x"] // 2])
    y_mid = float(ds["y"].values[ds.sizes["y"] // 2])
    assert abs(x_mid - centre.Tx.arcsec) < 2 and abs(y_mid - centre.Ty.arcsec) < 2
    assert "turned 1 frame(s) by 180 deg" in ds.attrs["history"]


def test_non_solar_wcs_is_refused(real_fits):
    smap = sunpy.map.Map(real_fits["aia171_full"])
    meta = smap.meta.copy()
    meta["ctype1"], meta["ctype2"] = "RA---TAN", "DEC--TAN"
    with pytest.raises(GeometryError, match="not helioprojective"):
        FrameGeometry.from_map(sunpy.map.Map(smap.data, meta))


def test_missing_geometry_coordinates(real_fits):
    ds = solarprep.load(real_fits["aia171_full"]).drop_vars("crota2")
    with pytest.raises(GeometryError, match=r"lacks the geometry coordinates \['crota2'\]"):
        solarprep.disk_coordinates(ds, device="cpu")


@pytest.mark.real_gpu  # 128² frames: minutes in the CUDA simulator
def test_cuda_matches_cpu_and_stays_on_device(real_fits):
    cupy = pytest.importorskip("cupy")
    ds = solarprep.load(real_fits["aia171_cutout"], device="cpu")
    cpu = solarprep.disk_coordinates(ds, device="cpu")
    gpu = solarprep.disk_coordinates(ds, device="cuda")
    assert isinstance(gpu["mu"].data, cupy.ndarray)
    for name in ("mu", "hgs_lat", "hgs_lon"):
        np.testing.assert_allclose(gpu[name].data.get(), cpu[name].values, rtol=1e-5, atol=1e-5,
                                   equal_nan=True)
    np.testing.assert_array_equal(gpu["on_disk"].data.get(), cpu["on_disk"].values)
