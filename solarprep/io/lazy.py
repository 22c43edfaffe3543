"""Lazy loading: headers now, pixels when a dask computation asks for them.

``load(paths, chunks={"time": n})`` reads every header (on the workers of the active dask
client when there is one, with a progress bar) and builds the per-frame geometry from them,
exactly as an eager :func:`~solarprep.io.loader.load` does, but leaves the pixels as a dask
array with one block per file, rechunked to ``n`` frames per chunk. A block reads its file
only when it is computed, with the same code as the eager path (masking, 180° turn, DN →
DN/s), so a lazily loaded Dataset computes to the eager one bit for bit.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import dask.array
    import sunpy.map

__all__ = ["LazyPixels", "LazyStack", "read_headers", "lazy_stack", "check_chunks"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LazyPixels:
    """Where one frame's pixels are and what :func:`load` does to them once read.

    Attributes
    ----------
    path : str
        The FITS file.
    unit : str or astropy.units.Unit or None
        ``load(..., unit=)``, needed to read files whose BUNIT sunpy refuses.
    shape : tuple of int
        ``(ny, nx)`` from the header.
    turn : bool
        Turn by 180° (``north_up``).
    exptime : float or None
        Divide by it (a DN frame in a DN / s stack).
    """

    path: str
    unit: object = None
    shape: tuple = ()
    turn: bool = False
    exptime: float = None

    def __call__(self, smap: sunpy.map.GenericMap) -> LazyPixels:
        """This file's pixels with the shape of the (header-only) Map ``smap``."""
        return dataclasses.replace(self, shape=tuple(np.shape(smap.data)))

    def turned(self) -> LazyPixels:
        return dataclasses.replace(self, turn=not self.turn)

    def divided(self, exptime: float) -> LazyPixels:
        return dataclasses.replace(self, exptime=float(exptime))

    def read(self) -> np.ndarray:
        """The frame as :func:`load` makes it: float32 ``(ny, nx)``, NaN where missing."""
        from solarprep.io import loader

        data = loader._frame_data(self.path, loader._open_fits(self.path, self.unit))
        if self.turn:
            data = np.ascontiguousarray(data[::-1, ::-1])
        if self.exptime is not None:
            data = (data.astype(np.float64) / self.exptime).astype(np.float32)
        return data


class LazyStack:
    """An array-like ``(nt, ny, nx)`` float32 stack of frames, read on indexing.

    Entries are :class:`LazyPixels` (read when asked for) or arrays (frames given as
    sunpy Maps, already in memory). :func:`dask.array.from_array` slices it one frame per
    block.
    """

    def __init__(self, entries: Iterable[LazyPixels | np.ndarray]) -> None:
        self.entries = tuple(entries)
        self.shape = (len(self.entries), *self.entries[0].shape)
        self.dtype = np.dtype(np.float32)
        self.ndim = 3

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (3 - len(key))
        frames = range(*key[0].indices(self.shape[0]))
        if len(frames) == 0:
            return np.empty((0, *self.shape[1:]), self.dtype)[(slice(None), *key[1:])]
        stack = np.stack([e.read() if isinstance(e, LazyPixels) else np.asarray(e)
                          for e in (self.entries[t] for t in frames)])
        return stack[(slice(None), *key[1:])]


def check_chunks(chunks: int | dict[str, int | None]) -> int:
    """Frames per chunk from ``load``'s ``chunks`` (``{"time": n}``, ``n``, or -1 for all)."""
    from solarprep.errors import ChunkingError

    if isinstance(chunks, dict):
        other = {k: v for k, v in chunks.items() if k != "time" and v not in (None, -1)}
        if other:
            raise ChunkingError(
                f"chunks={chunks!r}: solar Datasets are chunked along 'time' only (every "
                "per-frame operation needs whole frames); use chunks={'time': n}")
        chunks = chunks.get("time", 1)
    if chunks == -1:
        return -1
    if not isinstance(chunks, (int, np.integer)) or isinstance(chunks, bool) or chunks < 1:
        raise ChunkingError(f"chunks={chunks!r}: give the frames per chunk, chunks={{'time': n}} "
                            "with n >= 1 (or -1 for one chunk)")
    return int(chunks)


def lazy_stack(entries: Iterable[LazyPixels | np.ndarray], frames_per_chunk: int) -> dask.array.Array:
    """A dask array ``(nt, ny, nx)`` over ``entries``: one block per file, then rechunked."""
    import dask.array
    from dask.base import tokenize

    stack = LazyStack(entries)
    array = dask.array.from_array(stack, chunks=(1, *stack.shape[1:]), asarray=False,
                                  fancy=False, inline_array=False,
                                  name=f"solarprep-load-{tokenize(stack.entries)}",
                                  meta=np.empty((0, 0, 0), np.float32))
    if frames_per_chunk != 1:
        array = array.rechunk({0: frames_per_chunk})
    return array


def _header_frame(label, *, unit, observer, north_up):
    from solarprep.io import loader

    pixels = LazyPixels(label, unit)
    return loader._read_frame(label, lambda u: loader._open_fits(label, u, header_only=True),
                              unit=unit, observer=observer, north_up=north_up, pixels=pixels)


def read_headers(items: Sequence[tuple[str, Any]], *, progress: bool, **options: Any) -> list:
    """The frames of ``items`` (``(label, map getter)``), with lazy pixels for the files.

    Headers are read on the workers of the active dask client when there is one (the files
    must be visible to them), else here; sunpy Maps are taken as they are.
    """
    from solarprep.io import loader
    from solarprep.parallel.cluster import active_client

    paths = {label for label, get_map in items if getattr(get_map, "func", None) is not None}
    files = [label for label, _ in items if label in paths]
    client = active_client() if len(files) > 1 else None
    frames = {}
    if client is not None:
        frames.update(_on_workers(client, files, progress, options))
    todo = [(label, get_map) for label, get_map in items if label not in frames]
    for label, get_map in loader._progress(todo, progress):
        if label in paths:
            frames[label] = _header_frame(label, **options)
        else:
            frames[label] = loader._read_frame(label, get_map, **options)
    return [frames[label] for label, _ in items]


def _on_workers(client, files, progress, options):
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = client.map(_header_frame, files, pure=False, **options)
    index = {f.key: label for f, label in zip(futures, files)}
    out = {}
    bar = tqdm(total=len(files), desc="solarprep.load (headers)", unit="file",
               disable=not progress or len(files) <= 3)
    try:
        for future in as_completed(futures):
            out[index[future.key]] = future.result()
            bar.update()
    finally:
        bar.close()
        for future in futures:
            future.release()
    log.info("read %d headers on the dask cluster %s", len(files), client.scheduler.address)
    return out
