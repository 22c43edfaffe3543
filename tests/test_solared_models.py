"""SOLARED networks, dataset and system: shapes, gradients, parameter counts, a short training."""
import math

import numpy as np
import pytest
import torch

from solarmodels.config import ConfigError
from solarmodels.datasets.solared import (
    CHANNELS,
    SolaredDataset,
    from_timelines,
    real_timeline_folders,
    synthetic_solared,
)
from solarmodels.networks import solared as N
from solarmodels.registry import create_model, create_system, list_models

TINY = {
    "solared_attention": dict(time_steps=8, d_model=16, nhead=2, num_layers=1,
                              dim_feedforward=32),
    "solared_attention_grid": dict(time_steps=8, d_model=16, nhead=2, num_layers=1,
                                   dim_feedforward=32),
    "solared_resnet3d": dict(width=4, blocks=(1, 1, 1, 1)),
    "solared_resnet3d_grid": dict(width=4, blocks=(1, 1, 1, 1)),
}


def test_registered():
    assert set(list_models("solared")) == set(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_forward_backward_tiny(name):
    torch.manual_seed(0)
    net = create_model(name, **TINY[name])
    x = torch.randn(2, 8, 5, 63, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 63) and torch.isfinite(y).all()
    y.square().sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_wrong_input_layout_is_explained():
    net = create_model("solared_attention", **TINY["solared_attention"])
    with pytest.raises(ValueError, match=r"must be \(batch, time, channel, tile\)"):
        net(torch.randn(2, 8, 63, 5))
    with pytest.raises(ValueError, match="rows·cols = num_tiles"):
        create_model("solared_attention", grid=(8, 8))


def test_attention_parameter_count_seed_config():
    # Linear 5→64 (384) + 4 encoder layers × 49,984 + Linear 64→1 (65) = 200,385
    for name in ("solared_attention", "solared_attention_grid"):
        net = create_model(name)
        assert sum(p.numel() for p in net.parameters()) == 200_385
    layer = 3 * 64 * 64 + 3 * 64 + 64 * 64 + 64 + 64 * 256 + 256 + 256 * 64 + 64 + 4 * 64
    assert 384 + 4 * layer + 65 == 200_385


def test_resnet_matches_torchvision_r3d18_count_and_names():
    net = create_model("solared_resnet3d")
    assert sum(p.numel() for p in net.parameters()) == 33_217_407
    sd = net.backbone.state_dict()
    assert sd["stem.0.weight"].shape == (64, 5, 3, 7, 7)
    for key in ("stem.1.running_var", "layer1.0.conv1.0.weight", "layer1.1.conv2.1.bias",
                "layer2.0.downsample.0.weight", "layer4.1.conv2.0.weight", "fc.weight"):
        assert key in sd, key
    assert sd["fc.weight"].shape == (63, 512)
    assert not any("downsample" in k for k in sd if k.startswith("layer1."))
    assert len([k for k in sd if k.endswith("num_batches_tracked")]) == 1 + 4 * 2 * 2 + 3
    x = torch.randn(1, 120, 5, 63)
    with torch.no_grad():
        assert net.eval()(x).shape == (1, 63)


def test_sinusoidal_tables_by_hand():
    pe = N.sinusoidal_table(4, 6)
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1], atol=1e-7)
    f = [1.0, 10000 ** (-2 / 6), 10000 ** (-4 / 6)]
    np.testing.assert_allclose(pe[3, 0::2], [math.sin(3 * v) for v in f], rtol=1e-6)
    np.testing.assert_allclose(pe[3, 1::2], [math.cos(3 * v) for v in f], rtol=1e-6)
    pe2 = N.sinusoidal_table_2d(7, 9, 8)
    row, col = N.sinusoidal_table(7, 4), N.sinusoidal_table(9, 4)
    np.testing.assert_allclose(pe2[9 * 2 + 5], torch.cat([row[2], col[5]]))


