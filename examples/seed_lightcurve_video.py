"""Seed 1: a light curve → continuum video diffusion transformer in a latent space
===============================================================================

Tutorial, seed 1: a light curve → continuum video model as the seed built it (a video
autoencoder, then the STDiT transformer in its latent space, in three stages), at CPU size.

What a user types (``runs/video`` here)::

    # data: synthetic HMI-like continuum frames every 12 h with spots emerging and rotating, and
    #   their 1-AU disk-integrated light curve (solarprep.photometry.disk_integrate); frames scaled
    #   by the largest training pixel, the light curve z-scored, both with the training block's
    #   statistics; 16-frame windows; the limb-darkened disk of every frame from the observer
    #   geometry (solarmodels.datasets.video)
    # stage 1: the per-frame autoencoder (frames minus their limb-darkened disk, 4x compression)
    solarmodels train configs/video_stage1_autoencoder_cpu.toml --run-dir runs/video/stage1
    # stage 2: the STDiT in its latent space at low resolution (16^2 frames)
    solarmodels train configs/video_stage2_lowres_cpu.toml --run-dir runs/video/stage2 \\
        --set system_config.autoencoder=runs/video/stage1
    # stage 3: full resolution (32^2 frames), initialised from the stage-2 EMA weights
    solarmodels train configs/video_stage3_fullres_cpu.toml --run-dir runs/video/stage3 \\
        --set system_config.autoencoder=runs/video/stage1 --set train.init_from=runs/video/stage2
    # evaluate on the test windows: MAE, PSNR / SSIM (data range 2), disk-integrated brightness
    #   against the conditioning light curve, for one sample and for the mean of 16 samples;
    #   beside the mean and the last training frame and the limb-darkened disk
    solarmodels evaluate runs/video/stage3 --option ensemble=16
    #   the same with physics guidance at sampling: each step nudged so that the disk integral
    #   of the implied clean video follows the conditioning light curve (docs/diffusion.md)
    solarmodels evaluate runs/video/stage3 --weights ema --option ensemble=8 \\
        --option physics_guidance=0.5
    solarmodels evaluate runs/video/stage1          # the autoencoder's reconstructions
    solarmodels predict runs/video/stage1 frames.nc --out reconstructed.nc
    # a video for any light curve solarprep reads (here a disk_integrate netCDF file)
    solarmodels sample runs/video/stage3 --lightcurve runs/video/lightcurve.nc --out v.nc

The seed's own sizes are ``configs/video_stage{1,2,3}_*.toml`` (Open-Sora VAE compression,
STDiT3-XL/2, 256^2 then 512^2 frames, mapping 256 then 1024).
"""
import pathlib

from _gallery import cli, demo_step_of, step, table, train, versus, versus_line

__all__ = ["demo_step", "run", "summarise"]

DEMO = {"frames": 192, "stage1": 400, "stage2": 300, "stage3": 400, "size": 32,
        "low": 16, "curve_frames": 40, "ensemble": 16, "guided_ensemble": 8}
TOY = {"frames": 80, "stage1": 2, "stage2": 2, "stage3": 2, "size": 16, "low": 16,
       "curve_frames": 20, "ensemble": 2, "guided_ensemble": 2}
#: Physics guidance of the guided evaluation (λ: the share of the light-curve loss removed per step).
PHYSICS_GUIDANCE = 0.5


def run(out, *, toy=False, progress=False) -> dict:
    """The command-line path of this tutorial into ``out``; the results of each command."""
    from solarmodels.datasets.video import synthetic_continuum_series
    from solarprep.io.storage import save

    p = TOY if toy else DEMO
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {k: out / f"video_{k}" for k in ("stage1", "stage2", "stage3")}
    frames = f"data.n_frames={p['frames']}"
    res = {"stage1": train("video_stage1_autoencoder_cpu.toml", runs["stage1"], frames,
                           f"data.size={p['size']}", steps=p["stage1"])}
    ae = f"system_config.autoencoder='{runs['stage1']}'"
    res["stage2"] = train("video_stage2_lowres_cpu.toml", runs["stage2"], frames, ae,
                          f"data.size={p['low']}", steps=p["stage2"])
    res["train"] = train("video_stage3_fullres_cpu.toml", runs["stage3"], frames, ae,
                         f"train.init_from='{runs['stage2']}'", f"data.size={p['size']}",
                         steps=p["stage3"])
    res["evaluate"] = cli(["evaluate", runs["stage3"], "--figures", 1, "--out",
                           out / "video_eval", "--option", f"ensemble={p['ensemble']}"])
    res["evaluate_guided"] = cli(["evaluate", runs["stage3"], "--figures", 0, "--weights", "ema",
                                  "--out", out / "video_eval_guided", "--option",
                                  f"ensemble={p['guided_ensemble']}", "--option",
                                  f"physics_guidance={PHYSICS_GUIDANCE}"])
    res["evaluate_autoencoder"] = cli(["evaluate", runs["stage1"], "--figures", 1, "--out",
                                       out / "video_autoencoder_eval"])
    # a light curve the model has never seen: another synthetic Sun, through disk_integrate
    frames, lc = synthetic_continuum_series(p["curve_frames"], p["size"], seed=11, n_spots=10,
                                            spot_radius=(5.0, 10.0))
    curve = save(lc, out / "video_lightcurve.nc", check=False)
    # the autoencoder's reconstructions of those frames
    res["reconstruct"] = cli(["predict", runs["stage1"], save(frames, out / "video_frames.nc"),
                              "--out", out / "video_reconstructed.nc"])
    res["sample"] = cli(["sample", runs["stage3"], "--lightcurve", curve, "--out",
                         out / "video_from_lightcurve.nc"])
    res["lightcurve"] = curve
    # predict on a light-curve file is the same as sample --lightcurve
    res["predict"] = cli(["predict", runs["stage3"], curve, "--out", out / "video_predict.nc"])
    return res


