"""FFT acoustic power maps (docs/performance.md §2): ours against straightforward NumPy/CuPy.

Rows, all on the same ``T × N²`` float32 cube (default 640 × 512², the SOLARED
8-hour window at 45 s), SOLARED convention (``ΔV``, ``rfft``, four closed bands,
trapezoid at unit spacing):

* ``numpy``: ``np.fft.rfft(np.diff(cube, axis=0), axis=0)``, ``|X|²`` and four
  ``np.trapezoid`` band sums: the baseline;
* ``scipy``: the same with ``scipy.fft.rfft(workers=-1)``;
* ours on the CPU: :func:`solarprep.helioseismology.power.band_powers` (numba preparation, scipy
  rfft per cache-sized pixel block, fused numba band sums), SOLARED and physical;
* GPU (skipped without one): plain CuPy (``cupy.diff``, ``cupy.fft.rfft``,
  ``abs()**2``, sums; baseline of the GPU rows) and ours (numba.cuda preparation,
  cuFFT with a cached plan, fused band-sum kernel), CUDA events, device-resident.

Plus the sliding-window series of one active region, end to end through
:func:`solarprep.power_maps`: ``2 days`` at 45 s in 8-hour windows every hour
(41 windows), CPU and GPU, with the peak memory of the call.

Sizes: ``SOLARPREP_BENCH_POWER_FRAMES`` (640), ``SOLARPREP_BENCH_POWER_N`` (512),
``SOLARPREP_BENCH_POWER_SERIES_N`` (512) and ``SOLARPREP_BENCH_POWER_SERIES_HOURS``
(48) make a quick check cheap. Each row is checked against the NumPy result (on
a 16² corner, float64) before timing.

bytes_min = the cube read once + the four maps written = ``4·T·N² + 16·N²``.
"""
import os
import time
import tracemalloc

import numpy as np
import pytest
from benchutil import cuda_event_times, gpu_available

T = int(os.environ.get("SOLARPREP_BENCH_POWER_FRAMES", 640))
N = int(os.environ.get("SOLARPREP_BENCH_POWER_N", 512))
SERIES_N = int(os.environ.get("SOLARPREP_BENCH_POWER_SERIES_N", 512))
SERIES_HOURS = float(os.environ.get("SOLARPREP_BENCH_POWER_SERIES_HOURS", 48))
DT = 45.0
BANDS = ((2, 3), (3, 4), (4, 5), (5, 6))
OP = "power_maps"
SIZE = f"{T}×{N}²"
BYTES = 4 * T * N * N + 16 * N * N
CHECK = 16
RTOL = 1e-5

needs_gpu = pytest.mark.skipif(not gpu_available(),
                               reason="needs CuPy and a CUDA GPU usable by numba (none here)")


