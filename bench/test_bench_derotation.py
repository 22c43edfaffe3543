"""Derotation and tracking (issue 3), peers side by side in one run.

Geometry: the AIA-like full-disk N² image of ``test_bench_geometry`` (Earth-like
observer, B0 = −7°), derotated by Δt = 1 day with the Howard law, bilinear.

Rows, 4096² float32 (op ``derotate``):

* ``sunpy differential_rotate`` (skimage warp + astropy frames, float64, 1 thread);
* ``sunpy reproject_to + propagate_with_solar_surface`` (``roundtrip_coords=False``,
  float64 output): the recommended route;
* ``scipy map_coordinates`` with precomputed float64 coordinates: the CPU
  interpolation-only bound (coordinates not timed);
* ours: the numba-cpu kernel (parameters precomputed) and ``solarprep.derotate``
  on a Dataset (parameters, ephemeris, output Dataset included);
* GPU (when lent): the numba-cuda kernel device-resident, host→host, a batch of
  64×1024², and ``cupyx.scipy.ndimage.map_coordinates`` with CuPy-computed
  coordinates.

Peak memory is measured with :mod:`tracemalloc` (numpy buffers are traced) in one
extra untimed call per route and reported against input + output bytes.

Tracking (op ``track``): 640 frames of 1024² → a 640×512² Postel cube, frames per
second on CPU and GPU. ``SOLARPREP_BENCH_SMALL=1`` shrinks every size for a quick check.
bytes_min = 8 B/px (one float32 read and one written per output pixel).
"""
import dataclasses
import math
import os
import time
import tracemalloc

import numpy as np
import pytest
from benchutil import buffer_sets, cuda_event_times, gpu_available, gpu_l2_bytes
from test_bench_geometry import aia_like_header, make_map

SMALL = os.environ.get("SOLARPREP_BENCH_SMALL") == "1"
N = 512 if SMALL else 4096
CHECK = 256
DT_S = 86400.0
TRACK_FRAMES, TRACK_IN, TRACK_OUT = (16, 256, 128) if SMALL else (640, 1024, 512)
BATCH, BATCH_N = (4, 256) if SMALL else (64, 1024)
ROUNDS, WARMUP = (5, 1) if SMALL else (10, 2)
PEER_ROUNDS = 1 if SMALL else 2

needs_gpu = pytest.mark.skipif(not gpu_available(),
                               reason="needs CuPy and a CUDA GPU usable by numba (none here)")


# --------------------------------------------------------------------------- inputs

def smooth_sun(n, seed=0):
    """A limb-darkened disk with smooth structure: values meaningful for relative errors."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / n
    r2 = ((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.39**2
    mu = np.sqrt(np.clip(1 - r2, 0, None))
    pattern = 1 + 0.1 * np.sin(40 * x + rng.uniform(0, 6)) * np.cos(33 * y)
    return np.where(r2 < 1, (0.4 + 0.6 * mu) * pattern, np.nan).astype(np.float32)


def header(n):
    return aia_like_header(n)



def _target_time():
    import astropy.units as u
    from astropy.time import Time

    return Time(header(8)["DATE-OBS"]) + DT_S * u.s


def _target_observer():
    from solarprep.coordinates.ephemeris import earth_observer

    dsun, hgln, hglt = earth_observer(_target_time())
    return float(dsun[0]), float(hgln[0]), float(hglt[0])


def target_map(n):
    """Output WCS: the same grid seen from the Earth one day later (what derotate produces)."""
    import sunpy.map

    hdr = dict(header(n))
    hdr["DSUN_OBS"], hdr["HGLN_OBS"], hdr["HGLT_OBS"] = _target_observer()
    hdr["DATE-OBS"] = _target_time().isot
    return sunpy.map.Map(np.zeros((n, n), np.float32), hdr)


def dataset(n, seed=0):
    import sunpy.map

    from solarprep.io.loader import load

    return load(sunpy.map.Map(smooth_sun(n, seed), header(n)), progress=False)


def params(n):
    """The kernel parameters ``solarprep.derotate`` builds for the N² case, Δt = 1 day."""
    from solarprep.coordinates.ephemeris import as_time_array
    from solarprep.coordinates.geometry import frame_geometries
    from solarprep.coordinates.rotation import get_law
    from solarprep.remap.derotation import _drift

    src = dataset(8)
    g_in = frame_geometries(dataset(n))[0]
    dsun, hgln, hglt = _target_observer()
    g_out = dataclasses.replace(g_in, dsun_obs=dsun, hgln_obs=hgln, hglt_obs=hglt)
    law = get_law("howard")
    drift = _drift(as_time_array(src["time"].values), as_time_array([_target_time()]))
    p = np.empty((1, 55))
    p[0, :25] = g_out.kernel_params()
    p[0, 25:50] = g_in.kernel_params()
    p[0, 50:52] = DT_S, drift[0]
    p[0, 52:55] = law.A, law.B, law.C
    return p


# --------------------------------------------------------------------------- reference check

@pytest.fixture(scope="module")
def reference():
    """sunpy's reproject route on the CHECK² case: what every row of ours is checked against."""
    import sunpy.map

    return {"ref": _reproject(sunpy.map.Map(smooth_sun(CHECK), header(CHECK)), target_map(CHECK)),
            "params": params(CHECK), "image": smooth_sun(CHECK)[None]}


