"""The CuPy stand-in behaves like CuPy where the library could go wrong (tests/cupy_standin)."""
import numpy as np
import pytest
import xarray as xr
from numba import cuda

from .devices import is_standin, transfers

cupy = pytest.importorskip("cupy")
pytestmark = pytest.mark.skipif(not is_standin(cupy), reason="checks the stand-in, not real CuPy")


def test_implicit_conversions_raise_as_in_cupy():
    a = cupy.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Implicit conversion"):
        _ = xr.DataArray(a, dims=("y", "x")).values
    with pytest.raises(TypeError, match="Unsupported type"):
        a + np.ones(3)
    with pytest.raises(ValueError, match="Unsupported dtype datetime64"):
        cupy.asarray(np.array(["2024-01-01"], "datetime64[ns]"))
    assert isinstance(np.where(a > 2, a, 0), cupy.ndarray)  # NumPy functions dispatch to CuPy
    assert isinstance(a.sum(), cupy.ndarray) and a.sum().ndim == 0


def test_transfers_are_counted():
    host = np.ones((4, 4), np.float32)
    with transfers(cupy) as t:
        a = cupy.asarray(host)
        b = (a * 2).get()
        cupy.asnumpy(a)
        float(a[0, 0])
        a[a > 0]
        a[0] = np.zeros(4, np.float32)
    assert t.sizes_h2d == [64, 16] and t.sizes_d2h == [64, 64] and t.implicit == 2
    assert b.sum() == 32


@cuda.jit
def twice(x, out):
    j, i = cuda.grid(2)
    if i < x.shape[0] and j < x.shape[1]:
        out[i, j] = 2 * x[i, j]


def test_numba_kernels_write_into_it_and_fft_keeps_single_precision():
    x = cupy.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    out = cupy.zeros_like(x)
    with transfers(cupy) as t:
        twice[(1, 1), (4, 3)](x, out)
        spec = cupy.fft.rfft(x, axis=-1)
    assert t.h2d == t.d2h == t.kernel_host_args == 0
    np.testing.assert_array_equal(out.get(), 2 * np.arange(12).reshape(3, 4))
    assert isinstance(spec, cupy.ndarray) and spec.dtype == np.complex64
    with transfers(cupy) as t:
        twice[(1, 1), (4, 3)](np.ones((3, 4), np.float32), out)  # numba would copy it both ways
    assert t.kernel_host_args == 1
