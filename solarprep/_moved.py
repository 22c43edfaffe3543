"""Old module paths of solarprep (before the subpackages of 0.2) as deprecated aliases.

``import solarprep.derotation`` still works and returns :mod:`solarprep.remap.derotation`,
with a :class:`~solarprep.errors.SolarprepDeprecationWarning` naming the new path. The
public functions re-exported by ``solarprep`` itself did not move.
"""
import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

from solarprep.errors import SolarprepDeprecationWarning

#: old module → new module
MOVED = {
    "solarprep.io": None,  # now a package with the same public names
    "solarprep.storage": "solarprep.io.storage",
    "solarprep.maps": "solarprep.io.maps",
    "solarprep.sample_data": "solarprep.io.sample_data",
    "solarprep.goes": "solarprep.lightcurves.goes",
    "solarprep.geometry": "solarprep.coordinates.geometry",
    "solarprep.ephemeris": "solarprep.coordinates.ephemeris",
    "solarprep.rotation": "solarprep.coordinates.rotation",
    "solarprep.derotation": "solarprep.remap.derotation",
    "solarprep.tracking": "solarprep.remap.tracking",
    "solarprep.pairs": "solarprep.datasets.pairs",
    "solarprep.foreshortening": "solarprep.photometry.foreshortening",
    "solarprep.limb_darkening": "solarprep.photometry.limb_darkening",
    "solarprep.doppler": "solarprep.helioseismology.doppler",
    "solarprep.power": "solarprep.helioseismology.power",
    "solarprep.tiles": "solarprep.helioseismology.tiles",
    "solarprep.scalings": "solarprep.datasets.scalings",
    "solarprep.normalize": "solarprep.datasets.normalize",
}
MOVED = {old: new for old, new in MOVED.items() if new}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old names and hands out the new modules, with a warning."""

    def __init__(self):
        self._specs = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there (or use the names "
                      f"re-exported by solarprep): the old path will be removed",
                      SolarprepDeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        """The module already ran under its new name: give it back its own spec."""
        module.__spec__ = self._specs.pop(module.__spec__.name)


def install():
    """Put the alias finder on :data:`sys.meta_path` (once)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
