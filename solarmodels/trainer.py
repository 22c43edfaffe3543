"""One plain-PyTorch training loop for every :class:`~solarmodels.systems.base.System`.

``Trainer(system, train_data, val_data, config, run_dir).fit()`` runs ``config.steps`` optimiser
steps on CUDA when present (else the CPU), with optional bf16 autocast, channels-last tensors,
``torch.compile``, EMA (with a warm-up), gradient accumulation and clipping, a tqdm bar, CSV/JSON-
lines logs, TensorBoard scalars and image grids, periodic evaluation and checkpoints, and a time
budget (``config.minutes``). ``fit(resume=True)`` continues from the newest checkpoint in
``run_dir`` and reproduces the uninterrupted run bit for bit on the CPU: it restores the weights,
optimisers, schedulers, the Python / NumPy / torch RNG states, the epoch and position of the data
sampler and the step. The sampler permutation and the DataLoader's worker seeds come from
generators seeded by ``(seed, epoch)``, never from the global RNG, so creating a loader mid-epoch
after a resume consumes no random numbers that the uninterrupted run would not.

Launched by ``torchrun`` (or in a process group made by the caller) the same loop trains with
DDP or FSDP2 (:mod:`solarmodels.distributed`): each epoch's seeded permutation is cut into
global batches of ``world_size × batch_size`` samples, rank ``r`` takes the ``r``-th slice of
each, the position is counted in global samples, and every rank has its own RNG stream (saved in
the checkpoint), so a run resumed on the same number of ranks is bit-identical as well. Rank 0
logs, shows the progress bar and writes the run's files; evaluation is sharded over the ranks
and its metric sums reduced.

Training logs stay on the device between log steps (no host sync per step); with
``check_finite="deferred"`` (the default on GPUs and under ``torchrun``) a non-finite loss
raises :class:`~solarmodels.errors.NonFiniteLossError` at the next log, evaluation or checkpoint
step, naming the first bad step, and no checkpoint is ever written after it.

Run folder::

    config.json          resolved run configuration (written by the CLI / ``run_config=``)
    metrics.jsonl        one JSON object per log / evaluation row
    metrics.csv          the same rows as a table (rewritten at each row)
    tensorboard/         TensorBoard events (scalars, image grids)
    checkpoints/step_00001000/   see :mod:`solarmodels.checkpoint`; its ``meta.json`` records
                         ``base_dir``, the working directory of training, against which
                         the relative paths of ``config.json`` are resolved when the run
                         is reopened (:func:`solarmodels.load_run`)
    checkpoints/latest   name of the newest checkpoint folder
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import pathlib
import random
import re
import shutil
import time
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from solarmodels import distributed
from solarmodels.checkpoint import (
    data_fingerprint,
    load_checkpoint,
    load_sharded,
    read_rank_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from solarmodels.config import ConfigError, TrainConfig, build_dataclass, save_config, to_dict
from solarmodels.distributed import resolve_device
from solarmodels.errors import CheckpointError, NonFiniteLossError
from solarmodels.systems.base import StepContext
from solarprep.io.atomic import write_text

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from typing import Any

    from solarmodels.systems.base import System

__all__ = ["Trainer", "TrainConfig", "seed_everything", "resolve_device", "collate",
           "latest_checkpoint", "move_batch"]

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seed the global RNG that user code may use)
    torch.manual_seed(seed)


def collate(samples: list[dict]) -> dict:
    """Stack the tensors (and NumPy arrays / numbers) of a list of sample dicts; other values
    (metadata such as timestamps or names) are kept as lists, not collated."""
    out = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        first = values[0]
        if isinstance(first, torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(first, np.ndarray) and first.dtype.kind in "fiub":
            out[key] = torch.from_numpy(np.stack(values))
        elif isinstance(first, (bool, int, float, np.number)) and not isinstance(first, np.datetime64):
            out[key] = torch.as_tensor(values)
        else:
            out[key] = values
    return out


def move_batch(batch: dict, device: torch.device | str, *, channels_last: bool = False) -> dict:
    """Tensors of ``batch`` to ``device`` (non-blocking), 4-D floats channels-last if asked."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if channels_last and value.ndim == 4 and value.is_floating_point():
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


