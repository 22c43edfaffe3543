"""Training system of the light-curve → continuum-video rectified-flow transformer (seed 1).

Loss: rectified flow ``‖(ε − z_0) − v_θ(z_s, 1000 s, c')‖²`` with logit-normal ``s`` and the light
curve ``c`` replaced by the learned null sequence with probability ``p_uncond`` (the seed's 0.1 in
stage 1, 0.2 later). Optional physics term (``physics_weight > 0``): ``1 − r`` between the disk
integral of the implied clean video ``x̂_0 = D(z_s − s v_θ)`` (decoded, de-normalised, inside the
disk mask) and the conditioning light curve (:func:`solarmodels.metrics_generative.physics_loss`).

**What the flow generates** (``z``), from the frames ``x`` on [−1, 1] and the limb-darkened disk
``d`` of each frame (:func:`solarmodels.datasets.video.disk_model`, from the observer geometry):

* pixel space (the default, as before): ``z = x``;
* ``disk_residual = true``: ``z = x − d`` (the spots, faculae and the limb mismatch; an
  all-zero ``z`` is the disk itself);
* ``autoencoder = "RUN"`` (the seed's latent diffusion; stage 1 trains the autoencoder,
  :mod:`solarmodels.systems.video_autoencoder`): ``z = E(x)`` or ``E(x − d)`` with the frozen
  encoder of that run (which must have been trained with the same ``disk_residual``), and
  ``x = D(z) (+ d)`` after sampling;
* ``standardize = "channel"``: ``z ← (z − m)/σ`` per channel with the mean and standard deviation
  of the training windows (the latent scaling of Rombach et al. 2022); ``"mean"``: ``m`` is the
  mean training ``z`` per channel *and position* (the mean frame in the generated space: the
  flow then generates residuals from it, and ``z = 0`` decodes to the mean frame) and ``σ`` the
  per-channel standard deviation around it. Fitted by :meth:`prepare` before training and
  stored in the checkpoint (``const.codec_shift``, ``const.codec_scale``).

``temperature = τ`` scales the initial noise of sampling (``z_1 = τ ε``; 1 = the model's
distribution; below 1 fewer invented features, as the temperature of Kingma & Dhariwal 2018).

``skip = true`` preconditions the velocity with the linear skip of data of unit variance
(:class:`~solarmodels.diffusion.RectifiedFlow`, ``data_std = 1``; use it with ``standardize``).

``disk_condition = true`` adds the disk, average-pooled to the size of ``z``, as an input channel
of the network (``cond["channels"]``, never dropped for guidance): the transformer then sees
where the disk and its limb are in every frame (``model_config.in_channels = C + 1``,
``out_channels = C``).

Sampling: Euler, ``sample_steps`` (10) with guidance ``guidance_scale`` (4), on EMA weights, then
decoding.

**Physics at sampling** (not in the seed; both off by default; need ``"light_curve"`` in the
condition, which :meth:`condition` takes from the batch, and use ``"disk_mask"`` and
``"flux_factor"`` when there):

* ``physics_guidance = λ`` (> 0): diffusion posterior sampling (Chung et al. 2023) with the loss
  :func:`~solarmodels.metrics_generative.relative_flux_loss` of the decoded implied clean video
  ``x̂_0 = D(z_s − s v̂)`` (through the frozen decoder in latent mode) against the light curve:
  after every Euler step ``z ← z − λ L/‖∇L‖² ∇_{z_s} L`` (gradient through the network;
  :func:`~solarmodels.diffusion.normalised_gradient_step`: ``λ`` is the fraction of the loss
  removed per step to first order);
* ``physics_projection = true``: the decoded frames are rescaled on the disk so that their disk
  integral follows the light curve exactly (:func:`~solarmodels.metrics_generative.
  project_disk_flux`).

Both can be set at evaluation too (``evaluate --option physics_guidance=0.5``).

``init`` weights of an earlier stage: ``train.init_from`` (docs/training.md).

Batches (:class:`solarmodels.datasets.video.VideoWindows`): ``"input"`` (B, 1, T, H, W) in [−1, 1],
``"cond"`` (B, T) z-scored light curve, ``"times"`` (B, T) hours, ``"light_curve"`` (B, T),
``"disk_mask"`` (B, H, W), ``"disk"`` (B, 1, T, H, W).
"""
from __future__ import annotations

import dataclasses
import logging
import pathlib
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from solarmodels.config import ConfigError
from solarmodels.diffusion import RectifiedFlow, drop_condition
from solarmodels.metrics_generative import (
    physics_consistency,
    physics_loss,
    project_disk_flux,
    relative_flux_loss,
    video_metrics,
)
from solarmodels.registry import register_system
from solarmodels.systems.base import value_range_problems
from solarmodels.systems.diffusion import DiffusionConfig, DiffusionSystem

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping
    from typing import Any

    from torch import nn

