"""The evaluation contract, the baselines and the guard rails (small, fast cases)."""
import inspect
import json

import numpy as np
import pytest
import torch
import xarray as xr

from solarmodels import registry
from solarmodels.evaluate import ema_initial_weight, solared_metrics, translation_metrics


def test_every_system_implements_the_run_contract():
    """One entry point, no dispatch on names: each system has its own evaluate."""
    from solarmodels.systems.base import System

    for name in registry.list_systems():
        cls = registry.system_class(name)
        assert cls.evaluate is not System.evaluate, name
        assert cls.predict_file is not System.predict_file or \
            cls.sample_file is not System.sample_file, name
    source = inspect.getsource(__import__("solarmodels.evaluate", fromlist=["x"]))
    assert '"solared"' not in source and '"pairs"' not in source       # no name dispatch


def _series(n=40, tiles=3):
    times = np.datetime64("2011-02-10T00:00", "ns") + np.arange(n) * np.timedelta64(1, "h")
    obs = np.ones((n, tiles))
    obs[20:, 0] = 1 - 0.05 * np.arange(1, n - 19)            # tile 0 darkens from 19 h
    obs[:, 1] = np.linspace(1.0, 0.2, n)                     # tile 1 darkening from the start
    pred = obs.copy()
    pred[16:, 0] = 1 - 0.05 * np.arange(1, n - 15)           # predicted from 15 h
    pred[:, 2] += 0.1
    last = np.vstack([obs[:1], obs[:-1]])                    # persistence: the previous step
    return times, obs, pred, last


def test_solared_baselines_skill_and_regions():
    times, obs, pred, last = _series()
    mean = obs.mean(0)
    table = solared_metrics(pred, obs, active_region=["1"] * 40, target_time=times,
                            persistence=last, train_mean=mean, target_scale=3.0)
    assert list(table["variant"].values) == ["model", "persistence", "train_mean"]
    rmse = table["rmse"].values
    assert rmse[1] == pytest.approx(np.sqrt(np.mean((last - obs) ** 2)))
    assert rmse[2] == pytest.approx(np.sqrt(np.mean((mean - obs) ** 2)))
    assert float(table["skill_vs_persistence"]) == pytest.approx(1 - rmse[0] / rmse[1])
    assert float(table["skill_vs_train_mean"]) == pytest.approx(1 - rmse[0] / rmse[2])
    assert table["rmse_intensity"].values[0] == pytest.approx(3 * rmse[0])
    span = obs.max() - obs.min()
    assert table["rmse_region_norm"].values[0] == pytest.approx(rmse[0] / span)
    assert table["per_region_rmse"].sel(variant="persistence").values[0] == pytest.approx(rmse[1])


def test_emergence_lead_time_does_not_depend_on_the_normalisation():
    times, obs, pred, last = _series()
    kw = dict(active_region=["1"] * 40, target_time=times, emergence={"smooth": 1})
    a = solared_metrics(pred, obs, persistence=last, **kw)
    # the same intensities z-scored, or in raw units ×1000 with an offset
    b = solared_metrics(pred * 1000 + 5, obs * 1000 + 5, persistence=last * 1000 + 5, **kw)
    mu, sd = obs.mean(), obs.std()
    c = solared_metrics((pred - mu) / sd, (obs - mu) / sd, persistence=(last - mu) / sd, **kw)
    for other in (b, c):
        np.testing.assert_allclose(other["emergence_lead_time"].values,
                                   a["emergence_lead_time"].values, equal_nan=True)
        np.testing.assert_allclose(other["rmse_region_norm"].values, a["rmse_region_norm"].values)
        assert float(other["skill_vs_persistence"]) == pytest.approx(
            float(a["skill_vs_persistence"]))
    lead = a["emergence_lead_time"].values[0]
    assert lead[0] == pytest.approx((19 - 15) + 12)          # onset at 19 h, predicted at 15 h
    # tile 1 darkens from the first target on: its onset cannot be led, it is not counted
    assert not a["onset_reachable"].values[0, 1] and np.isnan(lead[1])
    assert a.attrs["n_tiles_onset_reachable"] == 1


