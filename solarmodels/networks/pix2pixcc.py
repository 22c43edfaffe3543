"""Pix2PixCC generator (Jeong et al. 2022, ApJS 262, 50; the far-side seed "AISFM 3.0").

The one ResNet generator of :mod:`solarmodels.networks.resnet`, like the pix2pixHD global
generator but with Mish activations (Misra 2019,
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

from solarmodels.networks.resnet import ResnetGenerator, ResnetGeneratorConfig
from solarmodels.registry import register_model

__all__ = ["Pix2PixCCConfig", "Pix2PixCCGenerator"]


@dataclasses.dataclass
class Pix2PixCCConfig(ResnetGeneratorConfig):
    """Configuration of :class:`Pix2PixCCGenerator` (defaults: the seed's 3 EUV → 1 HMI, ``ngf``
    64, Mish, replication padding, 5×5 downsampling; ``upsample`` "transpose" or "bilinear")."""

    ngf: int = 64
    padding: str = "replicate"
    activation: str = "mish"
    down_kernel: int = 5


class Pix2PixCCGenerator(ResnetGenerator):
    """Pix2PixCC generator: :class:`~solarmodels.networks.resnet.ResnetGenerator` with Mish,
    replication padding and 5×5 downsampling; input side a multiple of ``2**n_down``."""

    def __init__(self, config: Pix2PixCCConfig | None = None):
        super().__init__(config or Pix2PixCCConfig())


@register_model("pix2pixcc_generator", Pix2PixCCConfig, family="translation",
                description="Pix2PixCC generator: Mish, 5×5 stride-2 down, 9 res blocks (Jeong+ 2022)")
def pix2pixcc_generator(config: Pix2PixCCConfig) -> Pix2PixCCGenerator:
    return Pix2PixCCGenerator(config)
