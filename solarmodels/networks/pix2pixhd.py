"""Pix2PixHD global generator and multi-scale discriminator (Wang et al. 2018; Jeong et al. 2020).

Global generator (``ngf`` 32 in the far-side seed, 64 in pix2pixHD): the one ResNet generator of
:mod:`solarmodels.networks.resnet` with ReLU, reflection padding and 3×3 stride-2 downsampling:
``ReflectionPad(3) → Conv 7×7 (in → ngf) → IN → ReLU``, ``n_down`` × ``Conv 3×3 stride 2`` (width
doubling) + IN + ReLU, ``n_blocks`` residual blocks, ``n_down`` × ``ConvTranspose 3×3 stride 2``
(output padding 1, width halving) + IN + ReLU, ``ReflectionPad(3) → Conv 7×7 (ngf → out)``,
linear (seed) or tanh output. Instance norm has no affine parameters (``affine=False``), as in
the reference.

Multi-scale discriminator: ``n_scales`` PatchGANs (4×4 convolutions, padding 2, widths 64-128-256
at stride 2 then 512 at stride 1 and 1 output channel, IN, LeakyReLU 0.2, no sigmoid); scale ``k``
sees the input average-pooled ``k`` times by ``AvgPool2d(3, stride 2, padding 1,
count_include_pad=False)``. ``forward`` returns, per scale, the list of every block's output
(the last entry is the logit map) for the LSGAN and feature-matching losses.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from solarmodels.config import ConfigError
from solarmodels.networks.resnet import ResidualBlock, ResnetGenerator, ResnetGeneratorConfig
from solarmodels.networks.unet import init_weights, norm_layer
from solarmodels.registry import register_model

__all__ = ["GlobalGeneratorConfig", "GlobalGenerator", "MultiscaleDiscriminatorConfig",
           "MultiscaleDiscriminator", "ResidualBlock", "NLayerDiscriminator"]


@dataclasses.dataclass
class GlobalGeneratorConfig(ResnetGeneratorConfig):
    """Configuration of :class:`GlobalGenerator`: the fields of
    :class:`~solarmodels.networks.resnet.ResnetGeneratorConfig` with its defaults (the far-side
    seed, 3 EUV → 1 HMI, ``ngf`` 32, ReLU, reflection padding, 3×3 downsampling)."""


class GlobalGenerator(ResnetGenerator):
    """Pix2PixHD global generator: :class:`~solarmodels.networks.resnet.ResnetGenerator` with
    ReLU, reflection padding and 3×3 downsampling; input side a multiple of ``2**n_down``."""

    def __init__(self, config: GlobalGeneratorConfig | None = None):
        super().__init__(config or GlobalGeneratorConfig())


class NLayerDiscriminator(nn.Module):
    """One pix2pixHD PatchGAN; ``forward`` returns the list of block outputs (logits last)."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 padding: int = 2, max_width: int = 512) -> None:
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(in_channels, ndf, 4, 2, padding), nn.LeakyReLU(0.2))]
        ch = ndf
        for n in range(1, n_layers + 1):
            out = min(ch * 2, max_width)
            stride = 2 if n < n_layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(ch, out, 4, stride, padding),
                                        norm_layer(norm, out), nn.LeakyReLU(0.2)))
            ch = out
        blocks.append(nn.Sequential(nn.Conv2d(ch, 1, 4, 1, padding)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


@dataclasses.dataclass
class MultiscaleDiscriminatorConfig:
    """Configuration of :class:`MultiscaleDiscriminator` (defaults: pix2pixHD, 2 scales)."""

    in_channels: int = 4
    ndf: int = 64
    n_layers: int = 3
    n_scales: int = 2
    norm: str = "instance"
    padding: int = 2
    init_gain: float = 0.02


class MultiscaleDiscriminator(nn.Module):
    """``n_scales`` independent :class:`NLayerDiscriminator` on successively pooled inputs."""

    def __init__(self, config: MultiscaleDiscriminatorConfig | None = None):
        super().__init__()
        cfg = config or MultiscaleDiscriminatorConfig()
        self.config = cfg
        if cfg.n_scales < 1:
            raise ConfigError(f"n_scales must be >= 1, got {cfg.n_scales}")
        self.scales = nn.ModuleList(
            NLayerDiscriminator(cfg.in_channels, cfg.ndf, cfg.n_layers, cfg.norm, cfg.padding)
            for _ in range(cfg.n_scales))
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        init_weights(self, cfg.init_gain)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for k, disc in enumerate(self.scales):
            if k > 0:
                x = self.pool(x)
            out.append(disc(x))
        return out


@register_model("pix2pixhd_global", GlobalGeneratorConfig, family="translation",
                description="Pix2PixHD global generator, 4 down / 9 res / 4 up (Wang+ 2018; Jeong+ 2020)")
def pix2pixhd_global(config: GlobalGeneratorConfig) -> GlobalGenerator:
    return GlobalGenerator(config)


@register_model("multiscale_patchgan", MultiscaleDiscriminatorConfig, family="translation",
                description="Pix2PixHD multi-scale PatchGAN discriminator (2 scales, LSGAN)")
def multiscale_patchgan(config: MultiscaleDiscriminatorConfig) -> MultiscaleDiscriminator:
    return MultiscaleDiscriminator(config)
