"""Pix2Pix U-Net generator whose depth follows the image size (down to 1×1).

Architecture (Isola et al. 2017, §6.1.1; Park et al. 2019 for the solar version):

* encoder level ``i`` (``i = 0 … L-1``, ``L = log2(image_size)``): ``LeakyReLU(0.2)`` (not at
  level 0) → ``Conv2d(4×4, stride 2, pad 1, no bias)`` → batch norm (not at the first and the
  innermost level); widths ``ngf·min(2^i, 8)``: 64-128-256-512-512-… (8 levels at 256², 10 at
  1024²),
* decoder level ``i`` (innermost first): ``ReLU`` → ``ConvTranspose2d(4×4, stride 2, pad 1)`` →
  batch norm → dropout 0.5 on the ``dropout_layers`` innermost levels (the seed's "size ≤ 8" at
  256² and 1024²); its input is the previous decoder output concatenated with the encoder output
  of the same level (skip connection),
* output head ``"linear"`` (Park et al., targets in physical-ish units) or ``"tanh"`` (data in
  [-1, 1], SolarMagGAN).

With 3 → 3 channels, ngf 64 and batch norm the 256² generator has 54,413,955 parameters, equal to
the reference pix2pix ``unet_256``. Weights are drawn from N(0, 0.02), batch-norm γ from N(1, 0.02)
(:func:`init_weights`).

Differences from the seed: batch norm follows ``model.eval()`` (the seed runs it in training mode
at inference); ``PatchGAN``'s sigmoid is folded into the BCE-with-logits loss.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from solarmodels.config import ConfigError
from solarmodels.registry import register_model

__all__ = ["UNetConfig", "UNetGenerator", "init_weights", "norm_layer", "unet_levels"]


@dataclasses.dataclass
class UNetConfig:
    """Configuration of :class:`UNetGenerator` (defaults: the reference 256² generator)."""

    in_channels: int = 3
    out_channels: int = 3
    image_size: int = 256
    levels: int = 0            # 0: log2(image_size), i.e. down to 1×1
    ngf: int = 64
    max_mult: int = 8
    norm: str = "batch"        # "batch", "instance" or "none"
    bn_momentum: float = 0.1   # torch convention (Keras momentum 0.9 = torch 0.1)
    bn_eps: float = 1e-5
    dropout: float = 0.5
    dropout_layers: int = 3
    output: str = "linear"     # "linear" or "tanh"
    init_gain: float = 0.02


def unet_levels(image_size: int) -> int:
    """Number of stride-2 levels that take ``image_size`` (a power of two) down to 1×1."""
    levels = int(round(math.log2(image_size))) if image_size > 0 else 0
    if image_size < 2 or 2 ** levels != image_size:
        raise ConfigError(f"image_size must be a power of two >= 2 for the U-Net, got {image_size}; "
                          "crop or pad the images, or set levels explicitly")
    return levels


def norm_layer(kind: str, channels: int, *, momentum: float = 0.1, eps: float = 1e-5) -> nn.Module:
    """``BatchNorm2d``, ``InstanceNorm2d`` (affine False, as pix2pixHD) or ``Identity``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, momentum=momentum, eps=eps)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm must be 'batch', 'instance' or 'none', got {kind!r}")


def init_weights(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """pix2pix initialisation: conv weights N(0, gain), batch-norm γ N(1, gain), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d,)):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return module


class UNetGenerator(nn.Module):
    """U-Net of :class:`UNetConfig`; input (B, in, H, W) → output (B, out, H, W), H = W =
    ``image_size`` (any multiple of ``2**levels`` works)."""

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        cfg = config or UNetConfig()
        self.config = cfg
        levels = cfg.levels or unet_levels(cfg.image_size)
        if levels < 2:
            raise ConfigError(f"the U-Net needs at least 2 levels, got {levels}")
        if cfg.output not in ("linear", "tanh"):
            raise ConfigError(f"output must be 'linear' or 'tanh', got {cfg.output!r}")
        self.levels = levels
        norm_bias = cfg.norm != "batch"
        width = [cfg.ngf * min(2 ** i, cfg.max_mult) for i in range(levels)]

        def norm(c):
            return norm_layer(cfg.norm, c, momentum=cfg.bn_momentum, eps=cfg.bn_eps)

        self.down = nn.ModuleList()
        for i in range(levels):
            cin = cfg.in_channels if i == 0 else width[i - 1]
            layers = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(cin, width[i], 4, 2, 1, bias=norm_bias))
            if 0 < i < levels - 1:
                layers.append(norm(width[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            cin = width[i] if i == levels - 1 else 2 * width[i]
            cout = cfg.out_channels if i == 0 else width[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=norm_bias or i == 0)]
            if i > 0:
                layers.append(norm(cout))
                if cfg.dropout > 0 and levels - 1 - i < cfg.dropout_layers:
                    layers.append(nn.Dropout(cfg.dropout))
            self.up.append(nn.Sequential(*layers))
        self.head = nn.Tanh() if cfg.output == "tanh" else nn.Identity()
        init_weights(self, cfg.init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        y = skips[-1]
        for j, layer in enumerate(self.up):
            i = self.levels - 1 - j
            if i < self.levels - 1:
                y = torch.cat([y, skips[i]], dim=1)
            y = layer(y)
        return self.head(y)

    def output_layer(self) -> nn.Module:
        """The last transposed convolution (zeroed by systems that predict a residual)."""
        return self.up[-1][1]


@register_model("pix2pix_unet", UNetConfig, family="translation",
                description="Pix2Pix U-Net generator, depth log2(image size) (Isola+ 2017; Park+ 2019)")
def pix2pix_unet(config: UNetConfig) -> UNetGenerator:
    return UNetGenerator(config)
