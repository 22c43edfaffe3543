"""Diffusion schedulers and guidance, separate from the networks.

* :mod:`.ddpm` — :class:`DDPMScheduler`: linear β schedule, ``add_noise``, DDPM and DDIM steps, samplers.
* :mod:`.rectified_flow` — :class:`RectifiedFlow`: logit-normal time sampling, velocity loss, Euler sampler.
* :mod:`.guidance` — classifier-free guidance: condition dropout and the batched cond/uncond pass.
"""
from .ddpm import DDPMScheduler
from .guidance import cfg_combine, drop_condition, guided_prediction
from .rectified_flow import RectifiedFlow, normalised_gradient_step

__all__ = ["DDPMScheduler", "RectifiedFlow", "cfg_combine", "drop_condition", "guided_prediction",
           "normalised_gradient_step"]
