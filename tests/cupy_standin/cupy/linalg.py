"""``cupy.linalg`` on NumPy's."""
import numpy.linalg as _linalg

from cupy._submodule import forward

__getattr__ = forward(_linalg, "cupy.linalg")
