"""Registries of networks, training systems and datasets (timm-style ``create_model``).

A network module registers a *builder* together with the dataclass that configures it::

    @dataclasses.dataclass
    class TinyConfig:
        width: int = 8

    @register_model("tiny", TinyConfig, family="demo", description="two convolutions")
    def tiny(config: TinyConfig) -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, config.width, 3, padding=1), ...)

    net = create_model("tiny", width=16)       # keyword overrides are checked against TinyConfig

Systems (training logic, :class:`solarmodels.systems.base.System` subclasses) register with
:func:`register_system`, dataset builders with :func:`register_dataset`.

Discovery: on first use the registry imports every module of the packages
``solarmodels.networks``, ``solarmodels.systems`` and ``solarmodels.datasets`` (``pkgutil``), so a
new file registers itself with no edit to a shared file. A module that fails to import is logged
and reported by :func:`discovery_errors` (and named in the error for a missing name) instead of
hiding every other model.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from solarmodels.config import build_dataclass
from solarmodels.errors import RegistryError  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from torch import nn

    from solarmodels.systems.base import System

__all__ = [
    "ModelEntry", "register_model", "create_model", "list_models", "model_config", "model_entry",
    "register_system", "create_system", "list_systems", "system_class",
    "register_dataset", "create_dataset", "list_datasets", "dataset_builder",
    "discovery_errors",
]

logger = logging.getLogger(__name__)

_PACKAGES = ("solarmodels.networks", "solarmodels.systems", "solarmodels.datasets")


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered network: its builder, configuration dataclass, family and description."""

    name: str
    builder: Callable[[Any], Any]
    config_cls: type
    family: str
    description: str = ""
    module: str = ""


_MODELS: dict[str, ModelEntry] = {}
_SYSTEMS: dict[str, type] = {}
_DATASETS: dict[str, Callable[..., Any]] = {}
_ERRORS: dict[str, str] = {}
_STATE = {"discovered": False, "discovering": False}


# --------------------------------------------------------------------------- discovery

def _discover():
    """Import every module of the model packages once (registration happens at import)."""
    if _STATE["discovered"] or _STATE["discovering"]:
        return
    _STATE["discovering"] = True
    try:
        for package_name in _PACKAGES:
            package = importlib.import_module(package_name)
            for info in pkgutil.iter_modules(package.__path__, package_name + "."):
                if info.name.rsplit(".", 1)[-1].startswith("_"):
                    continue
                try:
                    importlib.import_module(info.name)
                except Exception as exc:  # a broken module must not hide the others
                    _ERRORS[info.name] = f"{type(exc).__name__}: {exc}"
                    logger.warning("solarmodels: could not import %s (%s)", info.name, exc)
        _STATE["discovered"] = True
    finally:
        _STATE["discovering"] = False


def discovery_errors() -> dict[str, str]:
    """Modules of the model packages that failed to import during discovery, with their error."""
    _discover()
    return dict(_ERRORS)


def _unknown(kind, name, known):
    close = difflib.get_close_matches(str(name), list(known), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    broken = f" (modules that failed to import: {sorted(_ERRORS)})" if _ERRORS else ""
    return RegistryError(f"unknown {kind} {name!r}.{hint} Known {kind}s: {sorted(known)}{broken}")


# --------------------------------------------------------------------------- models

def register_model(name: str, config_cls: type, *, family: str,
                   description: str = "") -> Callable[[Callable], Callable]:
    """Decorator registering ``builder(config) -> nn.Module`` under ``name``.

    Parameters
    ----------
    name : str
        Unique model name (lower case, e.g. ``"pix2pix_unet"``).
    config_cls : type
        A dataclass whose defaults build the reference network.
    family : str
        Group shown by ``solarmodels list`` (``"translation"``, ``"solared"``, ``"diffusion"``...).
    description : str
        One line for ``solarmodels list``.
    """
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"register_model({name!r}): config_cls must be a dataclass, got {config_cls!r}")

    def decorator(builder):
        if name in _MODELS and _MODELS[name].builder is not builder:
            old = _MODELS[name]
            if old.module != builder.__module__ or old.builder.__qualname__ != builder.__qualname__:
                raise RegistryError(f"model {name!r} is already registered by {old.module}")
        _MODELS[name] = ModelEntry(name, builder, config_cls, family, description,
                                   builder.__module__)
        return builder

    return decorator


