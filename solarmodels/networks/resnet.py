"""One ResNet image-to-image generator, parametrised for pix2pixHD and Pix2PixCC.

Layout (Johnson et al. 2016; Wang et al. 2018, pix2pixHD's "global generator"; Jeong et al. 2020,
2022 for the far-side magnetograms)::

    pad(3) → Conv 7×7 (in → ngf) → norm → act
    n_down × [Conv k×k stride 2 (width doubling) → norm → act]           k = down_kernel
    n_blocks × residual block  x + [pad → conv 3×3 → norm → act → pad → conv 3×3 → norm](x)
    n_down × [ConvTranspose 3×3 stride 2, output padding 1 (width halving)
              or Upsample ×2 bilinear → pad(1) → Conv 3×3] → norm → act
    pad(3) → Conv 7×7 (ngf → out) [→ tanh]

The two seeds differ only in the parameters:

* pix2pixHD (``pix2pixhd_global``): ReLU, reflection padding, 3×3 downsampling (padding 1),
  transposed-convolution decoder, ``ngf`` 32 (far-side seed), linear or tanh output;
* Pix2PixCC (``pix2pixcc_generator``): Mish (Misra 2019, ``x·tanh(softplus(x))``), replication
  padding, 5×5 downsampling (padding 2), transposed-convolution or bilinear + 3×3 convolution
  decoder, ``ngf`` 64, linear output.

Instance norm without affine parameters (``affine=False``), as in the references. The network is
one ``nn.Sequential`` named ``model``, so the state-dict keys (``model.0.weight`` …) are those of
the two former classes and their checkpoints load unchanged.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from torch import nn

from solarmodels.config import ConfigError
from solarmodels.networks.unet import init_weights, norm_layer

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

__all__ = ["ResnetGeneratorConfig", "ResnetGenerator", "ResidualBlock", "padding_layer",
           "ACTIVATIONS"]

#: Activations of the generator by name.
ACTIVATIONS = {"relu": nn.ReLU, "mish": nn.Mish}


def padding_layer(kind: str, size: int) -> nn.Module:
    """``nn.ReflectionPad2d`` / ``ReplicationPad2d`` / ``ZeroPad2d`` of ``size`` pixels."""
    if kind == "reflect":
        return nn.ReflectionPad2d(size)
    if kind == "replicate":
        return nn.ReplicationPad2d(size)
    if kind == "zero":
        return nn.ZeroPad2d(size)
    raise ConfigError(f"padding must be 'reflect', 'replicate' or 'zero', got {kind!r}")


class ResidualBlock(nn.Module):
    """``x + F(x)``, ``F`` = pad → conv 3×3 → norm → act → pad → conv 3×3 → norm."""

    def __init__(self, channels: int, *, padding: str = "reflect", norm: str = "instance",
                 activation: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.body = nn.Sequential(
            padding_layer(padding, 1), nn.Conv2d(channels, channels, 3),
            norm_layer(norm, channels), activation(), padding_layer(padding, 1),
            nn.Conv2d(channels, channels, 3), norm_layer(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@dataclasses.dataclass
class ResnetGeneratorConfig:
    """Configuration of :class:`ResnetGenerator` (defaults: pix2pixHD's far-side generator)."""

    in_channels: int = 3
    out_channels: int = 1
    ngf: int = 32
    n_down: int = 4
    n_blocks: int = 9
    norm: str = "instance"
    padding: str = "reflect"
    activation: str = "relu"      # "relu" or "mish"
    down_kernel: int = 3          # 3 (pix2pixHD) or 5 (Pix2PixCC); odd
    upsample: str = "transpose"   # "transpose" or "bilinear"
    output: str = "linear"        # "linear" or "tanh"
    init_gain: float = 0.02


class ResnetGenerator(nn.Module):
    """The generator of the module docstring; input side must be a multiple of ``2**n_down``.

    Parameters
    ----------
    config : ResnetGeneratorConfig or a dataclass with the same fields (missing fields take
        the defaults of :class:`ResnetGeneratorConfig`), optional
    """

    def __init__(self, config: ResnetGeneratorConfig | None = None) -> None:
        super().__init__()
        cfg = config or ResnetGeneratorConfig()
        self.config = cfg

        def get(name):
            return getattr(cfg, name, getattr(ResnetGeneratorConfig, name))

        act_name, output, upsample = get("activation"), get("output"), get("upsample")
        k, pad = int(get("down_kernel")), get("padding")
        if act_name not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, got {act_name!r}")
        if output not in ("linear", "tanh"):
            raise ConfigError(f"output must be 'linear' or 'tanh', got {output!r}")
        if upsample not in ("transpose", "bilinear"):
            raise ConfigError(f"upsample must be 'transpose' or 'bilinear', got {upsample!r}")
        if k < 1 or k % 2 == 0:
            raise ConfigError(f"down_kernel must be odd, got {k}")
        act, norm = ACTIVATIONS[act_name], cfg.norm
        layers = [padding_layer(pad, 3), nn.Conv2d(cfg.in_channels, cfg.ngf, 7),
                  norm_layer(norm, cfg.ngf), act()]
        ch = cfg.ngf
        for _ in range(cfg.n_down):
            layers += [nn.Conv2d(ch, 2 * ch, k, stride=2, padding=k // 2),
                       norm_layer(norm, 2 * ch), act()]
            ch *= 2
        layers += [ResidualBlock(ch, padding=pad, norm=norm, activation=act)
                   for _ in range(cfg.n_blocks)]
        for _ in range(cfg.n_down):
            if upsample == "transpose":
                layers.append(nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1,
                                                 output_padding=1))
            else:
                layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                           padding_layer(pad, 1), nn.Conv2d(ch, ch // 2, 3)]
            layers += [norm_layer(norm, ch // 2), act()]
            ch //= 2
        layers += [padding_layer(pad, 3), nn.Conv2d(ch, cfg.out_channels, 7)]
        if output == "tanh":
            layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)
        init_weights(self, cfg.init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def output_layer(self) -> nn.Module:
        """The last convolution (zeroed by systems that predict a residual)."""
        return [m for m in self.model if isinstance(m, nn.Conv2d)][-1]
