"""Class-conditional DDPM U-Net (seed 2: Ramunno et al. 2024) with a width independent of image size.

The architecture generalises the seed's ``UNet_conditional`` (itself the widely copied
"dome272" U-Net): an input ``DoubleConv``, ``L − 1`` ``Down`` blocks (max-pool, residual
``DoubleConv``, ``DoubleConv``), a bottleneck of three ``DoubleConv`` (``C_L → 2C_L → 2C_L → C_L``),
``L − 1`` ``Up`` blocks (bilinear ×2, concatenated skip, residual ``DoubleConv``, ``DoubleConv``) and a
1×1 output convolution; self-attention after every ``Down``/``Up`` block whose output
downsampling factor is in ``attention_factors`` (never after the input convolution, as in the seed).
``DoubleConv`` = conv3×3 (no bias) → GroupNorm → GELU → conv3×3 → GroupNorm,
residual variant ``GELU(x + f(x))``. Every ``Down``/``Up`` adds ``Linear(SiLU(e))`` of the
conditioning embedding ``e = sinusoid(t) + class_embedding(y)`` (256-d) as a per-channel bias.

Widths are ``base_channels × channel_mults[i]`` — independent of the image size (the seed ties the
base width to ``image_size``). The preset ``ddpm_unet_seed64`` reproduces the seed exactly:
base 64, multipliers (1, 2, 4, 4), attention at factors 1, 2, 4, 8, GroupNorm(1, ·), 4 heads,
5 classes with *no* null row (the seed's unconditional pass, ``y=None``, simply adds no class
embedding; here that is the zero "null" embedding).

References
----------
Ho, Jain & Abbeel (2020), *Denoising Diffusion Probabilistic Models*, NeurIPS (arXiv:2006.11239).
Ho & Salimans (2022), *Classifier-Free Diffusion Guidance* (arXiv:2207.12598).
Ramunno et al. (2024), A&A 686, A285 (arXiv:2404.02552).
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from solarmodels.registry import register_model

__all__ = ["DDPMUNetConfig", "DDPMUNetSeedConfig", "DDPMUNetTinyConfig", "DDPMUNet",
           "timestep_embedding", "seed_parameter_count"]


@dataclasses.dataclass
class DDPMUNetConfig:
    """Configuration of :class:`DDPMUNet` (defaults: a 32-wide general model).

    Attributes
    ----------
    in_channels, out_channels : int
    base_channels : int
        Width of the first level (independent of the image size).
    channel_mults : tuple of int
        Width multiplier per level; ``len`` levels, ``len − 1`` downsamplings.
    attention_factors : tuple of int
        Downsampling factors (1 = full resolution) after whose blocks self-attention is applied.
    num_heads : int
    norm_groups : int
        GroupNorm groups (1 in the seed); must divide every width.
    time_dim : int
        Sinusoidal time-embedding size (256 in the seed).
    num_classes : int
        Number of real classes (5 GOES classes A, B, C, M, X); label ``num_classes`` is the null class.
    learned_null : bool
        True: a learned null-class embedding (``num_classes + 1`` rows); False: the null class adds
        nothing (the seed's ``y=None``).
    input_skip : bool
        Add ``a(t, y) ⊙ x_t`` to the output, ``a`` a per-channel gain from the conditioning vector
        (not in the seed). GroupNorm right after the input convolution removes the image mean, so
        the seed network sees the global brightness only indirectly; ε contains the term
        ``x_t/√(1−ᾱ_t)``, which this path gives it directly (faster, steadier learning of the
        disk brightness on small data).
    """

    in_channels: int = 1
    out_channels: int = 1
    base_channels: int = 32
    channel_mults: tuple = (1, 2, 4, 4)
    attention_factors: tuple = (4, 8)
    num_heads: int = 4
    norm_groups: int = 8
    time_dim: int = 256
    num_classes: int = 5
    learned_null: bool = True
    input_skip: bool = True


@dataclasses.dataclass
class DDPMUNetSeedConfig(DDPMUNetConfig):
    """The seed's 64² ``UNet_conditional`` exactly (``image_size = 64`` as base width)."""

    base_channels: int = 64
    channel_mults: tuple = (1, 2, 4, 4)
    attention_factors: tuple = (1, 2, 4, 8)
    norm_groups: int = 1
    learned_null: bool = False
    input_skip: bool = False


@dataclasses.dataclass
class DDPMUNetTinyConfig(DDPMUNetConfig):
    """A CPU-sized preset for tests and demos (16²–32² images)."""

    base_channels: int = 16
    channel_mults: tuple = (1, 2, 2)
    attention_factors: tuple = (4,)
    norm_groups: int = 4


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[sin(t·ω_k), cos(t·ω_k)]``, ``ω_k = max_period^(−2k/dim)``.

    The seed's ``pos_encoding`` (sines first, then cosines; Vaswani et al. 2017).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, device=t.device,
                                                           dtype=torch.float32) * 2.0 / dim)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class _DoubleConv(nn.Module):
    def __init__(self, cin, cout, cmid=None, residual=False, groups=1):
        super().__init__()
        cmid = cmid or cout
        self.residual = residual
        self.net = nn.Sequential(
            nn.Conv2d(cin, cmid, 3, padding=1, bias=False), nn.GroupNorm(groups, cmid), nn.GELU(),
            nn.Conv2d(cmid, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout))

    def forward(self, x):
        return F.gelu(x + self.net(x)) if self.residual else self.net(x)


