"""Trainer: exact resume, checkpoints, logs, gradient accumulation, EMA, learning on pairs."""
import json

import pytest
import torch

from solarmodels import Trainer, create_model, create_system
from solarmodels.checkpoint import load_checkpoint, rng_state, set_rng_state
from solarmodels.config import ConfigError
from solarmodels.datasets.pairs import SyntheticPairs
from solarmodels.systems.base import EMA


def _p2p_b(seed=0, **system):
    torch.manual_seed(seed)
    g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=4)
    cfg = {"discriminator_config": {"ndf": 4, "n_layers": 1}, **system}
    return create_system("pix2pix_b", cfg, {"g": g})


def _equal_states(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_is_bit_identical(tmp_path):
    # 10 samples / batch 3 -> 3 batches per epoch; stop mid-epoch, with accumulation, EMA,
    # dropout (U-Net), batch norm, a learning-rate schedule and paired shake-like randomness.
    train, val = SyntheticPairs(10, 16, seed=1), SyntheticPairs(3, 16, seed=2)
    cfg = dict(steps=7, batch_size=3, grad_accum=2, ema_decay=0.8, grad_clip=1.0, progress=False,
               eval_every=2, checkpoint_every=0, log_every=2)
    sys_cfg = {"lr_decay_start": 3}
    full = _p2p_b(**sys_cfg)
    Trainer(full, train, val, cfg, tmp_path / "full").fit()
    part = _p2p_b(**sys_cfg)
    Trainer(part, train, val, cfg, tmp_path / "part").fit(stop_at=4)
    assert not _equal_states(full, part)
    resumed = _p2p_b(seed=123, **sys_cfg)               # different init: must be overwritten
    trainer = Trainer(resumed, train, val, cfg, tmp_path / "part")
    out = trainer.fit()
    assert out["step"] == 7
    assert _equal_states(full, resumed)                  # networks and EMA averages
    opt_full = torch.load(tmp_path / "full" / "checkpoints" / "step_00000007" / "state.pt",
                          weights_only=True)["optimizers"]
    opt_res = torch.load(tmp_path / "part" / "checkpoints" / "step_00000007" / "state.pt",
                         weights_only=True)["optimizers"]
    for name in ("g", "d"):
        for k, v in opt_full[name]["state"].items():
            assert torch.equal(v["exp_avg_sq"], opt_res[name]["state"][k]["exp_avg_sq"])
    assert trainer.optimizers["g"].param_groups[0]["lr"] < 2e-4       # schedule restored


def test_checkpoint_contents(tmp_path):
    system = _p2p_b()
    trainer = Trainer(system, SyntheticPairs(4, 16), None,
                      dict(steps=2, batch_size=2, progress=False), tmp_path,
                      run_config={"model": "pix2pix_unet", "note": "x"})
    trainer.fit()
    ck = tmp_path / "checkpoints" / (tmp_path / "checkpoints" / "latest").read_text().strip()
    assert {p.name for p in ck.iterdir()} == {"weights.safetensors", "config.json", "meta.json",
                                              "state.pt"}
    meta = json.loads((ck / "meta.json").read_text())
    assert meta["step"] == 2 and meta["versions"]["torch"] == torch.__version__
    assert "git_revision" in meta and len(meta["data_fingerprint"]) == 16
    assert json.loads((ck / "config.json").read_text())["note"] == "x"
    out = load_checkpoint(ck, _p2p_b(seed=5))
    assert out["state"]["step"] == 2 and "optimizers" in out["state"]
    with pytest.raises(ValueError, match="does not match the system"):
        torch.manual_seed(0)
        g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=8)
        load_checkpoint(ck, create_system("pix2pix_a", None, g))


def test_rng_state_roundtrip():
    import random

    import numpy as np

    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_gradient_accumulation_matches_large_batch(tmp_path):
    # no batch norm, no dropout: 2 micro-batches of 2 == one batch of 4
    def make():
        torch.manual_seed(0)
        g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=4,
                         norm="none", dropout=0.0)
        return create_system("pix2pix_a", None, g)

    data = SyntheticPairs(8, 16)
    a, b = make(), make()
    Trainer(a, data, None, dict(steps=2, batch_size=4, progress=False), tmp_path / "a").fit()
    Trainer(b, data, None, dict(steps=2, batch_size=2, grad_accum=2, progress=False),
            tmp_path / "b").fit()
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-4, atol=1e-6, msg=k)


