"""Light curve → video diffusion transformer (seed 1: an STDiT3-style network with a Fourier encoder).

**Fourier encoder** (the seed's parameter-free "text encoder", :class:`FourierEncoder`): every
brightness value ``b`` becomes one token ``[cos(b f_0) … cos(b f_{h−1}), sin(b f_0) … sin(b f_{h−1})]``,
``f_k = exp(−ln(P) k / h)``, ``h = mapping_size / 2``, ``P = 10⁴``; the sequence is padded with zeros
to ``model_max_length = 64`` tokens with a boolean mask. Optionally (``time_code=True``, not in the
seed, which ignores cadence) the observation times τ (hours from the first value) add a second code
of the same form with period ``time_period``. A learned MLP (:class:`CaptionEmbedder`,
mapping → hidden → hidden, GELU-tanh) maps tokens to the model width; a learned null sequence
(``N(0, 1/mapping)``) replaces the tokens for classifier-free guidance.

**Transformer** (:class:`STDiT`, after Open-Sora 1.2/1.3 STDiT3, Zheng et al. 2024): a 3-D patch
embedding (Conv3d, patch (1, 2, 2)); ``depth`` pairs of blocks, a *spatial* block (attention among
the tokens of one frame, optionally within ``spatial_window`` windows as the seed's 8×8) then a
*temporal* block (attention across frames at one position); each block = adaLN-modulated
self-attention (qk RMS-norm) + cross-attention to the light-curve tokens + adaLN-modulated MLP,
modulation ``(shift, scale, gate)×2 = table + t_block(t)`` (Peebles & Xie 2023, DiT; adaLN-zero:
the modulation projection and the output layer start at zero). Positions: rotary (2-D in space, 1-D
in time; Su et al. 2021) or additive sine-cosine. Attention runs through
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on the GPU).

Presets (``create_model``): ``stdit_tiny`` (CI), ``stdit_small``, ``stdit_base``, ``stdit_xl``
(depth 28, hidden 1152, 16 heads: the seed's ``Sunspot_STDiT3-XL/2`` size, ≈1.2 billion
parameters here — configuration only, use :func:`stdit_param_count` to size it without building it).
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from solarmodels.registry import register_model

__all__ = ["FourierEncoder", "CaptionEmbedder", "STDiTConfig", "STDiT", "stdit_param_count",
           "STDIT_PRESETS"]


# --------------------------------------------------------------------------- light-curve encoder


def _fourier(values: torch.Tensor, half: int, max_period: float) -> torch.Tensor:
    k = torch.arange(half, device=values.device, dtype=torch.float32)
    freqs = torch.exp(-math.log(max_period) * k / half)
    args = values.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class FourierEncoder(nn.Module):
    """The seed's parameter-free light-curve encoder (module docstring).

    Parameters
    ----------
    mapping_size : int
        Token size (256 in the seed's stages 1–2, 1024 in stage 3); even.
    max_period : float
        ``P`` of ``f_k = exp(−ln(P) k/h)`` (10⁴).
    max_length : int
        Padded number of tokens (64).
    time_code : bool
        Add the sinusoidal code of the observation times (hours since the first value).
    time_period : float
        ``P`` of the time code (hours).
    """

    def __init__(self, mapping_size: int = 256, max_period: float = 10000.0, max_length: int = 64,
                 time_code: bool = False, time_period: float = 10000.0):
        super().__init__()
        if mapping_size % 2:
            raise ValueError(f"mapping_size must be even, not {mapping_size}")
        self.mapping_size = int(mapping_size)
        self.max_period = float(max_period)
        self.max_length = int(max_length)
        self.time_code = bool(time_code)
        self.time_period = float(time_period)

    def forward(self, values: torch.Tensor, times: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``(B, max_length, mapping_size)`` and mask ``(B, max_length)`` of ``values`` (B, L)."""
        if values.dim() != 2:
            raise ValueError(f"light-curve values must be (batch, length), got {tuple(values.shape)}")
        b, length = values.shape
        if length > self.max_length:
            raise ValueError(f"light curve of {length} values is longer than max_length="
                             f"{self.max_length}; raise FourierEncoder.max_length")
        half = self.mapping_size // 2
        tokens = _fourier(values, half, self.max_period)
        if self.time_code:
            if times is None:
                raise ValueError("time_code=True needs the observation times (hours), got None")
            tau = times.float() - times.float()[:, :1]
            tokens = tokens + _fourier(tau, half, self.time_period)
        out = values.new_zeros((b, self.max_length, self.mapping_size), dtype=tokens.dtype)
        out[:, :length] = tokens
        m = torch.zeros((b, self.max_length), dtype=torch.bool, device=values.device)
        m[:, :length] = True if mask is None else mask.bool()
        return out, m


class CaptionEmbedder(nn.Module):
    """Learned MLP ``mapping → hidden → hidden`` (GELU-tanh) with a learned null sequence for CFG."""

    def __init__(self, mapping_size: int, hidden_size: int, max_length: int):
        super().__init__()
        self.fc1 = nn.Linear(mapping_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.y_embedding = nn.Parameter(torch.randn(max_length, mapping_size) / mapping_size ** 0.5)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, null: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        # no ``if null.any()``: that would sync the host, and DDP needs the null sequence in
        # every graph (it then gets a zero gradient when no sample of the batch is dropped)
        if null is not None:
            sel = null.view(-1, 1, 1)
            tokens = torch.where(sel, self.y_embedding[None].to(tokens.dtype), tokens)
            mask = torch.where(null.view(-1, 1), torch.ones_like(mask), mask)
        return self.fc2(F.gelu(self.fc1(tokens), approximate="tanh")), mask


# --------------------------------------------------------------------------- transformer parts


def _timestep_sinusoid(t, dim=256, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device,
                                                           dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _modulate(x, shift, scale):
    return x * (1 + scale) + shift


def _rope_tables(pos: torch.Tensor, dim: int, theta: float = 10000.0):
    inv = 1.0 / theta ** (torch.arange(0, dim, 2, device=pos.device, dtype=torch.float32) / dim)
    ang = pos.float()[..., None] * inv
    return torch.cos(ang), torch.sin(ang)


def _apply_rope(x, cos, sin):
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class _RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class _SelfAttention(nn.Module):
    def __init__(self, dim, heads, qk_norm):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        hd = dim // heads
        self.q_norm = _RMSNorm(hd) if qk_norm else nn.Identity()
        self.k_norm = _RMSNorm(hd) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rope=None):
        n, length, c = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = rope(q), rope(k)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, length, c))


