"""Device-test helpers: one test body for NumPy and CuPy, and host↔device transfer counting.

:func:`numpy_cupy_allclose` runs a test body twice, with ``xp=numpy`` and with
``xp=cupy`` (real CuPy on a GPU machine, the stand-in of ``tests/cupy_standin``
elsewhere), and compares what the two runs return, in the style of CuPy's own
``cupy.testing.numpy_cupy_allclose``. Inside a body, :func:`transfers` counts the
copies between host and device of the calls it wraps:

* with the stand-in every copy is counted exactly (``cupy.LEDGER``), including
  implicit reads (``float()``, ``bool()``, boolean-mask indexing) and host arrays
  handed to a CUDA kernel;
* with real CuPy, ``cupy.asarray``/``array``/``ascontiguousarray`` of host data and
  ``cupy.asnumpy`` (the library's only device→host path, ``backend.to_host``) are
  counted, and any other synchronising read raises ``cupyx.DeviceSynchronized``
  (``cupyx.allow_synchronize(False)``), so the same assertions hold on both.
"""
import contextlib
import dataclasses
import functools
import inspect

import numpy as np
import pytest
import xarray as xr

__all__ = ["numpy_cupy_allclose", "transfers", "Transfers", "on", "host", "is_standin"]


def is_standin(xp):
    """True for the NumPy-backed CuPy stand-in."""
    return bool(getattr(xp, "IS_STANDIN", False))


def on(xp, obj):
    """``obj`` (Dataset, DataArray or array) with its data on ``xp``'s device (setup: not counted)."""
    if xp is np:
        return obj
    from solarprep.backend import to_device

    if isinstance(obj, (xr.Dataset, xr.DataArray)):
        return to_device(obj, "cuda")
    return xp.asarray(obj)


def host(value):
    """A host copy of an array, Dataset or DataArray (every CuPy variable brought back)."""
    from solarprep.backend import is_cupy, to_device, to_host

    if isinstance(value, (xr.Dataset, xr.DataArray)):
        return to_device(value, "cpu")
    if is_cupy(value):
        return to_host(value)
    return value


@dataclasses.dataclass
class Transfers:
    """Copies counted by :func:`transfers` (``sizes_h2d``/``sizes_d2h``: bytes of each copy)."""

    xp: object
    sizes_h2d: list = dataclasses.field(default_factory=list)
    sizes_d2h: list = dataclasses.field(default_factory=list)
    implicit: int = 0
    kernel_host_args: int = 0
    events: list = dataclasses.field(default_factory=list)

    @property
    def h2d(self):
        return len(self.sizes_h2d)

    @property
    def d2h(self):
        return len(self.sizes_d2h) + self.implicit

    def expect(self, *, d2h=0, bulk_h2d=0, bulk_bytes):
        """Assert the counts of a device run (a NumPy run passes trivially).

        ``d2h``: device→host reads (each one a synchronisation), explicit or implicit;
        ``bulk_h2d``: host→device copies of at least ``bulk_bytes`` (image data; the
        small parameter blocks every kernel gets are not bulk).
        """
        if self.xp is np:
            return
        bulk = [n for n in self.sizes_h2d if n >= bulk_bytes]
        detail = f"events: {self.events}"
        assert self.kernel_host_args == 0, f"host arrays given to CUDA kernels; {detail}"
        assert self.d2h == d2h, f"{self.d2h} device->host reads, expected {d2h}; {detail}"
        assert len(bulk) == bulk_h2d, \
            f"{len(bulk)} host->device copies of >= {bulk_bytes} B, expected {bulk_h2d}; {detail}"


@contextlib.contextmanager
def transfers(xp):
    """Count host↔device copies made inside the block (see the module docstring)."""
    t = Transfers(xp)
    if xp is np:
        yield t
        return
    if is_standin(xp):
        ledger = xp.LEDGER
        ledger.reset()
        try:
            yield t
        finally:
            for kind, nbytes, what in ledger.events:
                t.events.append((kind, nbytes, what))
                if kind == "h2d":
                    t.sizes_h2d.append(nbytes)
                elif kind == "d2h":
                    t.sizes_d2h.append(nbytes)
                elif kind == "implicit":
                    t.implicit += 1
                else:
                    t.kernel_host_args += 1
            ledger.reset()
        return
    with _real_cupy_counting(xp, t):
        yield t


