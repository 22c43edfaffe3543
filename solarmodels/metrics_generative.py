"""Metrics of generated images and videos: Fréchet distance, KID, cluster metrics, physics consistency.

Distribution metrics compare *features* of real and generated sets. The feature extractor is
pluggable — any callable ``images (N, C, H, W) → features (N, D)``. Pretrained Inception-v3 or
CLIP weights cannot be downloaded in this project's environment (no network), so the default is
:class:`SmallEncoder`, a small CNN trained here as a GOES-class classifier
(:func:`train_feature_encoder`); its FID values are **not** comparable with published FIDs. Real
Inception-v3 or CLIP features come from a local TorchScript file the user exported where the
weights are (:func:`load_feature_extractor`: a ``torch.export`` ``.pt2`` or TorchScript file;
resize to 299², grey repeated to 3 channels).
:func:`frechet_distance` agrees with torchmetrics' FID on the same features
(``tests/test_metrics_generative.py``).

* Fréchet distance (Heusel et al. 2017, FID): ``‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^{1/2})``.
* Kernel distance (Bińkowski et al. 2018, KID): unbiased MMD² with the cubic polynomial kernel
  ``k(x, y) = (xᵀy/d + 1)³``, mean ± std over random subsets.
* Cluster metrics (in the spirit of Ramunno et al. 2024): k-means on the real features; the
  Jensen–Shannon divergence between the cluster occupancies of the real and generated sets, the
  share of clusters the generated set reaches, and k-NN precision/recall (Kynkäänniemi et al. 2019).
* Physics consistency (no seed has it): the disk-integrated brightness of generated frames against
  the conditioning light curve (Pearson r and relative error after normalising both to unit mean),
  with :func:`disk_integrated_brightness` differentiable for use as a training loss.
* The seed's application: macro F1 of a flare-class classifier trained with and without generated
  samples (:func:`f1_with_generated`).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from typing import TypeAlias

    import numpy.typing as npt

    #: A NumPy array (or array_like) or a torch tensor.
    Data: TypeAlias = "npt.ArrayLike | torch.Tensor"

__all__ = ["frechet_distance", "kernel_distance", "feature_statistics", "SmallEncoder",
           "TorchFeatureExtractor", "train_feature_encoder", "extract_features", "kmeans",
           "load_feature_extractor",
           "cluster_metrics", "precision_recall", "disk_integrated_brightness",
           "physics_consistency", "physics_loss", "relative_flux_loss", "project_disk_flux",
           "macro_f1", "train_classifier",
           "f1_with_generated", "video_metrics"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- distances


def feature_statistics(features: Data) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), float64."""
    f = _np(features)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N ≥ 2, D), got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def _np(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def frechet_distance(real: Data, generated: Data) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    ``d² = ‖μ_1 − μ_2‖² + Tr Σ_1 + Tr Σ_2 − 2 Tr (Σ_1^{1/2} Σ_2 Σ_1^{1/2})^{1/2}``, the matrix square
    root through symmetric eigen-decompositions (stable where ``scipy.linalg.sqrtm`` of the
    non-symmetric product returns complex noise).
    """
    mu1, s1 = feature_statistics(real)
    mu2, s2 = feature_statistics(generated)
    s1, s2 = np.atleast_2d(s1), np.atleast_2d(s2)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    wm = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = np.sqrt(np.clip(wm, 0, None)).sum()
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)
    return max(d, 0.0)


def _poly_mmd2(x, y):
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


def kernel_distance(real: Data, generated: Data, *, subsets: int = 10, subset_size: int = 100,
                    seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD² with ``k(x, y) = (xᵀy/d + 1)³`` (Bińkowski et al. 2018); (mean, std).

    Each of ``subsets`` draws ``min(subset_size, N_r, N_g)`` samples of each set without
    replacement.
    """
    x, y = _np(real), _np(generated)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError("kernel_distance needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    vals = [_poly_mmd2(x[rng.choice(len(x), size, replace=False)],
                       y[rng.choice(len(y), size, replace=False)]) for _ in range(subsets)]
    return float(np.mean(vals)), float(np.std(vals))


# --------------------------------------------------------------------------- features


