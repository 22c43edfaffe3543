"""solarmodels.metrics against values computed by hand or with plain NumPy loops."""
import math

import numpy as np
import pytest
import torch

from solarmodels import metrics as M


def test_mse_rmse_mae_by_hand():
    p, t = np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4)
    assert M.mse(p, t) == pytest.approx(3.5)          # (0 + 1 + 4 + 9) / 4
    assert M.rmse(p, t) == pytest.approx(math.sqrt(3.5))
    assert M.mae(p, t) == pytest.approx(1.5)          # (0 + 1 + 2 + 3) / 4
    mask = np.array([True, True, False, False])
    assert M.mse(p, t, mask) == pytest.approx(0.5)
    # a NaN outside the mask is ignored, inside it is an error
    p2 = p.copy()
    p2[3] = np.nan
    assert M.mse(p2, t, mask) == pytest.approx(0.5)
    with pytest.raises(M.MetricError, match="NaN values inside the mask"):
        M.mse(p2, t)


def test_per_axis_reduction_and_torch_agree():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(3, 8, 8)), rng.normal(size=(3, 8, 8))
    per_image = M.rmse(p, t, axis=(-2, -1))
    assert per_image.shape == (3,)
    np.testing.assert_allclose(per_image, np.sqrt(((p - t) ** 2).mean(axis=(1, 2))))
    tt = M.rmse(torch.from_numpy(p), torch.from_numpy(t), axis=(-2, -1))
    assert isinstance(tt, torch.Tensor)
    np.testing.assert_allclose(tt.numpy(), per_image)
    cc = M.pearson_cc(p, t, axis=(-2, -1))
    ref = [np.corrcoef(p[i].ravel(), t[i].ravel())[0, 1] for i in range(3)]
    np.testing.assert_allclose(cc, ref, rtol=1e-12)
    np.testing.assert_allclose(M.pearson_cc(torch.from_numpy(p), torch.from_numpy(t),
                                            axis=(-2, -1)).numpy(), ref, rtol=1e-12)


def test_pearson_by_hand():
    assert M.pearson_cc([1.0, 2, 3], [2.0, 4, 6]) == pytest.approx(1.0)
    assert M.pearson_cc([1.0, 2, 3], [3.0, 2, 1]) == pytest.approx(-1.0)
    # means 2.5; Σ dp·dt = 2.25 − 0.25 − 0.25 + 2.25 = 4; Σ dp² = Σ dt² = 5
    assert M.pearson_cc([1.0, 2, 3, 4], [1.0, 3, 2, 4]) == pytest.approx(0.8)
    # the mask drops the outlier
    assert M.pearson_cc([1.0, 2, 3, 100], [1.0, 2, 3, -5],
                        mask=[True, True, True, False]) == pytest.approx(1.0)


def test_relative_error_and_ppe_by_hand():
    assert M.relative_error([2.0, 2.0], [1.0, 3.0]) == pytest.approx(0.0)
    assert M.relative_error([2.0, 4.0], [1.0, 3.0]) == pytest.approx(0.5)   # (6 − 4) / 4
    p, t = [1.05, 1.3, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]      # relative errors .05 .3 1 1
    assert M.ppe(p, t, 0.1) == pytest.approx(0.25)
    assert M.ppe(p, t, 0.5) == pytest.approx(0.5)
    with pytest.raises(M.MetricError, match="threshold must be positive"):
        M.ppe(p, t, 0.0)


def test_psnr_states_its_range():
    t = np.zeros((4, 4))
    p = t + 0.1
    assert M.psnr(p, t, data_range=2.0) == pytest.approx(10 * math.log10(4 / 0.01))
    assert M.psnr(p, t, data_range=1.0) == pytest.approx(20.0)
    # the seed's data_range=1 on [-1, 1] data is 20·log10(2) dB pessimistic
    assert M.psnr(p, t, 2.0) - M.psnr(p, t, 1.0) == pytest.approx(20 * math.log10(2))
    with pytest.raises(M.MetricError, match="data_range must be a positive number"):
        M.psnr(p, t, None)


