"""Row 1 of the suite: disk geometry (μ, Stonyhurst lat/lon, on-disk mask) of a full-disk image.

Geometry: AIA-like full-disk image, N² pixels with the Sun filling the same part
of the field at every N (cdelt = 0.6"·4096/N, crpix = (N + 1)/2, crval = 0),
Earth-like observer at 1 AU on the Stonyhurst prime meridian with B0 = -7°,
crota2 = 0.1°, rsun_ref = 696 000 km (as AIA headers give).

Side by side, per size:

* ``sunpy``: ``all_coordinates_from_map(m).transform_to(HeliographicStonyhurst)``,
  the baseline (it yields lat/lon/radius only, no μ: the comparison favours sunpy);
* ``numba-cpu``: :func:`kernels.cpu.disk_coordinates` into preallocated outputs;
* ``solarprep.coordinates.geometry.disk_coordinates(ds)`` on a Dataset (skipped while
  ``solarprep.io.loader`` does not exist);
* ``numba-cuda``: :func:`kernels.cuda.disk_coordinates` on CuPy outputs, CUDA
  events (skipped without a usable GPU), plus device→host copies at 4096².

bytes_min = 13 B/px written (three float32 + one bool; no input but 25 numbers).
Every row of ours is checked against sunpy on a 512² image of the same geometry
before it is timed (sunpy at 4096² is too slow to repeat for checks).
"""
import time

import numpy as np
import pytest
from benchutil import buffer_sets, cpu_llc_bytes, cuda_event_times, gpu_available, gpu_l2_bytes

SIZES = [1024, 2048, 4096]
CHECK_SIZE = 512
BYTES_PER_PX = 13  # mu, lat, lon float32 + on_disk bool
OP = "disk_coordinates"

#: Tolerances of the pre-timing check against sunpy (outputs are float32).
TOL_MU = 1e-5
TOL_DEG = 1e-4  # latitude, and longitude times cos(latitude)

CPU_ROUNDS, CPU_WARMUP = 30, 3
SUNPY_ROUNDS = 3
GPU_ROUNDS, GPU_WARMUP = 50, 5
QUEUE = 20  # launches per event pair for the queued (throughput) figure

needs_gpu = pytest.mark.skipif(not gpu_available(),
                               reason="needs CuPy and a CUDA GPU usable by numba (none here)")


# --------------------------------------------------------------------------- geometry

def aia_like_header(n):
    """FITS header of an N² AIA-like full-disk image (see module docstring)."""
    scale = 0.6 * 4096 / n
    return {
        "NAXIS": 2, "NAXIS1": n, "NAXIS2": n,
        "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec", "CUNIT2": "arcsec",
        "CDELT1": scale, "CDELT2": scale, "CRPIX1": (n + 1) / 2, "CRPIX2": (n + 1) / 2,
        "CRVAL1": 0.0, "CRVAL2": 0.0, "CROTA2": 0.1,
        "DATE-OBS": "2024-03-06T12:00:00.000",
        "DSUN_OBS": 149_597_870_700.0, "HGLN_OBS": 0.0, "HGLT_OBS": -7.0,
        "RSUN_REF": 696_000_000.0, "BUNIT": "DN",
    }


def make_map(n):
    import sunpy.map

    return sunpy.map.Map(np.zeros((n, n), np.float32), aia_like_header(n))


def params_for(n):
    """Kernel parameters ``(1, 25)`` of the N² geometry, through FrameGeometry.from_map."""
    from solarprep.coordinates.geometry import FrameGeometry

    return FrameGeometry.from_map(make_map(n)).kernel_params()[None]


def sunpy_route(m):
    """The baseline: every pixel's HGS coordinate through astropy/sunpy frames."""
    from sunpy.coordinates import HeliographicStonyhurst
    from sunpy.map.maputils import all_coordinates_from_map

    return all_coordinates_from_map(m).transform_to(HeliographicStonyhurst(obstime=m.reference_date))


def cpu_outputs(n, nt=1):
    """Preallocated, page-faulted outputs (mu, lat, lon, on_disk) for the CPU kernel."""
    outs = [np.empty((nt, n, n), np.float32) for _ in range(3)] + [np.empty((nt, n, n), np.bool_)]
    for a in outs:
        a.fill(0)
    return outs


