"""Pix2PixCC training system: LSGAN + feature matching + a correlation-coefficient "inspector".

Generator loss (Jeong et al. 2022, ApJS 262, 50):

    L_G = λ_LSGAN · ½ Σ_k MSE(D_k(x, G(x)), 1) + λ_FM · FM + λ_CC · (1/N) Σ_{s<N} (1 − CC_s)

with λ = 2 / 10 / 5, ``N = n_cc = 4`` scales (full resolution, then 1-3 applications of
``AvgPool2d(3, stride 2, padding 1, count_include_pad=False)`` to target and output), FM as in
:func:`~solarmodels.systems.pix2pixhd.feature_matching_loss`, and ``L_D = ½ Σ_k [MSE(D_k(real), 1) +
MSE(D_k(fake), 0)]`` over ``n_D = 1`` scale. ``CC_s`` is Lin's concordance correlation coefficient
(Lin 1989, Biometrics 45, 255),

    CCC = 2 r σ_t σ_f / (σ_t² + σ_f² + (μ_t − μ_f)²),
    r   = Σ(t − t̄)(f − f̄) / (√Σ(t − t̄)² · √Σ(f − f̄)² + ε),   ε = 1e-8,

or Pearson's ``r`` (``ccc=False``). The seed pools these statistics over the whole batch
(``per_sample=False``, the default); ``per_sample=True`` computes one CC per sample and averages.

``masked_cc`` (not in the seed; default False): the inspector's CC over the batch's ``mask`` only
(the solar disk), see :func:`inspector_loss`; ``lambda_mse`` as in
:mod:`~solarmodels.systems.pix2pixhd`.

``ch_balance`` (seed): the discriminator sees the target (or input) repeated so that input and
target carry about equal channel weight, e.g. 3 EUV channels + 3 copies of the magnetogram.

The seed's NaN problem (scaling to [-1, 1] before ``log10``) lives in its data pipeline; here the
networks never transform data, and :class:`~solarmodels.datasets.pairs.PairDataset` refuses
non-finite samples with a message naming the variable.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from solarmodels.registry import register_system
from solarmodels.systems.pix2pixhd import Pix2PixHD

__all__ = ["Pix2PixCCConfig", "Pix2PixCC", "concordance", "inspector_loss"]


def concordance(target: torch.Tensor, output: torch.Tensor, *, ccc: bool = True,
                per_sample: bool = False, eps: float = 1e-8,
                weight: torch.Tensor | None = None) -> torch.Tensor:
    """Lin's concordance (``ccc=True``) or Pearson correlation of ``output`` with ``target``.

    Statistics over every element of the batch (``per_sample=False``, the seed) or per sample over
    (C, H, W) and then averaged (``per_sample=True``). Population (1/N) moments; with ``weight``
    (≥ 0, broadcast to ``target``, e.g. the on-disk mask) weighted moments
    ``μ = Σ w t / Σ w``, ``σ² = Σ w (t − μ)² / Σ w``, so that pixels of weight 0 do not count.
    """
    t, f = target.float(), output.float()
    w = torch.ones_like(t) if weight is None else weight.float().expand_as(t)
    if per_sample:
        t, f, w = t.flatten(1), f.flatten(1), w.flatten(1)
    else:
        t, f, w = t.reshape(1, -1), f.reshape(1, -1), w.reshape(1, -1)
    n = w.sum(1, keepdim=True).clamp_min(eps)
    mt, mf = (w * t).sum(1, keepdim=True) / n, (w * f).sum(1, keepdim=True) / n
    dt, df = t - mt, f - mf
    r = (w * dt * df).sum(1) / ((w * dt.pow(2)).sum(1).sqrt() * (w * df.pow(2)).sum(1).sqrt()
                                + eps)
    if ccc:
        st = ((w * dt.pow(2)).sum(1, keepdim=True) / n).sqrt().squeeze(1)
        sf = ((w * df.pow(2)).sum(1, keepdim=True) / n).sqrt().squeeze(1)
        r = 2 * r * st * sf / (st.pow(2) + sf.pow(2) + (mt - mf).squeeze(1).pow(2) + eps)
    return r.mean()


def inspector_loss(target: torch.Tensor, output: torch.Tensor, *, n_scales: int = 4, ccc: bool = True,
                   per_sample: bool = False, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over ``n_scales`` pooled scales of ``1 − CC`` (see the module docstring).

    ``mask`` (1 on the pixels that count, e.g. the solar disk; not in the seed): the CC of each
    scale over those pixels only, the pooled scales as mask-weighted averages
    ``pool(m·t) / pool(m)`` weighted by ``pool(m)``. Without it a target filled off the disk
    (``data.nan_to``) makes the CC reward the disk edge, which the training mean already has.
    """
    total = 0.0
    t, f = target, output
    w = None if mask is None else mask.float().expand_as(target)
    for s in range(n_scales):
        if s > 0:
            if w is None:
                t = F.avg_pool2d(t, 3, stride=2, padding=1, count_include_pad=False)
                f = F.avg_pool2d(f, 3, stride=2, padding=1, count_include_pad=False)
            else:
                pw = F.avg_pool2d(w, 3, stride=2, padding=1, count_include_pad=False)
                t = F.avg_pool2d(w * t, 3, stride=2, padding=1,
                                 count_include_pad=False) / pw.clamp_min(1e-6)
                f = F.avg_pool2d(w * f, 3, stride=2, padding=1,
                                 count_include_pad=False) / pw.clamp_min(1e-6)
                w = pw
        total = total + (1.0 - concordance(t, f, ccc=ccc, per_sample=per_sample, weight=w))
    return total / n_scales


