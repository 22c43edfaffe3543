"""Accelerated kernels under solarprep: CPU (numba) and CUDA (numba.cuda / CuPy) twins.

Every kernel exists twice under the same name, ``kernels.cpu.<name>`` and
``kernels.cuda.<name>``, with the same arguments: parameters as a flat float64
vector and preallocated output arrays (NumPy for the CPU twin, any CUDA array
such as CuPy for the GPU twin). The per-pixel mathematics is written once, as a
plain Python function in a ``_*_math`` module, and compiled for each target, so
the twins cannot drift apart.

This package depends on numpy and numba only (and on cupy where a GPU is used);
it knows nothing about FITS, astropy or xarray: ``solarprep`` prepares the
parameter vectors.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import cpu
from ._launch import cuda_available

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["cpu", "cuda", "cuda_available", "get"]


def get(name: str, device: str = "cpu") -> Callable:
    """Return the kernel ``name`` for ``device`` (``"cpu"`` or ``"cuda"``).

    Raises
    ------
    ValueError
        If the device is unknown or the kernel does not exist.
    """
    if device == "cpu":
        module = cpu
    elif device == "cuda":
        from . import cuda as module
    else:
        raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'")
    try:
        return getattr(module, name)
    except AttributeError:
        raise ValueError(f"no kernel named {name!r} for device {device!r}") from None


def __getattr__(name):
    # ``kernels.cuda`` imports numba.cuda, which is slow and noisy: load it on first use.
    if name == "cuda":
        import importlib

        return importlib.import_module(".cuda", __name__)
    raise AttributeError(name)
