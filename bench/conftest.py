"""Benchmark-suite plumbing (docs/performance.md §7): copy bandwidth, rows, results table.

Run with ``python -m pytest bench --benchmark-only`` from the repository root.

* :func:`copy_bandwidth` (session, autouse) measures the machine's copy bandwidth
  at the start of the run: ``np.copyto`` of a 512 MiB float32 buffer on the CPU,
  and a 1 GiB device-to-device copy timed with CUDA events on the GPU (only when
  :func:`solarprep.backend.gpu_available`). Bytes are read + written.
* :func:`report` records one row per benchmark into ``benchmark.extra_info`` and
  into this run's table.
* :func:`pytest_terminal_summary` prints the table as Markdown and writes it, with
  the raw rows as JSON, to ``bench/results/<UTC date>_<host or GPU>.md|.json``.

Nothing here imports CuPy unless a GPU is usable, so the suite runs unchanged on
a CPU-only machine (GPU rows skip).
"""
import datetime
import importlib.metadata
import json
import math
import os
import pathlib
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from benchutil import cpu_llc_bytes, cuda_event_times, gpu_available, summarize_times

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"

#: Copy-bandwidth buffer sizes (bytes of the source buffer).
CPU_COPY_BYTES = 512 * 2**20
GPU_COPY_BYTES = 2**30
COPY_REPS = 7

#: A row whose p90 exceeds this multiple of its median is flagged as noisy in the table.
NOISY_P90 = 1.5

_ROWS = []       # rows recorded by report(), in run order
_STATE = {}      # copy bandwidth and environment, filled by the session fixtures


# --------------------------------------------------------------------------- environment

def _cpu_description():
    model, mhz = platform.processor() or platform.machine(), None
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key == "cpu MHz" and mhz is None:
                mhz = float(value)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    try:
        import numba

        threads = numba.get_num_threads()
    except Exception:  # pragma: no cover
        threads = None
    return {"cpu_model": model, "cpu_mhz": mhz, "logical_cpus": os.cpu_count(),
            "usable_cpus": usable, "numba_threads": threads, "llc_bytes": cpu_llc_bytes(),
            "memory_gb": _memory_gb()}


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _busy_cpu_seconds():
    """CPU seconds spent busy by the whole machine (all processes), from /proc/stat."""
    try:
        fields = pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def _own_cpu_seconds():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _contention_start():
    _STATE["contention"] = (time.perf_counter(), _busy_cpu_seconds(), _own_cpu_seconds())


def _contention_end():
    """Core-seconds used by other processes while this run went on (machine busy − ours)."""
    if "contention" not in _STATE or _STATE["contention"][1] is None:
        return None
    t0, busy0, own0 = _STATE["contention"]
    wall = time.perf_counter() - t0
    busy = _busy_cpu_seconds()
    if busy is None:
        return None
    other = max(0.0, (busy - busy0) - (_own_cpu_seconds() - own0))
    cores = os.cpu_count() or 1
    return {"cpu_s": other, "wall_s": wall, "cores": cores,
            "share_pct": 100.0 * other / max(wall * cores, 1e-9)}


