"""The main job: every step on the embedded data
=============================================

The main job: the pipeline end to end on the embedded default data.

``make demo`` (``python examples/main_job.py``, or :func:`run_demo`) loads every real sample image that is
present (``../shared/data/real``) and a synthetic Sun written as FITS with real-looking
headers, adds the disk geometry, writes each solar Dataset as netCDF with a
quick-look PNG, then runs the gallery scripts beside this file one after another
(photometry, the SOLARED dataset, and the short model trainings of the seed systems)
and writes ``summary.md`` / ``summary.json``. It runs in well under 10 minutes on 2 cores.

This runner is not part of the libraries: it only calls their public API, and no
library module imports it.
"""
import contextlib
import json
import logging
import pathlib
import sys
import time

import numpy as np

from solarprep import derotate, disk_coordinates, load, save, synthetic, to_device
from solarprep.io import real_data_dir, real_images
from solarprep.io.atomic import write_text
from solarprep.plotting import plot_derotation, plot_lightcurve, quicklook, save_figure

__all__ = ["run_demo"]

log = logging.getLogger(__name__)


def _describe(ds, name, seconds):
    from solarprep.dataset import data_variables

    var = data_variables(ds)[0]
    data = np.asarray(ds[var].values)
    row = {
        "name": name,
        "variable": var,
        "units": ds[var].attrs["units"],
        "instrument": ds.attrs.get("instrument", ""),
        "shape": list(data.shape),
        "time_start": str(ds["time"].values[0])[:19],
        "time_end": str(ds["time"].values[-1])[:19],
        "finite_fraction": float(np.isfinite(data).mean()),
        "seconds": round(seconds, 3),
    }
    if "on_disk" in ds.coords:
        row["on_disk_fraction"] = float(np.asarray(ds["on_disk"].values).mean())
        mu = np.asarray(ds["mu"].values)
        row["mu_min"] = float(np.nanmin(mu)) if np.isfinite(mu).any() else None
    return row


def _process(source, name, out, *, progress, keep=None):
    """Load → disk geometry → netCDF + PNG; returns the summary row (and keeps the Dataset)."""
    start = time.perf_counter()
    ds = disk_coordinates(load(source, progress=progress), device="auto")
    ds = to_device(ds, "cpu")  # the one copy back from a GPU, for files, figures and the summary
    save(ds, out / f"{name}.nc")
    save_figure(quicklook(ds), out / f"{name}.png")
    if keep is not None:
        keep[name] = ds
    return _describe(ds, name, time.perf_counter() - start)


def _derotation_step(ds, out):
    """Derotate the synthetic continuum sequence to its last frame; before/after figure.

    The limb darkening is removed first (derotation carries each surface element's
    intensity, which depends on the viewing angle it had), so that the derotated frame
    can be compared with the one observed at the target time.
    """
    from solarprep import remove_limb_darkening

    start = time.perf_counter()
    ds = remove_limb_darkening(ds, device="auto")
    target = ds["time"].values[-1]
    derotated = to_device(derotate(ds, target, device="auto"), "cpu")
    save(derotated, out / "synthetic_continuum_derotated.nc")
    last = ds.isel(time=[-1])
    save_figure(plot_derotation(ds, derotated, last, time=0),
                out / "synthetic_continuum_derotated.png")
    mu = np.asarray(last["mu"].values)
    mu = mu[-1] if mu.ndim == 3 else mu
    a = np.asarray(derotated["intensity"].values[0])
    b = np.asarray(last["intensity"].values[0])
    good = np.isfinite(a) & np.isfinite(b) & (np.nan_to_num(mu) > 0.3)
    median_rel = float(np.median(np.abs(a[good] - b[good]) / b[good]))
    hours = (target - ds["time"].values[0]) / np.timedelta64(1, "h")
    return {"name": "synthetic_continuum_derotated", "variable": "intensity",
            "units": derotated["intensity"].attrs["units"],
            "instrument": ds.attrs.get("instrument", ""),
            "shape": list(derotated["intensity"].shape),
            "time_start": str(derotated["time"].values[0])[:19],
            "time_end": str(derotated["time"].values[-1])[:19],
            "finite_fraction": float(np.isfinite(derotated["intensity"].values).mean()),
            "seconds": round(time.perf_counter() - start, 3),
            "metrics": {"median_rel_diff_vs_observed_mu>0.3": median_rel,
                        "span_hours": float(hours)},
            "note": f"limb-darkening-removed frame 0 derotated by {hours:.0f} h (Howard law) "
                    f"matches the frame observed then to a median {median_rel:.1e} (noise and "
                    "evolution) over μ > 0.3"}


