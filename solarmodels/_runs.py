"""Runs from configuration files: build, train, reopen (used by the CLI and the evaluation).

* :func:`build_run` turns a :class:`~solarmodels.config.RunConfig` into a system and its datasets,
* :func:`train_run` trains it in a run folder (resolved config saved there), after the system has
  checked that the data are scaled the way it expects (:meth:`System.check_data`) and saying so
  when the data have no validation split,
* :func:`load_run` rebuilds the system of a run folder from its ``config.json`` and newest
  checkpoint (EMA weights used for prediction when the run kept them); the relative paths of
  the configuration (``data.path``, ``data.timelines``, ``system_config.autoencoder``,
  ``train.init_from``) are found from the current directory, else from the directory the run
  was trained in (``base_dir`` of the checkpoint's ``meta.json``), else from the nearest folder
  above the run that holds them (a moved project), so a run opens from anywhere,
* :func:`open_run` returns a :class:`RunContext`: the system, its configuration and checkpoint
  meta, and the run's datasets by split (optionally from another data file), which every
  System's ``evaluate`` / ``predict_file`` / ``sample_file`` receives,
* :func:`comparison_figure`, :func:`write_netcdf`: shared output helpers.
"""
from __future__ import annotations

import copy
import inspect
import json
import logging
import os
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from solarmodels import registry
from solarmodels.checkpoint import CheckpointError, load_checkpoint, read_meta
from solarmodels.config import ConfigError, RunConfig, load_config
from solarmodels.trainer import Trainer, latest_checkpoint, seed_everything
from solarprep.errors import SolarDataError

if TYPE_CHECKING:
    import torch

    from solarmodels.systems.base import System

__all__ = ["build_run", "train_run", "load_run", "open_run", "RunContext", "comparison_figure",
           "write_netcdf"]

logger = logging.getLogger(__name__)


def _datasets(run: RunConfig, splits=("train", "val")):
    data = dict(run.data)
    name = data.pop("dataset", None)
    if not name:
        raise ConfigError("config [data] needs dataset = '<name>' (one of "
                          f"{registry.list_datasets()})")
    return [registry.create_dataset(name, split=s, **data) for s in splits]


def build_run(run: RunConfig, *, with_data=True):
    """``(system, train_data, val_data)`` of a run configuration (model built after seeding)."""
    if not run.model or not run.system:
        raise ConfigError("config needs model = '<name>' and system = '<name>' "
                          f"(models: {registry.list_models()}, systems: {registry.list_systems()})")
    seed_everything(run.train.seed)
    net = registry.create_model(run.model, run.model_config)
    system = registry.create_system(run.system, run.system_config, net)
    train, val = _datasets(run) if with_data else (None, None)
    if with_data and train is None:
        raise ConfigError(f"dataset {run.data.get('dataset')!r} has no training split")
    return system, train, val


def train_run(config, run_dir, *, overrides=None, resume=True, allow_unscaled=False) -> dict:
    """Load ``config`` (path or dict), build the run and train it in ``run_dir``.

    Parameters
    ----------
    config : path-like, dict or RunConfig
    run_dir : path-like
    overrides : list of str, optional
        ``"section.key=value"`` items.
    resume : bool
        Continue from the newest checkpoint of ``run_dir``.
    allow_unscaled : bool
        Train even when :meth:`System.check_data` finds data that are not scaled the way the
        system expects (a loud warning instead of a :class:`ConfigError`).

    Returns
    -------
    dict
        The trainer's result plus ``run_dir`` and ``warnings`` (no validation split,
        unscaled data).
    """
    run = load_config(config, overrides)
    system, train, val = build_run(run)
    warnings = []
    problems = system.check_data(train)
    if problems:
        text = (f"the training data of {run.system!r} are not scaled the way it expects: "
                + "; ".join(problems))
        if not allow_unscaled:
            raise ConfigError(text + " (scale them first, e.g. solarprep build-pairs --scale, or "
                              "pass --allow-unscaled to train anyway)")
        logger.warning("!!! %s — training anyway (allow_unscaled)", text)
        warnings.append(text)
    if val is None or len(val) == 0:
        text = (f"the data have no validation split (dataset {run.data.get('dataset')!r}): no "
                "validation loss will be logged; add a 'split' coordinate with 'val' samples "
                "(solarprep build-pairs --split), data.val_fraction, or val regions")
        logger.warning(text)
        warnings.append(text)
        val = None
    trainer = Trainer(system, train, val, run.train, run_dir, run_config=run)
    result = trainer.fit(resume=resume)
    result["run_dir"] = str(run_dir)
    result["warnings"] = warnings
    return result


def _checkpoint_paths(run_dir):
    run_dir = pathlib.Path(run_dir)
    if (run_dir / "weights.safetensors").exists():
        return run_dir, run_dir / "config.json"
    ck_path = latest_checkpoint(run_dir)
    if ck_path is None:
        raise CheckpointError(f"{run_dir} has no checkpoints/ (train it first: "
                              "solarmodels train CONFIG --run-dir RUN)")
    return ck_path, run_dir / "config.json"