def test_ema_update_formula():
    net = torch.nn.Linear(2, 1)
    ema = EMA(net, 0.9)
    before = ema.module.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    torch.testing.assert_close(ema.module.weight, 0.9 * before + 0.1 * net.weight.detach())


def test_validation_loss_falls_on_synthetic_pairs(tmp_path):
    torch.manual_seed(0)
    g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=8,
                     output="tanh")
    system = create_system("pix2pix_a", None, g)
    train, val = SyntheticPairs(24, 16, seed=0), SyntheticPairs(8, 16, seed=1)
    trainer = Trainer(system, train, val,
                      dict(steps=60, batch_size=8, lr=2e-3, progress=False, eval_every=60,
                           log_every=20), tmp_path)
    first = trainer.evaluate()["val_loss"]
    out = trainer.fit()
    assert out["val"]["val_loss"] < 0.6 * first
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == [20, 40, 60]
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("step,split")


def test_bf16_autocast_on_cpu(tmp_path):
    out = Trainer(_p2p_b(), SyntheticPairs(4, 16), SyntheticPairs(2, 16),
                  dict(steps=2, batch_size=2, precision="bf16", channels_last=True,
                       progress=False), tmp_path).fit()
    assert all(torch.isfinite(torch.tensor(v)) for v in out["train"].values())


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="precision"):
        Trainer(_p2p_b(), SyntheticPairs(4, 16), None, dict(precision="fp16"), tmp_path)
    with pytest.raises(ConfigError, match="fewer than"):
        Trainer(_p2p_b(), SyntheticPairs(2, 16), None, dict(batch_size=4), tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            Trainer(_p2p_b(), SyntheticPairs(4, 16), None, dict(device="cuda"), tmp_path)


@pytest.mark.real_gpu
def test_gpu_bf16_channels_last_compile(tmp_path):
    out = Trainer(_p2p_b(), SyntheticPairs(8, 16), SyntheticPairs(2, 16),
                  dict(steps=3, batch_size=4, precision="bf16", channels_last=True, compile=True,
                       ema_decay=0.9, progress=False), tmp_path).fit()

    assert out["step"] == 3
    assert all(torch.isfinite(torch.tensor(v)) for v in out["train"].values())
    assert all(torch.isfinite(torch.tensor(v)) for v in out["val"].values())


def test_worker_processes_do_not_change_the_result(tmp_path):
    import xarray as xr

    from solarmodels.datasets.pairs import PairDataset

    src = SyntheticPairs(8, 16)
    ds = xr.Dataset({"a": (("time", "y", "x"), src.x[:, 0].numpy(), {"units": "1"}),
                     "b": (("time", "y", "x"), src.y[:, 0].numpy(), {"units": "1"})})
    path = tmp_path / "pairs.nc"
    ds.to_netcdf(path, engine="h5netcdf")

    def run(workers):
        torch.manual_seed(0)
        g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=4)
        system = create_system("pix2pix_a", None, g)
        data = PairDataset(path, "a", "b", shake=2)
        Trainer(system, data, None, dict(steps=3, batch_size=2, num_workers=workers,
                                         progress=False), tmp_path / f"w{workers}").fit()
        return system

    assert _equal_states(run(0), run(2))


def test_failed_checkpoint_write_leaves_no_temporaries(tmp_path, monkeypatch):
    from solarmodels import checkpoint
    from solarmodels.errors import CheckpointError

    trainer = Trainer(_p2p_b(), SyntheticPairs(4, 16), None,
                      dict(steps=1, batch_size=2, progress=False, tensorboard=False), tmp_path)
    trainer.fit()
    ckdir = tmp_path / "checkpoints"
    before = sorted(p.name for p in ckdir.iterdir())
    assert before == ["latest", "step_00000001"]

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(checkpoint.torch, "save", disk_full)
        trainer.step = 2
        with pytest.raises(CheckpointError, match="No space left"):
            trainer.save_checkpoint()
    assert sorted(p.name for p in ckdir.iterdir()) == before      # no .step_*.tmp, latest kept
    # what a killed writer leaves behind is removed by the next write
    (ckdir / ".step_00000002.tmp").mkdir()
    (ckdir / ".step_00000002.tmp" / "weights.safetensors").write_bytes(b"partial")
    (ckdir / ".latest.tmp4242").write_text("step_00000002\n")
    trainer.save_checkpoint()
    assert sorted(p.name for p in ckdir.iterdir()) == ["latest", "step_00000001", "step_00000002"]
    assert (ckdir / "latest").read_text() == "step_00000002\n"