class SmallEncoder(nn.Module):
    """A small CNN: 4 stride-2 conv blocks (GroupNorm, SiLU) → global average → ``feature_dim``.

    Used as the default feature extractor (``features``) and as the flare-class classifier of the
    F1 application (``forward`` → logits). Works for any image size ≥ 16².
    """

    def __init__(self, in_channels: int = 1, width: int = 16, feature_dim: int = 64,
                 num_classes: int = 5):
        super().__init__()
        layers, c = [], in_channels
        for k in range(4):
            out = width * 2 ** min(k, 2)
            layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.GroupNorm(4, out), nn.SiLU()]
            c = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c, feature_dim)
        self.classifier = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean((-2, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.silu(self.features(x)))


class TorchFeatureExtractor:
    """Wrap any torch module as a feature extractor: optional resize and grey → RGB repeat.

    Example: ``TorchFeatureExtractor(inception_without_fc, size=299, rgb=True)`` with weights the
    user has on disk.
    """

    def __init__(self, module: Any, *, size: int | None = None, rgb: bool = False, batch_size: int = 64,
                 device: str | torch.device = "cpu") -> None:
        try:
            module = module.eval()
        except NotImplementedError:     # a torch.export program: fixed in its traced mode
            pass
        self.module = module.to(device)
        self.size, self.rgb, self.batch_size, self.device = size, rgb, batch_size, device

    @torch.no_grad()
    def __call__(self, images: Data) -> torch.Tensor:
        out = []
        for chunk in torch.as_tensor(images).split(self.batch_size):
            x = chunk.float().to(self.device)
            if self.size:
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
            if self.rgb and x.shape[1] == 1:
                x = x.repeat(1, 3, 1, 1)
            f = self.module.features(x) if hasattr(self.module, "features") else self.module(x)
            out.append(f.flatten(1).cpu())
        return torch.cat(out)


def load_feature_extractor(path: str | os.PathLike[str], *, size: int | None = None, rgb: bool = False,
                           batch_size: int = 64,
                           device: str | torch.device = "cpu") -> TorchFeatureExtractor:
    """A feature extractor from a local file (no network access, no torchvision needed).

    Export the network once where its weights are, e.g. Inception-v3 without its classifier
    (the FID convention, 2048 pool features at 299²) or a CLIP image encoder (the DDPM seed's
    paper used both), with ``torch.export`` (a ``.pt2`` file) or TorchScript::

        net = torchvision.models.inception_v3(weights=...).eval(); net.fc = torch.nn.Identity()
        batch = torch.export.Dim("batch", min=2)
        program = torch.export.export(net, (torch.zeros(2, 3, 299, 299),),
                                      dynamic_shapes=({0: batch},))
        torch.export.save(program, "inception.pt2")

    then ``load_feature_extractor("inception.pt2", size=299, rgb=True)``. The module must map
    images ``(N, C, H, W)`` to features ``(N, D)`` (flattened if more dims); grey images are
    repeated to 3 channels with ``rgb=True`` and resized to ``size``.

    Raises
    ------
    FileNotFoundError
        No such file.
    solarmodels.errors.ConfigError
        The file is neither an exported program nor a TorchScript module.
    """
    import pathlib
    import warnings

    from solarmodels.errors import ConfigError

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no feature-extractor file")
    errors = []
    try:
        module = torch.export.load(str(path)).module()
    except Exception as exc:  # not an exported program: try TorchScript
        errors.append(f"torch.export: {exc}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location=device)
        except (RuntimeError, ValueError) as exc2:
            errors.append(f"TorchScript: {exc2}")
            raise ConfigError(f"{path} is not a torch.export program nor a TorchScript module "
                              f"({'; '.join(errors)}); export the extractor with "
                              "torch.export.save(torch.export.export(net, example), path)") \
                from None
    return TorchFeatureExtractor(module, size=size, rgb=rgb, batch_size=batch_size, device=device)


def train_classifier(images: Data, labels: Data, *, num_classes: int = 5, steps: int = 200,
                     batch_size: int = 32, lr: float = 2e-3, seed: int = 0, width: int = 16,
                     feature_dim: int = 64, class_weights: Data | None = None,
                     progress: bool = False) -> SmallEncoder:
    """Train a :class:`SmallEncoder` as a classifier (Adam, cross-entropy) on (N, C, H, W) images."""
    from tqdm.auto import tqdm

    x = torch.as_tensor(images).float()
    y = torch.as_tensor(labels).long()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = SmallEncoder(x.shape[1], width, feature_dim, num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
    model.train()
    for _ in tqdm(range(steps), desc="classifier", disable=not progress):
        idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx], weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def train_feature_encoder(images: Data, labels: Data, **kwargs: Any) -> TorchFeatureExtractor:
    """The default feature extractor: a :class:`SmallEncoder` trained on real labelled images."""
    return TorchFeatureExtractor(train_classifier(images, labels, **kwargs))


def extract_features(extractor: Callable[[torch.Tensor], Any], images: Data) -> np.ndarray:
    """``extractor(images)`` as a float64 NumPy array (N, D)."""
    return _np(extractor(torch.as_tensor(images)))


# --------------------------------------------------------------------------- clusters


def kmeans(features: Data, k: int, *, iterations: int = 50,
           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding; returns (centroids (k, D), labels (N,))."""
    x = _np(features)
    rng = np.random.default_rng(seed)
    cent = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None] - np.asarray(cent)[None]) ** 2).sum(-1), axis=1)
        p = d2 / d2.sum() if d2.sum() > 0 else None
        cent.append(x[rng.choice(len(x), p=p)])
    cent = np.asarray(cent)
    for _ in range(iterations):
        lab = ((x[:, None] - cent[None]) ** 2).sum(-1).argmin(1)
        new = np.array([x[lab == j].mean(0) if np.any(lab == j) else cent[j] for j in range(k)])
        if np.allclose(new, cent):
            break
        cent = new
    return cent, ((x[:, None] - cent[None]) ** 2).sum(-1).argmin(1)


def precision_recall(real: Data, generated: Data, *, k: int = 3) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019).

    Precision: share of generated samples inside some real sample's k-NN ball; recall: share of
    real samples inside some generated sample's k-NN ball.
    """
    r, g = torch.as_tensor(_np(real)), torch.as_tensor(_np(generated))

    def radii(a):
        d = torch.cdist(a, a)
        return d.kthvalue(min(k + 1, len(a)), dim=1).values

    rr, rg = radii(r), radii(g)
    prec = (torch.cdist(g, r) <= rr[None]).any(1).double().mean()
    rec = (torch.cdist(r, g) <= rg[None]).any(1).double().mean()
    return float(prec), float(rec)


def cluster_metrics(real: Data, generated: Data, *, k: int = 8, seed: int = 0) -> dict:
    """Cluster comparison of real and generated feature sets (module docstring).

    Returns ``{"js_divergence", "cluster_coverage", "inertia_ratio", "precision", "recall"}``:
    JS divergence (bits, 0 = same occupancy) of the cluster histograms, the share of clusters
    holding generated samples, the mean squared distance of generated samples to their nearest
    real centroid over that of the real samples, and k-NN precision/recall.
    """
    r, g = _np(real), _np(generated)
    k = min(k, len(r))
    cent, lab_r = kmeans(r, k, seed=seed)
    d_g = ((g[:, None] - cent[None]) ** 2).sum(-1)
    lab_g = d_g.argmin(1)
    p = np.bincount(lab_r, minlength=k) / len(r)
    q = np.bincount(lab_g, minlength=k) / len(g)
    m = 0.5 * (p + q)

    def kl(a, b):
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / b[nz])).sum())

    inertia_r = ((r - cent[lab_r]) ** 2).sum(-1).mean()
    prec, rec = precision_recall(r, g)
    return {"js_divergence": 0.5 * kl(p, m) + 0.5 * kl(q, m),
            "cluster_coverage": float((q > 0).mean()),
            "inertia_ratio": float(d_g.min(1).mean() / max(inertia_r, 1e-12)),
            "precision": prec, "recall": rec}


