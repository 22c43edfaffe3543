"""Run configuration: dataclasses loaded from TOML / YAML / JSON with ``key.sub=value`` overrides.

A run file names the network, the training system, the data and the trainer settings::

    model = "pix2pix_unet"
    system = "pix2pix_b"

    [model_config]
    image_size = 256
    in_channels = 1
    out_channels = 1

    [system_config]
    lambda_l1 = 100.0

    [data]
    dataset = "pairs"
    path = "pairs.nc"
    input = ["hmi_blos"]
    target = ["aia_171"]

    [train]
    steps = 10000
    batch_size = 8
    precision = "bf16"

``load_config("run.toml", overrides=["train.lr=1e-3", "model_config.ngf=32"])`` returns a
:class:`RunConfig` whose ``model_config`` and ``system_config`` were checked against the model's
and the system's dataclasses (a typo raises :class:`ConfigError` naming the closest valid key).
YAML is read only when PyYAML is installed. :func:`save_config` writes the resolved configuration
(every default filled in) as JSON beside the run.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import pathlib
import tomllib
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING

from solarmodels.errors import ConfigError  # noqa: F401 (re-exported)
from solarprep.io.atomic import write_text

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable
    from typing import Any

__all__ = ["TrainConfig", "RunConfig", "load_config", "save_config",
           "build_dataclass", "apply_overrides", "parse_value", "to_dict", "default_run_dir"]

logger = logging.getLogger(__name__)

_T = typing.TypeVar("_T")


@dataclasses.dataclass
class TrainConfig:
    """Settings of :class:`solarmodels.trainer.Trainer`.

    Parameters
    ----------
    steps : int
        Optimiser steps (each of ``grad_accum`` micro-batches of ``batch_size``).
    batch_size : int
        Samples per micro-batch.
    lr : float or None
        Learning rate; ``None`` keeps the system's default (``System.default_lr``).
    seed : int
        Seeds Python, NumPy and torch, the sampler order and the data augmentation.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    precision : str
        ``"fp32"`` or ``"bf16"`` (autocast; no loss scaling needed).
    channels_last : bool
        Use the channels-last memory format for 4-D networks and batches.
    compile : bool
        ``torch.compile`` every network (in place, state-dict keys unchanged).
    ema_decay : float
        Exponential moving average of the system's ``ema_networks``; 0 disables it.
    grad_accum : int
        Micro-batches per optimiser step.
    grad_clip : float
        Global gradient-norm clip per optimiser; 0 disables it.
    eval_every, checkpoint_every, log_every : int
        Periods in optimiser steps (0 disables; the end of training always evaluates and saves).
    num_workers : int
        ``DataLoader`` worker processes.
    val_batches : int
        Upper bound on validation batches per evaluation (0: all).
    keep_checkpoints : int
        Step checkpoints kept on disk (oldest deleted first).
    progress : bool
        Show a tqdm progress bar.
    deterministic : bool
        ``torch.use_deterministic_algorithms(True)`` (slower on the GPU; on CUDA the trainer sets
        ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` when unset; see docs/training.md for the operations
        that raise).
    parallel : str
        ``"auto"`` (DDP when launched on several processes, e.g. by ``torchrun``, else none),
        ``"none"``, ``"ddp"`` or ``"fsdp"`` (FSDP2 ``fully_shard`` of every block list and of
        each network, for the large video transformers). ``"ddp"``/``"fsdp"`` in one process
        make a one-rank process group.
    sync_batchnorm : bool
        Under DDP, convert batch norm to ``SyncBatchNorm`` (statistics over the global batch;
        CUDA only). Off: each rank normalises with its own batch statistics and the running
        estimates are rank 0's, broadcast after every step.
    find_unused_parameters : bool
        Passed to DDP, for custom systems whose networks leave parameters out of some losses.
    minutes : float
        Wall-clock budget of one ``fit`` call (0: none); training stops after the step that
        exhausts it, with a checkpoint, and ``fit`` can resume later.
    ema_start : int
        The EMA copies the weights until this step, then averages.
    ema_ramp : bool
        Ramp the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))``, ``n`` steps after
        ``ema_start``, so short runs do not average in the initial weights.
    tensorboard : bool
        Write TensorBoard scalars and images under ``run_dir/tensorboard`` (rank 0).
    image_every : int
        Period of the image grids (inputs / outputs / targets, or samples); 0 disables them.
    check_finite : str
        ``"step"`` raises at the backward of a non-finite loss (a host sync per backward),
        ``"deferred"`` accumulates the check on the device and raises at the next log,
        evaluation or checkpoint (no checkpoint is written with non-finite weights),
        ``"auto"``: ``"step"`` in one CPU process, else ``"deferred"``.
    threads : int
        ``torch.set_num_threads`` for the run (0: torch's default, one per core). Tiny models on
        a few shared CPU cores train fastest with 1: more threads compete with numba's worker
        threads and each other (10-50× slower measured on 2 cores); the CPU configs set 1.
    init_from : str
        A run folder (or one of its ``checkpoints/step_…`` folders) whose weights initialise a
        fresh run (not a resumed one): its EMA weights when it kept them, else its weights,
        copied into every network (and EMA) tensor of the same name and shape; the others keep
        their initialisation and are listed in the log (the seed's stages 2 and 3 start from
        the EMA of the stage before).
    """

    steps: int = 1000
    batch_size: int = 1
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    ema_decay: float = 0.0
    grad_accum: int = 1
    grad_clip: float = 0.0
    eval_every: int = 500
    checkpoint_every: int = 1000
    log_every: int = 50
    num_workers: int = 0
    val_batches: int = 0
    keep_checkpoints: int = 2
    progress: bool = True
    deterministic: bool = False
    parallel: str = "auto"
    sync_batchnorm: bool = False
    find_unused_parameters: bool = False
    minutes: float = 0.0
    ema_start: int = 0
    ema_ramp: bool = False
    tensorboard: bool = True
    image_every: int = 1000
    check_finite: str = "auto"
    threads: int = 0
    init_from: str = ""

    def __post_init__(self):
        for name, allowed in (("parallel", ("auto", "none", "ddp", "fsdp")),
                              ("check_finite", ("auto", "step", "deferred"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"train.{name} must be one of {allowed}, got "
                                  f"{getattr(self, name)!r}")
        if self.minutes < 0 or self.ema_start < 0 or self.image_every < 0 or self.threads < 0:
            raise ConfigError("train.minutes, train.ema_start, train.image_every and "
                              "train.threads must be >= 0, got "
                              f"{self.minutes}, {self.ema_start}, {self.image_every}, "
                              f"{self.threads}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"train.precision must be 'fp32' or 'bf16', got {self.precision!r}")
        for name in ("steps", "batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclasses.dataclass
class RunConfig:
    """Everything a run needs: network, system, data and trainer settings."""

    model: str = ""
    model_config: dict = dataclasses.field(default_factory=dict)
    system: str = ""
    system_config: dict = dataclasses.field(default_factory=dict)
    data: dict = dataclasses.field(default_factory=dict)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    name: str = ""


# --------------------------------------------------------------------------- dataclass building

def _hints(cls):
    return typing.get_type_hints(cls)


def _coerce(value, hint, where):
    """Convert ``value`` to the annotation ``hint`` where the conversion is lossless."""
    origin = typing.get_origin(hint)
    if hint is typing.Any or hint is None:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if isinstance(value, Mapping):
            return build_dataclass(hint, value, None, where=where)
        raise ConfigError(f"{where}: expected a table of {hint.__name__} fields, got {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        items = [_coerce(v, args[0], where) for v in value] if len(args) == 1 or (
            len(typing.get_args(hint)) == 2 and typing.get_args(hint)[1] is Ellipsis) else list(value)
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
        if number != int(number):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(number)
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def build_dataclass(cls: type[_T], config: _T | Mapping[str, Any] | None = None,
                    overrides: Mapping[str, Any] | None = None, *, where: str | None = None) -> _T:
    """Instantiate dataclass ``cls`` from defaults, then ``config``, then ``overrides``.

    ``config`` is an instance of ``cls`` or a mapping of field values (nested dataclass fields
    accept nested mappings). Unknown keys raise :class:`ConfigError` naming the closest field;
    strings are converted to the annotated type (``"1e-3"`` → 1e-3 for a float field).
    """
    where = where or cls.__name__
    values = {}
    if config is not None:
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            if not isinstance(config, cls):
                raise ConfigError(f"{where}: expected a {cls.__name__}, got {type(config).__name__}")
            values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        elif isinstance(config, Mapping):
            values = dict(config)
        else:
            raise ConfigError(f"{where}: expected a mapping or {cls.__name__}, got {config!r}")
    values.update(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = _hints(cls)
    out = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint} Valid keys: {sorted(fields)}")
        out[key] = _coerce(value, hints.get(key, typing.Any), f"{where}.{key}")
    try:
        return cls(**out)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def to_dict(obj: Any) -> Any:
    """A JSON-ready copy of a dataclass (recursively), tuples as lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    return obj


# --------------------------------------------------------------------------- files and overrides

def parse_value(text: str) -> Any:
    """Parse one override value as TOML (``1e-3``, ``true``, ``[1, 2]``, ``"x"``); else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict, overrides: Iterable[str] | None) -> dict:
    """Apply ``["a.b=value", ...]`` to a nested dict (a copy); ``value`` is parsed by :func:`parse_value`."""
    data = json.loads(json.dumps(data, default=str))
    for item in overrides or ():
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key.sub=value (e.g. train.lr=1e-3)")
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a table")
            node = child
        node[parts[-1]] = parse_value(text.strip())
    return data


def _read(path: pathlib.Path) -> dict:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if suffix == ".toml":
        with open(path, "rb") as f:
            return tomllib.load(f)
    if suffix == ".json":
        return json.loads(path.read_text())
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), "
                              "or write the config as TOML") from None
        return yaml.safe_load(path.read_text()) or {}
    raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml, .json or .yaml")


def load_config(path_or_dict: str | os.PathLike[str] | Mapping, overrides: Any = None, *,
                validate: bool = True) -> RunConfig:
    """Read a :class:`RunConfig` from a TOML/YAML/JSON file or a dict, then apply ``overrides``.

    Parameters
    ----------
    path_or_dict : str, pathlib.Path, dict or RunConfig
        The run description.
    overrides : list of str
        ``"section.key=value"`` items, e.g. ``["train.lr=1e-3", "model_config.ngf=32"]``.
    validate : bool
        Check ``model_config`` / ``system_config`` against the registered model's and system's
        dataclasses and fill in their defaults (needs the registry; on by default).
    """
    if isinstance(path_or_dict, RunConfig):
        raw = to_dict(path_or_dict)
    elif isinstance(path_or_dict, Mapping):
        raw = dict(path_or_dict)
    else:
        raw = _read(pathlib.Path(path_or_dict))
    raw = apply_overrides(raw, overrides)
    cfg = build_dataclass(RunConfig, raw, where="config")
    if validate:
        from solarmodels import registry

        if cfg.model:
            cfg.model_config = to_dict(registry.model_config(cfg.model, cfg.model_config))
        if cfg.system:
            cls = registry.system_class(cfg.system)
            cfg.system_config = to_dict(build_dataclass(cls.config_cls, cfg.system_config,
                                                        where=f"system {cfg.system!r}"))
    return cfg


def save_config(config: Any, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write ``config`` (a dataclass or dict) as indented JSON, atomically."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, json.dumps(to_dict(config), indent=2, sort_keys=False) + "\n")


#: Characters a run name may hold besides letters and digits (no separators, no ``..``).
_NAME_EXTRA = frozenset("-_.+=@,")


def default_run_dir(run: RunConfig, root: str | os.PathLike[str] = "runs", *,
                    source: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """``root/<name>`` for a run without ``--run-dir``; refuses names that would leave ``root``.

    The name is ``run.name``, else ``<model>_<system>``. It must be one plain folder name:
    letters, digits and ``- _ . + = @ ,``, not starting with ``.``, at most 128 characters,
    so that ``../x``, ``/abs``, ``a/b``, ``a\\b``, ``C:x``, ``~`` or a hidden name never take
    the run elsewhere.

    Raises
    ------
    ConfigError
        Naming ``source`` (the config file) and the offending name.
    """
    name = run.name or f"{run.model}_{run.system}"
    ok = (0 < len(name) <= 128 and not name.startswith(".")
          and all(c.isalnum() or c in _NAME_EXTRA for c in name))
    if not ok:
        where = f"{source}: " if source else ""
        raise ConfigError(
            f"{where}the run name {name!r} cannot be a folder under {root}/: use letters, "
            "digits and '-_.+=@,' only (no '/', '\\\\', '..' or leading '.'), or give the run "
            "folder explicitly with --run-dir")
    return pathlib.Path(root) / name
