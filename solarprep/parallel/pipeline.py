"""``solarprep run``: a glob of FITS files through a list of steps into a zarr store, on dask.

The whole archive is one lazy graph: :func:`solarprep.load` with ``chunks`` reads the headers,
every step adds its block-wise work (:mod:`solarprep.parallel.blocks`), and the result is
appended to the store batch by batch (a few chunks per worker at a time), so memory stays
constant whatever the number of frames. Each finished batch is committed
(:mod:`solarprep.parallel.store`); a run that is killed (the client, a worker, the machine)
resumes where it stopped when started again with the same arguments, and the store ends as a
clean run would have left it.

Steps are named, with keyword arguments (``"derotate:to=2011-02-15T12:00"``,
``"limb-darkening"``, ``"power-maps:window=8h,step=1h"``), or ``(name, kwargs)`` pairs, or
callables ``Dataset → Dataset`` (Python API only).
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from solarprep.errors import PipelineError
from solarprep.parallel import store
from solarprep.parallel.blocks import images_to_device
from solarprep.parallel.cluster import connect

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import xarray as xr

__all__ = ["STEPS", "Step", "parse_step", "run"]

log = logging.getLogger(__name__)

#: Coordinates that steps add on the way (μ for limb darkening, ...); not written unless
#: the ``disk-coordinates`` step asks for them.
_IMPLICIT_COORDS = ("mu", "hgs_lat", "hgs_lon", "on_disk")


def _derotate(ds, **kwargs):
    from solarprep.remap.derotation import derotate

    if "to" not in kwargs:
        raise PipelineError("the derotate step needs the target time: derotate:to=2011-02-15T12:00 "
                            "(a default from the series would differ between runs and batches)")
    return derotate(ds, **kwargs)


def _disk_coordinates(ds, **kwargs):
    from solarprep.coordinates.geometry import disk_coordinates

    return disk_coordinates(ds, **kwargs)


def _limb_darkening(ds, **kwargs):
    from solarprep.photometry.limb_darkening import remove_limb_darkening

    return remove_limb_darkening(ds, **kwargs)


def _foreshortening(ds, **kwargs):
    from solarprep.photometry.foreshortening import foreshortening_correct

    return foreshortening_correct(ds, **kwargs)


def _scale(ds, **kwargs):
    from solarprep.datasets.scalings import scale

    if "scaling" not in kwargs:
        raise PipelineError("the scale step needs a scaling name: scale:scaling=aia_log2")
    return scale(ds, kwargs.pop("scaling"), **kwargs)


def _regrid(ds, **kwargs):
    from solarprep.remap.regrid import regrid_disk

    return regrid_disk(ds, progress=False, **kwargs)


def _doppler_difference(ds, **kwargs):
    from solarprep.helioseismology.doppler import doppler_difference

    return doppler_difference(ds, **kwargs)


def _power_maps(ds, **kwargs):
    from solarprep.helioseismology.power import power_maps

    return power_maps(ds, **kwargs)


#: The named steps of ``solarprep run`` and the operation each one applies.
STEPS = {
    "disk-coordinates": _disk_coordinates,
    "derotate": _derotate,
    "limb-darkening": _limb_darkening,
    "foreshortening": _foreshortening,
    "scale": _scale,
    "regrid": _regrid,
    "doppler-difference": _doppler_difference,
    "power-maps": _power_maps,
}


@dataclasses.dataclass(frozen=True)
class Step:
    """One step: a name of :data:`STEPS` with its keyword arguments, or a callable."""

    name: str
    kwargs: tuple = ()
    func: object = None

    def __call__(self, ds: xr.Dataset) -> xr.Dataset:
        before = set(ds.coords)
        out = (self.func or STEPS[self.name])(ds, **dict(self.kwargs))
        if self.name != "disk-coordinates":
            out = out.drop_vars([c for c in _IMPLICIT_COORDS if c in out.coords and c not in before])
        return out

    def describe(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.kwargs)
        return f"{self.name}:{args}" if args else self.name


def _value(text):
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_step(step: Step | str | tuple[str, dict] | Callable[[xr.Dataset], xr.Dataset]) -> Step:
    """A :class:`Step` from ``"name:key=value,key=value"``, ``(name, kwargs)`` or a callable.

    Raises
    ------
    PipelineError
        For an unknown step name or an argument that is not ``key=value``.
    """
    if isinstance(step, Step):
        return step
    if callable(step):
        return Step(getattr(step, "__qualname__", repr(step)), (), step)
    if isinstance(step, (tuple, list)):
        name, kwargs = step
    else:
        name, _, args = str(step).partition(":")
        kwargs = {}
        for item in filter(None, (a.strip() for a in args.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise PipelineError(f"step {step!r}: the argument {item!r} is not key=value "
                                    "(e.g. power-maps:window=8h,step=1h)")
            kwargs[key.strip().replace("-", "_")] = _value(value)
    name = name.strip().lower().replace("_", "-")
    if name not in STEPS:
        raise PipelineError(f"unknown step {name!r}; steps: {', '.join(STEPS)}")
    return Step(name, tuple(sorted(dict(kwargs).items())))


def _inputs(inputs):
    """The sorted FITS files of a glob, a path or a list of them (as :func:`load` finds them)."""
    from solarprep.io.loader import expand_paths

    return sorted({str(p) for p in expand_paths(inputs)})


def fingerprint(paths, steps, chunks):
    """What identifies a job: its input files (names, sizes), steps and chunking."""
    files = [(os.path.basename(p), os.path.getsize(p)) for p in paths]
    text = json.dumps({"files": files, "steps": [s.describe() for s in steps],
                       "chunks": int(chunks)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Writer:
    """Appends batches in order and commits each once written (module docstring).

    With a distributed client, the next batch is appended (its metadata, and its chunks
    handed to the cluster) while the workers still write the one before, so that they
    never wait for the client between batches; a batch is committed only when it and every
    batch before it are written.
    """

    def __init__(self, output, job, done, client, storage_options, bar, on_batch):
        self.output, self.job, self.committed = output, job, done
        self.client, self.options, self.bar, self.on_batch = client, storage_options, bar, on_batch
        self.pending = collections.deque()  # (frames after the batch, future)

    def append(self, part):
        from solarprep.io.storage import append_zarr, save

        part.attrs = {**part.attrs, **store.progress_attrs(self.committed, self.job)}
        end = (self.pending[-1][0] if self.pending else self.committed) + part.sizes["time"]
        if self.client is None or not self._exists():
            save(part, self.output, append_dim="time", storage_options=self.options)
            self._commit(end)
            return
        writes = append_zarr(part, self.output, "time", self.options, compute=False)
        self.pending.append((end, self.client.compute(writes)))
        while len(self.pending) > 1:
            self._wait()

    def finish(self):
        while self.pending:
            self._wait()

    def _exists(self):
        return store.progress(self.output, self.options) is not None

    def _wait(self):
        end, future = self.pending.popleft()
        future.result()
        self._commit(end)

    def _commit(self, end):
        store.commit(self.output, end, self.job, self.options)
        self.bar.update(end - self.committed)
        self.committed = end
        if self.on_batch is not None:
            self.on_batch(end)


def run(inputs: str | os.PathLike | Sequence[str | os.PathLike], steps: Sequence[Any],
        output: str | os.PathLike, *, scheduler: str | None = None, n_workers: int | None = None,
        threads_per_worker: int = 1, chunks: int = 4, batch: int | None = None,
        overwrite: bool = False, device: str = "cpu", progress: bool = True,
        storage_options: dict | None = None,
        on_batch: Callable[[int], object] | None = None) -> str | os.PathLike:
    """Process FITS files through ``steps`` into the zarr store ``output``, resumably.

    Parameters
    ----------
    inputs : str or list
        A glob of FITS files (``"aia/*.fits"``), paths, or a list of them.
    steps : list
        Step strings (``"derotate:to=2011-02-15T12:00"``), ``(name, kwargs)`` pairs or
        callables ``Dataset → Dataset``; see :data:`STEPS`. Empty: the frames as loaded.
    output : str or os.PathLike
        A ``.zarr`` store (local path or fsspec URL).
    scheduler : str, optional
        ``"tcp://host:8786"``, ``"local"`` (a :func:`~solarprep.parallel.cluster.local_cluster`
        of ``n_workers``), ``None``/``"threads"`` (dask's threads in this process) or
        ``"synchronous"``.
    n_workers, threads_per_worker : int
        For ``scheduler="local"``.
    chunks : int
        Frames per chunk (one task each, per step).
    batch : int, optional
        Frames appended at a time (default: four chunks per worker); memory grows with it.
    overwrite : bool
        Replace an existing store (default: resume it when it was written by the same job,
        refuse otherwise).
    device : {"cpu", "cuda"}
        ``"cuda"``: chunks become CuPy arrays on the workers' GPUs (dask-cuda) and the steps
        run the CUDA kernels; results come back to the host only to be written.
    progress : bool
        Progress bars (headers, then frames written).
    storage_options : dict, optional
        fsspec options of a URL output.
    on_batch : callable, optional
        Called with the number of frames committed after every batch.

    Returns
    -------
    str
        ``output``.

    Raises
    ------
    PipelineError
        Unknown steps, a store written by another job (without ``overwrite``), a step that
        needs an argument.
    """
    from tqdm.auto import tqdm

    from solarprep.io.loader import load
    from solarprep.io.storage import time_chunk

    steps = [parse_step(s) for s in steps]
    paths = _inputs(inputs)
    job = fingerprint(paths, steps, chunks)
    tic = time.perf_counter()
    with connect(scheduler, n_workers=n_workers, threads_per_worker=threads_per_worker,
                 gpu=device == "cuda") as client:
        ds = load(paths, chunks={"time": int(chunks)}, progress=progress, device="cpu")
        if device == "cuda":
            ds = images_to_device(ds, "cuda")
        for step in steps:
            ds = step(ds)
        done = store.prepare(output, job, overwrite=overwrite, storage_options=storage_options)
        nt = ds.sizes["time"]
        per_chunk = max((time_chunk(v) for v in ds.data_vars.values()), default=1)
        workers = len(client.scheduler_info()["workers"]) if client is not None else \
            (os.cpu_count() or 1)
        batch = max(1, int(batch or 4 * per_chunk * workers))
        batch = -(-batch // per_chunk) * per_chunk
        if done:
            log.info("%s: resuming after %d of %d frame(s)", output, done, nt)
        bar = tqdm(total=nt, initial=done, desc="solarprep run", unit="frame",
                   disable=not progress)
        writer = _Writer(output, job, done, client, storage_options, bar, on_batch)
        try:
            for start in range(done, nt, batch):
                writer.append(ds.isel(time=slice(start, min(start + batch, nt))))
            writer.finish()
        finally:
            bar.close()
    log.info("%s: %d frame(s) from %d file(s) through %s in %.1f s", output, nt, len(paths),
             [s.describe() for s in steps] or "no step", time.perf_counter() - tic)
    return output
