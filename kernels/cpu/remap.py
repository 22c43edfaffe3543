"""Derotation and tracking on the CPU (numba, parallel over output rows)."""
from __future__ import annotations

import types

import numba
import numpy as np

from .._remap_math import NDEROTATE, NTRACK, compile_for

__all__ = ["derotate", "track"]

#: Fast-math flags that keep NaN and infinity semantics (NaN marks "no source").
_FAST = {"contract", "afn", "arcp", "reassoc", "nsz"}

_derotate_source, _track_source, _sample = compile_for(
    numba.njit(inline="always", cache=True, fastmath=_FAST))


def _gather(p, image, out, valid, order):
    """A parallel gather: ``out[t, i, j] = image[t](source(i, j, p[t]))`` and its validity.

    A template: :func:`_gather_kernel` compiles it with its own global ``source``.
    """
    nt, ny, nx = out.shape
    for row in numba.prange(nt * ny):
        t = row // ny
        i = row - t * ny
        pt = p[t]
        for j in range(nx):
            x, y = source(i, j, pt)  # noqa: F821 - the kernel's own global
            out[t, i, j] = _sample(image, t, x, y, order)
            valid[t, i, j] = x == x and x >= -0.5 and x <= image.shape[2] - 0.5 \
                and y >= -0.5 and y <= image.shape[1] - 0.5


def _gather_kernel(source, name):
    """The gather kernel of one ``source`` mapping, named ``name``.

    ``source`` is a global of the kernel, not a closure variable, and each kernel has its
    own name: numba's cache then finds it again in a new process (dask workers included)
    instead of compiling it anew (a closure over a jitted function hashes differently in
    every process).
    """
    kernel = types.FunctionType(_gather.__code__, {**globals(), "source": source}, name)
    kernel.__qualname__ = name
    return numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)(kernel)


_derotate = _gather_kernel(_derotate_source, "_derotate")
_track = _gather_kernel(_track_source, "_track")


def _check(p, image, out, valid, order, width):
    if order not in (1, 3):
        raise ValueError(f"order must be 1 (bilinear) or 3 (Keys bicubic), not {order!r}")
    if p.ndim != 2 or p.shape[1] != width or p.shape[0] != out.shape[0]:
        raise ValueError(f"params must have shape ({out.shape[0]}, {width}), not {p.shape}")
    if image.shape[0] != out.shape[0] or valid.shape != out.shape:
        raise ValueError(f"image {image.shape}, out {out.shape} and valid {valid.shape} "
                         "must hold the same number of frames (valid the shape of out)")


def derotate(p: np.ndarray, image: np.ndarray, out: np.ndarray, valid: np.ndarray, order: int = 1) -> None:
    """Derotate a stack of frames: ``out[t]`` is ``image[t]`` as seen at another time.

    Parameters
    ----------
    p : numpy.ndarray
        float64, shape ``(nt, 55)``: one row per frame (see :mod:`kernels._remap_math`).
    image : numpy.ndarray
        Input frames ``(nt, ny, nx)``, float32 or float64, C-contiguous.
    out : numpy.ndarray
        float32 output ``(nt, ny_out, nx_out)``; NaN where nothing maps.
    valid : numpy.ndarray
        bool, shape of ``out``: True where the source point is on the visible disk of
        the input frame and inside it (whatever the input value there).
    order : {1, 3}
        Bilinear or Keys bicubic interpolation.
    """
    p = np.ascontiguousarray(p, dtype=np.float64)
    _check(p, image, out, valid, order, NDEROTATE)
    _derotate(p, image, out, valid, order)


def track(p: np.ndarray, image: np.ndarray, out: np.ndarray, valid: np.ndarray, order: int = 1) -> None:
    """Resample a stack of frames onto a tracked heliographic map; as :func:`derotate`.

    ``p`` is float64 of shape ``(nt, 42)`` (see :mod:`kernels._remap_math`).
    """
    p = np.ascontiguousarray(p, dtype=np.float64)
    _check(p, image, out, valid, order, NTRACK)
    _track(p, image, out, valid, order)