def test_tiles_to_video_layout():
    x = torch.arange(2 * 3 * 5 * 63, dtype=torch.float32).reshape(2, 3, 5, 63)
    v = N.tiles_to_video(x, (7, 9))
    assert v.shape == (2, 5, 3, 7, 9)
    assert v[1, 4, 2, 3, 8] == x[1, 2, 4, 9 * 3 + 8]
    assert N.tiles_to_video(x).shape == (2, 5, 3, 1, 63)


def test_dataset_layout_splits_and_checks(tmp_path):
    ds = synthetic_solared(20, window=8, seed=1)
    train, val = SolaredDataset(ds, "train"), SolaredDataset(ds, "val")
    assert len(train) == 15 and len(val) == 5
    item = train[3]
    assert item["input"].shape == (8, 5, 63) and item["target"].shape == (63,)
    assert item["input"].dtype == torch.float32
    np.testing.assert_array_equal(item["input"].numpy(), ds["inputs"].values[3])
    assert train.grid == (7, 9)
    path = tmp_path / "s.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    lazy = SolaredDataset(path, "val")
    np.testing.assert_array_equal(lazy[0]["target"].numpy(), ds["targets"].values[15])
    swapped = ds.assign_coords(channel=np.array(CHANNELS[::-1]))
    with pytest.raises(ValueError, match="expected .* in this order"):
        SolaredDataset(swapped)
    with pytest.raises(ValueError, match="not a SOLARED model-ready Dataset"):
        SolaredDataset(ds.rename({"targets": "y"}))


def test_short_training_lowers_validation_loss(tmp_path):
    from solarmodels.trainer import Trainer

    torch.manual_seed(0)
    ds = synthetic_solared(48, window=8, seed=2, splits=(0.75, 0.25, 0.0))
    net = create_model("solared_attention_grid", time_steps=8, d_model=16, nhead=2,
                       num_layers=1, dim_feedforward=32, dropout=0.0)
    system = create_system("solared", {"lr": 3e-3}, net)
    trainer = Trainer(system, SolaredDataset(ds, "train"), SolaredDataset(ds, "val"),
                      dict(steps=40, batch_size=8, eval_every=0, checkpoint_every=0,
                           log_every=10, progress=False, device="cpu"), tmp_path / "run")
    before = trainer.evaluate()["val_loss"]
    out = trainer.fit(resume=False)
    assert out["val"]["val_loss"] < 0.6 * before
    assert math.isfinite(out["train"]["loss"])


def test_seed_loss_is_summed_over_tiles():
    from solarmodels.systems.solared import solared_loss

    p, t = torch.ones(2, 63), torch.zeros(2, 63)
    assert float(solared_loss(p, t)) == 63.0          # Σ over 2×63 ones / batch 2
    assert float(solared_loss(p, t, "mean")) == 1.0
    with pytest.raises(ValueError, match="must be 'sum' or 'mean'"):
        create_system("solared", {"loss": "l1"}, torch.nn.Linear(1, 1))


def test_real_timelines_through_solarprep():
    folders = [f for f in real_timeline_folders() if f.name.endswith(("11158", "11726"))]
    if len(folders) < 2:
        pytest.skip("the real SOLARED timelines (../shared/data/real/solared) are absent")
    ds = from_timelines(folders, splits={"train": ["11158"], "val": ["11726"]}, window=24,
                        lead=12, stride=4)
    train, val = SolaredDataset(ds, "train"), SolaredDataset(ds, "val")
    assert len(train) > 10 and len(val) > 5
    item = train[0]
    assert item["input"].shape == (24, 5, 63) and torch.isfinite(item["input"]).all()
    net = create_model("solared_attention", **{**TINY["solared_attention"], "time_steps": 24})
    with torch.no_grad():
        assert torch.isfinite(net(item["input"][None])).all()
    # the same through the registered dataset builder (what a run configuration uses)
    from solarmodels.registry import create_dataset

    kw = dict(timelines=[str(f) for f in folders], splits={"train": ["11158"], "val": ["11726"]},
              window=24, lead=12, stride=4)
    assert len(create_dataset("solared", split="val", **kw)) == len(val)
    assert create_dataset("solared", split="test", **kw) is None


