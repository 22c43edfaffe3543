"""Light curve → video: Fourier encoder, STDiT presets, rectified flow, data windows, a short training."""
import math

import numpy as np
import pytest
import torch

from solarmodels.config import ConfigError
from solarmodels.diffusion import RectifiedFlow, guided_prediction
from solarmodels.diffusion.rectified_flow import resolution_shift
from solarmodels.networks.stdit import STDIT_PRESETS, FourierEncoder, STDiTConfig, _Layout, stdit_param_count
from solarmodels.registry import create_model, create_system


def _n(m):
    return sum(p.numel() for p in m.parameters())


# --------------------------------------------------------------------------- Fourier encoder


def test_fourier_encoder_matches_the_seed_formula():
    enc = FourierEncoder(mapping_size=8, max_period=10000.0, max_length=64)
    assert _n(enc) == 0
    values = torch.tensor([[0.5, -1.25, 3.0]])
    tokens, mask = enc(values)
    assert tokens.shape == (1, 64, 8) and mask.shape == (1, 64)
    assert mask[0, :3].all() and not mask[0, 3:].any()
    assert float(tokens[0, 3:].abs().max()) == 0.0
    half = 4
    for i, b in enumerate(values[0].tolist()):
        f = [math.exp(-math.log(10000.0) * k / half) for k in range(half)]
        want = [math.cos(b * fk) for fk in f] + [math.sin(b * fk) for fk in f]
        np.testing.assert_allclose(tokens[0, i].numpy(), want, rtol=1e-6, atol=1e-7)


def test_fourier_encoder_time_code_and_errors():
    enc = FourierEncoder(mapping_size=8, time_code=True, time_period=100.0)
    v = torch.tensor([[0.2, 0.2]])
    tok, _ = enc(v, times=torch.tensor([[10.0, 22.0]]))
    plain, _ = FourierEncoder(mapping_size=8)(v)
    # first token: τ = 0 adds [cos 0, sin 0] = [1…1, 0…0]
    np.testing.assert_allclose((tok - plain)[0, 0].numpy(), [1, 1, 1, 1, 0, 0, 0, 0], atol=1e-6)
    assert not torch.allclose(tok[0, 1], plain[0, 1])
    with pytest.raises(ValueError, match="needs the observation times"):
        enc(v)
    with pytest.raises(ValueError, match="longer than max_length"):
        FourierEncoder(max_length=4)(torch.zeros(1, 5))
    with pytest.raises(ValueError, match="mapping_size must be even"):
        FourierEncoder(mapping_size=7)


# --------------------------------------------------------------------------- STDiT


@pytest.mark.parametrize("name,overrides", [
    ("stdit_tiny", {}),
    ("stdit_tiny", {"pos_embed": "sincos", "time_code": True}),
    ("stdit_small", {"depth": 1}),
    ("stdit_base", {"depth": 1}),
    ("stdit_xl", {"depth": 1, "hidden_size": 64, "num_heads": 4, "mapping_size": 32}),
])
def test_presets_forward_backward(name, overrides):
    net = create_model(name, **overrides)
    assert _n(net) == stdit_param_count(net.config)
    x = torch.randn(2, 1, 4, 16, 16)
    cond = {"values": torch.randn(2, 4), "times": torch.arange(4.0).expand(2, 4) * 12}
    out = net(x, torch.tensor([3.0, 900.0]), cond, null=torch.tensor([False, True]))
    assert out.shape == x.shape
    out.square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)


def test_xl_preset_is_configuration_only():
    cfg = STDiTConfig(**STDIT_PRESETS["stdit_xl"])
    assert (cfg.depth, cfg.hidden_size, cfg.num_heads, tuple(cfg.patch_size)) == (28, 1152, 16,
                                                                                   (1, 2, 2))
    assert tuple(cfg.spatial_window) == (8, 8)
    n = stdit_param_count("stdit_xl")
    assert 1.1e9 < n < 1.25e9                                  # Open-Sora STDiT3-XL/2: ~1.1 B
    h = 1152
    # dominant terms: 56 blocks of 16 h² (attention 4h², cross 4h², MLP 8h²) and t_block 6h²
    assert abs(n - (56 * 16 + 6) * h * h) / n < 0.005


