"""Tracking: map projections and kernels against NumPy, a co-rotating synthetic spot, bad input."""
import math

import astropy.units as u
import numpy as np
import pytest

import kernels
import solarprep
from solarprep import synthetic
from solarprep.remap.tracking import _basis, map_coordinates, track

from . import naive
from .test_kernels_disk import random_geometry


def naive_postel(u_rad, v_rad, lat0):
    """Inverse azimuthal equidistant projection (Snyder 1987, eqs. 20-14 and 20-15)."""
    rho = np.hypot(u_rad, v_rad)
    safe = np.where(rho > 0, rho, 1.0)
    lat = np.where(rho > 0, np.arcsin(np.cos(rho) * np.sin(lat0)
                                      + v_rad * np.sin(rho) * np.cos(lat0) / safe), lat0)
    dlon = np.arctan2(u_rad * np.sin(rho),
                      safe * np.cos(lat0) * np.cos(rho) - v_rad * np.sin(lat0) * np.sin(rho))
    return np.rad2deg(lat), np.rad2deg(np.where(rho > 0, dlon, 0.0))


def naive_map(projection, u_rad, v_rad, lat0):
    if projection == 0:
        return naive_postel(u_rad, v_rad, lat0)
    if projection == 1:
        s = np.sin(lat0) + v_rad
        lat = np.where(np.abs(s) <= 1, np.rad2deg(np.arcsin(np.clip(s, -1, 1))), np.nan)
        return lat, np.rad2deg(u_rad)
    lat = np.rad2deg(lat0 + v_rad)
    return np.where(np.abs(lat) <= 90, lat, np.nan), np.rad2deg(u_rad)


def _track_case(seed, projection, n_in=48, n_out=20):
    rng = np.random.default_rng(seed)
    geom = random_geometry(rng, n_in)
    # centre near the middle of what this geometry sees
    _, lat, lon, on = naive.disk_coordinates(geom, n_in, n_in)
    k = rng.choice(np.flatnonzero(on.ravel() & (np.abs(lat.ravel()) < 60)))
    lat0, lon_c = math.radians(lat.ravel()[k]), math.radians(lon.ravel()[k])
    scale = math.radians(rng.uniform(0.3, 1.5))
    p = np.empty((1, 42))
    p[0, :25] = geom.kernel_params()
    p[0, 25] = projection
    p[0, 26:28] = scale
    p[0, 28:30] = (n_out - 1) / 2.0
    p[0, 30:39] = _basis(lat0, np.array([lon_c]))[0]
    p[0, 39:42] = math.sin(lat0), lat0, lon_c
    image = rng.uniform(1, 2, (1, n_in, n_in)).astype(np.float32)
    return geom, p, image, lat0, lon_c, scale


@pytest.mark.parametrize("projection", [0, 1, 2])
@pytest.mark.parametrize("order", [1, 3])
def test_cpu_kernel_matches_numpy_reference(projection, order):
    n_out = 20
    geom, p, image, lat0, lon_c, scale = _track_case(projection, projection, n_out=n_out)
    out = np.empty((1, n_out, n_out), np.float32)
    valid = np.empty(out.shape, bool)
    kernels.cpu.track(p, image, out, valid, order)
    idx = (np.arange(n_out) - (n_out - 1) / 2.0) * scale
    u_rad, v_rad = np.meshgrid(idx, idx)
    lat, dlon = naive_map(projection, u_rad, v_rad, lat0)
    col, row, visible = naive.world_to_pixel(geom, lat, math.degrees(lon_c) + dlon)
    col = np.where(visible, col, np.nan)
    ref = naive.interpolate(image[0].astype(float), col, row, order)
    assert np.count_nonzero(np.isfinite(ref) != np.isfinite(out[0])) <= 1
    both = np.isfinite(ref) & np.isfinite(out[0])
    assert both.sum() > 20
    np.testing.assert_allclose(out[0][both], ref[both], rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("projection", ["postel", "cea", "plate-carree"])
def test_map_coordinates_match_the_reference(projection):
    code = {"postel": 0, "cea": 1, "plate-carree": 2}[projection]
    lat0, scale = math.radians(23.0), math.radians(0.7)
    lat, dlon = map_coordinates(projection, lat0, scale, (31, 41))
    idx_x = (np.arange(41) - 20) * scale
    idx_y = (np.arange(31) - 15) * scale
    u_rad, v_rad = np.meshgrid(idx_x, idx_y)
    ref_lat, ref_dlon = naive_map(code, u_rad, v_rad, lat0)
    np.testing.assert_allclose(lat, ref_lat, atol=1e-9)
    np.testing.assert_allclose(dlon, ref_dlon, atol=1e-9)


@pytest.mark.parametrize("order", [1, 3])
def test_cuda_twin_matches_cpu_in_simulator(order):
    cases = [_track_case(20 + k, k % 3, n_in=32, n_out=16) for k in range(2)]
    p = np.concatenate([c[1] for c in cases])
    image = np.concatenate([c[2] for c in cases])
    results = []
    for device in ("cpu", "cuda"):
        out = np.full((2, 16, 16), -1, np.float32)
        valid = np.zeros(out.shape, bool)
        kernels.get("track", device)(p, image, out, valid, order)
        results.append((out, valid))
    (a, va), (b, vb) = results
    assert np.array_equal(va, vb) and np.array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-5)


# ----------------------------------------------------------------------------- Datasets

def _observe(sun, tmp_path, times, shape=512, kinds=("continuum",)):
    paths = sun.write_observations(tmp_path, kinds=kinds, times=times, shape=shape)
    return solarprep.load(paths, progress=False)


