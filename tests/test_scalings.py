"""solarprep.datasets.scalings: hand values, round trips, units checks, xarray metadata."""
import math

import numpy as np
import pytest
import xarray as xr

from solarprep.datasets import scalings as S


def _da(data, units, name="data"):
    data = np.asarray(data, np.float32)
    dims = ("time", "y", "x")[-data.ndim:]
    coords = {"time": np.array(["2011-02-15T00:00"] * data.shape[0], "datetime64[ns]")} \
        if data.ndim == 3 else {}
    return xr.DataArray(data, dims=dims, coords=coords, name=name,
                        attrs={"units": units, "long_name": f"test {name}"})


def test_aia_log2_by_hand_and_round_trip():
    x = np.array([-5.0, 0.0, 1.0, 127.0, 2.0 ** 14 - 1, 1e6])
    y = S.aia_log2(x)
    # log2(x + 1) = 0, 0, 1, 7, 14, 14 (clipped) → 2·L/14 − 1
    np.testing.assert_allclose(y, [-1, -1, 2 / 14 - 1, 0, 1, 1], atol=1e-6)
    inside = np.array([0.0, 1.0, 10.0, 127.0, 3000.0, 2.0 ** 14 - 1])
    np.testing.assert_allclose(S.aia_log2_inverse(S.aia_log2(inside)), inside, rtol=2e-6,
                               atol=1e-4)


def test_hmi_linear_by_hand_and_round_trip():
    b = np.array([-5000.0, -3000.0, -10.0, 0.0, 1500.0, 3000.0])
    np.testing.assert_allclose(S.hmi_linear(b), [-1, -1, -10 / 3000, 0, 0.5, 1], rtol=1e-6)
    np.testing.assert_allclose(S.hmi_linear(b, limit=100.0), [-1, -1, -0.1, 0, 1, 1])
    inside = np.array([-2999.0, -1.5, 0.0, 42.0, 2999.0])
    np.testing.assert_allclose(S.hmi_linear_inverse(S.hmi_linear(inside)), inside, rtol=1e-6)


def test_euv_median_log10_by_hand_nan_path_and_round_trip():
    x = np.array([[np.nan, 0.0, 5.0], [10.0, 20.0, 1e9]])      # median of 0, 5, 10, 20, 1e9 = 10
    med = S.disk_median(x[None])[0]
    assert med == pytest.approx(10.0)
    y = S.euv_median_log10(x, med)
    # r = 100·x/10; NaN → −1 (r = 1), r = 0 → −1, r = 50 → 2·log10(50)/log10(200) − 1, r ≥ 200 → +1
    np.testing.assert_allclose(y[0, 2], 2 * math.log10(50) / math.log10(200) - 1, rtol=1e-6)
    assert y[1, 0] == pytest.approx(2 * 2 / math.log10(200) - 1)     # r = 100
    assert y[0, 0] == -1 and y[0, 1] == -1 and y[1, 2] == 1
    assert np.isfinite(y).all()            # the seed's scale-then-log order gave NaN here
    inside = np.array([[2.0, 5.0, 11.0], [15.0, 20.0, 29.0]])      # r within 1…200
    back = S.euv_median_log10_inverse(S.euv_median_log10(inside, 15.0), 15.0)
    np.testing.assert_allclose(back, inside, rtol=1e-5)
    with pytest.raises(S.ScalingError, match="median must be positive"):
        S.euv_median_log10(inside, 0.0)


def test_scale_unscale_dataarray_keeps_units():
    rng = np.random.default_rng(0)
    da = _da(rng.uniform(0, 5000, (2, 4, 5)), "DN / s", "euv171")
    scaled = S.scale(da, "aia_log2")
    assert scaled.attrs["units"] == "" and scaled.attrs["scaling"] == "aia_log2"
    assert scaled.attrs["physical_units"] == "DN / s"
    assert float(scaled.min()) >= -1 and float(scaled.max()) <= 1
    back = S.unscale(scaled)
    assert back.attrs["units"] == "DN / s" and back.attrs["long_name"] == "test euv171"
    np.testing.assert_allclose(back.values, da.values, rtol=1e-5, atol=1e-3)


def test_scale_converts_field_units_and_rejects_wrong_units():
    da = _da([[[0.1, -0.2]]], "T", "blos")           # tesla → 1000 G, −2000 G
    scaled = S.scale(da, "hmi_3000")
    np.testing.assert_allclose(scaled.values, [[[1000 / 3000, -2000 / 3000]]], rtol=1e-6)
    back = S.unscale(scaled)
    assert back.attrs["units"] == "G"
    np.testing.assert_allclose(back.values, [[[1000.0, -2000.0]]], rtol=1e-6)
    with pytest.raises(S.ScalingError, match="convertible to G"):
        S.scale(_da([[[1.0]]], "DN"), "hmi_100")
    with pytest.raises(S.ScalingError, match="for AIA intensities in DN"):
        S.scale(_da([[[1.0]]], "G"), "aia_log2")
    no_units = xr.DataArray(np.ones((1, 1, 1), np.float32), dims=("time", "y", "x"), name="d")
    with pytest.raises(S.ScalingError, match="has no 'units' attribute"):
        S.scale(no_units, "aia_log2")
    with pytest.raises(S.ScalingError, match="unknown scaling 'aia'"):
        S.scale(da, "aia")
    with pytest.raises(S.ScalingError, match="already scaled"):
        S.scale(scaled, "hmi_100")


def test_scale_dataset_euv_median_per_frame_with_disk_mask():
    rng = np.random.default_rng(1)
    data = rng.uniform(50, 150, (3, 6, 6))
    data[1] *= 10                                           # frames with different medians
    ds = xr.Dataset({"euv304": _da(data, "DN", "euv304")}, attrs={"history": "x"})
    on = np.zeros((6, 6), bool)
    on[1:5, 1:5] = True
    ds = ds.assign_coords(on_disk=(("y", "x"), on))
    scaled = S.scale(ds, "euv_median_log10")
    med = scaled["euv304_scaling_median"].values
    np.testing.assert_allclose(med, np.median(data[:, 1:5, 1:5].reshape(3, -1), axis=1))
    assert "scale('euv304'" in scaled.attrs["history"]
    back = S.unscale(scaled)
    assert "euv304_scaling_median" not in back.coords
    np.testing.assert_allclose(back["euv304"].values, data, rtol=1e-5)
    with pytest.raises(S.ScalingError, match="variable 'nope' is not in the Dataset"):
        S.scale(ds, "aia_log2", variable="nope")


def test_euv_median_over_the_disk_of_a_solar_dataset():
    import solarprep
    from solarprep.datasets import pairs

    _, euv = pairs.synthetic_pair_sources(["2024-05-01T00:00"], b="euv304", shape=64, noise=False)
    scaled = S.scale(euv, "euv_median_log10")
    on = solarprep.disk_coordinates(euv)["on_disk"].values.reshape(64, 64)
    expected = np.median(euv["euv304"].values[0][on])
    assert float(scaled["euv304_scaling_median"][0]) == pytest.approx(expected, rel=1e-6)
    x = euv["euv304"].values[0]
    inside = on & (100 * x / expected > 1.001) & (100 * x / expected < 199.9)   # not clipped
    assert inside.sum() > 0.9 * on.sum()
    np.testing.assert_allclose(S.unscale(scaled)["euv304"].values[0][inside], x[inside],
                               rtol=1e-4)
