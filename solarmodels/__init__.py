"""solarmodels: the networks of the seed systems, trained from solarprep Datasets.

The public names are imported lazily (``import solarmodels`` does not import torch):

* registry: :func:`create_model`, :func:`list_models`, :func:`model_config`, :func:`create_system`,
  :func:`list_systems`, :func:`create_dataset`, :func:`list_datasets`
* configuration: :func:`load_config`, :class:`RunConfig`, :class:`TrainConfig`
* training: :class:`Trainer`, :class:`System`, :class:`StepContext`
* registration: :func:`register_model`, :func:`register_system`, :func:`register_dataset`
* checkpoints: :func:`save_checkpoint`, :func:`load_checkpoint`
* trained runs: :func:`load_run` (system and configuration), :func:`open_run` (for evaluation)
"""
from solarprep._version import __version__

__all__ = ["__version__", "create_model", "list_models", "model_config", "create_system",
           "list_systems", "create_dataset", "list_datasets", "load_config", "RunConfig",
           "TrainConfig", "Trainer", "System", "StepContext", "save_checkpoint",
           "load_checkpoint", "register_model", "register_system", "register_dataset",
           "load_run", "open_run"]

_LAZY = {
    "create_model": "solarmodels.registry", "list_models": "solarmodels.registry",
    "model_config": "solarmodels.registry", "create_system": "solarmodels.registry",
    "list_systems": "solarmodels.registry", "create_dataset": "solarmodels.registry",
    "list_datasets": "solarmodels.registry", "register_model": "solarmodels.registry",
    "register_system": "solarmodels.registry", "register_dataset": "solarmodels.registry",
    "StepContext": "solarmodels.systems.base",
    "load_config": "solarmodels.config", "RunConfig": "solarmodels.config",
    "TrainConfig": "solarmodels.config",
    "Trainer": "solarmodels.trainer", "System": "solarmodels.systems.base",
    "save_checkpoint": "solarmodels.checkpoint", "load_checkpoint": "solarmodels.checkpoint",
    "load_run": "solarmodels._runs", "open_run": "solarmodels._runs",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'solarmodels' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
