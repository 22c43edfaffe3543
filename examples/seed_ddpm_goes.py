"""Seed 2: a DDPM of AIA 171 guided by GOES flare class
====================================================

Tutorial, seed 2: a class-conditional DDPM of AIA 171 with classifier-free guidance on GOES class.

What a user types (``runs/ddpm`` here)::

    # 1. data: GOES/XRS labels come from solarprep (here the real GOES-15 file of 2011-06-07 with
    #    its M2.5 flare: read, flares detected; goes.label_times labels image times); the images
    #    are synthetic AIA 171 frames with a flare brightening that follows the GOES flux
    #    (solarmodels.datasets.flares; real AIA through solarprep.load + images_from_dataset)
    # 2. train at CPU size (configs/ddpm_goes_class.toml is the seed's 64² UNet, T = 1000)
    solarmodels train configs/ddpm_goes_class_cpu.toml --run-dir runs/ddpm/run
    # 3. evaluate on the test images: FID / KID, cluster metrics, the F1 of a flare classifier
    #    trained with generated images; beside the class-mean training images and the real
    #    training images. --feature-extractor inception.pt2 --feature-size 299 --feature-rgb uses
    #    Inception-v3 features from a local file; the offline default is a small encoder.
    solarmodels evaluate runs/ddpm/run
    solarmodels evaluate runs/ddpm/run --option guidance_scale=1.0     # without guidance
    # 4. sample: 16 images of class M; one image per time of a GOES file
    solarmodels sample runs/ddpm/run --class M --n 16 --out runs/ddpm/m_class.nc
    solarmodels predict runs/ddpm/run ../shared/data/real/goes/go1520110607.fits \\
        --out runs/ddpm/goes_day.nc
"""
import logging
import pathlib

import numpy as np
from _gallery import cli, demo_step_of, step, table, train, versus, versus_line

__all__ = ["demo_step", "run", "summarise"]

log = logging.getLogger(__name__)

DEMO = {"n": 160, "steps": 1200, "n_samples": 40, "encoder_steps": 80, "f1_steps": 60}
TOY = {"n": 20, "steps": 3, "n_samples": 8, "encoder_steps": 3, "f1_steps": 3}


def _goes_file():
    from solarprep.io import real_data_dir

    folder = real_data_dir()
    path = None if folder is None else folder / "goes" / "go1520110607.fits"
    return path if path is not None and path.exists() else None


def _goes_figure(out, path):
    """The real GOES day: flux, detected flares and their classes."""
    from solarprep.lightcurves import goes
    from solarprep.plotting import plot_lightcurve, save_figure

    xrs = goes.read_xrs(path)
    events = goes.detect_flares(xrs, min_class="C1")
    fig = plot_lightcurve(xrs)
    ax = fig.axes[0]
    for t, c in zip(events.peak_time.values, events.goes_class.values):
        ax.axvline(t, color="C3", lw=0.8, ls="--")
        ax.text(t, float(xrs.xrsb.max()), str(c), color="C3", fontsize=8)
    return save_figure(fig, out / "ddpm_goes_events.png"), [str(c) for c in
                                                             events.goes_class.values]


def run(out, *, toy=False, progress=False) -> dict:
    """The command-line path of this tutorial into ``out``; the results of each command."""
    p = TOY if toy else DEMO
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / "ddpm_run"
    res = {"train": train("ddpm_goes_class_cpu.toml", run_dir, f"data.n={p['n']}",
                          "train.eval_every=0", steps=p["steps"])}
    res["evaluate"] = cli(["evaluate", run_dir, "--figures", 1, "--out", out / "ddpm_eval",
                           "--n-samples", p["n_samples"],
                           "--option", f"encoder_steps={p['encoder_steps']}",
                           "--option", f"f1_steps={p['f1_steps']}"])
    # the same without guidance (w = 1): closer to the data, still ordered by class
    res["evaluate_w1"] = cli(["evaluate", run_dir, "--figures", 0, "--out",
                              out / "ddpm_eval_w1", "--n-samples", p["n_samples"],
                              "--option", f"encoder_steps={p['encoder_steps']}",
                              "--option", f"f1_steps={p['f1_steps']}",
                              "--option", "guidance_scale=1.0"])
    res["sample"] = cli(["sample", run_dir, "--class", "M", "--n", 4 if toy else 16, "--out",
                         out / "ddpm_class_M.nc"])
    goes = _goes_file()
    if goes is not None:
        res["predict"] = cli(["predict", run_dir, goes, "--out", out / "ddpm_goes_day.nc"])
    return res