def _reproject(m, target):
    from sunpy.coordinates import propagate_with_solar_surface

    with propagate_with_solar_surface(rotation_model="howard"):
        return m.reproject_to(target.wcs, algorithm="interpolation", order=1,
                              roundtrip_coords=False).data


def compare(ours, ref):
    both = np.isfinite(ours) & np.isfinite(ref)
    rel = np.abs(ours[both] - ref[both]) / np.abs(ref[both])
    return {"checked_on": f"{CHECK}² vs sunpy reproject", "px": int(both.sum()),
            "median_rel": float(np.median(rel)), "p99_rel": float(np.percentile(rel, 99)),
            "nan_only_ours_px": int((np.isnan(ours) & np.isfinite(ref)).sum())}


def check(err):
    assert err["px"] > 0.3 * CHECK**2 and err["median_rel"] < 1e-3, err
    return err


def peak_bytes(fn):
    """Peak traced allocation (bytes) of one call of ``fn``."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def size_label(n, nt=1):
    return f"{n}²" if nt == 1 else f"{nt}×{n}²"


# --------------------------------------------------------------------------- peers (CPU)

def test_sunpy_differential_rotate(benchmark, report):
    import sunpy.map
    from sunpy.physics.differential_rotation import differential_rotate

    m = sunpy.map.Map(smooth_sun(N), header(N))
    target = target_map(N)

    def run():
        return differential_rotate(m, observer=target.observer_coordinate)

    small = differential_rotate(sunpy.map.Map(smooth_sun(CHECK), header(CHECK)),
                                observer=target_map(CHECK).observer_coordinate)
    err = compare(small.data.astype(np.float32), _reproject(
        sunpy.map.Map(smooth_sun(CHECK), header(CHECK)), target_map(CHECK)))
    benchmark.group = f"derotate {size_label(N)}"
    benchmark.pedantic(run, rounds=PEER_ROUNDS, iterations=1, warmup_rounds=0)
    report(benchmark, op="derotate", size=size_label(N), backend="sunpy differential_rotate",
           bytes_min=8 * N * N, max_error=err, peak_bytes=peak_bytes(run),
           io_bytes=8 * N * N, note="Δt = 1 day, Earth observer; skimage warp, float64")


def test_sunpy_reproject_propagate(benchmark, report):
    import sunpy.map

    m = sunpy.map.Map(smooth_sun(N), header(N))
    target = target_map(N)
    benchmark.group = f"derotate {size_label(N)}"
    benchmark.pedantic(lambda: _reproject(m, target), rounds=PEER_ROUNDS, iterations=1,
                       warmup_rounds=0)
    report(benchmark, op="derotate", size=size_label(N),
           backend="sunpy reproject_to + propagate_with_solar_surface (roundtrip off)",
           bytes_min=8 * N * N, baseline=True, peak_bytes=peak_bytes(lambda: _reproject(m, target)),
           io_bytes=8 * N * N, note="order 1, float64 output")


def test_scipy_map_coordinates_bound(benchmark, report):
    """Interpolation only, coordinates precomputed (float64, not timed)."""
    from scipy.ndimage import map_coordinates

    import kernels.cpu

    image = smooth_sun(N)
    p = params(N)
    # source coordinates from our kernel run on a coordinate image (exact, not timed)
    rows, cols = np.indices((N, N), dtype=np.float32)
    out = np.empty((1, N, N), np.float32)
    valid = np.empty(out.shape, bool)
    coords = []
    for grid in (rows, cols):
        kernels.cpu.derotate(p, grid[None], out, valid, 1)
        coords.append(np.where(valid[0], out[0], np.nan).astype(np.float64))
    coords = np.stack(coords)

    def run():
        return map_coordinates(image, coords, order=1, mode="constant", cval=np.nan)

    benchmark.group = f"derotate {size_label(N)}"
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    report(benchmark, op="derotate", size=size_label(N),
           backend="scipy map_coordinates, precomputed coordinates (interpolation only)",
           bytes_min=8 * N * N, note="coordinates not timed; 1 thread")


# --------------------------------------------------------------------------- ours (CPU)

def test_ours_cpu_kernel(benchmark, report, reference):
    import kernels.cpu

    out_small = np.empty((1, CHECK, CHECK), np.float32)
    valid_small = np.empty(out_small.shape, bool)
    kernels.cpu.derotate(reference["params"], reference["image"], out_small, valid_small, 1)
    err = check(compare(out_small[0], reference["ref"]))
    p = params(N)
    image = smooth_sun(N)[None]
    out = np.zeros((1, N, N), np.float32)
    valid = np.zeros(out.shape, bool)
    t0 = time.perf_counter()
    kernels.cpu.derotate(p, image, out, valid, 1)
    first = time.perf_counter() - t0

    def run():
        kernels.cpu.derotate(p, image, out, valid, 1)

    def fresh():
        o = np.empty((1, N, N), np.float32)
        v = np.empty(o.shape, bool)
        kernels.cpu.derotate(p, image, o, v, 1)

    benchmark.group = f"derotate {size_label(N)}"
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
    report(benchmark, op="derotate", size=size_label(N), backend="ours numba-cpu kernel",
           bytes_min=8 * N * N, max_error=err, first_call_s=first,
           peak_bytes=peak_bytes(fresh), io_bytes=8 * N * N)


@pytest.mark.parametrize("order", [1, 3])
def test_ours_solarprep_derotate(benchmark, report, order):
    from solarprep.remap.derotation import derotate

    ds = dataset(N)
    target = _target_time()
    benchmark.group = f"derotate {size_label(N)}"
    benchmark.pedantic(derotate, args=(ds, target),
                       kwargs={"order": order, "device": "cpu", "observer": "earth"},
                       rounds=ROUNDS, iterations=1, warmup_rounds=1)
    report(benchmark, op="derotate" if order == 1 else "derotate bicubic", size=size_label(N),
           backend=f"ours solarprep.derotate (cpu, Dataset, order {order})",
           bytes_min=8 * N * N,
           peak_bytes=peak_bytes(lambda: derotate(ds, target, order=order, device="cpu",
                                                        observer="earth")),
           io_bytes=8 * N * N, note="ephemeris, parameters, kernel, valid mask, output Dataset")


# --------------------------------------------------------------------------- tracking (CPU)

def track_inputs(nt, n):
    """nt frames of one N² geometry, 45 s apart; params of a Postel patch at (15°, −20°)."""
    import kernels._remap_math as rm
    from solarprep.coordinates.geometry import FrameGeometry
    from solarprep.remap.tracking import _basis

    g = FrameGeometry.from_map(make_map(n))
    times = np.arange(nt) * 45.0
    lat0 = math.radians(15.0)
    lon_c = math.radians(-20.0) + 2.9e-6 * times
    p = np.empty((nt, rm.NTRACK))
    p[:, :25] = g.kernel_params()
    p[:, 25] = rm.POSTEL
    p[:, 26:28] = math.radians(0.03 * 4096 / n)
    p[:, 28:30] = (TRACK_OUT - 1) / 2
    p[:, 30:39] = _basis(lat0, lon_c)
    p[:, 39:42] = np.stack([np.full(nt, math.sin(lat0)), np.full(nt, lat0), lon_c], axis=1)
    image = np.repeat(smooth_sun(n)[None], nt, axis=0)
    return p, image


def test_ours_cpu_track(benchmark, report):
    import kernels.cpu

    p, image = track_inputs(TRACK_FRAMES, TRACK_IN)
    out = np.zeros((TRACK_FRAMES, TRACK_OUT, TRACK_OUT), np.float32)
    valid = np.zeros(out.shape, bool)
    kernels.cpu.track(p[:1], image[:1], out[:1], valid[:1], 3)  # compile
    benchmark.group = f"track {size_label(TRACK_OUT, TRACK_FRAMES)}"
    benchmark.pedantic(kernels.cpu.track, args=(p, image, out, valid, 3), rounds=3, iterations=1,
                       warmup_rounds=0)
    median = float(np.median(benchmark.stats.stats.data))
    assert valid.mean() > 0.99
    report(benchmark, op="track", size=size_label(TRACK_OUT, TRACK_FRAMES),
           backend="ours numba-cpu track (Postel, bicubic)",
           bytes_min=8 * TRACK_FRAMES * TRACK_OUT**2, frames_per_s=TRACK_FRAMES / median,
           note=f"from {TRACK_IN}² frames")


# --------------------------------------------------------------------------- GPU

def cupy_coordinates(cp, p, n):
    """The peer's route on the GPU: the same geometry chain as CuPy array expressions (float64)."""
    p = cp.asarray(p[0])
    i, j = cp.meshgrid(cp.arange(n, dtype=cp.float64), cp.arange(n, dtype=cp.float64),
                       indexing="ij")
    dx, dy = j - p[0], i - p[1]
    xi, eta = p[2] * dx + p[3] * dy, p[4] * dx + p[5] * dy
    s = 1 / cp.sqrt(1 + xi**2 + eta**2)
    v = cp.stack([-eta * s, xi * s, s])
    r1 = p[6:15].reshape(3, 3)
    c = cp.tensordot(r1, v, axes=1)
    dist = p[15]
    sin2 = c[1] ** 2 + c[2] ** 2
    disc = 1 - dist**2 * sin2
    on = (disc >= 0) & (c[0] > 0)
    mu = cp.sqrt(cp.where(on, disc, cp.nan))
    d = dist * c[0] - mu
    q = cp.stack([dist * sin2 + mu * c[0], d * c[1], d * c[2]])
    h = cp.tensordot(p[16:25].reshape(3, 3), q, axes=1)
    s2 = h[2] ** 2
    angle = -((p[52] + p[53] * s2 + p[54] * s2**2) * p[50] + p[51])
    hx, hy = h[0] * cp.cos(angle) - h[1] * cp.sin(angle), h[0] * cp.sin(angle) + h[1] * cp.cos(angle)
    rot = cp.stack([hx, hy, h[2]])
    q2 = cp.tensordot(p[41:50].reshape(3, 3).T, rot, axes=1)
    dist2 = p[40]
    ok = dist2 * q2[0] > 1
    line = cp.stack([dist2 - q2[0], q2[1], q2[2]])
    v2 = cp.tensordot(p[31:40].reshape(3, 3).T, line, axes=1)
    xi2, eta2 = v2[1] / v2[2], -v2[0] / v2[2]
    m = p[27:31].reshape(2, 2)
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    col = p[25] + (m[1, 1] * xi2 - m[0, 1] * eta2) / det
    row = p[26] + (m[0, 0] * eta2 - m[1, 0] * xi2) / det
    ok &= on
    return cp.stack([cp.where(ok, row, cp.nan), cp.where(ok, col, cp.nan)])


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("nt,n", [(1, N), (BATCH, BATCH_N)], ids=["single", "batch"])
def test_ours_cuda_kernel(benchmark, report, reference, nt, n):
    import cupy

    import kernels

    kernel = kernels.get("derotate", "cuda")
    small = cupy.empty((1, CHECK, CHECK), cupy.float32)
    small_valid = cupy.empty(small.shape, cupy.bool_)
    kernel(cupy.asarray(reference["params"]), cupy.asarray(reference["image"]), small,
           small_valid, 1)
    err = check(compare(cupy.asnumpy(small[0]), reference["ref"]))
    p = cupy.asarray(np.repeat(params(n), nt, axis=0))
    nsets = buffer_sets(8 * nt * n * n, gpu_l2_bytes())
    images = [cupy.asarray(np.repeat(smooth_sun(n, k)[None], nt, axis=0)) for k in range(nsets)]
    outs = [cupy.empty((nt, n, n), cupy.float32) for _ in range(nsets)]
    valids = [cupy.empty((nt, n, n), cupy.bool_) for _ in range(nsets)]
    turn = iter(range(10**9))

    def setup():
        k = next(turn) % nsets
        return (p, images[k], outs[k], valids[k], 1)

    def launch_and_sync():
        kernel(*setup())
        cupy.cuda.Device().synchronize()

    benchmark.group = f"derotate {size_label(n, nt)}"
    benchmark.pedantic(launch_and_sync, rounds=30, iterations=1, warmup_rounds=3)
    events = cuda_event_times(kernel, reps=50, warmup=5, setup=setup)
    report(benchmark, op="derotate", size=size_label(n, nt),
           backend="ours numba-cuda kernel (device-resident)", bytes_min=8 * nt * n * n,
           max_error=err, times=events, timer="CUDA events", buffer_sets=nsets)


