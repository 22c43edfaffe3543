"""``cupy.random`` on NumPy's."""
import numpy.random as _random

from cupy._submodule import forward

__getattr__ = forward(_random, "cupy.random")
