"""Where computations run: device selection, array modules, moving Datasets, DLPack to torch.

The device policy (``docs/devices.md``):

* ``device="auto"`` (the default of every operation) keeps results where the input
  lives: CuPy data in, CuPy data out (computed on the GPU); NumPy data in, NumPy data
  out (computed on the CPU). Having a GPU never moves host data by itself.
* The GPU is opted into explicitly: ``device="cuda"`` on a call, or the one global
  default, the environment variable ``SOLARPREP_DEVICE=cuda``, which makes
  ``"auto"`` run host inputs on the GPU too (their results then stay there).
* :func:`to_device` moves a Dataset's data variables; per-frame geometry, time and
  the other coordinates stay on the host. :func:`to_host` is the one path from the
  device back to the host inside the library.
* Dask-backed (chunked) variables count by the type of their blocks (``_meta``) and
  stay lazy when moved: each block is moved when it is computed, on its worker.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
from typing import TYPE_CHECKING

import numpy as np

from solarprep.errors import DeviceError, GPUUnavailableError

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    import xarray as xr

__all__ = ["DEVICES", "ENV_VAR", "gpu_available", "default_device", "resolve_device",
           "array_module", "is_cupy", "is_dask", "array_of", "on_device", "to_host", "to_device",
           "to_torch"]

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
#: The environment variable that sets what ``device="auto"`` does with host data.
ENV_VAR = "SOLARPREP_DEVICE"
#: dtypes that never go to the device (CuPy refuses datetime64, strings and objects).
_HOST_ONLY_KINDS = "mMOSUV"


@functools.cache
def gpu_available():
    """True when CuPy imports, sees at least one CUDA device, and numba.cuda can launch kernels."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False
        from numba import config, cuda

        if not cuda.is_available():
            return False
        if config.ENABLE_CUDASIM:
            log.debug("numba's CUDA simulator is on (NUMBA_ENABLE_CUDASIM=1): CUDA kernels run "
                      "on the CPU, one Python thread per GPU thread")
        return True
    except Exception:  # noqa: BLE001 - a broken driver or CuPy build: no GPU
        return False


def default_device() -> str:
    """What ``device="auto"`` does with host data: the ``SOLARPREP_DEVICE`` variable.

    Returns ``"auto"`` (unset: host data stay on the CPU), ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    solarprep.errors.DeviceError
        For a value that is not one of ``auto``, ``cpu``, ``cuda``.
    """
    value = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if value not in DEVICES:
        raise DeviceError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not one of {DEVICES}; "
                          f"unset it or set {ENV_VAR}=cuda to run host data on the GPU")
    return value


def is_cupy(array: object) -> bool:
    """True if ``array`` is a CuPy array (without importing CuPy)."""
    return type(array).__module__.split(".")[0] == "cupy"


def is_dask(array: object) -> bool:
    """True if ``array`` is a dask array (without importing dask)."""
    return type(array).__module__.startswith("dask.")


def _block_type(data):
    """The array itself, or for a dask array the type its blocks have (``_meta``)."""
    return getattr(data, "_meta", data) if is_dask(data) else data


def array_of(obj: Any) -> Any:
    """The array inside an xarray DataArray or Variable, or ``obj`` itself.

    (Not ``getattr(obj, "data", obj)``: a CuPy array's ``.data`` is its memory pointer.)
    """
    import xarray as xr

    return obj.data if isinstance(obj, (xr.DataArray, xr.Variable)) else obj


def on_device(obj: Any) -> bool:
    """True if ``obj`` (a Dataset, DataArray or array) holds CuPy data in a data variable."""
    if hasattr(obj, "data_vars"):
        return any(is_cupy(_block_type(v.data)) for v in obj.data_vars.values())
    return is_cupy(_block_type(array_of(obj)))