def _naive_ssim(x, y, data_range, sigma=1.5, radius=5):
    k = np.arange(-radius, radius + 1)
    g = np.exp(-0.5 * (k / sigma) ** 2)
    win = np.outer(g, g)
    win /= win.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    n = 2 * radius + 1
    for i in range(x.shape[0] - n + 1):
        for j in range(x.shape[1] - n + 1):
            a, b = x[i:i + n, j:j + n], y[i:i + n, j:j + n]
            ma, mb = (win * a).sum(), (win * b).sum()
            va = (win * (a - ma) ** 2).sum()
            vb = (win * (b - mb) ** 2).sum()
            cab = (win * (a - ma) * (b - mb)).sum()
            values.append((2 * ma * mb + c1) * (2 * cab + c2)
                          / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return np.mean(values)


def test_ssim_by_hand_and_against_loops():
    # constant images: σ = 0, so SSIM = (2ab + C1) / (a² + b² + C1) with C1 = 1e-4 (R = 1)
    a, b = np.full((16, 16), 0.2), np.full((16, 16), 0.4)
    assert M.ssim(a, b, 1.0) == pytest.approx((2 * 0.08 + 1e-4) / (0.2 + 1e-4))
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(20, 18))
    assert M.ssim(x, x, 1.0) == pytest.approx(1.0)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    ref = _naive_ssim(x, y, 1.0)
    assert M.ssim(x, y, 1.0) == pytest.approx(ref, rel=1e-10)
    got = M.ssim(torch.from_numpy(x[None]), torch.from_numpy(y[None]), 1.0)
    assert got.shape == (1,)
    assert float(got[0]) == pytest.approx(ref, rel=1e-10)
    with pytest.raises(M.MetricError, match="smaller than the 11×11 window"):
        M.ssim(x[:8, :8], y[:8, :8], 1.0)


def test_disk_mask_and_binning():
    m = M.disk_mask((5, 5), 2)                  # centre, 4 edge neighbours, 4 diagonals (√2)
    assert m.sum() == 9 and m[2, 2] and not m[0, 2]
    x = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(M.bin_image(x, 2), [[2.5, 4.5], [10.5, 12.5]])
    with pytest.raises(M.MetricError, match="not divisible"):
        M.bin_image(x, 3)


def test_euv_generation_metrics_identical_and_scaled():
    rng = np.random.default_rng(2)
    t = rng.uniform(10, 1000, size=(32, 32))
    out = M.euv_generation_metrics(t, t, radius=32, binning=4)
    assert out["cc"] == pytest.approx(1.0) and out["re"] == pytest.approx(0.0)
    assert out["ppe10"] == pytest.approx(1.0)
    # 20 % too bright everywhere: RE = 0.2 (up to the +1 offset), PPE10 = 0, PPE50 = 1
    out = M.euv_generation_metrics(1.2 * t + 0.2, t, radius=32, binning=4)
    assert out["re"] == pytest.approx(0.2) and out["ppe10"] == 0.0 and out["ppe50"] == 1.0


def test_magnetogram_regions_by_hand():
    target = np.array([[100.0, 0.0], [-60.0, 10.0]])
    pred = target + np.array([[10.0, 2.0], [-20.0, 4.0]])
    on = np.array([[True, True], [True, False]])
    out = M.magnetogram_rmse_regions(pred, target, on, ar_threshold=50)
    assert out["full_disk"] == pytest.approx(math.sqrt((100 + 4 + 400) / 3))
    assert out["active_region"] == pytest.approx(math.sqrt((100 + 400) / 2))
    assert out["quiet_sun"] == pytest.approx(2.0)
    assert out["active_fraction"] == pytest.approx(2 / 3)