#: Path-valued fields of a run configuration as ``(section, key)``; a list value holds paths.
_PATH_FIELDS = (("data", "path"), ("data", "timelines"), ("system_config", "autoencoder"),
                ("train", "init_from"))


def _resolve_run_paths(raw, run_dir, base_dir):
    """``(config, hint)``: a trained run's configuration ``raw`` (the dict of its
    ``config.json``) with each relative path of :data:`_PATH_FIELDS` found, in this order, from
    the current directory (kept as given), from ``base_dir`` (the directory the run was
    trained in, recorded in its checkpoint's ``meta.json``; ``None`` for older runs) or from
    the nearest folder above ``run_dir`` under which it exists (a moved project: run
    ``X/runs/demo/r`` with ``runs/demo/p.nc`` gives ``X/runs/demo/p.nc``). Absolute paths and
    paths found nowhere are left as they are (the dataset or system then raises its own error);
    ``hint`` (``""`` when every path was found) says what happened, for those errors."""
    run_dir = pathlib.Path(os.path.abspath(run_dir))
    roots = ([pathlib.Path(base_dir)] if base_dir else []) + list(run_dir.parents)
    config = copy.deepcopy(raw)
    missing = []

    def find(value, where):
        path = pathlib.Path(value)
        if not value or path.is_absolute() or path.exists():
            return value
        for root in roots:
            if (root / path).exists():
                logger.debug("%s: %s = %r resolved to %s", run_dir, where, value, root / path)
                return str(root / path)
        missing.append(f"{where} = {value!r}")
        return value

    for section, key in _PATH_FIELDS:
        block = config.get(section)
        value = block.get(key) if isinstance(block, dict) else None
        if isinstance(value, list):
            block[key] = [find(str(v), f"{section}.{key}") for v in value]
        elif isinstance(value, str):
            block[key] = find(value, f"{section}.{key}")
    hint = ""
    if missing:
        hint = (f"{run_dir / 'config.json'} keeps paths as given at training, relative to the "
                f"directory the run was trained in ({base_dir or 'not recorded'}); "
                f"not found from the current directory, from there or from a folder above the "
                f"run: {', '.join(missing)}; give the data file explicitly "
                "(solarmodels evaluate RUN DATA) or edit the path in config.json")
    return config, hint


