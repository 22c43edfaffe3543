"""Write and read solar Datasets: netCDF-4 (through h5netcdf) or zarr, atomically.

:func:`save` validates the Dataset, writes it under a temporary name in the
target's folder and renames it into place (:mod:`solarprep.io.atomic`), so that
the target never holds a half-written file; :func:`open_dataset` reads it back,
unchanged, into memory. ``docs/guarantees.md`` lists what is guaranteed.
"""
import json
import logging
import pathlib

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.dataset import validate
from solarprep.errors import SolarDataError
from solarprep.io.atomic import atomic_path, clean_stale

__all__ = ["save", "open_dataset", "check_zarr_codecs", "NETCDF_SUFFIXES", "ZARR_SUFFIXES"]

log = logging.getLogger(__name__)

#: File suffixes written as netCDF-4 (HDF5) through h5netcdf.
NETCDF_SUFFIXES = (".nc", ".nc4", ".h5")
#: Folder suffixes written as zarr stores.
ZARR_SUFFIXES = (".zarr",)

#: Exact (integer nanosecond) encoding of datetime64 coordinates.
_TIME_ENCODING = {"units": "nanoseconds since 1970-01-01T00:00:00", "dtype": "int64",
                  "calendar": "proleptic_gregorian"}


# --------------------------------------------------------------------------- public API


def save(ds, path, *, overwrite=True, check=True, encoding=None):
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
    Attributes that netCDF cannot hold are converted: ``None`` becomes
    ``""``, booleans become 0/1, dicts become JSON strings. Datetime
    coordinates are stored as int64 nanoseconds (exact); data variables are
    compressed losslessly (netCDF: zlib level 4 with shuffle).
    """
    path = pathlib.Path(path)
    fmt = _format(path)
    if check:
        validate(ds)
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


def open_dataset(path):
    """Read a Dataset written by :func:`save` into memory.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.nc``/``.nc4``/``.h5`` file or a ``.zarr`` store.

    Returns
    -------
    xarray.Dataset
        The Dataset, loaded eagerly (NumPy arrays); the file is closed.

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
            return opened.load()
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
    if any(backend.is_cupy(var.data) for var in ds.variables.values()):
        return backend.to_device(ds, "cpu")
    return ds


def _prepare(ds):
    """A copy without inherited encodings and with netCDF-safe attributes."""
    out = ds.drop_encoding()
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
            chunks = (1, ds.sizes["y"], ds.sizes["x"])
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
    ds.to_zarr(tmp, mode="w-", encoding=_merged(ds, "zarr", extra), consolidated=False)


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


def check_zarr_codecs(path):
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
