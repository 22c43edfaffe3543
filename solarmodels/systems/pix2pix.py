"""Pix2Pix training systems: Model A (L1 only) and Model B (conditional GAN + 100·L1).

Model B (Isola et al. 2017, eq. 4; Park et al. 2019):

    L_D = ½ [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)]
    L_G = BCE(D(x, G(x)), 1) + λ_L1 · ‖y − G(x)‖₁        (λ_L1 = 100)

with D the 70×70 PatchGAN on the concatenated input and target, BCE on logits. Model A drops the
adversarial term (``L_G = ‖y − G(x)‖₁``), Park et al. 2019's "Model A". Both use Adam, lr 2e-4,
β = (0.5, 0.999) and, optionally, the pix2pix linear decay after ``lr_decay_start`` steps.

A ``"mask"`` in the batch (1 on pixels that count, e.g. the solar disk) restricts the L1 terms.

``residual_to_mean = true`` (all translation systems, not in the seeds): the generator predicts
the departure from the mean training target, ``ŷ = ȳ + G(x)`` (``ȳ`` fitted by
:meth:`Pix2PixA.prepare` and stored in the checkpoint as ``const.target_mean``; G's output layer
starts at zero), so training starts from the training-mean baseline instead of from noise:
with a few dozen training pairs and a few hundred CPU steps the network only has to learn what
the mean misses.

Inference runs the generator in eval mode (batch norm with running statistics, no dropout). The
seed instead kept batch norm in training mode at inference; ``bn_train_at_inference=True``
reproduces that (batch statistics of the test batch, running statistics left untouched).
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from solarmodels.registry import create_model, register_system
from solarmodels.systems.base import (
    System,
    linear_decay,
    network_channels,
    set_requires_grad,
    value_range_problems,
    zero_output_layer,
)

if TYPE_CHECKING:
    import os
    from typing import Any

    from solarmodels.systems.base import StepContext

__all__ = ["Pix2PixAConfig", "Pix2PixBConfig", "Pix2PixA", "Pix2PixB", "masked_l1"]


def masked_l1(output: torch.Tensor, target: torch.Tensor,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error, over the pixels where ``mask`` (broadcast to the channels) is nonzero."""
    diff = (output.float() - target.float()).abs()
    if mask is None:
        return diff.mean()
    m = mask.to(diff.dtype).expand_as(diff)
    return (diff * m).sum() / m.sum().clamp_min(1.0)


def _masked_mse(output, target, mask=None):
    diff = (output.float() - target.float()) ** 2
    if mask is None:
        return diff.mean()
    m = mask.to(diff.dtype).expand_as(diff)
    return (diff * m).sum() / m.sum().clamp_min(1.0)


def _pearson(output, target, mask=None):
    """Pearson correlation over all pixels of the batch (inside ``mask``)."""
    x, y = output.float().flatten(), target.float().flatten()
    if mask is not None:
        keep = mask.expand_as(output).flatten() > 0
        x, y = x[keep], y[keep]
    x, y = x - x.mean(), y - y.mean()
    return (x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-12)


@contextlib.contextmanager
def _bn_batch_statistics(module: nn.Module):
    """Batch norm in training mode with momentum 0: batch statistics, running ones unchanged."""
    saved = []
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            saved.append((m, m.training, m.momentum))
            m.train(True)
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, training, momentum in saved:
            m.train(training)
            m.momentum = momentum


@dataclasses.dataclass
class Pix2PixAConfig:
    """Model A: L1 only. ``generator``/``generator_config`` build G when none is passed in."""

    generator: str = "pix2pix_unet"
    generator_config: dict = dataclasses.field(default_factory=dict)
    lambda_l1: float = 1.0
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: int = 0
    bn_train_at_inference: bool = False
    residual_to_mean: bool = False


@dataclasses.dataclass
class Pix2PixBConfig(Pix2PixAConfig):
    """Model B: conditional GAN + λ_L1·L1; ``discriminator`` overrides :class:`PatchGANConfig`."""

    lambda_l1: float = 100.0
    lambda_adv: float = 1.0
    discriminator: str = "patchgan"
    discriminator_config: dict = dataclasses.field(default_factory=dict)