def size_label(n):
    return f"{n}²"


def size_id(n):
    """ASCII test id (pytest escapes non-ASCII ids)."""
    return f"{n}x{n}"


# --------------------------------------------------------------------------- reference

@pytest.fixture(scope="module")
def reference():
    """sunpy's lat/lon and μ (float64) on the 512² version of the geometry, and its params."""
    import astropy.units as u
    from sunpy.coordinates import HeliographicStonyhurst

    m = make_map(CHECK_SIZE)
    hgs = sunpy_route(m)
    lat = hgs.lat.to_value(u.deg)
    lon = hgs.lon.wrap_at(180 * u.deg).to_value(u.deg)
    on_disk = np.isfinite(lat) & np.isfinite(lon)
    # μ = cos(angle between the local vertical and the direction to the observer).
    point = np.moveaxis(hgs.cartesian.xyz.to_value(u.m), 0, -1)
    obs = m.observer_coordinate.transform_to(
        HeliographicStonyhurst(obstime=m.reference_date)).cartesian.xyz.to_value(u.m)
    to_obs = obs - point
    with np.errstate(invalid="ignore"):
        mu = np.sum(point * to_obs, axis=-1) / (np.linalg.norm(point, axis=-1)
                                                * np.linalg.norm(to_obs, axis=-1))
    from solarprep.coordinates.geometry import FrameGeometry

    return {"lat": lat, "lon": lon, "mu": mu, "on_disk": on_disk,
            "params": FrameGeometry.from_map(m).kernel_params()[None]}


def compare(ref, mu, lat, lon, on_disk):
    """Max errors of ours vs sunpy over pixels on the disk in both (μ, deg, pixel counts)."""
    mu, lat, lon, on_disk = (np.asarray(a).reshape(ref["lat"].shape) for a in (mu, lat, lon, on_disk))
    both = ref["on_disk"] & on_disk
    dlon = (lon.astype(np.float64) - ref["lon"] + 180.0) % 360.0 - 180.0
    coslat = np.cos(np.radians(ref["lat"]))
    return {
        "checked_on": f"{CHECK_SIZE}²",
        "on_disk_px": int(both.sum()),
        "mask_mismatch_px": int((ref["on_disk"] != on_disk).sum()),
        "nan_on_disk_px": int((on_disk & ~np.isfinite(mu)).sum()),
        "mu": float(np.abs(mu - ref["mu"])[both].max()),
        "lat_deg": float(np.abs(lat - ref["lat"])[both].max()),
        "lon_deg": float(np.abs(dlon)[both].max()),
        "lon_cos_lat_deg": float(np.abs(dlon * coslat)[both].max()),
    }


def check(err):
    """Fail the row before timing when ours disagrees with sunpy."""
    assert err["on_disk_px"] > 0.3 * CHECK_SIZE**2, err  # the disk fills ~48 % of the image
    assert err["mask_mismatch_px"] <= max(4, 1e-4 * err["on_disk_px"]), err
    assert err["nan_on_disk_px"] == 0, err
    assert err["mu"] < TOL_MU, err
    assert err["lat_deg"] < TOL_DEG, err
    assert err["lon_cos_lat_deg"] < TOL_DEG, err
    return err


# --------------------------------------------------------------------------- compile time

@pytest.fixture(scope="module")
def cpu_compile():
    """First call of the CPU kernel in this process (JIT or cache load) and a fresh JIT compile.

    Requested by every CPU row before anything calls the kernel.
    """
    import numba

    import kernels.cpu
    from kernels.cpu import disk as cpu_disk

    p = params_for(64)
    t0 = time.perf_counter()
    kernels.cpu.disk_coordinates(p, *cpu_outputs(64))
    first = time.perf_counter() - t0
    stats = getattr(cpu_disk._disk_coordinates, "stats", None)
    cache = ({"cache_hits": sum(stats.cache_hits.values()),
              "cache_misses": sum(stats.cache_misses.values())} if stats is not None else {})
    # Fresh compile of the same function, no on-disk cache: the true JIT cost.
    fresh = numba.njit(parallel=True, cache=False)(cpu_disk._disk_coordinates.py_func)
    t0 = time.perf_counter()
    fresh(np.ascontiguousarray(p), *cpu_outputs(64))
    jit = time.perf_counter() - t0
    try:
        layer = numba.threading_layer()
    except Exception:  # noqa: BLE001
        layer = None
    return {"first_call_s": first, "jit_compile_s": jit, "numba_cache": cache,
            "threading_layer": layer, "numba_threads": numba.get_num_threads()}


