"""SOLARED networks (seed 5): continuum intensity of 63 tiles from 120 h of tile time series.

Both networks map a window of per-tile time series ``(B, T, C, N)`` (T = 120 time steps,
C = 5 channels: the acoustic power in the 2–3, 3–4, 4–5 and 5–6 mHz bands and the mean
unsigned flux, N = 63 tiles of the 7×9 grid, row-major) to one value per tile ``(B, N)``:
the continuum intensity ``lead`` steps after the window.

* :class:`SpatioTemporalAttention` — the SuryaBench transformer: a linear embedding of the
  channels, a temporal transformer per tile, a spatial transformer per time step, the mean
  over time and a linear head (200,385 parameters at the seed's configuration).
* :class:`SpatioTemporalResNet` — the SuryaBench 3-D ResNet: torchvision's ``r3d_18``
  (Tran et al. 2018) with a 5-channel stem and 63 outputs, written out here (no torchvision
  needed) with torchvision's parameter names under ``backbone.``, so that a torchvision
  ``r3d_18`` state dict loads into :attr:`SpatioTemporalResNet.backbone` unchanged
  (33,217,407 parameters).

The seed treats the 63 tiles as a 1-D strip (1-D tile positions; a 1×63 image for the 3-D
ResNet). With ``grid=(7, 9)`` both networks keep the 2-D tile geometry instead: 2-D
sinusoidal tile positions (row, column) for the transformer, a 7×9 image for the ResNet.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..registry import register_model

__all__ = ["SinusoidalPositions", "SpatioTemporalAttention", "SpatioTemporalAttentionConfig",
           "SpatioTemporalAttentionGridConfig", "VideoResNet18", "SpatioTemporalResNet",
           "SpatioTemporalResNetConfig", "SpatioTemporalResNetGridConfig", "sinusoidal_table",
           "sinusoidal_table_2d", "tiles_to_video"]


def sinusoidal_table(length: int, d_model: int) -> torch.Tensor:
    """Sinusoidal position table of Vaswani et al. (2017), ``(length, d_model)``.

    ``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``.
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even for sinusoidal positions, not {d_model}")
    position = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64)
                     * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table.float()


