"""Read ``.npz`` files without running code from them; write them atomically.

``numpy.load(..., allow_pickle=True)`` unpickles object arrays, and unpickling can call any
Python function named in the file: a crafted ``.npz`` runs code when read. The SOLARED files
need it only for their timestamps, arrays of ``datetime.datetime`` objects.
:func:`load_npz` reads numeric arrays directly from their bytes and unpickles object arrays
with an unpickler that resolves only the classes such arrays are made of (``numpy.ndarray``,
``numpy.dtype``, numpy's array reconstructor and the ``datetime`` types); any other name in
the pickle stops the reading with a :class:`~solarprep.errors.SolarDataError` before
anything is called. The unpickled array must then hold ``datetime`` objects only.

Memory is bounded too: the unpickler is the pure-Python one (its memo is a dict, so a forged
memo index cannot make it allocate gigabytes, as the C unpickler would), an object array is
at most :data:`MAX_OBJECT_BYTES` of pickle, and the reconstructed array must have exactly the
shape its ``.npy`` header announces before numpy allocates it.
"""
from __future__ import annotations

import datetime
import io
import math
import pathlib
import pickle
import zipfile
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from solarprep.errors import SolarDataError
from solarprep.io.atomic import atomic_path

if TYPE_CHECKING:
    import os

__all__ = ["load_npz", "save_npz", "MAX_MEMBER_BYTES"]

#: Largest uncompressed array member read (bytes); larger ones are refused, not allocated.
MAX_MEMBER_BYTES = 2**31
#: Largest pickled object array read (bytes); SOLARED timestamps take about 6 kB.
MAX_OBJECT_BYTES = 2**26

_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_OBJECTS = (datetime.datetime,)


class _ShapedArray(np.ndarray):
    """What the unpickler reconstructs: refuses a state whose shape is not the announced one."""

    expected_shape = ()

    def __setstate__(self, state):
        shape = state[1] if len(state) == 5 else state[0]
        if tuple(shape) != self.expected_shape:
            raise pickle.UnpicklingError(f"the pickled array has shape {shape}, not the "
                                         f"{self.expected_shape} of its header")
        super().__setstate__(state)


class _DatetimeUnpickler(pickle._Unpickler):
    """Pure-Python unpickler resolving only the globals an array of datetimes needs."""

    def __init__(self, file, shape):
        super().__init__(file)
        cls = type("_Shaped", (_ShapedArray,), {"expected_shape": tuple(shape)})
        self._allowed = {
            ("numpy", "ndarray"): cls,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct_checked,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct_checked,
            ("datetime", "datetime"): datetime.datetime,
            ("datetime", "date"): datetime.date,
            ("datetime", "timedelta"): datetime.timedelta,
            ("datetime", "timezone"): datetime.timezone,
        }

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"the pickle asks for {module}.{name}, which is not a datetime array type") \
                from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _reconstruct_checked(subtype, shape, dtype):
    """numpy's array reconstructor, for the guarded array class and a tiny shape only."""
    if not (isinstance(subtype, type) and issubclass(subtype, _ShapedArray)) \
            or not isinstance(shape, tuple) or math.prod(shape) > 1:
        raise pickle.UnpicklingError("the pickle reconstructs something else than a numpy array")
    return _RECONSTRUCT(subtype, shape, dtype)


def load_npz(path: str | os.PathLike, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file; object arrays may hold ``datetime`` objects only.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file (``numpy.savez`` or ``numpy.savez_compressed``).
    max_member_bytes : int
        Largest uncompressed array accepted.

    Returns
    -------
    dict
        ``{name: numpy.ndarray}`` in the file's order (``arr_0``, ``arr_1``, ...).

    Raises
    ------
    solarprep.SolarDataError
        For a missing, truncated or corrupt file (bad zip structure or CRC), an array whose
        bytes do not match its header, or an object array whose pickle names anything but
        the datetime types (nothing from such a pickle is ever called).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise SolarDataError(f"{path}: no such file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise SolarDataError(f"{path}: not a readable .npz (zip) file ({type(exc).__name__}: "
                             f"{exc}); it may be truncated or corrupt: copy it again") from exc
    out = {}
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise SolarDataError(f"{path}: holds {info.filename!r}, not an .npy array; not "
                                     "a numpy .npz file")
            if info.file_size > max_member_bytes:
                raise SolarDataError(f"{path}: array {info.filename} claims {info.file_size} "
                                     f"bytes, more than the {max_member_bytes} accepted")
            try:
                with archive.open(info) as fh:
                    raw = fh.read()
                out[info.filename[:-4]] = _array(raw, path, info.filename)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise SolarDataError(
                    f"{path}: array {info.filename} cannot be decompressed ({type(exc).__name__}:"
                    f" {exc}); the file is truncated or corrupt: copy it again") from exc
    return out


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> pathlib.Path:
    """Write ``arrays`` (a dict) as an ``.npz`` file atomically and durably; returns the path.

    Object arrays (datetimes) are pickled by numpy as usual; :func:`load_npz` reads them back.
    """
    path = pathlib.Path(path)
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        np.savez(fh, **arrays)
    return path


def _array(raw, path, member):
    where = f"{path}: array {member}"
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, SyntaxError, TypeError, EOFError) as exc:
        raise SolarDataError(f"{where} has no valid .npy header ({exc}); the file is "
                             "corrupt") from exc
    payload = raw[stream.tell():]
    if dtype.hasobject:
        return _object_array(payload, shape, dtype, where)
    count = math.prod(shape)
    if len(payload) != count * dtype.itemsize:
        raise SolarDataError(f"{where} holds {len(payload)} bytes of data but its header says "
                             f"{shape} {dtype} ({count * dtype.itemsize} bytes); the file is "
                             "truncated or corrupt")
    array = np.frombuffer(payload, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _object_array(payload, shape, dtype, where):
    if dtype != np.dtype(object):
        raise SolarDataError(f"{where} has the structured dtype {dtype} with objects; only "
                             "plain object arrays of datetimes are read")
    if len(payload) > MAX_OBJECT_BYTES:
        raise SolarDataError(f"{where} holds {len(payload)} bytes of pickled objects, more than "
                             f"the {MAX_OBJECT_BYTES} accepted for an array of datetimes")
    try:
        value = _DatetimeUnpickler(io.BytesIO(payload), shape).load()
    except pickle.UnpicklingError as exc:
        raise SolarDataError(f"{where}: refused to unpickle it: {exc}. Object arrays are read "
                             "only when they hold datetimes; nothing from this file was "
                             "run") from None
    except Exception as exc:  # malformed pickle bytes: any error of the unpickler's machinery
        raise SolarDataError(f"{where}: the pickled object array is corrupt "
                             f"({type(exc).__name__}: {exc})") from None
    if not isinstance(value, _ShapedArray) or value.dtype != object \
            or value.shape != tuple(shape):
        raise SolarDataError(f"{where}: the pickle holds {type(value).__name__} "
                             f"{getattr(value, 'shape', '')}, not the object array of shape "
                             f"{tuple(shape)} its header announces")
    value = value.view(np.ndarray)
    bad = [v for v in value.ravel() if not isinstance(v, _ALLOWED_OBJECTS)]
    if bad:
        raise SolarDataError(f"{where}: holds {type(bad[0]).__name__} objects ({bad[0]!r}); "
                             "object arrays may hold datetime.datetime objects only")
    return value
