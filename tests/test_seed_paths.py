"""Each of the five seed systems end to end from the command line at CPU size (toy sizes).

Each test runs the seed's tutorial (``examples/seed_*.py``) with ``toy=True``: the commands a
user types — data (synthetic Sun or the real SOLARED regions) → preprocessing (``solarprep
build-pairs`` with scaling, split and several channels) → the seed's CPU config
(``configs/*_cpu.toml``) → ``solarmodels train`` → ``evaluate`` (test split, baselines) →
``predict`` or ``sample`` — and checks what they wrote. The main job runs the same scripts at
demo size.
"""
import json
import pathlib

import numpy as np
import pytest
import torch  # noqa: F401  (tiny models: the one-torch-thread fixture of conftest applies)
import xarray as xr

from .cf_files import check_tree


@pytest.fixture(autouse=True)
def _cf_files(request, tmp_path):
    """After each seed: every netCDF file it wrote (pairs, SOLARED builds, light curves,
    evaluation tables, predictions and samples) has CF/UDUNITS-2 units (``cf_files``)."""
    yield
    if "examples" in request.fixturenames and request.node.name != \
            "test_the_main_job_runs_every_tutorial":
        assert check_tree(tmp_path), "the seed wrote no netCDF file"

def _finite(result, *keys):
    for key in keys:
        assert np.isfinite(result["metrics"][key]), key


def test_the_main_job_runs_every_tutorial(examples):
    import importlib
    import inspect

    from main_job import STEPS

    seeds = [m for m, _, _ in STEPS if m.startswith("seed_")]
    assert len(seeds) == 5
    for module in seeds:
        mod = importlib.import_module(module)
        assert "toy" in inspect.signature(mod.demo_step).parameters and mod.summarise
        assert "solarmodels" in mod.__doc__ and "evaluate" in mod.__doc__


def test_park2019_pix2pix_hmi_to_aia(tmp_path, examples):
    from seed_park2019_pix2pix import run, summarise

    res = run(tmp_path, toy=True)
    assert res["train"]["step"] == 2 and res["train"]["warnings"] == []
    assert set(res["evaluate_a"]["baselines"]) == {"train_mean", "field_regression"}
    ev = res["evaluate"]
    assert ev["split"] == "test" and ev["n"] >= 1
    for key in ("cc_physical", "re_physical", "ppe10_physical", "psnr", "ssim", "rmse"):
        assert np.isfinite(ev["metrics"][key]) and np.isfinite(
            ev["baselines"]["train_mean"][key]), key
    assert "input" not in ev["baselines"]          # G → DN: no input baseline
    with xr.open_dataset(res["predict"]["output"], engine="h5netcdf") as pred:
        assert pred["euv171_pred"].attrs["units"] == "count"       # CF; DN beside it
        assert pred["euv171_pred"].attrs["units_astropy"] == "DN"
        assert pred.attrs["checkpoint_step"] == 2 and "solarmodels predict" in pred.attrs["history"]
    assert pathlib.Path(res["predict"]["files"][1]).stat().st_size > 1000
    row = summarise(res, tmp_path)
    assert "train_mean" in row["metrics"]["cc_physical"] and "CC(DN)" in row["note"]


def test_farside_pix2pixhd_and_pix2pixcc_euv_to_magnetogram(tmp_path, examples):
    """Three EUV passbands → HMI; the magnetogram evaluation (flux with limb pixels masked)."""
    from seed_farside import run, summarise

    res = run(tmp_path, toy=True)
    assert "RMSE disk G" in summarise(res, tmp_path)["note"]
    with xr.open_dataset(res["pairs"], engine="h5netcdf") as ds:
        assert ds.attrs["input_variables"] == "euv304 euv193 euv171"
        assert set(np.unique(ds["split"].values)) == {"train", "val", "test"}
    for tag in ("hd", "cc"):
        ev = res[f"{tag}_evaluate"]
        for key in ("rmse_full_disk_G", "rmse_active_region_G", "rmse_quiet_sun_G", "cc_G",
                    "tumf_pred_Mx", "tumf_target_Mx"):
            assert np.isfinite(ev["metrics"][key]), key
            assert np.isfinite(ev["baselines"]["train_mean"][key]), key
        assert 1e20 < ev["metrics"]["tumf_target_Mx"] < 1e25
        with xr.open_dataset(res[f"{tag}_predict"]["output"], engine="h5netcdf") as pred:
            assert pred["blos_pred"].attrs["units"] == "gauss"       # UDUNITS-2 name


