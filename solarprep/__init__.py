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

from .doppler import doppler_difference, remove_static_velocity  # noqa: E402
from .power import power_maps  # noqa: E402

__all__ += ["doppler_difference", "remove_static_velocity", "power_maps"]

from .derotation import derotate  # noqa: E402
from .tracking import track  # noqa: E402

__all__ += ["derotate", "track"]

from .pairs import build_pairs, regrid_disk  # noqa: E402

__all__ += ["build_pairs", "regrid_disk"]

from .foreshortening import foreshortening_correct, pixel_area, total_unsigned_flux  # noqa: E402
from .limb_darkening import (LimbDarkening, add_limb_darkening,  # noqa: E402
                             fit_limb_darkening, remove_limb_darkening)
from .photometry import disk_integrate  # noqa: E402

__all__ += ["foreshortening_correct", "pixel_area", "total_unsigned_flux", "LimbDarkening",
            "fit_limb_darkening", "remove_limb_darkening", "add_limb_darkening",
            "disk_integrate"]

from .goes import detect_flares, label_times, read_xrs  # noqa: E402

__all__ += ["read_xrs", "detect_flares", "label_times"]