@dataclasses.dataclass
class Pix2PixCCConfig:
    """Pix2PixCC system settings (defaults from the seed)."""

    generator: str = "pix2pixcc_generator"
    generator_config: dict = dataclasses.field(default_factory=dict)
    discriminator: str = "multiscale_patchgan"
    discriminator_config: dict = dataclasses.field(default_factory=dict)
    n_d: int = 1
    lambda_lsgan: float = 2.0
    lambda_fm: float = 10.0
    lambda_cc: float = 5.0
    n_cc: int = 4
    ccc: bool = True
    per_sample: bool = False
    ch_balance: float = 1.0       # 0 disables the channel balancing of the discriminator input
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: int = 0
    residual_to_mean: bool = False
    lambda_mse: float = 0.0
    masked_cc: bool = False


def _repeats(cin, cout, balance):
    if balance <= 0:
        return 1, 1
    ratio = cin / cout * balance
    if ratio > 1:
        return 1, int(ratio)
    if ratio < 1:
        return int(1 / ratio), 1
    return 1, 1


@register_system("pix2pixcc")
class Pix2PixCC(Pix2PixHD):
    """Pix2PixCC: generator ``"g"``, discriminator ``"d"``; LSGAN + FM + CC inspector."""

    config_cls = Pix2PixCCConfig

    def _d_channels(self, cin, cout):
        self._reps = _repeats(cin, cout, self.config.ch_balance)
        return cin * self._reps[0] + cout * self._reps[1]

    def _d_input(self, x, y):
        reps = getattr(self, "_reps", None) or _repeats(x.shape[1], y.shape[1],
                                                        self.config.ch_balance)
        if reps[0] > 1:
            x = x.repeat(1, reps[0], 1, 1)
        if reps[1] > 1:
            y = y.repeat(1, reps[1], 1, 1)
        return torch.cat([x, y], 1)

    def adversarial_weight(self) -> float:
        return 0.5 * self.config.lambda_lsgan

    def generator_extra_loss(self, fake: torch.Tensor, batch: dict[str, torch.Tensor]
                             ) -> tuple[torch.Tensor | float, dict]:
        mask = batch.get("mask") if getattr(self.config, "masked_cc", False) else None
        cc = inspector_loss(batch["target"], fake, n_scales=self.config.n_cc, ccc=self.config.ccc,
                            per_sample=self.config.per_sample, mask=mask)
        return self.config.lambda_cc * cc, {"inspector": cc.detach()}
