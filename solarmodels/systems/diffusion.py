"""The one base of the diffusion training systems (DDPM, rectified-flow video).

:class:`DiffusionSystem` holds what the two generative seeds share: the network ``"model"`` built
from ``config.model`` when none is passed in, its exponential moving average, one AdamW optimiser,
classifier-free-guidance dropout of the condition with probability ``p_uncond`` during training,
a validation loss on a fixed noise draw (seeded generator, no dropout, EMA weights), and sampling
in eval mode on the EMA weights with guidance ``guidance_scale`` over ``sample_steps`` steps.

A subclass implements three methods:

* :meth:`DiffusionSystem.diffusion_loss` ``(batch, p_uncond, net, generator)`` → ``(loss, logs)``,
* :meth:`DiffusionSystem.condition` ``(batch)`` → the condition the sampler takes,
* :meth:`DiffusionSystem.draw` ``(net, shape, cond, steps, guidance_scale, generator, progress,
  **options)`` → samples.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from solarmodels.systems.base import System, SystemConfig

if TYPE_CHECKING:
    from typing import Any

    from torch import nn

    from solarmodels.systems.base import StepContext

__all__ = ["DiffusionSystem", "DiffusionConfig"]


@dataclasses.dataclass
class DiffusionConfig(SystemConfig):
    """Settings shared by the diffusion systems.

    Attributes
    ----------
    model : str
        Registered network built when none is passed in.
    p_uncond : float
        Probability of replacing the condition by the null condition in training (CFG dropout).
    guidance_scale : float
        ``w`` of ``ε̃ = ε(∅) + w (ε(c) − ε(∅))`` at sampling.
    sample_steps : int
        Sampler steps.
    lr, adam_eps, weight_decay : float
        AdamW settings (``train.lr`` overrides ``lr``).
    """

    model: str = ""
    p_uncond: float = 0.1
    guidance_scale: float = 3.0
    sample_steps: int = 50
    lr: float = 1e-4
    adam_eps: float = 1e-8
    weight_decay: float = 0.0


class DiffusionSystem(System):
    """Base of the conditional diffusion systems (module docstring)."""

    config_cls = DiffusionConfig
    primary = "model"
    ema_networks = ("model",)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": torch.optim.AdamW(self.networks["model"].parameters(), lr=self.lr,
                                       eps=self.config.adam_eps,
                                       weight_decay=self.config.weight_decay)}

    # ----------------------------------------------------------------- to implement
    def diffusion_loss(self, batch: dict[str, torch.Tensor], p_uncond: float, net: nn.Module,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """Training loss of ``net`` on ``batch`` with condition dropout ``p_uncond``."""
        raise NotImplementedError

    def condition(self, batch: dict[str, torch.Tensor]) -> Any:
        """The condition of ``batch`` in the form :meth:`draw` takes."""
        raise NotImplementedError

    def draw(self, net: nn.Module, shape: tuple[int, ...], cond: Any, *, steps: int,
             guidance_scale: float, generator: torch.Generator | None, progress: bool,
             **options: Any) -> torch.Tensor:
        """Samples of ``shape`` from ``net`` (the sampler of the subclass)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- shared
    def training_step(self, batch: dict[str, torch.Tensor],
                      step: StepContext) -> dict[str, torch.Tensor]:
        loss, logs = self.diffusion_loss(batch, self.config.p_uncond, self.networks["model"])
        step.backward(loss, "g")
        step.optimizer_step("g")
        return {"loss": loss.detach(), **logs}

    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        gen = torch.Generator(device=batch["input"].device).manual_seed(1234)
        loss, _ = self.diffusion_loss(batch, 0.0, self.inference_network(), generator=gen)
        return {"val_loss": float(loss)}

    @torch.no_grad()
    def sample(self, cond: Any, shape: tuple[int, ...], *, steps: int | None = None,
               guidance_scale: float | None = None, generator: torch.Generator | None = None,
               progress: bool = False, **options: Any) -> torch.Tensor:
        """Guided samples of ``shape`` for condition ``cond`` (EMA weights when kept)."""
        c = self.config
        with self._eval_mode():
            return self.draw(self.inference_network(), shape, cond,
                             steps=steps or c.sample_steps,
                             guidance_scale=c.guidance_scale if guidance_scale is None
                             else guidance_scale,
                             generator=generator, progress=progress, **options)

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One sample per item of ``batch`` for its condition (fixed seed 0)."""
        x = batch["input"]
        return self.sample(self.condition(batch), tuple(x.shape),
                           generator=torch.Generator(device=x.device).manual_seed(0))