def test_total_unsigned_flux_by_hand():
    b = np.array([[10.0, -20.0], [5.0, 0.0]])
    area = np.array([[1.0, 2.0], [3.0, np.nan]])        # NaN area off the disk is harmless
    assert M.total_unsigned_flux(b, area, threshold=6) == pytest.approx(10 + 40)
    assert M.total_unsigned_flux(b, area, threshold=0) == pytest.approx(10 + 40 + 15)
    mask = np.array([[False, True], [True, True]])
    assert M.total_unsigned_flux(b, area, mask) == pytest.approx(40 + 15)
    tb = M.total_unsigned_flux(torch.tensor(b), torch.tensor(area), threshold=6)
    assert float(tb) == pytest.approx(50)
    # Kim et al.: 9 disk pixels (r < 2 of a 5×5 image) × 20 G × (695500 km / 2)² × 1e10 cm²/km²
    assert M.tumf_kim2019(np.full((5, 5), 20.0), radius=2) == pytest.approx(
        9 * 20 * (695500 / 2) ** 2 * 1e10)
    assert M.flux_correlation([1.0, 2, 3], [2.0, 4, 7]) == pytest.approx(
        np.corrcoef([1, 2, 3], [2, 4, 7])[0, 1])


def test_per_tile_rmse_by_hand():
    p = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    t = np.array([[0.0, 2.0, 3.0], [3.0, 0.0, 3.0]])
    np.testing.assert_allclose(M.per_tile_rmse(p, t), [math.sqrt(0.5), math.sqrt(2), math.sqrt(2)])


def test_emergence_time_and_lead_by_hand():
    observed = np.array([1, 1, 1, 1, .98, .96, .94, .92, .90, .90, .90])
    # derivatives from step 3 on: −0.02 × 5 → the run of ≥ 4 starts at t = 3 h
    assert M.emergence_time(observed, smooth=1) == 3.0
    predicted = np.array([1, 0.98, .96, .94, .92, .90, .90, .90, .90, .90, .90])
    assert M.emergence_time(predicted, smooth=1) == 0.0
    # T_lead = (t_obs − t_pred) + 12 h
    assert M.emergence_lead_time(observed, predicted, smooth=1) == 15.0
    # datetime64 times at a 4 h cadence: derivatives −0.005 / h → no emergence
    times = np.datetime64("2011-02-10T00:00") + np.arange(11) * np.timedelta64(4, "h")
    assert math.isnan(M.emergence_time(observed, times, smooth=1))
    # several tiles at once (time on axis 0)
    both = np.stack([observed, np.ones(11)], axis=1)
    out = M.emergence_time(both, smooth=1)
    assert out[0] == 3.0 and math.isnan(out[1])
    # too short a run is no emergence
    blip = np.array([1, 1, .9, .8, .7, .7, .7, .7])
    assert math.isnan(M.emergence_time(blip, smooth=1))


# --------------------------------------------------------------------------- evaluation tables

def test_solared_metrics_table_and_files(tmp_path):
    from solarmodels.evaluate import solared_figure, solared_metrics, write_table

    n, tiles = 30, 4
    times = np.datetime64("2011-02-10T00:00", "ns") + np.arange(n) * np.timedelta64(1, "h")
    obs = np.ones((n, tiles))
    obs[10:, 0] = 1 - 0.05 * np.arange(1, n - 9)            # tile 0 darkens from t = 9 h
    pred = np.ones((n, tiles))
    pred[6:, 0] = 1 - 0.05 * np.arange(1, n - 5)            # predicted from t = 5 h
    pred[:, 1] += 0.5                                        # tile 1 off by 0.5
    table = solared_metrics(pred, obs, active_region=["11158"] * n, target_time=times,
                            tile_row=[1, 1, 2, 2], tile_col=[0, 1, 0, 1], target_scale=2.0,
                            emergence={"smooth": 1})
    model = table.sel(variant="model")
    assert model["per_tile_rmse"].values[1] == pytest.approx(0.5)
    assert model["per_tile_rmse_intensity"].values[1] == pytest.approx(1.0)
    assert model["per_tile_rmse"].values[2] == 0
    # observed emergence at 9 h, predicted at 5 h: lead = (9 − 5) + 12 = 16 h
    assert table["emergence_time_observed"].values[0, 0] == 9.0
    assert table["emergence_lead_time"].values[0, 0] == 16.0
    assert np.isnan(table["emergence_lead_time"].values[0, 2])
    files = write_table(table, tmp_path)
    import pandas as pd

    csv = pd.read_csv(files[1])
    assert list(csv["per_tile_rmse"].round(6)) == list(model["per_tile_rmse"].values.round(6))
    assert csv["lead_time_h_AR11158"][0] == 16.0
    fig = solared_figure(table, pred, obs, times=times)
    assert len(fig.axes) >= 2