@register_system("pix2pix_a")
class Pix2PixA(System):
    """Pix2Pix Model A: generator ``"g"`` trained with L1 only."""

    config_cls = Pix2PixAConfig
    primary = "g"
    ema_networks = ("g",)
    default_lr = 2e-4

    def build_networks(self, given: dict[str, nn.Module]) -> dict[str, nn.Module]:
        if "g" in given:
            return {}
        return {"g": create_model(self.config.generator, self.config.generator_config)}

    def _adam(self, module):
        return torch.optim.Adam(module.parameters(), lr=self.lr,
                                betas=(self.config.beta1, self.config.beta2))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self._adam(self.networks["g"])}

    def configure_schedulers(self, optimizers: dict[str, torch.optim.Optimizer]
                             ) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        total = self.train_config.steps if self.train_config is not None else 0
        if self.config.lr_decay_start <= 0:
            return {}
        return {k: linear_decay(o, self.config.lr_decay_start, total) for k, o in optimizers.items()}

    def __init__(self, config: Any = None, networks: dict | None = None) -> None:
        super().__init__(config, networks)
        if getattr(self.config, "residual_to_mean", False):
            zero_output_layer(self.networks["g"], "system_config.residual_to_mean")

    def prepare(self, train_data: torch.utils.data.Dataset | None) -> None:
        """The mean training target ``ȳ`` of ``residual_to_mean`` (:attr:`constants`)."""
        if not getattr(self.config, "residual_to_mean", False) or train_data is None:
            return
        from solarmodels.evaluate import mean_target

        mean = mean_target(train_data)
        if mean is not None:
            self.constants["target_mean"] = torch.from_numpy(mean)

    def generate(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``G(x)``, plus the mean training target with ``residual_to_mean``."""
        out = net(x)
        if getattr(self.config, "residual_to_mean", False):
            if "target_mean" not in self.constants:
                raise RuntimeError("residual_to_mean needs the mean training target: train the "
                                   "system with the Trainer (System.prepare) first")
            out = out + self.constants["target_mean"].to(out.device, out.dtype)
        return out

    def training_step(self, batch: dict[str, torch.Tensor],
                      step: StepContext) -> dict[str, torch.Tensor]:
        fake = self.generate(self.networks["g"], batch["input"])
        l1 = masked_l1(fake, batch["target"], batch.get("mask"))
        step.backward(self.config.lambda_l1 * l1, "g")
        step.optimizer_step("g")
        return {"loss_g": l1.detach() * self.config.lambda_l1, "l1": l1.detach()}

    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        out = self.forward(batch)
        mask = batch.get("mask")
        l1 = float(masked_l1(out, batch["target"], mask))
        return {"val_loss": l1, "val_l1": l1,
                "val_mse": float(_masked_mse(out, batch["target"], mask)),
                "val_cc": float(_pearson(out, batch["target"], mask))}

    # ----------------------------------------------------------------- run contract
    def check_data(self, dataset: Any) -> list[str]:
        """Inputs and targets must be scaled to about [−1, 1] (``solarprep.datasets.scalings``):
        values beyond ±5 (gauss, DN) are refused."""
        return value_range_problems(dataset, ("input", "target"), limit=5.0)

    def evaluate(self, ctx: Any, dataset: Any, out_dir: str | os.PathLike[str],
                 options: Any) -> dict:
        """Image-translation metrics and baselines (:func:`solarmodels.evaluate.
        evaluate_translation`)."""
        from solarmodels.evaluate import evaluate_translation

        return evaluate_translation(self, ctx, dataset, out_dir, options)

    def predict_file(self, ctx: Any, source: Any, out_path: str | os.PathLike[str], *,
                     physical: bool = False, **options: Any) -> dict:
        """The generator over every frame of a pair-like file (:func:`solarmodels.inference.
        predict_translation`)."""
        from solarmodels.inference import predict_translation

        return predict_translation(self, ctx, source, out_path, physical=physical)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        net = self.inference_network("g")
        if getattr(self.config, "bn_train_at_inference", False):
            with _bn_batch_statistics(net):
                return self.generate(net, batch["input"])
        return self.generate(net, batch["input"])


@register_system("pix2pix_b")
class Pix2PixB(Pix2PixA):
    """Pix2Pix Model B: generator ``"g"`` and PatchGAN ``"d"``, BCE cGAN + λ_L1·L1."""

    config_cls = Pix2PixBConfig

    def build_networks(self, given: dict[str, nn.Module]) -> dict[str, nn.Module]:
        out = super().build_networks(given)
        if "d" not in given:
            g = given.get("g") or out["g"]
            cin, cout = network_channels(g)
            cfg = {"in_channels": cin + cout, **self.config.discriminator_config}
            out["d"] = create_model(self.config.discriminator, cfg)
        return out

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self._adam(self.networks["g"]), "d": self._adam(self.networks["d"])}

    def training_step(self, batch: dict[str, torch.Tensor],
                      step: StepContext) -> dict[str, torch.Tensor]:
        g, d = self.networks["g"], self.networks["d"]
        x, y = batch["input"], batch["target"]
        fake = self.generate(g, x)
        # discriminator
        set_requires_grad(d, True)
        real_logits = d(torch.cat([x, y], 1))
        fake_logits = d(torch.cat([x, fake.detach()], 1))
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_logits.float(),
                                                           torch.ones_like(real_logits.float()))
                        + F.binary_cross_entropy_with_logits(fake_logits.float(),
                                                             torch.zeros_like(fake_logits.float())))
        step.backward(loss_d, "d")
        step.optimizer_step("d")
        # generator (D frozen so its gradients keep accumulating only from its own loss)
        set_requires_grad(d, False)
        logits = d(torch.cat([x, fake], 1)).float()
        adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        l1 = masked_l1(fake, y, batch.get("mask"))
        loss_g = self.config.lambda_adv * adv + self.config.lambda_l1 * l1
        step.backward(loss_g, "g")
        step.optimizer_step("g")
        set_requires_grad(d, True)
        return {"loss_g": loss_g.detach(), "loss_d": loss_d.detach(),
                "adv": adv.detach(), "l1": l1.detach()}
