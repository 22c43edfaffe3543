"""solarprep: solar observations to analysis- and training-ready xarray Datasets.

The solar Dataset convention is described in ``docs/dataset.md``. The library is grouped
by subject, and the public functions of every subpackage are re-exported here:

* :mod:`solarprep.io`: load, save, open_dataset, to_maps, fetch (archives), open_sdoml
* :mod:`solarprep.coordinates`: disk_coordinates, ephemerides, rotation laws
* :mod:`solarprep.remap`: derotate, track, regrid_disk
* :mod:`solarprep.photometry`: foreshortening, limb darkening, disk integration
* :mod:`solarprep.helioseismology`: Doppler differencing, power maps, tiles
* :mod:`solarprep.lightcurves`: load_lightcurve, GOES/XRS fluxes, flare classes and events
* :mod:`solarprep.prep`: prep (AIA level 1.5, HMI, EUVI level 1)
* :mod:`solarprep.datasets`: image pairs, SOLARED, scalings, normalisation
* :mod:`solarprep.synthetic`: the synthetic Sun with known truth
* :mod:`solarprep.dataset` (the convention), :mod:`solarprep.backend` (devices),
  :mod:`solarprep.errors`, :mod:`solarprep.plotting`
"""
from solarprep import _moved
from solarprep._version import __version__
from solarprep.backend import resolve_device, to_device, to_torch
from solarprep.coordinates import disk_coordinates
from solarprep.dataset import append_history, validate
from solarprep.datasets import build_pairs
from solarprep.errors import SolarDataError, SolarprepError
from solarprep.helioseismology import doppler_difference, power_maps, remove_static_velocity
from solarprep.io import fetch, load, open_dataset, open_sdoml, save, to_maps
from solarprep.lightcurves import detect_flares, label_times, load_lightcurve, read_xrs
from solarprep.photometry import (
                                  LimbDarkening,
                                  add_limb_darkening,
                                  disk_integrate,
                                  fit_limb_darkening,
                                  foreshortening_correct,
                                  pixel_area,
                                  remove_limb_darkening,
                                  total_unsigned_flux,
)
from solarprep.prep import prep
from solarprep.remap import derotate, regrid_disk, track

_moved.install()

__all__ = ["__version__", "load", "save", "open_dataset", "to_maps", "disk_coordinates",
           "validate", "append_history", "to_device", "to_torch", "resolve_device",
           "SolarDataError", "SolarprepError",
           "doppler_difference", "remove_static_velocity", "power_maps",
           "derotate", "track", "build_pairs", "regrid_disk",
           "foreshortening_correct", "pixel_area", "total_unsigned_flux", "LimbDarkening",
           "fit_limb_darkening", "remove_limb_darkening", "add_limb_darkening",
           "disk_integrate", "read_xrs", "detect_flares", "label_times",
           "fetch", "open_sdoml", "load_lightcurve", "prep"]
