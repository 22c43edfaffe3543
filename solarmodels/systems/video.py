"""Training system of the light-curve → continuum-video rectified-flow transformer (seed 1).

Loss: rectified flow ``‖(ε − x_0) − v_θ(x_s, 1000 s, c')‖²`` with logit-normal ``s`` and the light
curve ``c`` replaced by the learned null sequence with probability ``p_uncond`` (the seed's 0.1 in
stage 1, 0.2 later). Optional physics term (``physics_weight > 0``): ``1 − r`` between the disk
integral of the implied clean video ``x̂_0 = x_s − s v_θ`` (de-normalised, inside the disk mask)
and the conditioning light curve (:func:`solarmodels.metrics_generative.physics_loss`).

Sampling: Euler, ``sample_steps`` (10) with guidance ``guidance_scale`` (4), on EMA weights.

Batches (:class:`solarmodels.datasets.video.VideoWindows`): ``"input"`` (B, 1, T, H, W) in [−1, 1],
``"cond"`` (B, T) z-scored light curve, ``"times"`` (B, T) hours, ``"light_curve"`` (B, T),
``"disk_mask"`` (B, H, W).
"""
from __future__ import annotations

import dataclasses

from solarmodels.diffusion import RectifiedFlow, drop_condition
from solarmodels.metrics_generative import physics_consistency, physics_loss, video_metrics
from solarmodels.registry import register_system
from solarmodels.systems.base import value_range_problems
from solarmodels.systems.diffusion import DiffusionConfig, DiffusionSystem

__all__ = ["VideoFlowSystem", "VideoFlowConfig"]


@dataclasses.dataclass
class VideoFlowConfig(DiffusionConfig):
    """Settings of :class:`VideoFlowSystem` (seed values as defaults; ``p_uncond`` 0.1, lr 1e-4 and
    AdamW from :class:`~solarmodels.systems.diffusion.DiffusionConfig`)."""

    model: str = "stdit_tiny"
    guidance_scale: float = 4.0
    sample_steps: int = 10
    logit_mean: float = 0.0
    logit_std: float = 1.0
    shift: float = 1.0
    physics_weight: float = 0.0
    use_times: bool = False


@register_system("video_rflow")
class VideoFlowSystem(DiffusionSystem):
    """Light-curve-conditioned rectified flow on videos; ``predict`` samples a video per light curve."""

    config_cls = VideoFlowConfig
    default_lr = 1e-4

    def __init__(self, config=None, networks=None):
        super().__init__(config, networks)
        c = self.config
        self.flow = RectifiedFlow(c.logit_mean, c.logit_std, c.shift)
        self.frame_mean, self.frame_std = 1.0, 1.0      # x = 2I/I_max − 1 → I ∝ x + 1

    def condition(self, batch):
        cond = {"values": batch["cond"]}
        if self.config.use_times and "times" in batch:
            cond["times"] = batch["times"]
        return cond

    def diffusion_loss(self, batch, p_uncond, net, generator=None):
        x0 = batch["input"]
        null = drop_condition(x0.shape[0], p_uncond, device=x0.device, generator=generator)
        c = self.config
        if c.physics_weight > 0:
            loss, x0_hat = self.flow.loss(net, x0, self.condition(batch), null=null,
                                          generator=generator, return_x0=True)
            mask = batch.get("disk_mask")
            phys = physics_loss(x0_hat.float(), batch["cond"],
                                None if mask is None else mask[:, None],
                                mean=self.frame_mean, std=self.frame_std,
                                frame_factor=batch.get("flux_factor"))
            keep = ~null
            phys_term = phys * keep.float().mean()      # = phys when no sample dropped, no sync
            return loss + c.physics_weight * phys_term, {"flow_loss": loss.detach(),
                                                         "physics_loss": phys.detach()}
        loss = self.flow.loss(net, x0, self.condition(batch), null=null, generator=generator)
        return loss, {}

    def draw(self, net, shape, cond, *, steps, guidance_scale, generator, progress):
        return self.flow.sample(net, shape, cond, num_steps=steps, guidance_scale=guidance_scale,
                                generator=generator, device=self.device, progress=progress)

    def evaluate_samples(self, batch, samples=None, *, data_range=2.0) -> dict:
        """MAE/MSE/PSNR/SSIM against the real window plus physics consistency with the light curve."""
        samples = self.predict(batch) if samples is None else samples
        out = video_metrics(samples.clamp(-1, 1), batch["input"], data_range=data_range)
        mask = batch.get("disk_mask")
        kw = dict(mean=self.frame_mean, std=self.frame_std, frame_factor=batch.get("flux_factor"))
        phys = physics_consistency(samples.clamp(-1, 1), batch["light_curve"],
                                   None if mask is None else mask[0], **kw)
        real = physics_consistency(batch["input"], batch["light_curve"],
                                   None if mask is None else mask[0], **kw)
        out.update({f"physics_{k}": v for k, v in phys.items()})
        out.update({f"physics_real_{k}": v for k, v in real.items()})
        return out

    # ----------------------------------------------------------------- run contract
    def check_data(self, dataset):
        """Frames must be scaled to [−1, 1] (:mod:`solarmodels.datasets.video`)."""
        return value_range_problems(dataset, ("input",), limit=1.0 + 1e-6)

    def evaluate(self, ctx, dataset, out_dir, options):
        """MAE / PSNR / SSIM / physics consistency against the mean and last training frames
        (:func:`solarmodels.evaluate_generative.evaluate_video`)."""
        from solarmodels.evaluate_generative import evaluate_video

        return evaluate_video(self, ctx, dataset, out_dir, options)

    def sample_file(self, ctx, out_path, *, lightcurve=None, variable=None, seed=0, steps=None,
                    guidance_scale=None, **options):
        """Videos for a light-curve file (:func:`solarmodels.inference.sample_video`)."""
        from solarmodels.config import ConfigError
        from solarmodels.inference import sample_video

        if lightcurve is None:
            raise ConfigError("the video model samples from a light curve: --lightcurve FILE")
        return sample_video(self, ctx, out_path, lightcurve=lightcurve, variable=variable,
                            seed=seed, steps=steps, guidance_scale=guidance_scale)

    def predict_file(self, ctx, source, out_path, *, variable=None, seed=0, **options):
        """The video for the light curve in ``source`` (same as ``sample --lightcurve``)."""
        return self.sample_file(ctx, out_path, lightcurve=source, variable=variable, seed=seed)
