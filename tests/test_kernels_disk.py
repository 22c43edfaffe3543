"""The disk-geometry kernels against the NumPy reference, on random geometries."""
import numpy as np
import pytest

import kernels
from solarprep.coordinates.geometry import FrameGeometry

from . import naive


def random_geometry(rng, n):
    """A random but valid helioprojective geometry whose field holds part of the disk."""
    dsun = rng.uniform(0.3, 1.1) * 1.495978707e11
    rsun_arcsec = np.rad2deg(np.arcsin(6.957e8 / dsun)) * 3600
    cdelt = rng.uniform(1.5, 3.0) * rsun_arcsec / n
    return FrameGeometry(
        crpix1=rng.uniform(0, n), crpix2=rng.uniform(0, n),
        crval1=rng.uniform(-0.5, 0.5) * rsun_arcsec, crval2=rng.uniform(-0.5, 0.5) * rsun_arcsec,
        cdelt1=cdelt, cdelt2=cdelt * rng.uniform(0.9, 1.1), crota2=rng.uniform(-180, 180),
        dsun_obs=dsun, hgln_obs=rng.uniform(-180, 180), hglt_obs=rng.uniform(-7.25, 7.25),
        rsun_ref=6.957e8)


def _run(device, params, shape, xp=np):
    n = params.shape[0]
    out = [xp.empty((n,) + shape, np.float32) for _ in range(3)]
    mask = xp.empty((n,) + shape, np.bool_)
    kernels.get("disk_coordinates", device)(xp.asarray(params), *out, mask)
    return [np.asarray(a.get() if hasattr(a, "get") else a) for a in (*out, mask)]


def _check(results, geoms, shape):
    mu, lat, lon, on = results
    for t, geom in enumerate(geoms):
        rmu, rlat, rlon, ron = naive.disk_coordinates(geom, *shape)
        assert on[t].any() and (~on[t]).any(), "the random field should straddle the limb"
        # pixels grazing the limb may fall either side of it in rounding: ignore μ < 1e-4
        clear = ron & (rmu > 1e-4) | ~ron
        np.testing.assert_array_equal(on[t][clear], ron[clear])
        both = on[t] & ron
        np.testing.assert_allclose(mu[t][both], rmu[both], atol=2e-7, rtol=0)
        np.testing.assert_allclose(lat[t][both], rlat[both], atol=2e-5, rtol=0)
        dlon = (lon[t][both] - rlon[both] + 180) % 360 - 180
        assert np.abs(dlon).max() < 2e-5
        assert np.isnan(mu[t][~on[t]]).all() and np.isnan(lat[t][~on[t]]).all()


@pytest.mark.parametrize("seed", range(4))
def test_cpu_matches_reference(seed):
    rng = np.random.default_rng(seed)
    shape = (96, 80)
    geoms = [random_geometry(rng, 90) for _ in range(3)]
    params = np.stack([g.kernel_params() for g in geoms])
    _check(_run("cpu", params, shape), geoms, shape)


def test_cuda_twin_matches_cpu():
    """numba.cuda twin: under the simulator in CI (tiny input), on the GPU where there is one."""
    if not kernels.cuda_available():
        pytest.skip("numba.cuda is not usable (no GPU and the simulator is off)")
    rng = np.random.default_rng(7)
    shape = (24, 20)
    geoms = [random_geometry(rng, 22) for _ in range(2)]
    params = np.stack([g.kernel_params() for g in geoms])
    cpu = _run("cpu", params, shape)
    from numba import config

    if config.ENABLE_CUDASIM:
        gpu = _run("cuda", params, shape)
    else:
        cupy = pytest.importorskip("cupy")
        gpu = _run("cuda", params, shape, xp=cupy)
    np.testing.assert_array_equal(gpu[3], cpu[3])
    for a, b in zip(gpu[:3], cpu[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)
    _check(gpu, geoms, shape)


@pytest.mark.real_gpu
def test_cuda_large_matches_cpu():
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(11)
    shape = (1024, 1024)
    geoms = [random_geometry(rng, 1024)]
    params = np.stack([g.kernel_params() for g in geoms])
    cpu = _run("cpu", params, shape)
    gpu = _run("cuda", params, shape, xp=cupy)
    np.testing.assert_array_equal(gpu[3], cpu[3])
    for a, b in zip(gpu[:3], cpu[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)


def _run_sky(device, params, shape):
    impact = np.empty((params.shape[0],) + shape)
    angle = np.empty_like(impact)
    kernels.get("sky_coordinates", device)(params, impact, angle)
    return impact, angle


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_sky_coordinates_match_reference(device):
    if device == "cuda" and not kernels.cuda_available():
        pytest.skip("numba.cuda is not usable (no GPU and the simulator is off)")
    from numba import config

    if device == "cuda" and not config.ENABLE_CUDASIM:
        pytest.skip("host arrays only run in the simulator; the GPU path is covered by gpu tests")
    rng = np.random.default_rng(3)
    shape = (40, 36) if device == "cpu" else (16, 12)
    geoms = [random_geometry(rng, shape[0]) for _ in range(2)]
    impact, angle = _run_sky(device, np.stack([g.kernel_params() for g in geoms]), shape)
    for t, geom in enumerate(geoms):
        rimpact, rangle = naive.sky_coordinates(geom, *shape)
        assert (impact[t] > 1).any() and (impact[t] < 1).any()
        np.testing.assert_allclose(impact[t], rimpact, rtol=1e-9)
        dangle = (angle[t] - rangle + np.pi) % (2 * np.pi) - np.pi
        assert np.abs(dangle).max() < 1e-9


def test_unknown_kernel_and_device():
    with pytest.raises(ValueError, match="no kernel named 'nope'"):
        kernels.get("nope", "cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        kernels.get("disk_coordinates", "tpu")