class _NanFromEpoch(torch.utils.data.Dataset):
    """SyntheticPairs whose inputs turn NaN from epoch ``start`` on (one step per epoch here)."""

    def __init__(self, start):
        self.data, self.start, self.epoch = SyntheticPairs(4, 16), start, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        sample = dict(self.data[i])
        if self.epoch >= self.start:
            sample["input"] = torch.full_like(sample["input"], float("nan"))
        return sample


def test_non_finite_loss_raises_at_once_or_at_the_next_log(tmp_path):
    from solarmodels.errors import NonFiniteLossError

    def fit(check, run):
        torch.manual_seed(0)
        g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=4)
        trainer = Trainer(create_system("pix2pix_a", None, g), _NanFromEpoch(1), None,
                          dict(steps=6, batch_size=4, log_every=4, checkpoint_every=1,
                               check_finite=check, progress=False, tensorboard=False), run)
        with pytest.raises(NonFiniteLossError, match="in step 2") as info:
            trainer.fit()
        return trainer, info.value

    trainer, err = fit("step", tmp_path / "step")
    assert trainer.step == 1 and isinstance(err, FloatingPointError)
    trainer, err = fit("deferred", tmp_path / "deferred")   # no sync per step: found at the
    assert trainer.step == 2 and "checked at step 2" in str(err)  # checkpoint, not saved
    assert (tmp_path / "deferred" / "checkpoints" / "latest").read_text() == "step_00000001\n"


def test_tensorboard_scalars_and_image_grids(tmp_path):
    pytest.importorskip("tensorboard", reason="the models extra installs TensorBoard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = Trainer(_p2p_b(), SyntheticPairs(4, 16), SyntheticPairs(2, 16),
                  dict(steps=2, batch_size=2, log_every=1, eval_every=2, image_every=2,
                       progress=False), tmp_path).fit()
    assert out["stopped"] == "steps"
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert {"train/loss_g", "train/loss_d", "train/lr_g", "val/val_loss"} <= set(
        events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("train/loss_g")] == [1, 2]
    image = events.Images("images/input_output_target")[-1]
    assert image.step == 2 and (image.height, image.width) == (2 * 20, 3 * 20)   # 2 rows, 3 cols


def test_preview_grids_of_generative_and_video_systems():
    from solarmodels.monitor import image_grid, preview_grid

    torch.manual_seed(0)
    net = create_model("ddpm_unet_tiny", base_channels=8, attention_factors=())
    ddpm = create_system("ddpm", {"sample_steps": 2}, {"model": net})
    tag, grid = preview_grid(ddpm, {"input": torch.rand(3, 1, 8, 8) * 2 - 1,
                                    "label": torch.tensor([0, 1, 2])})
    assert tag == "images/samples_real" and grid.shape == (3 * 12, 2 * 12)
    assert 0 <= float(grid.min()) and float(grid.max()) <= 1
    video = image_grid([torch.randn(2, 1, 12, 4, 4)])              # 8 of 12 frames side by side
    assert video.shape == (2 * 8, 8 * 4 + 4)


def test_ema_start_and_ramp(tmp_path):
    cfg = dict(steps=3, batch_size=2, ema_decay=0.999, progress=False, tensorboard=False)
    trainer = Trainer(_p2p_b(), SyntheticPairs(4, 16), None, {**cfg, "ema_ramp": True,
                                                                "ema_start": 2}, tmp_path / "r")
    assert [trainer._ema_decay(s) for s in (1, 2, 3, 4)] == [0.0, 0.0, 2 / 11, 3 / 12]
    system = _p2p_b()
    Trainer(system, SyntheticPairs(4, 16), None, {**cfg, "ema_start": 3}, tmp_path / "s").fit()
    g, ema = system.networks["g"].state_dict(), system.ema["g"].module.state_dict()
    assert all(torch.equal(g[k], ema[k]) for k in g)                # copied up to ema_start