class _CrossAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, y, mask):
        b, n, c = x.shape
        h, hd = self.heads, c // self.heads
        q = self.q(x).view(b, n, h, hd).transpose(1, 2)
        k, v = self.kv(y).view(b, y.shape[1], 2, h, hd).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _Block(nn.Module):
    """One STDiT3 block: adaLN self-attention (spatial or temporal), cross-attention, adaLN MLP."""

    def __init__(self, dim, heads, mlp_ratio, qk_norm, temporal):
        super().__init__()
        self.temporal = temporal
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        self.attn = _SelfAttention(dim, heads, qk_norm)
        self.cross = _CrossAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim) / dim ** 0.5)

    def forward(self, x, y, ymask, t_mod, layout):
        b, T, S, c = x.shape
        mod = self.scale_shift_table[None] + t_mod.view(b, 6, c)
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = [m[:, None, None] for m in
                                                              mod.unbind(1)]
        h = _modulate(self.norm1(x), shift_a, scale_a)
        if self.temporal:
            seq = h.permute(0, 2, 1, 3).reshape(b * S, T, c)
            out = self.attn(seq, layout.temporal_rope).view(b, S, T, c).permute(0, 2, 1, 3)
        else:
            seq = layout.to_windows(h.reshape(b * T, S, c))
            out = layout.from_windows(self.attn(seq, layout.spatial_rope)).view(b, T, S, c)
        x = x + gate_a * out
        x = x + self.cross(x.reshape(b, T * S, c), y, ymask).view(b, T, S, c)
        h = _modulate(self.norm2(x), shift_m, scale_m)
        return x + gate_m * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