def summarise(res, out, tic=None) -> dict:
    """The main-job row of the results of :func:`run`: metrics beside their baselines."""
    import xarray as xr

    out = pathlib.Path(out)
    ev = res["evaluate"]
    files = [*ev["files"], *res["sample"]["files"]] + \
        (res["predict"]["files"] if "predict" in res else [])
    metrics = table(ev, ("fid", "kid", "js_divergence", "precision", "recall", "f1_macro"))
    metrics["mean_intensity_generated_DN"] = ev["metrics"]["mean_intensity_generated"]
    metrics["mean_intensity_real_DN"] = ev["metrics"]["mean_intensity_real"]
    metrics["class_intensity_ordered"] = ev["metrics"]["class_intensity_ordered"]
    metrics["peak_intensity_generated_DN"] = ev["metrics"]["peak_intensity_generated"]
    metrics["peak_intensity_real_DN"] = ev["metrics"]["peak_intensity_real"]
    metrics["class_peak_ordered"] = ev["metrics"]["class_peak_ordered"]
    metrics["steps"] = res["train"]["step"]
    goes = _goes_file()
    if goes is not None:
        figure, events = _goes_figure(out, goes)
        files.append(figure)
        metrics["goes_events"] = events
    with xr.open_dataset(res["sample"]["output"], engine="h5netcdf") as ds:
        metrics["class_M_mean_DN"] = float(np.mean(ds["image"].values))
    f1_base = ev["baselines"].get("real_only_classifier", {}).get("f1_macro")
    note = (f"tiny DDPM, {res['train']['step']} steps, test split: "
            f"{versus(ev, 'fid', 'FID (small encoder)', '{:.2f}')}; F1 with generated "
            f"{ev['metrics']['f1_macro']:.2f} (real only {f1_base:.2f}); class means "
            f"ordered A<…<X: {ev['metrics']['class_intensity_ordered']}, flare peaks: "
            f"{ev['metrics']['class_peak_ordered']}; without guidance (w = 1) "
            f"{versus(res['evaluate_w1'], 'fid', 'FID', '{:.2f}')}, flare peaks ordered: "
            f"{res['evaluate_w1']['metrics']['class_peak_ordered']}")
    row = step("ddpm_goes_class", tic, files, metrics, note)
    peak = ev["metrics"]["peak_intensity_generated"]
    ev1 = res["evaluate_w1"]
    metrics["w1"] = table(ev1, ("fid", "kid"))
    metrics["w1"]["class_peak_ordered"] = ev1["metrics"]["class_peak_ordered"]
    row["versus"] = [versus_line(f"DDPM, guidance {w}", name, result, key)
                     for w, result in (("w = 3", ev), ("w = 1", ev1))
                     for name, key in (("FID (small encoder)", "fid"), ("KID", "kid"))]
    row["versus"].append({"model": "DDPM, guidance w = 3", "metric":
                          "peak DN per class A<B<C<M<X",
                          "value": " < ".join(f"{peak[c]:.0f}" for c in "ABCMX"),
                          "baselines": {"real test images": " < ".join(
                              f"{ev['metrics']['peak_intensity_real'][c]:.0f}"
                              for c in "ABCMX")}})
    return row


demo_step = demo_step_of(run, summarise)