def _masks(n_frames):
    t_win = n_frames * DT
    k = np.arange((n_frames - 1) // 2 + 1)
    f = k / t_win
    return [(f >= lo * 1e-3) & (f <= hi * 1e-3) for lo, hi in BANDS], DT * DT / t_win


def numpy_route(cube, fft=np.fft.rfft, **kw):
    """The straightforward route: difference, rfft, |X|², closed bands, trapezoid."""
    masks, scale = _masks(cube.shape[0])
    spec = fft(np.diff(cube, axis=0), axis=0, **kw)
    p = scale * (spec.real**2 + spec.imag**2)
    return np.stack([np.trapezoid(p[m], axis=0) for m in masks])


def scipy_route(cube):
    import scipy.fft

    return numpy_route(cube, fft=scipy.fft.rfft, workers=-1)


def cupy_route(cube):
    import cupy

    masks, scale = _masks(cube.shape[0])
    spec = cupy.fft.rfft(cupy.diff(cube, axis=0), axis=0)
    p = scale * cupy.abs(spec) ** 2
    out = []
    for m in masks:
        idx = np.flatnonzero(m)
        band = p[idx[0]:idx[-1] + 1]
        out.append(band.sum(axis=0) - 0.5 * (band[0] + band[-1]))
    return cupy.stack(out)


@pytest.fixture(scope="module")
def cube():
    rng = np.random.default_rng(0)
    c = np.empty((T, N, N), np.float32)
    for t in range(T):  # frame by frame: no float64 temporary of the whole cube
        c[t] = rng.standard_normal((N, N), np.float32) * 300
    return c


@pytest.fixture(scope="module")
def reference(cube):
    return numpy_route(cube[:, :CHECK, :CHECK].astype(np.float64))


def _error(ours, ref):
    ours = np.asarray(ours)[:, :CHECK, :CHECK].astype(np.float64)
    rel = float(np.max(np.abs(ours - ref) / np.abs(ref)))
    return {"checked_on": f"{CHECK}² corner", "max_rel": rel}


def _check(ours, ref):
    err = _error(ours, ref)
    assert err["max_rel"] < RTOL, err
    return err


def _ours_cpu(cube, convention="solared"):
    from solarprep.helioseismology.power import band_powers

    return band_powers(cube, DT, bands=BANDS, convention=convention, device="cpu")


def _peak_traced(fn, *args):
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- CPU rows

def test_numpy_baseline(benchmark, report, cube, reference):
    err = _check(numpy_route(cube[:, :CHECK, :CHECK]), reference)
    benchmark.group = f"{OP} {SIZE}"
    benchmark.pedantic(numpy_route, args=(cube,), rounds=3, iterations=1, warmup_rounds=0)
    report(benchmark, op=OP, size=SIZE, backend="numpy np.fft.rfft + |X|² + trapz (1 thread)",
           bytes_min=BYTES, max_error=err, baseline=True,
           peak_traced_bytes=_peak_traced(numpy_route, cube[:, : N // 4]) * 4)


def test_scipy_route(benchmark, report, cube, reference):
    err = _check(scipy_route(cube[:, :CHECK, :CHECK]), reference)
    benchmark.group = f"{OP} {SIZE}"
    benchmark.pedantic(scipy_route, args=(cube,), rounds=5, iterations=1, warmup_rounds=1)
    report(benchmark, op=OP, size=SIZE, backend="scipy.fft.rfft(workers=-1) + |X|² + trapz",
           bytes_min=BYTES, max_error=err)


@pytest.mark.parametrize("convention", ["solared", "physical"])
def test_ours_cpu(benchmark, report, cube, reference, convention):
    t0 = time.perf_counter()
    small = _ours_cpu(cube[:, :CHECK, :CHECK], convention)  # JIT / cache load
    first = time.perf_counter() - t0
    err = _check(small, reference) if convention == "solared" else {"note": "physical: other units"}
    full = _ours_cpu(cube, convention)
    if convention == "solared":
        err["full_vs_small_max_rel"] = float(np.max(np.abs(full[:, :CHECK, :CHECK] - small)
                                                    / np.abs(small)))
    benchmark.group = f"{OP} {SIZE}"
    benchmark.pedantic(_ours_cpu, args=(cube, convention), rounds=10, iterations=1,
                       warmup_rounds=1)
    report(benchmark, op=OP, size=SIZE, backend=f"ours band_powers cpu ({convention})",
           bytes_min=BYTES, max_error=err, first_call_s=first,
           peak_traced_bytes=_peak_traced(_ours_cpu, cube, convention))


# --------------------------------------------------------------------------- GPU rows

@pytest.fixture(scope="module")
def gpu_cube(cube):
    import cupy

    return cupy.asarray(cube)


@needs_gpu
@pytest.mark.gpu
def test_cupy_baseline(benchmark, report, gpu_cube, reference):
    import cupy

    err = _check(cupy.asnumpy(cupy_route(gpu_cube[:, :CHECK, :CHECK])), reference)

    def run():
        cupy_route(gpu_cube)
        cupy.cuda.Device().synchronize()

    benchmark.group = f"{OP} {SIZE}"
    benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=2)
    events = cuda_event_times(lambda: cupy_route(gpu_cube), reps=20, warmup=3)
    report(benchmark, op=OP, size=SIZE, backend="plain cupy diff + cupy.fft.rfft + |X|² + sums",
           bytes_min=BYTES, max_error=err, times=events, timer="CUDA events", baseline=True,
           device="gpu")


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("convention", ["solared", "physical"])
def test_ours_cuda(benchmark, report, gpu_cube, reference, convention):
    import cupy

    from solarprep.helioseismology.power import band_powers

    def ours():
        return band_powers(gpu_cube, DT, bands=BANDS, convention=convention, device="cuda")

    t0 = time.perf_counter()
    out = ours()
    cupy.cuda.Device().synchronize()
    first = time.perf_counter() - t0
    err = (_check(cupy.asnumpy(out), reference) if convention == "solared"
           else {"note": "physical: other units"})

    def run():
        ours()
        cupy.cuda.Device().synchronize()

    benchmark.group = f"{OP} {SIZE}"
    benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=2)
    events = cuda_event_times(ours, reps=20, warmup=3)
    pool = cupy.get_default_memory_pool()
    report(benchmark, op=OP, size=SIZE, backend=f"ours band_powers cuda ({convention})",
           bytes_min=BYTES, max_error=err, times=events, timer="CUDA events", device="gpu",
           first_call_s=first, pool_bytes=pool.total_bytes())


# --------------------------------------------------------------------------- sliding series

@pytest.fixture(scope="module")
def series():
    import xarray as xr

    n_frames = int(round(SERIES_HOURS * 3600 / DT))
    rng = np.random.default_rng(1)
    data = np.empty((n_frames, SERIES_N, SERIES_N), np.float32)
    for t in range(n_frames):
        data[t] = rng.standard_normal((SERIES_N, SERIES_N), np.float32) * 300
    times = np.datetime64("2024-01-01T00:00", "ns") + (np.arange(n_frames) * DT * 1e9).astype(
        "timedelta64[ns]")
    return xr.Dataset({"vlos": (("time", "y", "x"), data, {"units": "m / s", "long_name": "v"})},
                      coords={"time": times})


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[needs_gpu, pytest.mark.gpu])])
def test_sliding_series(benchmark, report, series, device):
    from solarprep.helioseismology.power import power_maps

    def run():
        return power_maps(series, window="8h", step="1h", convention="solared", device=device)

    window = int(round(8 * 3600 / DT))
    small = power_maps(series.isel(y=slice(0, 8), x=slice(0, 8)), window="8h", step="1h",
                       convention="solared", device="cpu")
    first = numpy_route(series["vlos"].values[:window, :8, :8].astype(np.float64))
    err = {"max_rel_window0": float(np.max(np.abs(
        np.stack([small[v].values[0] for v in small.data_vars]) - first) / first))}
    assert err["max_rel_window0"] < RTOL, err
    extra = {}
    if device == "cuda":
        import cupy

        pool = cupy.get_default_memory_pool()
        pool.free_all_blocks()
        run()
        cupy.cuda.Device().synchronize()
        extra["peak_gpu_pool_bytes"] = pool.total_bytes()
    else:
        extra["peak_traced_bytes"] = _peak_traced(run)
    benchmark.group = f"{OP} series"
    benchmark.pedantic(run, rounds=1 if device == "cpu" else 3, iterations=1, warmup_rounds=0)
    n_win = small.sizes["time"]
    report(benchmark, op=f"{OP} sliding series ({n_win} windows of 8 h, 1 h step)",
           size=f"{series.sizes['time']}×{SERIES_N}²", backend=f"ours power_maps {device}",
           bytes_min=4 * series["vlos"].size + 16 * SERIES_N**2 * n_win, max_error=err,
           device="gpu" if device == "cuda" else "cpu",
           input_bytes=int(series["vlos"].nbytes), **extra)
