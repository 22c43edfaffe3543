"""Write and read solar Datasets: netCDF-4 (through h5netcdf) or zarr, atomically.

:func:`save` validates the Dataset, writes it under a temporary name in the
target's folder and renames it into place (:mod:`solarprep.io.atomic`), so that
the target never holds a half-written file; :func:`open_dataset` reads it back,
unchanged, into memory. ``docs/guarantees.md`` lists what is guaranteed.
"""
from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import warnings
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.dataset import cf_decode, cf_encode, validate
from solarprep.errors import SolarDataError
from solarprep.io.atomic import atomic_path, clean_stale

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dask.delayed import Delayed

    from solarprep.dataset import PathLike

__all__ = ["save", "open_dataset", "check_zarr_codecs", "append_zarr", "time_chunk",
           "quiet_zarr", "NETCDF_SUFFIXES", "ZARR_SUFFIXES"]

log = logging.getLogger(__name__)

#: File suffixes written as netCDF-4 (HDF5) through h5netcdf.
NETCDF_SUFFIXES = (".nc", ".nc4", ".h5")
#: Folder suffixes written as zarr stores.
ZARR_SUFFIXES = (".zarr",)

#: Exact (integer nanosecond) encoding of datetime64 coordinates.
_TIME_ENCODING = {"units": "nanoseconds since 1970-01-01T00:00:00", "dtype": "int64",
                  "calendar": "proleptic_gregorian"}


# --------------------------------------------------------------------------- public API


def save(ds: xr.Dataset, path: PathLike, *, overwrite: bool = True, check: bool = True,
         encoding: dict | None = None, append_dim: str | None = None,
         storage_options: dict | None = None) -> pathlib.Path | str:
    """Write a solar Dataset (or any Dataset, with ``check=False``) to netCDF-4 or zarr, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset (``docs/dataset.md``); CuPy-backed variables are copied
        to the host first.
    path : str or os.PathLike
        Target file; the suffix chooses the format: ``.nc``, ``.nc4``, ``.h5``
        (netCDF-4 through h5netcdf) or ``.zarr`` (a zarr store, one frame per
        chunk).
    overwrite : bool, optional
        Replace an existing target (default ``True``).
    check : bool, optional
        Check the solar Dataset convention first (default). ``False`` writes any Dataset
        (model-ready tables, timelines) with the same atomic write and encodings.
    encoding : dict, optional
        Extra per-variable encodings, merged over the defaults (e.g. compression of a
        variable that is not an image).
    append_dim : str, optional
        zarr only: ``"time"`` appends ``ds`` to an existing store along that dimension
        (in place, not atomically; a store that does not exist yet is written as usual).
        Chunked (dask) data are computed block by block as they are written, so a series
        of any length streams through with constant memory (``docs/parallel.md``).
    storage_options : dict, optional
        fsspec options for a URL target (``"s3://bucket/x.zarr"``, ``"memory://x.zarr"``).

    Returns
    -------
    pathlib.Path
        ``path``, so that ``open_dataset(save(ds, path))`` reads it back.

    Raises
    ------
    solarprep.dataset.DatasetConventionError
        If ``ds`` does not follow the convention (see :func:`solarprep.dataset.validate`).
    ValueError
        For an unknown suffix.
    FileExistsError
        If the target exists and ``overwrite`` is False.
    FileNotFoundError
        If the target's folder does not exist.

    Notes
    -----
    The data are written under ``.{name}.tmp-<host>-<pid>-<random>`` in the
    target's folder, flushed to disk (``fsync``) and renamed into place
    (``os.replace`` for a file; an existing zarr store is exchanged atomically
    with the new one, then deleted), and the folder is flushed, so that a crash
    or power loss leaves the old or the new content, never a partial or empty
    one. On any error (``KeyboardInterrupt`` too) the temporary is removed and
    the target is left as it was; temporaries left by killed writers are removed
    by the next write of the same target (:func:`solarprep.io.atomic.clean_stale`).
    ``units`` are written as CF/UDUNITS-2 strings (:func:`solarprep.dataset.cf_encode`;
    ``docs/dataset.md``, "Files"), and :func:`open_dataset` gives back astropy's.
    Attributes that netCDF cannot hold are converted: ``None`` becomes
    ``""``, booleans become 0/1, dicts become JSON strings. Datetime
    coordinates are stored as int64 nanoseconds (exact); data variables are
    compressed losslessly (netCDF: zlib level 4 with shuffle).

    Chunked (dask) images are written with the dask chunks along ``time`` as the
    file's chunks (zarr: with consolidated metadata). A URL target (fsspec) is written
    in place: object stores have no rename; netCDF goes through a local temporary file.
    """
    if check:
        validate(ds)
    if _is_url(path):
        return _save_url(ds, str(path), overwrite, encoding, append_dim, storage_options)
    path = pathlib.Path(path)
    fmt = _format(path)
    if append_dim is not None:
        if fmt != "zarr":
            raise ValueError(f"{path}: append_dim needs a zarr store (.zarr), not netCDF")
        if path.exists():
            append_zarr(ds, path, append_dim)
            return path
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass overwrite=True to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: the folder {path.parent} does not exist; create it first")
    prepared = _prepare(_to_host(ds))
    with atomic_path(path) as tmp:
        if fmt == "netcdf":
            _write_netcdf(prepared, tmp, encoding)
        else:
            _write_zarr(prepared, tmp, encoding)
    log.info("saved %s (%s, %d frame(s))", path, fmt, ds.sizes.get("time", 0))
    return path


