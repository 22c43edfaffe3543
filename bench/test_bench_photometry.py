"""Photometry rows: limb-darkening fit + removal + area correction; disk integration of a cube.

1. ``ld_fit_remove_area`` on an N² (default 4096², ``PHOTOMETRY_BENCH_N``)
   synthetic HMI-like continuum with sunspots, μ precomputed (``disk_coordinates``):
   a 5th-order polynomial fit with 3σ clipping (2 plain passes, then clipping
   until the kept set is stable, ≤ 10), the division by the profile, then the
   area correction (``value/μ``, NaN below μ = 0.1) and the surface area of every
   pixel.

   * baseline: the straightforward NumPy/SciPy route: design matrix of the kept
     pixels, ``scipy.linalg.lstsq`` per iteration, NumPy division, area from the
     closed-form geometry in NumPy (centre-point formula);
   * ours: ``remove_limb_darkening`` + ``foreshortening_correct`` on the Dataset
     (CPU, numba; GPU, numba.cuda, results left on the device).

   bytes_min = 28 B/px: image and μ read, contrast written (LD); image read,
   corrected image and area written (foreshortening).

2. ``disk_integrate`` of a T × 1024² cube (default T = 640, ``PHOTOMETRY_BENCH_FRAMES``):
   baseline ``numpy.nansum(cube * Ω)`` per frame, CuPy ``nansum`` on the GPU; ours
   ``disk_integrate`` (CPU and GPU). bytes_min = 4 B/px (the cube read once).

Every row of ours is checked against the baseline before it is timed.
"""
import math
import os

import numpy as np
import pytest
from benchutil import cuda_event_times, gpu_available

from kernels._photometry_math import RSUN_IDX

N = int(os.environ.get("PHOTOMETRY_BENCH_N", "4096"))
FRAMES = int(os.environ.get("PHOTOMETRY_BENCH_FRAMES", "640"))
CUBE_N = int(os.environ.get("PHOTOMETRY_BENCH_CUBE_N", "1024"))
MU_MIN = 0.1
CPU_ROUNDS, GPU_ROUNDS = 5, 30

needs_gpu = pytest.mark.skipif(not gpu_available(),
                               reason="needs CuPy and a CUDA GPU usable by numba (none here)")


def size_label(n, frames=None):
    return f"{n}²" if frames is None else f"{frames}×{n}²"


@pytest.fixture(scope="module")
def continuum():
    """N² synthetic continuum with sunspots and faculae, μ as a coordinate (CPU)."""
    import solarprep
    from solarprep import synthetic

    sun = synthetic.SyntheticSun(seed=5, limb_darkening="neckel_labs", t0="2024-05-01")
    ds = solarprep.load(sun.continuum("2024-05-02", shape=N), progress=False, device="cpu")
    return solarprep.disk_coordinates(ds, device="cpu")


# --------------------------------------------------------------------------- baseline