@needs_gpu
@pytest.mark.gpu
def test_cupyx_map_coordinates(benchmark, report, reference):
    """The GPU peer: CuPy-computed coordinates + cupyx.scipy.ndimage.map_coordinates (float32)."""
    import cupy
    from cupyx.scipy.ndimage import map_coordinates

    p = params(N)
    image = cupy.asarray(smooth_sun(N))
    small = map_coordinates(cupy.asarray(reference["image"][0]),
                            cupy_coordinates(cupy, reference["params"], CHECK), order=1,
                            mode="constant", cval=cupy.nan)
    err = compare(cupy.asnumpy(small).astype(np.float32), reference["ref"])

    def run():
        coords = cupy_coordinates(cupy, p, N)
        return map_coordinates(image, coords, order=1, mode="constant", cval=cupy.nan)

    events = cuda_event_times(run, reps=20, warmup=3)
    benchmark.group = f"derotate {size_label(N)}"
    benchmark.pedantic(lambda: (run(), cupy.cuda.Device().synchronize()), rounds=10,
                       iterations=1, warmup_rounds=2)
    report(benchmark, op="derotate", size=size_label(N),
           backend="cupy coordinates + cupyx map_coordinates", bytes_min=8 * N * N,
           max_error=err, times=events, timer="CUDA events", device="gpu")