def test_magnetogram_metrics_mask_the_limb_never_nan():
    """Pixel areas are NaN below μ = 0.1 where the field is finite (the far-side crash)."""
    from solarprep.datasets import scalings

    n = 32
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - 15.5, xx - 15.5) / 14.0
    b = np.where(r < 1, 200 * np.sin(xx / 3.0), np.nan)
    area = np.where(r < 0.99, 1e16 / np.sqrt(np.clip(1 - r ** 2, 1e-6, 1)), np.nan)
    pred = np.nan_to_num(b) + 5.0
    attrs = {"scaling": "hmi_3000", "scaling_params": '{"limit": 3000.0}'}
    out = translation_metrics(scalings.hmi_linear(pred), scalings.hmi_linear(np.nan_to_num(b)),
                              mask=np.isfinite(b), attrs=attrs, pixel_area=area,
                              disk_radius=14.0)
    assert all(np.isfinite(v) for v in out.values()), out
    keep = np.isfinite(area) & (np.abs(b) > 10)
    assert out["tumf_target_Mx"] == pytest.approx(float(np.sum(np.abs(b[keep]) * area[keep])),
                                                  rel=1e-5)
    assert out["rmse_full_disk_G"] == pytest.approx(5.0, rel=1e-4)


def test_ema_near_untrained_weight():
    assert ema_initial_weight(0.999, 100) == pytest.approx(0.999 ** 100)
    assert ema_initial_weight(0.0, 10) == 0.0
    assert ema_initial_weight(0.99, 1000) < 1e-4


def _unscaled_pairs(path, *, split=True):
    rng = np.random.default_rng(0)
    b = rng.normal(0, 300, (6, 16, 16)).astype(np.float32)              # gauss, not scaled
    ds = xr.Dataset({"blos": (("time", "y", "x"), b, {"units": "G"}),
                     "euv": (("time", "y", "x"), np.abs(b) + 10, {"units": "DN"})},
                    coords={"time": np.arange(6).astype("datetime64[h]").astype("datetime64[ns]")})
    if split:
        ds = ds.assign_coords(split=("time", np.array(["train"] * 4 + ["val"] * 2)))
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def _pair_config(path, scaled=True):
    return {"model": "pix2pix_unet", "system": "pix2pix_a",
            "model_config": {"image_size": 16, "in_channels": 1, "out_channels": 1, "ngf": 4},
            "data": {"dataset": "pairs", "path": str(path), "input": ["blos"],
                     "target": ["euv"]},
            "train": {"steps": 1, "batch_size": 2, "progress": False, "eval_every": 0}}


def test_train_refuses_unscaled_data_and_says_when_there_is_no_validation(tmp_path, caplog):
    from solarmodels._runs import train_run
    from solarmodels.config import ConfigError

    path = _unscaled_pairs(tmp_path / "raw.nc")
    with pytest.raises(ConfigError, match=r"not scaled the way it expects.*\|x\| = "):
        train_run(_pair_config(path), tmp_path / "run")
    result = train_run(_pair_config(path), tmp_path / "run", allow_unscaled=True)
    assert result["step"] == 1 and "not scaled" in result["warnings"][0]
    nosplit = _unscaled_pairs(tmp_path / "nosplit.nc", split=False)
    result = train_run(_pair_config(nosplit), tmp_path / "run2", allow_unscaled=True)
    assert any("no validation split" in w for w in result["warnings"])
    assert "no validation split" in caplog.text


def test_solared_training_refuses_unnormalised_data():
    from solarmodels.datasets.solared import SolaredDataset, synthetic_solared

    ds = synthetic_solared(8, window=4)
    ds.attrs["normalization"] = "None"
    system = registry.create_system("solared", None, registry.create_model(
        "solared_attention", time_steps=4, d_model=8, nhead=2, dim_feedforward=8))
    assert "not normalised" in system.check_data(SolaredDataset(ds, "train"))[0]


class _Features(torch.nn.Module):
    """A fixed random projection to 6 features (a stand-in feature extractor)."""

    num_features = 6

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 6, 3, stride=2)

    def forward(self, x):
        return torch.tanh(self.conv(x.float())).mean((-2, -1)).double()