def resolve_device(device: str = "auto", obj: Any = None) -> str:
    """Turn ``"auto" | "cpu" | "cuda"`` into ``"cpu"`` or ``"cuda"``.

    Parameters
    ----------
    device : str
        The requested device.
    obj : xarray.Dataset or xarray.DataArray or array, optional
        The data an operation will read. With ``"auto"``, CuPy data mean
        ``"cuda"``; host data (or none) mean the ``SOLARPREP_DEVICE`` default,
        ``"cpu"`` when it is unset.

    Raises
    ------
    solarprep.errors.DeviceError
        For an unknown device name (a ``ValueError``).
    solarprep.errors.GPUUnavailableError
        For ``"cuda"`` where no usable GPU is present (a ``RuntimeError``).
    """
    if device not in DEVICES:
        raise DeviceError(f"device={device!r} is not one of {DEVICES}")
    if device == "auto":
        if obj is not None and on_device(obj):
            return "cuda"
        device = default_device()
        if device == "auto":
            return "cpu"
    if device == "cuda" and not gpu_available():
        raise GPUUnavailableError(
            "device='cuda' was asked for (as an argument or by SOLARPREP_DEVICE) but no usable "
            "CUDA GPU was found: install the GPU extra matching the driver's CUDA major version "
            "(pip install 'solarprep[gpu-cu12]' or 'solarprep[gpu-cu13]'; nvidia-smi shows it), "
            "or use device='cpu' / device='auto'")
    return device


def array_module(device: str) -> ModuleType:
    """``numpy`` for ``"cpu"``, ``cupy`` for ``"cuda"``."""
    if device == "cuda":
        import cupy

        return cupy
    return np


def to_host(array: Any) -> np.ndarray:
    """A NumPy array from a NumPy or CuPy array (``cupy.asnumpy``: one device→host copy).

    This is the only way solarprep copies data from the device to the host.
    """
    if is_cupy(array):
        import cupy

        return cupy.asnumpy(array)
    return np.asarray(array)


def _move(array, device):
    if is_dask(array):
        # Lazy: every block is moved when it is computed (on the worker that holds it).
        if device == "cuda" and np.dtype(array.dtype).kind in _HOST_ONLY_KINDS:
            return array
        xp = array_module(device)
        meta = xp.empty((0,) * array.ndim, dtype=array.dtype)
        return array.map_blocks(_move, device, dtype=array.dtype, meta=meta)
    if device == "cuda":
        if is_cupy(array) or np.dtype(array.dtype).kind in _HOST_ONLY_KINDS:
            return array
        import cupy

        return cupy.asarray(array)
    return to_host(array)


def to_device(ds: xr.Dataset | xr.DataArray, device: str) -> xr.Dataset | xr.DataArray:
    """Return ``ds`` with its data on ``device`` (one copy per moved array).

    ``"cuda"`` moves the numeric data variables to the GPU (CuPy); coordinates
    (time, per-frame geometry, axes) and non-numeric variables stay on the host.
    ``"cpu"`` brings every CuPy variable back, coordinates computed on the GPU
    (``mu``, ``valid``, ...) included. Works on a Dataset or a DataArray.
    """
    device = resolve_device(device, ds)
    if hasattr(ds, "data_vars"):
        moved = ds.copy(deep=False)
        for name, var in ds.data_vars.items():
            if device == "cuda" or is_cupy(_block_type(var.data)):
                moved[name] = var.variable.copy(data=_move(var.data, device), deep=False)
    else:
        moved = ds.copy(data=_move(ds.data, device), deep=False)
    if device == "cpu":
        moved = moved.assign_coords({k: c.variable.copy(data=_move(c.data, "cpu"), deep=False)
                                     for k, c in ds.coords.items()
                                     if is_cupy(_block_type(c.data))})
    return moved


def to_torch(array: Any) -> Any:
    """Hand an array (NumPy, CuPy or an xarray DataArray) to PyTorch without copying.

    The tensor shares memory with the input, on the CPU or on the same GPU, through
    DLPack (``torch.from_dlpack``).
    """
    import torch

    data = array_of(array)
    if not is_cupy(data):
        data = np.ascontiguousarray(data)
    return torch.from_dlpack(data)
