"""DDPM noise schedule with DDPM (ancestral) and DDIM sampling steps, separate from the network.

Forward process (Ho et al. 2020, eq. 4): ``x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε``, ``ᾱ_t = Π_{s≤t} (1 − β_s)``,
linear ``β_t`` from ``beta_start`` = 1e-4 to ``beta_end`` = 0.02 over ``T`` = 1000 steps (indices
``0 … T−1``). Training loss ``‖ε − ε_θ(x_t, t)‖²``.

DDPM step (Ho et al. 2020, Algorithm 2; the seed's sampler):
``x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) · ε̂) / √α_t + σ_t z``, ``σ_t² = β_t`` (``variance="beta"``, the seed)
or ``β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t)`` (``"posterior"``), ``z = 0`` at ``t = 0``.

DDIM step (Song, Meng & Ermon 2021, eq. 12):
``x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t``,
``σ = η √((1 − ᾱ_prev)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev)``,
``x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z``, with ``ᾱ_prev = 1`` past the last step.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from collections.abc import Callable

from .guidance import guided_prediction

__all__ = ["DDPMScheduler"]

log = logging.getLogger(__name__)


class DDPMScheduler:
    """Linear-β DDPM schedule (T = 1000, 1e-4 → 0.02 by default) with DDPM and DDIM sampling.

    Parameters
    ----------
    num_train_timesteps : int
    beta_start, beta_end : float
    variance : {"beta", "posterior"}
        σ_t² of the DDPM step: ``β_t`` (seed, Ho et al.'s first choice) or the posterior ``β̃_t``.
    clip_sample : float or None
        Clamp of the DDIM ``x̂_0`` and of the final sample (the seed clamps the output to [−1, 1]).
    """

    def __init__(self, num_train_timesteps: int = 1000, beta_start: float = 1e-4,
                 beta_end: float = 0.02, *, variance: str = "beta", clip_sample: float | None = 1.0):
        if variance not in ("beta", "posterior"):
            raise ValueError(f"variance must be 'beta' or 'posterior', not {variance!r}")
        if not 0 < beta_start < beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {beta_start}, {beta_end}")
        self.num_train_timesteps = int(num_train_timesteps)
        self.variance = variance
        self.clip_sample = clip_sample
        betas = torch.linspace(beta_start, beta_end, self.num_train_timesteps, dtype=torch.float64)
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)

    # ------------------------------------------------------------------ helpers
    def _gather(self, table, t, like):
        v = table.to(like.device)[t.long().to(like.device)].to(like.dtype)
        return v.view(-1, *([1] * (like.dim() - 1)))

    def sample_timesteps(self, n: int, *, device: torch.device | str | None = None,
                         generator: torch.Generator | None = None, low: int = 0) -> torch.Tensor:
        """Uniform training times ``t ~ U{low, …, T−1}`` (the seed uses ``low = 1``)."""
        gen_device = generator.device if generator is not None else device
        return torch.randint(low, self.num_train_timesteps, (n,), generator=generator,
                             device=gen_device).to(device)

    # ------------------------------------------------------------------ forward process
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε`` (Ho et al. 2020, eq. 4)."""
        ab = self.alphas_cumprod.to(x0.device)[t.long().to(x0.device)]
        shape = (-1, *([1] * (x0.dim() - 1)))
        return (ab.sqrt().to(x0.dtype).view(shape) * x0
                + (1.0 - ab).sqrt().to(x0.dtype).view(shape) * noise)

    def loss(self, model: Callable[..., torch.Tensor], x0: torch.Tensor, cond: Any = None, *,
             null: torch.Tensor | None = None, generator: torch.Generator | None = None,
             low: int = 0) -> torch.Tensor:
        """ε-prediction MSE ``E‖ε − ε_θ(x_t, t, c)‖²`` for a batch (returns a scalar tensor)."""
        t = self.sample_timesteps(x0.shape[0], device=x0.device, generator=generator, low=low)
        gen_device = generator.device if generator is not None else x0.device
        noise = torch.randn(x0.shape, generator=generator, device=gen_device,
                            dtype=x0.dtype).to(x0.device)
        pred = model(self.add_noise(x0, noise, t), t, cond, null=null)
        return torch.nn.functional.mse_loss(pred.float(), noise.float())

    def predict_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t``."""
        ab = self._gather(self.alphas_cumprod, t, x_t)
        return (x_t - (1.0 - ab).sqrt() * eps) / ab.sqrt()

    # ------------------------------------------------------------------ reverse steps
    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, *,
             generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> torch.Tensor:
        """One DDPM ancestral step ``x_t → x_{t−1}`` (module docstring); ``noise`` overrides z."""
        t = int(t)
        beta, alpha, ab = (float(self.betas[t]), float(self.alphas[t]),
                           float(self.alphas_cumprod[t]))
        mean = (x_t - beta / (1.0 - ab) ** 0.5 * eps) / alpha ** 0.5
        if t == 0:
            return mean
        if self.variance == "beta":
            var = beta
        else:
            var = beta * (1.0 - float(self.alphas_cumprod[t - 1])) / (1.0 - ab)
        if noise is None:
            noise = _randn_like(x_t, generator)
        return mean + var ** 0.5 * noise

    def ddim_step(self, eps: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor, *,
                  eta: float = 0.0, generator: torch.Generator | None = None,
                  noise: torch.Tensor | None = None,
                  clip: float | None = None) -> torch.Tensor:
        """One DDIM step ``x_t → x_{t_prev}`` (``t_prev < 0``: to the clean image)."""
        t, t_prev = int(t), int(t_prev)
        ab = float(self.alphas_cumprod[t])
        ab_prev = float(self.alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
        x0 = (x_t - (1.0 - ab) ** 0.5 * eps) / ab ** 0.5
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
            eps = (x_t - ab ** 0.5 * x0) / (1.0 - ab) ** 0.5
        sigma = eta * ((1.0 - ab_prev) / (1.0 - ab)) ** 0.5 * (1.0 - ab / ab_prev) ** 0.5
        out = ab_prev ** 0.5 * x0 + max(1.0 - ab_prev - sigma ** 2, 0.0) ** 0.5 * eps
        if sigma > 0:
            if noise is None:
                noise = _randn_like(x_t, generator)
            out = out + sigma * noise
        return out

    def timesteps(self, num_inference_steps: int | None = None, method: str = "ddpm") -> list:
        """Sampling times, descending: all ``T−1 … 0`` for DDPM; evenly spaced ("leading") for DDIM."""
        T = self.num_train_timesteps
        if method == "ddpm":
            if num_inference_steps not in (None, T):
                raise ValueError(f"DDPM sampling runs all {T} steps; use method='ddim' for "
                                 f"{num_inference_steps} steps")
            return list(range(T - 1, -1, -1))
        if method != "ddim":
            raise ValueError(f"sampling method must be 'ddpm' or 'ddim', not {method!r}")
        n = int(num_inference_steps or 50)
        if not 1 <= n <= T:
            raise ValueError(f"num_inference_steps must be in 1..{T}, not {n}")
        stride = T // n
        return [i * stride for i in range(n)][::-1]

    @torch.no_grad()
    def sample(self, model: Callable[..., torch.Tensor], shape: tuple[int, ...], cond: Any = None, *,
               method: str = "ddim", num_inference_steps: int = 50, guidance_scale: float = 3.0,
               eta: float = 0.0, generator: torch.Generator | None = None,
               device: torch.device | str | None = None,
               progress: bool = False, x_T: torch.Tensor | None = None) -> torch.Tensor:
        """Draw samples ``x_0`` (clamped to ``clip_sample``) with classifier-free guidance.

        Parameters
        ----------
        model : callable ``model(x, t, cond, null=flags)`` predicting ε.
        shape : tuple (B, C, H, W)
        cond : Tensor or None
            Labels (B,); None samples unconditionally.
        method : {"ddim", "ddpm"}
        num_inference_steps : int
            DDIM steps (DDPM always runs ``T``).
        guidance_scale : float
            ``w`` of :func:`~solarmodels.diffusion.guidance.cfg_combine` (3 in the seed).
        """
        from tqdm.auto import tqdm

        device = torch.device(device) if device is not None else (
            next(model.parameters()).device if hasattr(model, "parameters") else torch.device("cpu"))
        x = x_T.to(device) if x_T is not None else _randn(shape, generator, device)
        steps = self.timesteps(num_inference_steps if method == "ddim" else None, method)
        scale = guidance_scale if cond is not None else 0.0
        for k, t in enumerate(tqdm(steps, desc=f"{method} sampling", disable=not progress)):
            tt = torch.full((shape[0],), t, device=device, dtype=torch.long)
            eps = guided_prediction(model, x, tt, cond, scale).to(x.dtype)
            if method == "ddpm":
                x = self.step(eps, t, x, generator=generator)
            else:
                t_prev = steps[k + 1] if k + 1 < len(steps) else -1
                x = self.ddim_step(eps, t, t_prev, x, eta=eta, generator=generator,
                                   clip=self.clip_sample)
        return x.clamp(-self.clip_sample, self.clip_sample) if self.clip_sample else x


def _randn(shape, generator, device):
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


def _randn_like(x, generator):
    gen_device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=gen_device, dtype=x.dtype).to(x.device)