class _Layout:
    """Token grid of one forward: spatial windows and rotary tables."""

    def __init__(self, T, Hp, Wp, window, head_dim, rope, device):
        self.T, self.Hp, self.Wp = T, Hp, Wp
        wh, ww = (window or (Hp, Wp))
        wh, ww = min(wh, Hp), min(ww, Wp)
        if Hp % wh or Wp % ww:
            raise ValueError(f"token grid {Hp}x{Wp} is not divisible by the spatial window "
                             f"{wh}x{ww}; change the image size or spatial_window")
        self.wh, self.ww = wh, ww
        self.windowed = (wh, ww) != (Hp, Wp)
        self.spatial_rope = self.temporal_rope = None
        if rope:
            yy, xx = torch.meshgrid(torch.arange(Hp, device=device), torch.arange(Wp, device=device),
                                    indexing="ij")
            pos = torch.stack([yy, xx], -1)                    # (Hp, Wp, 2)
            pos = self._partition(pos[None].float()).squeeze(0) if self.windowed else \
                pos.reshape(1, Hp * Wp, 2).float()             # (nW, win, 2)
            quarter = head_dim // 2
            cy, sy = _rope_tables(pos[..., 0], quarter)
            cx, sx = _rope_tables(pos[..., 1], quarter)
            nw = pos.shape[0]

            def spatial(q):                                    # q: (N·nW, heads, win, hd)
                n = q.shape[0] // nw
                qq = q.view(n, nw, *q.shape[1:])
                a = _apply_rope(qq[..., :quarter], cy[None, :, None], sy[None, :, None])
                bb = _apply_rope(qq[..., quarter:], cx[None, :, None], sx[None, :, None])
                return torch.cat([a, bb], -1).view_as(q)

            ct, st = _rope_tables(torch.arange(T, device=device), head_dim)
            self.spatial_rope = spatial
            self.temporal_rope = lambda q: _apply_rope(q, ct, st)

    def _partition(self, x):                                   # (N, Hp, Wp, c) → (N·nW, win, c)
        n, c = x.shape[0], x.shape[-1]
        x = x.view(n, self.Hp // self.wh, self.wh, self.Wp // self.ww, self.ww, c)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, self.wh * self.ww, c)

    def to_windows(self, seq):                                 # (N, S, c)
        if not self.windowed:
            return seq
        return self._partition(seq.view(seq.shape[0], self.Hp, self.Wp, seq.shape[-1]))

    def from_windows(self, seq):
        if not self.windowed:
            return seq
        c = seq.shape[-1]
        nh, nw = self.Hp // self.wh, self.Wp // self.ww
        x = seq.view(-1, nh, nw, self.wh, self.ww, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(-1, self.Hp * self.Wp, c)


def _sincos_1d(pos, dim):
    half = dim // 2
    omega = 1.0 / 10000 ** (torch.arange(half, device=pos.device, dtype=torch.float32) / half)
    ang = pos.float()[:, None] * omega[None]
    return torch.cat([torch.sin(ang), torch.cos(ang)], -1)


# --------------------------------------------------------------------------- the network


@dataclasses.dataclass
class STDiTConfig:
    """Configuration of :class:`STDiT` (defaults: the ``stdit_small`` preset).

    Attributes
    ----------
    in_channels, out_channels : int
        Pixel (or latent) channels; ``out_channels = 0`` means ``in_channels``.
    patch_size : tuple
        (frames, rows, cols) per token; (1, 2, 2) as the seed.
    hidden_size, depth, num_heads, mlp_ratio : model size (``depth`` spatial + ``depth`` temporal blocks)
    qk_norm : bool
    spatial_window : tuple or None
        Token window of the spatial attention (the seed's (8, 8)); None = whole frame.
    pos_embed : {"rope", "sincos"}
    mapping_size, max_period, max_length, time_code, time_period : the Fourier encoder
    """

    in_channels: int = 1
    out_channels: int = 0
    patch_size: tuple = (1, 2, 2)
    hidden_size: int = 256
    depth: int = 6
    num_heads: int = 8
    mlp_ratio: float = 4.0
    qk_norm: bool = True
    spatial_window: tuple | None = None
    pos_embed: str = "rope"
    mapping_size: int = 256
    max_period: float = 10000.0
    max_length: int = 64
    time_code: bool = False
    time_period: float = 10000.0


STDIT_PRESETS = {
    "stdit_tiny": dict(hidden_size=64, depth=2, num_heads=4, mapping_size=64),
    "stdit_small": dict(hidden_size=256, depth=6, num_heads=8),
    "stdit_base": dict(hidden_size=768, depth=12, num_heads=12, spatial_window=(8, 8)),
    "stdit_xl": dict(hidden_size=1152, depth=28, num_heads=16, spatial_window=(8, 8)),
}


class STDiT(nn.Module):
    """Spatial-temporal diffusion transformer conditioned on a light curve (module docstring).

    Forward: ``x`` (B, C, T, H, W); ``t`` (B,) diffusion time (0..1000); ``cond`` a dict with
    ``"values"`` (B, L) light-curve values (z-scored) and optional ``"mask"`` (B, L),
    ``"times"`` (B, L, hours) and ``"channels"`` (B, C_c, T, H, W), frames concatenated to ``x``
    along the channels before the patch embedding (e.g. the limb-darkened disk; then
    ``in_channels = C + C_c`` and ``out_channels = C``; never dropped for guidance), or the
    (B, L) values tensor itself; ``null`` (B,) bool selects the learned null sequence
    (classifier-free guidance). Returns (B, C_out, T, H, W).
    """

    def __init__(self, config: STDiTConfig):
        super().__init__()
        cfg = config
        self.config = cfg
        h = cfg.hidden_size
        if h % cfg.num_heads:
            raise ValueError(f"hidden_size {h} is not divisible by num_heads {cfg.num_heads}")
        self.head_dim = h // cfg.num_heads
        if cfg.pos_embed not in ("rope", "sincos"):
            raise ValueError(f"pos_embed must be 'rope' or 'sincos', not {cfg.pos_embed!r}")
        if cfg.pos_embed == "rope" and self.head_dim % 4:
            raise ValueError(f"rotary positions need a head size divisible by 4, got {self.head_dim}")
        self.out_channels = cfg.out_channels or cfg.in_channels
        self.patch = tuple(cfg.patch_size)
        self.encoder = FourierEncoder(cfg.mapping_size, cfg.max_period, cfg.max_length,
                                      cfg.time_code, cfg.time_period)
        self.x_embedder = nn.Conv3d(cfg.in_channels, h, kernel_size=self.patch, stride=self.patch)
        self.t_fc1 = nn.Linear(256, h)
        self.t_fc2 = nn.Linear(h, h)
        self.t_block = nn.Linear(h, 6 * h)
        self.y_embedder = CaptionEmbedder(cfg.mapping_size, h, cfg.max_length)
        self.blocks = nn.ModuleList()
        for _ in range(cfg.depth):
            self.blocks.append(_Block(h, cfg.num_heads, cfg.mlp_ratio, cfg.qk_norm, temporal=False))
            self.blocks.append(_Block(h, cfg.num_heads, cfg.mlp_ratio, cfg.qk_norm, temporal=True))
        self.final_norm = nn.LayerNorm(h, eps=1e-6, elementwise_affine=False)
        self.final_table = nn.Parameter(torch.randn(2, h) / h ** 0.5)
        self.final_linear = nn.Linear(h, math.prod(self.patch) * self.out_channels)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.t_fc1.weight, std=0.02)
        nn.init.normal_(self.t_fc2.weight, std=0.02)
        nn.init.zeros_(self.t_block.weight)          # adaLN-zero: modulation starts at the table
        for blk in self.blocks:
            nn.init.zeros_(blk.cross.proj.weight)
        nn.init.zeros_(self.final_linear.weight)

    def encode_condition(self, cond: torch.Tensor | dict[str, torch.Tensor] | None, batch: int,
                         device: torch.device | str, null: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Light-curve tokens ``(B, max_length, hidden)`` and mask from ``cond`` (see forward)."""
        if cond is None:
            values = torch.zeros(batch, 1, device=device)
            null = torch.ones(batch, dtype=torch.bool, device=device)
            mask = times = None
        elif isinstance(cond, dict):
            values, mask, times = cond["values"], cond.get("mask"), cond.get("times")
        else:
            values, mask, times = cond, None, None
        if times is None and self.config.time_code:
            times = torch.arange(values.shape[1], device=device).float()[None].expand_as(values)
        tokens, m = self.encoder(values.to(device), times, mask)
        return self.y_embedder(tokens, m, null)

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                cond: torch.Tensor | dict[str, torch.Tensor] | None = None,
                null: torch.Tensor | None = None) -> torch.Tensor:
        if isinstance(cond, dict) and cond.get("channels") is not None:
            x = torch.cat([x, cond["channels"].to(x.dtype)], dim=1)
        if x.shape[1] != self.config.in_channels:
            raise ValueError(f"STDiT built for {self.config.in_channels} input channels got "
                             f"{x.shape[1]} (x plus cond['channels'])")
        b, c, T, H, W = x.shape
        pt, ph, pw = self.patch
        if T % pt or H % ph or W % pw:
            raise ValueError(f"input (T={T}, H={H}, W={W}) not divisible by patch {self.patch}")
        Tp, Hp, Wp = T // pt, H // ph, W // pw
        tokens = self.x_embedder(x).flatten(3).permute(0, 2, 3, 1)       # (B, Tp, Hp·Wp, h)
        if self.config.pos_embed == "sincos":
            hd = tokens.shape[-1]
            yy, xx = torch.meshgrid(torch.arange(Hp, device=x.device),
                                    torch.arange(Wp, device=x.device), indexing="ij")
            spatial = torch.cat([_sincos_1d(yy.reshape(-1), hd // 2),
                                 _sincos_1d(xx.reshape(-1), hd // 2)], -1)
            temporal = _sincos_1d(torch.arange(Tp, device=x.device), hd)
            tokens = tokens + spatial[None, None].to(tokens.dtype) + temporal[None, :, None].to(
                tokens.dtype)
        temb = self.t_fc2(F.silu(self.t_fc1(_timestep_sinusoid(t).to(tokens.dtype))))
        t_mod = self.t_block(F.silu(temb))
        y, ymask = self.encode_condition(cond, b, x.device, null)
        layout = _Layout(Tp, Hp, Wp, self.config.spatial_window, self.head_dim,
                         self.config.pos_embed == "rope", x.device)
        for blk in self.blocks:
            tokens = blk(tokens, y.to(tokens.dtype), ymask, t_mod, layout)
        shift, scale = (self.final_table[None] + temb[:, None]).unbind(1)
        out = self.final_linear(_modulate(self.final_norm(tokens), shift[:, None, None],
                                          scale[:, None, None]))
        out = out.view(b, Tp, Hp, Wp, pt, ph, pw, self.out_channels)
        return out.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, self.out_channels, T, H, W)


def stdit_param_count(config: STDiTConfig | dict | str) -> int:
    """Number of parameters of :class:`STDiT` for ``config`` (a preset name allowed), by formula.

    ``patch`` ``C·p·h + h``; time MLP ``256h + h + h² + h``; ``t_block`` ``6h² + 6h``; caption MLP
    ``m h + h + h² + h`` and null sequence ``L m``; per block (``2·depth``): self-attention
    ``4h² + 4h`` (+ ``2 h/heads`` qk-norm), cross-attention ``4h² + 4h``, MLP ``2 h r h + r h + h``,
    table ``6h``; final table ``2h`` and linear ``h·p·C_out + p·C_out``.
    """
    if isinstance(config, str):
        config = STDiTConfig(**STDIT_PRESETS[config])
    elif isinstance(config, dict):
        config = STDiTConfig(**config)
    h, m, L = config.hidden_size, config.mapping_size, config.max_length
    p = math.prod(config.patch_size)
    cout = config.out_channels or config.in_channels
    r = int(h * config.mlp_ratio)
    total = config.in_channels * p * h + h
    total += 256 * h + h + h * h + h
    total += 6 * h * h + 6 * h
    total += m * h + h + h * h + h + L * m
    block = 4 * h * h + 4 * h + 4 * h * h + 4 * h + (h * r + r + r * h + h) + 6 * h
    if config.qk_norm:
        block += 2 * (h // config.num_heads)
    total += 2 * config.depth * block
    total += 2 * h + h * p * cout + p * cout
    return total


def _preset_config(name):
    fields = {"__annotations__": {}}
    for k, v in STDIT_PRESETS[name].items():
        fields["__annotations__"][k] = type(v) if v is not None else object
        fields[k] = v
    return dataclasses.dataclass(type(f"{name.title().replace('_', '')}Config", (STDiTConfig,), fields))


def _register(name, description):
    cfg_cls = STDiTConfig if name == "stdit_small" else _preset_config(name)

    def _build(config):
        return STDiT(config)

    _build.__qualname__ = _build.__name__ = f"build_{name}"
    register_model(name, cfg_cls, family="diffusion", description=description)(_build)
    return cfg_cls


for _name, _desc in (("stdit_tiny", "light-curve-to-video STDiT, tiny (CI)"),
                     ("stdit_small", "light-curve-to-video STDiT, small"),
                     ("stdit_base", "light-curve-to-video STDiT, base (windowed 8x8)"),
                     ("stdit_xl", "light-curve-to-video STDiT, XL: depth 28, hidden 1152, 16 heads "
                                  "(seed size; configuration only on CPU)")):
    _register(_name, _desc)