def test_tracked_spot_stays_put_for_eight_hours(tmp_path):
    """A spot moving with the Snodgrass law, tracked at the Snodgrass rate: centroid < 0.2 px."""
    spot = synthetic.Sunspot(lat=15.0, lon=-20.0, radius=1.0, name="tracked")
    spotted = synthetic.SyntheticSun(seed=3, law="snodgrass", features=[spot], noise=False,
                                     network_rms=0.0)
    quiet = synthetic.SyntheticSun(seed=3, law="snodgrass", features=[], noise=False,
                                   network_rms=0.0)
    times = spotted.t0 + np.arange(0, 9, 2) * u.hour
    center = (15.0 * u.deg, -20.0 * u.deg)
    cubes = []
    for sun, name in ((spotted, "s"), (quiet, "q")):
        ds = _observe(sun, tmp_path / name, times)
        cubes.append(track(ds, center, 64, 0.1, frame="stonyhurst", reference_time=spotted.t0,
                           rate="snodgrass", device="cpu"))
    contrast = cubes[0]["intensity"].values / cubes[1]["intensity"].values
    deficit = np.clip(1 - contrast, 0, None)
    deficit[~np.isfinite(deficit) | (deficit < 0.05)] = 0
    rows, cols = np.indices(deficit.shape[1:])
    cx = (deficit * cols).sum(axis=(1, 2)) / deficit.sum(axis=(1, 2))
    cy = (deficit * rows).sum(axis=(1, 2)) / deficit.sum(axis=(1, 2))
    assert np.hypot(cx - 31.5, cy - 31.5).max() < 0.2
    out = cubes[0]
    solarprep.validate(out)
    assert out.attrs["projection"] == "postel" and out.attrs["tracking_rate"] == "snodgrass"
    assert np.all(np.diff(out["center_hgs_lon"].values) > 0)  # the centre moves west


def test_tracked_latitude_image_equals_the_lat_coordinate(tmp_path):
    """Track an 'image' whose values are the Stonyhurst latitude: it must equal ``lat``."""
    sun = synthetic.SyntheticSun(seed=4, features=[], noise=False)
    ds = _observe(sun, tmp_path, [sun.t0], shape=256)
    geo = solarprep.disk_coordinates(ds, device="cpu")
    ds["intensity"] = ds["intensity"].copy(data=geo["hgs_lat"].values[None].astype(np.float32))
    for projection in ("postel", "cea", "plate-carree"):
        out = track(ds, (30 * u.deg, 10 * u.deg), (40, 50), 0.5, frame="stonyhurst",
                    projection=projection, order=1, device="cpu")
        got = out["intensity"].values[0]
        ok = np.isfinite(got)
        assert ok.mean() > 0.9
        np.testing.assert_allclose(got[ok], out["lat"].values[ok], atol=0.05)


def test_scale_as_surface_length_and_carrington_centre(tmp_path):
    sun = synthetic.SyntheticSun(seed=5, features=[], noise=False)
    ds = _observe(sun, tmp_path, [sun.t0], shape=128)
    from astropy.coordinates import SkyCoord
    from sunpy.coordinates import HeliographicCarrington

    centre = SkyCoord(100 * u.deg, 10 * u.deg, frame=HeliographicCarrington(
        obstime=sun.t0, observer="earth"))
    out = track(ds, centre, 16, 1.2 * u.Mm / u.pix, device="cpu")
    np.testing.assert_allclose(out.attrs["map_scale_Mm"], 1.2)
    lat, lon = 10 * u.deg, 100 * u.deg
    again = track(ds, (lat, lon), 16, 1.2 * u.Mm / u.pix, reference_time=sun.t0, device="cpu")
    np.testing.assert_allclose(out["intensity"].values, again["intensity"].values, equal_nan=True)


def test_bad_input(tmp_path):
    sun = synthetic.SyntheticSun(seed=6, features=[], noise=False)
    ds = _observe(sun, tmp_path, [sun.t0, sun.t0 + 10 * u.day], shape=64)
    with pytest.raises(solarprep.SolarDataError, match="off the visible disk"):
        track(ds, (0 * u.deg, 40 * u.deg), 8, 0.5, frame="stonyhurst",
              reference_time=sun.t0, device="cpu")
    with pytest.raises(ValueError, match="unknown projection"):
        track(ds, (0, 0), 8, 0.5, projection="mercator", device="cpu")
    with pytest.raises(ValueError, match="map scale"):
        track(ds, (0, 0), 8, 3 * u.s, device="cpu")
    with pytest.raises(ValueError, match="frame must be"):
        track(ds, (0, 0), 8, 0.5, frame="galactic", device="cpu")


@pytest.mark.real_gpu  # 512² frames: too large for the CUDA simulator
def test_gpu_matches_cpu(tmp_path):
    import cupy

    sun = synthetic.SyntheticSun(seed=8, noise=False)
    ds = _observe(sun, tmp_path, sun.t0 + np.arange(4) * u.hour, shape=512)
    kwargs = dict(center=(10 * u.deg, 5 * u.deg), shape=128, scale=0.1, frame="stonyhurst")
    cpu = track(ds, device="cpu", **kwargs)
    gpu = track(ds, device="cuda", **kwargs)
    assert isinstance(gpu["intensity"].data, cupy.ndarray)
    a, b = cpu["intensity"].values, gpu["intensity"].data.get()
    assert np.array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(b[np.isfinite(b)], a[np.isfinite(a)], rtol=1e-5)
