"""Every model family learns: a short CPU training beats its trivial baselines (issue 18).

One test per family, each a small but real learning problem trained through the command line
(``solarmodels train`` with the family's ``_cpu`` configuration at reduced size) and scored by
``solarmodels evaluate`` on held-out data, against the baselines the library computes. The
margins asserted are stated in each test and are below what was measured on the shared 2-core VM
(docs/tutorials.md, docs/solared_models.md), so that they hold with another BLAS or thread count
but fail if the model stops learning.
"""
import pathlib

import numpy as np
import pytest
import torch  # noqa: F401  (tiny models: the one-torch-thread fixture of conftest applies)

from solarmodels.evaluate import EvalOptions  # noqa: F401  (the options the --option keys name)


def _evaluate(cli, run, out, *options):
    argv = ["evaluate", run, "--figures", 0, "--out", out]
    for item in options:
        argv += ["--option", item]
    return cli(argv)


def test_translation_beats_training_mean_and_field_regression(tmp_path, examples):
    """Pix2Pix Model A (L1, residual to the training mean, no shake) on synthetic HMI → AIA 171
    at 32², 48 frames split in time: on the test frames PSNR ≥ training mean + 0.3 dB and ≥ the
    per-pixel |B| regression, MAE ≤ 0.9 × both (measured: 40.0 dB vs 39.3 / 39.5, MAE 0.0095 vs
    0.0119 / 0.0117)."""
    from _gallery import cli, train

    pairs = tmp_path / "pairs.nc"
    cli(["build-pairs", "--synthetic", 48, "magnetogram", "euv171", "--synthetic-size", 64,
         "--shape", 32, "--radius", 12, "--scale", "blos=hmi_3000", "--scale", "euv171=aia_log2",
         "--split", "0.7", "0.15", "0.15", "--no-progress", "-o", pairs], prog="solarprep")
    train("pix2pix_a_hmi_aia171_cpu.toml", tmp_path / "run", f"data.path='{pairs}'",
          "model_config.image_size=32", "train.eval_every=0", steps=200)
    ev = _evaluate(cli, tmp_path / "run", tmp_path / "eval")
    m, base = ev["metrics"], ev["baselines"]
    assert set(base) == {"train_mean", "field_regression"}
    for name in base:
        assert m["psnr"] >= base[name]["psnr"] + (0.3 if name == "train_mean" else 0.0), name
        assert m["mae"] <= 0.9 * base[name]["mae"], name



def test_farside_beats_training_mean(tmp_path, examples):
    """Pix2PixCC (far side, EUV 304/193/171 → HMI) with the correlation inspector on the disk
    only and a masked MSE term (``configs/pix2pixcc_farside_skill_cpu.toml``) on the tutorial's
    synthetic Sun (24 frames, 64², split in time), 300 steps: on the test frames RMSE over the
    disk ≤ 0.98 × the training-mean magnetogram's, RMSE in active regions ≤ 0.9 × its, and CC(G)
    ≥ its CC + 0.2 (measured: RMSE 21.8 G vs 23.2 G, active regions 207 G vs 253 G, CC 0.418 vs
    −0.017; the seed's inspector, which also counts the off-disk fill, does not learn: 92.9 G,
    CC 0.007 after 300 steps)."""
    from _gallery import cli, train

    pairs = tmp_path / "pairs.nc"
    scale = []
    for item in ("euv304=euv_median_log10", "euv193=euv_median_log10",
                 "euv171=euv_median_log10", "blos=hmi_3000"):
        scale += ["--scale", item]
    cli(["build-pairs", "--synthetic", 24, "euv304,euv193,euv171", "magnetogram",
         "--synthetic-size", 128, "--shape", 64, "--radius", 28, *scale, "--split", "0.7", "0.15",
         "0.15", "--no-progress", "-o", pairs], prog="solarprep")
    train("pix2pixcc_farside_skill_cpu.toml", tmp_path / "run", f"data.path='{pairs}'",
          "train.eval_every=0", steps=300)
    ev = _evaluate(cli, tmp_path / "run", tmp_path / "eval")
    m, base = ev["metrics"], ev["baselines"]["train_mean"]
    assert m["rmse_full_disk_G"] <= 0.98 * base["rmse_full_disk_G"], (m, base)
    assert m["rmse_active_region_G"] <= 0.9 * base["rmse_active_region_G"], (m, base)
    assert m["cc_G"] >= base["cc_G"] + 0.2, (m, base)