@pytest.fixture(scope="module")
def cuda_compile():
    """First launch of the CUDA kernel in this process (numba.cuda JIT), synchronized."""
    import cupy

    import kernels

    kernel = kernels.get(OP, "cuda")
    p = cupy.asarray(params_for(64))
    outs = [cupy.empty((1, 64, 64), cupy.float32) for _ in range(3)] + [cupy.empty((1, 64, 64), cupy.bool_)]
    cupy.cuda.Device().synchronize()
    t0 = time.perf_counter()
    kernel(p, *outs)
    cupy.cuda.Device().synchronize()
    return {"first_call_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------- baseline: sunpy

@pytest.mark.parametrize("n", SIZES, ids=size_id)
def test_sunpy_all_coordinates(benchmark, report, n):
    m = make_map(n)
    benchmark.group = f"{OP} {size_label(n)}"

    def run():
        coords = sunpy_route(m)
        del coords  # return nothing: no two rounds' GBs alive at once

    benchmark.pedantic(run, rounds=SUNPY_ROUNDS, iterations=1, warmup_rounds=0)
    report(benchmark, op=OP, size=size_label(n), backend="sunpy all_coordinates_from_map → HGS",
           bytes_min=BYTES_PER_PX * n * n, baseline=True,
           note="float64 lat/lon/radius via astropy frames, 1 thread; no μ")


# --------------------------------------------------------------------------- ours: CPU

@pytest.mark.parametrize("n", SIZES, ids=size_id)
def test_cpu_kernel(benchmark, report, cpu_compile, reference, n):
    import kernels.cpu

    kernel = kernels.cpu.disk_coordinates
    err = check(compare(reference, *_run_cpu(kernel, reference["params"], CHECK_SIZE)))

    p = params_for(n)
    nsets = buffer_sets(BYTES_PER_PX * n * n, cpu_llc_bytes())
    sets = [cpu_outputs(n) for _ in range(nsets)]
    turn = iter(range(10**9))

    def setup():
        return (p, *sets[next(turn) % nsets]), {}

    benchmark.group = f"{OP} {size_label(n)}"
    benchmark.pedantic(kernel, setup=setup, rounds=CPU_ROUNDS, iterations=1,
                       warmup_rounds=CPU_WARMUP)
    on = sets[0][3]
    report(benchmark, op=OP, size=size_label(n), backend="ours numba-cpu kernel",
           bytes_min=BYTES_PER_PX * n * n, max_error=err, buffer_sets=nsets,
           on_disk_fraction=float(on.mean()), **cpu_compile)


def _run_cpu(kernel, p, n):
    outs = cpu_outputs(n)
    kernel(p, *outs)
    return [a[0] for a in outs]


def _build_dataset(n):
    """A solar Dataset of one N² frame through ``solarprep.io.loader.load``; skips while it does not exist."""
    try:
        from solarprep.io.loader import load
    except ImportError as exc:
        pytest.skip(f"solarprep.io.loader is missing ({exc}): no loader yet, high-level row skipped")
    return load(make_map(n), progress=False)


@pytest.mark.parametrize("n", [4096], ids=size_id)
def test_cpu_dataset(benchmark, report, cpu_compile, reference, n):
    from solarprep.coordinates.geometry import disk_coordinates

    small = disk_coordinates(_build_dataset(CHECK_SIZE), device="cpu")
    err = check(compare(reference, *(np.asarray(small[k].values)
                                     for k in ("mu", "hgs_lat", "hgs_lon", "on_disk"))))
    ds = _build_dataset(n)
    benchmark.group = f"{OP} {size_label(n)}"
    benchmark.pedantic(disk_coordinates, args=(ds,), kwargs={"device": "cpu"},
                       rounds=CPU_ROUNDS, iterations=1, warmup_rounds=CPU_WARMUP)
    report(benchmark, op=OP, size=size_label(n), backend="ours solarprep.coordinates.geometry (cpu, Dataset)",
           bytes_min=BYTES_PER_PX * n * n, max_error=err,
           note="solarprep.coordinates.geometry.disk_coordinates(ds): params from the Dataset's coordinates, "
                "fresh outputs each call (page faults included), xarray assign_coords",
           **cpu_compile)


# --------------------------------------------------------------------------- ours: CUDA

def _cuda_outputs(n):
    import cupy

    outs = [cupy.empty((1, n, n), cupy.float32) for _ in range(3)] + [cupy.empty((1, n, n), cupy.bool_)]
    for a in outs:
        a.fill(0)
    return outs


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("n", SIZES, ids=size_id)
def test_cuda_kernel(benchmark, report, cuda_compile, reference, n):
    import cupy

    import kernels

    kernel = kernels.get(OP, "cuda")
    small = _cuda_outputs(CHECK_SIZE)
    kernel(cupy.asarray(reference["params"]), *small)
    err = check(compare(reference, *(cupy.asnumpy(a[0]) for a in small)))
    del small

    p = cupy.asarray(params_for(n))
    nsets = buffer_sets(BYTES_PER_PX * n * n, gpu_l2_bytes())
    sets = [_cuda_outputs(n) for _ in range(nsets)]
    turn = iter(range(10**9))

    def setup():
        return (p, *sets[next(turn) % nsets])

    def launch_and_sync(*args):
        kernel(*args)
        cupy.cuda.Device().synchronize()

    benchmark.group = f"{OP} {size_label(n)}"
    benchmark.pedantic(launch_and_sync, setup=lambda: (setup(), {}), rounds=GPU_ROUNDS,
                       iterations=1, warmup_rounds=GPU_WARMUP)
    wall = float(np.median(benchmark.stats.stats.data)) if benchmark.stats else None
    events = cuda_event_times(kernel, reps=GPU_ROUNDS, warmup=GPU_WARMUP, setup=setup)

    def queued():  # QUEUE launches back to back: GPU time per launch, host overhead hidden
        for _ in range(QUEUE):
            kernel(*setup())

    per_launch = [t / QUEUE for t in cuda_event_times(queued, reps=10, warmup=1)]
    report(benchmark, op=OP, size=size_label(n), backend="ours numba-cuda kernel (device-resident)",
           bytes_min=BYTES_PER_PX * n * n, max_error=err, times=events,
           timer="CUDA events around one launch (includes numba's host launch overhead)",
           wall_median_s=wall, queued_per_launch_s=float(np.median(per_launch)),
           queued_gbps=BYTES_PER_PX * n * n / float(np.median(per_launch)) / 1e9,
           buffer_sets=nsets, **cuda_compile)
    del sets
    cupy.get_default_memory_pool().free_all_blocks()


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("transfer", ["pageable", "pinned"])
def test_cuda_kernel_to_host(benchmark, report, cuda_compile, transfer):
    """GPU compute + copy of the four outputs to host memory (host-visible result)."""
    import cupy
    import cupyx

    import kernels

    n = 4096
    kernel = kernels.get(OP, "cuda")
    p = cupy.asarray(params_for(n))
    dev = _cuda_outputs(n)
    if transfer == "pinned":
        host = [cupyx.empty_pinned(a.shape, a.dtype) for a in dev]
    else:
        host = [np.empty(a.shape, a.dtype) for a in dev]
    for h in host:
        h.fill(0)

    def run():
        kernel(p, *dev)
        for d, h in zip(dev, host):
            d.get(out=h)  # blocking copy

    benchmark.group = f"{OP} {size_label(n)}"
    benchmark.pedantic(run, rounds=GPU_ROUNDS, iterations=1, warmup_rounds=GPU_WARMUP)
    report(benchmark, op=OP, size=size_label(n),
           backend=f"ours numba-cuda kernel → host ({transfer})",
           bytes_min=BYTES_PER_PX * n * n, device="gpu", **cuda_compile)
