"""Training system of the SOLARED models (seed 5): regression of the 63 tile intensities.

Seed defaults (SuryaBench ``ar_emergence``): Adam with learning rate 0.01, batch 32 (set
``train.batch_size``), loss ``MSELoss(reduction="sum") / batch`` — the squared error summed
over the 63 tiles, averaged over the samples. ``loss="mean"`` averages over tiles as well
(63 times smaller, the same minimum).

Options beyond the seed (issue 18; ``docs/solared_models.md`` has the variants table):

* ``residual = true``: the network predicts the change from the last observation,
  ``ŷ = y_last + f_θ(x)`` (``y_last`` the persistence forecast of the batch, ``"persistence"``),
  and its output layer starts at zero, so training starts from persistence and can only
  learn what persistence misses;
* ``input_norm = "window"``: each window is z-scored per channel over its own time steps and
  tiles, ``x' = (x − mean_{t,n} x)/(std_{t,n} x + 10⁻³)`` (a per-region normalisation without
  leakage: it uses only the input window);
* ``emergence_weight = w``: tiles whose intensity falls (emergence darkens the continuum) count
  more, ``w_n = 1 + w · max(0, y_last,n − y_n)`` in the squared error (normalised units).

Batches: ``{"input": (B, T, C, N), "target": (B, N)}`` and ``"persistence": (B, N)``
(:class:`solarmodels.datasets.solared.SolaredDataset`); the network is any
``(B, T, C, N) → (B, N)`` module (``solared_attention``, ``solared_resnet3d`` and their
``_grid`` variants) with an ``output_layer()`` to zero for ``residual``.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from solarmodels.config import ConfigError
from solarmodels.registry import register_system
from solarmodels.systems.base import System, SystemConfig, zero_output_layer

if TYPE_CHECKING:
    import os
    from typing import Any

    from torch import nn

    from solarmodels.systems.base import StepContext

__all__ = ["SolaredSystem", "SolaredSystemConfig", "solared_loss", "window_normalize"]


@dataclasses.dataclass
class SolaredSystemConfig(SystemConfig):
    """Configuration of :class:`SolaredSystem`.

    Attributes
    ----------
    lr : float
        Adam learning rate when ``train.lr`` is not set (seed: 0.01).
    betas : tuple of float
        Adam betas (PyTorch defaults, as the seed).
    loss : str
        ``"sum"`` (seed: squared error summed over tiles, mean over the batch) or ``"mean"``.
    residual : bool
        Predict the change from the last observed intensity (module docstring).
    input_norm : str
        ``"dataset"`` (the inputs as stored) or ``"window"`` (z-score per window and channel).
    emergence_weight : float
        Extra weight of tiles whose intensity falls (0: the seed's unweighted loss).
    """

    lr: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    loss: str = "sum"
    residual: bool = False
    input_norm: str = "dataset"
    emergence_weight: float = 0.0

    def __post_init__(self):
        if self.loss not in ("sum", "mean"):
            raise ConfigError(f"system_config.loss must be 'sum' or 'mean', not {self.loss!r}")
        if self.input_norm not in ("dataset", "window"):
            raise ConfigError("system_config.input_norm must be 'dataset' or 'window', not "
                              f"{self.input_norm!r}")
        if self.emergence_weight < 0:
            raise ConfigError(f"system_config.emergence_weight must be >= 0, got "
                              f"{self.emergence_weight}")


def solared_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "sum",
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """``Σ w (pred − target)² / B`` (``"sum"``, the seed, ``w = 1``) or the weighted mean over
    all elements, ``Σ w e² / Σ w``."""
    err = (pred.float() - target.float()) ** 2
    if weight is None:
        return err.sum() / pred.shape[0] if reduction == "sum" else err.mean()
    err = err * weight
    return err.sum() / pred.shape[0] if reduction == "sum" else err.sum() / weight.sum()


def window_normalize(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """``(x − mean)/(std + eps)`` per sample and channel over time and tiles of ``(B, T, C, N)``."""
    mean = x.mean(dim=(1, 3), keepdim=True)
    std = x.std(dim=(1, 3), keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


@register_system("solared")
class SolaredSystem(System):
    """Per-tile intensity regression; one Adam optimiser ``"g"`` over the network ``"model"``."""

    config_cls = SolaredSystemConfig
    primary = "model"
    default_lr = 0.01

    def __init__(self, config: Any = None, networks: dict | None = None) -> None:
        super().__init__(config, networks)
        if self.config.residual:
            zero_output_layer(self.networks["model"], "system_config.residual")

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": torch.optim.Adam(self.networks["model"].parameters(), lr=self.lr,
                                      betas=tuple(self.config.betas))}

    def output(self, net: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The forecast of ``net`` for ``batch``: network input normalisation, then the network,
        plus the last observation when ``residual``."""
        x = batch["input"]
        if self.config.input_norm == "window":
            x = window_normalize(x)
        y = net(x)
        if self.config.residual:
            if "persistence" not in batch:
                raise ConfigError("system_config.residual needs the last observed intensity "
                                  "('last_intensity' in the SOLARED file): rebuild it with "
                                  "solarprep build-solared")
            y = y + batch["persistence"].to(y.dtype)
        return y

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.output(self.inference_network(), batch)

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Per-tile weights of the squared error (None: unweighted)."""
        w = self.config.emergence_weight
        if w <= 0 or "persistence" not in batch:
            return None
        drop = (batch["persistence"].float() - batch["target"].float()).clamp(min=0)
        return 1.0 + w * drop

    def training_step(self, batch: dict[str, torch.Tensor],
                      step: StepContext) -> dict[str, torch.Tensor]:
        pred = self.output(self.networks["model"], batch)
        loss = solared_loss(pred, batch["target"], self.config.loss, self.loss_weight(batch))
        step.backward(loss, "g")
        step.optimizer_step("g")
        return {"loss": loss.detach()}

    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        pred = self.output(self.inference_network(), batch).float()
        target = batch["target"].float()
        return {"val_loss": float(solared_loss(pred, target, self.config.loss,
                                               self.loss_weight(batch))),
                "val_rmse": float(((pred - target) ** 2).mean().sqrt())}

    # ----------------------------------------------------------------- run contract
    def check_data(self, dataset: Any) -> list[str]:
        """The SOLARED Dataset must be normalised (``solarprep.datasets.solared.build``)."""
        attrs = getattr(getattr(dataset, "data", None), "attrs", {})
        if str(attrs.get("normalization", "zscore")) in ("None", "", "none"):
            return ["the SOLARED Dataset is not normalised (built with normalize=None): inputs "
                    "span acoustic powers of ~1e7 m2/s and fluxes in G; build it with "
                    "normalize='zscore' or 'minmax'"]
        return []

    def evaluate(self, ctx: Any, dataset: Any, out_dir: str | os.PathLike[str],
                 options: Any) -> dict:
        """RMSE overall / per region / per tile against persistence and the training mean
        (:func:`solarmodels.evaluate.evaluate_solared`)."""
        from solarmodels.evaluate import evaluate_solared

        return evaluate_solared(self, ctx, dataset, out_dir, options)

    def predict_file(self, ctx: Any, source: Any, out_path: str | os.PathLike[str],
                     **options: Any) -> dict:
        """Forecasts for a model-ready file or AR timelines (:func:`solarmodels.inference.
        predict_solared`)."""
        from solarmodels.inference import predict_solared

        return predict_solared(self, ctx, source, out_path)