logger = logging.getLogger(__name__)

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
    autoencoder: str = ""
    disk_residual: bool = False
    disk_condition: bool = False
    standardize: str = "none"
    skip: bool = False
    temperature: float = 1.0
    physics_guidance: float = 0.0
    physics_projection: bool = False


def load_autoencoder(run_dir: str | os.PathLike[str]) -> tuple[nn.Module, bool]:
    """The frozen autoencoder of a ``video_autoencoder`` run (EMA weights when kept) and the
    run's ``disk_residual`` setting."""
    from solarmodels import load_run

    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise ConfigError(f"system_config.autoencoder: {run_dir} is not a trained run (no "
                          "config.json); train stage 1 first (configs/video_stage1_autoencoder"
                          "_cpu.toml)")
    system, run = load_run(run_dir)
    if run.system != "video_autoencoder":
        raise ConfigError(f"system_config.autoencoder: {run_dir} is a {run.system!r} run, not "
                          "a 'video_autoencoder' one")
    net = system.inference_network().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, bool(system.config.disk_residual)


@register_system("video_rflow")
class VideoFlowSystem(DiffusionSystem):
    """Light-curve-conditioned rectified flow on videos; ``predict`` samples a video per light curve."""

    config_cls = VideoFlowConfig
    default_lr = 1e-4
    stochastic_evaluation = True

    def __init__(self, config: Any = None, networks: dict | None = None) -> None:
        super().__init__(config, networks)
        c = self.config
        self.flow = RectifiedFlow(c.logit_mean, c.logit_std, c.shift,
                                  data_std=1.0 if c.skip else None)
        self.frame_mean, self.frame_std = 1.0, 1.0      # x = 2I/I_max − 1 → I ∝ x + 1
        self.autoencoder = None
        if c.autoencoder:
            self.autoencoder, ae_residual = load_autoencoder(c.autoencoder)
            if ae_residual != c.disk_residual:
                raise ConfigError(f"the autoencoder {c.autoencoder} was trained with "
                                  f"disk_residual={ae_residual}; set system_config."
                                  f"disk_residual={str(ae_residual).lower()} to match")
        if c.standardize not in ("none", "channel", "mean"):
            raise ConfigError("system_config.standardize must be 'none', 'channel' or 'mean', "
                              f"not {c.standardize!r}")
        if c.temperature < 0:
            raise ConfigError(f"system_config.temperature must be >= 0, got {c.temperature}")
        if c.physics_guidance < 0:
            raise ConfigError("system_config.physics_guidance must be >= 0 (0 = off), got "
                              f"{c.physics_guidance}")
        channels = self._latent_channels()
        self.constants["codec_shift"] = torch.zeros(channels, 1, 1, 1)
        self.constants["codec_scale"] = torch.ones(channels, 1, 1, 1)
        net_cfg = getattr(self.networks["model"], "config", None)
        if net_cfg is not None and hasattr(net_cfg, "in_channels"):
            want = channels + int(c.disk_condition)
            if net_cfg.in_channels != want or (net_cfg.out_channels or net_cfg.in_channels) \
                    != channels:
                raise ConfigError(
                    f"the video network must take {want} input channels ({channels} generated"
                    f"{' + the disk' if c.disk_condition else ''}) and give {channels}: set "
                    f"model_config.in_channels = {want} and model_config.out_channels = "
                    f"{channels}")

    # ----------------------------------------------------------------- representation
    def _latent_channels(self) -> int:
        if self.autoencoder is not None:
            return int(self.autoencoder.config.latent_channels)
        cfg = getattr(self.networks["model"], "config", None)
        out = getattr(cfg, "out_channels", 0) or getattr(cfg, "in_channels", 1)
        return int(out)

    @property
    def factor(self) -> int:
        """Spatial compression of the generated representation (1 in pixel space)."""
        return int(self.autoencoder.factor) if self.autoencoder is not None else 1

    def _needs_disk(self) -> bool:
        return self.config.disk_residual or self.config.disk_condition

    def _disk(self, source):
        disk = source.get("disk") if isinstance(source, dict) else None
        if disk is None and self._needs_disk():
            raise ConfigError("this video model uses the limb-darkened disk of every frame "
                              "('disk' in the batch: solarmodels.datasets.video.video_windows)")
        return disk

    def _view(self, v):
        return v.to(self.device)[None]

    def encode(self, x: torch.Tensor, disk: torch.Tensor | None = None) -> torch.Tensor:
        """What the flow generates (module docstring) for frames ``x`` (B, 1, T, H, W)."""
        r = x - disk if self.config.disk_residual else x
        z = self.autoencoder.encode(r) if self.autoencoder is not None else r
        c = self.constants
        return (z - self._view(c["codec_shift"]).to(z.dtype)) / self._view(
            c["codec_scale"]).to(z.dtype)

    def decode(self, z: torch.Tensor, disk: torch.Tensor | None = None) -> torch.Tensor:
        """Frames (B, 1, T, H, W) on [−1, 1] scale from the generated ``z`` (inverse of encode)."""
        c = self.constants
        z = z * self._view(c["codec_scale"]).to(z.dtype) + self._view(c["codec_shift"]).to(
            z.dtype)
        r = self.autoencoder.decode(z) if self.autoencoder is not None else z
        return r + disk if self.config.disk_residual else r

    def net_condition(self, cond: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The network's condition: light curve (and times) plus the pooled disk channel."""
        out: dict[str, torch.Tensor] = {k: cond[k] for k in ("values", "times", "mask")
                                        if k in cond}
        if self.config.disk_condition:
            disk = self._disk(cond)
            f = self.factor
            b, c, t, h, w = disk.shape
            pooled = F.avg_pool2d(disk.transpose(1, 2).reshape(b * t, c, h, w), f) if f > 1 \
                else disk.transpose(1, 2).reshape(b * t, c, h, w)
            out["channels"] = pooled.view(b, t, c, h // f, w // f).transpose(1, 2)
        return out

    @torch.no_grad()
    def prepare(self, train_data: torch.utils.data.Dataset | None, *,
                max_windows: int = 64) -> None:
        """Fit the per-channel mean and standard deviation of the generated representation on
        (up to ``max_windows``) training windows when ``standardize`` (called by the trainer
        before training; stored in the checkpoint)."""
        mode = self.config.standardize
        if mode == "none" or train_data is None or len(train_data) == 0:
            return
        n = min(len(train_data), max_windows)
        channels = self._latent_channels()
        self.constants["codec_shift"] = torch.zeros(channels, 1, 1, 1)
        self.constants["codec_scale"] = torch.ones(channels, 1, 1, 1)
        zs = []
        for i in range(n):
            item = train_data[i]
            disk = item.get("disk")
            zs.append(self.encode(item["input"][None].to(self.device),
                                  None if disk is None else disk[None].to(self.device)).float())
        z = torch.cat(zs).transpose(0, 1)                        # (C, N, T, h, w)
        if mode == "mean":
            shift = z.mean(dim=(1, 2), keepdim=True)[:, 0]        # (C, 1, h, w)
        else:
            shift = z.mean(dim=(1, 2, 3, 4)).view(channels, 1, 1, 1)
        scale = (z - shift[:, None]).reshape(channels, -1).std(1).view(channels, 1, 1, 1)
        self.constants["codec_shift"] = shift.cpu()
        self.constants["codec_scale"] = scale = scale.clamp_min(1e-6).cpu()
        logger.info("video codec statistics (%s) of %d training windows: scale %.4g … %.4g", mode,
                    n, float(scale.min()), float(scale.max()))

    # ----------------------------------------------------------------- diffusion
    def condition(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cond = {"values": batch["cond"]}
        if self.config.use_times and "times" in batch:
            cond["times"] = batch["times"]
        for key in ("disk", "light_curve", "disk_mask", "flux_factor"):
            if key in batch:
                cond[key] = batch[key]
        return cond

    def diffusion_loss(self, batch: dict[str, torch.Tensor], p_uncond: float, net: nn.Module,
                       generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        disk = self._disk(batch)
        z0 = self.encode(batch["input"], disk)
        null = drop_condition(z0.shape[0], p_uncond, device=z0.device, generator=generator)
        c = self.config
        cond = self.net_condition(self.condition(batch))
        if c.physics_weight > 0:
            loss, z0_hat = self.flow.loss(net, z0, cond, null=null, generator=generator,
                                          return_x0=True)
            x0_hat = self.decode(z0_hat, disk)
            mask = batch.get("disk_mask")
            phys = physics_loss(x0_hat.float(), batch["cond"],
                                None if mask is None else mask[:, None],
                                mean=self.frame_mean, std=self.frame_std,
                                frame_factor=batch.get("flux_factor"))
            keep = ~null
            phys_term = phys * keep.float().mean()      # = phys when no sample dropped, no sync
            return loss + c.physics_weight * phys_term, {"flow_loss": loss.detach(),
                                                         "physics_loss": phys.detach()}
        loss = self.flow.loss(net, z0, cond, null=null, generator=generator)
        return loss, {}

    def draw(self, net: nn.Module, shape: tuple[int, ...], cond: dict[str, torch.Tensor], *,
             steps: int, guidance_scale: float, generator: torch.Generator | None,
             progress: bool) -> torch.Tensor:
        """Samples of pixel ``shape`` (B, 1, T, H, W): Euler in the generated space, decoded."""
        b, _, t, h, w = shape
        f = self.factor
        if h % f or w % f:
            raise ConfigError(f"frames of {h}x{w} are not divisible by the autoencoder's "
                              f"compression {f}")
        zshape = (b, self._latent_channels(), t, h // f, w // f)
        gen_device = generator.device if generator is not None else self.device
        noise = torch.randn(zshape, generator=generator, device=gen_device).to(self.device)
        c = self.config
        disk = self._disk(cond) if c.disk_residual else None
        physics = c.physics_guidance > 0 or c.physics_projection
        if physics and cond.get("light_curve") is None:
            raise ConfigError("physics_guidance / physics_projection need the light curve in "
                              "its linear unit ('light_curve' in the condition: sample from "
                              "video_windows batches or set both off)")
        kw = dict(mean=self.frame_mean, std=self.frame_std,
                  frame_factor=cond.get("flux_factor"))
        mask = cond.get("disk_mask")

        def guide(z0):
            return relative_flux_loss(self.decode(z0, disk).float(), cond["light_curve"], mask,
                                      **kw)

        z = self.flow.sample(net, zshape, self.net_condition(cond), num_steps=steps,
                             guidance_scale=guidance_scale, generator=generator,
                             device=self.device, progress=progress,
                             x_T=c.temperature * noise, guide=guide,
                             guide_scale=c.physics_guidance)
        x = self.decode(z, disk)
        if c.physics_projection:
            x = project_disk_flux(x, cond["light_curve"], mask, **kw)
        return x

    # ----------------------------------------------------------------- state
    def extra_state(self) -> dict:
        """The codec statistics (``const.codec_shift``, ``const.codec_scale``) and the frozen
        autoencoder (``autoencoder.…``), so that a checkpoint decodes as trained."""
        out = super().extra_state()
        if self.autoencoder is not None:
            out.update({f"autoencoder.{k}": v for k, v in self.autoencoder.state_dict().items()})
        return out

    def load_state_dict(self, state: Mapping[str, torch.Tensor], strict: bool = True) -> Any:
        state = dict(state)
        ae = {k[len("autoencoder."):]: state.pop(k) for k in list(state)
              if k.startswith("autoencoder.")}
        if ae and self.autoencoder is not None:
            self.autoencoder.load_state_dict(ae, strict=strict)
        return super().load_state_dict(state, strict=strict)

    def to(self, device: torch.device | str) -> VideoFlowSystem:
        super().to(device)
        if self.autoencoder is not None:
            self.autoencoder.to(self.device)
        return self

    def evaluation_video(self, batch: dict[str, torch.Tensor],
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """The video scored by :func:`~solarmodels.evaluate_generative.evaluate_video`: one
        guided sample for the light curve (and disk) of each window."""
        return self.sample(self.condition(batch), tuple(batch["input"].shape),
                           generator=generator)

    def evaluate_samples(self, batch: dict[str, torch.Tensor], samples: torch.Tensor | None = None, *,
                         data_range: float = 2.0) -> dict[str, float]:
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
    def check_data(self, dataset: Any) -> list[str]:
        """Frames must be scaled to [−1, 1] (:mod:`solarmodels.datasets.video`)."""
        return value_range_problems(dataset, ("input",), limit=1.0 + 1e-6)

    def evaluate(self, ctx: Any, dataset: Any, out_dir: str | os.PathLike[str],
                 options: Any) -> dict:
        """MAE / PSNR / SSIM / physics consistency against the mean and last training frames
        (:func:`solarmodels.evaluate_generative.evaluate_video`)."""
        from solarmodels.evaluate_generative import evaluate_video

        return evaluate_video(self, ctx, dataset, out_dir, options)

    def sample_file(self, ctx: Any, out_path: str | os.PathLike[str], *, lightcurve: Any = None,
                    variable: str | None = None, seed: int = 0, steps: int | None = None,
                    guidance_scale: float | None = None, **options: Any) -> dict:
        """Videos for a light-curve file (:func:`solarmodels.inference.sample_video`)."""
        from solarmodels.config import ConfigError
        from solarmodels.inference import sample_video

        if lightcurve is None:
            raise ConfigError("the video model samples from a light curve: --lightcurve FILE")
        return sample_video(self, ctx, out_path, lightcurve=lightcurve, variable=variable,
                            seed=seed, steps=steps, guidance_scale=guidance_scale)

    def predict_file(self, ctx: Any, source: Any, out_path: str | os.PathLike[str], *,
                     variable: str | None = None, seed: int = 0, **options: Any) -> dict:
        """The video for the light curve in ``source`` (same as ``sample --lightcurve``)."""
        return self.sample_file(ctx, out_path, lightcurve=source, variable=variable, seed=seed)
