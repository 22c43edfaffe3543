"""Training system of the class-conditional DDPM with classifier-free guidance (seed 2).

Loss: ``‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t, y')‖²`` with ``t ~ U{0, …, T−1}`` and ``y'`` the GOES
label replaced by the null class with probability ``p_uncond`` (0.1). EMA of the network comes from
the trainer (``train.ema_decay``); sampling (:meth:`DDPMSystem.sample`) uses the EMA weights with
DDIM (50 steps, default) or DDPM (1000 steps) and guidance scale 3 (the seed's ``w``).

Batches: ``{"input": (B, C, H, W) in [−1, 1], "label": (B,) int64 0..4}``.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from solarmodels.diffusion import DDPMScheduler, drop_condition
from solarmodels.registry import register_system
from solarmodels.systems.base import value_range_problems
from solarmodels.systems.diffusion import DiffusionConfig, DiffusionSystem

if TYPE_CHECKING:
    import os
    from typing import Any

    from torch import nn

__all__ = ["DDPMSystem", "DDPMSystemConfig"]


@dataclasses.dataclass
class DDPMSystemConfig(DiffusionConfig):
    """Settings of :class:`DDPMSystem` (seed values as defaults; ``p_uncond`` 0.1, guidance 3 and 50
    sampler steps from :class:`~solarmodels.systems.diffusion.DiffusionConfig`)."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    variance: str = "beta"
    sample_method: str = "ddim"
    eta: float = 0.0
    model: str = "ddpm_unet_tiny"
    lr: float = 3e-4


@register_system("ddpm")
class DDPMSystem(DiffusionSystem):
    """Class-conditional DDPM (ε-prediction, CFG dropout); ``predict`` draws guided samples."""

    config_cls = DDPMSystemConfig
    default_lr = 3e-4

    def __init__(self, config: Any = None, networks: dict | None = None) -> None:
        super().__init__(config, networks)
        c = self.config
        self.scheduler = DDPMScheduler(c.num_train_timesteps, c.beta_start, c.beta_end,
                                       variance=c.variance)

    def diffusion_loss(self, batch: dict[str, torch.Tensor], p_uncond: float, net: nn.Module,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        x0 = batch["input"]
        null = drop_condition(x0.shape[0], p_uncond, device=x0.device, generator=generator)
        return self.scheduler.loss(net, x0, batch.get("label"), null=null,
                                   generator=generator), {}

    def condition(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return batch.get("label")

    def draw(  # type: ignore[override]  # method/eta, no **options: narrower than the base
            self, net: nn.Module, shape: tuple[int, ...], cond: torch.Tensor | None, *, steps: int,
            guidance_scale: float, generator: torch.Generator | None, progress: bool,
            method: str | None = None, eta: float | None = None) -> torch.Tensor:
        c = self.config
        return self.scheduler.sample(net, shape, cond, method=method or c.sample_method,
                                     num_inference_steps=steps, guidance_scale=guidance_scale,
                                     eta=c.eta if eta is None else eta, generator=generator,
                                     device=self.device, progress=progress)

    @torch.no_grad()
    def sample(  # type: ignore[override]  # ``labels``, no **options: narrower than the base
            self, labels: torch.Tensor | None, shape: tuple[int, ...] | None = None, *,
            method: str | None = None, steps: int | None = None,
            guidance_scale: float | None = None, eta: float | None = None,
            generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
        """Guided samples (B, C, H, W) in [−1, 1] for ``labels`` (B,) (``None``: unconditional)."""
        return super().sample(labels, shape, steps=steps, guidance_scale=guidance_scale,
                              generator=generator, progress=progress, method=method, eta=eta)

    # ----------------------------------------------------------------- run contract
    def check_data(self, dataset: Any) -> list[str]:
        """Images must be scaled to [−1, 1] (:mod:`solarmodels.datasets.flares`)."""
        return value_range_problems(dataset, ("input",), limit=1.0 + 1e-6)

    def evaluate(self, ctx: Any, dataset: Any, out_dir: str | os.PathLike[str], options: Any) -> dict:
        """FID / KID, cluster metrics, the F1 study and baselines
        (:func:`solarmodels.evaluate_generative.evaluate_ddpm`)."""
        from solarmodels.evaluate_generative import evaluate_ddpm

        return evaluate_ddpm(self, ctx, dataset, out_dir, options)

    def sample_file(self, ctx: Any, out_path: str | os.PathLike[str], *, goes_class: str | int = "M",
                    n: int = 16, seed: int = 0, steps: int | None = None,
                    guidance_scale: float | None = None, **options: Any) -> dict:
        """``n`` images of one GOES class (:func:`solarmodels.inference.sample_ddpm`)."""
        from solarmodels.inference import sample_ddpm

        return sample_ddpm(self, ctx, out_path, goes_class=goes_class, n=n, seed=seed,
                           steps=steps, guidance_scale=guidance_scale)

    def predict_file(self, ctx: Any, source: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                     n: int = 16, seed: int = 0, **options: Any) -> dict:
        """One image per time of a GOES light curve (:func:`solarmodels.inference.predict_ddpm`)."""
        from solarmodels.inference import predict_ddpm

        return predict_ddpm(self, ctx, source, out_path, n=n, seed=seed)