def test_time_budget_stops_with_a_checkpoint_and_resumes_exactly(tmp_path):
    cfg = dict(steps=4, batch_size=2, ema_decay=0.5, progress=False, tensorboard=False)
    data = SyntheticPairs(6, 16)
    full = _p2p_b()
    Trainer(full, data, None, cfg, tmp_path / "full").fit()
    out = Trainer(_p2p_b(), data, None, {**cfg, "minutes": 1e-9}, tmp_path / "part").fit()
    assert out["stopped"] == "minutes" and out["step"] == 1
    assert (tmp_path / "part" / "checkpoints" / "latest").read_text() == "step_00000001\n"
    resumed = _p2p_b(seed=9)
    assert Trainer(resumed, data, None, cfg, tmp_path / "part").fit()["step"] == 4
    assert _equal_states(full, resumed)


def test_threads_setting(tmp_path):
    before = torch.get_num_threads()
    try:
        cfg = dict(steps=1, batch_size=2, progress=False, tensorboard=False, threads=1)
        Trainer(_p2p_b(), SyntheticPairs(4, 16), None, cfg, tmp_path / "r").fit()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match="threads"):
        Trainer(_p2p_b(), SyntheticPairs(4, 16), None, {"threads": -1}, tmp_path / "s")


def test_init_from_copies_matching_tensors_and_keeps_the_others(tmp_path, caplog):
    cfg = dict(steps=2, batch_size=2, progress=False, tensorboard=False, ema_decay=0.9)
    first = _p2p_b(seed=1)
    Trainer(first, SyntheticPairs(4, 16), None, cfg, tmp_path / "a").fit()
    second = _p2p_b(seed=2)           # same architecture, other initialisation
    other_d = create_model("patchgan", in_channels=2, ndf=8, n_layers=1)   # reshaped D
    second.networks["d"] = other_d
    d_before = {k: v.clone() for k, v in other_d.state_dict().items()}
    trainer = Trainer(second, SyntheticPairs(4, 16), None, {**cfg, "steps": 1},
                      tmp_path / "b")
    trainer._setup()
    with caplog.at_level("INFO"):
        report = trainer.init_weights(tmp_path / "a")
    g_src = first.ema["g"].module.state_dict()                       # EMA weights preferred
    g_new = second.networks["g"].state_dict()
    assert all(torch.equal(g_new[k], g_src[k]) for k in g_new)
    assert all(torch.equal(second.ema["g"].module.state_dict()[k], g_src[k]) for k in g_new)
    assert report["skipped"] and all(k.startswith("d.") for k in report["skipped"])
    assert all(torch.equal(other_d.state_dict()[k], d_before[k]) for k in d_before
               if f"d.{k}" in report["skipped"])
    assert "kept their initialisation" in caplog.text
    with pytest.raises(ConfigError, match="no checkpoint"):
        trainer.init_weights(tmp_path / "nowhere")


def test_data_constants_are_saved_with_the_weights(tmp_path):
    from solarmodels._runs import load_run

    system = _p2p_b(residual_to_mean=True)
    assert all(float(p.detach().abs().sum()) == 0 for p in
               system.networks["g"].output_layer().parameters())     # starts at the mean
    data = SyntheticPairs(4, 16)
    run = {"model": "pix2pix_unet", "model_config": {"in_channels": 1, "out_channels": 1,
                                                      "image_size": 16, "ngf": 4},
           "system": "pix2pix_b",
           "system_config": {"discriminator_config": {"ndf": 4, "n_layers": 1},
                             "residual_to_mean": True},
           "data": {"dataset": "synthetic_pairs", "n": 4, "size": 16},
           "train": {"steps": 1, "batch_size": 2, "progress": False, "tensorboard": False}}
    Trainer(system, data, None, run["train"], tmp_path / "r", run_config=run).fit()
    mean = torch.stack([data[i]["target"] for i in range(len(data))]).mean(0)
    torch.testing.assert_close(system.constants["target_mean"], mean)
    loaded, _ = load_run(tmp_path / "r")
    torch.testing.assert_close(loaded.constants["target_mean"], mean)
    batch = {"input": torch.stack([data[0]["input"]])}
    torch.testing.assert_close(loaded.predict(batch), system.predict(batch))
