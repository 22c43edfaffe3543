"""CPU kernels (numba, parallel over rows). Twins of :mod:`kernels.cuda`."""
from .disk import disk_coordinates, sky_coordinates

__all__ = ["disk_coordinates", "sky_coordinates"]
