"""dask clusters for solarprep: local CPU and GPU clusters, scheduler addresses, worker setup.

:func:`local_cluster` starts a ``distributed.LocalCluster`` (or, with ``gpu=True``, a
``dask_cuda.LocalCUDACluster``, one worker per GPU) whose workers run one task at a time
per thread with numba limited to the same number of threads (``NUMBA_NUM_THREADS``), so
that numba's own thread pool never oversubscribes the cores dask already uses.
:func:`connect` opens a client on a scheduler address, a local cluster, or nothing (dask's
threaded scheduler) and closes everything it started on exit. :class:`NumbaThreads` is the
worker plugin that sets the numba thread count on workers started elsewhere (``dask
worker`` on a cluster).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    import distributed

__all__ = ["local_cluster", "connect", "active_client", "NumbaThreads", "worker_environment"]

log = logging.getLogger(__name__)


def active_client() -> distributed.Client | None:
    """The current ``distributed.Client`` (``with Client(...)`` or the default), or None."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def worker_environment(threads_per_worker: int = 1) -> dict[str, str]:
    """Environment of a worker process: numba and the BLAS libraries on its own threads."""
    n = str(int(threads_per_worker))
    return {"NUMBA_NUM_THREADS": n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "OPENBLAS_NUM_THREADS": n}


try:  # distributed is the optional 'parallel' extra
    from distributed import WorkerPlugin as _PluginBase
except ImportError:  # pragma: no cover
    _PluginBase = object


class NumbaThreads(_PluginBase):
    """Worker plugin: numba uses at most ``n`` threads in the worker process.

    Register it with ``client.register_plugin(NumbaThreads(1))`` on a cluster whose workers
    were not started by :func:`local_cluster` (which sets ``NUMBA_NUM_THREADS`` itself). It
    sets ``NUMBA_NUM_THREADS`` for numba's pool when numba is not yet running, and the
    thread count of the worker's task threads as they start tasks (every solarprep block
    also limits itself, :func:`solarprep.parallel.blocks.numba_threads`).
    """

    name = "solarprep-numba-threads"

    def __init__(self, n: int = 1) -> None:
        self.n = int(n)

    def setup(self, worker: distributed.Worker) -> None:
        os.environ["NUMBA_NUM_THREADS"] = str(self.n)
        import numba

        # Read when numba's pool starts; a pool already running keeps its size, and the
        # blocks then limit themselves.
        numba.config.NUMBA_NUM_THREADS = min(numba.config.NUMBA_NUM_THREADS, self.n)


def local_cluster(n_workers: int | None = None, *, threads_per_worker: int = 1,
                  memory_limit: str | int = "auto", gpu: bool = False, processes: bool = True,
                  dashboard: bool = False, **kwargs: Any) -> distributed.LocalCluster:
    """A local dask cluster whose workers each use ``threads_per_worker`` cores.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes (default: one per core, or one per GPU with ``gpu=True``).
    threads_per_worker : int
        Tasks a worker runs at once; numba and BLAS get as many threads (default 1).
    memory_limit : str or int
        Per worker (``"auto"``: the machine's memory shared between workers).
    gpu : bool
        A ``dask_cuda.LocalCUDACluster`` (needs the ``gpu`` extra: ``dask-cuda``): one
        worker per GPU; chunks moved there with :func:`solarprep.to_device` run the CUDA
        kernels.
    processes : bool
        Worker processes (default) or threads of this process.
    dashboard : bool
        Serve the dask dashboard (off by default).
    **kwargs
        Passed to the cluster class.

    Returns
    -------
    distributed.LocalCluster or dask_cuda.LocalCUDACluster
        Use it as a context manager, or close it.
    """
    env = {**worker_environment(threads_per_worker), **kwargs.pop("env", {})}
    options = dict(threads_per_worker=threads_per_worker, memory_limit=memory_limit,
                   dashboard_address=":8787" if dashboard else None, **kwargs)
    if gpu:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as exc:
            raise ImportError("gpu=True needs dask-cuda: pip install 'solarprep[gpu]'") from exc
        return LocalCUDACluster(n_workers=n_workers, env=env, **options)
    from distributed import LocalCluster

    if processes:
        options["env"] = env
    if n_workers is None:
        n_workers = max(1, (os.cpu_count() or 1) // max(1, threads_per_worker))
    return LocalCluster(n_workers=n_workers, processes=processes, **options)


@contextlib.contextmanager
def connect(scheduler: str | None = None, *, n_workers: int | None = None, threads_per_worker: int = 1,
            gpu: bool = False) -> Iterator[distributed.Client | None]:
    """A dask client for the duration of a ``with`` block; what it started is closed after.

    Parameters
    ----------
    scheduler : str, optional
        ``"tcp://host:8786"`` (a running scheduler; its workers get :class:`NumbaThreads`),
        ``"local"`` (a :func:`local_cluster`), ``"threads"`` or ``None`` (no cluster: dask's
        threaded scheduler in this process) or ``"synchronous"`` (one thread, for debugging).

    Yields
    ------
    distributed.Client or None
    """
    import dask

    if scheduler in (None, "threads", "synchronous"):
        with dask.config.set(scheduler=scheduler or "threads"):
            yield None
        return
    from distributed import Client

    if scheduler == "local":
        with local_cluster(n_workers, threads_per_worker=threads_per_worker, gpu=gpu) as cluster, \
                Client(cluster) as client:
            log.info("local dask cluster: %d worker(s) × %d thread(s)%s",
                     len(cluster.workers), threads_per_worker, " (GPU)" if gpu else "")
            yield client
        return
    with Client(scheduler) as client:
        client.register_plugin(NumbaThreads(threads_per_worker))
        log.info("dask scheduler %s", scheduler)
        yield client
