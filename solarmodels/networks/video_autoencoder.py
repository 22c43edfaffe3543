"""Frame autoencoder of the latent light-curve → video model (seed 1, stage 1).

The seed diffuses in the latent space of Open-Sora's video VAE (``OpenSoraVAE_V1_3``: 8× spatial
and 4× temporal compression to 16 channels), whose pretrained weights cannot be had here. This
module is the autoencoder trained in this project instead: **per frame** (no temporal
compression; Open-Sora 1.2's VAE is likewise a per-frame spatial autoencoder followed by a
temporal one). At a 12 h cadence consecutive continuum frames differ by rotation and spot
evolution, which the transformer models across frames; a per-frame code keeps every frame
decodable on its own and the encoder free of any look-ahead (trivially causal).

Architecture (:class:`FrameAutoencoder`, after the SD / Open-Sora VAE encoder without its
attention and KL head): ``Conv3×3(C→w)``; ``n_down`` levels of [residual block, stride-2
``Conv3×3``] with widths ``w·mults``; a residual block and ``Conv1×1`` to ``latent_channels``.
The decoder mirrors it with nearest-neighbour ×2 upsampling + ``Conv3×3``. Residual blocks are
``x + Conv(SiLU(GN(Conv(SiLU(GN(x))))))`` (GroupNorm, He et al. 2016). Spatial compression
``f = 2^n_down``; ``H`` and ``W`` must be multiples of ``f``.

Presets: ``video_autoencoder`` (CPU size: ``w = 16``, ``f = 4``, 4 latent channels) and
``video_autoencoder_f8`` (the seed's compression: ``w = 128``, ``f = 8``, 16 latent channels).
The system that trains it is ``video_autoencoder`` (:mod:`solarmodels.systems.video_autoencoder`).
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from solarmodels.registry import register_model

__all__ = ["FrameAutoencoder", "VideoAutoencoderConfig", "VideoAutoencoderF8Config"]


def _groups(channels: int) -> int:
    for g in (8, 4, 2, 1):
        if channels % g == 0:
            return g
    return 1


class _ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


@dataclasses.dataclass
class VideoAutoencoderConfig:
    """Configuration of :class:`FrameAutoencoder` (defaults: the CPU-sized preset).

    Attributes
    ----------
    in_channels : int
        Image channels (1 for continuum intensity).
    latent_channels : int
        Channels of the latent (16 in Open-Sora's VAE).
    width : int
        Channels of the first level.
    mults : tuple of int
        Width multipliers per downsampling level (``n_down = len(mults)``, ``f = 2^n_down``).
    """

    in_channels: int = 1
    latent_channels: int = 4
    width: int = 16
    mults: tuple[int, ...] = (1, 2)


@dataclasses.dataclass
class VideoAutoencoderF8Config(VideoAutoencoderConfig):
    """The seed's compression: 8× per side, 16 latent channels."""

    latent_channels: int = 16
    width: int = 128
    mults: tuple[int, ...] = (1, 2, 4)


class FrameAutoencoder(nn.Module):
    """Per-frame convolutional autoencoder (module docstring).

    ``encode`` / ``decode`` take videos ``(B, C, T, H, W)`` (or images ``(B, C, H, W)``) and
    apply the 2-D networks to every frame; ``forward`` is ``decode(encode(x))``.
    """

    def __init__(self, config: VideoAutoencoderConfig | None = None):
        super().__init__()
        cfg = config or VideoAutoencoderConfig()
        self.config = cfg
        widths = [cfg.width * m for m in cfg.mults]
        self.factor = 2 ** len(widths)
        enc = [nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)]
        cin = widths[0]
        for w in widths:
            enc += [_ResBlock(cin, w), nn.Conv2d(w, w, 3, stride=2, padding=1)]
            cin = w
        enc += [_ResBlock(cin, cin), nn.GroupNorm(_groups(cin), cin), nn.SiLU(),
                nn.Conv2d(cin, cfg.latent_channels, 1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv2d(cfg.latent_channels, cin, 3, padding=1), _ResBlock(cin, cin)]
        for w in reversed(widths):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, w, 3, padding=1),
                    _ResBlock(w, w)]
            cin = w
        dec += [nn.GroupNorm(_groups(cin), cin), nn.SiLU(), nn.Conv2d(cin, cfg.in_channels, 3,
                                                                      padding=1)]
        self.decoder = nn.Sequential(*dec)

    @staticmethod
    def _per_frame(fn, x):
        if x.dim() == 4:
            return fn(x)
        b, c, t, h, w = x.shape
        y = fn(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.view(b, t, *y.shape[1:]).transpose(1, 2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, latent_channels, T, H/f, W/f)`` of frames ``(B, C, T, H, W)``."""
        h, w = x.shape[-2:]
        if h % self.factor or w % self.factor:
            raise ValueError(f"frames of {h}x{w} pixels are not divisible by the autoencoder's "
                             f"compression {self.factor}; use a multiple of {self.factor}")
        return self._per_frame(self.encoder, x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, C, T, H, W)`` of latents ``(B, latent_channels, T, h, w)``."""
        return self._per_frame(self.decoder, z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@register_model("video_autoencoder", VideoAutoencoderConfig, family="diffusion",
                description="per-frame convolutional autoencoder of continuum frames, f=4, "
                            "4 latent channels (CPU size; latent video model stage 1)")
def _build_autoencoder(config):
    return FrameAutoencoder(config)


@register_model("video_autoencoder_f8", VideoAutoencoderF8Config, family="diffusion",
                description="per-frame convolutional autoencoder, f=8, 16 latent channels "
                            "(the seed's compression; stage 1 at seed size)")
def _build_autoencoder_f8(config):
    return FrameAutoencoder(config)