def test_translation_metrics_physical_units():
    from solarmodels.evaluate import translation_metrics
    from solarprep.datasets import scalings

    rng = np.random.default_rng(3)
    b = rng.normal(0, 30, (16, 16))
    b[4:8, 4:8] = 800.0                                      # an active region
    pred_b = b + 10.0
    attrs = {"scaling": "hmi_3000", "scaling_params": '{"limit": 3000.0}'}
    out = translation_metrics(scalings.hmi_linear(pred_b), scalings.hmi_linear(b),
                              attrs=attrs, pixel_area=np.full((16, 16), 1e16))
    assert out["rmse_full_disk_G"] == pytest.approx(10.0, rel=1e-5)
    assert out["rmse_active_region_G"] == pytest.approx(10.0, rel=1e-5)
    assert out["rmse"] == pytest.approx(10 / 3000, rel=1e-4)
    assert out["tumf_target_Mx"] == pytest.approx(
        1e16 * np.abs(b)[np.abs(b) > 10].sum(), rel=1e-5)
    aia = rng.uniform(10, 3000, (16, 16))
    out = translation_metrics(scalings.aia_log2(aia), scalings.aia_log2(aia),
                              attrs={"scaling": "aia_log2", "scaling_params": "{}"},
                              disk_radius=8)
    assert out["cc_physical"] == pytest.approx(1.0) and out["ppe10_physical"] == 1.0
    assert out["ssim"] == pytest.approx(1.0) and out["psnr"] == np.inf


def test_pixel_areas_add_up_to_the_visible_sphere():
    """Σ A over μ > 0.1 = 2π R² (1 − 0.1): the hemisphere's area above that μ (dA = 2πR² dμ)."""
    from solarmodels.evaluate import pixel_area_cm2
    from solarprep.datasets import pairs

    a, _ = pairs.synthetic_pair_sources(["2024-05-01T06:00"], seed=1, shape=64, noise=False)
    ds = pairs.regrid_disk(a, shape=128, radius=56, progress=False)
    area = pixel_area_cm2(ds, mu_min=0.1)
    rsun_cm = ds.attrs["rsun_ref"] * 100.0
    assert np.nansum(area) == pytest.approx(2 * np.pi * rsun_cm ** 2 * 0.9, rel=0.02)
    # a uniform 100 G radial field seen along the line of sight (B_los = B_r μ): with true
    # areas Σ B_los A = B_r Σ μ A = B_r × (projected area of μ > 0.1) = B_r π R² (1 − 0.1²)
    mu = np.asarray(solarprep_mu(ds))
    blos = 100.0 * mu
    flux = M.total_unsigned_flux(blos, area, np.isfinite(area))
    assert flux == pytest.approx(100.0 * np.pi * rsun_cm ** 2 * (1 - 0.1 ** 2), rel=0.03)


def solarprep_mu(ds):
    import solarprep

    mu = solarprep.disk_coordinates(ds)["mu"].values
    return mu.reshape(-1, *mu.shape[-2:])[0]
