"""Rectified flow (flow matching on straight paths) as the seed's Open-Sora ``rflow`` scheduler.

Path: ``x_s = (1 − s) x_0 + s ε``, ``s ∈ [0, 1]`` (``s = 1`` pure noise); the network predicts the
velocity ``v = ε − x_0`` with loss ``‖v − v_θ(x_s, s, c)‖²`` (Liu et al. 2023, arXiv:2209.03003;
Lipman et al. 2023). Training times are logit-normal, ``s = sigmoid(m + σ n)``, ``n ~ N(0, 1)``
(Esser et al. 2024, SD3, arXiv:2403.03206), optionally shifted by the timestep transform
``s' = k s / (1 + (k − 1) s)`` (Open-Sora's ``use_timestep_transform``; ``k`` grows with the number
of pixels and frames: :func:`resolution_shift`). The network sees ``s · 1000``.

Sampling integrates ``dx/ds = v`` with Euler steps from ``s = 1`` to 0 (10–30 steps; the seed
uses 10) with classifier-free guidance (scale 4 in the seed), optionally guided by a
differentiable loss of the implied clean sample (``guide``, :func:`normalised_gradient_step`):
diffusion posterior sampling (DPS, Chung et al. 2023, ICLR, arXiv:2209.14687) written for the
rectified-flow path.

**Skip preconditioning** (``data_std = σ_d``, not in the seed): the network ``F`` predicts only
what the best linear estimate of the velocity misses, ``v̂ = c(s) x_s + F(x_s, s, c)`` with

``c(s) = Cov(v, x_s)/Var(x_s) = (s − (1 − s) σ_d²)/((1 − s)² σ_d² + s²)``

for data of standard deviation ``σ_d`` (the skip of Karras et al. 2022, EDM, NeurIPS, written for
the rectified-flow path). A small network no longer has to copy the noise through itself: at
``s = 1`` (``c = 1``) the one-step estimate of the clean sample is ``−F`` itself.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, overload

import torch
import torch.nn.functional as F

from .guidance import guided_prediction

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, Literal

    from torch import nn

__all__ = ["RectifiedFlow", "resolution_shift", "normalised_gradient_step"]


def resolution_shift(height: int, width: int, frames: int = 1, *, base_resolution: int = 512 * 512,
                     base_frames: int = 1, scale: float = 1.0) -> float:
    """Open-Sora's timestep-transform factor ``k = √(HW/base) · √(F'/base_F) · scale``.

    ``F' = 1`` for images, else ``F // 17 · 5`` (at least 1; Open-Sora counts latent frames so).
    """
    f = 1 if frames == 1 else max(frames // 17 * 5, 1)
    return math.sqrt(height * width / base_resolution) * math.sqrt(f / base_frames) * scale


def normalised_gradient_step(x: torch.Tensor, loss: torch.Tensor, grad: torch.Tensor,
                             scale: float) -> torch.Tensor:
    """One normalised gradient step per sample, ``x − λ L/‖∇L‖² · ∇L``.

    ``loss`` (B,) and ``grad`` = ``∇_x L`` (shape of ``x``) of each sample; ``scale`` ``λ`` is the
    fraction of the loss the step removes to first order (``L(x') ≈ (1 − λ) L``), whatever the
    units and size of ``x``. DPS (Chung et al. 2023) normalises its step ``ζ ∇‖y − A(x̂_0)‖²`` by
    ``‖y − A(x̂_0)‖``; this Polyak-type step (Polyak 1987) normalises by the gradient instead, so
    that one ``λ`` fits any resolution and latent scaling. ``λ = 0`` returns ``x`` unchanged;
    a sample with zero gradient is not moved.
    """
    if scale == 0:
        return x
    dims = tuple(range(1, grad.dim()))
    norm2 = grad.pow(2).sum(dims)
    factor = torch.where(norm2 > 0, loss.to(norm2.dtype) / norm2.clamp_min(1e-30),
                         torch.zeros_like(norm2))
    return x - scale * factor.view(-1, *([1] * (x.dim() - 1))).to(x.dtype) * grad.to(x.dtype)


class RectifiedFlow:
    """Rectified-flow training and Euler sampling.

    Parameters
    ----------
    logit_mean, logit_std : float
        Logit-normal parameters of the training times (0, 1 in SD3/Open-Sora).
    shift : float
        Timestep-transform factor ``k`` (1 = none).
    num_timesteps : float
        Scale of the time given to the network (``s · num_timesteps``; 1000 as Open-Sora).
    """

    def __init__(self, logit_mean: float = 0.0, logit_std: float = 1.0, shift: float = 1.0,
                 num_timesteps: float = 1000.0, data_std: float | None = None):
        if shift <= 0:
            raise ValueError(f"shift must be positive, not {shift}")
        if data_std is not None and data_std <= 0:
            raise ValueError(f"data_std must be positive, not {data_std}")
        self.logit_mean = float(logit_mean)
        self.logit_std = float(logit_std)
        self.shift = float(shift)
        self.num_timesteps = float(num_timesteps)
        self.data_std = None if data_std is None else float(data_std)

    def skip(self, s: torch.Tensor) -> torch.Tensor:
        """``c(s)`` of the skip preconditioning (module docstring); 0 without ``data_std``."""
        if self.data_std is None:
            return torch.zeros_like(s)
        v = self.data_std ** 2
        return (s - (1.0 - s) * v) / ((1.0 - s) ** 2 * v + s ** 2)

    def velocity_model(self, model: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        """``model`` with the skip preconditioning applied (``model`` itself without it)."""
        if self.data_std is None:
            return model

        def velocity(x: torch.Tensor, t: torch.Tensor, cond: Any = None,
                     null: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
            c = self.skip(t.float() / self.num_timesteps).to(x.dtype)
            return model(x, t, cond, null=null, **kwargs) + c.view(-1, *([1] * (x.dim() - 1))) * x

        return velocity

    def transform(self, s: torch.Tensor) -> torch.Tensor:
        """``k s / (1 + (k − 1) s)``."""
        k = self.shift
        return s if k == 1.0 else k * s / (1.0 + (k - 1.0) * s)

    def sample_times(self, n: int, *, device: torch.device | str | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Logit-normal times ``s = transform(sigmoid(m + σ n))`` in (0, 1)."""
        gen_device = generator.device if generator is not None else device
        z = torch.randn(n, generator=generator, device=gen_device).to(device)
        return self.transform(torch.sigmoid(self.logit_mean + self.logit_std * z))

    @staticmethod
    def add_noise(x0: torch.Tensor, noise: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``x_s = (1 − s) x_0 + s ε``."""
        s = s.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
        return (1.0 - s) * x0 + s * noise

    @overload
    def loss(self, model: Callable[..., torch.Tensor], x0: torch.Tensor, cond: Any = None, *,
             null: torch.Tensor | None = None, generator: torch.Generator | None = None,
             return_x0: Literal[False] = False, **kwargs: Any) -> torch.Tensor: ...

    @overload
    def loss(self, model: Callable[..., torch.Tensor], x0: torch.Tensor, cond: Any = None, *,
             null: torch.Tensor | None = None, generator: torch.Generator | None = None,
             return_x0: Literal[True], **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]: ...

    def loss(self, model: Callable[..., torch.Tensor], x0: torch.Tensor, cond: Any = None, *,
             null: torch.Tensor | None = None, generator: torch.Generator | None = None,
             return_x0: bool = False,
             **kwargs: Any) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Velocity MSE ``‖(ε − x_0) − v_θ(x_s, 1000 s, c)‖²``; optionally also the implied ``x̂_0``."""
        s = self.sample_times(x0.shape[0], device=x0.device, generator=generator)
        gen_device = generator.device if generator is not None else x0.device
        noise = torch.randn(x0.shape, generator=generator, device=gen_device,
                            dtype=x0.dtype).to(x0.device)
        xs = self.add_noise(x0, noise, s)
        v = self.velocity_model(model)(xs, s * self.num_timesteps, cond, null=null, **kwargs)
        loss = F.mse_loss(v.float(), (noise - x0).float())
        if return_x0:
            x0_hat = xs - s.view(-1, *([1] * (x0.dim() - 1))).to(xs.dtype) * v
            return loss, x0_hat
        return loss

    def euler_step(self, v: torch.Tensor, s: float, s_next: float, x: torch.Tensor) -> torch.Tensor:
        """``x_{s_next} = x_s + (s_next − s) · v``."""
        return x + (s_next - s) * v

    def sample_schedule(self, num_steps: int) -> list:
        """Times ``1 = s_0 > … > s_N = 0`` (uniform, then the timestep transform)."""
        if num_steps < 1:
            raise ValueError(f"num_steps must be ≥ 1, not {num_steps}")
        grid = torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64)
        return [float(v) for v in self.transform(grid)]

    @torch.no_grad()
    def sample(self, model: nn.Module, shape: Sequence[int], cond: Any = None, *,
               num_steps: int = 10, guidance_scale: float = 4.0,
               generator: torch.Generator | None = None,
               device: torch.device | str | None = None, progress: bool = False,
               x_T: torch.Tensor | None = None,
               guide: Callable[[torch.Tensor], torch.Tensor] | None = None,
               guide_scale: float = 0.0, **kwargs: Any) -> torch.Tensor:
        """Euler sampling from noise with classifier-free guidance (``model(x, t, c, null=…)``).

        ``guide`` (optional): a callable giving a differentiable loss (B,) of the implied clean
        sample ``x̂_0 = x_s − s v̂(x_s)``; with ``guide_scale = λ > 0`` every Euler step is followed
        by the normalised step :func:`normalised_gradient_step` along ``∇_{x_s} L(x̂_0(x_s))``,
        the gradient taken through the network as in DPS.
        """
        from tqdm.auto import tqdm

        device = torch.device(device) if device is not None else next(model.parameters()).device
        velocity = self.velocity_model(model)
        if x_T is not None:
            x = x_T.to(device)
        else:
            gen_device = generator.device if generator is not None else device
            x = torch.randn(shape, generator=generator, device=gen_device).to(device)
        sched = self.sample_schedule(num_steps)
        scale = guidance_scale if cond is not None else 0.0
        for s, s_next in tqdm(list(zip(sched[:-1], sched[1:])), desc="rectified-flow sampling",
                              disable=not progress):
            t = torch.full((shape[0],), s * self.num_timesteps, device=device)
            if guide is None or guide_scale == 0:
                v = guided_prediction(velocity, x, t, cond, scale, **kwargs).to(x.dtype)
                x = self.euler_step(v, s, s_next, x)
                continue
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                v = guided_prediction(velocity, xg, t, cond, scale, **kwargs).to(x.dtype)
                loss = guide(xg - s * v)
                grad, = torch.autograd.grad(loss.sum(), xg)
            x = self.euler_step(v.detach(), s, s_next, x)
            x = normalised_gradient_step(x, loss.detach(), grad, guide_scale)
        return x
