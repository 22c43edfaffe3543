"""Stage 1 of the latent light-curve → video model: the frame autoencoder (seed 1).

The seed fine-tunes in the latent space of Open-Sora's pretrained VAE; here the autoencoder
(:class:`solarmodels.networks.video_autoencoder.FrameAutoencoder`) is trained on the continuum
frames of the training windows with the reconstruction loss

``L = ‖r̂ − r‖₁ + ‖r̂ − r‖₂² + λ ‖z‖₂²``,  ``r̂ = D(E(r))``, ``z = E(r)``

(means over pixels; ``λ = latent_weight`` a small penalty that keeps the latents bounded, in
place of the VAE's KL term), where ``r = x`` (the frames on [−1, 1]) or, with
``disk_residual = true``, ``r = x − d``, the frames minus their limb-darkened disk
(:func:`solarmodels.datasets.video.disk_model`): the code then only has to carry the spots,
faculae and limb mismatch, and ``D(0) → d``. The video stage (system ``video_rflow`` with
``autoencoder = "RUN"``) must use the same ``disk_residual``.

Evaluation (``solarmodels evaluate RUN``): the reconstruction of the test windows, MAE, PSNR and
SSIM (data range 2) and the physics consistency of its disk integral with the light curve,
beside the mean and last training frames and the limb-darkened disk
(:func:`solarmodels.evaluate_generative.evaluate_video`).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from solarmodels.metrics import psnr
from solarmodels.registry import register_system
from solarmodels.systems.base import System, SystemConfig, value_range_problems

if TYPE_CHECKING:
    import os
    from typing import Any

    from solarmodels.systems.base import StepContext

__all__ = ["VideoAutoencoderSystem", "VideoAutoencoderSystemConfig"]


@dataclasses.dataclass
class VideoAutoencoderSystemConfig(SystemConfig):
    """Settings of :class:`VideoAutoencoderSystem`.

    Attributes
    ----------
    model : str
        Registered autoencoder built when none is passed in.
    lr : float
        AdamW learning rate (``train.lr`` overrides it).
    latent_weight : float
        ``λ`` of the latent penalty.
    disk_residual : bool
        Encode the frames minus their limb-darkened disk.
    """

    model: str = "video_autoencoder"
    lr: float = 1e-3
    latent_weight: float = 1e-4
    disk_residual: bool = False


@register_system("video_autoencoder")
class VideoAutoencoderSystem(System):
    """Trains the frame autoencoder of the latent video model (module docstring)."""

    config_cls = VideoAutoencoderSystemConfig
    ema_networks = ("model",)
    default_lr = 1e-3

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": torch.optim.AdamW(self.networks["model"].parameters(), lr=self.lr)}

    def _target(self, batch):
        x = batch["input"]
        if self.config.disk_residual:
            if "disk" not in batch:
                raise ValueError("disk_residual needs the limb-darkened disk ('disk') in the "
                                 "batch (solarmodels.datasets.video.video_windows)")
            return x - batch["disk"]
        return x

    def _losses(self, net, batch):
        r = self._target(batch)
        z = net.encode(r)
        rec = net.decode(z)
        l1 = F.l1_loss(rec.float(), r.float())
        l2 = F.mse_loss(rec.float(), r.float())
        return l1 + l2 + self.config.latent_weight * z.float().pow(2).mean(), l1, l2

    def training_step(self, batch: dict[str, torch.Tensor],
                      step: StepContext) -> dict[str, torch.Tensor]:
        loss, l1, l2 = self._losses(self.networks["model"], batch)
        step.backward(loss, "g")
        step.optimizer_step("g")
        return {"loss": loss.detach(), "l1": l1.detach(), "mse": l2.detach()}

    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        net = self.inference_network()
        loss, l1, l2 = self._losses(net, batch)
        rec = self.reconstruct(batch)
        return {"val_loss": float(loss), "val_l1": float(l1),
                "val_psnr": float(psnr(rec.float(), batch["input"].float(), 2.0))}

    def reconstruct(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Frames ``D(E(r)) (+ d)`` of ``batch`` on the [−1, 1] scale (EMA weights if kept)."""
        net = self.inference_network()
        rec = net.decode(net.encode(self._target(batch)))
        return rec + batch["disk"] if self.config.disk_residual else rec

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.reconstruct(batch)

    def evaluation_video(self, batch: dict[str, torch.Tensor],
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """The video scored by :func:`~solarmodels.evaluate_generative.evaluate_video`: the
        reconstruction."""
        return self.predict(batch)

    # ----------------------------------------------------------------- run contract
    def check_data(self, dataset: Any) -> list[str]:
        """Frames must be scaled to [−1, 1] (:mod:`solarmodels.datasets.video`)."""
        return value_range_problems(dataset, ("input",), limit=1.0 + 1e-6)

    def predict_file(self, ctx: Any, source: Any, out_path: str | os.PathLike[str],
                     **options: Any) -> dict:
        """Reconstructions of the frames of an image file (:func:`solarmodels.inference.
        reconstruct_frames`)."""
        from solarmodels.inference import reconstruct_frames

        return reconstruct_frames(self, ctx, source, out_path)

    def evaluate(self, ctx: Any, dataset: Any, out_dir: str | os.PathLike[str],
                 options: Any) -> dict:
        """Reconstruction MAE / PSNR / SSIM / physics consistency beside the mean and last
        training frames and the limb-darkened disk."""
        from solarmodels.evaluate_generative import evaluate_video

        return evaluate_video(self, ctx, dataset, out_dir, options)
