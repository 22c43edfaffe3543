"""Pix2Pix Models A and B: reference parameter counts, architecture, losses, inference mode;
and the image-pair Dataset (lazy netCDF/zarr reading, paired shake, NaN handling)."""
import copy

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from solarmodels import create_model, create_system
from solarmodels.config import ConfigError
from solarmodels.datasets.pairs import PairDataset, SyntheticPairs
from solarmodels.networks.patchgan import PatchGAN, PatchGANConfig, receptive_field
from solarmodels.networks.unet import UNetConfig, UNetGenerator, unet_levels
from solarmodels.systems.base import StepContext


def _n(module):
    return sum(p.numel() for p in module.parameters())


def test_reference_parameter_counts():
    torch.manual_seed(0)
    assert _n(create_model("pix2pix_unet")) == 54_413_955          # 256², 3→3, ngf 64, BN
    assert _n(create_model("patchgan", in_channels=6)) == 2_768_705  # 70×70 on 6 channels


def test_unet_depth_follows_image_size():
    assert unet_levels(256) == 8 and unet_levels(1024) == 10
    for size, levels in ((256, 8), (1024, 10), (16, 4)):
        net = UNetGenerator(UNetConfig(image_size=size, ngf=1, in_channels=1, out_channels=1))
        assert net.levels == levels == len(net.down)
        strided = [m for m in net.down.modules() if isinstance(m, nn.Conv2d)]
        assert all(m.stride == (2, 2) and m.kernel_size == (4, 4) for m in strided)
    with pytest.raises(ConfigError, match="power of two"):
        UNetGenerator(UNetConfig(image_size=100))
    # the innermost feature map is 1×1 and dropout sits on the 3 innermost decoder levels
    net = UNetGenerator(UNetConfig(image_size=32, ngf=2, in_channels=1, out_channels=1))
    feats = []
    h = net.down[-1].register_forward_hook(lambda m, i, o: feats.append(o.shape))
    net(torch.randn(1, 1, 32, 32))
    h.remove()
    assert feats[0][-2:] == (1, 1)
    dropout = [j for j, layer in enumerate(net.up) if any(isinstance(m, nn.Dropout) for m in layer)]
    assert dropout == [0, 1, 2]


def test_init_statistics():
    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(image_size=64, ngf=32))
    w = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d)]).detach()
    assert abs(float(w.std()) - 0.02) < 0.001 and abs(float(w.mean())) < 0.001
    g = torch.cat([m.weight for m in net.modules() if isinstance(m, nn.BatchNorm2d)]).detach()
    assert abs(float(g.mean()) - 1.0) < 0.005 and abs(float(g.std()) - 0.02) < 0.004


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_patchgan_receptive_field(n_layers):
    torch.manual_seed(0)
    d = PatchGAN(PatchGANConfig(in_channels=1, ndf=2, n_layers=n_layers, norm="none"))
    x = torch.randn(1, 1, 160, 160, requires_grad=True)
    out = d(x)
    cy, cx = out.shape[-2] // 2, out.shape[-1] // 2
    out[0, 0, cy, cx].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    assert int(rows.max() - rows.min() + 1) == receptive_field(n_layers) == {1: 16, 2: 34, 3: 70}[n_layers]


def test_output_heads():
    torch.manual_seed(0)
    x = 50 * torch.randn(2, 1, 16, 16)
    tanh = create_model("pix2pix_unet", in_channels=1, out_channels=2, image_size=16, ngf=4,
                        output="tanh").eval()
    assert tanh(x).abs().max() <= 1 and tanh(x).shape == (2, 2, 16, 16)
    with pytest.raises(ConfigError, match="output must be"):
        create_model("pix2pix_unet", output="sigmoid", image_size=16)


def _tiny(system, **cfg):
    torch.manual_seed(0)
    g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=4,
                     dropout=0.0)
    return create_system(system, {"discriminator_config": {"ndf": 4, "n_layers": 1}, **cfg}
                         if system == "pix2pix_b" else cfg, {"g": g})


def _one_step(system, batch):
    opts = system.configure_optimizers()
    logs = system.training_step(batch, StepContext(opts))
    return {k: float(v) for k, v in logs.items()}, opts       # logs are 0-d tensors (no sync)


def test_model_a_is_l1_only_and_b_adds_the_discriminator():
    data = SyntheticPairs(2, 16)
    batch = {"input": data.x, "target": data.y}
    a = _tiny("pix2pix_a")
    assert set(a.networks) == {"g"}
    with torch.no_grad():
        l1 = (a.networks["g"](data.x) - data.y).abs().mean()
    logs, opts = _one_step(a, batch)
    assert logs["loss_g"] == pytest.approx(float(l1), rel=1e-5)
    assert opts["g"].defaults["betas"] == (0.5, 0.999) and opts["g"].defaults["lr"] == 2e-4
    b = _tiny("pix2pix_b")
    assert set(b.networks) == {"g", "d"} and b.networks["d"].config.in_channels == 2
    d_before = [p.detach().clone() for p in b.networks["d"].parameters()]
    logs, _ = _one_step(b, batch)
    assert logs["loss_g"] == pytest.approx(logs["adv"] + 100 * logs["l1"], rel=1e-5)
    assert 0.3 < logs["loss_d"] < 1.2                    # ≈ ln 2 for an untrained D
    assert any(not torch.equal(p0, p) for p0, p in zip(d_before, b.networks["d"].parameters()))
    assert all(p.requires_grad for p in b.networks["d"].parameters())


