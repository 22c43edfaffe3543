"""One plain-PyTorch training loop for every :class:`~solarmodels.systems.base.System`.

``Trainer(system, train_data, val_data, config, run_dir).fit()`` runs ``config.steps`` optimiser
steps on CUDA when present (else the CPU), with optional bf16 autocast, channels-last tensors,
``torch.compile``, EMA, gradient accumulation and clipping, a tqdm bar, CSV/JSON-lines logs,
periodic evaluation and checkpoints. ``fit(resume=True)`` continues from the newest checkpoint in
``run_dir`` and reproduces the uninterrupted run bit for bit on the CPU: it restores the weights,
optimisers, schedulers, the Python / NumPy / torch RNG states, the epoch and position of the data
sampler and the step. The sampler permutation and the DataLoader's worker seeds come from
generators seeded by ``(seed, epoch)``, never from the global RNG, so creating a loader mid-epoch
after a resume consumes no random numbers that the uninterrupted run would not.

Run folder::

    config.json          resolved run configuration (written by the CLI / ``run_config=``)
    metrics.jsonl        one JSON object per log / evaluation row
    metrics.csv          the same rows as a table (rewritten at each row)
    checkpoints/step_00001000/   see :mod:`solarmodels.checkpoint`
    checkpoints/latest   name of the newest checkpoint folder
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import pathlib
import random
import shutil
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from solarmodels.checkpoint import (
    data_fingerprint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from solarmodels.config import ConfigError, TrainConfig, build_dataclass, save_config, to_dict
from solarmodels.systems.base import StepContext

__all__ = ["Trainer", "TrainConfig", "seed_everything", "resolve_device", "collate",
           "latest_checkpoint", "move_batch"]

logger = logging.getLogger(__name__)


def seed_everything(seed: int):
    """Seed Python's ``random``, NumPy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seed the global RNG that user code may use)
    torch.manual_seed(seed)


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` when torch sees a GPU, else ``cpu``; other strings pass through."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={device!r} but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    return dev


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


def move_batch(batch: dict, device, *, channels_last=False) -> dict:
    """Tensors of ``batch`` to ``device`` (non-blocking), 4-D floats channels-last if asked."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if channels_last and value.ndim == 4 and value.is_floating_point():
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


def latest_checkpoint(run_dir) -> pathlib.Path | None:
    """The newest checkpoint folder of a run (``checkpoints/latest``), or None."""
    ckdir = pathlib.Path(run_dir) / "checkpoints"
    pointer = ckdir / "latest"
    if pointer.is_file():
        path = ckdir / pointer.read_text().strip()
        if path.is_dir():
            return path
    found = sorted(ckdir.glob("step_*")) if ckdir.is_dir() else []
    return found[-1] if found else None


class _EpochSampler(Sampler):
    """A seeded permutation of ``n`` indices for one epoch, starting ``offset`` samples in."""

    def __init__(self, n, seed, epoch, offset=0):
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
        self.indices = torch.randperm(n, generator=g)[offset:].tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


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
    """

    def __init__(self, system, train_data, val_data=None, config=None, run_dir="run", *,
                 run_config=None, collate_fn=None):
        self.system = system
        self.train_data = train_data
        self.val_data = val_data
        self.config = build_dataclass(TrainConfig, config, where="train")
        self.run_dir = pathlib.Path(run_dir)
        self.run_config = run_config
        self.collate_fn = collate_fn or collate
        self.device = resolve_device(self.config.device)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.history: list[dict] = []
        self._acc: dict[str, list[float]] = {}
        self._ready = False
        if len(train_data) < self.config.batch_size:
            raise ConfigError(f"the training data hold {len(train_data)} samples, fewer than "
                              f"train.batch_size={self.config.batch_size}; lower the batch size")

    # ----------------------------------------------------------------- setup
    def _setup(self):
        if self._ready:
            return
        cfg = self.config
        system = self.system
        system.train_config = cfg
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = not cfg.deterministic
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        if cfg.ema_decay > 0 and not system.ema:
            system.enable_ema(cfg.ema_decay)
        system.to(self.device)
        if cfg.channels_last:
            for net in system.networks.values():
                net.to(memory_format=torch.channels_last)
            for ema in system.ema.values():
                ema.module.to(memory_format=torch.channels_last)
        self.optimizers = system.configure_optimizers()
        self.schedulers = system.configure_schedulers(self.optimizers)
        if cfg.compile:
            for net in system.networks.values():
                net.compile()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.run_config is not None:
            save_config(self.run_config, self.run_dir / "config.json")
        self._ready = True

    def _autocast(self):
        if self.config.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ----------------------------------------------------------------- data
    def _loader(self, dataset, *, sampler=None, generator_seed=0):
        cfg = self.config
        return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                          shuffle=False, drop_last=sampler is not None,
                          num_workers=cfg.num_workers, collate_fn=self.collate_fn,
                          pin_memory=self.device.type == "cuda"
                          and not getattr(dataset, "on_device", False),
                          generator=torch.Generator().manual_seed(generator_seed))

    def _train_batches(self):
        cfg = self.config
        n = len(self.train_data)
        while True:
            if hasattr(self.train_data, "set_epoch"):
                self.train_data.set_epoch(self.epoch)
            sampler = _EpochSampler(n, cfg.seed, self.epoch, self.batch_in_epoch * cfg.batch_size)
            for batch in self._loader(self.train_data, sampler=sampler,
                                      generator_seed=cfg.seed * 7919 + self.epoch):
                self.batch_in_epoch += 1
                yield move_batch(batch, self.device, channels_last=cfg.channels_last)
            self.epoch += 1
            self.batch_in_epoch = 0

    # ----------------------------------------------------------------- state
    def _state(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
                "rng": rng_state(),
                "log_acc": {k: [float(v[0]), float(v[1])] for k, v in self._acc.items()}}

    def save_checkpoint(self) -> pathlib.Path:
        """Write ``checkpoints/step_<step>`` and point ``checkpoints/latest`` at it."""
        ckdir = self.run_dir / "checkpoints"
        ckdir.mkdir(parents=True, exist_ok=True)
        name = f"step_{self.step:08d}"
        meta = {"step": self.step, "epoch": self.epoch,
                "system": getattr(self.system, "system_name", type(self.system).__name__),
                "data_fingerprint": data_fingerprint(self.train_data),
                "target_attrs": getattr(self.train_data, "target_attrs", None),
                "train": to_dict(self.config)}
        path = save_checkpoint(ckdir / name, self.system,
                               config=self.run_config if self.run_config is not None else {},
                               state=self._state(), meta=meta)
        tmp = ckdir / "latest.tmp"
        tmp.write_text(name + "\n")
        tmp.replace(ckdir / "latest")
        keep = max(1, self.config.keep_checkpoints)
        for old in sorted(ckdir.glob("step_*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        logger.info("checkpoint %s", path)
        return path

    def load_checkpoint(self, path):
        """Restore weights, optimisers, schedulers, RNG, sampler position and step from ``path``."""
        self._setup()
        ck = load_checkpoint(path, self.system, map_location="cpu")
        state = ck["state"]
        if state is None:
            raise ConfigError(f"checkpoint {path} has no training state (state.pt); it can be "
                              "used for prediction but not to resume")
        self.system.to(self.device)
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, sch in self.schedulers.items():
            sch.load_state_dict(state["schedulers"][k])
        set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self._acc = {k: list(v) for k, v in state.get("log_acc", {}).items()}
        self.history = [r for r in self._read_history() if r.get("step", 0) <= self.step]
        self._write_history()
        logger.info("resumed from %s at step %d", path, self.step)

    # ----------------------------------------------------------------- logs
    def _read_history(self):
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _write_history(self):
        rows = self.history
        (self.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        keys = []
        for r in rows:
            keys.extend(k for k in r if k not in keys)
        with open(self.run_dir / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    def _log(self, row: dict):
        self.history.append(row)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        self._write_history()

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, data=None, *, max_batches=None) -> dict:
        """Mean of ``system.validation_step`` over ``data`` (default ``val_data``), weighted by
        batch size; networks in eval mode, no gradients, same autocast as training."""
        self._setup()
        data = self.val_data if data is None else data
        if data is None:
            return {}
        max_batches = max_batches if max_batches is not None else self.config.val_batches
        sums, total = {}, 0
        with self.system._eval_mode(), self._autocast():
            for i, batch in enumerate(self._loader(data)):
                if max_batches and i >= max_batches:
                    break
                batch = move_batch(batch, self.device, channels_last=self.config.channels_last)
                n = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
                for k, v in self.system.validation_step(batch).items():
                    sums[k] = sums.get(k, 0.0) + float(v) * n
                total += n
        return {k: v / max(total, 1) for k, v in sums.items()}

    # ----------------------------------------------------------------- loop
    def fit(self, resume: bool = True, *, stop_at: int | None = None) -> dict:
        """Train until ``config.steps`` (or ``stop_at``, saving a checkpoint there).

        Parameters
        ----------
        resume : bool
            Continue from ``latest_checkpoint(run_dir)`` if there is one.
        stop_at : int, optional
            Stop after this step (simulates an interruption; a checkpoint is written).

        Returns
        -------
        dict
            ``{"step", "seconds", "train": last train logs, "val": last evaluation}``.
        """
        cfg = self.config
        self._setup()
        ck = latest_checkpoint(self.run_dir) if resume else None
        if ck is not None:
            self.load_checkpoint(ck)
        else:
            seed_everything(cfg.seed)
            self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
            self.history = []
            self._write_history()
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        start = self.step
        t0 = time.perf_counter()
        last_train, last_val = {}, {}
        batches = self._train_batches()
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=self.step, disable=not cfg.progress,
                   desc=getattr(self.system, "system_name", "train"), dynamic_ncols=True)
        try:
            while self.step < end:
                self.system.train()
                step_logs = {}
                for micro in range(cfg.grad_accum):
                    batch = next(batches)
                    ctx = StepContext(self.optimizers, self.schedulers, step=self.step,
                                      micro=micro, grad_accum=cfg.grad_accum,
                                      grad_clip=cfg.grad_clip, device=self.device)
                    with self._autocast():
                        logs = self.system.training_step(batch, ctx)
                    for k, v in (logs or {}).items():
                        step_logs[k] = step_logs.get(k, 0.0) + float(v) / cfg.grad_accum
                    for k, v in ctx.grad_norms.items():
                        step_logs[f"grad_norm_{k}"] = v
                self.system.update_ema()
                self.step += 1
                for k, v in step_logs.items():
                    acc = self._acc.setdefault(k, [0.0, 0.0])
                    acc[0] += v
                    acc[1] += 1
                bar.update(1)
                if step_logs:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in list(step_logs.items())[:3]},
                                    refresh=False)
                final = self.step == end
                if (cfg.log_every and self.step % cfg.log_every == 0) or final:
                    last_train = {k: s / max(c, 1) for k, (s, c) in self._acc.items()}
                    row = {"step": self.step, "split": "train", **last_train}
                    lrs = {f"lr_{k}": o.param_groups[0]["lr"] for k, o in self.optimizers.items()}
                    row.update(lrs)
                    row["seconds"] = round(time.perf_counter() - t0, 3)
                    self._log(row)
                    self._acc = {}
                if self.val_data is not None and (
                        (cfg.eval_every and self.step % cfg.eval_every == 0)
                        or self.step == cfg.steps):
                    last_val = self.evaluate()
                    self._log({"step": self.step, "split": "val", **last_val})
                    logger.info("step %d: %s", self.step, last_val)
                if (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) or final:
                    self.save_checkpoint()
        finally:
            bar.close()
        if self.step == start and self.val_data is not None:   # nothing left to train
            last_val = self.evaluate()
        seconds = time.perf_counter() - t0
        if not all(math.isfinite(v) for v in last_train.values()):
            logger.warning("non-finite training logs at step %d: %s", self.step, last_train)
        return {"step": self.step, "seconds": seconds, "train": last_train, "val": last_val}
