"""solarmodels CLI: list, train, evaluate, predict on a tiny pair file in a temporary folder."""
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from solarmodels.cli import main


def _pair_file(path, n=6, size=16, seed=0):
    rng = np.random.default_rng(seed)
    b = rng.normal(0, 0.5, (n, size, size)).astype(np.float32)
    euv = np.tanh(b).astype(np.float32)
    ds = xr.Dataset(
        {"blos": (("time", "y", "x"), b, {"units": "G", "long_name": "LOS field (scaled)"}),
         "aia171": (("time", "y", "x"), euv,
                    {"units": "", "long_name": "AIA 171 (aia_log2 scaled)", "scaling": "aia_log2",
                     "scaling_params": '{"log2_max": 14.0}', "physical_units": "DN",
                     "physical_long_name": "AIA 171"})},
        coords={"time": np.arange(n).astype("datetime64[h]").astype("datetime64[ns]"),
                "split": ("time", np.array(["train"] * (n - 2) + ["val"] * 2))})
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def _config(tmp_path, pair):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""
model = "pix2pix_unet"
system = "pix2pix_a"
[model_config]
in_channels = 1
out_channels = 1
image_size = 16
ngf = 4
[data]
dataset = "pairs"
path = "{pair}"
input = ["blos"]
target = ["aia171"]
shake = 2
[train]
steps = 3
batch_size = 2
progress = false
eval_every = 0
""")
    return cfg


def test_list_text_and_json(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "pix2pix_unet" in text and "translation" in text and "pix2pix_b" in text
    assert main(["list", "--family", "translation", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in out["models"]}
    assert {"pix2pix_unet", "patchgan", "pix2pixhd_global", "multiscale_patchgan",
            "pix2pixcc_generator"} <= names
    assert all(r["family"] == "translation" for r in out["models"])
    assert {"pix2pix_a", "pix2pix_b", "pix2pixhd", "pix2pixcc"} <= set(out["systems"])
    assert {"pairs", "synthetic_pairs"} <= set(out["datasets"])


def test_train_evaluate_predict(tmp_path, capsys):
    pair = _pair_file(tmp_path / "pairs.nc")
    cfg = _config(tmp_path, pair)
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--run-dir", str(run), "--set", "train.seed=3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 3
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["seed"] == 3 and saved["model_config"]["ngf"] == 4
    assert saved["model_config"]["norm"] == "batch"          # defaults resolved
    assert (run / "metrics.csv").exists() and (run / "checkpoints" / "latest").exists()

    assert main(["evaluate", str(run), str(pair), "--out", str(tmp_path / "ev"),
                 "--figures", "1"]) == 0
    ev = json.loads(capsys.readouterr().out)
    # no test split in the file: the validation split, said so
    assert ev["n"] == 2 and ev["split"] == "val"
    table = pd.read_csv(tmp_path / "ev" / "metrics.csv")
    assert len(table) == 2 * 2 and {"rmse", "cc", "psnr", "ssim", "mae"} <= set(table.columns)
    assert set(table["variant"]) == {"model", "train_mean"}       # a baseline beside the model
    assert np.isfinite(table["rmse"]).all()
    # AIA target in DN: Park et al.'s metrics, for the model and the baseline
    assert np.isfinite(table[["cc_physical", "re_physical", "ppe10_physical"]].to_numpy()).all()
    assert set(ev["baselines"]) == {"train_mean"}
    assert ev["metrics"]["data_range"] == 2.0
    assert (tmp_path / "ev" / "compare_000.png").stat().st_size > 1000
    with xr.open_dataset(tmp_path / "ev" / "metrics.nc", engine="h5netcdf") as nc:
        assert nc.sizes["sample"] == 2 and list(nc["variant"].values) == ["model", "train_mean"]

    out = tmp_path / "pred.nc"
    assert main(["predict", str(run), str(pair), "--out", str(out)]) == 0
    capsys.readouterr()
    assert (tmp_path / "pred.png").stat().st_size > 1000
    with xr.open_dataset(out, engine="h5netcdf") as pred:
        assert pred["aia171_pred"].shape == (6, 16, 16)
        assert pred["aia171_pred"].attrs["scaling"] == "aia_log2"        # from the checkpoint
        assert np.isfinite(pred["aia171_pred"].values).all()
        scaled = pred["aia171_pred"].values

    pytest.importorskip("solarprep.datasets.scalings")
    phys = tmp_path / "pred_dn.nc"
    assert main(["predict", str(run), str(pair), "--out", str(phys), "--physical"]) == 0
    with xr.open_dataset(phys, engine="h5netcdf") as pred:
        # CF units in the file (DN is no UDUNITS-2 unit: "count", the astropy unit beside it)
        assert pred["aia171_pred"].attrs["units"] == "count"
        assert pred["aia171_pred"].attrs["units_astropy"] == "DN"
        np.testing.assert_allclose(pred["aia171_pred"].values,
                                   2.0 ** (14 * (scaled.astype(np.float64) + 1) / 2) - 1,
                                   rtol=1e-5)


def test_train_resumes_and_reports_typos(tmp_path, capsys):
    pair = _pair_file(tmp_path / "pairs.nc")
    cfg = _config(tmp_path, pair)
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", str(cfg), "--run-dir", str(run), "--steps", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 5
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"][-1] == 5
    assert main(["train", str(cfg), "--run-dir", str(run), "--set", "train.lrr=1"]) == 2
    assert "did you mean 'lr'" in capsys.readouterr().err
    assert main(["train", str(cfg), "--set", "model_config.ngff=4"]) == 2
    assert "did you mean 'ngf'" in capsys.readouterr().err


def test_evaluate_defaults_to_the_test_split_everywhere():
    import inspect

    from solarmodels.evaluate import evaluate_run

    assert inspect.signature(evaluate_run).parameters["split"].default == "test"
    with pytest.raises(SystemExit):          # DATA is optional, --split defaults to test
        main(["evaluate", "--help"])


def test_evaluate_missing_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope"), "config"]) == 2
    assert "no checkpoints" in capsys.readouterr().err
