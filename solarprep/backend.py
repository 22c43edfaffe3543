"""Where computations run: device selection, array modules, moving Datasets, DLPack to torch.

``device="auto"`` picks ``"cuda"`` when the Dataset's data are already CuPy arrays
or when CuPy and a CUDA GPU are usable, and ``"cpu"`` otherwise. Operations that
run on the GPU leave their results there (CuPy arrays inside the xarray objects);
nothing is copied back to the host unless :func:`to_device` is asked to.
"""
import functools
import importlib.util

import numpy as np

__all__ = ["gpu_available", "resolve_device", "array_module", "is_cupy", "is_dask", "to_device",
           "to_torch"]

DEVICES = ("auto", "cpu", "cuda")


@functools.cache
def gpu_available():
    """True when CuPy imports and sees at least one CUDA device that numba can use too."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False
        from numba import config, cuda

        return bool(cuda.is_available()) and not config.ENABLE_CUDASIM
    except Exception:
        return False


def is_cupy(array):
    """True if ``array`` is a CuPy array (without importing CuPy)."""
    return type(array).__module__.startswith("cupy")


def is_dask(array):
    """True if ``array`` is a dask array (without importing dask)."""
    return type(array).__module__.startswith("dask.")


def _block_type(data):
    """The array itself, or for a dask array the type its blocks have (``_meta``)."""
    return getattr(data, "_meta", data) if is_dask(data) else data


def _holds_cupy(obj):
    if hasattr(obj, "data_vars"):
        return any(is_cupy(_block_type(v.data)) for v in obj.data_vars.values())
    data = getattr(obj, "data", obj)
    return is_cupy(_block_type(data))


def resolve_device(device="auto", obj=None):
    """Turn ``"auto" | "cpu" | "cuda"`` into ``"cpu"`` or ``"cuda"``.

    Parameters
    ----------
    device : str
        The requested device.
    obj : xarray.Dataset or xarray.DataArray or array, optional
        The data an operation will read; with ``"auto"``, CuPy data mean ``"cuda"``.

    Raises
    ------
    ValueError
        For an unknown device name.
    RuntimeError
        For ``"cuda"`` when no usable GPU is present.
    """
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is not one of {DEVICES}")
    if device == "auto":
        if obj is not None and _holds_cupy(obj):
            return "cuda"
        return "cuda" if gpu_available() else "cpu"
    if device == "cuda" and not gpu_available():
        raise RuntimeError(
            "device='cuda' was asked for but no usable CUDA GPU was found "
            "(install the 'gpu' extra: pip install 'solarprep[gpu]', and check nvidia-smi); "
            "use device='cpu' or device='auto'")
    return device


def array_module(device):
    """``numpy`` for ``"cpu"``, ``cupy`` for ``"cuda"``."""
    if device == "cuda":
        import cupy

        return cupy
    return np


def _move(array, device):
    if is_dask(array):
        # Lazy: every block is moved when it is computed (on the worker that holds it).
        xp = array_module(device)
        meta = xp.empty((0,) * array.ndim, dtype=array.dtype)
        return array.map_blocks(_move, device, dtype=array.dtype, meta=meta)
    if device == "cuda":
        import cupy

        return cupy.asarray(array)
    if is_cupy(array):
        return array.get()
    return np.asarray(array)


def to_device(ds, device):
    """Return ``ds`` with its data variables and non-index coordinates on ``device``.

    Index coordinates (``time``, ``y``, ``x``) stay NumPy, as xarray requires.
    This is the one place where solarprep copies between host and device. Dask-backed
    (chunked) variables stay lazy: each block is moved when it is computed.
    """
    device = resolve_device(device, ds)
    moved = ds.copy(deep=False)
    for name, var in ds.variables.items():
        if name in ds.indexes:
            continue
        moved[name] = var.copy(data=_move(var.data, device), deep=False)
    return moved


def to_torch(array):
    """Hand an array (NumPy, CuPy or an xarray DataArray) to PyTorch without copying.

    The tensor shares memory with the input, on the CPU or on the same GPU, through
    DLPack (``torch.from_dlpack``).
    """
    import torch

    data = getattr(array, "data", array)
    if not is_cupy(data):
        data = np.ascontiguousarray(data)
    return torch.from_dlpack(data)
