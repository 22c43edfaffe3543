"""Strong scaling, memory and throughput of ``solarprep run`` on a local dask cluster (issue 14).

The job: N synthetic full-disk continuum frames (FITS, ``size``²) → derotate to one time →
limb-darkening removal (fit per frame) → appended to a zarr store, on 1 and 2 workers
(``LocalCluster(processes=True, threads_per_worker=1)``), and the same job eagerly in one
process (``load`` → ``derotate`` → ``remove_limb_darkening`` → ``save``; numba on every core).

Reported per run: wall time, frames/s, frames/s per worker, the workers' and the client's
CPU seconds (the client process also runs the scheduler), the fraction of the wall time the
workers spent in tasks (dask task stream), the peak RSS of every worker process
(``ru_maxrss``) and of the client, and the machine load (``uptime``) before and after.
Strong-scaling efficiency = T(1 worker) / (2 · T(2 workers)); because the machine is shared,
the CPU-time ratio (total worker CPU seconds, 1 vs 2 workers) is reported next to it: it is
what the parallel machinery itself costs.

Usage (from the repository root; inputs are cached under ``--data``)::

    python bench/parallel_scaling.py scaling --frames 200 --size 1024 --workers 1 2
    python bench/parallel_scaling.py memory --frames 200 2000 --size 512 --workers 2
    python bench/parallel_scaling.py eager --frames 200 --size 1024
    python bench/parallel_scaling.py scaling --frames 16 --size 4096 --workers 1 --chunks 1
    python bench/parallel_scaling.py scaling --frames 16 --size 4096 --workers 1 --chunks 1 --io-only

Each command appends its rows to ``bench/results/parallel.json`` and prints them as Markdown.
"""
import argparse
import datetime
import json
import os
import pathlib
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "parallel.json"
TARGET = "2011-02-15T12:00"
STEPS = [f"derotate:to={TARGET}", "limb-darkening"]


def load_average():
    return os.getloadavg()[0]


def make_inputs(folder, frames, size):
    """``frames`` FITS files of one synthetic continuum image, 45 s apart (HMI cadence)."""
    import sunpy.map
    from astropy.time import TimeDelta
    from sunpy.time import parse_time

    from solarprep import synthetic

    folder = pathlib.Path(folder) / f"{size}px_{frames}"
    if len(list(folder.glob("*.fits"))) == frames:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    base = synthetic.SyntheticSun(seed=0).continuum("2011-02-15T00:00", shape=size)
    for k in range(frames):
        meta = base.meta.copy()
        for key in ("date-obs", "t_obs", "date-avg"):
            if key in meta:
                meta[key] = (parse_time(meta[key]) + TimeDelta(45 * k, format="sec")).utc.isot
        sunpy.map.Map(base.data, meta).save(folder / f"frame_{k:05d}.fits", overwrite=True)
    return folder


def _worker_stats():
    import psutil

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = psutil.Process().cpu_times()
    return {"maxrss_mb": usage.ru_maxrss / 1024, "cpu_s": cpu.user + cpu.system}


def run_cluster(folder, workers, chunks, out_dir, steps=STEPS):
    """One timed pipeline run on a fresh LocalCluster; returns its row."""
    from distributed import Client, get_task_stream

    from solarprep.parallel import local_cluster, pipeline

    pattern = str(folder / "*.fits")
    frames = len(list(folder.glob("*.fits")))
    with local_cluster(workers, threads_per_worker=1) as cluster, Client(cluster) as client:
        warm = out_dir / "warm.zarr"  # imports, numba caches: not part of the job
        pipeline.run(sorted(folder.glob("*.fits"))[:2 * workers], steps, warm, chunks=1,
                     scheduler=cluster.scheduler_address, progress=False, overwrite=True)
        before = client.run(_worker_stats)
        client_cpu0 = _worker_stats()["cpu_s"]
        load0 = load_average()
        out = out_dir / f"run_{workers}.zarr"
        tic = time.perf_counter()
        with get_task_stream(client) as stream:
            pipeline.run(pattern, steps, out, chunks=chunks,
                         scheduler=cluster.scheduler_address, progress=False, overwrite=True)
        wall = time.perf_counter() - tic
        busy = sum(s["stop"] - s["start"] for task in stream.data for s in task["startstops"]
                   if s["action"] == "compute")
        after = client.run(_worker_stats)
        client_cpu = _worker_stats()["cpu_s"] - client_cpu0
        load1 = load_average()
    cpu = sum(after[w]["cpu_s"] - before[w]["cpu_s"] for w in after)
    return {"mode": "cluster" if steps else "cluster, read + write only", "workers": workers,
            "frames": frames,
            "size": int(folder.name.split("px")[0]), "chunks": chunks, "wall_s": wall,
            "frames_per_s": frames / wall, "frames_per_s_per_worker": frames / wall / workers,
            "worker_cpu_s": cpu, "client_cpu_s": client_cpu,
            "worker_busy_fraction": busy / (wall * workers),
            "worker_peak_rss_mb": sorted(round(a["maxrss_mb"]) for a in after.values()),
            "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_before": load0, "load_after": load1}


