"""Pix2PixHD training system: LSGAN over a multi-scale discriminator + feature matching.

Losses (Wang et al. 2018, eqs. 2-4; LSGAN of Mao et al. 2017), with ``D_k`` the discriminator at
scale ``k`` (of ``n`` scales) and ``D_k^(j)`` its ``j``-th block output (``T`` blocks before the
logits):

    L_D = ½ Σ_k [ MSE(D_k(x, y), 1) + MSE(D_k(x, G(x)), 0) ]
    L_G = λ_GAN Σ_k MSE(D_k(x, G(x)), 1) + λ_FM · FM
    FM  = Σ_k Σ_{j<T} (1/n) · (4/T) · ‖D_k^(j)(x, y) − D_k^(j)(x, G(x))‖₁      (λ_FM = 10)

Each scale enters FM once. The far-side seed (Jeong et al. 2020) added the scale-0 term twice;
``fm_double_count_scale0=True`` reproduces that for comparisons.

``lambda_mse`` (not in the seeds; default 0): adds ``λ_MSE · MSE(G(x), y)`` over the batch's
``mask`` (the solar disk) to ``L_G``, the conditional mean that the adversarial terms alone do
not aim at (docs/models.md, far-side learning at CPU size).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from solarmodels.registry import create_model, register_system
from solarmodels.systems.base import network_channels, set_requires_grad
from solarmodels.systems.pix2pix import Pix2PixA, _masked_mse, masked_l1

if TYPE_CHECKING:
    from collections.abc import Sequence

    from torch import nn

    from solarmodels.systems.base import StepContext

__all__ = ["Pix2PixHDConfig", "Pix2PixHD", "lsgan_loss", "feature_matching_loss"]


def lsgan_loss(outputs: Sequence[Sequence[torch.Tensor]], target_is_real: bool) -> torch.Tensor:
    """``Σ_k MSE(logits_k, 1 or 0)`` over the scales of a multi-scale discriminator output."""
    total = 0.0
    for feats in outputs:
        logits = feats[-1].float()
        total = total + F.mse_loss(logits, torch.full_like(logits, 1.0 if target_is_real else 0.0))
    return total


def feature_matching_loss(fake_outputs: Sequence[Sequence[torch.Tensor]],
                          real_outputs: Sequence[Sequence[torch.Tensor]], *,
                          double_count_scale0: bool = False) -> torch.Tensor:
    """pix2pixHD feature matching: ``Σ_k Σ_{j<T} (1/n)(4/T) L1(fake_k^(j), real_k^(j))``.

    ``real_outputs`` are detached. ``double_count_scale0`` adds the scale-0 term a second time
    (the far-side seed's quirk).
    """
    n = len(fake_outputs)
    terms = []
    for fake, real in zip(fake_outputs, real_outputs):
        t = len(fake) - 1
        term = 0.0
        for j in range(t):
            term = term + (1.0 / n) * (4.0 / t) * F.l1_loss(fake[j].float(), real[j].detach().float())
        terms.append(term)
    total = sum(terms)
    if double_count_scale0:
        total = total + terms[0]
    return total


@dataclasses.dataclass
class Pix2PixHDConfig:
    """Pix2PixHD system settings; G and D are built from the named models when not passed in."""

    generator: str = "pix2pixhd_global"
    generator_config: dict = dataclasses.field(default_factory=dict)
    discriminator: str = "multiscale_patchgan"
    discriminator_config: dict = dataclasses.field(default_factory=dict)
    n_d: int = 2                  # discriminator scales (multiscale_patchgan's n_scales)
    lambda_gan: float = 1.0
    lambda_fm: float = 10.0
    fm_double_count_scale0: bool = False
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: int = 0
    residual_to_mean: bool = False
    lambda_mse: float = 0.0


@register_system("pix2pixhd")
class Pix2PixHD(Pix2PixA):
    """Pix2PixHD: generator ``"g"`` and multi-scale discriminator ``"d"`` (LSGAN + FM)."""

    config_cls = Pix2PixHDConfig

    def _d_channels(self, cin, cout):
        return cin + cout

    def _d_input(self, x, y):
        return torch.cat([x, y], 1)

    def build_networks(self, given: dict[str, nn.Module]) -> dict[str, nn.Module]:
        out = super().build_networks(given)
        if "d" not in given:
            g = given.get("g") or out["g"]
            cin, cout = network_channels(g)
            cfg = {"in_channels": self._d_channels(cin, cout)}
            if self.config.discriminator == "multiscale_patchgan":
                cfg["n_scales"] = self.config.n_d
            cfg.update(self.config.discriminator_config)
            out["d"] = create_model(self.config.discriminator, cfg)
        return out

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self._adam(self.networks["g"]), "d": self._adam(self.networks["d"])}

    def generator_extra_loss(self, fake: torch.Tensor, batch: dict[str, torch.Tensor]
                             ) -> tuple[torch.Tensor | float, dict]:
        """Additional generator terms (none here; Pix2PixCC adds its correlation inspector)."""
        return 0.0, {}

    def adversarial_weight(self) -> float:
        return self.config.lambda_gan

    def training_step(self, batch: dict[str, torch.Tensor],
                      step: StepContext) -> dict[str, torch.Tensor]:
        g, d = self.networks["g"], self.networks["d"]
        x, y = batch["input"], batch["target"]
        fake = self.generate(g, x)
        set_requires_grad(d, True)
        real_out = d(self._d_input(x, y))
        fake_out = d(self._d_input(x, fake.detach()))
        loss_d = 0.5 * (lsgan_loss(real_out, True) + lsgan_loss(fake_out, False))
        step.backward(loss_d, "d")
        step.optimizer_step("d")
        set_requires_grad(d, False)
        fake_out = d(self._d_input(x, fake))
        adv = lsgan_loss(fake_out, True)
        fm = feature_matching_loss(fake_out, [[f.detach() for f in r] for r in real_out],
                                   double_count_scale0=getattr(self.config,
                                                               "fm_double_count_scale0", False))
        extra, extra_logs = self.generator_extra_loss(fake, batch)
        loss_g = self.adversarial_weight() * adv + self.config.lambda_fm * fm + extra
        if getattr(self.config, "lambda_mse", 0.0) > 0:
            mse = _masked_mse(fake, y, batch.get("mask"))
            loss_g = loss_g + self.config.lambda_mse * mse
            extra_logs = {**extra_logs, "mse": mse.detach()}
        step.backward(loss_g, "g")
        step.optimizer_step("g")
        set_requires_grad(d, True)
        logs = {"loss_g": loss_g.detach(), "loss_d": loss_d.detach(),
                "adv": adv.detach(), "fm": fm.detach(),
                "l1": masked_l1(fake.detach(), y, batch.get("mask")).detach()}
        logs.update(extra_logs)
        return logs
