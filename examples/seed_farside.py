"""Seed 4: far-side magnetograms from three EUV passbands
======================================================

Tutorial, seed 4: far-side magnetograms, three EUV passbands → HMI LOS (Pix2PixHD, Pix2PixCC).

What a user types (``runs/farside`` here)::

    # 1. data: AIA 304, 193, 171 and HMI of the same (synthetic) Sun on one disk-centred grid;
    #    EUV as 100·I/disk median, log10 of 1..200 → [-1, 1]; HMI ±3000 G → [-1, 1]; split in time.
    #    Real data: --input euv304='aia304/*.fits' --input euv193=... --input euv171=... 'hmi/*.fits'
    solarprep build-pairs --synthetic 24 euv304,euv193,euv171 magnetogram --synthetic-size 128 \\
        --shape 64 --radius 28 --scale euv304=euv_median_log10 --scale euv193=euv_median_log10 \\
        --scale euv171=euv_median_log10 --scale blos=hmi_3000 --split 0.7 0.15 0.15 \\
        -o runs/farside/pairs.nc
    # 2. train AISFM 2.0 (Pix2PixHD) and 3.0 (Pix2PixCC) at CPU size (the seeds' own sizes in
    #    configs/pix2pixhd_farside.toml, configs/pix2pixcc_farside.toml); Pix2PixCC with its
    #    correlation inspector on the disk only and a masked MSE term, which is what makes it
    #    learn at this size (the seed's loss: configs/pix2pixcc_farside_cpu.toml)
    solarmodels train configs/pix2pixhd_farside_cpu.toml --run-dir runs/farside/hd \\
        --set data.path=runs/farside/pairs.nc
    solarmodels train configs/pix2pixcc_farside_skill_cpu.toml --run-dir runs/farside/cc \\
        --set data.path=runs/farside/pairs.nc
    # 3. evaluate on the test split: CC and RMSE in gauss over the full disk / active regions /
    #    quiet Sun, total unsigned flux with true pixel areas (limb below μ = 0.1 masked),
    #    beside the training-mean magnetogram
    solarmodels evaluate runs/farside/hd
    # 4. magnetograms in gauss from the EUV frames
    solarmodels predict runs/farside/cc runs/farside/pairs.nc --physical --out runs/farside/blos.nc
"""
import pathlib

from _gallery import cli, demo_step_of, step, table, train, versus, versus_line

__all__ = ["demo_step", "run", "summarise"]

DEMO = {"frames": 24, "size": 64, "steps": {"hd": 80, "cc": 300}}
TOY = {"frames": 6, "size": 32, "steps": {"hd": 2, "cc": 2}}
KEYS = ("cc_G", "rmse_full_disk_G", "rmse_active_region_G", "rmse_quiet_sun_G",
        "tumf_rel_error", "psnr", "ssim")


def run(out, *, toy=False, progress=False) -> dict:
    """The command-line path of this tutorial into ``out``; the results of each command."""
    p = TOY if toy else DEMO
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = out / "farside_pairs.nc"
    scale = []
    for item in ("euv304=euv_median_log10", "euv193=euv_median_log10",
                 "euv171=euv_median_log10", "blos=hmi_3000"):
        scale += ["--scale", item]
    cli(["build-pairs", "--synthetic", p["frames"], "euv304,euv193,euv171", "magnetogram",
         "--synthetic-size", 2 * p["size"], "--shape", p["size"], "--radius",
         round(0.44 * p["size"]), *scale, "--split", "0.7", "0.15", "0.15", "--no-progress",
         "-o", pairs], prog="solarprep")
    small = ["model_config.ngf=4", "model_config.n_down=2", "model_config.n_blocks=1",
             "system_config.discriminator_config.ndf=4"] if toy else []
    results = {"pairs": pairs}
    for tag, config in (("hd", "pix2pixhd_farside_cpu.toml"),
                        ("cc", "pix2pixcc_farside_skill_cpu.toml")):
        run_dir = out / f"farside_{tag}_run"
        results[f"{tag}_train"] = train(config, run_dir, f"data.path='{pairs}'",
                                        "train.eval_every=0", *small, steps=p["steps"][tag])
        results[f"{tag}_evaluate"] = cli(["evaluate", run_dir, "--figures", 1, "--out",
                                          out / f"farside_{tag}_eval"])
        results[f"{tag}_predict"] = cli(["predict", run_dir, pairs, "--physical", "--out",
                                         out / f"farside_{tag}_blos_pred.nc"])
    return results


def summarise(res, out, tic=None) -> dict:
    """The main-job row of the results of :func:`run`: metrics beside their baselines."""
    out = pathlib.Path(out)
    files, metrics, notes, lines = [res["pairs"]], {}, [], []
    for tag, name in (("hd", "Pix2PixHD"), ("cc", "Pix2PixCC")):
        ev = res[f"{tag}_evaluate"]
        files += ev["files"] + res[f"{tag}_predict"]["files"]
        metrics[tag] = table(ev, KEYS)
        metrics[tag]["steps"] = res[f"{tag}_train"]["step"]
        lines += [versus_line(f"{name}, EUV → HMI", label, ev, key)
                  for label, key in (("RMSE disk (G)", "rmse_full_disk_G"), ("CC (G)", "cc_G"))]
        notes.append(f"{name} {res[f'{tag}_train']['step']} steps: "
                     f"{versus(ev, 'cc_G', 'CC(G)')}, "
                     f"{versus(ev, 'rmse_full_disk_G', 'RMSE disk G', '{:.0f}')}")
    row = step("farside_pix2pixhd_cc", tic, files, metrics,
               "synthetic EUV 304/193/171 → HMI, test split: " + "; ".join(notes))
    row["versus"] = lines
    return row


demo_step = demo_step_of(run, summarise)