def test_windowed_attention():
    torch.manual_seed(0)
    full = create_model("stdit_tiny")
    win = create_model("stdit_tiny", spatial_window=(8, 8))
    win.load_state_dict(full.state_dict())
    x = torch.randn(1, 1, 2, 16, 16)
    cond = {"values": torch.randn(1, 2)}
    t = torch.tensor([500.0])
    # an 8×8 token window covers the whole 8×8 token grid: same as full attention
    np.testing.assert_allclose(win(x, t, cond).detach(), full(x, t, cond).detach(), atol=1e-5)
    lay = _Layout(1, 8, 8, (4, 4), 16, True, "cpu")
    seq = torch.randn(3, 64, 5)
    w = lay.to_windows(seq)
    assert w.shape == (12, 16, 5)
    np.testing.assert_array_equal(lay.from_windows(w), seq)
    # window 0 holds rows 0-3, cols 0-3 of the grid
    grid = seq.view(3, 8, 8, 5)
    np.testing.assert_array_equal(w[0], grid[0, :4, :4].reshape(16, 5))
    with pytest.raises(ValueError, match="not divisible by the spatial window"):
        _Layout(1, 6, 6, (4, 4), 16, True, "cpu")


def test_stdit_guidance_identities():
    torch.manual_seed(0)
    net = create_model("stdit_tiny").eval()
    # non-zero output layer so that the condition matters
    torch.nn.init.normal_(net.final_linear.weight, std=0.1)
    for blk in net.blocks:
        torch.nn.init.normal_(blk.cross.proj.weight, std=0.1)
    x = torch.randn(2, 1, 2, 8, 8)
    t = torch.tensor([100.0, 700.0])
    cond = {"values": torch.randn(2, 2)}
    with torch.no_grad():
        c = net(x, t, cond)
        u = net(x, t, cond, null=torch.ones(2, dtype=torch.bool))
        assert not torch.allclose(c, u)
        np.testing.assert_allclose(guided_prediction(net, x, t, cond, 1.0), c, atol=1e-5)
        np.testing.assert_allclose(guided_prediction(net, x, t, cond, 0.0), u, atol=1e-5)
        np.testing.assert_allclose(guided_prediction(net, x, t, cond, 4.0), u + 4 * (c - u),
                                   atol=1e-4)


# --------------------------------------------------------------------------- rectified flow