def run_eager(folder, out_dir):
    """The same job in memory, in this process (numba on every core)."""
    import solarprep

    frames = len(list(folder.glob("*.fits")))
    load0 = load_average()
    cpu0 = _worker_stats()["cpu_s"]
    tic = time.perf_counter()
    ds = solarprep.load(str(folder / "*.fits"), progress=False, device="cpu")
    ds = solarprep.remove_limb_darkening(solarprep.derotate(ds, TARGET, device="cpu"),
                                         device="cpu")
    solarprep.save(ds.drop_vars(["mu", "hgs_lat", "hgs_lon", "on_disk"]), out_dir / "eager.zarr")
    wall = time.perf_counter() - tic
    return {"mode": "eager", "workers": 0, "frames": frames,
            "size": int(folder.name.split("px")[0]), "chunks": 0, "wall_s": wall,
            "frames_per_s": frames / wall, "frames_per_s_per_worker": float("nan"),
            "worker_cpu_s": float("nan"), "client_cpu_s": _worker_stats()["cpu_s"] - cpu0,
            "worker_peak_rss_mb": [],
            "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_before": load0, "load_after": load_average()}


def record(rows):
    RESULTS.parent.mkdir(exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    RESULTS.write_text(json.dumps(old + [{**r, "utc": stamp} for r in rows], indent=1))
    print("| mode | workers | frames | size | chunks | wall s | frames/s | frames/s/worker | "
          "worker CPU s | client CPU s | workers busy | worker peak RSS MB | "
          "client peak RSS MB | load before/after |")
    print("|" + "---|" * 14)
    for r in rows:
        print(f"| {r['mode']} | {r['workers']} | {r['frames']} | {r['size']} | {r['chunks']} | "
              f"{r['wall_s']:.1f} | {r['frames_per_s']:.2f} | {r['frames_per_s_per_worker']:.2f} | "
              f"{r['worker_cpu_s']:.1f} | {r.get('client_cpu_s', float('nan')):.1f} | "
              f"{r.get('worker_busy_fraction', float('nan')):.0%} | "
              f"{r['worker_peak_rss_mb']} | {r['client_peak_rss_mb']} | "
              f"{r['load_before']:.1f} / {r['load_after']:.1f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["scaling", "memory", "eager"])
    parser.add_argument("--frames", type=int, nargs="+", default=[200])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "solarprep-bench"))
    parser.add_argument("--io-only", action="store_true",
                        help="no step: read the FITS files and write zarr (the host-side cost "
                             "that remains when the steps run on GPUs)")
    args = parser.parse_args(argv)
    rows = []
    for frames in args.frames:
        folder = make_inputs(args.data, frames, args.size)
        out_dir = pathlib.Path(tempfile.mkdtemp(prefix="solarprep-bench-out-"))
        try:
            if args.what == "eager":
                rows.append(run_eager(folder, out_dir))
            else:
                for workers in args.workers:
                    rows.append(run_cluster(folder, workers, args.chunks, out_dir,
                                            [] if args.io_only else STEPS))
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
    record(rows)
    if args.what == "scaling" and {1, 2} <= {r["workers"] for r in rows}:
        one = next(r for r in rows if r["workers"] == 1)
        two = next(r for r in rows if r["workers"] == 2)
        print(f"\nstrong-scaling efficiency (wall) T1/(2·T2) = "
              f"{one['wall_s'] / (2 * two['wall_s']):.2f}; worker CPU s 1 → 2 workers: "
              f"{one['worker_cpu_s']:.1f} → {two['worker_cpu_s']:.1f}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