def test_ddpm_goes_class_with_guidance(tmp_path, examples):
    from seed_ddpm_goes import run, summarise

    res = run(tmp_path, toy=True)
    assert "real_train" in summarise(res, tmp_path)["metrics"]["fid"]
    ev = res["evaluate"]
    assert ev["split"] == "test" and ev["weights"] == "ema"
    _finite(ev, "fid", "kid", "js_divergence", "precision", "recall", "f1_macro")
    assert {"train_class_mean", "real_train", "real_only_classifier"} <= set(ev["baselines"])
    assert "fid" in ev["metrics_raw_weights"]                   # EMA and raw weights both scored
    assert any("near-untrained" in n for n in ev["notes"])      # 3 steps at decay 0.99
    assert ev["metrics"]["intensity_units"] == "DN"
    with xr.open_dataset(res["sample"]["output"], engine="h5netcdf") as ds:
        assert ds["image"].shape == (4, 16, 16) and ds["image"].attrs["units_astropy"] == "DN"
        assert set(ds["goes_class"].values) == {"M"} and float(ds["image"].min()) > 0
    if "predict" in res:                                         # the real GOES day
        with xr.open_dataset(res["predict"]["output"], engine="h5netcdf") as ds:
            assert "M" in set(ds["goes_class"].values)           # the M2.5 flare of 2011-06-07
            assert ds["goes_flux"].attrs["units"]


def test_lightcurve_to_video(tmp_path, examples):
    from seed_lightcurve_video import run, summarise

    res = run(tmp_path, toy=True)
    assert "train_mean_frame" in summarise(res, tmp_path)["metrics"]["psnr"]
    ev = res["evaluate"]
    assert ev["split"] == "test" and ev["n"] == 1
    _finite(ev, "mae", "psnr", "ssim", "physics_r", "mae_physical")
    assert set(ev["baselines"]) == {"train_mean_frame", "last_train_frame", "limb_darkened_disk",
                                    "disk_plus_mean_residual"}
    assert ev["metrics"]["data_range"] == 2.0 and ev["metrics"]["ensemble_size"] == 2
    assert np.isfinite(ev["metrics"]["ensemble_psnr"])
    assert [res[k]["step"] for k in ("stage1", "stage2", "train")] == [2, 2, 2]
    assert np.isfinite(res["evaluate_autoencoder"]["metrics"]["psnr"])
    with xr.open_dataset(res["reconstruct"]["output"], engine="h5netcdf") as ds:
        assert ds["intensity_reconstructed"].shape == ds["intensity"].shape == (20, 16, 16)
    with xr.open_dataset(res["sample"]["output"], engine="h5netcdf") as ds:
        assert ds["intensity"].shape == (16, 16, 16)             # one 16-frame window
        assert ds["intensity"].attrs["units"] == "count s-1" and ds.attrs["window"] == 16
        assert ds["intensity"].attrs["units_astropy"] == "DN / s"   # DN: no UDUNITS-2 unit
        assert ds["light_curve"].dims == ("time",)
        sampled = ds["intensity"].values
    with xr.open_dataset(res["predict"]["output"], engine="h5netcdf") as ds:   # same seed
        np.testing.assert_array_equal(ds["intensity"].values, sampled)
    from solarmodels._runs import open_run
    from solarmodels.inference import sample_video

    ctx = open_run(tmp_path / "video_stage3")
    with xr.open_dataset(res["lightcurve"], engine="h5netcdf") as lc:   # a Dataset plugs in
        out = sample_video(ctx.system, ctx, tmp_path / "ds.nc", lightcurve=lc[["flux"]].load())
    with xr.open_dataset(out["output"], engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds["intensity"].values, sampled)


def test_solared_benchmark_and_prediction(tmp_path, examples, real_data):
    from seed_solared import run, summarise

    res = run(tmp_path, toy=True)
    assert "persistence" in summarise(res, tmp_path)["note"]
    summary = json.loads(pathlib.Path(res["summary"]).read_text())
    for key in ("rmse_model", "rmse_persistence", "rmse_train_mean", "skill_vs_persistence"):
        assert np.isfinite(summary[key]), key
    assert summary["skill_vs_persistence"] == pytest.approx(
        1 - summary["rmse_model"] / summary["rmse_persistence"])
    test = res["regions"]["test"][0].removeprefix("AR")
    assert set(summary["per_region"]) == {test} and summary["steps"] >= 1
    with xr.open_dataset(res["predict"]["output"], engine="h5netcdf") as ds:
        assert ds["intensity_forecast"].dims == ("sample", "tile")
        assert {"intensity_persistence", "intensity_observed"} <= set(ds.data_vars)
        # forecasts in SOLARED intensity units, on the scale of the observations
        obs = ds["intensity_observed"].values
        assert abs(float(np.median(ds["intensity_persistence"].values - obs))) < np.std(obs)


def test_every_seed_has_a_config_at_its_own_size_and_at_cpu_size():
    from solarmodels.config import load_config

    configs = pathlib.Path(__file__).resolve().parents[1] / "configs"
    names = {p.stem for p in configs.glob("*.toml")}
    for seed in ("pix2pix_b_hmi_aia171", "pix2pixhd_farside", "pix2pixcc_farside",
                 "ddpm_goes_class", "video_lightcurve", "solared_attention", "solared_resnet3d"):
        assert {seed, f"{seed}_cpu"} <= names, seed
    for path in sorted(configs.glob("*.toml")):
        run = load_config(path)                       # every key checked against the dataclasses
        assert run.model and run.system, path.name
        if path.stem != "pix2pix_a_synthetic":
            assert "Expected time" in path.read_text(), path.name