@pytest.fixture(scope="module")
def video_runs(tmp_path_factory, examples):
    """Stage 1 (autoencoder) and the pixel-space flow at reduced CPU size on one synthetic Sun."""
    from _gallery import train

    root = tmp_path_factory.mktemp("video")
    data = ["data.n_frames=160"]
    train("video_stage1_autoencoder_cpu.toml", root / "ae", *data, steps=200)
    train("video_lightcurve_cpu.toml", root / "flow", *data, "train.eval_every=0", steps=300)
    return root


def test_video_autoencoder_reconstructs_better_than_baselines(video_runs, examples):
    """Stage 1 after 200 steps: reconstruction PSNR ≥ mean training frame + 1.5 dB and ≥ the
    limb-darkened disk + 1 dB, MAE ≤ 0.6 × the mean frame's and ≤ 0.95 × the disk's (measured
    after 150 steps: 28.2 dB vs 26.2 / 26.3, MAE 0.0129 vs 0.0261 / 0.0143)."""
    from _gallery import cli

    ev = _evaluate(cli, video_runs / "ae", video_runs / "ae_eval")
    m, base = ev["metrics"], ev["baselines"]
    assert {"train_mean_frame", "last_train_frame", "limb_darkened_disk",
            "disk_plus_mean_residual"} == set(base)
    assert m["psnr"] >= base["train_mean_frame"]["psnr"] + 1.5
    assert m["psnr"] >= base["limb_darkened_disk"]["psnr"] + 1.0
    assert m["mae"] <= 0.6 * base["train_mean_frame"]["mae"]
    assert m["mae"] <= 0.95 * base["limb_darkened_disk"]["mae"]


def test_video_flow_beats_the_mean_frame(video_runs, examples):
    """The light-curve → video flow (pixel space, disk condition, residual from the mean) after
    300 steps: the mean of 8 samples per test window beats the mean training frame in PSNR and
    has MAE ≤ 0.95 × its MAE; a single sample's MAE is below the mean frame's; the disk integral
    of the samples stays within 0.5 % of the light curve (mean relative error after dividing
    both by their mean). Measured: 26.42 vs 26.21 dB, MAE 0.0220 vs 0.0261 (single 0.0232),
    relative error 0.20 %.

    Not asserted (findings, docs/diffusion.md): against the limb-darkened disk (MAE 0.0143) and
    the disk plus the mean training residual (26.53 dB) the model gains nothing at this size,
    and without guidance the Pearson r of its disk integral with the light curve (−0.16) is not
    above the baselines' (0.15, which comes from the limb geometry alone); with physics guidance
    it is (next test)."""
    from _gallery import cli

    ev = _evaluate(cli, video_runs / "flow", video_runs / "flow_eval", "ensemble=8")
    m, base = ev["metrics"], ev["baselines"]
    mean = base["train_mean_frame"]
    assert m["ensemble_size"] == 8
    assert m["ensemble_psnr"] > mean["psnr"]
    assert m["ensemble_mae"] <= 0.95 * mean["mae"]
    assert m["mae"] < mean["mae"]
    assert m["ensemble_physics_relative_error"] <= 0.005