def open_dataset(path: PathLike, *, chunks: dict | int | str | None = None,
                 storage_options: dict | None = None) -> xr.Dataset:
    """Read a Dataset written by :func:`save`: into memory, or lazily with ``chunks``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.nc``/``.nc4``/``.h5`` file or a ``.zarr`` store, or a URL (fsspec).
    chunks : dict or int, optional
        ``{"time": n}`` (or ``n``): a lazy, chunked Dataset (dask) that reads ``n``
        frames per block when computed; the per-frame coordinates are read at once
        (:mod:`solarprep.parallel`). ``"auto"`` or ``{}`` use the file's own chunks.
    storage_options : dict, optional
        fsspec options for a URL.

    Returns
    -------
    xarray.Dataset
        The Dataset, loaded eagerly (NumPy arrays; the file is closed), or chunked.

    Raises
    ------
    ValueError
        For an unknown suffix.
    FileNotFoundError
        If ``path`` does not exist.
    solarprep.SolarDataError
        If the file cannot be read (truncated, corrupt, not netCDF-4 or zarr), or a
        zarr store asks for the ``pickle`` codec (which would run code from the file).

    Notes
    -----
    The Dataset is not validated here; :func:`solarprep.dataset.validate` does that.
    A zarr store that an interrupted replacement left under its old-store name
    (see :mod:`solarprep.io.atomic`) is renamed back first.
    """
    if chunks is not None or _is_url(path):
        return _open_lazy(path, chunks, storage_options)
    path = pathlib.Path(path)
    fmt = _format(path)
    if not path.exists():
        clean_stale(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
    if fmt == "zarr":
        check_zarr_codecs(path)
    try:
        if fmt == "netcdf":
            opened = xr.open_dataset(path, engine="h5netcdf")
        else:
            opened = xr.open_dataset(path, engine="zarr", chunks=None, consolidated=False)
        with opened:
            return cf_decode(opened.load())
    except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        if isinstance(exc, SolarDataError):
            raise
        raise SolarDataError(
            f"{path}: cannot be read as {'netCDF-4' if fmt == 'netcdf' else 'a zarr store'} "
            f"({type(exc).__name__}: {exc}); the file may be truncated or corrupt: write it "
            "again") from exc


# --------------------------------------------------------------------------- helpers


def _format(path):
    suffix = path.suffix.lower()
    if suffix in NETCDF_SUFFIXES:
        return "netcdf"
    if suffix in ZARR_SUFFIXES:
        return "zarr"
    raise ValueError(
        f"{path}: unknown file type {suffix or '(no suffix)'!r}; use one of "
        f"{', '.join(NETCDF_SUFFIXES + ZARR_SUFFIXES)} (netCDF-4 or zarr)")


def _to_host(ds):
    # (a dask array's blocks are CuPy when its _meta is)
    if any(backend.is_cupy(getattr(var.data, "_meta", var.data)) for var in ds.variables.values()):
        return backend.to_device(ds, "cpu")
    return ds


def _prepare(ds):
    """A copy without inherited encodings, with netCDF-safe attributes and CF units."""
    out = cf_encode(ds.drop_encoding())
    out.attrs = _clean_attrs(ds.attrs)
    for var in out.variables.values():
        var.attrs = _clean_attrs(var.attrs)
    return out


def _clean_attrs(attrs):
    return {str(key): _clean_value(value) for key, value in attrs.items()}


def _clean_value(value):
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    if isinstance(value, np.ndarray) and value.dtype == bool:
        return value.astype(np.int8)
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, (bool, np.bool_)) for v in value):
            return [int(v) for v in value]
        if any(v is None for v in value):
            return ["" if v is None else v for v in value]
    return value


