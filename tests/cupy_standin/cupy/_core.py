"""The stand-in's array type and its transfer ledger (see ``tests/cupy_standin/README.md``).

``ndarray`` wraps a NumPy array (the "device memory") and behaves like
``cupy.ndarray`` where the library could go wrong:

* implicit conversion to NumPy (``np.asarray``, ``xarray``'s ``.values``) raises
  ``TypeError`` with CuPy's own message; mixing it with NumPy arrays in a ufunc or
  a NumPy function raises ``TypeError`` too;
* datetime64, timedelta64, strings and objects are refused (``ValueError:
  Unsupported dtype``), as CuPy refuses them;
* every host↔device copy is counted in :data:`LEDGER`: ``.get()``/``asnumpy``
  (device→host), ``asarray``/``array`` of host data and setting items from host
  arrays (host→device); ``float()``, ``int()``, ``bool()``, ``.item()``,
  ``.tolist()`` and boolean-mask indexing, which synchronise on a GPU, count as
  implicit device→host reads;
* numba.cuda kernels accept it in the CUDA simulator: it is an ``ArgHint`` whose
  ``to_device`` hands the simulator its buffer (no copy), as a real CuPy array hands
  numba its device pointer through ``__cuda_array_interface__``.
"""
import copy as _copy
import dataclasses

import numpy as np

__all__ = ["ndarray", "LEDGER", "Ledger", "wrap", "unwrap", "from_host", "to_host"]

_REFUSED_KINDS = "mMOSUV"


@dataclasses.dataclass
class Ledger:
    """Counts of host↔device copies since the last :meth:`reset`."""

    h2d: int = 0
    d2h: int = 0
    h2d_bytes: int = 0
    d2h_bytes: int = 0
    implicit: int = 0          # float()/int()/bool()/item()/tolist()/mask indexing (syncs)
    kernel_host_args: int = 0  # NumPy arrays handed to a CUDA kernel (numba copies them both ways)
    events: list = dataclasses.field(default_factory=list)

    def reset(self):
        self.h2d = self.d2h = self.h2d_bytes = self.d2h_bytes = 0
        self.implicit = self.kernel_host_args = 0
        self.events = []

    def record(self, kind, nbytes, what):
        if kind == "h2d":
            self.h2d += 1
            self.h2d_bytes += int(nbytes)
        elif kind == "d2h":
            self.d2h += 1
            self.d2h_bytes += int(nbytes)
        elif kind == "implicit":
            self.implicit += 1
            self.d2h_bytes += int(nbytes)
        else:
            self.kernel_host_args += 1
        self.events.append((kind, int(nbytes), what))


#: The ledger of the whole process (tests reset it around the calls they watch).
LEDGER = Ledger()

try:  # the CUDA simulator takes an ArgHint's to_device() as the kernel argument
    from numba.cuda.args import ArgHint as _Base
except Exception:  # noqa: BLE001 - numba missing or broken: plain object
    _Base = object


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in _REFUSED_KINDS:
        raise ValueError(f"Unsupported dtype {dtype}")
    return dtype