@contextlib.contextmanager
def _real_cupy_counting(cupy, t):
    import cupyx

    allow = getattr(cupyx, "allow_synchronize", None)
    originals = {name: getattr(cupy, name) for name in ("asarray", "array", "ascontiguousarray",
                                                        "asnumpy")}

    def uploading(name):
        def call(a, *args, **kwargs):
            if not isinstance(a, cupy.ndarray):
                nbytes = int(getattr(a, "nbytes", np.asarray(a).nbytes))
                t.sizes_h2d.append(nbytes)
                t.events.append(("h2d", nbytes, f"cupy.{name}"))
            return originals[name](a, *args, **kwargs)
        return call

    def asnumpy(a, *args, **kwargs):
        if isinstance(a, cupy.ndarray):
            t.sizes_d2h.append(int(a.nbytes))
            t.events.append(("d2h", int(a.nbytes), "cupy.asnumpy"))
        with (allow(True) if allow else contextlib.nullcontext()):
            return originals["asnumpy"](a, *args, **kwargs)

    patched = {name: uploading(name) for name in ("asarray", "array", "ascontiguousarray")}
    patched["asnumpy"] = asnumpy
    try:
        for name, func in patched.items():
            setattr(cupy, name, func)
        with (allow(False) if allow else contextlib.nullcontext()):
            yield t
    finally:
        for name, func in originals.items():
            setattr(cupy, name, func)


def _compare(ref, got, rtol, atol, where="result", xp=None):
    from solarprep.backend import is_cupy

    if isinstance(ref, xr.Dataset):
        assert isinstance(got, xr.Dataset), f"{where}: {type(got).__name__}, expected a Dataset"
        assert set(got.variables) == set(ref.variables), \
            f"{where}: variables {sorted(got.variables)} != {sorted(ref.variables)}"
        for name in ref.variables:
            if name in ref.data_vars:
                _placement(got.variables[name], f"{where}[{name!r}]")
            _compare(ref.variables[name], got.variables[name], rtol, atol, f"{where}[{name!r}]")
        _attrs(ref.attrs, got.attrs, where)
        return
    if isinstance(ref, (xr.DataArray, xr.Variable)):
        assert ref.dims == got.dims, f"{where}: dims {got.dims} != {ref.dims}"
        if isinstance(ref, xr.DataArray):
            _placement(got.variable, where)
            _compare(ref.variable, got.variable, rtol, atol, where)
            for name in ref.coords:
                _compare(ref.coords[name].variable, got.coords[name].variable, rtol, atol,
                         f"{where}.coords[{name!r}]")
            return
        _attrs(ref.attrs, got.attrs, where)
        ref, got = ref.data, got.data
    if isinstance(ref, dict):
        assert set(ref) == set(got), f"{where}: keys {sorted(got)} != {sorted(ref)}"
        for k in ref:
            _compare(ref[k], got[k], rtol, atol, f"{where}[{k!r}]")
        return
    if isinstance(ref, (tuple, list)):
        assert len(ref) == len(got), f"{where}: {len(got)} items, expected {len(ref)}"
        for i, (a, b) in enumerate(zip(ref, got)):
            _compare(a, b, rtol, atol, f"{where}[{i}]")
        return
    if is_cupy(ref):
        raise AssertionError(f"{where}: the NumPy run returned a CuPy array")
    got = host(got)
    a, b = np.asarray(ref), np.asarray(got)
    assert a.shape == b.shape, f"{where}: shape {b.shape} != {a.shape}"
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        assert a.dtype == b.dtype, f"{where}: dtype {b.dtype} != {a.dtype}"
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, equal_nan=True, err_msg=where)
    else:
        np.testing.assert_array_equal(b, a, err_msg=where)


def _placement(var, where):
    """Image-shaped data (variables) of a device run stay on the device (the device policy);
    coordinates may be on either side (map geometry is computed on the host)."""
    from solarprep.backend import is_cupy

    if var.dims[-2:] == ("y", "x") and var.dtype.kind in "fcbiu" and var.size > 1:
        assert is_cupy(var.data), f"{where}: image data came back to the host"


def _attrs(ref, got, where):
    skip = ("history",)
    a = {k: v for k, v in ref.items() if k not in skip}
    b = {k: v for k, v in got.items() if k not in skip}
    assert a.keys() == b.keys(), f"{where}: attributes {sorted(b)} != {sorted(a)}"
    for k in a:
        if isinstance(a[k], (float, np.floating)):
            assert np.isclose(a[k], b[k], rtol=1e-5, equal_nan=True), f"{where}.attrs[{k!r}]"
        else:
            assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), f"{where}.attrs[{k!r}]"


def numpy_cupy_allclose(rtol=1e-5, atol=0.0):
    """Decorator: run the body with ``xp=numpy`` and ``xp=cupy``, compare the results on the host.

    The body takes an ``xp`` argument (besides its fixtures), puts its inputs on
    ``xp``'s device with :func:`on` and returns what to compare (arrays, Datasets,
    DataArrays, dicts, tuples). Image-shaped variables of the CuPy run must be CuPy
    arrays. The test is marked ``gpu``.
    """
    def decorator(body):
        signature = inspect.signature(body)
        params = [p for name, p in signature.parameters.items() if name != "xp"]

        @functools.wraps(body)
        def test(*args, **kwargs):
            import cupy

            ref = body(*args, xp=np, **kwargs)
            got = body(*args, xp=cupy, **kwargs)
            _compare(ref, got, rtol, atol)

        test.__signature__ = signature.replace(parameters=params)
        del test.__wrapped__
        return pytest.mark.gpu(test)

    return decorator