_STEP_DIR = re.compile(r"step_\d{8,}")


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> pathlib.Path | None:
    """The newest checkpoint folder of a run (``checkpoints/latest``), or None.

    The pointer file may only name a ``step_<n>`` folder inside ``checkpoints/``: anything
    else (a path, ``..``) is ignored with a warning, so a crafted pointer cannot make a
    resume read a checkpoint from outside the run.
    """
    ckdir = pathlib.Path(run_dir) / "checkpoints"
    pointer = ckdir / "latest"
    if pointer.is_file():
        name = pointer.read_text().strip()
        if _STEP_DIR.fullmatch(name):
            if (ckdir / name).is_dir():
                return ckdir / name
        else:
            logger.warning("%s names %r, not a step_<n> folder of this run: ignored", pointer,
                           name)
    found = sorted(p for p in ckdir.glob("step_*") if _STEP_DIR.fullmatch(p.name)) \
        if ckdir.is_dir() else []
    return found[-1] if found else None


class _EpochSampler(Sampler):
    """This rank's share of a seeded permutation of ``n`` indices for one epoch.

    The permutation, from ``offset`` global samples on, is cut into global batches of
    ``world_size × batch_size`` samples (a last partial one is dropped) and rank ``r`` takes
    samples ``[r·b, (r+1)·b)`` of each; one rank takes all of it (the DataLoader drops the
    partial batch)."""

    def __init__(self, n, seed, epoch, offset=0, *, batch_size=1, rank=0, world_size=1):
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
        perm = torch.randperm(n, generator=g)[offset:]
        if world_size > 1:
            full = len(perm) // (world_size * batch_size)
            perm = perm[:full * world_size * batch_size].view(full, world_size, batch_size)[:, rank]
        self.indices = perm.reshape(-1).tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def _as_log(value):
    """A training log value as float64 (a device tensor stays on the device: no sync)."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if hasattr(value, "full_tensor"):        # a DTensor (grad norm under FSDP)
            value = value.full_tensor()
        return value.to(torch.float64)
    return float(value)


class Trainer:
    """Train a :class:`~solarmodels.systems.base.System` on torch Datasets of dict samples.

    Parameters
    ----------
    system : System
    train_data : torch.utils.data.Dataset
        Map-style dataset of dicts (``"input"``, ``"target"``, ...). If it has ``set_epoch(e)``
        it is called before every epoch (seeded augmentation).
    val_data : Dataset, optional
    config : TrainConfig or dict
    run_dir : path-like
        Folder for logs and checkpoints (created).
    run_config : RunConfig or dict, optional
        Resolved configuration saved as ``config.json`` in the run and each checkpoint.
    collate_fn : callable, optional
        Defaults to :func:`collate`.

    Notes
    -----
    Under ``torchrun`` (``WORLD_SIZE > 1``) the constructor joins the process group
    (:func:`solarmodels.distributed.init_distributed`); ``config.batch_size`` is per rank.
    """

    def __init__(self, system: System, train_data: Any, val_data: Any = None, config: Any = None,
                 run_dir: str | os.PathLike[str] = "run", *, run_config: Any = None,
                 collate_fn: Callable | None = None) -> None:
        self.system = system
        self.train_data = train_data
        self.val_data = val_data
        self.config = build_dataclass(TrainConfig, config, where="train")
        self.run_dir = pathlib.Path(run_dir)
        self.run_config = run_config
        self.collate_fn = collate_fn or collate
        self.dist = distributed.init_distributed(self.config.device, parallel=self.config.parallel)
        self.device = self.dist.device
        self.parallel = self.config.parallel
        if self.parallel == "auto":
            self.parallel = "ddp" if self.dist.world_size > 1 else "none"
        if self.parallel == "none" and self.dist.world_size > 1:
            raise ConfigError(f"train.parallel='none' with {self.dist.world_size} ranks would train "
                              "independent copies; use 'auto', 'ddp' or 'fsdp'")
        self.step = 0
        self.epoch = 0
        self.sample_in_epoch = 0
        self.history: list[dict] = []
        self._acc: dict[str, list] = {}
        self._nonfinite: dict[str, torch.Tensor] = {}
        self._wrapped = {}
        self._monitor = None
        self._preview = None
        self._ready = False
        check = self.config.check_finite
        if check == "auto":
            check = "step" if self.dist.world_size == 1 and self.device.type == "cpu" else "deferred"
        self.defer_checks = check == "deferred"
        global_batch = self.config.batch_size * self.dist.world_size
        if len(train_data) < global_batch:
            raise ConfigError(f"the training data hold {len(train_data)} samples, fewer than "
                              f"train.batch_size={self.config.batch_size} × "
                              f"{self.dist.world_size} rank(s); lower the batch size")

    @property
    def batch_in_epoch(self) -> int:
        """Global batches taken in the current epoch."""
        return self.sample_in_epoch // (self.config.batch_size * self.dist.world_size)

    # ----------------------------------------------------------------- setup
    def _setup(self):
        if self._ready:
            return
        cfg = self.config
        system = self.system
        ctx = self.dist
        system.train_config = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = not cfg.deterministic
        if cfg.deterministic:
            _deterministic(self.device)
        if cfg.ema_decay > 0 and not system.ema:
            system.enable_ema(cfg.ema_decay)
        system.to(self.device)
        system.prepare(self.train_data)
        if cfg.channels_last:
            for net in system.networks.values():
                net.to(memory_format=torch.channels_last)
            for ema in system.ema.values():
                ema.module.to(memory_format=torch.channels_last)
        if ctx.world_size > 1:                       # one starting point, whatever each rank drew
            for module in self._modules():
                distributed.broadcast_module(module, ctx)
        if self.parallel == "fsdp":
            for module in self._modules():
                distributed.shard_fsdp(module, ctx)
        self.optimizers = system.configure_optimizers()
        self.schedulers = system.configure_schedulers(self.optimizers)
        if cfg.compile:
            for net in system.networks.values():
                net.compile()
        if self.parallel == "ddp":
            for name in list(system.networks):
                net, wrapped = distributed.wrap_ddp(
                    system.networks[name], ctx, sync_batchnorm=cfg.sync_batchnorm,
                    find_unused_parameters=cfg.find_unused_parameters)
                system.networks[name] = net
                self._wrapped[name] = wrapped
            self._wrapped = nn.ModuleDict(self._wrapped)
        if ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if self.run_config is not None:
                save_config(self.run_config, self.run_dir / "config.json")
        self._ready = True

    def _modules(self):
        """The networks and EMA copies of the system (the unwrapped modules)."""
        return list(self.system.networks.values()) + [e.module for e in self.system.ema.values()]

    @contextlib.contextmanager
    def _ddp_networks(self, last_micro: bool):
        """Show the system its DDP-wrapped networks during a training step (gradients reduced
        on the last micro-batch only); FSDP modules are told the same."""
        for module in self.system.networks.values():
            if distributed.is_sharded(module):
                module.set_requires_gradient_sync(last_micro)
        if not self._wrapped:
            yield
            return
        for wrapped in self._wrapped.values():
            wrapped.require_backward_grad_sync = last_micro
        plain = self.system.networks
        self.system.networks = self._wrapped
        try:
            yield
        finally:
            self.system.networks = plain

    def _autocast(self):
        if self.config.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ----------------------------------------------------------------- data
    def _loader(self, dataset, *, sampler=None, generator_seed=0, drop_last=None):
        cfg = self.config
        return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                          shuffle=False, drop_last=sampler is not None if drop_last is None
                          else drop_last,
                          num_workers=cfg.num_workers, collate_fn=self.collate_fn,
                          pin_memory=self.device.type == "cuda"
                          and not getattr(dataset, "on_device", False),
                          generator=torch.Generator().manual_seed(generator_seed))

    def _train_batches(self):
        cfg = self.config
        n = len(self.train_data)
        global_batch = cfg.batch_size * self.dist.world_size
        while True:
            if hasattr(self.train_data, "set_epoch"):
                self.train_data.set_epoch(self.epoch)
            sampler = _EpochSampler(n, cfg.seed, self.epoch, self.sample_in_epoch,
                                    batch_size=cfg.batch_size, rank=self.dist.rank,
                                    world_size=self.dist.world_size)
            for batch in self._loader(self.train_data, sampler=sampler,
                                      generator_seed=cfg.seed * 7919 + self.epoch):
                self.sample_in_epoch += global_batch
                yield move_batch(batch, self.device, channels_last=cfg.channels_last)
            self.epoch += 1
            self.sample_in_epoch = 0

    # ----------------------------------------------------------------- state
    def _rank_state(self) -> dict:
        """What each rank keeps for itself: its RNG states and partial log sums."""
        return {"rng": rng_state(self.device if self.dist.enabled else None),
                "log_acc": {k: [float(v[0]), float(v[1])] for k, v in self._acc.items()}}

    def _state(self) -> dict:
        state = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                 "sample_in_epoch": self.sample_in_epoch, "world_size": self.dist.world_size,
                 "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
                 **self._rank_state()}
        if self.parallel != "fsdp":
            state["optimizers"] = {k: o.state_dict() for k, o in self.optimizers.items()}
        return state

    def _ema_dict(self) -> nn.ModuleDict:
        return nn.ModuleDict({k: e.module for k, e in self.system.ema.items()})

    def _sharded_state(self) -> dict:
        """FSDP: networks, EMA and optimisers as sharded state dicts (collective)."""
        from torch.distributed.checkpoint.state_dict import (
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        nets = self.system.networks
        out = {"networks": get_model_state_dict(nets),
               "optimizers": {k: get_optimizer_state_dict(nets, o) for k, o in self.optimizers.items()}}
        if self.system.ema:
            out["ema"] = get_model_state_dict(self._ema_dict())
        return out

    def _full_weights(self) -> dict:
        """FSDP: every network and EMA gathered whole on rank 0's CPU (collective; {} elsewhere)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        weights = get_model_state_dict(self.system.networks, options=opts)
        if self.system.ema:
            ema = get_model_state_dict(self._ema_dict(), options=opts)
            weights.update({f"ema.{k}": v for k, v in ema.items()})
        weights.update(self.system.extra_state())
        return weights

    def save_checkpoint(self) -> pathlib.Path:
        """Write ``checkpoints/step_<step>`` and point ``checkpoints/latest`` at it (every rank
        calls it under ``torch.distributed``; see :func:`solarmodels.checkpoint.save_checkpoint`)."""
        ctx = self.dist
        ckdir = self.run_dir / "checkpoints"
        name = f"step_{self.step:08d}"
        fsdp = self.parallel == "fsdp"
        state = meta = None
        if ctx.is_main:
            ckdir.mkdir(parents=True, exist_ok=True)
            state = self._state()
            meta = {"step": self.step, "epoch": self.epoch,
                    "system": getattr(self.system, "system_name", type(self.system).__name__),
                    "data_fingerprint": data_fingerprint(self.train_data),
                    "target_attrs": getattr(self.train_data, "target_attrs", None),
                    "world_size": ctx.world_size, "parallel": self.parallel,
                    "train": to_dict(self.config), "base_dir": os.getcwd()}
        path = save_checkpoint(ckdir / name, self.system,
                               config=self.run_config if self.run_config is not None else {},
                               state=state, meta=meta, context=ctx,
                               rank_state=None if ctx.is_main else self._rank_state(),
                               sharded=self._sharded_state() if fsdp else None,
                               weights=self._full_weights() if fsdp else None, latest=True)
        if ctx.is_main:
            keep = max(1, self.config.keep_checkpoints)
            for old in sorted(ckdir.glob("step_*"))[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
            logger.info("checkpoint %s", path)
        return path

    def init_weights(self, source: str | os.PathLike[str]) -> dict:
        """Initialise the networks (and EMA copies) from another run (``train.init_from``).

        ``source`` is a run folder (its latest checkpoint) or a checkpoint folder. Its EMA
        weights (``ema.<role>.…``) are used where it kept them, else its weights; each tensor
        whose name and shape match is copied. Returns ``{"loaded": [...], "skipped": [...]}``
        (skipped: new or reshaped tensors, e.g. the light-curve embedding when the mapping size
        changes between the seed's stages 2 and 3)."""
        from safetensors.torch import load_file

        path = pathlib.Path(source)
        ck = latest_checkpoint(path) if (path / "checkpoints").is_dir() else path
        if ck is None or not (ck / "weights.safetensors").is_file():
            raise ConfigError(f"train.init_from: no checkpoint in {source}")
        if distributed.is_sharded(next(iter(self.system.networks.values()))):
            raise ConfigError("train.init_from is not supported under FSDP; initialise a "
                              "one-process run and resume it under FSDP")
        weights = load_file(str(ck / "weights.safetensors"))
        loaded, skipped = [], []
        targets = {k: m for k, m in self.system.networks.items()}
        with torch.no_grad():
            for role, module in targets.items():
                own = module.state_dict()
                for name, tensor in own.items():
                    src = weights.get(f"ema.{role}.{name}", weights.get(f"{role}.{name}"))
                    if src is not None and src.shape == tensor.shape:
                        tensor.copy_(src.to(tensor.dtype))
                        loaded.append(f"{role}.{name}")
                    else:
                        skipped.append(f"{role}.{name}")
                if role in self.system.ema:
                    self.system.ema[role].update(module, 0.0)
        if not loaded:
            raise ConfigError(f"train.init_from: no tensor of {ck} matches the networks of this "
                              "run (another architecture?)")
        logger.info("initialised %d tensors from %s; %d kept their initialisation%s", len(loaded),
                    ck, len(skipped), f": {skipped}" if skipped else "")
        return {"loaded": loaded, "skipped": skipped}

    def load_checkpoint(self, path: str | os.PathLike[str]) -> dict:
        """Restore weights, optimisers, schedulers, RNG, sampler position and step from ``path``
        (every rank calls it; each restores its own RNG stream)."""
        self._setup()
        ctx = self.dist
        fsdp = self.parallel == "fsdp"
        ck = load_checkpoint(path, None if fsdp else self.system, map_location="cpu",
                             with_weights=not fsdp)
        state, meta = ck["state"], ck["meta"]
        if state is None:
            raise ConfigError(f"checkpoint {path} has no training state (state.pt); it can be "
                              "used for prediction but not to resume")
        if (meta.get("parallel") == "fsdp") != fsdp:
            raise CheckpointError(f"checkpoint {path} was written with train.parallel="
                                  f"{meta.get('parallel')!r}; resume it with the same setting "
                                  f"(now {self.parallel!r})")
        saved_world = int(state.get("world_size", 1))
        if fsdp:
            self._load_sharded(path)
        else:
            self.system.to(self.device)
            for k, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][k])
        for k, sch in self.schedulers.items():
            sch.load_state_dict(state["schedulers"][k])
        own = state if ctx.rank == 0 else read_rank_state(path, ctx.rank)
        if own is None:
            if ctx.is_main or saved_world == ctx.world_size:
                raise CheckpointError(f"checkpoint {path} has no RNG state of rank {ctx.rank}")
            seed_everything(distributed.rank_seed(self.config.seed + int(state["step"]), ctx.rank))
            own = {}
        else:
            set_rng_state(own["rng"], self.device if self.device.type == "cuda" else None)
        if saved_world != ctx.world_size and ctx.is_main:
            logger.warning("checkpoint %s was written by %d rank(s), resumed on %d: training goes "
                           "on from the same global sample, but not bit-identically", path,
                           saved_world, ctx.world_size)
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.sample_in_epoch = int(state.get("sample_in_epoch",
                                             int(state["batch_in_epoch"]) * self.config.batch_size))
        self._acc = {k: list(v) for k, v in own.get("log_acc", {}).items()}
        if ctx.is_main:
            self.history = [r for r in self._read_history() if r.get("step", 0) <= self.step]
            self._write_history()
            logger.info("resumed from %s at step %d", path, self.step)

    def _load_sharded(self, path):
        from torch.distributed.checkpoint.state_dict import (
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        sd = load_sharded(path, self._sharded_state())
        nets = self.system.networks
        set_model_state_dict(nets, sd["networks"])
        if self.system.ema:
            set_model_state_dict(self._ema_dict(), sd["ema"])
        for k, opt in self.optimizers.items():
            set_optimizer_state_dict(nets, opt, sd["optimizers"][k])

    # ----------------------------------------------------------------- logs
    def _read_history(self):
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _write_history(self):
        rows = self.history
        write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        keys = []
        for r in rows:
            keys.extend(k for k in r if k not in keys)
        table = io.StringIO(newline="")
        writer = csv.DictWriter(table, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        write_text(self.run_dir / "metrics.csv", table.getvalue())

    def _log(self, row: dict):
        """Record a row (rank 0: metrics files and TensorBoard)."""
        if not self.dist.is_main:
            return
        self.history.append(row)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        self._write_history()
        if self._monitor is not None:
            self._monitor.scalars(row)

    def _reduce_logs(self) -> dict:
        """Means of the accumulated training logs over the steps since the last log and over
        the ranks (collective; one host sync)."""
        keys = list(self._acc)                     # the system's order (rank 0's for all)
        if self.dist.world_size > 1:
            keys = self.dist.broadcast_object(keys)
        values = [torch.as_tensor(self._acc.get(k, (0.0, 0))[i], dtype=torch.float64,
                                  device=self.device) for k in keys for i in (0, 1)]
        if not values:
            return {}
        flat = self.dist.all_reduce(torch.stack(values), "sum").tolist()
        return {k: flat[2 * i] / max(flat[2 * i + 1], 1) for i, k in enumerate(keys)}

    def _sync_flags(self, over_budget: bool) -> bool:
        """At a log / evaluation / checkpoint step: raise if any rank saw a non-finite loss;
        return whether any rank ran out of time (one small reduction)."""
        names = sorted(self._nonfinite)
        if self.dist.world_size > 1:
            names = self.dist.broadcast_object(names)
        inf = torch.tensor(math.inf, dtype=torch.float64, device=self.device)
        flags = torch.stack([self._nonfinite.get(k, inf) for k in names]
                            + [torch.tensor(-float(over_budget), dtype=torch.float64,
                                            device=self.device)])
        flags = self.dist.all_reduce(flags, "min").tolist()
        for name, first in zip(names, flags[:-1]):
            if math.isfinite(first):
                raise NonFiniteLossError(
                    f"non-finite loss for optimizer {name!r} in step {int(first)} (checked at step "
                    f"{self.step}); the weights after it are not finite and were not saved: resume "
                    "from the last checkpoint with a lower train.lr or a train.grad_clip")
        return flags[-1] < 0

    def _note_nonfinite(self, ctx: StepContext):
        for name, bad in ctx.nonfinite.items():
            first = self._nonfinite.get(name)
            if first is None:
                first = torch.tensor(math.inf, dtype=torch.float64, device=self.device)
            self._nonfinite[name] = torch.where(bad & torch.isinf(first),
                                                torch.tensor(self.step + 1.0, dtype=torch.float64,
                                                             device=self.device), first)

    def _ema_decay(self, step: int) -> float:
        """EMA decay of optimiser step ``step`` (1-based): 0 (copy) up to ``ema_start``, then
        ``ema_decay``, ramped as ``(1 + n) / (10 + n)`` if ``ema_ramp``."""
        cfg = self.config
        n = step - cfg.ema_start
        if n <= 0:
            return 0.0
        return min(cfg.ema_decay, (1 + n) / (10 + n)) if cfg.ema_ramp else cfg.ema_decay

    def _warn_ema(self):
        cfg = self.config
        if not self.system.ema or cfg.ema_ramp or cfg.ema_start > 0 or not self.dist.is_main:
            return
        left = cfg.ema_decay ** self.step
        if left > 0.1:
            logger.warning("after %d steps with train.ema_decay=%g the EMA weights still hold %.0f%% "
                           "of the initial weights; set train.ema_ramp=true (or train.ema_start), "
                           "or train longer, before scoring them", self.step, cfg.ema_decay,
                           100 * left)

    # ----------------------------------------------------------------- monitoring
    def _open_monitor(self, resumed: bool):
        if not (self.config.tensorboard and self.dist.is_main):
            return
        try:
            from solarmodels.monitor import Monitor

            self._monitor = Monitor(self.run_dir / "tensorboard",
                                    purge_step=self.step + 1 if resumed else None)
        except ImportError as exc:
            logger.warning("TensorBoard logging is off: %s (pip install tensorboard, or set "
                           "train.tensorboard=false)", exc)

    def _write_images(self):
        """Image grid of a fixed batch (rank 0 writes; under FSDP every rank runs the networks).
        The RNG states are restored afterwards, so previews never change the training."""
        fsdp = self.parallel == "fsdp"
        if not (self._monitor is not None or (fsdp and self.config.tensorboard)):
            return
        from solarmodels.monitor import preview_grid

        data = self.val_data if self.val_data is not None else self.train_data
        if self._preview is None:
            n = min(4, len(data))
            self._preview = self.collate_fn([data[i] for i in range(n)])
        batch = move_batch(self._preview, self.device, channels_last=self.config.channels_last)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), self._autocast():
            grid = preview_grid(self.system, batch)
        if grid is not None and self._monitor is not None:
            self._monitor.image(grid[0], grid[1].float(), self.step)

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, data: Any = None, *, max_batches: int | None = None) -> dict:
        """Mean of ``system.validation_step`` over ``data`` (default ``val_data``), weighted by
        batch size; networks in eval mode, no gradients, same autocast as training.

        Under ``torch.distributed`` every rank evaluates a contiguous share of the (first
        ``max_batches × batch_size``) samples and the sums are reduced: every rank returns
        the same numbers."""
        self._setup()
        data = self.val_data if data is None else data
        if data is None:
            return {}
        ctx = self.dist
        b = self.config.batch_size
        max_batches = max_batches if max_batches is not None else self.config.val_batches
        limit = min(len(data), max_batches * b) if max_batches else len(data)
        if limit == 0:
            return {}
        share = -(-limit // ctx.world_size)
        indices = list(range(min(ctx.rank * share, limit), min((ctx.rank + 1) * share, limit)))
        sums, total, done = {}, 0, 0
        with self.system._eval_mode(), self._autocast():
            for batch in self._loader(data, sampler=indices, drop_last=False):
                batch = move_batch(batch, self.device, channels_last=self.config.channels_last)
                n = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
                for k, v in self.system.validation_step(batch).items():
                    sums[k] = sums.get(k, 0.0) + float(v) * n
                total += n
                done += 1
            if self.parallel == "fsdp":          # sharded networks: every rank runs as often
                pad = self.collate_fn([data[i] for i in range(min(b, limit))])
                for _ in range(-(-share // b) - done):
                    self.system.validation_step(move_batch(pad, self.device))
        keys = sorted(sums)
        if ctx.world_size > 1:
            keys = ctx.broadcast_object(keys)
            flat = torch.tensor([sums.get(k, 0.0) for k in keys] + [float(total)],
                                dtype=torch.float64, device=self.device)
            values = ctx.all_reduce(flat, "sum").tolist()
            sums, total = dict(zip(keys, values[:-1])), values[-1]
        return {k: sums[k] / max(total, 1) for k in keys}

    # ----------------------------------------------------------------- loop
    def fit(self, resume: bool = True, *, stop_at: int | None = None) -> dict:
        """Train until ``config.steps`` (or ``stop_at``, or ``config.minutes``), saving a
        checkpoint where it stops.

        Parameters
        ----------
        resume : bool
            Continue from ``latest_checkpoint(run_dir)`` if there is one.
        stop_at : int, optional
            Stop after this step (simulates an interruption; a checkpoint is written).

        Returns
        -------
        dict
            ``{"step", "seconds", "train": last train logs, "val": last evaluation,
            "stopped": "steps" | "stop_at" | "minutes"}``.
        """
        cfg = self.config
        ctx = self.dist
        self._setup()
        ck = latest_checkpoint(self.run_dir) if resume and ctx.is_main else None
        ck = ctx.broadcast_object(ck)
        if ck is not None:
            self.load_checkpoint(ck)
        else:
            if cfg.init_from:
                self.init_weights(cfg.init_from)
            seed_everything(cfg.seed)
            if ctx.rank:
                seed_everything(distributed.rank_seed(cfg.seed, ctx.rank))
            self.step, self.epoch, self.sample_in_epoch = 0, 0, 0
            self.history, self._acc = [], {}
            if ctx.is_main:
                self._write_history()
        self._nonfinite = {}
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        start = self.step
        t0 = time.perf_counter()
        last_train, last_val = {}, {}
        stopped = "steps" if end == cfg.steps else "stop_at"
        batches = self._train_batches()
        from tqdm.auto import tqdm

        self._open_monitor(resumed=ck is not None)
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (cfg.progress and ctx.is_main),
                   desc=getattr(self.system, "system_name", "train"), dynamic_ncols=True)
        try:
            while self.step < end:
                self._train_step(batches)
                bar.update(1)
                at_log = bool(cfg.log_every) and self.step % cfg.log_every == 0
                at_eval = self.val_data is not None and (
                    (bool(cfg.eval_every) and self.step % cfg.eval_every == 0)
                    or self.step == cfg.steps)
                at_ckpt = bool(cfg.checkpoint_every) and self.step % cfg.checkpoint_every == 0
                over = bool(cfg.minutes) and time.perf_counter() - t0 >= 60 * cfg.minutes
                sync = at_log or at_eval or at_ckpt or self.step == end or (
                    over and ctx.world_size == 1)
                over = self._sync_flags(over) if sync else False
                if over and self.step < end:
                    stopped = "minutes"
                    logger.info("time budget of %g min spent at step %d", cfg.minutes, self.step)
                final = self.step == end or over
                if at_log or final:
                    last_train = self._reduce_logs()
                    self._acc = {}
                    row = {"step": self.step, "split": "train", **last_train}
                    row.update({f"lr_{k}": o.param_groups[0]["lr"] for k, o in self.optimizers.items()})
                    row["seconds"] = round(time.perf_counter() - t0, 3)
                    self._log(row)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in list(last_train.items())[:3]},
                                    refresh=False)
                if self.val_data is not None and (at_eval or over):
                    last_val = self.evaluate()
                    self._log({"step": self.step, "split": "val", **last_val})
                    if ctx.is_main:
                        logger.info("step %d: %s", self.step, last_val)
                if cfg.image_every and self.step % cfg.image_every == 0:
                    self._write_images()
                if at_ckpt or final:
                    self.save_checkpoint()
                if over:
                    break
        finally:
            bar.close()
            if self._monitor is not None:
                self._monitor.close()
                self._monitor = None
        if self.step == start and self.val_data is not None:   # nothing left to train
            last_val = self.evaluate()
        seconds = time.perf_counter() - t0
        if not all(math.isfinite(v) for v in last_train.values()) and ctx.is_main:
            logger.warning("non-finite training logs at step %d: %s", self.step, last_train)
        self._warn_ema()
        return {"step": self.step, "seconds": seconds, "train": last_train, "val": last_val,
                "stopped": stopped}

    def _train_step(self, batches):
        """One optimiser step over ``grad_accum`` micro-batches; logs stay on the device."""
        cfg = self.config
        self.system.train()
        step_logs = {}
        for micro in range(cfg.grad_accum):
            batch = next(batches)
            ctx = StepContext(self.optimizers, self.schedulers, step=self.step, micro=micro,
                              grad_accum=cfg.grad_accum, grad_clip=cfg.grad_clip,
                              device=self.device, defer_checks=self.defer_checks)
            with self._autocast(), self._ddp_networks(micro == cfg.grad_accum - 1):
                logs = self.system.training_step(batch, ctx)
            for k, v in (logs or {}).items():
                step_logs[k] = step_logs.get(k, 0.0) + _as_log(v) / cfg.grad_accum
            for k, v in ctx.grad_norms.items():
                step_logs[f"grad_norm_{k}"] = _as_log(v)
            self._note_nonfinite(ctx)
        distributed.sync_buffers(self.system.networks.values(), self.dist)
        self.system.update_ema(self._ema_decay(self.step + 1))
        self.step += 1
        for k, v in step_logs.items():
            acc = self._acc.setdefault(k, [0.0, 0])
            acc[0] = acc[0] + v
            acc[1] += 1


def _deterministic(device: torch.device):
    """``torch.use_deterministic_algorithms(True)``; on CUDA also the cuBLAS workspace setting
    that deterministic matrix products need (read when cuBLAS starts: set it before)."""
    if device.type == "cuda" and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        if torch.cuda.is_initialized():
            logger.warning("CUBLAS_WORKSPACE_CONFIG set to :4096:8 after CUDA started; if a "
                           "matrix product then raises, export it before launching")
    torch.use_deterministic_algorithms(True)
