"""Resumable zarr outputs: what a pipeline has committed, and cutting back what it has not.

A pipeline (:func:`solarprep.parallel.pipeline.run`) appends its output to a zarr store batch
by batch. An append is not atomic: xarray first lengthens the arrays along ``time``, then
the workers write the chunks, so a run killed in the middle of a batch leaves frames that
the store's shape counts but whose chunks were never written (they would read as NaN).
The store's global attribute ``solarprep_progress`` (``{"frames": n, "job": fingerprint}``)
therefore always names the frames that are complete: every batch is appended carrying the
count of the frames before it, and the count is raised to include the batch once its chunks
are written (a local zarr store replaces its metadata file atomically, an object store puts
it in one request). A resumed run first cuts every array along ``time`` back to that count,
then appends the rest.
"""
from __future__ import annotations

import json
import logging
import shutil
from typing import TYPE_CHECKING

from solarprep.errors import PipelineError
from solarprep.io.storage import quiet_zarr

if TYPE_CHECKING:
    import os

__all__ = ["PROGRESS_ATTR", "progress_attrs", "progress", "commit", "truncate", "prepare"]

log = logging.getLogger(__name__)

#: Global attribute of the store with the progress record (JSON).
PROGRESS_ATTR = "solarprep_progress"


def progress_attrs(frames: int, job: str) -> dict[str, str]:
    """The attribute that records ``frames`` complete frames of ``job`` (for ``ds.attrs``)."""
    return {PROGRESS_ATTR: json.dumps({"frames": int(frames), "job": job})}


def _store(target, storage_options=None):
    """What zarr opens: the path of a local store, an fsspec store for a URL."""
    if "://" not in str(target):
        return str(target)
    from zarr.storage import FsspecStore

    return FsspecStore.from_url(str(target), storage_options=storage_options, read_only=False)


def _group(target, mode, storage_options):
    import zarr

    return zarr.open_group(_store(target, storage_options), mode=mode, use_consolidated=False)


def progress(target: str | os.PathLike, storage_options: dict | None = None) -> dict | None:
    """The store's progress record (``{"frames": n, "job": ...}``), or None without one."""
    try:
        text = _group(target, "r", storage_options).attrs.get(PROGRESS_ATTR)
    except Exception:  # noqa: BLE001 - not a zarr store
        return None
    return None if text is None else json.loads(text)


def commit(target: str | os.PathLike, frames: int, job: str, storage_options: dict | None = None) -> None:
    """Record that the first ``frames`` frames of the store are complete."""
    import zarr

    _group(target, "r+", storage_options).attrs.update(progress_attrs(frames, job))
    with quiet_zarr():
        zarr.consolidate_metadata(_store(target, storage_options))


def truncate(target: str | os.PathLike, frames: int, dim: str = "time",
             storage_options: dict | None = None) -> None:
    """Cut every array of the store whose first dimension is ``dim`` to ``frames`` entries."""
    import zarr

    cut = []
    for name, array in _group(target, "r+", storage_options).arrays():
        dims = getattr(array.metadata, "dimension_names", None) \
            or array.attrs.get("_ARRAY_DIMENSIONS")
        if dims and dims[0] == dim and array.shape[0] > frames:
            array.resize((frames, *array.shape[1:]))
            cut.append(name)
    if cut:
        with quiet_zarr():
            zarr.consolidate_metadata(_store(target, storage_options))
        log.info("%s: cut %s back to the %d committed frame(s)", target, cut, frames)


def prepare(target: str | os.PathLike, job: str, *, overwrite: bool = False,
            storage_options: dict | None = None) -> int:
    """Frames already done in ``target`` for ``job`` (0 for a new store); see module docstring.

    Raises
    ------
    PipelineError
        If the store exists but was written by another job (other inputs, steps or
        chunks), or by something else than a pipeline, and ``overwrite`` is False.
    """
    import fsspec

    fs, path = fsspec.core.url_to_fs(str(target), **(storage_options or {}))
    if not fs.exists(path):
        return 0
    if overwrite:
        if "://" in str(target):
            fs.rm(path, recursive=True)
        else:
            shutil.rmtree(target)
        log.info("%s: removed (overwrite)", target)
        return 0
    record = progress(target, storage_options)
    if record is None or record.get("job") != job:
        what = "by something else than solarprep run" if record is None else \
            "by another job (other input files, steps or chunking)"
        raise PipelineError(
            f"{target}: the store exists and was written {what}, so it cannot be resumed; "
            "choose another output, or pass overwrite=True (solarprep run --overwrite) to "
            "replace it")
    done = int(record["frames"])
    truncate(target, done, storage_options=storage_options)
    return done