@needs_gpu
@pytest.mark.gpu
def test_ours_cuda_host_to_host(benchmark, report):
    from solarprep.remap.derotation import derotate

    ds = dataset(N)
    target = _target_time()

    def run():
        out = derotate(ds, target, device="cuda", observer="earth")
        return out["data" if "data" in out else list(out.data_vars)[0]].data.get()

    benchmark.group = f"derotate {size_label(N)}"
    benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=2)
    report(benchmark, op="derotate", size=size_label(N),
           backend="ours solarprep.derotate (cuda, host Dataset → host array)",
           bytes_min=8 * N * N, device="gpu", note="includes both PCIe copies and the ephemeris")


@needs_gpu
@pytest.mark.gpu
def test_ours_cuda_track(benchmark, report):
    import cupy

    import kernels

    p, image = track_inputs(TRACK_FRAMES, TRACK_IN)
    kernel = kernels.get("track", "cuda")
    p, image = cupy.asarray(p), cupy.asarray(image)
    out = cupy.empty((TRACK_FRAMES, TRACK_OUT, TRACK_OUT), cupy.float32)
    valid = cupy.empty(out.shape, cupy.bool_)
    events = cuda_event_times(lambda: kernel(p, image, out, valid, 3), reps=10, warmup=2)
    benchmark.group = f"track {size_label(TRACK_OUT, TRACK_FRAMES)}"
    benchmark.pedantic(lambda: (kernel(p, image, out, valid, 3), cupy.cuda.Device().synchronize()),
                       rounds=5, iterations=1, warmup_rounds=1)
    report(benchmark, op="track", size=size_label(TRACK_OUT, TRACK_FRAMES),
           backend="ours numba-cuda track (Postel, bicubic, device-resident)",
           bytes_min=8 * TRACK_FRAMES * TRACK_OUT**2, times=events, timer="CUDA events",
           frames_per_s=TRACK_FRAMES / float(np.median(events)))
