"""Training system of the SOLARED models (seed 5): regression of the 63 tile intensities.

Seed defaults (SuryaBench ``ar_emergence``): Adam with learning rate 0.01, batch 32 (set
``train.batch_size``), loss ``MSELoss(reduction="sum") / batch`` — the squared error summed
over the 63 tiles, averaged over the samples. ``loss="mean"`` averages over tiles as well
(63 times smaller, the same minimum).

Batches: ``{"input": (B, T, C, N), "target": (B, N)}`` (:class:`solarmodels.datasets.solared.
SolaredDataset`); the network is any ``(B, T, C, N) → (B, N)`` module (``solared_attention``,
``solared_resnet3d`` and their ``_grid`` variants).
"""
from __future__ import annotations

import dataclasses

import torch

from solarmodels.config import ConfigError
from solarmodels.registry import register_system
from solarmodels.systems.base import System, SystemConfig

__all__ = ["SolaredSystem", "SolaredSystemConfig", "solared_loss"]


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
    """

    lr: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    loss: str = "sum"

    def __post_init__(self):
        if self.loss not in ("sum", "mean"):
            raise ConfigError(f"system_config.loss must be 'sum' or 'mean', not {self.loss!r}")


def solared_loss(pred, target, reduction="sum"):
    """``Σ (pred − target)² / B`` (``"sum"``, the seed) or the mean over all elements."""
    err = (pred.float() - target.float()) ** 2
    return err.sum() / pred.shape[0] if reduction == "sum" else err.mean()


@register_system("solared")
class SolaredSystem(System):
    """Per-tile intensity regression; one Adam optimiser ``"g"`` over the network ``"model"``."""

    config_cls = SolaredSystemConfig
    primary = "model"
    default_lr = 0.01

    def configure_optimizers(self):
        return {"g": torch.optim.Adam(self.networks["model"].parameters(), lr=self.lr,
                                      betas=tuple(self.config.betas))}

    def training_step(self, batch, step):
        pred = self.networks["model"](batch["input"])
        loss = solared_loss(pred, batch["target"], self.config.loss)
        step.backward(loss, "g")
        step.optimizer_step("g")
        return {"loss": loss.detach()}

    def validation_step(self, batch):
        pred = self.inference_network()(batch["input"]).float()
        target = batch["target"].float()
        return {"val_loss": float(solared_loss(pred, target, self.config.loss)),
                "val_rmse": float(((pred - target) ** 2).mean().sqrt())}

    # ----------------------------------------------------------------- run contract
    def check_data(self, dataset):
        """The SOLARED Dataset must be normalised (``solarprep.datasets.solared.build``)."""
        attrs = getattr(getattr(dataset, "data", None), "attrs", {})
        if str(attrs.get("normalization", "zscore")) in ("None", "", "none"):
            return ["the SOLARED Dataset is not normalised (built with normalize=None): inputs "
                    "span acoustic powers of ~1e7 m2/s and fluxes in G; build it with "
                    "normalize='zscore' or 'minmax'"]
        return []

    def evaluate(self, ctx, dataset, out_dir, options):
        """RMSE overall / per region / per tile against persistence and the training mean
        (:func:`solarmodels.evaluate.evaluate_solared`)."""
        from solarmodels.evaluate import evaluate_solared

        return evaluate_solared(self, ctx, dataset, out_dir, options)

    def predict_file(self, ctx, source, out_path, **options):
        """Forecasts for a model-ready file or AR timelines (:func:`solarmodels.inference.
        predict_solared`)."""
        from solarmodels.inference import predict_solared

        return predict_solared(self, ctx, source, out_path)
