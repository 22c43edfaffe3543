"""Derotation: kernels against the NumPy reference, against sunpy, and against the synthetic truth."""
import dataclasses
import math

import astropy.units as u
import numpy as np
import pytest

import kernels
import solarprep
from solarprep import synthetic
from solarprep.coordinates.ephemeris import EphemerisError, as_time, earth_observer, stonyhurst_drift
from solarprep.coordinates.geometry import frame_geometries
from solarprep.coordinates.rotation import get_law
from solarprep.remap.derotation import derotate

from . import naive
from .test_kernels_disk import random_geometry

HOWARD = get_law("howard")


def _params(g_in, g_out, dt, drift, law=HOWARD):
    p = np.empty((1, 55))
    p[0, :25] = g_out.kernel_params()
    p[0, 25:50] = g_in.kernel_params()
    p[0, 50:52] = dt, drift
    p[0, 52:55] = law.A, law.B, law.C
    return p


def _case(seed, n=40):
    rng = np.random.default_rng(seed)
    g_in = random_geometry(rng, n)
    g_out = dataclasses.replace(g_in, hgln_obs=g_in.hgln_obs + rng.uniform(-3, 3),
                                dsun_obs=g_in.dsun_obs * rng.uniform(0.98, 1.02),
                                hglt_obs=float(np.clip(g_in.hglt_obs + rng.uniform(-1, 1),
                                                       -7.25, 7.25)))
    dt = rng.uniform(-3, 3) * 86400.0
    drift = math.radians(-0.9856 * dt / 86400.0)
    image = rng.uniform(1, 2, (n, n)).astype(np.float32)
    return g_in, g_out, dt, drift, image


@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize("seed", range(4))
def test_cpu_kernel_matches_numpy_reference(seed, order):
    g_in, g_out, dt, drift, image = _case(seed)
    out = np.empty((1,) + image.shape, np.float32)
    valid = np.empty(out.shape, bool)
    kernels.cpu.derotate(_params(g_in, g_out, dt, drift), image[None], out, valid, order)
    ref = naive.derotate(image.astype(float), g_in, g_out, dt, drift,
                         (HOWARD.A, HOWARD.B, HOWARD.C), order)
    both = np.isfinite(out[0]) & np.isfinite(ref)
    assert np.count_nonzero(np.isfinite(out[0]) != np.isfinite(ref)) <= 2
    assert both.sum() > 50, "the random case should overlap the disk"
    np.testing.assert_allclose(out[0][both], ref[both], rtol=2e-6, atol=2e-6)
    assert np.array_equal(valid[0] & np.isfinite(image).all(), np.isfinite(out[0]))


@pytest.mark.parametrize("order", [1, 3])
def test_cuda_twin_matches_cpu_in_simulator(order):
    frames = [_case(10 + k, n=24) for k in range(2)]
    p = np.concatenate([_params(g_in, g_out, dt, drift) for g_in, g_out, dt, drift, _ in frames])
    image = np.stack([f[4] for f in frames])
    outs = []
    for device in ("cpu", "cuda"):
        out = np.full(image.shape, -1.0, np.float32)
        valid = np.zeros(image.shape, bool)
        kernels.get("derotate", device)(p, image, out, valid, order)
        outs.append((out, valid))
    (a, va), (b, vb) = outs
    assert np.array_equal(va, vb)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-5)


def test_identity_when_nothing_moves():
    """Δt = 0 and the same observer: every on-disk pixel maps onto itself."""
    g, _, _, _, image = _case(3)
    out = np.empty((1,) + image.shape, np.float32)
    valid = np.empty(out.shape, bool)
    kernels.cpu.derotate(_params(g, g, 0.0, 0.0), image[None], out, valid, 1)
    mu = naive.disk_coordinates(g, *image.shape)[0]
    inner = mu > 0.05
    np.testing.assert_allclose(out[0][inner], image[inner], rtol=1e-6)


# ----------------------------------------------------------------------------- Datasets

@pytest.fixture(scope="module")
def synthetic_sun():
    return synthetic.SyntheticSun(seed=7, noise=False)


def _load_synthetic(sun, tmp_path_factory, shape, kinds=("continuum",), times=None):
    folder = tmp_path_factory.mktemp("derot")
    paths = sun.write_observations(folder, kinds=kinds, times=times or [sun.t0], shape=shape)
    return solarprep.load(paths, progress=False)


