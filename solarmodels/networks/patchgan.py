"""PatchGAN discriminator of pix2pix (Isola et al. 2017) and its multi-scale use in pix2pixHD.

``n_layers`` stride-2 4×4 convolutions (the first without norm), one stride-1 4×4 convolution and a
stride-1 4×4 convolution to one channel. The receptive field grows with depth: ``n_layers`` 0 → 1×1
(a 1×1-conv "PixelGAN"), 1 → 16, 2 → 34, 3 → 70 (default), 4 → 142, 5 → 286 pixels.

The output is a map of logits (no sigmoid; the seed's sigmoid + BCE is computed as
BCE-with-logits, numerically safer than the seed's ε = 1e-12 clamp). ``return_features=True``
returns the activations after every block as well (feature matching, pix2pixHD).

With 6 input channels (input and target concatenated), ndf 64, 3 layers and batch norm it has
2,768,705 parameters, as the reference 70×70 PatchGAN.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from solarmodels.networks.unet import init_weights, norm_layer
from solarmodels.registry import register_model

__all__ = ["PatchGANConfig", "PatchGAN", "receptive_field"]


@dataclasses.dataclass
class PatchGANConfig:
    """Configuration of :class:`PatchGAN` (defaults: the 70×70 discriminator on 3 + 3 channels)."""

    in_channels: int = 6
    ndf: int = 64
    n_layers: int = 3
    max_mult: int = 8
    norm: str = "batch"      # "batch", "instance" or "none"
    init_gain: float = 0.02


def receptive_field(n_layers: int) -> int:
    """Receptive field (pixels) of a PatchGAN with ``n_layers`` stride-2 layers."""
    if n_layers == 0:
        return 1
    rf = 1
    for stride in [1, 1] + [2] * n_layers:  # output side first: two stride-1 4×4, then stride 2
        rf = rf * stride + (4 - stride)
    return rf


class PatchGAN(nn.Module):
    """PatchGAN of :class:`PatchGANConfig`: (B, in, H, W) → logits (B, 1, H', W')."""

    def __init__(self, config: PatchGANConfig | None = None):
        super().__init__()
        cfg = config or PatchGANConfig()
        self.config = cfg
        bias = cfg.norm != "batch"
        blocks = []
        if cfg.n_layers == 0:
            blocks.append(nn.Sequential(nn.Conv2d(cfg.in_channels, cfg.ndf, 1), nn.LeakyReLU(0.2)))
            blocks.append(nn.Sequential(nn.Conv2d(cfg.ndf, 2 * cfg.ndf, 1, bias=bias),
                                        norm_layer(cfg.norm, 2 * cfg.ndf), nn.LeakyReLU(0.2)))
            blocks.append(nn.Sequential(nn.Conv2d(2 * cfg.ndf, 1, 1)))
        else:
            blocks.append(nn.Sequential(nn.Conv2d(cfg.in_channels, cfg.ndf, 4, 2, 1),
                                        nn.LeakyReLU(0.2)))
            width = cfg.ndf
            for n in range(1, cfg.n_layers + 1):
                stride = 2 if n < cfg.n_layers else 1
                out = cfg.ndf * min(2 ** n, cfg.max_mult)
                blocks.append(nn.Sequential(nn.Conv2d(width, out, 4, stride, 1, bias=bias),
                                            norm_layer(cfg.norm, out), nn.LeakyReLU(0.2)))
                width = out
            blocks.append(nn.Sequential(nn.Conv2d(width, 1, 4, 1, 1)))
        self.blocks = nn.ModuleList(blocks)
        init_weights(self, cfg.init_gain)

    def forward(self, x: torch.Tensor, return_features: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return (x, features) if return_features else x


@register_model("patchgan", PatchGANConfig, family="translation",
                description="PatchGAN discriminator (70×70 by default; Isola+ 2017)")
def patchgan(config: PatchGANConfig) -> PatchGAN:
    return PatchGAN(config)