def summarise(res, out, tic=None) -> dict:
    """The main-job row of the results of :func:`run`: metrics beside their baselines."""
    out = pathlib.Path(out)
    ev, ae = res["evaluate"], res["evaluate_autoencoder"]
    files = [*ev["files"], *res["evaluate_guided"]["files"], *ae["files"], res["lightcurve"],
             *res["sample"]["files"]]
    keys = ("mae", "psnr", "ssim", "mae_physical", "physics_r", "physics_relative_error")
    metrics = table(ev, keys)
    for key in ("mae", "psnr", "physics_r"):
        metrics[key]["model_ensemble"] = ev["metrics"].get(f"ensemble_{key}")
    metrics["autoencoder"] = table(ae, ("mae", "psnr", "physics_r"))
    guided = res["evaluate_guided"]
    metrics["physics_guided"] = {k: guided["metrics"].get(f"ensemble_{k}")
                                 for k in ("mae", "psnr", "physics_r", "physics_relative_error")}
    metrics["physics_guided"].update(guidance=PHYSICS_GUIDANCE,
                                     ensemble_size=guided["metrics"].get("ensemble_size"))
    gens = {"metrics": {k: guided["metrics"].get(f"ensemble_{k}")
                        for k in ("mae", "psnr", "physics_r")},
            "baselines": guided["baselines"]}
    metrics.update(steps={k: res[k]["step"] for k in ("stage1", "stage2", "train")},
                   data_range=ev["metrics"]["data_range"],
                   ensemble_size=ev["metrics"].get("ensemble_size"))
    ens = {"metrics": {k: ev["metrics"].get(f"ensemble_{k}") for k in ("mae", "psnr")},
           "baselines": ev["baselines"]}
    note = (f"latent STDiT (stage 3, {res['train']['step']} steps; autoencoder "
            f"{res['stage1']['step']} steps), test windows, mean of "
            f"{ev['metrics'].get('ensemble_size', 1)} samples: "
            f"{versus(ens, 'psnr', 'PSNR dB (range 2)', '{:.1f}')}; {versus(ens, 'mae', 'MAE')}; "
            f"one sample PSNR {ev['metrics']['psnr']:.1f}, MAE {ev['metrics']['mae']:.3g}; "
            f"physics r {ev['metrics'].get('ensemble_physics_r', float('nan')):.2f}, with physics "
            f"guidance {gens['metrics']['physics_r'] or float('nan'):.2f}; "
            f"autoencoder {versus(ae, 'psnr', 'PSNR', '{:.1f}')}")
    row = step("lightcurve_video", tic, files, metrics, note)
    row["versus"] = [
        versus_line("video STDiT, mean of samples", "PSNR dB", ens, "psnr"),
        versus_line("video STDiT, mean of samples", "MAE", ens, "mae"),
        versus_line("video STDiT, one sample", "PSNR dB", ev, "psnr"),
        versus_line("video STDiT, mean of samples", "physics r", {
            "metrics": {"physics_r": ev["metrics"].get("ensemble_physics_r")},
            "baselines": ev["baselines"]}, "physics_r"),
        versus_line(f"video STDiT, physics guidance {PHYSICS_GUIDANCE}", "physics r", gens,
                    "physics_r"),
        versus_line(f"video STDiT, physics guidance {PHYSICS_GUIDANCE}", "PSNR dB", gens, "psnr"),
        versus_line(f"video STDiT, physics guidance {PHYSICS_GUIDANCE}", "MAE", gens, "mae"),
        versus_line("video autoencoder (stage 1)", "PSNR dB", ae, "psnr")]
    return row


demo_step = demo_step_of(run, summarise)