class _SelfAttention(nn.Module):
    """LN → multi-head self-attention + residual → LN-Linear-GELU-Linear + residual (seed layout).

    Same parameters as ``nn.MultiheadAttention`` (in-projection 3C², out-projection C², biases) but
    computed with ``F.scaled_dot_product_attention`` (flash/memory-efficient kernels on the GPU).
    """

    def __init__(self, channels, heads):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention width {channels} is not divisible by num_heads={heads}")
        self.heads = heads
        self.ln = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.ff = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, channels), nn.GELU(),
                                nn.Linear(channels, channels))

    def forward(self, x):
        b, c, h, w = x.shape
        seq = x.flatten(2).transpose(1, 2)                      # (B, HW, C)
        q, k, v = self.qkv(self.ln(seq)).view(b, h * w, 3, self.heads, c // self.heads) \
            .permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c)
        seq = self.proj(att) + seq
        seq = self.ff(seq) + seq
        return seq.transpose(1, 2).reshape(b, c, h, w)


class _Down(nn.Module):
    def __init__(self, cin, cout, emb_dim, groups):
        super().__init__()
        self.conv = nn.Sequential(nn.MaxPool2d(2), _DoubleConv(cin, cin, residual=True, groups=groups),
                                  _DoubleConv(cin, cout, groups=groups))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))

    def forward(self, x, e):
        return self.conv(x) + self.emb(e)[:, :, None, None]