def test_masked_l1():
    from solarmodels.systems.pix2pix import masked_l1

    out, tgt = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    tgt[..., 0, 0] = 5.0
    mask = torch.ones(1, 1, 2, 2)
    mask[..., 0, 0] = 0
    assert float(masked_l1(out, tgt, mask)) == 1.0
    assert float(masked_l1(out, tgt)) == pytest.approx((6 * 1 + 2 * 5) / 8)


def test_inference_uses_eval_mode_and_seed_flaw_is_reproducible():
    system = _tiny("pix2pix_a")
    g = system.networks["g"]
    x = torch.randn(3, 1, 16, 16)
    g.train()
    g(x)                                                  # give the BN running stats a value
    running = [m.running_mean.clone() for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    ref = copy.deepcopy(g)
    with torch.no_grad():
        eval_out = ref.eval()(x)
        train_out = ref.train()(x)                       # batch statistics (dropout is 0 here)
    out = system.predict({"input": x})
    torch.testing.assert_close(out, eval_out)
    assert g.training                                     # mode restored
    seed_like = create_system("pix2pix_a", {"bn_train_at_inference": True}, g)
    torch.testing.assert_close(seed_like.predict({"input": x}), train_out)
    after = [m.running_mean for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(running, after))   # stats untouched
    assert not torch.allclose(eval_out, train_out)


# --------------------------------------------------------------------------- pair Dataset

def _pairs(n=4, size=12, nan=False):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, size, size)).astype(np.float32)
    b = np.stack([a * 2, a + 1], axis=1).astype(np.float32)            # (time, channel, y, x)
    if nan:
        a[1, 0, 0] = np.nan
        b[2, :, 3, 4] = np.nan
    return xr.Dataset({"blos": (("time", "y", "x"), a, {"units": "G"}),
                       "euv": (("time", "channel", "y", "x"), b, {"units": "DN/s"})},
                      coords={"split": ("time", ["train", "train", "val", "val"][:n])})


@pytest.mark.filterwarnings("ignore:The data type")
@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_pair_dataset_reads_files_lazily(tmp_path, suffix):
    ds = _pairs()
    path = tmp_path / f"pairs{suffix}"
    if suffix == ".nc":
        ds.to_netcdf(path, engine="h5netcdf")
    else:
        ds.to_zarr(path, consolidated=False)
    data = PairDataset(path, "blos", ["euv"], split="val")
    assert len(data) == 2 and data.channels == {"input": [("blos", "G")],
                                                "target": [("euv", "DN / s")]}  # astropy string
    assert not data.ds["blos"].variable._in_memory                    # nothing loaded yet
    item = data[0]
    np.testing.assert_array_equal(item["input"][0].numpy(), ds["blos"][2].values)  # no scaling
    np.testing.assert_array_equal(item["target"].numpy(), ds["euv"][2].values)

    assert item["input"].dtype == torch.float32 and item["index"] == 2
    assert len(data.fingerprint()) == 16


def test_pair_dataset_shake_is_paired_and_seeded():
    ds = _pairs()
    ds["copy"] = ds["blos"]
    data = PairDataset(ds, "blos", "copy", shake=3, seed=1, pad_mode="constant")
    shifts = set()
    for epoch in range(4):
        data.set_epoch(epoch)
        item = data[0]
        torch.testing.assert_close(item["input"], item["target"])       # same offset
        assert item["input"].shape == (1, 12, 12)
        shifts.add(tuple(torch.nonzero(item["mask"][0])[0].tolist()))
        data.set_epoch(epoch)
        torch.testing.assert_close(data[0]["input"], item["input"])      # reproducible
    assert len(shifts) > 1
    centred = PairDataset(ds, "blos", "copy", shake=3, crop=8, augment=False)[0]
    np.testing.assert_array_equal(centred["input"][0].numpy(), ds["blos"][0, 2:10, 2:10].values)


def test_pair_dataset_nan_and_errors():
    ds = _pairs(nan=True)
    with pytest.raises(ValueError, match=r"non-finite values in \['blos'\] at time index 1"):
        PairDataset(ds, "blos", "euv")[1]
    item = PairDataset(ds, "blos", "euv", nan_to=-1.0)[2]
    assert item["target"][0, 3, 4] == -1.0 and item["mask"][0, 3, 4] == 0
    assert item["mask"].sum() == 12 * 12 - 1
    with pytest.raises(ConfigError, match="not in the pair Dataset"):
        PairDataset(ds, "hmi", "euv")
    with pytest.raises(ConfigError, match="no 'fold' coordinate"):
        PairDataset(ds, "blos", "euv", split="val", split_var="fold")
    with pytest.raises(ConfigError, match="larger than the frame"):
        PairDataset(ds, "blos", "euv", crop=20)


@pytest.mark.gpu
def test_pair_dataset_serves_cuda_tensors_through_dlpack():
    import cupy

    ds = _pairs(nan=True)
    gpu = ds.copy()
    for v in ("blos", "euv"):
        gpu[v] = ds[v].copy(data=cupy.asarray(ds[v].values))
    data = PairDataset(gpu, "blos", "euv", nan_to=-1.0, shake=2, seed=3)
    ref = PairDataset(ds, "blos", "euv", nan_to=-1.0, shake=2, seed=3)
    assert data.on_device and not ref.on_device
    item, want = data[2], ref[2]
    cuda = not getattr(cupy, "IS_STANDIN", False)  # the CuPy stand-in hands over CPU tensors
    assert item["input"].is_cuda == item["target"].is_cuda == item["mask"].is_cuda == cuda
    for key in ("input", "target", "mask"):
        torch.testing.assert_close(item[key].cpu(), want[key])
