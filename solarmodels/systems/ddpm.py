"""Training system of the class-conditional DDPM with classifier-free guidance (seed 2).

Loss: ``‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t, y')‖²`` with ``t ~ U{0, …, T−1}`` and ``y'`` the GOES
label replaced by the null class with probability ``p_uncond`` (0.1). EMA of the network comes from
the trainer (``train.ema_decay``); sampling (:meth:`DDPMSystem.sample`) uses the EMA weights with
DDIM (50 steps, default) or DDPM (1000 steps) and guidance scale 3 (the seed's ``w``).

Batches: ``{"input": (B, C, H, W) in [−1, 1], "label": (B,) int64 0..4}``.
"""
from __future__ import annotations

import dataclasses

import torch

from solarmodels.diffusion import DDPMScheduler, drop_condition
from solarmodels.registry import create_model, register_system
from solarmodels.systems.base import System, SystemConfig

__all__ = ["DDPMSystem", "DDPMSystemConfig"]


@dataclasses.dataclass
class DDPMSystemConfig(SystemConfig):
    """Settings of :class:`DDPMSystem` (seed values as defaults)."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    variance: str = "beta"
    p_uncond: float = 0.1
    guidance_scale: float = 3.0
    sample_method: str = "ddim"
    sample_steps: int = 50
    eta: float = 0.0
    model: str = "ddpm_unet_tiny"
    lr: float = 3e-4
    weight_decay: float = 0.0


@register_system("ddpm")
class DDPMSystem(System):
    """Class-conditional DDPM (ε-prediction, CFG dropout); ``predict`` draws guided samples."""

    config_cls = DDPMSystemConfig
    primary = "model"
    ema_networks = ("model",)
    default_lr = 3e-4

    def __init__(self, config=None, networks=None):
        super().__init__(config, networks)
        c = self.config
        self.scheduler = DDPMScheduler(c.num_train_timesteps, c.beta_start, c.beta_end,
                                       variance=c.variance)

    def build_networks(self, given):
        if "model" in given:
            return {}
        return {"model": create_model(self.config.model)}

    def configure_optimizers(self):
        return {"g": torch.optim.AdamW(self.networks["model"].parameters(), lr=self.lr,
                                       weight_decay=self.config.weight_decay)}

    def _loss(self, batch, p_uncond, generator=None):
        x0 = batch["input"]
        labels = batch.get("label")
        null = drop_condition(x0.shape[0], p_uncond, device=x0.device, generator=generator)
        return self.scheduler.loss(self.networks["model"] if generator is None
                                   else self.inference_network(), x0, labels, null=null,
                                   generator=generator)

    def training_step(self, batch, step):
        loss = self._loss(batch, self.config.p_uncond)
        step.backward(loss, "g")
        step.optimizer_step("g")
        return {"loss": loss.detach()}

    def validation_step(self, batch):
        gen = torch.Generator(device=batch["input"].device).manual_seed(1234)
        return {"val_loss": float(self._loss(batch, 0.0, generator=gen))}

    @torch.no_grad()
    def sample(self, labels, shape=None, *, method=None, steps=None, guidance_scale=None,
               eta=None, generator=None, progress=False):
        """Guided samples (B, C, H, W) in [−1, 1] for ``labels`` (B,) (``None``: unconditional)."""
        c = self.config
        net = self.inference_network()
        with self._eval_mode():
            return self.scheduler.sample(
                net, shape, labels, method=method or c.sample_method,
                num_inference_steps=steps or c.sample_steps,
                guidance_scale=c.guidance_scale if guidance_scale is None else guidance_scale,
                eta=c.eta if eta is None else eta, generator=generator, device=self.device,
                progress=progress)

    def predict(self, batch):
        x = batch["input"]
        return self.sample(batch.get("label"), tuple(x.shape),
                           generator=torch.Generator(device=x.device).manual_seed(0))