def test_fid_matches_torchmetrics_and_extractor_loads_from_a_local_file(tmp_path):
    tm = pytest.importorskip("torchmetrics.image.fid")
    from solarmodels import metrics_generative as mg

    net = _Features().eval()
    path = tmp_path / "extractor.pt2"
    batch = torch.export.Dim("batch", min=2)
    torch.export.save(torch.export.export(net, (torch.zeros(2, 1, 16, 16),),
                                          dynamic_shapes=({0: batch},)), str(path))
    extractor = mg.load_feature_extractor(path)
    g = torch.Generator().manual_seed(1)
    real = torch.rand(40, 1, 16, 16, generator=g)
    fake = torch.rand(40, 1, 16, 16, generator=g) ** 2
    fr, ff = mg.extract_features(extractor, real), mg.extract_features(extractor, fake)
    with torch.no_grad():
        np.testing.assert_allclose(fr, net(real).numpy(), rtol=1e-5)
    ours = mg.frechet_distance(fr, ff)
    fid = tm.FrechetInceptionDistance(feature=net, normalize=True)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    assert ours == pytest.approx(float(fid.compute()), rel=1e-3)
    with pytest.raises(ValueError, match="nor a TorchScript module"):
        (tmp_path / "junk.pt").write_bytes(b"not a model")
        mg.load_feature_extractor(tmp_path / "junk.pt")


def test_build_pairs_channels_scaling_and_split():
    from solarprep.datasets import pairs

    times = ["2024-05-01T00:00", "2024-05-01T06:00", "2024-05-01T12:00", "2024-05-01T18:00"]
    a304, b = pairs.synthetic_pair_sources(times, a="euv304", b="magnetogram", shape=48)
    a171, _ = pairs.synthetic_pair_sources(times, a="euv171", b="magnetogram", shape=48)
    out = pairs.build_pairs({"euv304": a304, "euv171": a171}, b, shape=16, radius=6,
                            scale={"euv304": "euv_median_log10", "blos": "hmi_3000"},
                            splits=(0.5, 0.25, 0.25), progress=False)
    assert [v for v in out.data_vars] == ["euv304", "euv171", "blos"]
    assert out.attrs["input_variables"] == "euv304 euv171" and out.attrs["target_variables"] == "blos"
    assert out["euv304"].attrs["scaling"] == "euv_median_log10" and "scaling" not in out["euv171"].attrs
    assert float(np.nanmax(np.abs(out["blos"].values))) <= 1.0
    assert list(out["split"].values) == ["train", "train", "val", "test"]
    back = json.loads(out["blos"].attrs["scaling_params"])
    assert back == {"limit": 3000.0}


def test_mean_target_averages_each_pixel_over_its_valid_samples():
    """With a mask (NaN targets filled by ``nan_to``), the training mean is the per-pixel mean
    over the samples where the pixel is valid (numpy ``nanmean``), not the fill averaged in; a
    pixel valid nowhere keeps the fill; without NaN it is the plain mean."""
    from solarmodels.datasets.pairs import PairDataset
    from solarmodels.evaluate import mean_target

    rng = np.random.default_rng(0)
    y = rng.normal(size=(5, 6, 6)).astype(np.float32)
    y[:3, 0, 0] = np.nan                     # a limb pixel off the disk in 3 of 5 frames
    y[:, 5, 5] = np.nan                      # off the disk everywhere
    ds = xr.Dataset({"x": (("time", "y", "x"), rng.normal(size=y.shape).astype(np.float32)),
                     "t": (("time", "y", "x"), y)})
    mean = mean_target(PairDataset(ds, "x", "t", nan_to=-1.0))[0]
    valid = np.isfinite(y)
    expected = np.where(valid, y, 0).sum(0) / np.maximum(valid.sum(0), 1)
    expected[5, 5] = -1.0
    np.testing.assert_allclose(mean, expected, rtol=1e-6, atol=1e-7)
    full = mean_target(PairDataset(ds, "x", "x"))[0]
    np.testing.assert_allclose(full, ds["x"].values.mean(0), rtol=1e-6, atol=1e-7)
