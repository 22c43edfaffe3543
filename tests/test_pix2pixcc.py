"""Pix2PixCC: Mish generator with 5×5 strided downsampling, Lin's CCC inspector over 4 scales,
per-sample option, channel balancing, λ = 2 / 10 / 5."""
import numpy as np
import pytest
import torch
from torch import nn

from solarmodels import create_model, create_system
from solarmodels.systems.base import StepContext
from solarmodels.systems.pix2pixcc import concordance, inspector_loss


def test_generator_architecture():
    net = create_model("pix2pixcc_generator", in_channels=3, out_channels=1, ngf=2)
    down = [m for m in net.modules() if type(m) is nn.Conv2d and m.stride == (2, 2)]
    assert len(down) == 4 and all(m.kernel_size == (5, 5) and m.padding == (2, 2) for m in down)
    assert any(isinstance(m, nn.Mish) for m in net.modules())
    assert not any(isinstance(m, (nn.ReLU, nn.LeakyReLU)) for m in net.modules())
    assert isinstance(net.model[0], nn.ReplicationPad2d)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 1, 32, 32)
    bil = create_model("pix2pixcc_generator", ngf=2, n_blocks=1, upsample="bilinear")
    assert any(isinstance(m, nn.Upsample) for m in bil.modules())
    assert bil(torch.randn(1, 3, 32, 32)).shape == (1, 1, 32, 32)


def _ccc_numpy(t, f, eps=1e-8):
    t, f = t.astype(np.float64).ravel(), f.astype(np.float64).ravel()
    dt, df = t - t.mean(), f - f.mean()
    r = (dt * df).sum() / (np.sqrt((dt ** 2).sum()) * np.sqrt((df ** 2).sum()) + eps)
    st, sf = t.std(), f.std()
    return r, 2 * r * st * sf / (st ** 2 + sf ** 2 + (t.mean() - f.mean()) ** 2)


def test_concordance_against_hand_computation():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    f = (0.5 * t + 0.3 + 0.2 * rng.normal(size=t.shape)).astype(np.float32)
    r, ccc = _ccc_numpy(t, f)
    tt, ff = torch.from_numpy(t), torch.from_numpy(f)
    assert float(concordance(tt, ff, ccc=False)) == pytest.approx(r, rel=1e-5)
    assert float(concordance(tt, ff)) == pytest.approx(ccc, rel=1e-5)
    per = np.mean([_ccc_numpy(t[i], f[i])[1] for i in range(3)])
    assert float(concordance(tt, ff, per_sample=True)) == pytest.approx(per, rel=1e-5)
    assert float(concordance(tt, tt)) == pytest.approx(1.0, abs=1e-6)
    # a scaled copy correlates perfectly but is not concordant
    assert float(concordance(tt, 2 * tt, ccc=False)) == pytest.approx(1.0, abs=1e-6)
    assert float(concordance(tt, 2 * tt)) < 0.9


