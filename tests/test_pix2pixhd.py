"""Pix2PixHD: global generator architecture, two-scale discriminator, LSGAN + feature matching
that counts every scale once."""
import pytest
import torch
from torch import nn

from solarmodels import create_model, create_system
from solarmodels.networks.pix2pixhd import (
    GlobalGenerator,
    GlobalGeneratorConfig,
    MultiscaleDiscriminator,
    MultiscaleDiscriminatorConfig,
    ResidualBlock,
)
from solarmodels.systems.base import StepContext
from solarmodels.systems.pix2pixhd import feature_matching_loss, lsgan_loss


def test_global_generator_architecture():
    net = GlobalGenerator(GlobalGeneratorConfig(in_channels=3, out_channels=1, ngf=2))
    convs = [m for m in net.modules() if type(m) is nn.Conv2d]
    down = [m for m in convs if m.stride == (2, 2)]
    assert len(down) == 4 and all(m.kernel_size == (3, 3) for m in down)
    assert [m.out_channels for m in down] == [4, 8, 16, 32]
    assert sum(isinstance(m, ResidualBlock) for m in net.modules()) == 9
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in net.modules()) == 4
    assert convs[0].kernel_size == convs[-1].kernel_size == (7, 7)
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine for m in norms)
    assert isinstance(net.model[0], nn.ReflectionPad2d)
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 1, 32, 32)
    assert not isinstance(net.model[-1], nn.Tanh)                    # linear output (seed)


def test_multiscale_discriminator_shapes():
    d = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(in_channels=4, ndf=4))
    out = d(torch.randn(1, 4, 64, 64))
    assert len(out) == 2 and len(out[0]) == len(out[1]) == 5
    assert [f.shape[1] for f in out[0]] == [4, 8, 16, 32, 1]
    assert out[1][0].shape[-1] == (out[0][0].shape[-1] + 1) // 2 or \
        out[1][0].shape[-1] == out[0][0].shape[-1] // 2 + 1


def _feats(values, t=4):
    """Per-scale feature lists whose j-th entry is filled with values[k][j] (logits last)."""
    return [[torch.full((1, 1, 2, 2), float(v)) for v in row] + [torch.zeros(1, 1, 1, 1)]
            for row in values]


def test_feature_matching_counts_each_scale_once():
    real = _feats([[0, 0, 0, 0], [0, 0, 0, 0]])
    fake = _feats([[1, 1, 1, 1], [2, 2, 2, 2]])
    # (1/n)(4/T) Σ_j |Δ|, n = 2 scales, T = 4 layers: scale 0 → 0.5·4·1/... explicitly:
    scale0 = sum(0.5 * 1.0 * 1.0 for _ in range(4))                  # 2.0
    scale1 = sum(0.5 * 1.0 * 2.0 for _ in range(4))                  # 4.0
    assert float(feature_matching_loss(fake, real)) == pytest.approx(scale0 + scale1)
    assert float(feature_matching_loss(fake, real, double_count_scale0=True)) == \
        pytest.approx(2 * scale0 + scale1)                           # the seed's quirk
    only0 = feature_matching_loss(fake[:1], real[:1])                 # one scale: n = 1
    assert float(only0) == pytest.approx(2 * scale0)


def test_lsgan_loss():
    ones = [[torch.ones(1, 1, 3, 3)], [torch.ones(1, 1, 2, 2)]]
    assert float(lsgan_loss(ones, True)) == 0.0
    assert float(lsgan_loss(ones, False)) == 2.0                     # Σ over 2 scales of 1


def _system(**cfg):
    torch.manual_seed(0)
    g = create_model("pix2pixhd_global", in_channels=2, out_channels=1, ngf=4, n_down=2, n_blocks=1)
    return create_system("pix2pixhd", {"discriminator_config": {"ndf": 4}, **cfg}, g)


def test_training_step_and_fm_in_the_system():
    system = _system()
    d = system.networks["d"]
    assert d.config.n_scales == 2 and d.config.in_channels == 3
    x, y = torch.randn(2, 2, 32, 32), torch.randn(2, 1, 32, 32)
    opts = system.configure_optimizers()
    logs = {k: float(v) for k, v in  # 0-d tensors (no sync)
            system.training_step({"input": x, "target": y}, StepContext(opts)).items()}
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert logs["loss_g"] == pytest.approx(logs["adv"] + 10 * logs["fm"], rel=1e-4)
    # the system's FM equals the per-scale sum (no extra scale-0 term)
    with torch.no_grad():
        fake = system.networks["g"](x)
        real_out, fake_out = d(torch.cat([x, y], 1)), d(torch.cat([x, fake], 1))
        per_scale = [feature_matching_loss([f], [r]) / 2 for f, r in zip(fake_out, real_out)]
        torch.testing.assert_close(feature_matching_loss(fake_out, real_out), sum(per_scale))
    quirk = _system(fm_double_count_scale0=True)
    logs_q = {k: float(v) for k, v in quirk.training_step(
        {"input": x, "target": y}, StepContext(quirk.configure_optimizers())).items()}

    assert logs_q["fm"] > logs["fm"]


def test_linear_decay_schedule():
    from solarmodels.systems.base import linear_decay

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1.0)
    sched = linear_decay(opt, 2, 6)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1, 1, 1, 0.75, 0.5, 0.25])