def _synthetic_steps(out, *, size, frames, progress):
    """Synthetic Sun → FITS → load → disk geometry → netCDF + PNG, plus a GOES curve."""
    import astropy.units as u
    from tqdm.auto import tqdm

    sun = synthetic.SyntheticSun(seed=2026)
    fits_dir = out / "synthetic_fits"
    daily = sun.t0 + np.arange(4) * 6 * u.hour
    cadence = sun.t0 + np.arange(frames) * 45 * u.s
    jobs = [("continuum", daily, size), ("magnetogram", daily, size), ("euv171", daily, size),
            ("euv193", daily, size), ("euv304", daily, size),
            ("dopplergram", cadence, min(size, 256))]
    rows = []
    kept = {}
    for kind, times, shape in tqdm(jobs, desc="synthetic Sun", disable=not progress):
        paths = sun.write_observations(fits_dir / kind, kinds=(kind,), times=times, shape=shape)
        rows.append(_process(paths, f"synthetic_{kind}", out, progress=False, keep=kept))
    rows.append(_derotation_step(kept["synthetic_continuum"], out))
    start = time.perf_counter()
    goes = sun.goes(sun.t0, sun.t0 + 1 * u.day, 60.0)
    save(goes, out / "synthetic_goes.nc")
    save_figure(plot_lightcurve(goes), out / "synthetic_goes.png")
    rows.append({"name": "synthetic_goes", "variable": "xrsb, xrsa", "units": "W / m2",
                 "instrument": goes.attrs.get("instrument", ""), "shape": [goes.sizes["time"]],
                 "time_start": str(goes["time"].values[0])[:19],
                 "time_end": str(goes["time"].values[-1])[:19],
                 "flares": [str(c) for c in goes["flare_class"].values],
                 "seconds": round(time.perf_counter() - start, 3)})
    return rows


#: Further steps of the main job: the gallery scripts beside this file, each with
#: ``demo_step(out, progress=...) -> dict`` returning ``name``, ``seconds``, ``files``,
#: ``metrics`` and a one-line ``note``. Model steps need torch.
STEPS = (
    ("photometry_tour", "limb darkening and light curves", False),
    ("solared_dataset", "SOLARED acoustic-power dataset", False),
    ("seed_park2019_pix2pix", "seed 3: Pix2Pix HMI → AIA 171 (Park et al. 2019)", True),
    ("seed_farside", "seed 4: far-side EUV → HMI (Pix2PixHD, Pix2PixCC)", True),
    ("seed_ddpm_goes", "seed 2: DDPM with CFG on GOES class", True),
    ("seed_lightcurve_video", "seed 1: light curve → continuum video", True),
    ("seed_solared", "seed 5: SOLARED forecasts vs persistence", True),
)


def _torch_available():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


@contextlib.contextmanager
def _one_torch_thread(active):
    """Tiny models on the CPU: one torch thread. Two would compete with numba's parked
    worker threads for 2 cores and run 10-50x slower."""
    if not active:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _step_name(module):
    return {"photometry_tour": "photometry", "solared_dataset": "solared"}.get(
        module, f"models_{module.removeprefix('seed_')}")


