"""Doppler differencing (gap-aware) and removal of the static velocity field."""
import astropy.units as u
import numpy as np
import pytest
import xarray as xr

from solarprep.errors import QuantityError, SolarDataError
from solarprep.helioseismology.doppler import (
    CadenceError,
    doppler_difference,
    frame_cadence,
    regular_grid,
    remove_static_velocity,
)


def series(n=10, dt=45.0, drop=()):
    t = np.datetime64("2024-01-01T00:00", "ns") + (np.arange(n) * dt * 1e9).astype("timedelta64[ns]")
    v = np.arange(n, dtype=np.float32)[:, None, None] ** 2 * np.ones((1, 3, 4), np.float32)
    ds = xr.Dataset({"vlos": (("time", "y", "x"), v, {"units": "m / s", "long_name": "v"})},
                    coords={"time": t, "crpix1": ("time", np.arange(n, dtype=np.float64))})
    keep = [i for i in range(n) if i not in drop]
    return ds.isel(time=keep)


def test_difference_values_and_times():
    ds = series()
    d = doppler_difference(ds)
    assert d["dvlos"].shape == (9, 3, 4)
    np.testing.assert_array_equal(d["dvlos"].values[:, 0, 0], np.diff(np.arange(10) ** 2))
    np.testing.assert_array_equal(d.time.values, ds.time.values[:-1] + np.timedelta64(22500, "ms"))
    assert d["dvlos"].attrs["differenced"] == 1 and d["dvlos"].attrs["cadence_s"] == 45.0
    np.testing.assert_array_equal(d.crpix1.values, np.arange(9))  # geometry of the first frame
    assert "doppler_difference" in d.attrs["history"]


def test_difference_never_crosses_a_gap():
    ds = series(drop=(4,))               # frames 3 and 5 are 90 s apart
    d = doppler_difference(ds)
    assert d.sizes["time"] == 7          # 8 frames, 7 pairs, 1 across the gap dropped
    across = ds.time.values[3] + (ds.time.values[4] - ds.time.values[3]) / 2
    assert across not in d.time.values
    np.testing.assert_array_equal(d["dvlos"].values[:, 0, 0],
                                  [1, 3, 5, 11, 13, 15, 17])   # 5²−4² and 4²−3² absent


def test_cadence_errors():
    with pytest.raises(CadenceError, match="at least two frames"):
        frame_cadence(np.array([0.0]))
    with pytest.raises(CadenceError, match="increase strictly"):
        frame_cadence(np.array([0.0, 45.0, 45.0]))
    with pytest.raises(CadenceError, match="irregular cadence"):
        regular_grid(np.array([0.0, 45.0, 90.0, 150.0, 180.0]))
    cad, slots, frame_at = regular_grid(np.array([0.0, 45.0, 135.0]))
    assert cad == 45.0 and slots.tolist() == [0, 1, 3] and frame_at.tolist() == [0, 1, -1, 2]
    with pytest.raises(CadenceError, match="at least two frames"):
        doppler_difference(series().isel(time=[0]))


def test_cadence_and_tolerance_as_durations():
    ds = series()
    ds = ds.assign_coords(time=ds.time.values + np.array([0, 3, 0, 0, -3, 0, 0, 0, 0, 0],
                                                         "timedelta64[s]"))   # ±3 s jitter
    ref = doppler_difference(ds, cadence=45.0, tolerance=0.1)
    for cadence, tolerance in ((45 * u.s, 4 * u.s), ("45s", "4s"), (0.75 * u.min, 0.1 * u.one)):
        xr.testing.assert_identical(doppler_difference(ds, cadence=cadence, tolerance=tolerance)
                                    .drop_attrs(), ref.drop_attrs())
    with pytest.raises(CadenceError, match="irregular cadence"):
        doppler_difference(ds, cadence="45s", tolerance=2 * u.s)     # 3 s off > 2 s
    with pytest.raises(QuantityError, match="tolerance=3.0 m: m is not a unit of time"):
        regular_grid(ds.time.values, tolerance=3 * u.m)
    with pytest.raises(QuantityError, match="cadence='fast' is not a duration"):
        frame_cadence(ds.time.values, "fast")
    assert frame_cadence(ds.time.values, cadence=1 * u.min)[0] == 60.0


def test_remove_static_velocity_polynomial():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:20, 0:30]
    static = 1500 + 30 * x - 12 * y + 0.4 * x * y
    osc = rng.standard_normal((5, 20, 30)) * 5
    ds = series(5)
    ds["vlos"] = (("time", "y", "x"), (static + osc).astype(np.float32),
                  {"units": "m / s", "long_name": "v"})
    out = remove_static_velocity(ds, model="polynomial", degree=2)
    resid = out["vlos"].values
    assert np.abs(resid.mean()) < 1 and 4 < resid.std() < 6   # oscillations kept
    assert out["static_coefficients"].shape[0] == 5


@pytest.mark.filterwarnings("ignore")
def test_remove_static_velocity_physical_on_synthetic_sun():
    """Without p modes or noise the synthetic Dopplergram is exactly the static model."""
    from solarprep import load
    from solarprep.synthetic import DopplerParams, SyntheticSun

    sun = SyntheticSun(seed=2, features=[], doppler=DopplerParams(pmode_rms=0.0, noise=0.0))
    maps = list(sun.dopplergram_cube("2024-03-01T00:00", 2, shape=48))
    ds = load(maps, progress=False)
    v = ds["vlos"].values
    out = remove_static_velocity(ds)
    resid = out["vlos"].values
    on = np.isfinite(resid)
    assert on.sum() > 0.4 * resid.size
    assert np.nanstd(v) > 500                      # rotation etc: ~km/s
    assert np.abs(resid[on]).max() < 2.0           # removed to < 2 m/s
    with pytest.raises(ValueError, match="needs the per-frame geometry"):
        remove_static_velocity(series(3), model="physical")


def test_remove_static_velocity_matches_numpy_lstsq():
    """The device-friendly normal equations give NumPy's least-squares fit (NaNs left out)."""
    rng = np.random.default_rng(5)
    ny, nx = 20, 30
    y, x = np.meshgrid(np.linspace(-1, 1, ny), np.linspace(-1, 1, nx), indexing="ij")
    v = (1500 + 300 * x - 120 * y + 40 * x * y + 25 * x**2)[None] + rng.standard_normal(
        (3, ny, nx)) * 20
    v[1, 3:7, 4:9] = np.nan
    ds = series(3)
    ds["vlos"] = (("time", "y", "x"), v.astype(np.float32), {"units": "m / s", "long_name": "v"})
    out = remove_static_velocity(ds, model="polynomial", degree=2)
    basis = np.stack([x**i * y**j for i in range(3) for j in range(3 - i)])
    for k in range(3):
        frame = ds["vlos"].values[k].astype(np.float64)
        ok = np.isfinite(frame)
        c = np.linalg.lstsq(basis[:, ok].T, frame[ok], rcond=None)[0]
        np.testing.assert_allclose(out["static_coefficients"].values[k], c, rtol=1e-9, atol=1e-9)
        want = np.where(ok, frame - np.tensordot(c, basis, axes=1), np.nan)
        np.testing.assert_allclose(out["vlos"].values[k], want, rtol=1e-5, atol=1e-3)
    ds["vlos"][2, :, 1:] = np.nan  # frame 2 keeps 5 pixels of column 0: fewer than 6 terms
    ds["vlos"][2, 5:, 0] = np.nan
    with pytest.raises(SolarDataError, match="frame 2: only 5 usable pixels for a 6-term fit"):
        remove_static_velocity(ds, model="polynomial", degree=2)