# --------------------------------------------------------------------------- physics consistency


def disk_integrated_brightness(frames: torch.Tensor, disk_mask: torch.Tensor | None = None, *,
                               mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """Differentiable disk integral ``Σ_{on disk} (std · x + mean)`` over the last two axes.

    ``frames`` (..., H, W) in normalised units (``x = (I − mean)/std``) are de-normalised first so
    that the sum is proportional to the physical flux; ``disk_mask`` (H, W) selects on-disk pixels
    (all pixels if None).
    """
    x = frames * std + mean
    if disk_mask is not None:
        x = x * disk_mask.to(x.dtype)
    return x.sum((-2, -1))


def _pearson(a, b, dim=-1, eps=1e-12):
    a = a - a.mean(dim, keepdim=True)
    b = b - b.mean(dim, keepdim=True)
    return (a * b).sum(dim) / (a.norm(dim=dim) * b.norm(dim=dim) + eps)


def physics_consistency(frames: Data, light_curve: Data, disk_mask: Data | None = None, *,
                        mean: float = 0.0, std: float = 1.0,
                        frame_factor: Data | None = None) -> dict:
    """Disk-integrated brightness of generated frames vs the conditioning light curve.

    ``frames`` (B, T, H, W) or (B, C, T, H, W) (channel 0 used); ``light_curve`` (B, T) in any
    positive linear unit (e.g. the 1-AU-normalised disk integral); ``frame_factor`` (B, T)
    multiplies each frame's disk sum first (``(d/1 AU)²`` to put the received flux of a frame on
    the light curve's 1-AU scale; pixels are never rescaled). Both series are divided by
    their mean over T, then: ``r`` = Pearson correlation over T (mean over the batch),
    ``relative_error`` = mean ``|b̂/⟨b̂⟩ − b/⟨b⟩|`` (a fraction), and ``amplitude_ratio`` = std of the
    generated series over that of the light curve.
    """
    x = torch.as_tensor(frames).float()
    if x.dim() == 5:
        x = x[:, 0]
    lc = torch.as_tensor(light_curve).float().to(x.device)
    dm = None if disk_mask is None else torch.as_tensor(disk_mask).to(x.device)
    b = disk_integrated_brightness(x, dm, mean=mean, std=std)
    if frame_factor is not None:
        b = b * torch.as_tensor(frame_factor).float().to(b.device)
    bn = b / b.mean(-1, keepdim=True)
    ln = lc / lc.mean(-1, keepdim=True)
    return {"r": float(_pearson(bn, ln).mean()),
            "relative_error": float((bn - ln).abs().mean()),
            "amplitude_ratio": float((bn.std(-1) / ln.std(-1).clamp_min(1e-12)).mean())}


def physics_loss(frames: torch.Tensor, light_curve_z: torch.Tensor,
                 disk_mask: torch.Tensor | None = None, *, mean: float = 0.0, std: float = 1.0,
                 frame_factor: torch.Tensor | None = None) -> torch.Tensor:
    """Training loss ``1 − r`` between the disk integral of ``frames`` (B, C, T, H, W) and the
    conditioning light curve (B, T) (any affine scale, e.g. z-scored), averaged over the batch;
    ``frame_factor`` as in :func:`physics_consistency`."""
    x = frames[:, 0] if frames.dim() == 5 else frames
    b = disk_integrated_brightness(x, disk_mask, mean=mean, std=std)
    if frame_factor is not None:
        b = b * frame_factor.to(b.dtype)
    return (1.0 - _pearson(b, light_curve_z.to(b.dtype))).mean()


def _normalised_flux(frames, light_curve, disk_mask, mean, std, frame_factor):
    """Disk integral of ``frames`` and the light curve (B, T), each divided by its mean over T."""
    x = frames[:, 0] if frames.dim() == 5 else frames
    if disk_mask is not None and disk_mask.dim() == 3:        # one mask per item: (B, H, W)
        disk_mask = disk_mask[:, None]
    b = disk_integrated_brightness(x, disk_mask, mean=mean, std=std)
    if frame_factor is not None:
        b = b * frame_factor.to(b.dtype)
    lc = light_curve.to(b.dtype)
    return b / b.mean(-1, keepdim=True), lc / lc.mean(-1, keepdim=True)


def relative_flux_loss(frames: torch.Tensor, light_curve: torch.Tensor,
                       disk_mask: torch.Tensor | None = None, *, mean: float = 0.0,
                       std: float = 1.0, frame_factor: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """Differentiable physics loss per video, ``½ Σ_t (b̂_t/⟨b̂⟩ − ℓ_t/⟨ℓ⟩)²`` (shape (B,)).

    ``b̂`` is the disk integral of ``frames`` (B, C, T, H, W) or (B, T, H, W) as in
    :func:`physics_consistency` (times ``frame_factor`` (B, T) when given), ``ℓ`` the light curve
    (B, T) in a positive linear unit; both divided by their mean, as the metric does. Unlike
    ``1 − r`` (:func:`physics_loss`) it stays well conditioned for nearly constant curves and
    also penalises a wrong amplitude. ``disk_mask`` (H, W) or (B, H, W).
    """
    bn, ln = _normalised_flux(frames, light_curve, disk_mask, mean, std, frame_factor)
    return 0.5 * ((bn - ln) ** 2).sum(-1)


def project_disk_flux(frames: torch.Tensor, light_curve: torch.Tensor,
                      disk_mask: torch.Tensor | None = None, *, mean: float = 0.0,
                      std: float = 1.0, frame_factor: torch.Tensor | None = None
                      ) -> torch.Tensor:
    """``frames`` with each frame's on-disk intensity rescaled so that its disk integral follows
    the light curve exactly (closed form).

    With ``I = std · x + mean`` and ``b_t = f_t Σ_disk I`` (``f_t`` = ``frame_factor``), every
    on-disk pixel of frame ``t`` is multiplied by ``g_t = ⟨b⟩ (ℓ_t/⟨ℓ⟩) / b_t``, so that
    ``b'_t/⟨b'⟩ = ℓ_t/⟨ℓ⟩`` (``⟨b'⟩ = ⟨b⟩``: the mean brightness of the video is kept). The
    intensity, not the residual from the limb-darkened disk, is rescaled: the disk integral of a
    residual can be close to zero, that of the intensity cannot. Off-disk pixels are unchanged.
    Shapes as in :func:`relative_flux_loss`; the result has the shape of ``frames``.
    """
    x = frames[:, 0] if frames.dim() == 5 else frames
    m = torch.ones_like(x[:1, :1]) if disk_mask is None else disk_mask.to(x.dtype)
    m = m[:, None] if m.dim() == 3 else m
    intensity = x * std + mean
    b = (intensity * m).sum((-2, -1))
    if frame_factor is not None:
        b = b * frame_factor.to(b.dtype)
    lc = light_curve.to(b.dtype)
    gain = b.mean(-1, keepdim=True) * (lc / lc.mean(-1, keepdim=True)) / b.clamp_min(1e-12)
    scaled = intensity * (1.0 + (gain[..., None, None] - 1.0) * m)
    out = (scaled - mean) / std
    return out[:, None] if frames.dim() == 5 else out


def video_metrics(pred: Data, target: Data, *, data_range: float = 2.0) -> dict:
    """MAE, MSE, PSNR and SSIM (from :mod:`solarmodels.metrics`) of videos (B, C, T, H, W).

    ``data_range`` is stated (2 for data on [−1, 1]; the seed's 13.3 dB used 1 on [−1, 1], which
    understates PSNR by 6.02 dB). PSNR and SSIM are per frame, then averaged.
    """
    from solarmodels import metrics as m

    p = torch.as_tensor(pred).float()
    t = torch.as_tensor(target).float()
    frames_p = p.reshape(-1, *p.shape[-2:])
    frames_t = t.reshape(-1, *t.shape[-2:])
    out = {"mae": float(m.mae(p, t)), "mse": float(m.mse(p, t)),
           "psnr": float(torch.as_tensor(m.psnr(frames_p, frames_t, data_range,
                                                axis=(-2, -1))).mean()),
           "data_range": float(data_range)}
    if min(p.shape[-2:]) >= 11:
        out["ssim"] = float(torch.as_tensor(m.ssim(frames_p, frames_t, data_range)).mean())
    return out


# --------------------------------------------------------------------------- F1 application


def macro_f1(pred: npt.ArrayLike, target: npt.ArrayLike, num_classes: int = 5) -> float:
    """Macro-averaged F1 over the classes present in ``target`` or ``pred``."""
    p, t = np.asarray(pred).ravel(), np.asarray(target).ravel()
    scores = []
    for c in range(num_classes):
        tp = np.sum((p == c) & (t == c))
        fp = np.sum((p == c) & (t != c))
        fn = np.sum((p != c) & (t == c))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def f1_with_generated(train_images: Data, train_labels: Data, test_images: Data, test_labels: Data,
                      gen_images: Data, gen_labels: Data, *, num_classes: int = 5, steps: int = 200,
                      seed: int = 0, **kwargs: Any) -> dict:
    """The seed's application: macro F1 on real test images of a classifier trained on the real
    training set alone and on the real set augmented with generated samples."""
    test_images = torch.as_tensor(test_images).float()
    out = {}
    for name, (x, y) in {
            "real_only": (train_images, train_labels),
            "with_generated": (torch.cat([torch.as_tensor(train_images).float(),
                                          torch.as_tensor(gen_images).float()]),
                               torch.cat([torch.as_tensor(train_labels).long(),
                                          torch.as_tensor(gen_labels).long()]))}.items():
        clf = train_classifier(x, y, num_classes=num_classes, steps=steps, seed=seed, **kwargs)
        with torch.no_grad():
            pred = clf(test_images).argmax(1).numpy()
        out[f"f1_{name}"] = macro_f1(pred, np.asarray(test_labels), num_classes)
    return out