def _import_step(module):
    """The gallery script ``module`` (a file beside this one)."""
    import importlib

    here = str(pathlib.Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(module)


def _further_steps(out, *, progress, models=True):
    from tqdm.auto import tqdm

    rows = []
    for module, title, needs_torch in tqdm(STEPS, desc="further steps", disable=not progress):
        if needs_torch and not (models and _torch_available()):
            rows.append({"name": _step_name(module),
                         "title": title, "seconds": 0.0, "files": [], "metrics": {},
                         "note": "skipped: torch is not installed (pip install torch==2.13.0)"
                         if models else "skipped (models=False)"})
            continue
        start = time.perf_counter()
        try:
            with _one_torch_thread(needs_torch):
                row = _import_step(module).demo_step(out, progress=progress)
        except FileNotFoundError as exc:        # e.g. the real SOLARED timelines are absent
            log.warning("step %s skipped: %s", module, exc)
            row = {"files": [], "metrics": {}, "note": f"skipped: {exc}"}
        row["seconds"] = round(time.perf_counter() - start, 3)  # wall time, whatever the step says
        row["name"] = _step_name(module)
        row["title"] = title
        row["files"] = [str(pathlib.Path(f).relative_to(out)) if pathlib.Path(f).is_absolute()
                        and pathlib.Path(f).is_relative_to(out) else str(f)
                        for f in row.get("files", [])]
        rows.append(row)
    return rows


def _fmt(value):
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _write_summary(out, summary):
    write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    lines = [f"# solarprep main job ({summary['version']})", "",
             f"Ran in {summary['seconds']:.1f} s on device `{summary['device']}`; "
             f"real samples from `{summary['real_data']}`.", "",
             "| dataset | variable | units | instrument | shape (t, y, x) | on-disk | min μ | s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in summary["datasets"]:
        mu_min = row.get("mu_min")
        lines.append(
            f"| {row['name']} | {row['variable']} | {row['units']} | {row['instrument']} | "
            f"{tuple(row['shape'])} | {row.get('on_disk_fraction', float('nan')):.3f} | "
            f"{'-' if mu_min is None else f'{mu_min:.4f}'} | {row['seconds']:.2f} |")
    if summary.get("steps"):
        lines += ["", "| step | what | s | result |", "| --- | --- | --- | --- |"]
        for row in summary["steps"]:
            lines.append(f"| {row['name']} | {row['title']} | {float(row['seconds']):.1f} | "
                         f"{row.get('note', '')} |")
    versus = [v for row in summary.get("steps", []) for v in row.get("versus", [])]
    if versus:
        lines += ["", "Each trained model on its test split, beside its trivial baselines:", "",
                  "| model | metric | model | baselines |", "| --- | --- | --- | --- |"]
        for v in versus:
            base = ", ".join(f"{k} {_fmt(x)}" for k, x in v["baselines"].items())
            lines.append(f"| {v['model']} | {v['metric']} | {_fmt(v['value'])} | {base} |")
    for line in summary.get("notes", []):
        lines += ["", line]
    write_text(out / "summary.md", "\n".join(lines) + "\n")


def run_demo(out="runs/demo", *, size=512, frames=64, real_data=None, progress=True,
             models=True):
    """Run the end-to-end demo and return its summary (also written to ``out``).

    Parameters
    ----------
    out : str or pathlib.Path
        Output folder; created if needed. Files in it are replaced atomically.
    size : int
        Synthetic image size (pixels per side).
    frames : int
        Frames of the synthetic 45 s Dopplergram cube.
    real_data : str or pathlib.Path, optional
        Folder of the real samples; default ``../shared/data/real`` when present.
    progress : bool
        Show progress bars.
    models : bool
        Also run the short model trainings (needs torch).

    Returns
    -------
    dict
        What was produced, with timings.
    """
    from tqdm.auto import tqdm

    from solarprep import __version__
    from solarprep.backend import resolve_device

    start = time.perf_counter()
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folder = pathlib.Path(real_data) if real_data else real_data_dir()
    summary = {"version": __version__, "out": str(out), "device": resolve_device("auto"),
               "real_data": str(folder) if folder else None, "datasets": [], "notes": []}

    files = real_images(folder)
    if not files:
        summary["notes"].append("No real samples found: the demo used the synthetic Sun only.")
    for path in tqdm(files, desc="real samples", disable=not progress):
        summary["datasets"].append(_process(path, f"real_{path.stem}", out, progress=False))

    summary["datasets"] += _synthetic_steps(out, size=size, frames=frames, progress=progress)
    summary["steps"] = _further_steps(out, progress=progress, models=models)
    summary["seconds"] = time.perf_counter() - start
    _write_summary(out, summary)
    log.info("demo wrote %d Datasets to %s in %.1f s", len(summary["datasets"]), out,
             summary["seconds"])
    return summary


def main(argv=None):
    """``python examples/main_job.py [--out DIR] ...``: run the main job (what ``make demo`` runs)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    parser.add_argument("--size", type=int, default=512,
                        help="synthetic image size in pixels (default: 512)")
    parser.add_argument("--frames", type=int, default=64,
                        help="frames of the synthetic 45 s Dopplergram cube (default: 64)")
    parser.add_argument("--real-data", default=None,
                        help="folder of the real samples (default: ../shared/data/real if present)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-models", action="store_true",
                        help="skip the short model trainings (solarprep steps only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("numba", "matplotlib", "h5py", "fsspec", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    summary = run_demo(args.out, size=args.size, frames=args.frames, real_data=args.real_data,
                       progress=not args.no_progress, models=not args.no_models)
    print(f"main job finished in {summary['seconds']:.1f} s: {len(summary['datasets'])} Datasets, "
          f"figures and summary.md under {summary['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