def _sunpy_reference(ds, out, order):
    from sunpy.coordinates import propagate_with_solar_surface

    m_in = solarprep.to_maps(ds)[0]
    m_out = solarprep.to_maps(out)[0]
    if order == 3:
        # reproject's order 3 is a cubic B-spline whose prefilter spreads any NaN over the
        # whole image: give it zeros off the disk (ours is Keys' cubic convolution).
        m_in = m_in._new_instance(np.nan_to_num(m_in.data), m_in.meta)
    with propagate_with_solar_surface(rotation_model="howard"):
        return m_in.reproject_to(m_out.wcs, algorithm="interpolation", order=order,
                                 roundtrip_coords=False).data


def _median_relative_difference(ours, ref, mu, mu_min=0.2):
    both = np.isfinite(ours) & np.isfinite(ref) & (mu > mu_min)
    assert both.sum() > 0.5 * (mu > mu_min).sum() * 0.5
    return float(np.median(np.abs(ours[both] - ref[both]) / np.abs(ref[both])))


@pytest.mark.parametrize("hours", [6, 24, 72])
def test_matches_sunpy_on_real_aia(real_fits, hours):
    ds = solarprep.load(real_fits["aia171_full"], progress=False)
    target = as_time(ds["time"].values[0]) + hours * u.hour
    out = derotate(ds, target, device="cpu")
    ref = _sunpy_reference(ds, out, 1)
    mu = solarprep.disk_coordinates(out, device="cpu")["mu"].values
    assert _median_relative_difference(out["euv171"].values[0], ref, mu) < 1e-3


@pytest.mark.parametrize("hours,order", [(6, 1), (24, 1), (72, 1), (24, 3)])
def test_matches_sunpy_on_synthetic_1024(synthetic_sun, tmp_path_factory, hours, order):
    ds = _synthetic_1024(synthetic_sun, tmp_path_factory)
    out = derotate(ds, synthetic_sun.t0 + hours * u.hour, order=order, device="cpu")
    ref = _sunpy_reference(ds, out, order)
    mu = solarprep.disk_coordinates(out, device="cpu")["mu"].values
    assert _median_relative_difference(out["intensity"].values[0], ref, mu) < 1e-3


_CACHE = {}


def _synthetic_1024(sun, tmp_path_factory):
    if "ds" not in _CACHE:
        _CACHE["ds"] = _load_synthetic(sun, tmp_path_factory, 1024)
    return _CACHE["ds"]


def test_far_side_is_nan_where_sunpy_sees_through(synthetic_sun, tmp_path_factory):
    """sunpy's reproject maps far-side points onto the image; ours gives NaN there."""
    ds = _load_synthetic(synthetic_sun, tmp_path_factory, 128)
    out = derotate(ds, synthetic_sun.t0 + 1 * u.day, device="cpu")
    mu = solarprep.disk_coordinates(out, device="cpu")["mu"].values
    ours = out["intensity"].values[0]
    ref = _sunpy_reference(ds, out, 1)
    extra = np.isfinite(ref) & ~np.isfinite(ours)
    assert extra.any()
    assert np.nanmax(mu[extra]) < 0.25  # only a strip along the east limb
    assert not out["valid"].values[0][extra].any()
    cols = np.nonzero(extra)[1]
    assert cols.max() < 64  # east (left) half: material that was behind the east limb


# ----------------------------------------------------------------------------- truth

def _spot_centroid(contrast):
    deficit = 1.0 - contrast
    deficit[~np.isfinite(deficit) | (deficit < 0.05)] = 0
    rows, cols = np.indices(contrast.shape)
    w = deficit.sum()
    assert w > 0
    return (cols * deficit).sum() / w, (rows * deficit).sum() / w


@pytest.mark.parametrize("days", [1, 5])
def test_spot_lands_on_its_true_position(tmp_path_factory, days):
    """The derotated spot sits where the Sun rendered at the target time has it (< 0.1 px).

    Contrast images (spotted / unspotted Sun, each derotated or rendered alike) remove
    the limb darkening, which derotation carries along with the surface.
    """
    spot = synthetic.Sunspot(lat=12.0, lon=-35.0, radius=1.2, name="test spot")
    spotted = synthetic.SyntheticSun(seed=1, features=[spot], noise=False, network_rms=0.0)
    quiet = synthetic.SyntheticSun(seed=1, features=[], noise=False, network_rms=0.0)
    t1 = spotted.t0 + days * u.day
    centroids = []
    for derotated in (True, False):
        times = [spotted.t0] if derotated else [t1]
        s_ds = _load_synthetic(spotted, tmp_path_factory, 512, times=times)
        q_ds = _load_synthetic(quiet, tmp_path_factory, 512, times=times)
        if derotated:
            s_ds, q_ds = (derotate(d, t1, device="cpu") for d in (s_ds, q_ds))
        centroids.append(_spot_centroid(s_ds["intensity"].values[0] / q_ds["intensity"].values[0]))
    (cx, cy), (tx, ty) = centroids
    assert math.hypot(cx - tx, cy - ty) < 0.1
    # and the rendered spot is where the truth projects into the target frame
    truth1 = spotted.truth(t1)["features"][0]
    col1, row1, _ = naive.world_to_pixel(frame_geometries(s_ds)[0], truth1["lat"], truth1["lon"])
    assert math.hypot(tx - col1, ty - row1) < 0.5


