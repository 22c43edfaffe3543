"""DDPM U-Net presets, the DDPM/DDIM scheduler against hand values, CFG identities, a short training."""
import math

import numpy as np
import pytest
import torch

from solarmodels.diffusion import DDPMScheduler, cfg_combine, drop_condition, guided_prediction
from solarmodels.networks.ddpm_unet import (
    DDPMUNet,
    DDPMUNetConfig,
    DDPMUNetSeedConfig,
    seed_parameter_count,
    timestep_embedding,
)
from solarmodels.registry import create_model, create_system, list_models


def _n(m):
    return sum(p.numel() for p in m.parameters())


# --------------------------------------------------------------------------- networks


def test_seed_preset_parameter_count():
    net = create_model("ddpm_unet_seed64")
    assert _n(net) == seed_parameter_count() == 23_332_737
    cfg = net.config
    assert (cfg.base_channels, tuple(cfg.channel_mults), tuple(cfg.attention_factors),
            cfg.norm_groups, cfg.time_dim, cfg.num_classes) == (64, (1, 2, 4, 4), (1, 2, 4, 8), 1,
                                                                256, 5)
    assert net.label_emb.num_embeddings == 5          # the seed has no null row
    # the formula is not tied to one width
    assert _n(DDPMUNet(DDPMUNetSeedConfig(base_channels=8, num_heads=4))) == seed_parameter_count(8)


@pytest.mark.parametrize("name", ["ddpm_unet", "ddpm_unet_seed64", "ddpm_unet_tiny"])
def test_presets_forward_backward(name):
    overrides = {"base_channels": 8} if name != "ddpm_unet_tiny" else {}
    if name == "ddpm_unet":
        overrides["norm_groups"] = 4
    net = create_model(name, **overrides)
    x = torch.randn(2, 1, 16, 16)
    out = net(x, torch.tensor([3, 900]), torch.tensor([0, 4]))
    assert out.shape == x.shape
    out.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    assert name in list_models("diffusion")


def test_width_independent_of_image_size():
    net = create_model("ddpm_unet_tiny")
    n = _n(net)
    for size in (16, 32, 24):
        assert net(torch.randn(1, 1, size, size), torch.tensor([1])).shape[-1] == size
    assert _n(net) == n
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 1, 18, 18), torch.tensor([1]))
    with pytest.raises(ValueError, match="norm_groups"):
        DDPMUNet(DDPMUNetConfig(base_channels=6, norm_groups=4))


