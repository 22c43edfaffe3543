"""Where every pixel lies on the Sun, where the observer is, and how the Sun rotates.

* :func:`disk_coordinates`, :class:`FrameGeometry` (:mod:`.geometry`): per-pixel μ and
  heliographic coordinates from the per-frame WCS and observer
* :mod:`.ephemeris`: Stonyhurst drift of inertially fixed points, the Earth as observer
* :class:`RotationLaw`, :func:`get_law` (:mod:`.rotation`): differential rotation laws
"""
from solarprep.coordinates.ephemeris import earth_observer, stonyhurst_drift
from solarprep.coordinates.geometry import FrameGeometry, disk_coordinates, frame_geometries
from solarprep.coordinates.rotation import LAWS, RotationLaw, get_law

__all__ = ["disk_coordinates", "FrameGeometry", "frame_geometries", "RotationLaw", "get_law",
           "LAWS", "stonyhurst_drift", "earth_observer"]