def test_train_and_evaluate_run_from_config(tmp_path):
    from solarmodels._runs import train_run
    from solarmodels.evaluate import evaluate_run

    config = {"model": "solared_attention",
              "model_config": {**TINY["solared_attention"], "dropout": 0.0},
              "system": "solared", "system_config": {"lr": 3e-3},
              "data": {"dataset": "solared", "synthetic": 24, "window": 8},
              "train": {"steps": 3, "batch_size": 6, "device": "cpu", "progress": False,
                        "eval_every": 0, "checkpoint_every": 0}}
    train_run(config, tmp_path / "run")
    result = evaluate_run(tmp_path / "run", "config", tmp_path / "eval")
    names = {p.rsplit("/", 1)[-1] for p in result["files"]}
    assert {"metrics.nc", "metrics.csv", "solared_eval.png", "summary.json"} <= names
    assert math.isfinite(result["metrics"]["rmse"])
    assert math.isfinite(result["baselines"]["train_mean"]["rmse"])    # synthetic: no persistence
    import xarray as xr

    table = xr.open_dataset(tmp_path / "eval" / "metrics.nc", engine="h5netcdf")
    assert table.attrs["split"] == "val" and table.sizes["tile"] == 63
    assert list(table["variant"].values) == ["model", "train_mean"]


def test_state_dict_loads_from_torchvision_r3d18():
    """Where torchvision is installed: its r3d_18 (seed edits) loads into ours, same outputs."""
    video = pytest.importorskip("torchvision.models.video")
    torch.manual_seed(0)
    tv = video.r3d_18(weights=None)
    tv.stem[0] = torch.nn.Conv3d(5, 64, kernel_size=(3, 7, 7), stride=(1, 2, 2),
                                 padding=(1, 3, 3), bias=False)
    tv.fc = torch.nn.Linear(512, 63)
    ours = create_model("solared_resnet3d")
    ours.backbone.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(2, 16, 5, 63)
    with torch.no_grad():
        ref = tv.eval()(x.reshape(2, 16, 5, 1, 63).permute(0, 2, 1, 3, 4))
        got = ours.eval()(x)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_evaluate_pair_run_in_physical_units(tmp_path):
    """A Pix2Pix run on scaled pairs: the evaluation adds metrics in gauss and the flux."""
    import xarray as xr

    import solarprep
    from solarmodels._runs import train_run
    from solarmodels.evaluate import evaluate_run
    from solarprep.datasets import pairs, scalings

    a, b = pairs.synthetic_pair_sources(["2024-05-01T00:00", "2024-05-01T06:00",
                                         "2024-05-01T12:00"], seed=2, shape=64, noise=False)
    ds = pairs.build_pairs(b, a, shape=32, radius=12, progress=False)      # EUV → magnetogram
    ds = scalings.scale(ds, "aia_log2", variable="euv171")
    ds = scalings.scale(ds, "hmi_3000", variable="blos")
    solarprep.save(ds, tmp_path / "pairs.nc")
    config = {"model": "pix2pix_unet",
              "model_config": {"image_size": 32, "in_channels": 1, "out_channels": 1, "ngf": 4},
              "system": "pix2pix_a",
              "data": {"dataset": "pairs", "path": str(tmp_path / "pairs.nc"),
                       "input": ["euv171"], "target": ["blos"], "nan_to": -1.0,
                       "val_fraction": 0.34},
              "train": {"steps": 2, "batch_size": 1, "device": "cpu", "progress": False,
                        "eval_every": 0, "checkpoint_every": 0}}
    train_run(config, tmp_path / "run")
    result = evaluate_run(tmp_path / "run", "config", tmp_path / "eval", split="val")
    table = xr.open_dataset(tmp_path / "eval" / "metrics.nc", engine="h5netcdf")
    assert table.attrs["physical_units"] == "G" and table.sizes["sample"] == 2
    model = table.sel(variant="model")
    for key in ("rmse_full_disk_G", "rmse_quiet_sun_G", "tumf_pred_Mx", "tumf_target_Mx"):
        assert np.isfinite(model[key].values).all(), key
    # the target's flux: |B| over μ > 0.1 with true areas, same order as 1e22–1e23 Mx
    assert (1e20 < model["tumf_target_Mx"].values).all() and (model["tumf_target_Mx"] < 1e25).all()
    assert "rmse_full_disk_G" in result["metrics"]
    assert "rmse_full_disk_G" in result["baselines"]["train_mean"]


