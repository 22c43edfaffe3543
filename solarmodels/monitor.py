"""Training you can watch: TensorBoard scalars and image grids, written by rank 0.

:class:`Monitor` wraps ``torch.utils.tensorboard.SummaryWriter`` (``pip install tensorboard``;
part of the ``models`` extra): every trainer log row becomes scalars (``train/loss_g``,
``train/lr_g``, ``val/val_loss``...), and every ``train.image_every`` steps
:func:`preview_grid` draws one grid from a fixed batch of validation samples:

* image translation (the batch has a ``"target"`` shaped like the output): one row per sample,
  columns input | output | target, output and target on one grey scale;
* generative systems (no target): columns sample | real data, on one scale.

Video tensors (B, C, T, H, W) show up to 8 evenly spaced frames side by side; the first channel
of each is drawn. Watch with ``tensorboard --logdir runs/NAME/tensorboard``.
"""
from __future__ import annotations

import logging
import pathlib
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from solarmodels.systems.base import System

__all__ = ["Monitor", "image_grid", "preview_grid"]

logger = logging.getLogger(__name__)

MAX_FRAMES = 8


def _panel(sample: torch.Tensor) -> torch.Tensor:
    """One sample (C, H, W) or (C, T, H, W) as a 2-D image (first channel, frames side by side)."""
    x = sample[0].float()
    if x.ndim == 3:
        idx = torch.linspace(0, x.shape[0] - 1, min(MAX_FRAMES, x.shape[0])).round().long()
        x = torch.cat(list(x[idx.to(x.device)]), dim=1)
    return x


def _limits(panels) -> tuple[float, float]:
    values = torch.cat([p.reshape(-1) for p in panels])
    values = values[torch.isfinite(values)]
    if values.numel() == 0:
        return 0.0, 1.0
    if values.numel() > 100_000:
        values = values[torch.linspace(0, values.numel() - 1, 100_000).long()]
    lo, hi = torch.quantile(values, torch.tensor([0.01, 0.99], dtype=values.dtype)).tolist()
    return lo, hi if hi > lo else lo + 1.0


def image_grid(columns: Sequence[torch.Tensor], groups: Sequence[int] | None = None, *,
               pad: int = 2) -> torch.Tensor:
    """Grid (H, W) in [0, 1]: one row per sample, one column per tensor of ``columns``.

    Parameters
    ----------
    columns : list of Tensor
        Each (B, C, H, W) or (B, C, T, H, W), the same B and panel size.
    groups : list of int, optional
        Columns of the same group share one grey scale (1st-99th percentile); default all one.
    pad : int
        Pixels of padding between panels.
    """
    groups = list(groups) if groups is not None else [0] * len(columns)
    panels = [[_panel(s).detach().cpu() for s in col] for col in columns]
    limits = {g: _limits([p for col, cg in zip(panels, groups) if cg == g for p in col])
              for g in set(groups)}
    rows = []
    for i in range(len(panels[0])):
        row = []
        for col, g in zip(panels, groups):
            lo, hi = limits[g]
            img = ((col[i] - lo) / (hi - lo)).clamp(0, 1).nan_to_num(0.0)
            row.append(torch.nn.functional.pad(img, (pad, pad, pad, pad), value=1.0))
        rows.append(torch.cat(row, dim=1))
    return torch.cat(rows, dim=0)


def preview_grid(system: System, batch: dict[str, torch.Tensor]) -> tuple[str, torch.Tensor] | None:
    """``(tag, grid)`` of ``system.predict(batch)`` beside its input and target (or beside the
    real samples for generative systems); None when the output is not an image or video."""
    out = system.predict(batch)
    if not isinstance(out, torch.Tensor) or out.ndim not in (4, 5):
        return None
    inp, tgt = batch.get("input"), batch.get("target")
    if isinstance(tgt, torch.Tensor) and tgt.shape == out.shape:
        if isinstance(inp, torch.Tensor) and inp.ndim == out.ndim:
            return "images/input_output_target", image_grid([inp, out, tgt], [0, 1, 1])
        return "images/output_target", image_grid([out, tgt])
    if isinstance(inp, torch.Tensor) and inp.shape == out.shape:
        return "images/samples_real", image_grid([out, inp])
    return "images/samples", image_grid([out])


class Monitor:
    """TensorBoard writer of a run (create it on rank 0 only).

    Parameters
    ----------
    log_dir : path-like
    purge_step : int, optional
        After a resume: drop the events at and after this step that the interrupted run wrote.
    """

    def __init__(self, log_dir: str | os.PathLike[str], *, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = pathlib.Path(log_dir)
        self.writer = SummaryWriter(str(self.log_dir), purge_step=purge_step, flush_secs=10)

    def scalars(self, row: dict) -> None:
        """Write the numbers of one trainer log row as ``<split>/<name>`` at ``row["step"]``."""
        step, split = row["step"], row.get("split", "train")
        for key, value in row.items():
            if key not in ("step", "split") and isinstance(value, (int, float)):
                self.writer.add_scalar(f"{split}/{key}", value, step)

    def image(self, tag: str, grid: torch.Tensor, step: int) -> None:
        """Write a (H, W) grid in [0, 1]."""
        self.writer.add_image(tag, grid, step, dataformats="HW")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