def test_point_mapping_follows_the_law_exactly(tmp_path_factory):
    """The pixel showing the truth position at t1 is sent to the truth position at t0."""
    import numba

    from kernels._remap_math import compile_for

    derotate_source = compile_for(numba.njit)[0]
    spot = synthetic.Sunspot(lat=-25.0, lon=10.0, radius=0.5)
    sun = synthetic.SyntheticSun(seed=2, features=[spot], noise=False)
    ds0 = _load_synthetic(sun, tmp_path_factory, 256)
    for days in (1, 5):
        t1 = sun.t0 + days * u.day
        out = derotate(ds0, t1, device="cpu")
        g_out = frame_geometries(out)[0]
        g_in = frame_geometries(ds0)[0]
        f0, f1 = sun.truth(sun.t0)["features"][0], sun.truth(t1)["features"][0]
        col1, row1, vis1 = naive.world_to_pixel(g_out, f1["lat"], f1["lon"])
        col0, row0, vis0 = naive.world_to_pixel(g_in, f0["lat"], f0["lon"])
        assert vis0 and vis1
        p = np.empty(55)
        p[:25], p[25:50] = g_out.kernel_params(), g_in.kernel_params()
        p[50] = (t1 - sun.t0).to_value("s")
        p[51] = math.radians(stonyhurst_drift(sun.t0, t1)[0])
        p[52:55] = HOWARD.A, HOWARD.B, HOWARD.C
        x, y = derotate_source(float(row1), float(col1), p)
        assert math.hypot(x - col0, y - row0) < 1e-3
        assert out.attrs["derotation_law"] == "howard"


# ----------------------------------------------------------------------------- API

def test_output_dataset_describes_the_target(synthetic_sun, tmp_path_factory):
    ds = _load_synthetic(synthetic_sun, tmp_path_factory, 64,
                         times=[synthetic_sun.t0, synthetic_sun.t0 + 1 * u.hour])
    ds = solarprep.disk_coordinates(ds, device="cpu")
    target = synthetic_sun.t0 + 3 * u.hour
    out = derotate(ds, target, device="cpu")
    solarprep.validate(out)
    assert "mu" not in out.coords  # stale geometry dropped
    assert (out["time"].values == np.datetime64(target.utc.datetime, "ns")).all()
    np.testing.assert_array_equal(out["source_time"].values, ds["time"].values)
    assert out["valid"].dtype == bool and out["valid"].dims == ("time", "y", "x")
    assert out["intensity"].dtype == np.float32
    earth = earth_observer(target)
    np.testing.assert_allclose(out["dsun_obs"].values, earth[0][0])
    assert "derotate(" in out.attrs["history"]


def test_per_frame_targets_and_synodic_option(synthetic_sun, tmp_path_factory):
    ds = _load_synthetic(synthetic_sun, tmp_path_factory, 64,
                         times=[synthetic_sun.t0, synthetic_sun.t0 + 2 * u.hour])
    targets = [synthetic_sun.t0 + 1 * u.day, synthetic_sun.t0 + 2 * u.day]
    out = derotate(ds, targets, device="cpu")
    assert list(out["time"].values) == [np.datetime64(t.utc.datetime, "ns") for t in targets]
    syn = derotate(ds, targets, frame_time="synodic", device="cpu")
    a, b = out["intensity"].values, syn["intensity"].values
    both = np.isfinite(a) & np.isfinite(b)
    # the two conventions differ by < 0.05 deg/day: tiny but not zero
    assert 0 < np.median(np.abs(a[both] - b[both]) / b[both]) < 1e-2
    with pytest.raises(ValueError, match="one target time or one per frame"):
        derotate(ds, targets * 2, device="cpu")


def test_custom_law_with_units(synthetic_sun, tmp_path_factory):
    ds = _load_synthetic(synthetic_sun, tmp_path_factory, 64)
    law = (14.1844 * u.deg / u.day, 0 * u.deg / u.day, 0 * u.deg / u.day)
    a = derotate(ds, synthetic_sun.t0 + 1 * u.day, model=law, device="cpu")
    b = derotate(ds, synthetic_sun.t0 + 1 * u.day, model="rigid", device="cpu")
    np.testing.assert_allclose(a["intensity"].values, b["intensity"].values, rtol=1e-6)


