"""A NumPy-backed stand-in for CuPy, for test sessions without a usable GPU.

Not a CuPy replacement: it runs the library's ``device="cuda"`` paths on the CPU
(with numba's CUDA simulator for the kernels) while behaving like CuPy where the
library could go wrong: implicit conversions to NumPy raise, datetime64 is
refused, host↔device copies are counted (:data:`LEDGER`). ``tests/conftest.py``
puts this folder first on ``sys.path`` when real CuPy with a GPU is not usable
(``--cupy-standin=on`` forces it). See ``tests/cupy_standin/README.md``.
"""
import functools as _functools

import numpy as _np

from cupy import cuda, fft, linalg, random  # noqa: F401 (CuPy's submodules)
from cupy._core import LEDGER, from_host, ndarray, to_host, unwrap, wrap

__version__ = "14.0.0+standin"
#: True in the stand-in (real CuPy has no such attribute); only tests read it.
IS_STANDIN = True

__all__ = ["ndarray", "asarray", "array", "ascontiguousarray", "asnumpy", "get_array_module",
           "from_dlpack", "cuda", "fft", "linalg", "random", "LEDGER", "IS_STANDIN"]

#: Functions that make device arrays from shapes or other device arrays (no host data).
_CREATION = {"empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like",
             "full_like", "arange", "linspace", "logspace", "eye", "identity", "indices", "tri"}


def asarray(a, dtype=None, order=None, *, blocking=False):
    """As ``cupy.asarray``: device arrays pass through, host data are copied (and counted)."""
    return from_host(a, dtype, copy=False, order=order or "K")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """As ``cupy.array`` (a copy unless ``copy=False`` and already on the device)."""
    out = from_host(obj, dtype, copy=copy, order=order, what="cupy.array")
    return out if ndmin <= out.ndim else wrap(_np.array(out._a, ndmin=ndmin, copy=False))


def ascontiguousarray(a, dtype=None):
    """As ``cupy.ascontiguousarray``."""
    return from_host(a, dtype, copy=False, order="C", what="cupy.ascontiguousarray")


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """As ``cupy.asnumpy``: one counted device→host copy."""
    host = to_host(a)
    if out is not None:
        out[...] = host
        return out
    return host


def get_array_module(*args):
    """``cupy`` if any argument is a (stand-in) CuPy array, else ``numpy``."""
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


def from_dlpack(obj):
    """As ``cupy.from_dlpack`` (here: memory shared with a CPU producer)."""
    return wrap(_np.from_dlpack(obj))


def _function(name, func):
    creation = name in _CREATION

    @_functools.wraps(func)
    def call(*args, **kwargs):
        args = unwrap(args, allow_host=False, what=f"cupy.{name}")
        kwargs = unwrap(kwargs, allow_host=False, what=f"cupy.{name}")
        if creation and "dtype" in kwargs and kwargs["dtype"] is not None:
            _np.dtype(kwargs["dtype"])
        return wrap(func(*args, **kwargs))

    return call


def __getattr__(name):
    attr = getattr(_np, name)  # AttributeError for what NumPy lacks too
    if isinstance(attr, type) or not callable(attr):
        return attr  # dtypes (cupy.float32 is numpy.float32) and constants
    func = _function(name, attr)
    globals()[name] = func
    return func
