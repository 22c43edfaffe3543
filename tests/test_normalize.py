"""Split-aware normalisation: statistics from the training split only."""
import numpy as np
import pytest
import xarray as xr

from solarprep.datasets.normalize import NormalizationError, NormStats, apply, fit_minmax, fit_zscore, invert


def _light_curve():
    rng = np.random.default_rng(0)
    n = 40
    split = np.array(["train"] * 24 + ["val"] * 8 + ["test"] * 8)
    flux = np.concatenate([rng.normal(10, 2, 24), rng.normal(50, 1, 16)]).astype(np.float32)
    power = rng.normal(0, 1, (n, 3)).astype(np.float32) * np.array([1, 10, 100], np.float32)
    return xr.Dataset({"flux": (("time",), flux, {"units": "W / m2", "long_name": "flux"}),
                       "power": (("time", "channel"), power, {"units": "", "long_name": "p"})},
                      coords={"time": np.arange(n), "split": ("time", split),
                              "channel": ["a", "b", "c"]})


def test_zscore_uses_training_split_only_and_inverts():
    ds = _light_curve()
    stats = fit_zscore(ds)  # the 'split' coordinate, "train"
    train = ds["flux"].values[:24].astype(np.float64)
    assert stats.center["flux"] == pytest.approx(train.mean())
    assert stats.scale["flux"] == pytest.approx(train.std())
    assert stats.n_samples == 24
    # the leaky global statistics would differ a lot (validation/test come from another regime)
    assert abs(stats.center["flux"] - ds["flux"].values.mean()) > 5
    z = apply(ds, stats)
    assert abs(float(z["flux"][:24].mean())) < 1e-5 and float(z["flux"][24:].mean()) > 10
    assert z["flux"].attrs["units"] == "" and z["flux"].dtype == np.float32
    back = invert(z, stats)
    np.testing.assert_allclose(back["flux"].values, ds["flux"].values, rtol=1e-5)
    assert back["flux"].attrs["units"] == "W / m2"
    again = NormStats.from_dict(stats.to_json())
    assert again == stats


def test_per_channel_minmax_and_arrays():
    ds = _light_curve()
    mask = ds["split"].values == "train"
    stats = fit_minmax(ds, mask, keep=("channel",))
    z = apply(ds, stats)["power"].values[mask]
    np.testing.assert_allclose(z.min(0), 0, atol=1e-6)
    np.testing.assert_allclose(z.max(0), 1, atol=1e-6)
    arr = ds["power"].values
    s2 = fit_zscore(arr, mask, keep=(1,))
    za = apply(arr, s2)
    np.testing.assert_allclose(za[mask].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(invert(za, s2), arr, rtol=1e-4, atol=1e-3)
    torch = pytest.importorskip("torch")
    zt = apply(torch.from_numpy(arr), s2)
    np.testing.assert_allclose(zt.numpy(), za, rtol=1e-6)


def test_bad_splits():
    ds = _light_curve()
    with pytest.raises(NormalizationError, match="selects no sample"):
        fit_zscore(ds, split="holdout")
    with pytest.raises(NormalizationError, match="no split given"):
        fit_zscore(ds.drop_vars("split"))
    with pytest.raises(NormalizationError, match="expected \\(40,\\)"):
        fit_zscore(ds, np.ones(3, bool))
    const = ds.assign(flux=ds["flux"] * 0 + 1)
    with pytest.raises(NormalizationError, match="constant on the split"):
        fit_zscore(const)
    assert fit_zscore(ds, "all").n_samples == 40