def test_rectified_flow_hand_values():
    rf = RectifiedFlow()
    x0 = torch.tensor([[1.0, -2.0]])
    eps = torch.tensor([[0.5, 0.5]])
    np.testing.assert_allclose(rf.add_noise(x0, eps, torch.tensor([0.25])), [[0.875, -1.375]])
    np.testing.assert_allclose(rf.euler_step(torch.tensor([[2.0]]), 0.5, 0.4, torch.tensor([[1.0]])),
                               [[0.8]])
    assert rf.sample_schedule(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    shifted = RectifiedFlow(shift=3.0)
    assert shifted.sample_schedule(2)[1] == pytest.approx(3 * 0.5 / (1 + 2 * 0.5))
    assert resolution_shift(512, 512) == pytest.approx(1.0)
    assert resolution_shift(1024, 1024, 34) == pytest.approx(2 * math.sqrt(10))
    s = rf.sample_times(20000, generator=torch.Generator().manual_seed(0))
    assert 0 < float(s.min()) and float(s.max()) < 1
    assert float(s.median()) == pytest.approx(0.5, abs=0.01)        # logit-normal(0, 1)
    assert float(torch.logit(s).std()) == pytest.approx(1.0, abs=0.03)


def test_rectified_flow_exact_velocity_recovers_the_data():
    x0 = torch.tensor([[[0.3, -0.7]]])

    class Exact(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, t, cond, null=None):
            s = (t / 1000.0).view(-1, 1, 1)
            return (x - x0) / s                      # v = ε − x0 on the straight path

    rf = RectifiedFlow()
    out = rf.sample(Exact(), (1, 1, 2), None, num_steps=7, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(out, x0, atol=1e-5)
    # the loss of the exact model is zero
    assert float(rf.loss(Exact(), x0, None, generator=torch.Generator().manual_seed(2))) < 1e-10


# --------------------------------------------------------------------------- data and training


@pytest.fixture(scope="module")
def series():
    from solarmodels.datasets.video import synthetic_continuum_series

    return synthetic_continuum_series(48, 16, seed=2, n_spots=8)


def test_video_windows(series):
    from solarmodels.datasets.video import VideoWindows, split_frames, video_windows

    ds, lc = series
    parts = video_windows(ds, lc)
    assert split_frames(48) == {"train": (0, 29), "val": (29, 38), "test": (38, 48)}
    train = parts["train"]
    assert train.starts == [0, 8]                          # 16-frame windows, stride 8
    assert len(parts["val"]) == 0
    frames = ds[list(ds.data_vars)[0]].values
    stats = VideoWindows.fit_stats(frames, lc.flux.values, (0, 29))
    assert train.stats == parts["test"].stats              # train split statistics everywhere
    assert {k: train.stats[k] for k in stats} == stats
    assert stats["i_max"] == pytest.approx(float(np.nanmax(frames[:29])))
    item = train[1]
    assert item["input"].shape == (1, 16, 16, 16) and item["cond"].shape == (16,)
    # pixels are not rescaled by distance: x = 2 I / I_max − 1 exactly
    np.testing.assert_allclose(item["input"][0, 0].numpy(),
                               2 * np.nan_to_num(frames[8]) / stats["i_max"] - 1, rtol=1e-6)
    np.testing.assert_allclose(item["times"].numpy(), np.arange(16) * 12.0)
    # the light curve is disk_integrate's 1-AU flux; the frames' disk sum follows it
    from solarmodels.metrics_generative import physics_consistency

    b = {k: v[None] for k, v in item.items()}
    phys = physics_consistency(b["input"], b["light_curve"], item["disk_mask"], mean=1.0, std=1.0,
                               frame_factor=b["flux_factor"])
    assert phys["r"] > 0.9 and phys["relative_error"] < 2e-3


def test_short_video_training(series, tmp_path):
    from solarmodels.datasets.video import video_windows
    from solarmodels.trainer import Trainer, collate

    ds, lc = series
    parts = video_windows(ds, lc, window=8, stride=4)
    net = create_model("stdit_tiny", hidden_size=32, num_heads=2, depth=1, mapping_size=32)
    system = create_system("video_rflow", {"physics_weight": 0.1, "sample_steps": 4},
                           {"model": net})
    trainer = Trainer(system, parts["train"], None,
                      dict(steps=40, batch_size=4, lr=2e-3, ema_decay=0.9, progress=False,
                           log_every=10, device="cpu", checkpoint_every=0), run_dir=tmp_path)
    trainer.fit(resume=False)
    losses = [r["flow_loss"] for r in trainer.history if r.get("split") == "train"]
    assert losses[-1] < 0.6 * losses[0]
    batch = collate([parts["test"][0]])
    metrics = system.evaluate_samples(batch)
    for key in ("mae", "mse", "psnr", "ssim", "physics_r", "physics_relative_error"):
        assert np.isfinite(metrics[key])
    assert metrics["data_range"] == 2.0
    assert metrics["physics_real_r"] > 0.9


@pytest.mark.real_gpu
def test_cuda_bf16_forward_matches_fp32():
    """Both diffusion networks on the GPU: bf16 autocast (flash/memory-efficient SDPA) vs fp32."""
    torch.manual_seed(0)
    video = create_model("stdit_tiny").cuda().eval()
    torch.nn.init.normal_(video.final_linear.weight, std=0.1)
    unet = create_model("ddpm_unet_tiny").cuda().eval()
    x = torch.randn(2, 1, 8, 32, 32, device="cuda")
    t = torch.tensor([10.0, 700.0], device="cuda")
    cond = {"values": torch.randn(2, 8, device="cuda")}
    img = torch.randn(4, 1, 32, 32, device="cuda")
    with torch.no_grad():
        ref_v, ref_u = video(x, t, cond), unet(img, t.long().repeat(2), torch.arange(4).cuda())
        with torch.autocast("cuda", dtype=torch.bfloat16):
            v, u = video(x, t, cond), unet(img, t.long().repeat(2), torch.arange(4).cuda())
    for a, b in ((v, ref_v), (u, ref_u)):
        err = float((a.float() - b).abs().max() / b.abs().max())
        assert err < 0.05, err


def test_disk_model_and_profile_fit():
    from solarmodels.datasets.video import disk_model, fit_disk_profile

    coef = [0.3, 0.9, -0.2]
    radius = np.array([10.0, 10.5])
    center = np.array([[15.5, 15.5], [15.0, 16.0]])
    disk = disk_model((32, 32), radius, center, coef)
    assert disk.shape == (2, 32, 32)
    assert np.isnan(disk[0, 0, 0]) and disk[0, 16, 16] == pytest.approx(sum(coef), rel=1e-2)
    spotted = disk.copy()
    spotted[:, 14:17, 12:15] *= 0.3                       # a spot: left out by the clipping
    np.testing.assert_allclose(fit_disk_profile(spotted, radius, center), coef, atol=1e-6)
    inside = np.isfinite(disk[1])
    yy, xx = np.mgrid[:32, :32]
    np.testing.assert_array_equal(inside, np.hypot(xx - 15.0, yy - 16.0) < 10.5)


def test_skip_preconditioning_is_the_best_linear_velocity():
    from solarmodels.diffusion import RectifiedFlow

    flow = RectifiedFlow(data_std=1.0)
    s = torch.tensor([0.25, 0.5, 0.9, 1.0])
    torch.testing.assert_close(flow.skip(s), (2 * s - 1) / ((1 - s) ** 2 + s ** 2))
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(200_000, generator=g), torch.randn(200_000, generator=g)
    xs = (1 - 0.3) * x0 + 0.3 * eps
    v = eps - x0
    assert float((v * xs).mean() / (xs * xs).mean()) == pytest.approx(
        float(flow.skip(torch.tensor(0.3))), abs=0.01)
    assert float(RectifiedFlow().skip(s).abs().sum()) == 0.0


def test_frame_autoencoder_shapes_and_video_codec_roundtrip(tmp_path):
    from solarmodels.datasets.video import synthetic_continuum_series, video_windows
    from solarmodels.metrics_generative import relative_flux_loss
    from solarmodels.trainer import Trainer

    ae = create_model("video_autoencoder", width=4)
    x = torch.randn(2, 1, 3, 16, 16)
    z = ae.encode(x)
    assert z.shape == (2, 4, 3, 4, 4) and ae(x).shape == x.shape
    with pytest.raises(ValueError, match="divisible"):
        ae.encode(torch.randn(1, 1, 1, 10, 10))
    assert create_model("video_autoencoder_f8").factor == 8
    # a trained autoencoder run, then a latent flow on it: codec statistics saved and restored
    ds, lc = synthetic_continuum_series(40, 16, seed=3, n_spots=4)
    parts = video_windows(ds, lc, window=8, stride=8)
    run = {"model": "video_autoencoder", "model_config": {"width": 4}, "system":
           "video_autoencoder", "system_config": {"disk_residual": True},
           "data": {"dataset": "synthetic_continuum_video"},
           "train": {"steps": 2, "batch_size": 1, "progress": False, "tensorboard": False}}
    ae_system = create_system("video_autoencoder", run["system_config"], ae)
    Trainer(ae_system, parts["train"], None, run["train"], tmp_path / "ae", run_config=run).fit()
    net = create_model("stdit_tiny", hidden_size=16, num_heads=2, depth=1, mapping_size=16,
                       in_channels=5, out_channels=4, patch_size=(1, 1, 1))
    cfg = {"autoencoder": str(tmp_path / "ae"), "disk_residual": True, "disk_condition": True,
           "standardize": "mean", "skip": True, "sample_steps": 2}
    flow = create_system("video_rflow", cfg, net)
    flow.prepare(parts["train"])
    assert flow.constants["codec_shift"].shape == (4, 1, 4, 4)
    item = {k: v[None] for k, v in parts["train"][0].items()}
    back = flow.decode(flow.encode(item["input"], item["disk"]), item["disk"])
    rec = ae_system.predict(item)
    torch.testing.assert_close(back, rec, atol=1e-4, rtol=1e-4)
    state = flow.state_dict()
    assert {"const.codec_shift", "const.codec_scale"} <= set(state)
    assert any(k.startswith("autoencoder.") for k in state)
    other = create_system("video_rflow", cfg, create_model(
        "stdit_tiny", hidden_size=16, num_heads=2, depth=1, mapping_size=16, in_channels=5,
        out_channels=4, patch_size=(1, 1, 1)))
    other.load_state_dict(state)
    torch.testing.assert_close(other.constants["codec_scale"], flow.constants["codec_scale"])
    video = flow.sample(flow.condition(item), tuple(item["input"].shape),
                        generator=torch.Generator().manual_seed(0))
    assert video.shape == item["input"].shape and torch.isfinite(video).all()
    flow.config.physics_guidance = 0.5                # through the frozen decoder
    guided = flow.sample(flow.condition(item), tuple(item["input"].shape),
                         generator=torch.Generator().manual_seed(0))
    kw = dict(mean=1.0, std=1.0, frame_factor=item["flux_factor"])
    assert float(relative_flux_loss(guided, item["light_curve"], item["disk_mask"], **kw)) < \
        0.8 * float(relative_flux_loss(video, item["light_curve"], item["disk_mask"], **kw))
    with pytest.raises(ConfigError, match="in_channels = 5"):
        create_system("video_rflow", cfg, create_model("stdit_tiny"))
    with pytest.raises(ConfigError, match="disk_residual"):
        create_system("video_rflow", {**cfg, "disk_residual": False}, net)


# --------------------------------------------------------------------------- physics at sampling


def _flux_case(seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = 0.3 * torch.rand(2, 1, 5, 8, 8, generator=g) - 0.2     # x on the [-1, 1] scale
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    mask = (((yy - 3.5) ** 2 + (xx - 3.5) ** 2) < 12).float()
    lc = 1.0 + 0.05 * torch.rand(2, 5, generator=g)
    factor = 1.0 + 0.01 * torch.rand(2, 5, generator=g)
    return frames, lc, mask, factor


def test_relative_flux_loss_and_projection_against_numpy():
    from solarmodels.metrics_generative import physics_consistency, project_disk_flux, relative_flux_loss

    frames, lc, mask, factor = _flux_case()
    b = ((frames[:, 0].numpy() + 1.0) * mask.numpy()).sum((-2, -1)) * factor.numpy()
    bn = b / b.mean(-1, keepdims=True)
    ln = lc.numpy() / lc.numpy().mean(-1, keepdims=True)
    loss = relative_flux_loss(frames, lc, mask, mean=1.0, std=1.0, frame_factor=factor)
    np.testing.assert_allclose(loss.numpy(), 0.5 * ((bn - ln) ** 2).sum(-1), rtol=1e-5)
    # a per-item mask (B, H, W) gives the same
    torch.testing.assert_close(relative_flux_loss(frames, lc, mask.expand(2, 8, 8), mean=1.0,
                                                  std=1.0, frame_factor=factor), loss)
    out = project_disk_flux(frames, lc, mask, mean=1.0, std=1.0, frame_factor=factor)
    assert out.shape == frames.shape
    phys = physics_consistency(out, lc, mask, mean=1.0, std=1.0, frame_factor=factor)
    assert phys["r"] == pytest.approx(1.0, abs=1e-5) and phys["relative_error"] < 1e-6
    off = mask == 0
    torch.testing.assert_close(out[..., off], frames[..., off])      # off-disk untouched
    b2 = ((out[:, 0] + 1.0) * mask).sum((-2, -1)) * factor
    np.testing.assert_allclose(b2.mean(-1).numpy(), b.mean(-1), rtol=1e-5)   # mean kept
    assert float(relative_flux_loss(out, lc, mask, mean=1.0, std=1.0,
                                    frame_factor=factor).max()) < 1e-10


def test_normalised_gradient_step_lowers_the_physics_loss():
    from solarmodels.diffusion import normalised_gradient_step
    from solarmodels.metrics_generative import relative_flux_loss

    frames, lc, mask, factor = _flux_case(1)
    x = frames.clone().requires_grad_(True)
    loss = relative_flux_loss(x, lc, mask, mean=1.0, std=1.0, frame_factor=factor)
    grad, = torch.autograd.grad(loss.sum(), x)
    x0 = frames.clone()
    assert torch.equal(normalised_gradient_step(x0, loss.detach(), grad, 0.0), frames)
    for lam in (0.25, 0.5):
        new = relative_flux_loss(normalised_gradient_step(x0, loss.detach(), grad, lam), lc,
                                 mask, mean=1.0, std=1.0, frame_factor=factor)
        # first order L' = (1 − λ) L; the curvature of the quadratic loss adds to it
        ratio = new.numpy() / loss.detach().numpy()
        assert np.all(ratio > 1 - lam - 0.01) and np.all(ratio < 1 - 0.5 * lam), ratio
    # a video with zero gradient is not moved
    still = normalised_gradient_step(x0, loss.detach(), torch.zeros_like(grad), 1.0)
    assert torch.equal(still, x0)


def test_physics_guided_sampling(series):
    from solarmodels.datasets.video import video_windows
    from solarmodels.metrics_generative import relative_flux_loss
    from solarmodels.trainer import collate

    ds, lc = series
    parts = video_windows(ds, lc, window=8, stride=4)
    batch = collate([parts["test"][0]])
    net = create_model("stdit_tiny", hidden_size=16, num_heads=2, depth=1, mapping_size=16,
                       in_channels=2, out_channels=1)
    cfg = {"disk_residual": True, "disk_condition": True, "sample_steps": 4}
    system = create_system("video_rflow", cfg, net)
    shape = tuple(batch["input"].shape)

    def draw(**changes):
        for key, value in changes.items():
            setattr(system.config, key, value)
        return system.sample(system.condition(batch), shape,
                             generator=torch.Generator().manual_seed(0))

    def loss(video):
        return float(relative_flux_loss(video, batch["light_curve"], batch["disk_mask"],
                                        mean=1.0, std=1.0, frame_factor=batch["flux_factor"]))

    plain = draw()
    torch.testing.assert_close(draw(physics_guidance=0.0), plain, rtol=0, atol=0)
    guided = draw(physics_guidance=0.5)
    assert loss(guided) < 0.2 * loss(plain)
    assert float((guided - plain).abs().mean()) < 0.05           # small change of the frames
    projected = draw(physics_guidance=0.0, physics_projection=True)
    assert loss(projected) < 1e-8 * max(loss(plain), 1.0)
    with pytest.raises(ConfigError, match="light_curve"):
        system.sample({k: v for k, v in system.condition(batch).items() if k != "light_curve"},
                      shape)
    with pytest.raises(ConfigError, match="physics_guidance must be >= 0"):
        create_system("video_rflow", {**cfg, "physics_guidance": -1.0}, net)