def model_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` of ``name`` (raises :class:`RegistryError` with suggestions)."""
    _discover()
    try:
        return _MODELS[name]
    except KeyError:
        raise _unknown("model", name, _MODELS) from None


def list_models(family: str | None = None) -> list[str]:
    """Sorted names of the registered models, optionally of one ``family`` only."""
    _discover()
    return sorted(n for n, e in _MODELS.items() if family is None or e.family == family)


def model_config(name: str, config: Any = None, **overrides: Any) -> Any:
    """The configuration dataclass of model ``name``: defaults, then ``config``, then ``overrides``.

    ``config`` may be an instance of the model's dataclass or a mapping; unknown keys raise
    :class:`~solarmodels.config.ConfigError` naming the closest valid field.
    """
    entry = model_entry(name)
    return build_dataclass(entry.config_cls, config, overrides, where=f"model {name!r}")


def create_model(name: str, config: Any = None, **overrides: Any) -> nn.Module:
    """Build the network ``name`` (an ``nn.Module``) from its configuration.

    Examples
    --------
    >>> net = create_model("pix2pix_unet", image_size=64, ngf=8)   # doctest: +SKIP
    """
    entry = model_entry(name)
    cfg = build_dataclass(entry.config_cls, config, overrides, where=f"model {name!r}")
    module = entry.builder(cfg)
    module.model_name = name
    module.model_config = cfg
    return module


# --------------------------------------------------------------------------- systems

def register_system(name: str) -> Callable[[type], type]:
    """Class decorator registering a :class:`~solarmodels.systems.base.System` subclass."""

    def decorator(cls):
        old = _SYSTEMS.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise RegistryError(f"system {name!r} is already registered by {old.__module__}")
        _SYSTEMS[name] = cls
        cls.system_name = name
        return cls

    return decorator


def system_class(name: str) -> type:
    """The System class registered as ``name``."""
    _discover()
    try:
        return _SYSTEMS[name]
    except KeyError:
        raise _unknown("system", name, _SYSTEMS) from None


def list_systems() -> list[str]:
    """Sorted names of the registered systems."""
    _discover()
    return sorted(_SYSTEMS)


def create_system(name: str, config: Any = None, networks: Any = None) -> System:
    """Instantiate system ``name`` with its config (dataclass or mapping) and networks.

    ``networks`` is a mapping ``{role: nn.Module}`` or a single module (taken as the system's
    primary network, ``System.primary``); missing networks are built by the system.
    """
    return system_class(name)(config, networks)


# --------------------------------------------------------------------------- datasets

def register_dataset(name: str) -> Callable[[Callable], Callable]:
    """Decorator registering ``builder(split: str, **data_config) -> torch Dataset | None``.

    The trainer CLI calls the builder of ``data["dataset"]`` once per split (``"train"``,
    ``"val"``, ``"test"``) with the remaining ``data`` keys; it returns ``None`` for a split that
    the data do not have.
    """

    def decorator(builder):
        _DATASETS[name] = builder
        return builder

    return decorator


def dataset_builder(name: str) -> Callable[..., Any]:
    """The builder function registered as dataset ``name``."""
    _discover()
    try:
        return _DATASETS[name]
    except KeyError:
        raise _unknown("dataset", name, _DATASETS) from None


def list_datasets() -> list[str]:
    """Sorted names of the registered dataset builders."""
    _discover()
    return sorted(_DATASETS)


def create_dataset(name: str, split: str = "train", **data_config: Any) -> Any:
    """Build the torch Dataset ``name`` for ``split`` (``None`` if the split is absent)."""
    _discover()
    try:
        builder = _DATASETS[name]
    except KeyError:
        raise _unknown("dataset", name, _DATASETS) from None
    return builder(split=split, **data_config)
