"""Device selection and zero-copy hand-over to torch."""
import numpy as np
import pytest
import xarray as xr

from solarprep import backend
from solarprep.errors import DeviceError, GPUUnavailableError, SolarprepError

from .devices import is_standin


def test_resolve_device(monkeypatch):
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    assert backend.resolve_device("cpu") == "cpu"
    # "auto" never moves host data to a GPU, whether one is usable or not
    assert backend.resolve_device("auto") == "cpu"
    assert backend.resolve_device("auto", np.ones(3)) == "cpu"
    with pytest.raises(ValueError, match="device='gpu' is not one of"):
        backend.resolve_device("gpu")
    with pytest.raises(SolarprepError):
        backend.resolve_device("gpu")


def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(backend, "gpu_available", lambda: False)
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        backend.resolve_device("cuda")
    with pytest.raises(GPUUnavailableError, match="gpu-cu12"):
        backend.resolve_device("cuda")
    monkeypatch.setenv(backend.ENV_VAR, "cuda")
    with pytest.raises(GPUUnavailableError, match="SOLARPREP_DEVICE"):
        backend.resolve_device("auto")


def test_environment_default(monkeypatch):
    monkeypatch.setattr(backend, "gpu_available", lambda: True)
    for value, want in (("", "cpu"), ("auto", "cpu"), ("cpu", "cpu"), (" CUDA ", "cuda")):
        monkeypatch.setenv(backend.ENV_VAR, value)
        assert backend.resolve_device("auto") == want, value
        assert backend.resolve_device("cpu") == "cpu"
    monkeypatch.setenv(backend.ENV_VAR, "gpu")
    with pytest.raises(DeviceError, match="SOLARPREP_DEVICE='gpu' is not one of"):
        backend.resolve_device("auto")


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
    assert t.data_ptr() == gpu["a"].data.data.ptr  # shared memory, no copy
    assert t.is_cuda != is_standin(cupy)
    back = backend.to_device(gpu, "cpu")
    xr.testing.assert_identical(back, ds)


@pytest.mark.gpu
def test_to_device_moves_data_variables_only():
    """Times, per-frame geometry and labels stay on the host; everything comes back."""
    import cupy

    t = np.array(["2011-02-15T00:00", "2011-02-15T00:01"], "datetime64[ns]")
    ds = xr.Dataset({"a": (("time", "y", "x"), np.ones((2, 2, 3), np.float32)),
                     "label": ("time", np.array(["a", "b"])),
                     "date_obs": ("time", t)},
                    coords={"time": t, "x": [0.0, 1.0, 2.0], "y": [0.0, 1.0],
                            "dsun_obs": ("time", [1.5e11, 1.5e11]),
                            "mu": (("y", "x"), np.full((2, 3), 0.5, np.float32))})
    gpu = backend.to_device(ds, "cuda")
    assert isinstance(gpu["a"].data, cupy.ndarray)
    for name in ("label", "date_obs", "dsun_obs", "mu", "time"):
        assert isinstance(gpu[name].data, np.ndarray), name
    assert backend.on_device(gpu) and not backend.on_device(ds)
    gpu = gpu.assign_coords(mu=(("y", "x"), cupy.asarray(ds.mu.values)))  # as computed on a GPU
    xr.testing.assert_identical(backend.to_device(gpu, "cpu"), ds)
    da = backend.to_device(gpu["a"], "cpu")
    assert isinstance(da.data, np.ndarray) and isinstance(da.mu.data, np.ndarray)


def test_load_stays_on_the_host(real_fits, monkeypatch):
    """A script written for the CPU never finds its data on a GPU (device="auto")."""
    import solarprep

    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    ds = solarprep.load(real_fits["aia171_full"])
    assert not backend.on_device(ds)
    assert backend.resolve_device("auto", ds) == "cpu"


@pytest.mark.gpu
def test_load_to_the_device(real_fits, monkeypatch):
    import solarprep

    cupy = pytest.importorskip("cupy")
    for how in ({"device": "cuda"}, {}):
        if not how:
            monkeypatch.setenv(backend.ENV_VAR, "cuda")
        ds = solarprep.load(real_fits["aia171_full"], **how)
        assert isinstance(ds["euv171"].data, cupy.ndarray)
        assert ds["date_obs"].dtype.kind == "M" and isinstance(ds["date_obs"].data, np.ndarray)
        assert backend.resolve_device("auto", ds) == "cuda"
