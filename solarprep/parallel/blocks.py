"""Block-wise application of per-frame computations to chunked (dask-backed) solar Datasets.

A chunked solar Dataset (``load(..., chunks={"time": n})``, ``open_dataset(..., chunks=...)``
or ``ds.chunk({"time": n})``) holds its images as dask arrays split along ``time`` and its
per-frame geometry (``crpix1``, ``dsun_obs``, ...) as ordinary NumPy coordinates. An
operation whose frames are independent therefore prepares everything that depends on the
geometry (kernel parameter rows, target times, observers) eagerly and for the whole series,
exactly as it does for an in-memory Dataset, and only the pixel work runs block by block:
:func:`map_frames` hands each block of frames, together with its slice of the per-frame
parameter rows, to the same function the eager path calls, through
:func:`xarray.apply_ufunc` with ``dask="parallelized"``. The result of every frame is thus
bitwise the eager one, whatever the chunking.

Blocks run their numba kernels on :func:`block_threads` threads (1 by default: the
parallelism comes from dask's workers, one core each), so that a
``LocalCluster(processes=True, threads_per_worker=1)`` is never oversubscribed.
"""
from __future__ import annotations

import contextlib
import functools
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.errors import ChunkingError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    import numpy.typing as npt

__all__ = ["is_chunked", "time_chunks", "require_explicit", "frame_rows", "map_frames",
           "images_to_device", "block_threads", "numba_threads", "ChunkingError"]

log = logging.getLogger(__name__)

#: dask configuration key of the number of numba threads each block may use.
BLOCK_THREADS_KEY = "solarprep.block-threads"


def _variables(obj):
    if isinstance(obj, xr.Dataset):
        return list(obj.data_vars.values())
    if isinstance(obj, (list, tuple)):
        return list(obj)
    return [obj]


def is_chunked(obj: Any) -> bool:
    """True when ``obj`` (a Dataset, DataArray, Variable or array) holds dask arrays.

    For a Dataset, its data variables are looked at (coordinates may be lazy too, but the
    per-frame geometry of a solar Dataset never is).
    """
    return any(backend.is_dask(getattr(v, "data", v)) for v in _variables(obj))


def time_chunks(obj: Any) -> tuple[int, ...] | None:
    """The chunks along ``time`` of the first dask-backed variable of ``obj``, or None."""
    for var in _variables(obj):
        data = getattr(var, "data", var)
        if backend.is_dask(data) and "time" in getattr(var, "dims", ()):
            return data.chunks[var.dims.index("time")]
    return None


def require_explicit(obj: xr.Dataset | xr.DataArray, what: str, fix: str) -> None:
    """Raise :class:`ChunkingError` when ``obj`` is chunked: ``what`` needs the whole series.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        The input of the operation.
    what : str
        The default that depends on the whole series, e.g.
        ``"track's default reference time (the middle frame)"``.
    fix : str
        The argument to give instead, e.g. ``"reference_time='2011-02-15T12:00'"``.
    """
    if is_chunked(obj):
        raise ChunkingError(
            f"{what} depends on the whole series, and this Dataset is chunked (dask): a chunked "
            f"run, or one resumed or appended piece by piece, would take it block by block and "
            f"silently differ; give it explicitly ({fix}), or compute the Dataset first "
            "(ds.compute()) if it fits in memory")


def frame_rows(values: npt.ArrayLike, dim: str = "param") -> xr.DataArray:
    """Per-frame rows (``(nt, k)`` or ``(nt,)``) as a DataArray along ``time`` for :func:`map_frames`."""
    values = np.asarray(values)
    dims = ("time",) if values.ndim == 1 else ("time", dim)
    return xr.DataArray(values, dims=dims)


def block_threads() -> int:
    """Numba threads per block: dask config ``solarprep.block-threads`` (default 1)."""
    import dask

    return max(1, int(dask.config.get(BLOCK_THREADS_KEY, 1)))