def test_inspector_over_scales():
    t = torch.randn(2, 1, 32, 32)
    assert float(inspector_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    f = t + 0.5 * torch.randn_like(t)
    manual, a, b = 0.0, t, f
    for s in range(4):
        if s:
            a = nn.functional.avg_pool2d(a, 3, 2, 1, count_include_pad=False)
            b = nn.functional.avg_pool2d(b, 3, 2, 1, count_include_pad=False)
        manual += 1 - float(concordance(a, b))
    assert float(inspector_loss(t, f)) == pytest.approx(manual / 4, rel=1e-5)


def test_system_losses_and_channel_balance():
    torch.manual_seed(0)
    g = create_model("pix2pixcc_generator", in_channels=3, out_channels=1, ngf=4, n_down=2,
                     n_blocks=1)
    system = create_system("pix2pixcc", {"discriminator_config": {"ndf": 4}}, g)
    d = system.networks["d"]
    assert d.config.n_scales == 1 and d.config.in_channels == 6        # target repeated ×3
    cfg = system.config
    assert (cfg.lambda_lsgan, cfg.lambda_fm, cfg.lambda_cc, cfg.n_cc) == (2.0, 10.0, 5.0, 4)
    x, y = torch.randn(2, 3, 32, 32), torch.randn(2, 1, 32, 32)
    logs = {k: float(v) for k, v in  # 0-d tensors (no sync)
            system.training_step({"input": x, "target": y},
                                 StepContext(system.configure_optimizers())).items()}
    assert all(np.isfinite(v) for v in logs.values())
    expected = 0.5 * 2.0 * logs["adv"] + 10.0 * logs["fm"] + 5.0 * logs["inspector"]
    assert logs["loss_g"] == pytest.approx(expected, rel=1e-4)
    unbalanced = create_system("pix2pixcc", {"ch_balance": 0, "discriminator_config": {"ndf": 4}}, g)
    assert unbalanced.networks["d"].config.in_channels == 4


def test_cc_training_improves_correlation(tmp_path):
    from solarmodels import Trainer
    from solarmodels.datasets.pairs import SyntheticPairs

    torch.manual_seed(0)
    g = create_model("pix2pixcc_generator", in_channels=1, out_channels=1, ngf=4, n_down=2,
                     n_blocks=1)
    system = create_system("pix2pixcc", {"discriminator_config": {"ndf": 4, "n_layers": 2}}, g)
    trainer = Trainer(system, SyntheticPairs(8, 16), SyntheticPairs(4, 16, seed=1),
                      dict(steps=30, batch_size=4, lr=1e-3, progress=False, eval_every=30),
                      tmp_path)

    before = trainer.evaluate()["val_cc"]
    after = trainer.fit()["val"]["val_cc"]
    assert after > before + 0.2


def test_masked_inspector_counts_only_the_disk():
    """``masked_cc``: the CC over the masked pixels equals the plain CC of those pixels (numpy
    reference); the pooled scales are mask-weighted, so values off the mask change nothing."""
    rng = np.random.default_rng(1)
    t = rng.normal(size=(2, 1, 16, 16)).astype(np.float32)
    f = (0.6 * t + 0.4 * rng.normal(size=t.shape)).astype(np.float32)
    yy, xx = np.mgrid[:16, :16]
    m = np.broadcast_to(((yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 36).astype(np.float32), t.shape)
    keep = m > 0
    r, ccc = _ccc_numpy(t[keep], f[keep])
    tt, ff, mm = torch.from_numpy(t), torch.from_numpy(f), torch.from_numpy(m.copy())
    assert float(concordance(tt, ff, ccc=False, weight=mm)) == pytest.approx(r, rel=1e-5)
    assert float(concordance(tt, ff, weight=mm)) == pytest.approx(ccc, rel=1e-5)
    assert float(concordance(tt, ff, weight=torch.ones_like(tt))) == \
        pytest.approx(float(concordance(tt, ff)), rel=1e-6)
    # off-disk values filled with -1 (data.nan_to) dominate the plain CC, not the masked one
    t_off, f_off = tt.clone(), ff.clone()
    t_off[mm == 0], f_off[mm == 0] = -10.0, -10.0
    assert float(inspector_loss(t_off, f_off, n_scales=3)) < 0.05
    masked = float(inspector_loss(t_off, f_off, n_scales=3, mask=mm))
    assert masked == pytest.approx(float(inspector_loss(tt, ff, n_scales=3, mask=mm)), rel=1e-5)
    assert masked > 0.1
    system = create_system("pix2pixcc", {"masked_cc": True, "discriminator_config": {"ndf": 4}},
                           create_model("pix2pixcc_generator", in_channels=1, out_channels=1,
                                        ngf=4, n_down=2, n_blocks=1))
    loss, logs = system.generator_extra_loss(f_off, {"target": t_off, "mask": mm})
    assert float(logs["inspector"]) == pytest.approx(
        float(inspector_loss(t_off, f_off, n_scales=4, mask=mm)), rel=1e-5)