def wrap(value):
    """Wrap NumPy results (arrays and NumPy scalars: CuPy returns 0-d arrays) recursively."""
    if isinstance(value, ndarray):
        return value
    if isinstance(value, np.ndarray):
        return ndarray._from(value)
    if isinstance(value, np.generic):
        return ndarray._from(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def unwrap(value, *, allow_host=False, what="argument"):
    """The buffers of stand-in arrays; host NumPy arrays are refused unless ``allow_host``."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray) and value.ndim > 0 and not allow_host:
        raise TypeError(f"Unsupported type {type(value)} ({what}: a NumPy array mixed with "
                        "CuPy arrays; move it with cupy.asarray first)")
    if isinstance(value, (tuple, list)):
        return type(value)(unwrap(v, allow_host=allow_host, what=what) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v, allow_host=allow_host, what=what) for k, v in value.items()}
    return value


def from_host(value, dtype=None, copy=None, order="K", what="cupy.asarray"):
    """``cupy.asarray``/``cupy.array`` of any input: host data are copied (and counted)."""
    if isinstance(value, ndarray):
        a = value._a
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return ndarray._from(a.astype(_check_dtype(dtype)))
        if copy:
            return ndarray._from(np.array(a, order=order if order != "K" else "K", copy=True))
        if order == "C" and not a.flags.c_contiguous:
            return ndarray._from(np.ascontiguousarray(a))
        return value
    host = np.array(value, dtype=dtype, order=order if order in "CF" else "K", copy=True)
    _check_dtype(host.dtype)
    LEDGER.record("h2d", host.nbytes, what)
    return ndarray._from(host)


def to_host(value, what="cupy.asnumpy"):
    """``cupy.asnumpy``: a counted device→host copy (host input passes through)."""
    if isinstance(value, ndarray):
        LEDGER.record("d2h", value._a.nbytes, what)
        return np.array(value._a, copy=True)
    return np.asarray(value)


class _MemoryPointer:
    def __init__(self, a):
        self.ptr = a.__array_interface__["data"][0]
        self.mem = a


class ndarray(_Base):  # noqa: N801 - CuPy's name
    """A NumPy-backed stand-in for ``cupy.ndarray`` (see the module docstring)."""

    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = np.empty(shape, dtype=_check_dtype(dtype), order=order)

    @classmethod
    def _from(cls, a):
        _check_dtype(a.dtype)
        obj = cls.__new__(cls)
        obj._a = a
        return obj

    # -- the simulator hook (numba.cuda.args.ArgHint) -------------------------------------
    def to_device(self, retr, stream=0):
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return FakeCUDAArray(self._a)

    @property
    def _numba_type_(self):  # pragma: no cover - only real numba types arguments
        raise TypeError("the CuPy stand-in works with numba's CUDA simulator only")

    # -- what CuPy refuses -----------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def _sync_read(self, what):
        LEDGER.record("implicit", self._a.nbytes, what)
        return self._a

    def __float__(self):
        return float(self._sync_read("float()"))

    def __int__(self):
        return int(self._sync_read("int()"))

    def __complex__(self):
        return complex(self._sync_read("complex()"))

    def __bool__(self):
        return bool(self._sync_read("bool()"))

    def item(self, *args):
        return self._sync_read("item()").item(*args)

    def tolist(self):
        return self._sync_read("tolist()").tolist()

    # -- explicit transfers ----------------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        host = to_host(self, "ndarray.get()")
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        LEDGER.record("h2d", np.asarray(arr).nbytes, "ndarray.set()")
        self._a[...] = arr

    # -- array protocol ----------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    data = property(lambda self: _MemoryPointer(self._a))
    T = property(lambda self: ndarray._from(self._a.T))
    real = property(lambda self: ndarray._from(self._a.real))
    imag = property(lambda self: ndarray._from(self._a.imag))
    device = property(lambda self: _device())

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (ndarray._from(self._a[i]) for i in range(len(self._a)))

    def __repr__(self):
        return repr(self._a)

    __str__ = __repr__

    def __copy__(self):
        return ndarray._from(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray._from(_copy.deepcopy(self._a, memo))

    def __dlpack__(self, *args, **kwargs):
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()

    def _key(self, key):
        if isinstance(key, tuple):
            return tuple(self._key(k) for k in key)
        if isinstance(key, ndarray):
            if key.dtype == bool:
                LEDGER.record("implicit", key.nbytes, "boolean-mask indexing")
            return key._a
        if isinstance(key, np.ndarray) and key.ndim > 0:
            LEDGER.record("h2d", key.nbytes, "index array from the host")
        return key

    def __getitem__(self, key):
        return wrap(self._a[self._key(key)])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.ndim > 0:
            LEDGER.record("h2d", value.nbytes, "__setitem__ from a host array")
        self._a[self._key(key)] = unwrap(value, allow_host=True)

    # -- NumPy dispatch: CuPy results, NumPy operands refused ------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        outs = kwargs.get("out")
        args = unwrap(inputs, what=f"ufunc {ufunc.__name__}")
        if outs is not None:
            kwargs["out"] = unwrap(outs, what="out=")
        result = getattr(ufunc, method)(*args, **kwargs)
        if outs is not None:
            return outs[0] if len(outs) == 1 else outs
        return wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, "__name__", "function")
        return wrap(func(*unwrap(args, what=name), **unwrap(kwargs, what=name)))

    def __getattr__(self, name):
        if name.startswith("__") or name in ("ctypes", "tobytes", "tofile", "dump", "dumps"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return wrap(attr)

        def method(*args, **kwargs):
            return wrap(attr(*unwrap(args, what=name), **unwrap(kwargs, what=name)))

        method.__name__ = name
        return method


def _binary(ufunc):
    def op(self, other):
        return ufunc(self, other)

    def rop(self, other):
        return ufunc(other, self)

    def iop(self, other):
        ufunc(self._a, unwrap(other, what=ufunc.__name__), out=self._a)
        return self

    return op, rop, iop


for _name, _ufunc in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                      ("mod", np.remainder), ("pow", np.power), ("matmul", np.matmul),
                      ("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor),
                      ("lshift", np.left_shift), ("rshift", np.right_shift)):
    _op, _rop, _iop = _binary(_ufunc)
    setattr(ndarray, f"__{_name}__", _op)
    setattr(ndarray, f"__r{_name}__", _rop)
    setattr(ndarray, f"__i{_name}__", _iop)

for _name, _ufunc in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                      ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)):
    setattr(ndarray, f"__{_name}__", _binary(_ufunc)[0])

for _name, _ufunc in (("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                      ("invert", np.invert)):
    setattr(ndarray, f"__{_name}__", (lambda u: lambda self: u(self))(_ufunc))

ndarray.__hash__ = None


class _Device:
    id = 0
    compute_capability = "90"

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def mem_info(self):
        return (64 * 2**30, 80 * 2**30)


def _device():
    return _Device()
