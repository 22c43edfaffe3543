"""Write and read solar Datasets: netCDF-4 (through h5netcdf) or zarr, atomically.

:func:`save` validates the Dataset, writes it under a temporary name in the
target's folder and renames it into place, so that the target never holds a
half-written file; :func:`open_dataset` reads it back, unchanged, into memory.
"""
import json
import logging
import os
import pathlib
import secrets
import shutil

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.dataset import validate

__all__ = ["save", "open_dataset", "NETCDF_SUFFIXES", "ZARR_SUFFIXES"]

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
    The data are written under ``.{name}.tmp-<pid>-<random>`` in the target's
    folder and renamed into place (``os.replace`` for a file; for a zarr folder
    the old store is moved aside, the new one renamed in, and the old one
    deleted). On any error the temporary is removed and the target is left as
    it was. Attributes that netCDF cannot hold are converted: ``None`` becomes
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
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        if fmt == "netcdf":
            _write_netcdf(prepared, tmp, encoding)
            os.replace(tmp, path)
        else:
            _write_zarr(prepared, tmp, encoding)
            _replace_folder(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
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

    Notes
    -----
    The Dataset is not validated here; :func:`solarprep.dataset.validate` does that.
    """
    path = pathlib.Path(path)
    fmt = _format(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if fmt == "netcdf":
        opened = xr.open_dataset(path, engine="h5netcdf")
    else:
        opened = xr.open_dataset(path, engine="zarr", chunks=None, consolidated=False)
    with opened:
        return opened.load()


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


def _replace_folder(tmp, path):
    """Rename the store ``tmp`` to ``path``, moving an existing ``path`` aside and deleting it."""
    if not path.exists():
        os.replace(tmp, path)
        return
    aside = path.with_name(f".{path.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(aside, path)
        raise
    _remove(aside)


def _remove(path):
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
