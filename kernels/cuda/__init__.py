"""CUDA kernels (numba.cuda). Twins of :mod:`kernels.cpu`, same names and arguments.

Arguments are CUDA arrays (CuPy arrays or numba device arrays; NumPy arrays under
the CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``).
"""
from .disk import disk_coordinates, sky_coordinates

__all__ = ["disk_coordinates", "sky_coordinates"]