def _ready(n=12, window=6, seed=3):
    """A synthetic model-ready Dataset with the intensity history and the persistence."""
    ds = synthetic_solared(n, window=window, seed=seed)
    rng = np.random.default_rng(seed)
    hist = rng.normal(size=(n, window, 63)).astype(np.float32)
    ds["intensity_history"] = (("sample", "time", "tile"), hist)
    ds["last_intensity"] = (("sample", "tile"), hist[:, -1])
    return ds


def test_intensity_channel_and_tile_subsets():
    from solarmodels.datasets.solared import central_tiles

    ds = _ready()
    six = SolaredDataset(ds, "train", intensity_channel=True)
    item = six[2]
    assert item["input"].shape == (6, 6, 63) and six.channels[-1] == "intensity"
    np.testing.assert_array_equal(item["input"][:, 5].numpy(),
                                  ds["intensity_history"].values[2])
    np.testing.assert_array_equal(item["input"][:, :5].numpy(), ds["inputs"].values[2])
    np.testing.assert_array_equal(item["persistence"].numpy(), ds["last_intensity"].values[2])
    keep = central_tiles(10, ds["tile_row"].values, ds["tile_col"].values)
    r, c = ds["tile_row"].values.astype(float), ds["tile_col"].values.astype(float)
    d = (r - r.mean()) ** 2 + (c - c.mean()) ** 2
    assert len(keep) == 10 and d[keep].max() <= np.sort(d)[9]       # the 10 nearest the centre
    centre = SolaredDataset(ds, "train", tiles="central10")
    assert centre[0]["target"].shape == (10,) and centre.data.sizes["tile"] == 10
    np.testing.assert_array_equal(centre[0]["target"].numpy(), ds["targets"].values[0, keep])
    with pytest.raises(ConfigError, match="intensity_history"):
        SolaredDataset(synthetic_solared(4, window=6), intensity_channel=True)
    with pytest.raises(ConfigError, match="central"):
        SolaredDataset(ds, tiles="middle")


def test_residual_system_starts_at_persistence_and_weights_emergence():
    from solarmodels.systems.solared import solared_loss, window_normalize

    ds = _ready()
    data = SolaredDataset(ds, "train", intensity_channel=True)
    net = create_model("solared_attention_grid", time_steps=6, num_channels=6, d_model=16,
                       nhead=2, num_layers=1, dim_feedforward=32)
    system = create_system("solared", {"residual": True, "input_norm": "window",
                                       "emergence_weight": 2.0}, net)
    batch = {k: torch.stack([data[i][k] for i in range(4)])
             for k in ("input", "target", "persistence")}
    torch.testing.assert_close(system.predict(batch), batch["persistence"])
    w = system.loss_weight(batch)
    torch.testing.assert_close(w, 1 + 2.0 * (batch["persistence"] - batch["target"]).clamp(min=0))
    err = (batch["persistence"] - batch["target"]) ** 2
    torch.testing.assert_close(solared_loss(batch["persistence"], batch["target"], "sum", w),
                               (w * err).sum() / 4)
    x = window_normalize(batch["input"])
    torch.testing.assert_close(x.mean(dim=(1, 3)), torch.zeros(4, 6), atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="input_norm"):
        create_system("solared", {"input_norm": "region"}, net)
