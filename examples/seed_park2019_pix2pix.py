"""Seed 3: Park et al. (2019) Pix2Pix, HMI → AIA 171
=================================================

Tutorial, seed 3: Park et al. (2019) Pix2Pix, HMI magnetogram → AIA 171, from the command line.

What a user types (``runs/park`` here; the main job writes under its output folder)::

    # 1. data: synthetic HMI and AIA 171 of the same Sun (no co-registered real pair is offline;
    #    for real data give FITS globs: solarprep build-pairs "hmi/*.fits" "aia171/*.fits" ...),
    #    put on one disk-centred grid, scaled as Park et al. and split in time
    solarprep build-pairs --synthetic 24 magnetogram euv171 --synthetic-size 128 --shape 64 \\
        --radius 25 --scale blos=hmi_3000 --scale euv171=aia_log2 --split 0.7 0.15 0.15 \\
        -o runs/park/pairs.nc
    # 2. train Model A (L1) and Model B (cGAN + 100 L1) at CPU size, both predicting the departure
    #    from the mean training image; configs/pix2pix_b_hmi_aia171.toml is the seed's Model B
    solarmodels train configs/pix2pix_a_hmi_aia171_cpu.toml --run-dir runs/park/run_a \\
        --set data.path=runs/park/pairs.nc
    solarmodels train configs/pix2pix_b_hmi_aia171_cpu.toml --run-dir runs/park/run \\
        --set data.path=runs/park/pairs.nc
    # 3. evaluate on the test split: Park et al.'s CC / RE / PPE10 in DN, SSIM, PSNR (range 2),
    #    beside the training-mean image and the per-pixel regression on |B|
    solarmodels evaluate runs/park/run_a
    solarmodels evaluate runs/park/run
    # 4. predict AIA 171 in DN for every frame of a file of magnetograms
    solarmodels predict runs/park/run runs/park/pairs.nc --physical --out runs/park/aia171_pred.nc

The real AIA 171 sample (``../shared/data/real/sdo``) shows the preprocessing: the ``aia_log2``
scaling and its exact inverse on a real full-disk image (``park_real_aia171_scaling.png``).
"""
import pathlib

import numpy as np
from _gallery import CONFIGS, cli, demo_step_of, step, table, train, versus, versus_line

__all__ = ["demo_step", "run", "summarise"]

DEMO = {"frames": 24, "size": 64, "steps": 150}
TOY = {"frames": 6, "size": 32, "steps": 2}


def _real_sample_figure(out):
    """The seed's AIA scaling on the real AIA 171 sample, and its inverse (a round trip)."""
    from matplotlib.figure import Figure

    from solarprep import load
    from solarprep.datasets import scalings
    from solarprep.io import real_data_dir
    from solarprep.plotting import save_figure

    folder = real_data_dir()
    path = None if folder is None else folder / "sdo" / "aia171_20110215T0000_lev1_128px.fits"
    if path is None or not path.exists():
        return None, None
    ds = scalings.scale(load(path, progress=False), "aia_log2", variable="euv171")
    back = scalings.unscale(ds, variable="euv171")
    raw = load(path, progress=False)["euv171"].values[0]
    inside = (raw >= 0) & (raw <= 2 ** 14 - 1)            # the scaling clips outside
    err = float(np.nanmax(np.abs(back["euv171"].values[0] - raw)[inside] / np.maximum(raw[inside], 1)))
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, img, title in ((axes[0], np.log10(np.maximum(raw, 1)), "AIA 171 log10(DN)"),
                           (axes[1], ds["euv171"].values[0], "aia_log2 scaled, [-1, 1]")):
        im = ax.imshow(img, origin="lower", cmap="inferno")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    return save_figure(fig, out / "park_real_aia171_scaling.png"), err


def run(out, *, toy=False, progress=False) -> dict:
    """The command-line path of this tutorial into ``out``; the results of each command."""
    p = TOY if toy else DEMO
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = out / "park_pairs.nc"
    cli(["build-pairs", "--synthetic", p["frames"], "magnetogram", "euv171",
         "--synthetic-size", 2 * p["size"], "--shape", p["size"], "--radius",
         round(0.39 * p["size"]), "--scale", "blos=hmi_3000", "--scale", "euv171=aia_log2",
         "--split", "0.7", "0.15", "0.15", "--no-progress", "-o", pairs], prog="solarprep")
    run_dir = out / "park_run"
    small = ["model_config.ngf=4"] if toy else []
    trained_a = train("pix2pix_a_hmi_aia171_cpu.toml", out / "park_run_a", f"data.path='{pairs}'",
                      f"model_config.image_size={p['size']}", "train.eval_every=0", *small,
                      steps=p["steps"])
    evaluation_a = cli(["evaluate", out / "park_run_a", "--figures", 1, "--out",
                        out / "park_eval_a"])
    small += ["system_config.discriminator_config.ndf=4"] if toy else []
    trained = train("pix2pix_b_hmi_aia171_cpu.toml", run_dir, f"data.path='{pairs}'",
                    f"model_config.image_size={p['size']}", "train.eval_every=0", *small,
                    steps=p["steps"])
    evaluation = cli(["evaluate", run_dir, "--figures", 1, "--out", out / "park_eval"])
    predicted = cli(["predict", run_dir, pairs, "--physical", "--out",
                     out / "park_aia171_pred.nc"])
    return {"pairs": pairs, "train": trained, "evaluate": evaluation, "predict": predicted,
            "train_a": trained_a, "evaluate_a": evaluation_a,
            "config": CONFIGS / "pix2pix_b_hmi_aia171_cpu.toml"}


def summarise(res, out, tic=None) -> dict:
    """The main-job row of the results of :func:`run`: metrics beside their baselines."""
    out = pathlib.Path(out)
    ev = res["evaluate"]
    files = [res["pairs"], *ev["files"], *res["predict"]["files"]]
    figure, roundtrip = _real_sample_figure(out)
    if figure is not None:
        files.append(figure)
    keys = ("cc_physical", "re_physical", "ppe10_physical", "psnr", "ssim", "rmse", "mae")
    ev_a = res["evaluate_a"]
    files += ev_a["files"]
    metrics = table(ev, keys)
    metrics["model_a"] = table(ev_a, keys)
    metrics.update(steps=res["train"]["step"], split=ev["split"],
                   real_aia_roundtrip_max_rel_error=roundtrip)
    note = (f"synthetic HMI→AIA 171, {res['train']['step']} steps, test split; Pix2Pix A: "
            f"{versus(ev_a, 'psnr', 'PSNR dB (range 2)', '{:.1f}')}; {versus(ev_a, 'mae', 'MAE')}"
            f"; Pix2Pix B: {versus(ev, 'psnr', 'PSNR dB', '{:.1f}')}; "
            f"{versus(ev, 'cc_physical', 'CC(DN)')}")
    row = step("park2019_pix2pix", tic, files, metrics, note)
    row["versus"] = [versus_line(f"Pix2Pix {tag}, HMI → AIA 171", name, result, key)
                     for tag, result in (("A", ev_a), ("B", ev))
                     for name, key in (("PSNR dB", "psnr"), ("MAE", "mae"),
                                       ("CC (DN, disk)", "cc_physical"))]
    return row


demo_step = demo_step_of(run, summarise)