class _Up(nn.Module):
    def __init__(self, cin, cout, emb_dim, groups):
        super().__init__()
        self.conv = nn.Sequential(_DoubleConv(cin, cin, residual=True, groups=groups),
                                  _DoubleConv(cin, cout, cin // 2, groups=groups))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))

    def forward(self, x, skip, e):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return self.conv(torch.cat([skip, x], dim=1)) + self.emb(e)[:, :, None, None]


class DDPMUNet(nn.Module):
    """ε-prediction U-Net ``ε̂ = f(x_t, t, y)`` conditioned on a GOES class (see module docstring).

    Forward: ``x`` (B, C, H, W) with H, W divisible by ``2^(levels−1)``; ``t`` (B,) timesteps;
    ``y`` (B,) long labels 0..num_classes−1 or ``num_classes`` (null), or None (all null);
    ``null`` (B,) bool forces the null class (classifier-free guidance).
    """

    def __init__(self, config: DDPMUNetConfig):
        super().__init__()
        cfg = config
        self.config = cfg
        ch = [cfg.base_channels * m for m in cfg.channel_mults]
        if len(ch) < 2:
            raise ValueError("channel_mults needs at least two levels, e.g. (1, 2)")
        for c in ch + [2 * ch[-1]]:
            if c % cfg.norm_groups:
                raise ValueError(f"norm_groups={cfg.norm_groups} does not divide width {c}; "
                                 "choose base_channels/channel_mults/norm_groups to match")
        g, e, att = cfg.norm_groups, cfg.time_dim, set(cfg.attention_factors)
        self.levels = len(ch)
        self.label_emb = nn.Embedding(cfg.num_classes + int(cfg.learned_null), e)
        self.inc = _DoubleConv(cfg.in_channels, ch[0], groups=g)
        self.downs = nn.ModuleList()
        self.down_att = nn.ModuleList()
        for i in range(1, len(ch)):
            self.downs.append(_Down(ch[i - 1], ch[i], e, g))
            self.down_att.append(_SelfAttention(ch[i], cfg.num_heads) if 2 ** i in att
                                 else nn.Identity())
        self.bottleneck = nn.Sequential(_DoubleConv(ch[-1], 2 * ch[-1], groups=g),
                                        _DoubleConv(2 * ch[-1], 2 * ch[-1], groups=g),
                                        _DoubleConv(2 * ch[-1], ch[-1], groups=g))
        self.ups = nn.ModuleList()
        self.up_att = nn.ModuleList()
        prev = ch[-1]
        for i in range(len(ch) - 1, 0, -1):
            cout = ch[i - 2] if i >= 2 else ch[0]
            self.ups.append(_Up(prev + ch[i - 1], cout, e, g))
            prev = cout
            self.up_att.append(_SelfAttention(cout, cfg.num_heads) if 2 ** (i - 1) in att
                               else nn.Identity())
        self.outc = nn.Conv2d(ch[0], cfg.out_channels, 1)
        self.skip_gain = None
        if cfg.input_skip:
            if cfg.in_channels != cfg.out_channels:
                raise ValueError("input_skip needs in_channels == out_channels")
            self.skip_gain = nn.Linear(e, cfg.out_channels)
            nn.init.zeros_(self.skip_gain.weight)
            nn.init.zeros_(self.skip_gain.bias)

    @property
    def null_label(self) -> int:
        """Label value of the null (unconditional) class."""
        return self.config.num_classes

    def embed(self, t: torch.Tensor, y: torch.Tensor | None = None,
              null: torch.Tensor | None = None) -> torch.Tensor:
        """Conditioning vector ``sinusoid(t) + class_embedding(y)`` (null class: learned or zero)."""
        e = timestep_embedding(t, self.config.time_dim).to(self.label_emb.weight.dtype)
        n = self.config.num_classes
        if y is None:
            y = torch.full((t.shape[0],), n, dtype=torch.long, device=t.device)
        y = y.long()
        if null is not None:
            y = torch.where(null.bool(), torch.full_like(y, n), y)
        if self.config.learned_null:
            return e + self.label_emb(y)
        real = (y < n)
        return e + self.label_emb(y.clamp(max=n - 1)) * real[:, None].to(e.dtype)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None,
                null: torch.Tensor | None = None) -> torch.Tensor:
        div = 2 ** (self.levels - 1)
        if x.shape[-1] % div or x.shape[-2] % div:
            raise ValueError(f"image size {tuple(x.shape[-2:])} must be divisible by {div} "
                             f"({self.levels} levels); pad or resize the images")
        e = self.embed(t, y, null)
        h = self.inc(x)
        skips = [h]
        for down, att in zip(self.downs, self.down_att):
            h = att(down(h, e))
            skips.append(h)
        h = self.bottleneck(skips.pop())
        for up, att in zip(self.ups, self.up_att):
            h = att(up(h, skips.pop(), e))
        out = self.outc(h)
        if self.skip_gain is not None:
            out = out + self.skip_gain(e)[:, :, None, None] * x
        return out


def seed_parameter_count(c: int = 64, in_channels: int = 1, out_channels: int = 1,
                         time_dim: int = 256, num_classes: int = 5) -> int:
    """Parameter count of the seed's ``UNet_conditional(c_in, c_out, image_size=c)``, by formula.

    Terms: conv3×3 without bias ``9·cin·cout``; GroupNorm/LayerNorm ``2C``; attention block
    ``in-proj 3C² + 3C``, ``out-proj C² + C``, two LayerNorms ``4C``, feed-forward ``2(C² + C)``;
    block embedding ``time_dim·C + C``; class embedding ``num_classes·time_dim``; 1×1 out conv.
    Written independently of :class:`DDPMUNet` so that the test checks the implementation.
    """
    def dc(cin, cout, cmid=None):
        cmid = cmid or cout
        return 9 * cin * cmid + 2 * cmid + 9 * cmid * cout + 2 * cout

    def sa(ch):
        return (3 * ch * ch + 3 * ch) + (ch * ch + ch) + 2 * ch + 2 * ch + 2 * (ch * ch + ch)

    def down(cin, cout):
        return dc(cin, cin) + dc(cin, cout) + time_dim * cout + cout

    def up(cin, cout):
        return dc(cin, cin) + dc(cin, cout, cin // 2) + time_dim * cout + cout

    total = dc(in_channels, c)
    total += down(c, 2 * c) + sa(2 * c) + down(2 * c, 4 * c) + sa(4 * c) + down(4 * c, 4 * c) + sa(4 * c)
    total += dc(4 * c, 8 * c) + dc(8 * c, 8 * c) + dc(8 * c, 4 * c)
    total += up(8 * c, 2 * c) + sa(2 * c) + up(4 * c, c) + sa(c) + up(2 * c, c) + sa(c)
    total += c * out_channels + out_channels
    total += num_classes * time_dim
    return total


@register_model("ddpm_unet", DDPMUNetConfig, family="diffusion",
                description="class-conditional DDPM U-Net (width independent of image size)")
def ddpm_unet(config: DDPMUNetConfig) -> DDPMUNet:
    return DDPMUNet(config)


@register_model("ddpm_unet_seed64", DDPMUNetSeedConfig, family="diffusion",
                description="the seed's 64x64 UNet_conditional exactly (Ramunno et al. 2024)")
def ddpm_unet_seed64(config: DDPMUNetSeedConfig) -> DDPMUNet:
    return DDPMUNet(config)


@register_model("ddpm_unet_tiny", DDPMUNetTinyConfig, family="diffusion",
                description="tiny DDPM U-Net for CPU tests and demos")
def ddpm_unet_tiny(config: DDPMUNetTinyConfig) -> DDPMUNet:
    return DDPMUNet(config)