def test_video_flow_physics_guidance_follows_the_light_curve(video_runs, examples):
    """The same flow sampled with physics guidance λ = 0.5 (diffusion posterior sampling on the
    relative disk-integral error, ``--option physics_guidance=0.5``): the Pearson r of the disk
    integral of the mean of 8 samples with the light curve is ≥ 0.8 and ≥ the baselines' r + 0.5,
    the relative error ≤ 0.6 × the baselines', while PSNR still beats the mean training frame and
    MAE ≤ 0.95 × its MAE. Measured (2-core VM): r 0.988 (one sample 0.989) vs the baselines' 0.148
    (unguided −0.163), relative error 0.053 % vs 0.20 %, 26.42 dB / MAE 0.0224 vs the mean frame's
    26.21 dB / 0.0261 (unguided 26.42 / 0.0220)."""
    from _gallery import cli

    ev = _evaluate(cli, video_runs / "flow", video_runs / "flow_eval_guided", "ensemble=8",
                   "physics_guidance=0.5")
    m, base = ev["metrics"], ev["baselines"]
    assert m["physics_guidance"] == 0.5 and m["ensemble_size"] == 8
    mean = base["train_mean_frame"]
    assert m["ensemble_psnr"] > mean["psnr"]
    assert m["ensemble_mae"] <= 0.95 * mean["mae"]
    assert m["ensemble_physics_r"] >= 0.8
    for name, b in base.items():
        assert m["ensemble_physics_r"] >= b["physics_r"] + 0.5, name
        assert m["ensemble_physics_relative_error"] <= 0.6 * b["physics_relative_error"], name


def test_ddpm_orders_the_classes_and_beats_the_class_mean_images(tmp_path, examples):
    """Class-conditional DDPM (tiny U-Net, 16², condition dropout 0.2, 900 steps): with the
    seed's guidance 3 the mean peak (flare) brightness of the samples grows strictly
    A < B < C < M < X; without guidance (w = 1) the FID on the small encoder is below that of
    the class-mean training images (measured at 1,200 steps, 80 samples: w = 3 ordered, FID 12.1
    vs 6.4; w = 1 ordered, FID 4.7 vs 6.4)."""
    from _gallery import cli, train

    run = tmp_path / "run"
    train("ddpm_goes_class_cpu.toml", run, "train.eval_every=0", steps=900)
    ev = _evaluate(cli, run, tmp_path / "eval", "n_samples=100", "encoder_steps=80",
                   "f1_steps=20")
    assert ev["metrics"]["guidance_scale"] == 3.0
    assert ev["metrics"]["class_peak_ordered"], ev["metrics"]["peak_intensity_generated"]
    ev1 = _evaluate(cli, run, tmp_path / "eval_w1", "n_samples=100", "encoder_steps=80",
                    "f1_steps=20", "guidance_scale=1.0")
    assert ev1["metrics"]["guidance_scale"] == 1.0
    assert ev1["metrics"]["fid"] < ev1["baselines"]["train_class_mean"]["fid"]


def test_solared_beats_persistence_on_held_out_regions(tmp_path, real_data):
    """SOLARED on 16 real regions split by region (12 train, 4 test), 24 h windows, 12 h lead:
    the intensity history as a sixth channel and the residual to persistence give skill over
    persistence ≥ 0.02 and over the training mean ≥ 0.5 after 150 steps of a small attention
    model (measured: skill +0.069 vs persistence, RMSE 0.469 vs 0.504, training mean 1.220)."""
    from solarmodels.benchmark import solared_benchmark

    folders = sorted((real_data / "solared").iterdir())
    test_names = {"11158", "11190", "11327", "11928"}
    test = [f for f in folders if f.name[2:] in test_names]
    train = [f for f in folders if f.name[2:] not in test_names][:12]
    config = pathlib.Path(__file__).resolve().parents[1] / "configs" / \
        "solared_attention_skill_cpu.toml"
    s = solared_benchmark(train, test, out=tmp_path, minutes=5, config=config,
                          overrides=["train.steps=150", "train.batch_size=16", "data.stride=3",
                                     "model_config.d_model=16", "model_config.nhead=2",
                                     "model_config.dim_feedforward=32"])
    assert s["steps"] == 150 and s["data_options"] == {"intensity_channel": True}
    assert s["skill_vs_persistence"] >= 0.02, s
    assert s["skill_vs_train_mean"] >= 0.5, s
    assert np.isfinite(s["rmse_persistence"]) and s["rmse_model"] < s["rmse_persistence"]
