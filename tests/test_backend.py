"""Device selection and zero-copy hand-over to torch."""
import numpy as np
import pytest
import xarray as xr

from solarprep import backend


def test_resolve_device():
    assert backend.resolve_device("cpu") == "cpu"
    assert backend.resolve_device("auto") == ("cuda" if backend.gpu_available() else "cpu")
    with pytest.raises(ValueError, match="device='gpu' is not one of"):
        backend.resolve_device("gpu")


def test_cuda_without_gpu_is_a_clear_error():
    if backend.gpu_available():
        pytest.skip("a GPU is usable here")
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        backend.resolve_device("cuda")


def test_to_torch_shares_memory():
    torch = pytest.importorskip("torch")
    da = xr.DataArray(np.arange(12, dtype=np.float32).reshape(3, 4), dims=("y", "x"))
    t = backend.to_torch(da)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    t[0, 0] = 42.0
    assert da.values[0, 0] == 42.0  # same memory: no copy was made


def test_to_device_cpu_roundtrip():
    ds = xr.Dataset({"a": (("y", "x"), np.ones((2, 3), np.float32))},
                    coords={"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0]})
    out = backend.to_device(ds, "cpu")
    xr.testing.assert_identical(out, ds)


@pytest.mark.gpu
def test_to_device_cuda_and_torch():
    cupy = pytest.importorskip("cupy")
    pytest.importorskip("torch")
    ds = xr.Dataset({"a": (("y", "x"), np.ones((2, 3), np.float32))},
                    coords={"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0]})
    gpu = backend.to_device(ds, "cuda")
    assert isinstance(gpu["a"].data, cupy.ndarray)
    assert isinstance(gpu["x"].values, np.ndarray)
    t = backend.to_torch(gpu["a"])
    assert t.is_cuda and t.data_ptr() == gpu["a"].data.data.ptr
    back = backend.to_device(gpu, "cpu")
    xr.testing.assert_identical(back, ds)