def _encoding(ds, fmt):
    encoding = {}
    for name, var in ds.variables.items():
        if np.issubdtype(var.dtype, np.datetime64):
            encoding[name] = dict(_TIME_ENCODING)
        elif var.dims == ("time", "y", "x"):
            chunks = (time_chunk(var), ds.sizes["y"], ds.sizes["x"])
            if fmt == "netcdf":
                encoding[name] = {"zlib": True, "complevel": 4, "shuffle": True,
                                  "chunksizes": chunks}
            else:
                encoding[name] = {"chunks": chunks}
    return encoding


def _merged(ds, fmt, extra):
    encoding = _encoding(ds, fmt)
    for name, enc in (extra or {}).items():
        encoding[name] = {**encoding.get(name, {}), **enc}
    return encoding


def _write_netcdf(ds, tmp, extra=None):
    ds.to_netcdf(tmp, engine="h5netcdf", encoding=_merged(ds, "netcdf", extra))


def _write_zarr(ds, tmp, extra=None):
    with quiet_zarr():
        _regular(ds).to_zarr(tmp, mode="w-", encoding=_merged(ds, "zarr", extra),
                             consolidated=True)


#: Codec ids that unpickle stored bytes: reading them would run code from the file.
_UNSAFE_CODECS = frozenset(("pickle", "numcodecs.pickle"))


def _codec_ids(node):
    """Every ``id`` / ``name`` string in a zarr metadata document (codecs, filters)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("id", "name") and isinstance(value, str):
                yield value
            else:
                yield from _codec_ids(value)
    elif isinstance(node, list):
        for value in node:
            yield from _codec_ids(value)


def check_zarr_codecs(path: pathlib.Path) -> None:
    """Refuse a zarr store whose array metadata name a codec that unpickles data."""
    for meta in sorted(path.glob("*/.zarray")) + sorted(path.glob("*/zarr.json")):
        try:
            spec = json.loads(meta.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SolarDataError(f"{path}: cannot read the zarr metadata {meta.relative_to(path)} "
                                 f"({type(exc).__name__}: {exc}); the store is corrupt") from exc
        unsafe = sorted(set(_codec_ids(spec)) & _UNSAFE_CODECS)
        if unsafe:
            raise SolarDataError(
                f"{path}: the array {meta.parent.name!r} is stored with the {unsafe[0]!r} codec, "
                "which would run code from the file when read; solarprep refuses it: rewrite "
                "the store without object (pickled) arrays")


# --------------------------------------------------------------------------- chunked and remote


def _is_url(path):
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def time_chunk(var: xr.DataArray | xr.Variable) -> int:
    """Frames per file chunk of a ``(time, ...)`` variable: its dask chunk, else one frame."""
    data = var.data
    if backend.is_dask(data) and var.dims[:1] == ("time",):
        return max(1, int(data.chunks[0][0]))
    return 1


def _regular(ds, first=None):
    """``ds`` with equal chunks along ``time`` (the first of ``first`` frames, to fill a chunk).

    zarr writes a dask chunk to whole file chunks; irregular chunks (after an isel, a
    difference) are made regular with the size of the first chunk.
    """
    sizes = [time_chunk(v) for v in ds.data_vars.values() if backend.is_dask(v.data)]
    if not sizes:
        return ds
    c, n = sizes[0], ds.sizes["time"]
    head = [min(first, n)] if first else []
    rest = n - sum(head)
    wanted = tuple(head + [c] * (rest // c) + ([rest % c] if rest % c else []))
    return ds.chunk({"time": wanted})


@contextlib.contextmanager
def quiet_zarr() -> Iterator[None]:
    """Silence zarr's note that consolidated metadata are not in the zarr 3 specification."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        yield


