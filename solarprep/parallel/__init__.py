"""Running solarprep on a dask cluster: chunked Datasets, block-wise operations, pipelines.

* :mod:`.blocks`: :func:`is_chunked`, :func:`map_frames` (the block-wise application of
  per-frame computations that every operation uses on chunked input),
  :func:`require_explicit` (whole-series defaults refused on chunked input)
* :mod:`.cluster`: :func:`local_cluster` (CPU or dask-cuda), :func:`connect`,
  :class:`NumbaThreads` (one numba thread per dask thread)
* :mod:`.pipeline`: :func:`run` (``solarprep run``), streaming a glob of FITS files through
  a list of steps into a zarr store, resumable
* :mod:`.store`: appending to zarr stores and resuming them

See ``docs/parallel.md``.
"""
from solarprep.parallel.blocks import images_to_device, is_chunked, map_frames, require_explicit
from solarprep.parallel.cluster import NumbaThreads, active_client, connect, local_cluster

__all__ = ["is_chunked", "map_frames", "require_explicit", "images_to_device", "local_cluster",
           "connect",
           "active_client", "NumbaThreads", "run", "STEPS"]


def __getattr__(name):
    # The pipeline imports every operation, which import solarprep.parallel.blocks: load it
    # on first use so that the operations can import this package.
    if name in ("run", "STEPS"):
        from solarprep.parallel import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