@contextlib.contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run the body with at most ``n`` numba threads in this thread (restored afterwards)."""
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _run_block(func, threads, single, kwargs, *arrays):
    with numba_threads(threads):
        result = func(*arrays, **kwargs)
    return result[0] if single and isinstance(result, tuple) else result


def _meta(device, dtype, ndim):
    return backend.array_module(device).empty((0,) * ndim, dtype=dtype)


def map_frames(func: Callable[..., Any], *args: xr.DataArray, output_core_dims: Sequence[Sequence[str]],
               output_dtypes: Sequence[npt.DTypeLike], output_sizes: Mapping[str, int] | None = None,
               device: str | Sequence[str] = "cpu", kwargs: Mapping[str, Any] | None = None,
               frame_index: bool = False, chunks_like: xr.Dataset | xr.DataArray | None = None) -> Any:
    """Apply ``func`` to every block of frames of chunked DataArrays (lazily).

    Parameters
    ----------
    func : callable
        ``func(*arrays, **kwargs)`` → an array or a tuple of arrays. It receives, for each
        block of frames, the blocks of ``args`` with ``time`` first (or, for an argument
        without ``time``, the whole array, e.g. a shared ``(y, x)`` μ map), as NumPy or CuPy
        arrays, and returns the block's outputs with ``time`` first. It is the function the
        eager path calls on the whole series, so each frame's result is the eager one.
    *args : xarray.DataArray
        Inputs with dims ``("time", ...)`` or without ``time``. At least one is dask-backed;
        NumPy ones (such as :func:`frame_rows`) are split like it. Only ``time`` may be
        chunked: other dims are made one chunk (a frame is never split).
    output_core_dims : list of list of str
        Dims after ``time`` of each output (``[["y", "x"]]``, ``[[], ["power"]]``).
    output_dtypes : list of dtype
        One per output.
    output_sizes : dict, optional
        Sizes of output dims that no input has (or whose size differs from the input's).
    device : {"cpu", "cuda"} or list of them
        Where the outputs live (NumPy or CuPy blocks), for all or for each output.
    kwargs : dict, optional
        Keyword arguments of ``func``.
    frame_index : bool
        Pass the global index of each frame of the block as a last positional argument (for
        messages that name a frame).
    chunks_like : xarray.Dataset or xarray.DataArray, optional
        Take the chunks along ``time`` from this object (for outputs that depend on the
        per-frame geometry only, such as μ); by default from the first chunked input.

    Returns
    -------
    xarray.DataArray or tuple of xarray.DataArray
        Dask-backed, chunked along ``time`` like the inputs.
    """
    chunks = time_chunks(chunks_like if chunks_like is not None else list(args))
    if chunks is None:
        raise ChunkingError("map_frames needs at least one input chunked along 'time'")
    inputs = []
    for k, arg in enumerate(args):
        # Bare arrays with private names for every dim but time: nothing to align, and
        # output dims may reuse the names y, x with other sizes (tracking).
        if "time" in arg.dims and arg.dims[0] != "time":
            arg = arg.transpose("time", ...)
        dims = tuple(d if d == "time" else f"_{k}_{d}" for d in arg.dims)
        bare = xr.DataArray(arg.data, dims=dims)
        whole = {d: -1 for d in dims if d != "time"}
        if "time" in dims:
            inputs.append(bare.chunk({"time": chunks, **whole}))
        else:
            inputs.append(bare.chunk(whole) if backend.is_dask(bare.data) else bare)
    if frame_index:
        inputs.append(xr.DataArray(np.arange(sum(chunks)), dims=("time",)).chunk({"time": chunks}))
    sizes = {d: n for arg in args for d, n in arg.sizes.items()}
    sizes.update(output_sizes or {})
    core_in = [[d for d in a.dims if d != "time"] for a in inputs]
    devices = [device] * len(output_dtypes) if isinstance(device, str) else list(device)
    metas = tuple(_meta(dev, np.dtype(dt), 1 + len(dims))
                  for dev, dt, dims in zip(devices, output_dtypes, output_core_dims))
    single = len(output_core_dims) == 1
    runner = functools.partial(_run_block, func, block_threads(), single, dict(kwargs or {}))
    return xr.apply_ufunc(
        runner, *inputs, input_core_dims=core_in, output_core_dims=output_core_dims,
        dask="parallelized",
        dask_gufunc_kwargs={"output_sizes": {d: sizes[d] for d in set().union(*output_core_dims)},
                            "meta": metas[0] if single else metas})


def images_to_device(ds: xr.Dataset, device: str) -> xr.Dataset:
    """``ds`` with its data variables on ``device`` and its coordinates left where they are.

    Chunked variables stay lazy: each block is moved when it is computed, on the worker that
    computes it (dask-cuda workers: CuPy blocks on their GPU). The per-frame geometry stays
    NumPy, which every operation reads on the host; :func:`solarprep.to_device` moves the
    coordinates too.
    """
    out = ds.copy()
    for name, var in ds.data_vars.items():
        moved = backend.to_device(xr.Dataset({name: var.variable}), device)
        out[name] = var.copy(data=moved[name].data)
    return out
