"""Seed 1: a light curve → continuum video diffusion transformer
=============================================================

Tutorial, seed 1: a light curve → continuum video diffusion transformer (rectified flow).

What a user types (``runs/video`` here)::

    # 1. data: synthetic HMI-like continuum frames every 12 h with spots emerging and rotating,
    #    and their 1-AU disk-integrated light curve (solarprep.photometry.disk_integrate); frames
    #    scaled by the largest training pixel, the light curve z-scored, both with the training
    #    block's statistics only; 16-frame windows (solarmodels.datasets.video)
    # 2. train at CPU size (configs/video_lightcurve.toml is the seed's STDiT3-XL, pixel space)
    solarmodels train configs/video_lightcurve_cpu.toml --run-dir runs/video/run
    # 3. evaluate on the test windows: MAE, PSNR / SSIM (data range 2), disk-integrated brightness
    #    against the conditioning light curve; beside the mean and the last training frame
    solarmodels evaluate runs/video/run
    # 4. a video for any light curve solarprep reads (here a disk_integrate netCDF file)
    solarmodels sample runs/video/run --lightcurve runs/video/lightcurve.nc --out runs/video/v.nc
"""
import pathlib

from _gallery import cli, demo_step_of, step, table, train, versus

__all__ = ["demo_step", "run", "summarise"]

DEMO = {"frames": 128, "steps": 200, "curve_frames": 40}
TOY = {"frames": 80, "steps": 2, "curve_frames": 20}


def run(out, *, toy=False, progress=False) -> dict:
    """The command-line path of this tutorial into ``out``; the results of each command."""
    from solarmodels.datasets.video import synthetic_continuum_series
    from solarprep.io.storage import save

    p = TOY if toy else DEMO
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / "video_run"
    res = {"train": train("video_lightcurve_cpu.toml", run_dir, f"data.n_frames={p['frames']}",
                          "train.eval_every=0", steps=p["steps"])}
    res["evaluate"] = cli(["evaluate", run_dir, "--figures", 1, "--out", out / "video_eval"])
    # a light curve the model has never seen: another synthetic Sun, through disk_integrate
    _, lc = synthetic_continuum_series(p["curve_frames"], 16, seed=11, n_spots=6)
    curve = save(lc, out / "video_lightcurve.nc", check=False)
    res["sample"] = cli(["sample", run_dir, "--lightcurve", curve, "--out",
                         out / "video_from_lightcurve.nc"])
    res["lightcurve"] = curve
    # predict on a light-curve file is the same as sample --lightcurve
    res["predict"] = cli(["predict", run_dir, curve, "--out", out / "video_predict.nc"])
    return res


def summarise(res, out, tic=None) -> dict:
    """The main-job row of the results of :func:`run`: metrics beside their baselines."""
    out = pathlib.Path(out)
    ev = res["evaluate"]
    files = [*ev["files"], res["lightcurve"], *res["sample"]["files"]]
    metrics = table(ev, ("mae", "psnr", "ssim", "mae_physical", "physics_r",
                         "physics_relative_error"))
    metrics.update(steps=res["train"]["step"], data_range=ev["metrics"]["data_range"])
    note = (f"tiny STDiT, {res['train']['step']} steps, test windows: "
            f"{versus(ev, 'psnr', 'PSNR dB (range 2)', '{:.1f}')}; "
            f"{versus(ev, 'mae', 'MAE')}; physics r {ev['metrics']['physics_r']:.2f}")
    return step("lightcurve_video", tic, files, metrics, note)


demo_step = demo_step_of(run, summarise)
