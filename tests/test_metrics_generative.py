"""Generative metrics: Fréchet distance, KID, clusters, physics consistency, F1 application."""
import numpy as np
import pytest
import torch

from solarmodels import metrics_generative as mg


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    b = rng.standard_normal((4000, 3)) * 2.0 + np.array([1.0, 0.0, -1.0])
    # N(0, I) vs N(μ, 4I): |μ|² + Σ (1 + 4 − 2·2) = 2 + 3
    assert mg.frechet_distance(a, b) == pytest.approx(5.0, rel=0.05)
    assert mg.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # against the exact formula with scipy's sqrtm on the sample statistics
    from scipy import linalg

    m1, s1 = mg.feature_statistics(a)
    m2, s2 = mg.feature_statistics(b)
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert mg.frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ValueError, match="N ≥ 2"):
        mg.frechet_distance(a[:1], b)


def test_kernel_distance():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 8))
    same = rng.standard_normal((300, 8))
    far = rng.standard_normal((300, 8)) + 1.0
    kid_same, _ = mg.kernel_distance(a, same, subsets=5, subset_size=100)
    kid_far, std = mg.kernel_distance(a, far, subsets=5, subset_size=100)
    assert abs(kid_same) < 0.05 < kid_far
    assert std >= 0
    # unbiased MMD² by hand on a tiny set
    x, y = a[:3], far[:4]
    k = lambda u, v: (u @ v.T / 8 + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    want = ((kxx.sum() - np.trace(kxx)) / 6 + (kyy.sum() - np.trace(kyy)) / 12 - 2 * kxy.mean())
    assert mg._poly_mmd2(x, y) == pytest.approx(want)


def test_cluster_metrics():
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [5, 5], [-5, 5], [5, -5]], float)
    real = np.concatenate([c + 0.3 * rng.standard_normal((50, 2)) for c in centres])
    good = np.concatenate([c + 0.3 * rng.standard_normal((50, 2)) for c in centres])
    collapsed = centres[1] + 0.3 * rng.standard_normal((200, 2))
    g = mg.cluster_metrics(real, good, k=4)
    c = mg.cluster_metrics(real, collapsed, k=4)
    assert g["js_divergence"] < 0.05 < c["js_divergence"]
    assert g["cluster_coverage"] == 1.0 and c["cluster_coverage"] == 0.25
    assert g["recall"] > 0.8 > c["recall"]
    assert 0.5 < g["inertia_ratio"] < 2.0
    cent, lab = mg.kmeans(real, 4)
    assert sorted(np.bincount(lab).tolist()) == [50, 50, 50, 50]


def test_physics_consistency_and_loss():
    size = 16
    yy, xx = np.mgrid[:size, :size]
    disk = torch.tensor(np.hypot(yy - 7.5, xx - 7.5) < 7, dtype=torch.float32)
    lc = torch.tensor([[1.0, 0.99, 0.98, 0.995, 1.0, 1.01]])
    frames = (lc[:, :, None, None] * disk) * 2 - 1                     # x = 2I − 1, I ∝ lc
    res = mg.physics_consistency(frames, lc * 3.7, disk, mean=1.0, std=1.0)
    assert res["r"] == pytest.approx(1.0, abs=1e-5)
    assert res["relative_error"] == pytest.approx(0.0, abs=1e-6)
    assert res["amplitude_ratio"] == pytest.approx(1.0, rel=1e-4)
    flipped = mg.physics_consistency(frames.flip(1), lc, disk, mean=1.0, std=1.0)
    assert flipped["r"] < 0.5
    # the frame factor puts a per-frame scale on the disk sums
    factor = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0, 2.0]])
    assert mg.physics_consistency(frames, lc, disk, mean=1.0, std=1.0,
                                  frame_factor=factor)["r"] < 0.9
    # differentiable loss: zero for consistent frames, gradient flows
    x = frames.clone()[:, None].requires_grad_(True)
    loss = mg.physics_loss(x, (lc - lc.mean()) / lc.std(), disk, mean=1.0, std=1.0)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-5)
    noisy = (frames + 0.05 * torch.randn_like(frames))[:, None].requires_grad_(True)
    loss = mg.physics_loss(noisy, lc, disk, mean=1.0, std=1.0)
    loss.backward()
    assert float(loss.detach()) > 0 and noisy.grad.abs().sum() > 0
    b = mg.disk_integrated_brightness(frames, disk, mean=1.0, std=1.0)
    np.testing.assert_allclose(b, 2 * lc * disk.sum(), rtol=1e-6)


def test_video_metrics_use_stated_range():
    torch.manual_seed(0)
    t = torch.rand(1, 1, 2, 16, 16) * 2 - 1
    p = t + 0.1
    m = mg.video_metrics(p, t, data_range=2.0)
    assert m["mae"] == pytest.approx(0.1, rel=1e-5)
    assert m["psnr"] == pytest.approx(10 * np.log10(4 / 0.01), rel=1e-4)
    assert m["psnr"] - mg.video_metrics(p, t, data_range=1.0)["psnr"] == pytest.approx(
        20 * np.log10(2), rel=1e-4)
    assert mg.video_metrics(t, t)["ssim"] == pytest.approx(1.0)
    assert m["ssim"] < 1.0


def test_macro_f1():
    assert mg.macro_f1([0, 1, 2, 2], [0, 1, 2, 2]) == 1.0
    # class 0: tp 1, fp 1, fn 0 → 2/3; class 1: tp 0, fn 1 → 0
    assert mg.macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0) / 2)


def test_feature_encoder_and_f1_application():
    from solarmodels.datasets.flares import FlareImageDataset, synthetic_flare_images

    imgs, labels, _ = synthetic_flare_images(60, 16, seed=3, classes=(0, 2, 4), n_base=2)
    ds = FlareImageDataset(imgs, labels)
    ext = mg.train_feature_encoder(ds.x, ds.y, steps=60, batch_size=16, width=8, feature_dim=16)
    feats = mg.extract_features(ext, ds.x)
    assert feats.shape == (60, 16) and np.isfinite(feats).all()
    # features separate classes better than chance: FID(A vs X) > FID(A vs A')
    a, x = feats[ds.y.numpy() == 0], feats[ds.y.numpy() == 4]
    assert mg.frechet_distance(a[:10], x) > mg.frechet_distance(a[:10], a[10:])
    res = mg.f1_with_generated(ds.x[:40], ds.y[:40], ds.x[40:], ds.y[40:], ds.x[:20], ds.y[:20],
                               steps=40, batch_size=16, width=8, feature_dim=16)
    assert set(res) == {"f1_real_only", "f1_with_generated"}
    assert all(0.0 <= v <= 1.0 for v in res.values())
    # a torch module with .features is wrapped the same way (the Inception route)
    wrapped = mg.TorchFeatureExtractor(ext.module, size=24, rgb=False)
    assert wrapped(ds.x[:3]).shape == (3, 16)