def numpy_route(image, mu, p, degree=5, clip=3.0, max_iter=10):
    """Plain NumPy/SciPy: lstsq fit with clipping, division, area correction and areas."""
    import scipy.linalg

    base = np.isfinite(image) & (mu >= MU_MIN)
    mu_b, img_b = mu[base].astype(np.float64), image[base].astype(np.float64)
    keep = np.ones(mu_b.size, bool)
    coef = sigma = None
    previous = None
    for k in range(2 + max_iter):
        if k >= 2:
            resid = img_b - np.polynomial.polynomial.polyval(mu_b, coef)
            keep = np.abs(resid) <= clip * sigma
            if previous is not None and np.array_equal(keep, previous):
                break
            previous = keep
        a = np.vander(mu_b[keep], degree + 1, increasing=True)
        coef = scipy.linalg.lstsq(a, img_b[keep], check_finite=False)[0]
        r = img_b[keep] - a @ coef
        sigma = math.sqrt(r @ r / (keep.sum() - degree - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        model = np.polynomial.polynomial.polyval(mu, coef)
        contrast = np.where(mu >= MU_MIN, image / model, np.nan).astype(np.float32)
        corrected = np.where(mu >= MU_MIN, image / mu, np.nan).astype(np.float32)
    area = numpy_area(p, *image.shape, mu)
    return contrast, corrected, area


def numpy_area(p, ny, nx, mu):
    """Ω ℓ²/μ in NumPy from the geometry row (centre point)."""
    jj, ii = np.meshgrid(np.arange(nx, dtype=float), np.arange(ny, dtype=float))
    dx, dy = jj - p[0], ii - p[1]
    xi = p[2] * dx + p[3] * dy
    eta = p[4] * dx + p[5] * dy
    s = 1.0 / np.sqrt(1.0 + xi**2 + eta**2)
    r1 = p[6:15].reshape(3, 3)
    cx = (r1[0, 0] * -eta + r1[0, 1] * xi + r1[0, 2]) * s
    omega = abs(p[2] * p[5] - p[3] * p[4]) * s**3
    ell = p[15] * cx - mu
    with np.errstate(invalid="ignore", divide="ignore"):
        area = np.where(mu >= MU_MIN, omega * (ell * p[RSUN_IDX]) ** 2 / mu, np.nan)
    return area.astype(np.float32)


def ours(ds, device):
    from solarprep.photometry.foreshortening import foreshortening_correct
    from solarprep.photometry.limb_darkening import remove_limb_darkening

    contrast = remove_limb_darkening(ds, law="poly5", mu_min=MU_MIN, device=device)
    corrected = foreshortening_correct(ds, kind="area", mu_min=MU_MIN, device=device)
    return contrast, corrected


def _max_error(contrast_ours, contrast_ref):
    both = np.isfinite(contrast_ours) & np.isfinite(contrast_ref)
    return float(np.max(np.abs(contrast_ours[both] - contrast_ref[both])))


@pytest.fixture(scope="module")
def reference(continuum):
    from solarprep.photometry._common import geometry_params

    p = geometry_params(continuum, MU_MIN)[0]
    image = continuum["intensity"].values[0]
    mu = continuum["mu"].values
    return numpy_route(image, mu, p), p


# --------------------------------------------------------------------------- LD + area rows

def test_ld_numpy(benchmark, report, continuum):
    from solarprep.photometry._common import geometry_params

    p = geometry_params(continuum, MU_MIN)[0]
    image = continuum["intensity"].values[0]
    mu = continuum["mu"].values
    benchmark.group = f"ld_fit_remove_area {size_label(N)}"
    benchmark.pedantic(numpy_route, args=(image, mu, p), rounds=3, iterations=1)
    report(benchmark, op="ld_fit_remove_area", size=size_label(N),
           backend="numpy + scipy.linalg.lstsq", bytes_min=28 * N * N, baseline=True)


def test_ld_ours_cpu(benchmark, report, continuum, reference):
    (ref_contrast, ref_corrected, ref_area), _ = reference
    contrast, corrected = ours(continuum, "cpu")  # also warms up the JIT
    err = _max_error(contrast["intensity"].values[0], ref_contrast)
    inner = continuum["mu"].values >= 0.3  # nearer the limb the centre-point area is off
    area_err = float(np.nanmax(np.abs(corrected["pixel_area"].values[inner] / ref_area[inner]
                                      - 1)))
    assert err < 1e-4, err
    assert area_err < 1e-3, area_err  # Gauss-averaged vs centre-point area
    np.testing.assert_allclose(corrected["intensity"].values[0], ref_corrected, rtol=2e-6,
                               equal_nan=True)
    benchmark.group = f"ld_fit_remove_area {size_label(N)}"
    benchmark.pedantic(ours, args=(continuum, "cpu"), rounds=CPU_ROUNDS, iterations=1,
                       warmup_rounds=1)
    report(benchmark, op="ld_fit_remove_area", size=size_label(N),
           backend="ours numba-cpu (Dataset API)", bytes_min=28 * N * N,
           max_error={"contrast": err, "area_rel": area_err})


@needs_gpu
@pytest.mark.gpu
def test_ld_ours_cuda(benchmark, report, continuum, reference):
    import cupy

    import solarprep

    (ref_contrast, _, _), _ = reference
    ds = solarprep.to_device(continuum, "cuda")
    contrast, _ = ours(ds, "cuda")
    err = _max_error(cupy.asnumpy(contrast["intensity"].data[0]), ref_contrast)
    assert err < 1e-4, err
    benchmark.group = f"ld_fit_remove_area {size_label(N)}"

    def run():
        ours(ds, "cuda")
        cupy.cuda.Device().synchronize()

    benchmark.pedantic(run, rounds=GPU_ROUNDS, iterations=1, warmup_rounds=3)
    events = cuda_event_times(lambda: ours(ds, "cuda"), reps=GPU_ROUNDS, warmup=3)
    report(benchmark, op="ld_fit_remove_area", size=size_label(N),
           backend="ours numba-cuda (Dataset API, device-resident)", bytes_min=28 * N * N,
           max_error=err, times=events, timer="CUDA events (host syncs of the fit included)")


# --------------------------------------------------------------------------- disk integration

@pytest.fixture(scope="module")
def cube():
    import xarray as xr

    import solarprep
    from solarprep import synthetic

    sun = synthetic.SyntheticSun(seed=6, t0="2024-05-01")
    one = solarprep.load(sun.continuum("2024-05-02", shape=CUBE_N), progress=False,
                         device="cpu")
    ds = xr.concat([one] * FRAMES, dim="time")
    ds = ds.assign_coords(time=one["time"].values[0]
                          + np.arange(FRAMES).astype("timedelta64[m]") * 45)
    return ds


def _numpy_disk(cube_arr, weight):
    return np.nansum(cube_arr * weight, axis=(1, 2), dtype=np.float64)


def test_disk_numpy(benchmark, report, cube):
    from solarprep.photometry.integration import solid_angle

    w = solid_angle(cube, device="cpu").values
    arr = cube["intensity"].values
    benchmark.group = f"disk_integrate {size_label(CUBE_N, FRAMES)}"
    benchmark.pedantic(_numpy_disk, args=(arr, w), rounds=3, iterations=1)
    report(benchmark, op="disk_integrate", size=size_label(CUBE_N, FRAMES),
           backend="numpy nansum(I·Ω)", bytes_min=4 * arr.size, baseline=True)


def test_disk_ours_cpu(benchmark, report, cube):
    from solarprep.photometry.integration import disk_integrate, solid_angle

    w = solid_angle(cube, device="cpu").values
    ref = _numpy_disk(cube["intensity"].values[:4], w)
    lc = disk_integrate(cube.isel(time=slice(0, 4)), normalize_distance=False, device="cpu")
    err = float(np.max(np.abs(lc["flux"].values / ref - 1)))
    assert err < 1e-6, err
    benchmark.group = f"disk_integrate {size_label(CUBE_N, FRAMES)}"
    benchmark.pedantic(disk_integrate, args=(cube,), kwargs={"device": "cpu"},
                       rounds=CPU_ROUNDS, iterations=1, warmup_rounds=1)
    report(benchmark, op="disk_integrate", size=size_label(CUBE_N, FRAMES),
           backend="ours numba-cpu (Dataset API)", bytes_min=4 * cube["intensity"].size,
           max_error=err)


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("route", ["cupy nansum", "ours"])
def test_disk_cuda(benchmark, report, cube, route):
    import cupy

    import solarprep
    from solarprep.photometry.integration import disk_integrate, solid_angle

    ds = solarprep.to_device(cube, "cuda")
    w = cupy.asarray(solid_angle(cube, device="cpu").values)
    arr = ds["intensity"].data
    ref = _numpy_disk(cube["intensity"].values[:4], cupy.asnumpy(w))
    if route == "ours":
        def fn():
            return disk_integrate(ds, normalize_distance=False, device="cuda")

        got = fn()["flux"].values[:4]
    else:
        def fn():
            return cupy.nansum(arr * w, axis=(1, 2), dtype=cupy.float64)

        got = cupy.asnumpy(fn())[:4]
    err = float(np.max(np.abs(np.asarray(got) / ref - 1)))
    assert err < 1e-5, err
    benchmark.group = f"disk_integrate {size_label(CUBE_N, FRAMES)}"
    benchmark.pedantic(lambda: (fn(), cupy.cuda.Device().synchronize()), rounds=GPU_ROUNDS,
                       iterations=1, warmup_rounds=3)
    events = cuda_event_times(fn, reps=GPU_ROUNDS, warmup=3)
    report(benchmark, op="disk_integrate", size=size_label(CUBE_N, FRAMES),
           backend=f"{route} (cuda, device-resident)", bytes_min=4 * arr.size, max_error=err,
           times=events, timer="CUDA events")
