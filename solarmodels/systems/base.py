"""The training *system*: losses, optimisers and steps around separate ``nn.Module`` networks.

Following the Lightning style guide's split (a system is not a network) with a plain torch loop:
a :class:`System` holds its networks in ``self.networks`` (an ``nn.ModuleDict``, e.g. ``{"g": U-Net,
"d": PatchGAN}``) and implements

* :meth:`System.configure_optimizers` → ``{"g": Adam(...), "d": Adam(...)}``,
* :meth:`System.training_step` ``(batch, step)`` → ``{"loss_g": tensor, ...}`` (detached 0-d
  tensors, so that logging costs no host sync; floats are accepted too); it calls
  ``step.backward(loss, "g")`` and ``step.optimizer_step("g")``, and the :class:`StepContext`
  handles gradient accumulation, clipping and the learning-rate schedule (autocast is entered by
  the trainer around the whole step; EMA is updated by the trainer after the step),
* :meth:`System.validation_step` ``(batch)`` → ``{"val_loss": float, ...}`` (eval mode, no grad),
* :meth:`System.predict` ``(batch)`` → ``Tensor`` (eval mode, no grad, EMA weights if present).

and the contract of a trained run (what ``solarmodels evaluate / predict / sample`` call, with
no dispatch on system or dataset names; ``ctx`` is the opened run,
:class:`solarmodels._runs.RunContext`):

* :meth:`System.evaluate` ``(ctx, dataset, out_dir, options)`` → ``{"metrics", "baselines",
  "table", "files"}``: the seed's metrics in physical units with trivial baselines beside them,
* :meth:`System.predict_file` ``(ctx, source, out_path, **options)`` → written files: the
  network applied to a data file,
* :meth:`System.sample_file` ``(ctx, out_path, **options)`` → written files: generative systems,
* :meth:`System.check_data` ``(dataset)`` → problems with the scaling of training data.

Batches are dicts of tensors: ``"input"`` (B, C, H, W) or model-specific, ``"target"``, optional
``"label"`` (long) and ``"mask"``.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from solarmodels.config import ConfigError, build_dataclass
from solarmodels.errors import NonFiniteLossError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator, Sequence
    from typing import Any

__all__ = ["System", "SystemConfig", "StepContext", "EMA", "set_requires_grad", "linear_decay",
           "network_channels", "value_range_problems", "zero_output_layer"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SystemConfig:
    """Default (empty) system configuration; systems subclass it with their own fields."""


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    """Switch ``requires_grad`` of every parameter of ``module`` (e.g. freeze D during the G step)."""
    for p in module.parameters():
        p.requires_grad_(flag)


class EMA:
    """Exponential moving average of a network's parameters and buffers.

    ``θ_ema ← d·θ_ema + (1 − d)·θ`` after every optimiser step (buffers such as batch-norm
    statistics are copied). The average lives in a deep copy of the network (``self.module``),
    in float32, used for validation and prediction.

    References
    ----------
    Polyak & Juditsky (1992), SIAM J. Control Optim. 30, 838.
    """

    def __init__(self, module: nn.Module, decay: float):
        self.decay = float(decay)
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module, decay: float | None = None) -> None:
        """Move the average towards the current weights of ``module`` (``decay`` overrides
        :attr:`decay` for this update; 0 copies the weights)."""
        decay = self.decay if decay is None else float(decay)
        params = dict(module.named_parameters())
        for name, p in self.module.named_parameters():
            if decay == 0.0:
                p.copy_(params[name].detach())
            else:
                p.lerp_(params[name].detach().to(p.dtype), 1.0 - decay)
        buffers = dict(module.named_buffers())
        for name, b in self.module.named_buffers():
            b.copy_(buffers[name])


class StepContext:
    """What a system's ``training_step`` is given: backward, optimiser steps, step counters.

    Parameters
    ----------
    optimizers : dict of str to torch.optim.Optimizer
    schedulers : dict of str to LR scheduler (stepped with their optimiser)
    step : int
        Index of the optimiser step being taken (0-based).
    micro : int
        Index of this micro-batch within the step (0 .. ``grad_accum`` - 1).
    grad_accum : int
    grad_clip : float
        Global norm clip per optimiser (0: none).
    device : torch.device
    defer_checks : bool
        Do not read a loss on the host to check it is finite (a device sync): record the
        result in :attr:`nonfinite` (``{optimizer: 0-d bool tensor}``) for the trainer to read
        at its next log step. Gradient norms are kept as tensors either way.
    """

    def __init__(self, optimizers: dict, schedulers: dict | None = None, *, step: int = 0,
                 micro: int = 0, grad_accum: int = 1, grad_clip: float = 0.0,
                 device: torch.device | str | None = None, defer_checks: bool = False) -> None:
        self.optimizers = optimizers
        self.schedulers = schedulers or {}
        self.step = step
        self.micro = micro
        self.grad_accum = grad_accum
        self.grad_clip = grad_clip
        self.device = device
        self.defer_checks = defer_checks
        self.grad_norms = {}
        self.nonfinite = {}

    @property
    def last_micro(self) -> bool:
        """True on the micro-batch after which the optimisers step."""
        return self.micro == self.grad_accum - 1

    def _optimizer(self, name):
        try:
            return self.optimizers[name]
        except KeyError:
            raise KeyError(f"no optimizer {name!r}; configure_optimizers returned "
                           f"{sorted(self.optimizers)}") from None

    def backward(self, loss: torch.Tensor, name: str = "g") -> None:
        """Back-propagate ``loss / grad_accum`` (gradients accumulate until ``optimizer_step``).

        Raises :class:`~solarmodels.errors.NonFiniteLossError` for a NaN or infinite loss, or
        records it in :attr:`nonfinite` when ``defer_checks``."""
        self._optimizer(name)
        bad = ~torch.isfinite(loss.detach()).all()
        if self.defer_checks:
            self.nonfinite[name] = bad | self.nonfinite[name] if name in self.nonfinite else bad
        elif bad:
            raise NonFiniteLossError(f"non-finite loss for optimizer {name!r} in step "
                                     f"{self.step + 1}: {loss.detach().float().item()}")
        (loss / self.grad_accum).backward()

    def optimizer_step(self, name: str = "g") -> None:
        """On the last micro-batch: clip, step optimiser ``name`` and its scheduler, zero grads."""
        opt = self._optimizer(name)
        if not self.last_micro:
            return False
        if self.grad_clip and self.grad_clip > 0:
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            self.grad_norms[name] = torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if name in self.schedulers:
            self.schedulers[name].step()
        return True


class System:
    """Base class of the training systems (see the module docstring).

    Attributes
    ----------
    config_cls : dataclass type
        The system's configuration (validated from ``RunConfig.system_config``).
    primary : str
        Role of the network passed as a single module and returned by :meth:`predict`.
    ema_networks : tuple of str
        Roles whose exponential moving average is kept when ``train.ema_decay > 0``.
    default_lr : float
        Learning rate when ``train.lr`` is ``None``.
    """

    config_cls = SystemConfig
    primary = "model"
    ema_networks: tuple = ()
    default_lr = 1e-3
    system_name = ""

    def __init__(self, config: Any = None, networks: dict | None = None) -> None:
        self.config = build_dataclass(self.config_cls, config,
                                      where=f"system {self.system_name or type(self).__name__!r}")
        if isinstance(networks, nn.Module) and not isinstance(networks, nn.ModuleDict):
            networks = {self.primary: networks}
        nets = dict(networks or {})
        nets.update({k: v for k, v in self.build_networks(dict(nets)).items() if k not in nets})
        if self.primary not in nets:
            raise ConfigError(
                f"system {self.system_name or type(self).__name__!r} needs a {self.primary!r} "
                f"network: pass networks={{'{self.primary}': create_model(...)}} or set "
                "RunConfig.model")
        self.networks = nn.ModuleDict(nets)
        self.ema: dict[str, EMA] = {}
        self.constants: dict[str, torch.Tensor] = {}
        self.train_config = None
        self.device = torch.device("cpu")

    # ----------------------------------------------------------------- to override
    def prepare(self, train_data: torch.utils.data.Dataset) -> None:
        """Fit data-dependent constants from the training data before the first step (called by
        the trainer; default nothing): tensors put in :attr:`constants` (e.g. the mean training
        target, the latent statistics of the video model) are saved in every checkpoint
        (``const.<name>``) and restored with the weights."""

    def build_networks(self, given: dict) -> dict:
        """Networks the system makes itself (e.g. a discriminator) given the ones passed in;
        by default the primary network from the registered model ``config.model`` when the
        configuration names one and none was passed in."""
        name = getattr(self.config, "model", "")
        if self.primary in given or not name:
            return {}
        from solarmodels.registry import create_model

        return {self.primary: create_model(name)}

    def configure_optimizers(self) -> dict:
        """``{name: optimizer}``; the default is one Adam over all networks at :attr:`lr`."""
        return {"g": torch.optim.Adam(self.networks.parameters(), lr=self.lr)}

    def configure_schedulers(self, optimizers: dict) -> dict:
        """``{name: LR scheduler}`` stepped after the optimiser of the same name (default none)."""
        return {}

    def training_step(self, batch: dict, step: StepContext) -> dict:
        """One micro-batch of training; returns scalar logs. Must be overridden."""
        raise NotImplementedError

    def validation_step(self, batch: dict) -> dict:
        """Scalar validation metrics for one batch (called in eval mode under no_grad)."""
        raise NotImplementedError

    def forward(self, batch: dict) -> torch.Tensor:
        """Output of the primary network (or its EMA) for ``batch["input"]``."""
        return self.inference_network()(batch["input"])

    # ----------------------------------------------------------------- helpers
    @property
    def lr(self) -> float:
        """``train.lr`` if set, else :attr:`default_lr`."""
        if self.train_config is not None and self.train_config.lr is not None:
            return float(self.train_config.lr)
        return float(getattr(self.config, "lr", None) or self.default_lr)

    def inference_network(self, name: str | None = None) -> nn.Module:
        """The EMA copy of network ``name`` (default :attr:`primary`) if kept, else the network."""
        name = name or self.primary
        return self.ema[name].module if name in self.ema else self.networks[name]

    def enable_ema(self, decay: float) -> None:
        """Start exponential moving averages of :attr:`ema_networks` (or the primary network)."""
        for name in self.ema_networks or (self.primary,):
            self.ema[name] = EMA(self.networks[name], decay)

    def update_ema(self, decay: float | None = None) -> None:
        """Advance every kept average (called by the trainer after each optimiser step, with the
        warmed-up ``decay`` of that step; None: each average's own)."""
        for name, ema in self.ema.items():
            ema.update(self.networks[name], decay)

    def train(self, mode: bool = True) -> System:
        """Set train/eval mode of every network (EMA copies stay in eval mode)."""
        self.networks.train(mode)
        return self

    def eval(self) -> System:
        return self.train(False)

    def to(self, device: torch.device | str) -> System:
        """Move networks and averages to ``device``."""
        self.device = torch.device(device)
        self.networks.to(self.device)
        for ema in self.ema.values():
            ema.module.to(self.device)
        return self

    @contextlib.contextmanager
    def _eval_mode(self):
        modes = {k: m.training for k, m in self.networks.items()}
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for k, m in self.networks.items():
                m.train(modes[k])

    def predict(self, batch: dict) -> torch.Tensor:
        """Network output for ``batch`` in eval mode without gradients (EMA weights if kept)."""
        with self._eval_mode():
            return self.forward(batch)

    @contextlib.contextmanager
    def raw_weights(self) -> Iterator[System]:
        """Use the trained weights, not their moving averages, inside the ``with`` block."""
        saved = self.ema
        self.ema = {}
        try:
            yield self
        finally:
            self.ema = saved

    # ----------------------------------------------------------------- run contract
    def check_data(self, dataset: Any) -> list:
        """Problems with the scaling of training ``dataset`` for this system (default none);
        ``solarmodels train`` refuses data with problems unless told to go on."""
        return []

    def evaluate(self, ctx: Any, dataset: Any, out_dir: str | os.PathLike[str], options: Any) -> dict:
        """Metrics of this system on ``dataset`` with baselines (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement System.evaluate")

    def predict_file(self, ctx: Any, source: Any, out_path: str | os.PathLike[str],
                     **options: Any) -> dict:
        """The network applied to the data file ``source``, written to ``out_path``."""
        raise ConfigError(f"system {self.system_name or type(self).__name__!r} does not predict "
                          "from a data file; see `solarmodels sample` for generative systems")

    def sample_file(self, ctx: Any, out_path: str | os.PathLike[str], **options: Any) -> dict:
        """Generated samples written to ``out_path`` (generative systems)."""
        raise ConfigError(f"system {self.system_name or type(self).__name__!r} is not generative:"
                          " use `solarmodels predict RUN INPUT`")

    def state_dict(self) -> dict:
        """Flat ``{"role.param": tensor}`` of all networks, plus ``"ema.role.param"`` averages
        and ``"const.name"`` data-dependent constants (:meth:`prepare`)."""
        out = {f"{k}.{n}": t for k, m in self.networks.items() for n, t in m.state_dict().items()}
        for k, ema in self.ema.items():
            out.update({f"ema.{k}.{n}": t for n, t in ema.module.state_dict().items()})
        out.update(self.extra_state())
        return out

    def extra_state(self) -> dict:
        """The saved tensors that belong to no trained network: ``"const.name"`` of
        :attr:`constants` (subclasses add e.g. a frozen autoencoder)."""
        return {f"const.{k}": v.detach().cpu() for k, v in self.constants.items()}

    def load_state_dict(self, state: Mapping, strict: bool = True) -> Any:
        """Inverse of :meth:`state_dict` (averages restored only where :attr:`ema` exists)."""
        state = dict(state)
        for name in [n for n in state if n.startswith("const.")]:
            self.constants[name[len("const."):]] = state.pop(name).cpu()
        for k, m in self.networks.items():
            part = {n[len(k) + 1:]: t for n, t in state.items() if n.startswith(k + ".")}
            m.load_state_dict(part, strict=strict)
        for k, ema in self.ema.items():
            prefix = f"ema.{k}."
            part = {n[len(prefix):]: t for n, t in state.items() if n.startswith(prefix)}
            if part:
                ema.module.load_state_dict(part, strict=strict)
            elif strict:
                raise KeyError(f"checkpoint has no EMA weights for {k!r}")


def zero_output_layer(module: nn.Module, why: str) -> None:
    """Zero the parameters of ``module.output_layer()`` so that a network predicting a residual
    starts at the baseline it is added to (``why`` names the setting in the error)."""
    head = getattr(module, "output_layer", None)
    if head is None:
        raise ConfigError(f"{why} needs a network with output_layer(); "
                          f"{type(module).__name__} has none")
    with torch.no_grad():
        for p in head().parameters():
            p.zero_()


def linear_decay(optimizer: torch.optim.Optimizer, start: int,
                 total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` keeping the learning rate for ``start`` steps, then decaying it linearly to 0
    at step ``total`` (pix2pix / pix2pixHD schedule); constant if ``start <= 0`` or ``start >= total``."""

    def factor(step: int) -> float:
        if start <= 0 or start >= total or step < start:
            return 1.0
        return max(0.0, 1.0 - (step - start) / float(total - start))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def network_channels(module: nn.Module) -> tuple[int, int]:
    """``(in_channels, out_channels)`` of a generator from its ``config`` (or ``model_config``)."""
    cfg = getattr(module, "config", None) or getattr(module, "model_config", None)
    try:
        return int(cfg.in_channels), int(cfg.out_channels)
    except AttributeError:
        raise ConfigError(f"cannot tell the channels of {type(module).__name__}: its config has no "
                          "in_channels/out_channels; pass the discriminator explicitly") from None


def value_range_problems(dataset: Any, keys: Sequence[str] = ("input", "target"), *,
                         limit: float = 5.0, n: int = 4) -> list[str]:
    """Problems if the first ``n`` samples of ``dataset`` leave ``[−limit, limit]`` in ``keys``.

    Networks of the translation and diffusion seeds expect data scaled to about [−1, 1]
    (``solarprep.datasets.scalings``); values in gauss or DN are refused by
    :func:`solarmodels._runs.train_run` with this message.
    """
    problems: list[str] = []
    if dataset is None or len(dataset) == 0:
        return problems
    for i in range(min(n, len(dataset))):
        item = dataset[i]
        for key in keys:
            value = item.get(key)
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                continue
            finite = value[torch.isfinite(value)]
            peak = float(finite.abs().max()) if finite.numel() else 0.0
            if peak > limit:
                names = getattr(dataset, f"{key}s", None) or [key]
                problems.append(f"{key} {names} reaches |x| = {peak:.4g} in sample {i}, "
                                f"outside [-{limit:g}, {limit:g}]")
        if problems:
            break
    return problems