def sinusoidal_table_2d(rows: int, cols: int, d_model: int) -> torch.Tensor:
    """2-D sinusoidal positions of a row-major ``rows × cols`` grid, ``(rows·cols, d_model)``.

    The first ``d_model/2`` features encode the row index, the last ``d_model/2`` the column
    index, each with :func:`sinusoidal_table` (as the 2-D sin-cos embedding of MAE, He et al. 2022).
    """
    if d_model % 4:
        raise ValueError(f"d_model must be a multiple of 4 for 2-D positions, not {d_model}")
    row = sinusoidal_table(rows, d_model // 2)[:, None, :].expand(rows, cols, d_model // 2)
    col = sinusoidal_table(cols, d_model // 2)[None, :, :].expand(rows, cols, d_model // 2)
    return torch.cat([row, col], dim=-1).reshape(rows * cols, d_model)


class SinusoidalPositions(nn.Module):
    """Adds a fixed position table to a ``(batch, sequence, d_model)`` tensor (no parameters)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table[None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        if n > self.table.shape[1]:
            raise ValueError(f"sequence of {n} is longer than the {self.table.shape[1]} "
                             "positions of the table; raise time_steps / num_tiles in the config")
        return x + self.table[:, :n].to(x.dtype)


def _check_grid(grid, num_tiles):
    if grid is None:
        return None
    grid = tuple(int(g) for g in grid)
    if len(grid) != 2 or grid[0] * grid[1] != num_tiles:
        raise ValueError(f"grid {grid} must be (rows, cols) with rows·cols = num_tiles "
                         f"({num_tiles}); use grid=(7, 9) for the 63 SOLARED tiles")
    return grid


@dataclasses.dataclass
class SpatioTemporalAttentionConfig:
    """Configuration of :class:`SpatioTemporalAttention` (defaults: the SuryaBench seed).

    Attributes
    ----------
    time_steps : int
        Window length T (length of the temporal position table).
    num_channels : int
        Input channels C.
    num_tiles : int
        Tiles N (length of the spatial position table).
    d_model, nhead, num_layers, dim_feedforward, dropout
        Transformer width, heads, layers per encoder, feed-forward width and dropout
        (post-LN, ReLU, as ``torch.nn.TransformerEncoderLayer``'s defaults).
    grid : tuple of int or None
        ``None``: 1-D tile positions 0…N-1 (the seed). ``(rows, cols)``: 2-D positions of the
        row-major tile grid.
    """

    time_steps: int = 120
    num_channels: int = 5
    num_tiles: int = 63
    d_model: int = 64
    nhead: int = 8
    num_layers: int = 2
    dim_feedforward: int = 256
    dropout: float = 0.1
    grid: tuple[int, int] | None = None


@dataclasses.dataclass
class SpatioTemporalAttentionGridConfig(SpatioTemporalAttentionConfig):
    """:class:`SpatioTemporalAttentionConfig` with the 7×9 tile grid (2-D positions)."""

    grid: tuple[int, int] | None = (7, 9)


def _encoder(cfg):
    layer = nn.TransformerEncoderLayer(d_model=cfg.d_model, nhead=cfg.nhead,
                                       dim_feedforward=cfg.dim_feedforward, dropout=cfg.dropout,
                                       activation="relu", batch_first=True, norm_first=False)
    return nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)


class SpatioTemporalAttention(nn.Module):
    """Two-stage (temporal, then spatial) transformer of SuryaBench's AR-emergence baseline.

    ``(B, T, C, N) → (B, N)``: ``h = Linear(C→d)(x)``; per tile, ``h ← Enc_t(h + PE_t)`` over
    the T time steps; per time step, ``h ← Enc_s(h + PE_s)`` over the N tiles; then
    ``y = Linear(d→1)(mean_t h)``. ``PE_t`` is the sinusoidal table of Vaswani et al. (2017)
    over time; ``PE_s`` is the same over the tile number (seed) or the 2-D table of
    :func:`sinusoidal_table_2d` over (row, column) when ``config.grid`` is set.
    """

    def __init__(self, config: SpatioTemporalAttentionConfig | None = None) -> None:
        super().__init__()
        cfg = config or SpatioTemporalAttentionConfig()
        self.config = cfg
        self.grid = _check_grid(cfg.grid, cfg.num_tiles)
        self.input_proj = nn.Linear(cfg.num_channels, cfg.d_model)
        self.temporal_pos_enc = SinusoidalPositions(sinusoidal_table(cfg.time_steps, cfg.d_model))
        spatial = (sinusoidal_table(cfg.num_tiles, cfg.d_model) if self.grid is None
                   else sinusoidal_table_2d(*self.grid, cfg.d_model))
        self.spatial_pos_enc = SinusoidalPositions(spatial)
        self.temporal_encoder = _encoder(cfg)
        self.spatial_encoder = _encoder(cfg)
        self.fc = nn.Linear(cfg.d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape (B, T, C, N) → (B, N)."""
        b, t, c, n = x.shape
        if n != self.config.num_tiles or c != self.config.num_channels:
            raise ValueError(f"input has {c} channels and {n} tiles; the model was built for "
                             f"{self.config.num_channels} channels and {self.config.num_tiles} "
                             "tiles (x must be (batch, time, channel, tile))")
        h = self.input_proj(x.permute(0, 3, 1, 2).reshape(b * n, t, c))     # (B·N, T, d)
        h = self.temporal_encoder(self.temporal_pos_enc(h))
        d = h.shape[-1]
        h = h.reshape(b, n, t, d).transpose(1, 2).reshape(b * t, n, d)     # (B·T, N, d)
        h = self.spatial_encoder(self.spatial_pos_enc(h))
        h = h.reshape(b, t, n, d).mean(dim=1)                              # (B, N, d)
        return self.fc(h).squeeze(-1)

    def output_layer(self) -> nn.Module:
        """The final linear layer (zeroed by the SOLARED system to start from a baseline)."""
        return self.fc


# ---------------------------------------------------------------------------------------------
# R3D-18 (Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions for Action
# Recognition", CVPR), with torchvision's module layout and parameter names.

def _conv3x3x3(cin, cout, stride=1):
    return nn.Conv3d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class _BasicBlock(nn.Module):
    """Residual block: two 3×3×3 convolutions with batch norm; names as torchvision's."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Sequential(_conv3x3x3(cin, cout, stride), nn.BatchNorm3d(cout),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(_conv3x3x3(cout, cout), nn.BatchNorm3d(cout))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv3d(cin, cout, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm3d(cout))

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


class VideoResNet18(nn.Module):
    """R3D-18 with torchvision's parameter names (``stem.0``, ``layer1.0.conv1.0``, …, ``fc``).

    Parameters
    ----------
    in_channels : int
        Input channels of the stem ``Conv3d(in, w, k=(3,7,7), s=(1,2,2), p=(1,3,3))``.
    num_outputs : int
        Outputs of the final ``Linear(8w → num_outputs)``.
    width : int
        Channels of the stem and first stage (64 in R3D-18; stages have w, 2w, 4w, 8w).
    blocks : tuple of int
        Residual blocks per stage ((2, 2, 2, 2) in R3D-18).

    Notes
    -----
    Weights are initialised as torchvision's ``VideoResNet``: Kaiming-normal (fan-out, ReLU)
    convolutions, unit/zero batch norm, ``N(0, 0.01)`` linear weights and zero biases.
    """

    def __init__(self, in_channels: int = 3, num_outputs: int = 400, width: int = 64,
                 blocks: tuple[int, ...] = (2, 2, 2, 2)) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, width, kernel_size=(3, 7, 7), stride=(1, 2, 2),
                      padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width), nn.ReLU(inplace=True))
        cin = width
        for i, n_blocks in enumerate(blocks):
            cout = width * 2 ** i
            stride = 1 if i == 0 else 2
            layers = [_BasicBlock(cin, cout, stride)]
            layers += [_BasicBlock(cout, cout) for _ in range(n_blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
            cin = cout
        self.n_stages = len(blocks)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(cin, num_outputs)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape (B, C, T, H, W) → (B, num_outputs)."""
        x = self.stem(x)
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def tiles_to_video(x: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
    """``(B, T, C, N)`` tile series → ``(B, C, T, H, W)`` video for a 3-D CNN.

    ``grid=None`` gives the seed's 1×N strip; ``grid=(rows, cols)`` the row-major tile grid.
    """
    b, t, c, n = x.shape
    h, w = (1, n) if grid is None else grid
    if h * w != n:
        raise ValueError(f"{n} tiles do not fill a {h}×{w} grid")
    return x.reshape(b, t, c, h, w).transpose(1, 2)


@dataclasses.dataclass
class SpatioTemporalResNetConfig:
    """Configuration of :class:`SpatioTemporalResNet` (defaults: the SuryaBench seed).

    Attributes
    ----------
    num_channels : int
        Input channels (stem input).
    num_tiles : int
        Outputs, one per tile.
    width : int
        R3D-18 base width (64; smaller only for tests).
    blocks : tuple of int
        Residual blocks per stage.
    grid : tuple of int or None
        ``None``: tiles as a 1×N strip (the seed); ``(rows, cols)``: the 2-D tile grid.
    """

    num_channels: int = 5
    num_tiles: int = 63
    width: int = 64
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    grid: tuple[int, int] | None = None


@dataclasses.dataclass
class SpatioTemporalResNetGridConfig(SpatioTemporalResNetConfig):
    """:class:`SpatioTemporalResNetConfig` with the 7×9 tile grid as the image plane."""

    grid: tuple[int, int] | None = (7, 9)


class SpatioTemporalResNet(nn.Module):
    """SuryaBench's SpatioTemporalResNet: R3D-18, 5-channel stem, one output per tile.

    ``(B, T, C, N) → (B, N)``: the tiles become a ``1 × N`` image (seed) or the ``rows × cols``
    grid, time the depth axis, and :attr:`backbone` (a :class:`VideoResNet18`, parameter names
    as torchvision's ``r3d_18``) maps the ``(B, C, T, H, W)`` video to N values.
    """

    def __init__(self, config: SpatioTemporalResNetConfig | None = None) -> None:
        super().__init__()
        cfg = config or SpatioTemporalResNetConfig()
        self.config = cfg
        self.grid = _check_grid(cfg.grid, cfg.num_tiles)
        self.backbone = VideoResNet18(cfg.num_channels, cfg.num_tiles, cfg.width,
                                      tuple(cfg.blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape (B, T, C, N) → (B, N)."""
        if x.shape[2] != self.config.num_channels or x.shape[3] != self.config.num_tiles:
            raise ValueError(f"input {tuple(x.shape)} must be (batch, time, "
                             f"{self.config.num_channels} channels, "
                             f"{self.config.num_tiles} tiles)")
        return self.backbone(tiles_to_video(x, self.grid))

    def output_layer(self) -> nn.Module:
        """The final linear layer (zeroed by the SOLARED system to start from a baseline)."""
        return self.backbone.fc



@register_model("solared_attention", SpatioTemporalAttentionConfig, family="solared",
                description="SuryaBench SpatioTemporalAttention, 1-D tile positions (seed)")
def _build_attention(config):
    return SpatioTemporalAttention(config)


@register_model("solared_attention_grid", SpatioTemporalAttentionGridConfig, family="solared",
                description="SpatioTemporalAttention with 2-D (7×9) tile positions")
def _build_attention_grid(config):
    return SpatioTemporalAttention(config)


@register_model("solared_resnet3d", SpatioTemporalResNetConfig, family="solared",
                description="SuryaBench SpatioTemporalResNet (R3D-18), tiles as a 1×63 strip")
def _build_resnet(config):
    return SpatioTemporalResNet(config)


@register_model("solared_resnet3d_grid", SpatioTemporalResNetGridConfig, family="solared",
                description="SpatioTemporalResNet (R3D-18) on the 7×9 tile grid")
def _build_resnet_grid(config):
    return SpatioTemporalResNet(config)
