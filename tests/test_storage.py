"""solarprep.io.storage: exact round trips through netCDF-4 and zarr, atomic writes."""
import os

import numpy as np
import pytest
import sunpy.map
import xarray as xr
from astropy.time import TimeDelta
from sunpy.time import parse_time

from solarprep import backend
from solarprep.dataset import DatasetConventionError
from solarprep.io import atomic
from solarprep.io.loader import load
from solarprep.io.storage import open_dataset, save

SUFFIXES = [".nc", ".zarr"]


def _shifted(smap, seconds, factor):
    meta = smap.meta.copy()
    for key in ("date-obs", "t_obs"):
        meta[key] = (parse_time(meta[key]) + TimeDelta(seconds, format="sec")).utc.isot
    return sunpy.map.Map(smap.data * factor, meta)


@pytest.fixture(scope="module")
def stack(real_fits):
    """Three AIA frames with NaN pixels, nanosecond times and NaN/None/bool attributes."""
    aia = sunpy.map.Map(real_fits["aia171_full"])
    ds = load([_shifted(aia, 60 * k, 1 + k) for k in range(3)])
    ds["euv171"].values[1, :5, :7] = np.nan
    ds = ds.assign_coords(time=ds.time + np.timedelta64(123_456_789, "ns"))
    ds.attrs["wavelength"] = float("nan")
    return ds


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_is_identical(tmp_path, stack, suffix):
    path = save(stack, tmp_path / f"stack{suffix}")
    assert path == tmp_path / f"stack{suffix}"
    back = open_dataset(path)
    xr.testing.assert_identical(back, stack)
    assert back.time.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(back.time.values.astype(np.int64),
                                  stack.time.values.astype(np.int64))
    np.testing.assert_array_equal(back.date_obs.values, stack.date_obs.values)
    assert back.euv171.dtype == np.float32
    np.testing.assert_array_equal(back.euv171.values.view(np.uint32),
                                  stack.euv171.values.view(np.uint32))
    assert np.isnan(back.attrs["wavelength"])
    assert _listing(tmp_path) == [f"stack{suffix}"]


@pytest.mark.parametrize("key", ["hmi_blos", "euvi_b"])
@pytest.mark.parametrize("suffix", [".nc", ".h5", ".nc4", ".zarr"])
def test_real_files_round_trip(tmp_path, real_fits, key, suffix):
    ds = load(real_fits[key])
    xr.testing.assert_identical(open_dataset(save(ds, tmp_path / f"x{suffix}")), ds)


def test_one_frame_per_chunk(tmp_path, stack):
    nc = open_dataset(save(stack, tmp_path / "s.nc"))
    assert nc.euv171.encoding["chunksizes"] == (1, 128, 128)
    zr = open_dataset(save(stack, tmp_path / "s.zarr"))
    assert zr.euv171.encoding["chunks"] == (1, 128, 128)


def test_attributes_are_sanitised(tmp_path, stack):
    ds = stack.copy()
    ds.attrs.update(flag=True, nothing=None, info={"a": 1})
    ds.euv171.attrs["calibrated"] = False
    for suffix in SUFFIXES:
        back = open_dataset(save(ds, tmp_path / f"a{suffix}"))
        assert back.attrs["flag"] == 1 and back.attrs["nothing"] == ""
        assert back.attrs["info"] == '{"a": 1}'
        assert back.euv171.attrs["calibrated"] == 0
    assert ds.attrs["flag"] is True  # the caller's Dataset is not modified


def test_open_dataset_is_eager_and_closes_the_file(tmp_path, stack):
    import h5py

    path = save(stack, tmp_path / "s.nc")
    back = open_dataset(path)
    with h5py.File(path, "w"):  # fails if the file were still open
        pass
    path.unlink()
    assert np.nansum(back.euv171.values) == np.nansum(stack.euv171.values)
    store = save(stack, tmp_path / "s.zarr")
    back = open_dataset(store)
    import shutil

    shutil.rmtree(store)
    assert np.nansum(back.euv171.values) == np.nansum(stack.euv171.values)


def test_unknown_suffix_and_missing_file(tmp_path, stack):
    with pytest.raises(ValueError, match=r"unknown file type '\.fits'.*\.nc.*\.zarr"):
        save(stack, tmp_path / "out.fits")
    with pytest.raises(ValueError, match="unknown file type"):
        open_dataset(tmp_path / "out.txt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_dataset(tmp_path / "missing.nc")
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        save(stack, tmp_path / "no" / "where.nc")


def test_invalid_dataset_is_refused(tmp_path, stack):
    bad = stack.drop_vars("crota2")
    with pytest.raises(DatasetConventionError, match="'crota2' is missing"):
        save(bad, tmp_path / "bad.nc")
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_overwrite(tmp_path, stack, suffix):
    path = save(stack, tmp_path / f"s{suffix}")
    second = stack.isel(time=[0])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save(second, path, overwrite=False)
    xr.testing.assert_identical(open_dataset(path), stack)
    save(second, path)
    xr.testing.assert_identical(open_dataset(path), second)
    assert _listing(tmp_path) == [f"s{suffix}"]


def _failing_writer(real):
    """A writer that writes part of its output, then fails."""

    def write(ds, target, *args, **kwargs):
        real(ds.isel(time=[0]), target, *args, **kwargs)
        raise RuntimeError("disk full (simulated)")

    return write


@pytest.mark.parametrize("suffix, method", [(".nc", "to_netcdf"), (".zarr", "to_zarr")])
def test_failed_write_leaves_old_file_intact(tmp_path, stack, monkeypatch, suffix, method):
    path = save(stack, tmp_path / f"s{suffix}")
    monkeypatch.setattr(xr.Dataset, method, _failing_writer(getattr(xr.Dataset, method)))
    with pytest.raises(RuntimeError, match="disk full"):
        save(stack.isel(time=[1, 2]), path)
    monkeypatch.undo()
    assert _listing(tmp_path) == [f"s{suffix}"]
    xr.testing.assert_identical(open_dataset(path), stack)


@pytest.mark.parametrize("suffix, method", [(".nc", "to_netcdf"), (".zarr", "to_zarr")])
def test_failed_first_write_leaves_nothing(tmp_path, stack, monkeypatch, suffix, method):
    monkeypatch.setattr(xr.Dataset, method, _failing_writer(getattr(xr.Dataset, method)))
    with pytest.raises(RuntimeError, match="disk full"):
        save(stack, tmp_path / f"s{suffix}")
    assert _listing(tmp_path) == []


def test_failed_rename_restores_old_zarr(tmp_path, stack, monkeypatch):
    """The fallback (no atomic exchange): old store aside, new one in; a failed rename undoes it."""
    path = save(stack, tmp_path / "s.zarr")
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new store moving into place
            raise OSError("rename failed (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OSError, match="rename failed"):
        save(stack.isel(time=[0]), path)
    monkeypatch.undo()
    assert _listing(tmp_path) == ["s.zarr"]
    xr.testing.assert_identical(open_dataset(path), stack)


def test_numpy_data_are_not_moved(tmp_path, stack, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("to_device called for NumPy data")

    monkeypatch.setattr(backend, "to_device", fail)
    save(stack, tmp_path / "s.nc")


@pytest.mark.gpu
def test_cupy_dataset_is_saved_from_host(tmp_path, stack):
    gpu = backend.to_device(stack, "cuda")
    assert backend.is_cupy(gpu.euv171.data)
    xr.testing.assert_identical(open_dataset(save(gpu, tmp_path / "g.nc")), stack)
    xr.testing.assert_identical(open_dataset(save(gpu, tmp_path / "g.zarr")), stack)
