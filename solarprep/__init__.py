"""solarprep: solar observations to analysis- and training-ready xarray Datasets.

The solar Dataset convention is described in ``docs/dataset.md``.
"""
from ._version import __version__
from .backend import resolve_device, to_device, to_torch
from .dataset import append_history, validate
from .geometry import disk_coordinates
from .io import SolarDataError, load
from .maps import to_maps
from .storage import open_dataset, save

__all__ = ["__version__", "load", "save", "open_dataset", "to_maps", "disk_coordinates",
           "validate", "append_history", "to_device", "to_torch", "resolve_device",
           "SolarDataError"]
