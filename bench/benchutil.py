"""Stateless helpers shared by ``bench/conftest.py`` and the benchmark modules.

(A module of its own, not ``conftest``, so that ``import`` finds it unambiguously
even when ``tests/`` and ``bench/`` are collected in the same session.)
"""
import math
import pathlib
import re

import numpy as np

__all__ = ["percentile", "summarize_times", "gpu_available", "cuda_event_times",
           "torch_cuda_step_times", "count_flops",
           "cpu_llc_bytes", "gpu_l2_bytes", "buffer_sets"]


def percentile(data, q):
    """Percentile (linear interpolation) of a list of seconds."""
    return float(np.percentile(np.asarray(data, dtype=float), q))


def summarize_times(times):
    """median, p10, p90, min, mean and count of a list of seconds."""
    arr = np.asarray(times, dtype=float)
    return {"median_s": float(np.median(arr)), "p10_s": percentile(arr, 10),
            "p90_s": percentile(arr, 90), "min_s": float(arr.min()),
            "mean_s": float(arr.mean()), "rounds": int(arr.size)}


def gpu_available():
    from solarprep.backend import gpu_available as _gpu_available

    return _gpu_available()


def cuda_event_times(fn, *, reps=30, warmup=3, setup=None):
    """Time ``fn()`` on the GPU with CUDA events, one event pair per call (seconds).

    ``setup()``, if given, runs before each call outside the timed region (e.g. to
    pick the next output buffer). Events are recorded on CuPy's current stream,
    which is the legacy default stream that numba.cuda also launches on.
    """
    import cupy

    for _ in range(warmup):
        args = setup() if setup else ()
        fn(*args)
    cupy.cuda.get_current_stream().synchronize()
    times = []
    for _ in range(reps):
        args = setup() if setup else ()
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn(*args)
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) * 1e-3)
    return times


def cpu_llc_bytes():
    """Size of the largest CPU cache (bytes), from sysfs; 32 MiB when unknown."""
    best = 0
    for path in pathlib.Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text().strip()
        m = re.fullmatch(r"(\d+)([KMG]?)", text)
        if m:
            best = max(best, int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)])
    return best or 32 * 2**20


def gpu_l2_bytes():
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    return int(props.get("l2CacheSize", 50 * 2**20))


def buffer_sets(nbytes_per_set, cache_bytes, minimum=3, maximum=16):
    """How many buffer sets to rotate so that they span at least twice the cache."""
    return int(min(maximum, max(minimum, math.ceil(2 * cache_bytes / max(nbytes_per_set, 1)))))


def torch_cuda_step_times(step, *, warmup, rounds):
    """Time a torch training ``step()`` on the GPU.

    Returns ``(first_s, times, synced)``: the first call's wall time (compilation
    included), seconds per step from CUDA events over ``rounds`` steps after
    ``warmup`` more, and a ``synced()`` callable (step + synchronize) for
    pytest-benchmark's wall-clock rounds.
    """
    import time

    import torch

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    step()
    torch.cuda.synchronize()
    first_s = time.perf_counter() - t0
    times = torch_event_times(step, rounds=rounds, warmup=warmup)

    def synced():
        step()
        torch.cuda.synchronize()

    return first_s, times, synced


def torch_event_times(fn, *, rounds=10, warmup=3):
    """Seconds of each of ``rounds`` calls of ``fn()`` on the GPU (torch CUDA events), after
    ``warmup`` untimed calls."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(rounds):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e-3)
    return times


def training_step(system, batch, precision="fp32"):
    """A ``step()`` that runs one training step of ``system`` on ``batch`` with the system's
    own optimisers (``precision="bf16"``: under bf16 autocast); returns its losses."""
    import torch

    from solarmodels.systems.base import StepContext

    opts = system.configure_optimizers()
    device_type = next(system.networks.parameters()).device.type

    def step():
        ctx = StepContext(opts)
        if precision == "bf16":
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
                return system.training_step(batch, ctx)
        return system.training_step(batch, ctx)

    return step


def count_flops(fn):
    """Run ``fn()`` once under ``torch.utils.flop_counter.FlopCounterMode``; ``(result, FLOPs)``
    (forward and backward matmuls / convolutions: the numerator of MFU)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        result = fn()
    return result, int(counter.get_total_flops())