# ----------------------------------------------------------------------------- bad input

def test_half_a_rotation_later_only_a_polar_cap_remains(synthetic_sun, tmp_path_factory):
    """After half a synodic rotation the two visible hemispheres share only the cap around
    the pole tilted towards the observer (B0 ≠ 0): everything else is NaN."""
    ds = _load_synthetic(synthetic_sun, tmp_path_factory, 64)
    out = derotate(ds, synthetic_sun.t0 + 13.6 * u.day, model="rigid", device="cpu")
    lat = solarprep.disk_coordinates(out, device="cpu")["hgs_lat"].values
    valid = out["valid"].values[0]
    assert 0 < valid.sum() < 0.05 * np.isfinite(lat).sum()
    b0 = float(out["hglt_obs"].values[0])
    assert np.all(np.sign(lat[valid]) == np.sign(b0)) and np.all(np.abs(lat[valid]) > 60)


def test_cutout_whose_region_left_the_disk(real_fits):
    ds = solarprep.load(real_fits["hmi_blos"], progress=False)
    t0 = as_time(ds["time"].values[0])
    with pytest.raises(solarprep.SolarDataError, match="rotated off the disk"):
        derotate(ds, t0 + 6 * u.day, device="cpu")


def test_stereo_target_observer_needs_an_ephemeris(real_fits):
    ds = solarprep.load(real_fits["euvi_a"], progress=False)
    t0 = as_time(ds["time"].values[0])
    with pytest.raises(EphemerisError, match="no ephemeris"):
        derotate(ds, t0 + 6 * u.hour, device="cpu")
    out = derotate(ds, t0 + 6 * u.hour, observer="same", device="cpu")
    assert np.isfinite(out["euv171"].values).any()


def test_integer_images_are_refused(synthetic_sun, tmp_path_factory):
    ds = _load_synthetic(synthetic_sun, tmp_path_factory, 32)
    ds["intensity"] = ds["intensity"].fillna(0).astype(np.int16)
    with pytest.raises(Exception, match="float"):
        derotate(ds, synthetic_sun.t0 + 1 * u.hour, device="cpu")


def test_nan_frame_gives_nan_output_with_geometry_valid(synthetic_sun, tmp_path_factory):
    ds = _load_synthetic(synthetic_sun, tmp_path_factory, 32,
                         times=[synthetic_sun.t0, synthetic_sun.t0 + 1 * u.hour])
    values = ds["intensity"].values.copy()
    values[1] = np.nan
    ds["intensity"] = ds["intensity"].copy(data=values)
    out = derotate(ds, synthetic_sun.t0 + 6 * u.hour, device="cpu")
    assert np.isnan(out["intensity"].values[1]).all()
    assert out["valid"].values[1].any()  # the geometry was fine: the data were missing
    assert np.isfinite(out["intensity"].values[0]).any()


def test_bad_order():
    with pytest.raises(ValueError, match="order must be 1"):
        kernels.cpu.derotate(np.zeros((1, 55)), np.zeros((1, 4, 4), np.float32),
                             np.zeros((1, 4, 4), np.float32), np.zeros((1, 4, 4), bool), 2)


@pytest.mark.real_gpu  # 512² frames: too large for the CUDA simulator
@pytest.mark.parametrize("order", [1, 3])
def test_gpu_matches_cpu(synthetic_sun, tmp_path_factory, order):
    """CuPy path end to end (device-resident output) against the CPU, 1e-5 relative."""
    import cupy

    ds = _load_synthetic(synthetic_sun, tmp_path_factory, 512,
                         times=[synthetic_sun.t0, synthetic_sun.t0 + 3 * u.hour])
    rng = np.random.default_rng(0)
    ds["intensity"] = ds["intensity"] * rng.uniform(0.5, 1.5, ds["intensity"].shape).astype(
        np.float32)
    target = synthetic_sun.t0 + 1 * u.day
    cpu = derotate(ds, target, order=order, device="cpu")
    gpu = derotate(ds, target, order=order, device="cuda")
    assert isinstance(gpu["intensity"].data, cupy.ndarray)
    a, b = cpu["intensity"].values, gpu["intensity"].data.get()
    assert np.array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(b[np.isfinite(b)], a[np.isfinite(a)], rtol=1e-5)
    assert np.array_equal(cpu["valid"].values, gpu["valid"].data.get())
