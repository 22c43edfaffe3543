"""Pix2PixCC generator (Jeong et al. 2022, ApJS 262, 50; the far-side seed "AISFM 3.0").

Like the pix2pixHD global generator but with Mish activations (Misra 2019,
``x·tanh(softplus(x))``), replication padding, 5×5 stride-2 downsampling convolutions and a choice
of transposed-convolution or bilinear-upsampling + 3×3 convolution decoder:

``pad(3) → Conv 7×7 (in → ngf) → IN → Mish``, ``n_down`` × ``[Conv 5×5 stride 2 padding 2 → IN → Mish]``,
``n_blocks`` residual blocks (3×3, Mish), ``n_down`` × ``[ConvTranspose 3×3 stride 2 → IN → Mish]``
(or ``Upsample ×2 bilinear → pad(1) → Conv 3×3``), ``pad(3) → Conv 7×7 (ngf → out)``, linear output.

The discriminator is :class:`~solarmodels.networks.pix2pixhd.MultiscaleDiscriminator` with one
scale (``n_D = 1``), built by the system.
"""
from __future__ import annotations

import dataclasses

from torch import nn

from solarmodels.config import ConfigError
from solarmodels.networks.pix2pixhd import ResidualBlock, _pad
from solarmodels.networks.unet import init_weights, norm_layer
from solarmodels.registry import register_model

__all__ = ["Pix2PixCCConfig", "Pix2PixCCGenerator"]


@dataclasses.dataclass
class Pix2PixCCConfig:
    """Configuration of :class:`Pix2PixCCGenerator` (defaults: the seed's 3 EUV → 1 HMI)."""

    in_channels: int = 3
    out_channels: int = 1
    ngf: int = 64
    n_down: int = 4
    n_blocks: int = 9
    norm: str = "instance"
    padding: str = "replicate"
    upsample: str = "transpose"   # "transpose" or "bilinear"
    init_gain: float = 0.02


class Pix2PixCCGenerator(nn.Module):
    """Pix2PixCC generator; input side must be a multiple of ``2**n_down``."""

    def __init__(self, config: Pix2PixCCConfig | None = None):
        super().__init__()
        cfg = config or Pix2PixCCConfig()
        self.config = cfg
        if cfg.upsample not in ("transpose", "bilinear"):
            raise ConfigError(f"upsample must be 'transpose' or 'bilinear', got {cfg.upsample!r}")
        layers = [_pad(cfg.padding, 3), nn.Conv2d(cfg.in_channels, cfg.ngf, 7),
                  norm_layer(cfg.norm, cfg.ngf), nn.Mish()]
        ch = cfg.ngf
        for _ in range(cfg.n_down):
            layers += [nn.Conv2d(ch, 2 * ch, 5, stride=2, padding=2), norm_layer(cfg.norm, 2 * ch),
                       nn.Mish()]
            ch *= 2
        layers += [ResidualBlock(ch, padding=cfg.padding, norm=cfg.norm, activation=nn.Mish)
                   for _ in range(cfg.n_blocks)]
        for _ in range(cfg.n_down):
            if cfg.upsample == "transpose":
                layers.append(nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1,
                                                 output_padding=1))
            else:
                layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                           _pad(cfg.padding, 1), nn.Conv2d(ch, ch // 2, 3)]
            layers += [norm_layer(cfg.norm, ch // 2), nn.Mish()]
            ch //= 2
        layers += [_pad(cfg.padding, 3), nn.Conv2d(ch, cfg.out_channels, 7)]
        self.model = nn.Sequential(*layers)
        init_weights(self, cfg.init_gain)

    def forward(self, x):
        return self.model(x)


@register_model("pix2pixcc_generator", Pix2PixCCConfig, family="translation",
                description="Pix2PixCC generator: Mish, 5×5 stride-2 down, 9 res blocks (Jeong+ 2022)")
def pix2pixcc_generator(config: Pix2PixCCConfig) -> Pix2PixCCGenerator:
    return Pix2PixCCGenerator(config)
