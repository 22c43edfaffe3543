"""Resampling solar images onto other grids: derotation, tracking and disk regridding.

* :func:`derotate` (:mod:`.derotation`): every frame to another time by differential rotation
* :func:`track` (:mod:`.tracking`): a patch followed across the disk into heliographic maps
* :func:`regrid_disk` (:mod:`.regrid`): a centred, north-up grid with a fixed disk radius
"""
from solarprep.remap.derotation import derotate
from solarprep.remap.regrid import disk_grid_geometry, regrid_disk
from solarprep.remap.tracking import track

__all__ = ["derotate", "track", "regrid_disk", "disk_grid_geometry"]