def _memory_gb():
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _nvidia_smi():
    exe = shutil.which("nvidia-smi")
    if not exe:
        return {}
    fields = ["name", "driver_version", "clocks.sm", "clocks.mem", "clocks.max.sm",
              "clocks.max.mem", "power.limit", "persistence_mode", "memory.total"]
    try:
        out = subprocess.run([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except Exception as exc:  # noqa: BLE001 - best effort
        return {"nvidia_smi_error": str(exc)}
    first = out.strip().splitlines()[0] if out.strip() else ""
    values = [v.strip() for v in first.split(",")]
    return {f"smi_{k.replace('.', '_')}": v for k, v in zip(fields, values)}


def _gpu_description():
    import cupy

    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props.get("name", b"")
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    info = {
        "gpu_name": name,
        "gpu_index": dev.id,
        "compute_capability": dev.compute_capability,
        "sm_count": props.get("multiProcessorCount"),
        "l2_bytes": props.get("l2CacheSize"),
        "gpu_memory_gb": round(props.get("totalGlobalMem", 0) / 2**30, 1),
        "sm_clock_khz": props.get("clockRate"),
        "mem_clock_khz": props.get("memoryClockRate"),
        "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
    }
    info.update(_nvidia_smi())
    try:
        from numba import cuda

        info["numba_cuda_implementation"] = getattr(cuda, "implementation", "unknown")
    except Exception:  # pragma: no cover
        pass
    return info


def _version(dist, module=None):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        if module is not None:
            try:
                return getattr(__import__(module), "__version__", None)
            except Exception:  # noqa: BLE001
                return None
        return None


def _versions():
    import numpy

    out = {"python": platform.python_version(), "numpy": numpy.__version__}
    for dist, module in [("numba", "numba"), ("scipy", "scipy"), ("sunpy", "sunpy"),
                         ("astropy", "astropy"), ("solarprep", "solarprep"),
                         ("pytest-benchmark", None), ("numba-cuda", None), ("cupy", "cupy")]:
        if dist == "cupy":
            found = next((d for d in ("cupy", "cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x")
                          if _version(d)), None)
            if found:
                out["cupy"] = f"{_version(found)} ({found})"
            continue
        v = _version(dist, module)
        if v is not None:
            out[dist] = v
    return out


def environment():
    """Device, versions and date of this run (cached for the session)."""
    if "env" not in _STATE:
        env = {"date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
               "hostname": socket.gethostname(), "platform": platform.platform(),
               "cpu": _cpu_description(), "versions": _versions(), "gpu": None,
               "loadavg_start": _loadavg()}
        if gpu_available():
            try:
                env["gpu"] = _gpu_description()
            except Exception as exc:  # noqa: BLE001 - never fail a run on metadata
                env["gpu"] = {"error": repr(exc)}
        _STATE["env"] = env
    return _STATE["env"]


# --------------------------------------------------------------------------- copy bandwidth

def measure_cpu_copy(nbytes=CPU_COPY_BYTES, reps=COPY_REPS):
    """``np.copyto`` of a float32 buffer; GB/s counting bytes read + written (best, median)."""
    n = nbytes // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.zeros(n, dtype=np.float32)
    np.copyto(dst, src)  # fault in every page of dst before timing
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    moved = 2 * n * 4
    del src, dst
    return {"method": "np.copyto float32, 1 thread", "buffer_bytes": n * 4, "bytes_moved": moved,
            "reps": reps, "best_s": min(times), "median_s": float(np.median(times)),
            "gbps_best": moved / min(times) / 1e9, "gbps_median": moved / float(np.median(times)) / 1e9}


def measure_gpu_copy(nbytes=GPU_COPY_BYTES, reps=COPY_REPS):
    """Device-to-device ``cudaMemcpyAsync`` of 1 GiB timed with CUDA events (read + write)."""
    import cupy

    n = nbytes // 4
    src = cupy.ones(n, dtype=cupy.float32)
    dst = cupy.zeros(n, dtype=cupy.float32)

    def copy():
        dst.data.copy_from_device_async(src.data, n * 4)

    times = cuda_event_times(copy, reps=reps, warmup=2)
    moved = 2 * n * 4
    del src, dst
    cupy.get_default_memory_pool().free_all_blocks()
    return {"method": "cudaMemcpyAsync D2D, CUDA events", "buffer_bytes": n * 4,
            "bytes_moved": moved, "reps": reps, "best_s": min(times),
            "median_s": float(np.median(times)), "gbps_best": moved / min(times) / 1e9,
            "gbps_median": moved / float(np.median(times)) / 1e9}


@pytest.fixture(scope="session", autouse=True)
def copy_bandwidth():
    """Copy bandwidth measured at the start of this run: ``{"cpu": {...}, "gpu": {...} | None}``.

    The reference for "% of copy BW" is ``gbps_best`` (the highest rate the
    machine reached, so shares are conservative).
    """
    if "copy" not in _STATE:
        _contention_start()
        result = {"cpu": measure_cpu_copy(), "gpu": None}
        if gpu_available():
            result["gpu"] = measure_gpu_copy()
        _STATE["copy"] = result
        environment()
    return _STATE["copy"]


# --------------------------------------------------------------------------- rows

def _report(benchmark, *, op, size, backend, bytes_min, max_error=None, baseline=False,
            times=None, timer=None, device=None, **extra):
    """Record one row (see :func:`report`). Returns the row, or None when benchmarking is off."""
    if times is None:
        stats = getattr(benchmark, "stats", None)
        if not stats:  # --benchmark-disable or nothing measured
            return None
        times = list(stats.stats.data)
        timer = timer or "wall (pytest-benchmark, time.perf_counter)"
    if device is None:
        device = "gpu" if any(k in backend.lower() for k in ("cuda", "cupy", "gpu")) else "cpu"
    summary = summarize_times(times)
    copy = _STATE.get("copy") or {}
    ref = copy.get(device)
    gbps = bytes_min / summary["median_s"] / 1e9 if bytes_min else None
    share = 100.0 * gbps / ref["gbps_best"] if (gbps is not None and ref) else None
    row = {"op": op, "size": size, "backend": backend, "baseline": bool(baseline),
           **summary, "timer": timer, "bytes_min": bytes_min, "gbps": gbps,
           "copy_device": device, "copy_gbps": ref["gbps_best"] if ref else None,
           "pct_copy_bw": share, "max_error": max_error, "test": benchmark.name,
           **extra, "env": environment()}
    benchmark.extra_info.update({k: v for k, v in row.items() if k != "test"})
    _ROWS.append(row)
    return row


@pytest.fixture
def report():
    """``report(benchmark, *, op, size, backend, bytes_min, max_error=None, **extra)``.

    Call after the benchmark ran. Records into ``benchmark.extra_info`` and the
    run's table: op, size, backend, median and p10/p90 (seconds, from
    ``benchmark.stats``), ``bytes_min``, effective GB/s = bytes_min / median, its
    share of the copy bandwidth measured at the start of the run, ``max_error``,
    and the environment. Extra keywords:

    baseline : bool
        This row is the reference for the speed-up column of its (op, size).
    times : list of float
        Seconds per call measured otherwise (CUDA events); replaces pytest-benchmark's
        wall times in the row.
    timer : str
        How ``times`` were taken.
    device : {"cpu", "gpu"}
        Which copy bandwidth to compare with (guessed from ``backend``).
    anything else
        Stored as is (e.g. ``first_call_s``, ``jit_compile_s``).
    """
    return _report


@pytest.fixture(scope="session")
def gpu_peak():
    """Measured dense bf16 GEMM rate (FLOP/s) of this GPU: 8192³, CUDA events, best of 10 (the
    MFU reference of the training rows)."""
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(10):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        a @ b
        e.record()
        e.synchronize()
        best = min(best, s.elapsed_time(e) * 1e-3)
    return 2 * 8192**3 / best


# --------------------------------------------------------------------------- table

def _fmt_time(s):
    if s is None:
        return "–"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _fmt_num(x, fmt="{:.3g}"):
    return "–" if x is None else fmt.format(x)


def _fmt_error(err):
    if not err:
        return "–"
    if not isinstance(err, dict):
        return str(err)
    parts = []
    for key, label in (("mu", "μ"), ("lat_deg", "lat"), ("lon_deg", "lon")):
        if key in err and err[key] is not None:
            unit = "°" if key.endswith("_deg") else ""
            parts.append(f"{label} {err[key]:.1e}{unit}")
    if err.get("mask_mismatch_px"):
        parts.append(f"mask Δ {err['mask_mismatch_px']} px")
    if parts and err.get("checked_on"):
        parts[-1] += f" (at {err['checked_on']})"
    return ", ".join(parts) or json.dumps(err)


def _speedups(rows):
    base = {}
    for r in rows:
        if r["baseline"]:
            base.setdefault((r["op"], r["size"]), r)
    out = []
    for r in rows:
        b = base.get((r["op"], r["size"]))
        if b is None:
            out.append("–")
        elif b is r:
            out.append("1 (baseline)")
        else:
            ratio = b["median_s"] / r["median_s"]
            out.append(f"{ratio:,.0f}×" if ratio >= 100 else f"{ratio:.3g}×")
    return out


def markdown_table(rows):
    head = ("| op | size | backend | median | p10–p90 | GB/s | % of copy BW | speed-up vs baseline "
            "| max error vs reference | notes: first call, JIT, queued |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for r, sp in zip(rows, _speedups(rows)):
        jit = []
        if r.get("first_call_s") is not None:
            cache = r.get("numba_cache") or {}
            how = " (numba cache hit)" if cache.get("cache_hits") else ""
            jit.append(f"first {_fmt_time(r['first_call_s'])}{how}")
        if r.get("jit_compile_s") is not None:
            jit.append(f"JIT {_fmt_time(r['jit_compile_s'])}")
        if r.get("queued_per_launch_s") is not None:
            jit.insert(0, f"queued {_fmt_time(r['queued_per_launch_s'])}/launch "
                          f"({_fmt_num(r.get('queued_gbps'))} GB/s)")
        lines.append(
            f"| {r['op']} | {r['size']} | {r['backend']} | {_fmt_time(r['median_s'])} "
            f"| {_fmt_time(r['p10_s'])}–{_fmt_time(r['p90_s'])} | {_fmt_num(r['gbps'])} "
            f"| {_fmt_num(r['pct_copy_bw'], '{:.2g} %')} | {sp} | {_fmt_error(r.get('max_error'))} "
            f"| {', '.join(jit) or '–'} |")
    noisy = [f"{r['backend']} {r['size']}" for r in rows
             if r["rounds"] >= 5 and r["p90_s"] > NOISY_P90 * r["median_s"]]
    if noisy:
        lines += ["", f"Noisy rows (p90 > {NOISY_P90}× median; another process may have shared "
                      f"the cores; min times are in the JSON): " + "; ".join(noisy) + "."]
    return "\n".join(lines)


def _header_lines():
    env = _STATE.get("env") or {}
    copy = _STATE.get("copy") or {}
    cpu = env.get("cpu") or {}
    lines = [f"Run {env.get('date_utc', '?')} on `{env.get('hostname', '?')}`: "
             f"{cpu.get('cpu_model', '?')}, {cpu.get('usable_cpus', '?')} usable cores "
             f"(numba threads {cpu.get('numba_threads', '?')}), {cpu.get('memory_gb', '?')} GB RAM; "
             f"load average (1/5/15 min) {env.get('loadavg_start')} at start."]
    other = env.get("other_processes")
    if other:
        lines.append(f"Other processes used {other['cpu_s']:.0f} core-seconds during the run's "
                     f"{other['wall_s']:.0f} s ({other['share_pct']:.0f} % of the machine's "
                     f"{other['cores']} cores): rows taken while they ran are slower and noisier.")
    gpu = env.get("gpu")
    if gpu:
        driver = gpu.get("smi_driver_version", gpu.get("cuda_driver", "?"))
        lines.append(f"GPU: {gpu.get('gpu_name', '?')}, driver {driver}, "
                     f"SM clock {gpu.get('smi_clocks_sm') or gpu.get('sm_clock_khz') or '?'} "
                     f"(max {gpu.get('smi_clocks_max_sm', '?')}), "
                     f"mem clock {gpu.get('smi_clocks_mem', '?')}.")
    else:
        lines.append("GPU: none usable (GPU rows skipped).")
    vers = env.get("versions") or {}
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".")
    for dev in ("cpu", "gpu"):
        c = copy.get(dev)
        if c:
            lines.append(f"Copy bandwidth ({dev}, {c['method']}, {c['buffer_bytes'] / 2**20:.0f} MiB, "
                         f"read + write, {c['reps']} reps): best {c['gbps_best']:.1f} GB/s, "
                         f"median {c['gbps_median']:.1f} GB/s; \"% of copy BW\" uses the best.")
    return lines


def _slug(text):
    return re.sub(r"[^A-Za-z0-9.-]+", "-", str(text)).strip("-") or "unknown"


def _atomic_write(path, text):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _result_paths():
    env = _STATE.get("env") or {}
    date = (env.get("date_utc") or datetime.datetime.now(datetime.UTC).isoformat())[:10]
    gpu = env.get("gpu") or {}
    who = gpu.get("gpu_name") if gpu.get("gpu_name") else env.get("hostname", socket.gethostname())
    stem = f"{date}_{_slug(who)}"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    k = 1
    name = stem
    while (RESULTS_DIR / f"{name}.md").exists() or (RESULTS_DIR / f"{name}.json").exists():
        k += 1
        name = f"{stem}_{k}"
    return RESULTS_DIR / f"{name}.md", RESULTS_DIR / f"{name}.json"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _ROWS:
        return
    if "env" in _STATE:
        _STATE["env"]["loadavg_end"] = _loadavg()
        _STATE["env"]["other_processes"] = _contention_end()
    table = markdown_table(_ROWS)
    header = _header_lines()
    tr = terminalreporter
    tr.write_sep("=", "solarprep benchmark table (docs/performance.md §7)")
    for line in header:
        tr.write_line(line)
    tr.write_line("")
    for line in table.splitlines():
        tr.write_line(line)
    if os.environ.get("SOLARPREP_BENCH_SAVE", "1") == "0" or any(
            key.endswith("_SMALL") or "_BENCH_" in key and key != "SOLARPREP_BENCH_SAVE"
            for key in os.environ if key.isupper() and os.environ[key] not in ("", "0")):
        tr.write_line("")
        tr.write_line("results not written (a quick-check size variable is set, or "
                      "SOLARPREP_BENCH_SAVE=0)")
        return
    md_path, json_path = _result_paths()
    rows = [{k: v for k, v in r.items() if k != "env"} for r in _ROWS]
    payload = {"environment": _STATE.get("env"), "copy_bandwidth": _STATE.get("copy"),
               "command": " ".join(sys.argv), "exitstatus": int(exitstatus), "rows": rows}
    md = ["# solarprep benchmarks", "", *header, "", table, "",
          f"Command: `{' '.join(['python', '-m', 'pytest', *config.invocation_params.args])}`; "
          f"raw rows: `{json_path.name}`. Columns: see `bench/README.md`.", ""]
    _atomic_write(json_path, json.dumps(_jsonable(payload), indent=1, allow_nan=False) + "\n")
    _atomic_write(md_path, "\n".join(md))
    tr.write_line("")
    tr.write_line(f"results written to {md_path} and {json_path.name}")
