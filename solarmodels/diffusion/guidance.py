"""Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598).

Training drops the condition with probability ``p_uncond`` (the network learns both
``ε(x, t, c)`` and ``ε(x, t, ∅)``); sampling combines

    ε̃ = ε(x, t, ∅) + w · (ε(x, t, c) − ε(x, t, ∅))        (``torch.lerp(uncond, cond, w)`` in the seed)

so ``w = 0`` is unconditional, ``w = 1`` conditional and ``w > 1`` sharpens the condition.
Both passes go through the network as **one** batch of ``2B`` (the same cost as two passes in
FLOPs, but one kernel launch sequence and better GPU occupancy).

Networks used here take ``model(x, t, cond, null=flags)`` where ``flags`` (B,) bool selects the
null condition per sample; ``cond`` is a tensor or a dict of tensors with batch first.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["cfg_combine", "drop_condition", "guided_prediction"]


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """``uncond + scale · (cond − uncond)`` (classifier-free guidance)."""
    return uncond + scale * (cond - uncond)


def drop_condition(batch_size: int, p: float, *, device: torch.device | str | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Bool mask (B,): True where the condition is replaced by the null condition (prob. ``p``)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"condition drop probability must be in [0, 1], not {p}")
    if p == 0.0:
        return torch.zeros(batch_size, dtype=torch.bool, device=device)
    u = torch.rand(batch_size, generator=generator, device=generator.device if generator is not None
                   else device)
    return (u < p).to(device)


def _cat(a, b):
    if a is None:
        return None
    if isinstance(a, dict):
        return {k: _cat(v, b[k]) for k, v in a.items()}
    return torch.cat([a, b], dim=0)


def guided_prediction(model: Callable[..., torch.Tensor], x: torch.Tensor, t: torch.Tensor, cond: Any,
                      scale: float, **kwargs: Any) -> torch.Tensor:
    """Guided network output ``ε̃`` (or velocity) with the cond and uncond passes in one batch.

    Parameters
    ----------
    model : callable
        ``model(x, t, cond, null=flags, **kwargs)``.
    x, t : Tensor
        Noisy input (B, ...) and times (B,).
    cond : Tensor or dict of Tensor or None
        The condition (batch first).
    scale : float
        Guidance scale ``w``: 0 → a single unconditional pass, 1 → a single conditional pass,
        otherwise one batched pass of ``2B``.
    """
    b = x.shape[0]
    if scale == 1.0:
        return model(x, t, cond, null=torch.zeros(b, dtype=torch.bool, device=x.device), **kwargs)
    if scale == 0.0:
        return model(x, t, cond, null=torch.ones(b, dtype=torch.bool, device=x.device), **kwargs)
    flags = torch.cat([torch.zeros(b, dtype=torch.bool, device=x.device),
                       torch.ones(b, dtype=torch.bool, device=x.device)])
    out = model(torch.cat([x, x]), torch.cat([t, t]), _cat(cond, cond), null=flags, **kwargs)
    c, u = out.chunk(2, dim=0)
    return cfg_combine(c, u, scale)