def _load(run_dir, device):
    """``(system, run_config, meta, hint)`` of a run folder (see :func:`load_run`)."""
    ck_path, cfg_path = _checkpoint_paths(run_dir)
    if not cfg_path.exists():
        raise CheckpointError(f"{cfg_path} is missing: cannot rebuild the networks of {run_dir}")
    meta = read_meta(ck_path)["meta"]
    raw, hint = _resolve_run_paths(json.loads(cfg_path.read_text()), cfg_path.parent,
                                   meta.get("base_dir"))
    run = load_config(raw)
    try:
        system, _, _ = build_run(run, with_data=False)
    except ConfigError as exc:
        if hint:
            raise ConfigError(f"{exc} ({hint})") from exc
        raise
    ck = load_checkpoint(ck_path, None, with_state=False)
    if any(k.startswith("ema.") for k in ck["weights"]):
        system.enable_ema(run.train.ema_decay or 0.999)
    try:
        system.load_state_dict(ck["weights"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(
            f"checkpoint {ck_path} does not match the networks that {cfg_path.name} describes "
            f"(model {run.model!r}, system {run.system!r}): {exc}") from exc
    system.train_config = run.train
    system.to(device)
    return system, run, meta, hint


def load_run(run_dir: str | os.PathLike[str], *, device: str | torch.device = "cpu"
             ) -> tuple[System, RunConfig]:
    """``(system, run_config)`` of a trained run folder (or a checkpoint folder).

    Relative paths of its ``config.json`` are resolved as the module docstring says, so the run
    opens from any working directory and after its project folder was moved."""
    system, run, _, _ = _load(run_dir, device)
    return system, run


class RunContext:
    """A trained run opened for evaluation, prediction or sampling.

    Attributes
    ----------
    run_dir : pathlib.Path
    system : System
        With the checkpoint's weights (and EMA averages when kept), on ``device``.
    config : RunConfig
        The resolved configuration of the run.
    meta : dict
        The checkpoint's ``meta.json`` (``step``, ``target_attrs`` = the training data's
        scaling or normalisation, versions...).
    data : str
        ``"config"`` (the run's own data) or a data file replacing the configured ``path``.
    """

    def __init__(self, run_dir, system, config, meta, *, data="config"):
        self.run_dir = pathlib.Path(run_dir)
        self.system = system
        self.config = config
        self.meta = meta
        self.data = str(data)
        self._cache = {}
        self._path_hint = ""

    @property
    def step(self) -> int:
        """Optimiser steps of the checkpoint."""
        return int(self.meta.get("step", 0))

    @property
    def target_attrs(self) -> dict:
        """Scaling / normalisation of the training data as stored in the checkpoint."""
        return dict(self.meta.get("target_attrs") or {})

    def _data_config(self, own):
        cfg = dict(self.config.data)
        name = cfg.pop("dataset", None)
        if not name:
            raise ConfigError(f"{self.run_dir}: the run's config has no data.dataset")
        if not own and self.data != "config":
            cfg["path"] = self.data
            for key in ("timelines", "synthetic"):
                cfg.pop(key, None)
        return name, cfg

    def dataset(self, split, *, own=False, **overrides):
        """The run's dataset for ``split`` (``None`` if absent), from the data file given to
        :func:`open_run` unless ``own`` (the run's configured data); ``overrides`` replace
        data keys (e.g. ``augment=False``)."""
        name, cfg = self._data_config(own)
        params = inspect.signature(registry.dataset_builder(name)).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            overrides = {k: v for k, v in overrides.items() if k in params}
        cfg.update(overrides)
        key = (split, own, json.dumps(overrides, sort_keys=True, default=str))
        if key not in self._cache:
            try:
                self._cache[key] = registry.create_dataset(name, split=split, **cfg)
            except (FileNotFoundError, ConfigError, SolarDataError) as exc:
                hint = f" ({self._path_hint})" if self._path_hint else ""
                if own and not isinstance(exc, SolarDataError):
                    logger.warning("%s: the run's %s data are not available (%s)%s",
                                   self.run_dir, split, exc, hint)
                    self._cache[key] = None
                elif hint and (own or self.data == "config"):
                    raise type(exc)(f"{exc}{hint}") from exc
                else:
                    raise
        return self._cache[key]

    def train_dataset(self, **overrides):
        """The training split the run used (its configured data; for baselines such as the
        training mean), or ``None`` when those data are gone."""
        return self.dataset("train", own=True, **overrides)

    def eval_dataset(self, split="test", **overrides):
        """``(dataset, split)`` to evaluate: ``split``, else (for ``"test"``) the validation
        split with a warning; never the training split unless asked for."""
        ds = self.dataset(split, **overrides)
        if (ds is None or len(ds) == 0) and split == "test":
            ds = self.dataset("val", **overrides)
            if ds is not None and len(ds):
                logger.warning("%s: the data have no test split; evaluating the validation "
                               "split instead", self.data)
                return ds, "val"
        if ds is None or len(ds) == 0:
            raise ConfigError(f"no samples to evaluate in {self.data} (split {split!r})")
        return ds, split

    def provenance(self) -> dict:
        """Attributes naming the run, checkpoint step and versions (for output files)."""
        versions = self.meta.get("versions") or {}
        return {"source_run": str(self.run_dir), "model": self.config.model,
                "system": self.config.system, "checkpoint_step": self.step,
                "git_revision": str(self.meta.get("git_revision") or ""),
                "solarprep_version": str(versions.get("solarprep") or "")}


def open_run(run_dir: str | os.PathLike[str], *, device: str | torch.device = "cpu",
             data: str | os.PathLike[str] = "config") -> RunContext:
    """Open a trained run (:class:`RunContext`); ``data`` a data file replacing its own."""
    system, run, meta, hint = _load(run_dir, device)
    ctx = RunContext(run_dir, system, run, meta, data=data)
    ctx._path_hint = hint
    return ctx


def write_netcdf(ds, path):
    """Write ``ds`` to ``path`` with :func:`solarprep.save` (atomic, durable, CF units); no
    convention check, since metric tables and model outputs of non-solar test data are not
    solar Datasets."""
    from solarprep.io.storage import save

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(ds, path, check=False)


def comparison_figure(inp, target, output, *, titles=None, units=None):
    """Figure of input, target, output and output − target for one sample (2-D arrays).

    Target and output share one colour scale; the difference is symmetric about zero.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    titles = titles or ("input", "target", "output", "output − target")
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    axes = fig.subplots(1, 4)
    lo, hi = np.nanpercentile(np.concatenate([target.ravel(), output.ravel()]), [1, 99])
    diff = output - target
    d = np.nanpercentile(np.abs(diff), 99) or 1.0
    for ax, img, title, kw in zip(axes, (inp, target, output, diff), titles,
                                  ({"cmap": "gray"}, {"cmap": "inferno", "vmin": lo, "vmax": hi},
                                   {"cmap": "inferno", "vmin": lo, "vmax": hi},
                                   {"cmap": "RdBu_r", "vmin": -d, "vmax": d})):
        im = ax.imshow(img, origin="lower", **kw)
        ax.set_title(title if not units else f"{title} [{units}]" if title != titles[0] else title,
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig
