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


@pytest.fixture(params=["numpy", "cupy"])
def xp(request):
    """The array module under test: NumPy, and CuPy (or its stand-in) when it imports."""
    if request.param == "cupy":
        return pytest.importorskip("cupy")
    return np


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


@pytest.mark.parametrize("method", ["zscore", "minmax", "peak", "percentile"])
def test_every_method_on_the_array_module_of_the_input(xp, method):
    from solarprep.datasets import normalize

    rng = np.random.default_rng(1)
    host = (rng.normal(3, 2, (30, 4)) * np.array([1, 5, 10, 50])).astype(np.float32)
    host[3, 1] = np.nan
    mask = np.arange(30) < 20
    ref = normalize.fit(host, method, mask, keep=(1,))
    stats = normalize.fit(xp.asarray(host), method, xp.asarray(mask), keep=(1,))
    np.testing.assert_allclose(stats.scale_of(), ref.scale_of(), rtol=1e-6)
    np.testing.assert_allclose(stats.center_of(), ref.center_of(), rtol=1e-6, atol=1e-9)
    train = host[mask].astype(np.float64)
    expected = {"zscore": (np.nanmean(train, 0), np.nanstd(train, 0)),
                "minmax": (np.nanmin(train, 0), np.nanmax(train, 0) - np.nanmin(train, 0)),
                "peak": (np.zeros(4), np.nanmax(train, 0)),
                "percentile": (np.nanpercentile(train, 0.5, 0),
                               np.nanpercentile(train, 99.9, 0) - np.nanpercentile(train, 0.5, 0))}
    np.testing.assert_allclose(stats.center_of(), expected[method][0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(stats.scale_of(), expected[method][1], rtol=1e-6)
    z = apply(xp.asarray(host), stats)
    assert type(z) is type(xp.asarray(host))            # stays on its device, no host round trip
    assert z.dtype == np.float32
    np.testing.assert_allclose(_host(z), (host - expected[method][0]) / expected[method][1],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_host(invert(z, stats)), host, rtol=1e-5, atol=1e-4)


def test_xarray_on_the_device_and_dims_in_any_order(xp):
    ds = _light_curve()
    stats = fit_minmax(ds, keep=("channel",))
    moved = ds.copy()
    moved["power"] = moved["power"].copy(data=xp.asarray(ds["power"].values))
    swapped = moved.transpose("channel", "time")      # statistics follow the dims by name
    again = fit_minmax(swapped, keep=("channel",))
    np.testing.assert_allclose(again.scale_of("power"), stats.scale_of("power"), rtol=1e-6)
    z = apply(swapped, stats)["power"]
    assert type(z.data) is type(xp.asarray(ds["power"].values)) and z.dims == ("channel", "time")
    ref = apply(ds, stats)["power"].values
    np.testing.assert_allclose(_host(z.data).T, ref, rtol=1e-6)
    assert z.attrs["normalization"] == "minmax"
    back = invert(apply(swapped, stats), stats)["power"]
    np.testing.assert_allclose(_host(back.data).T, ds["power"].values, rtol=1e-5, atol=1e-5)


def test_builders_use_this_module():
    """The SOLARED builder, the video windows and the flare images all normalise here."""
    import inspect

    from solarprep.datasets import solared

    assert "normalize" in inspect.getsource(solared._fit_stats)
    torch = pytest.importorskip("torch")  # noqa: F841
    from solarmodels.datasets import flares, video

    frames = np.random.default_rng(0).uniform(1, 5, (10, 4, 4)).astype(np.float32)
    lc = np.linspace(1.0, 2.0, 10)
    stats = video.VideoWindows.fit_stats(frames, lc, (0, 6))
    assert stats["i_max"] == pytest.approx(frames[:6].max())          # training frames only
    assert stats["lc_mean"] == pytest.approx(lc[:6].mean())
    assert stats["lc_std"] == pytest.approx(lc[:6].std())
    imgs = 10 ** np.random.default_rng(1).uniform(1, 3, (8, 6, 6))
    s = flares.fit_scaling(imgs)
    x = flares.apply_scaling(imgs, s)
    inside = (x > -1) & (x < 1)
    np.testing.assert_allclose(flares.invert_scaling(x, s)[inside], imgs[inside], rtol=1e-4)