def append_zarr(ds: xr.Dataset, target: PathLike, append_dim: str = "time",
                storage_options: dict | None = None, compute: bool = True) -> Delayed | None:
    """Append ``ds`` to the zarr store ``target`` along ``append_dim``, chunk-aligned.

    The dask chunks are cut so that each writes whole chunks of the store (the first one
    fills the store's last, partial chunk), which keeps parallel writes safe; metadata are
    consolidated. With ``compute=False`` the arrays are lengthened and the in-memory
    variables written at once, and a ``dask.delayed`` that writes the chunks is returned
    (the caller consolidates the metadata when it has run).
    """
    import zarr

    prepared = _prepare(_to_host(ds))
    store = str(target)
    group = zarr.open_group(store, mode="r", storage_options=storage_options)
    first = None
    for name, var in prepared.data_vars.items():
        if name in group and var.dims[:1] == (append_dim,):
            length, chunk = group[name].shape[0], group[name].chunks[0]
            first = (chunk - length % chunk) % chunk or None
            break
    with quiet_zarr():
        writes = _regular(prepared, first).to_zarr(
            store, append_dim=append_dim, consolidated=compute, compute=compute,
            storage_options=storage_options)
    log.info("appended %d frame(s) to %s", ds.sizes.get(append_dim, 0), target)
    return None if compute else writes


def _save_url(ds, url, overwrite, encoding, append_dim, storage_options):
    import fsspec

    fmt = _format(pathlib.PurePosixPath(url.split("://", 1)[1]))
    fs, fs_path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    exists = fs.exists(fs_path)
    if append_dim is not None and exists:
        if fmt != "zarr":
            raise ValueError(f"{url}: append_dim needs a zarr store (.zarr), not netCDF")
        append_zarr(ds, url, append_dim, storage_options)
        return url
    if exists and not overwrite:
        raise FileExistsError(f"{url}: exists; pass overwrite=True to replace it")
    prepared = _prepare(_to_host(ds))
    if fmt == "zarr":
        with quiet_zarr():
            _regular(prepared).to_zarr(url, mode="w", consolidated=True,
                                       encoding=_merged(prepared, "zarr", encoding),
                                       storage_options=storage_options)
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            local = pathlib.Path(folder) / "upload.nc"
            _write_netcdf(prepared, local, encoding)
            fs.put_file(str(local), fs_path)
    log.info("saved %s (%s, %d frame(s))", url, fmt, ds.sizes.get("time", 0))
    return url


def _open_lazy(path, chunks, storage_options):
    """A chunked (or, for a URL without ``chunks``, eagerly loaded) Dataset."""
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        chunks = {"time": int(chunks)}
    url = _is_url(path)
    where = pathlib.PurePosixPath(str(path).split("://", 1)[-1]) if url else pathlib.Path(path)
    fmt = _format(where)
    if not url and not where.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if fmt == "zarr":
        if not url:
            check_zarr_codecs(where)
        with quiet_zarr():
            ds = xr.open_dataset(str(path), engine="zarr", chunks=chunks, consolidated=None,
                                 storage_options=storage_options)
    elif url:
        import fsspec

        handle = fsspec.open(str(path), "rb", **(storage_options or {})).open()
        ds = xr.open_dataset(handle, engine="h5netcdf", chunks=chunks)
    else:
        ds = xr.open_dataset(where, engine="h5netcdf", chunks=chunks)
    ds = cf_decode(ds)
    if chunks is None:
        with ds:
            return ds.load()
    # The per-frame geometry is small and read by every operation: in memory, not lazy.
    small = [name for name, c in ds.coords.items()
             if name not in ds.indexes and c.ndim <= 1 and backend.is_dask(c.data)]
    return ds.assign_coords({name: ds[name].compute() for name in small})