def test_timestep_embedding_values():
    e = timestep_embedding(torch.tensor([0.0, 10.0]), 8)
    freqs = [10000 ** (-2 * k / 8) for k in range(4)]
    want = [math.sin(10 * f) for f in freqs] + [math.cos(10 * f) for f in freqs]
    np.testing.assert_allclose(e[1].numpy(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(e[0].numpy(), [0] * 4 + [1] * 4)


def test_null_class_embedding():
    torch.manual_seed(0)
    seed = DDPMUNet(DDPMUNetSeedConfig(base_channels=8))
    t = torch.tensor([5, 6])
    # zero null (the seed's y=None): null label, null flag and y=None agree
    e_none = seed.embed(t, None)
    np.testing.assert_allclose(seed.embed(t, torch.tensor([5, 5])).detach(), e_none.detach())
    np.testing.assert_allclose(seed.embed(t, torch.tensor([1, 2]), null=torch.tensor([True, True]))
                               .detach(), e_none.detach())
    np.testing.assert_allclose(e_none.detach(), timestep_embedding(t, 256))
    learned = create_model("ddpm_unet_tiny")
    assert learned.label_emb.num_embeddings == 6
    diff = learned.embed(t, torch.tensor([5, 5])) - timestep_embedding(t, 256)
    np.testing.assert_allclose(diff.detach(), learned.label_emb.weight[5].detach().expand(2, -1),
                               atol=1e-6)


# --------------------------------------------------------------------------- scheduler


def test_schedule_hand_values():
    s = DDPMScheduler()
    assert float(s.betas[0]) == pytest.approx(1e-4)
    assert float(s.betas[-1]) == pytest.approx(0.02)
    assert float(s.betas[1]) == pytest.approx(1e-4 + (0.02 - 1e-4) / 999)
    assert float(s.alphas_cumprod[1]) == pytest.approx((1 - 1e-4) * (1 - s.betas[1].item()))
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    np.testing.assert_allclose(s.alphas_cumprod.numpy(), ab, rtol=1e-12)
    assert ab[-1] == pytest.approx(4.036e-5, rel=1e-3)


def test_add_noise_hand_values():
    s = DDPMScheduler()
    x0 = torch.tensor([[1.0, -0.5]])
    eps = torch.tensor([[0.3, 2.0]])
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    for t in (0, 10, 999):
        got = s.add_noise(x0, eps, torch.tensor([t]))
        want = math.sqrt(ab[t]) * x0.numpy() + math.sqrt(1 - ab[t]) * eps.numpy()
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    # t = 0: almost clean: sqrt(1 - 1e-4) x0 + 0.01 eps
    np.testing.assert_allclose(s.add_noise(x0, eps, torch.tensor([0])).numpy(),
                               [[math.sqrt(0.9999) + 0.003, -0.5 * math.sqrt(0.9999) + 0.02]],
                               rtol=1e-6)


def test_ddpm_step_hand_values():
    s = DDPMScheduler()
    x = torch.tensor([[0.7]])
    eps = torch.tensor([[0.2]])
    z = torch.tensor([[-1.5]])
    t = 500
    beta = 1e-4 + (0.02 - 1e-4) * t / 999
    ab = float(np.prod(1 - np.linspace(1e-4, 0.02, 1000)[:t + 1]))
    mean = (0.7 - beta / math.sqrt(1 - ab) * 0.2) / math.sqrt(1 - beta)
    assert float(s.step(eps, t, x, noise=z)) == pytest.approx(mean + math.sqrt(beta) * -1.5,
                                                             rel=1e-6)
    post = DDPMScheduler(variance="posterior")
    ab_prev = float(np.prod(1 - np.linspace(1e-4, 0.02, 1000)[:t]))
    var = beta * (1 - ab_prev) / (1 - ab)
    assert float(post.step(eps, t, x, noise=z)) == pytest.approx(mean - 1.5 * math.sqrt(var),
                                                                rel=1e-6)
    # t = 0 adds no noise
    assert float(s.step(eps, 0, x, noise=z)) == pytest.approx(
        (0.7 - 1e-4 / math.sqrt(1e-4) * 0.2) / math.sqrt(1 - 1e-4), rel=1e-6)


def test_ddim_step_hand_values_and_exact_inversion():
    s = DDPMScheduler()
    x0 = torch.tensor([[0.4, -0.8]])
    eps = torch.tensor([[1.0, 0.5]])
    t, tp = 800, 780
    ab = s.alphas_cumprod.numpy()
    xt = s.add_noise(x0, eps, torch.tensor([t]))
    got = s.ddim_step(eps, t, tp, xt, eta=0.0)
    want = math.sqrt(ab[tp]) * x0.numpy() + math.sqrt(1 - ab[tp]) * eps.numpy()
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    # with the true noise every deterministic step stays on the same trajectory, down to x0
    x = xt
    steps = [800, 600, 300, 50]
    for k, tt in enumerate(steps):
        x = s.ddim_step(eps, tt, steps[k + 1] if k + 1 < len(steps) else -1, x)
    np.testing.assert_allclose(x.numpy(), x0.numpy(), atol=1e-5)
    # eta = 1: sigma from Song et al. eq. 16
    z = torch.tensor([[0.3, -0.2]])
    sig = math.sqrt((1 - ab[tp]) / (1 - ab[t])) * math.sqrt(1 - ab[t] / ab[tp])
    got = s.ddim_step(eps, t, tp, xt, eta=1.0, noise=z)
    want = (math.sqrt(ab[tp]) * x0.numpy() + math.sqrt(1 - ab[tp] - sig ** 2) * eps.numpy()
            + sig * z.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_timesteps():
    s = DDPMScheduler()
    assert s.timesteps(method="ddpm") == list(range(999, -1, -1))
    ddim = s.timesteps(50, "ddim")
    assert len(ddim) == 50 and ddim[0] == 980 and ddim[-1] == 0
    with pytest.raises(ValueError, match="use method='ddim'"):
        s.timesteps(50, "ddpm")
    with pytest.raises(ValueError, match="beta_start < beta_end"):
        DDPMScheduler(beta_start=0.1, beta_end=0.01)


# --------------------------------------------------------------------------- guidance


class _Recorder(torch.nn.Module):
    """ε = x · (1 + label) for a condition, x · 0.5 for the null condition; counts calls."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, t, y, null=None):
        self.calls.append(x.shape[0])
        scale = torch.where(null, torch.full_like(y, 0.5, dtype=x.dtype), 1.0 + y.to(x.dtype))
        return x * scale.view(-1, 1, 1, 1)


def test_guidance_identities():
    m = _Recorder()
    x = torch.randn(3, 1, 4, 4)
    t = torch.tensor([1, 2, 3])
    y = torch.tensor([0, 2, 4])
    cond = x * (1.0 + y.float()).view(-1, 1, 1, 1)
    uncond = 0.5 * x
    np.testing.assert_allclose(guided_prediction(m, x, t, y, 0.0), uncond)
    np.testing.assert_allclose(guided_prediction(m, x, t, y, 1.0), cond)
    assert m.calls == [3, 3]
    g3 = guided_prediction(m, x, t, y, 3.0)
    assert m.calls[-1] == 6                                  # one batched forward of 2B
    np.testing.assert_allclose(g3, uncond + 3 * (cond - uncond), rtol=1e-6)
    np.testing.assert_allclose(cfg_combine(cond, uncond, 3.0), torch.lerp(uncond, cond, 3.0),
                               rtol=1e-6)


def test_guidance_with_real_network():
    torch.manual_seed(0)
    net = create_model("ddpm_unet_tiny").eval()
    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([10, 500])
    y = torch.tensor([1, 3])
    with torch.no_grad():
        c = net(x, t, y)
        u = net(x, t, None)
        np.testing.assert_allclose(guided_prediction(net, x, t, y, 1.0), c, atol=1e-5)
        np.testing.assert_allclose(guided_prediction(net, x, t, y, 0.0), u, atol=1e-5)
        np.testing.assert_allclose(guided_prediction(net, x, t, y, 3.0), u + 3 * (c - u),
                                   atol=1e-4)


def test_drop_condition_rate():
    g = torch.Generator().manual_seed(0)
    m = drop_condition(20000, 0.1, generator=g)
    assert m.dtype == torch.bool and abs(float(m.float().mean()) - 0.1) < 0.01
    assert not drop_condition(10, 0.0).any()
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        drop_condition(4, 1.5)


# --------------------------------------------------------------------------- training


def test_short_training_class_ordering(tmp_path):
    """Loss falls and guided samples of class X are brighter than those of class A."""
    from solarmodels.datasets.flares import FlareImageDataset, synthetic_flare_images
    from solarmodels.trainer import Trainer

    imgs, labels, _ = synthetic_flare_images(160, 16, seed=0, classes=(0, 4), n_base=2)
    data = FlareImageDataset(imgs, labels)
    assert float(data.x[data.y == 0].mean()) < float(data.x[data.y == 4].mean())
    torch.manual_seed(0)
    net = create_model("ddpm_unet_tiny", base_channels=8, attention_factors=())
    system = create_system("ddpm", {"sample_steps": 20}, {"model": net})
    trainer = Trainer(system, data, None, dict(steps=240, batch_size=16, lr=3e-3, ema_decay=0.95,
                                               progress=False, log_every=40, device="cpu",
                                               checkpoint_every=0), run_dir=tmp_path)
    trainer.fit(resume=False)
    losses = [r["loss"] for r in trainer.history if r.get("split") == "train"]
    assert losses[-1] < 0.5 * losses[0]
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 16 + [4] * 16)
    samples = system.sample(labels, (32, 1, 16, 16), generator=gen)
    assert samples.shape == (32, 1, 16, 16) and float(samples.abs().max()) <= 1.0
    assert float(samples[:16].mean()) < float(samples[16:].mean())
    val = system.validation_step({"input": data.x[:8], "label": data.y[:8]})
    assert val == system.validation_step({"input": data.x[:8], "label": data.y[:8]})


def test_ddim_eta1_all_steps_equals_ddpm_posterior():
    """Song et al. (2021): DDIM with η = 1 over every step is DDPM with σ² = β̃ (same noise draws)."""
    torch.manual_seed(0)
    net = create_model("ddpm_unet_tiny", base_channels=8, attention_factors=()).eval()
    s = DDPMScheduler(50, 1e-3, 0.2, variance="posterior", clip_sample=None)
    labels = torch.tensor([0, 4])
    a = s.sample(net, (2, 1, 8, 8), labels, method="ddpm", generator=torch.Generator().manual_seed(3))
    b = s.sample(net, (2, 1, 8, 8), labels, method="ddim", num_inference_steps=50, eta=1.0,
                 generator=torch.Generator().manual_seed(3))
    assert float((a - b).abs().max() / a.abs().max()) < 1e-4
    c = s.sample(net, (2, 1, 8, 8), labels, method="ddim", num_inference_steps=10, eta=0.0,
                 generator=torch.Generator().manual_seed(3))
    d = s.sample(net, (2, 1, 8, 8), labels, method="ddim", num_inference_steps=10, eta=0.0,
                 generator=torch.Generator().manual_seed(3))
    assert float((c - d).abs().max() / c.abs().max()) < 1e-5   # η = 0: no noise drawn


def test_flare_data_paths(real_fits):
    """GOES-labelled synthetic series, and the real-AIA loading path."""
    import solarprep
    from solarmodels.datasets.flares import FlareImageDataset, images_from_dataset, synthetic_flare_series
    from solarprep import synthetic
    from solarprep.lightcurves import goes

    imgs, xrs, labels = synthetic_flare_series(60, 16, seed=1)
    lab = labels.label.values
    assert imgs.shape == (60, 16, 16) and set(lab) >= {0, 4}
    assert xrs.attrs["flux_scale"] == "swpc"
    data = FlareImageDataset(imgs, lab)
    assert float(data.x[data.y == 4].mean()) > float(data.x[data.y == 0].mean())
    ds = solarprep.load(real_fits["aia171_full"], progress=False, device="cpu")
    frames = images_from_dataset(ds, 32)
    assert frames.shape == (1, 32, 32) and np.isfinite(frames).all()
    curve = synthetic.goes_xrs("2011-02-14T22:00", "2011-02-15T02:00", 60.0,
                               flares=[("2011-02-15T00:10", "M3.0")], background="B5")
    curve.attrs["flux_scale"] = "swpc"
    lab = goes.label_times(ds, curve, before="30min", after="30min")
    assert lab.label.values.tolist() == [3]
    real = FlareImageDataset(frames, lab.label.values, stats=data.stats)
    assert len(real) == 1 and real[0]["input"].shape == (1, 32, 32)


def test_input_skip_path():
    net = create_model("ddpm_unet_tiny")
    assert net.config.input_skip and net.skip_gain is not None
    assert create_model("ddpm_unet_seed64").skip_gain is None          # not in the seed
    with torch.no_grad():
        net.skip_gain.bias.fill_(0.5)
    x = torch.randn(2, 1, 16, 16)
    t, y = torch.tensor([1, 2]), torch.tensor([0, 1])
    with torch.no_grad():
        with_skip = net(x, t, y)
        net.skip_gain.bias.zero_()
        np.testing.assert_allclose(with_skip - net(x, t, y), 0.5 * x, atol=1e-5)
