"""solarprep.datasets.pairs: disk radius, centring and orientation of the co-registered grid."""
import datetime
import math

import astropy.units as u
import numpy as np
import pytest

import solarprep
from solarprep.datasets import pairs
from solarprep.errors import QuantityError
from solarprep.synthetic import SyntheticSun

T0 = "2024-05-01T06:00"
SHAPE, RADIUS = 48, 18.0


@pytest.fixture(scope="module")
def sources():
    # HMI-like magnetogram stored rotated (CROTA2 = 179.93) and an AIA-like 171 Å image
    return pairs.synthetic_pair_sources([T0, "2024-05-01T12:00"], seed=3, shape=96, noise=False)


@pytest.fixture(scope="module")
def pair(sources):
    return pairs.build_pairs(*sources, shape=SHAPE, radius=RADIUS, progress=False)


def test_pair_dataset_layout(pair, tmp_path):
    assert set(pair.data_vars) == {"blos", "euv171"}
    assert pair["blos"].dims == ("time", "y", "x") and pair.sizes["y"] == SHAPE
    assert pair["blos"].attrs["units"] == "G" and pair["euv171"].attrs["units"] == "DN"
    assert pair.attrs["disk_radius_px"] == RADIUS
    np.testing.assert_array_equal(pair["pair_dt"].values, 0.0)
    solarprep.validate(pair)
    solarprep.save(pair, tmp_path / "pairs.nc")
    back = solarprep.open_dataset(tmp_path / "pairs.nc")
    np.testing.assert_array_equal(back["euv171"].values, pair["euv171"].values)


def test_disk_radius_centre_and_north_up(pair):
    # the limb lies exactly RADIUS px from the image centre: tan θ☉ = RADIUS · tan(CDELT)
    for t in range(pair.sizes["time"]):
        theta = math.asin(pair.attrs["rsun_ref"] / float(pair["dsun_obs"][t]))
        assert math.degrees(math.tan(theta)) * 3600 / float(pair["cdelt1"][t]) == \
            pytest.approx(RADIUS, rel=1e-12)
    assert (pair["crota2"].values == 0).all() and (pair["crval1"].values == 0).all()
    geo = solarprep.disk_coordinates(pair)
    on = geo["on_disk"].values
    on = on if on.ndim == 2 else on[0]
    yy, xx = np.mgrid[0:SHAPE, 0:SHAPE]
    r = np.hypot(yy - (SHAPE - 1) / 2, xx - (SHAPE - 1) / 2)
    sure = np.abs(r - RADIUS) > 0.02
    np.testing.assert_array_equal(on[sure], (r < RADIUS)[sure])
    # north up: latitude grows with the row index along the central column
    lat = geo["hgs_lat"].values
    lat = lat if lat.ndim == 2 else lat[0]
    col = lat[:, SHAPE // 2]
    finite = np.isfinite(col)
    assert (np.diff(col[finite]) > 0).all()
    # magnetogram NaN exactly off the disk (up to the interpolation stencil at the limb)
    blos = pair["blos"].values[0]
    assert np.isnan(blos[r > RADIUS + 1]).all() and np.isfinite(blos[r < RADIUS - 1.5]).all()


def test_matches_a_direct_rendering_on_the_output_grid(pair):
    """Resampled data equal the synthetic Sun rendered directly on the standard grid."""
    sun = SyntheticSun(seed=3)
    cdelt = float(pair["cdelt1"][0])
    # rendered at 2× the resolution and binned 2×2: what an anti-aliased resampling sees
    fine = sun.magnetogram(T0, 2 * SHAPE, noise=False, cdelt=cdelt / 2, crota2=0.0).data
    direct = fine.reshape(SHAPE, 2, SHAPE, 2).mean((1, 3))
    got = pair["blos"].values[0]
    ok = np.isfinite(direct) & np.isfinite(got)
    assert ok.sum() > 0.9 * math.pi * RADIUS ** 2 * 0.9
    cc = np.corrcoef(direct[ok], got[ok])[0, 1]
    flipped = np.corrcoef(direct[::-1, ::-1][ok], got[ok])[0, 1]
    assert cc > 0.95 and abs(flipped) < 0.3
    euv = sun.euv(T0, 171, 2 * SHAPE, noise=False, cdelt=cdelt / 2, crota2=0.0).data
    euv = euv.reshape(SHAPE, 2, SHAPE, 2).mean((1, 3))
    got = pair["euv171"].values[0]
    ok = np.isfinite(euv) & np.isfinite(got)
    assert np.corrcoef(euv[ok], got[ok])[0, 1] > 0.95
    assert np.median(np.abs(got[ok] / euv[ok] - 1)) < 0.05


def test_time_matching_and_errors(sources):
    a, b = sources
    shifted = b.assign_coords(time=b["time"].values + np.array([120, 7200], "timedelta64[s]"))
    out = pairs.build_pairs(a, shifted, shape=16, radius=6, max_dt=600, progress=False)
    assert out.sizes["time"] == 1 and float(out["pair_dt"][0]) == 120.0
    with pytest.raises(pairs.PairError, match="no frame of b lies within max_dt=60 s"):
        pairs.build_pairs(a, shifted, shape=16, radius=6, max_dt=60, progress=False)
    for max_dt in (10 * u.min, "10min", datetime.timedelta(minutes=10)):   # = 600 s
        again = pairs.build_pairs(a, shifted, shape=16, radius=6, max_dt=max_dt, progress=False)
        assert again.sizes["time"] == 1
    with pytest.raises(pairs.PairError, match="max_dt=60 s"):
        pairs.build_pairs(a, shifted, shape=16, radius=6, max_dt=1 * u.min, progress=False)
    with pytest.raises(QuantityError, match="max_dt=600.0 m: m is not a unit of time"):
        pairs.build_pairs(a, shifted, shape=16, radius=6, max_dt=600 * u.m, progress=False)
    with pytest.raises(pairs.PairError, match="at least 4×4"):
        pairs.build_pairs(a, b, shape=2, radius=1, progress=False)
    same = pairs.build_pairs(a, a, shape=16, radius=6, progress=False)
    assert set(same.data_vars) == {"blos_a", "blos_b"}


def test_limb_mask(sources):
    out = pairs.regrid_disk(sources[1], shape=32, radius=10, limb_mask=0.9, progress=False)
    yy, xx = np.mgrid[0:32, 0:32]
    r = np.hypot(yy - 15.5, xx - 15.5)
    assert np.isnan(out["euv171"].values[:, r > 9.0]).all()
    assert np.isfinite(out["euv171"].values[:, r < 8.5]).all()


def test_cli_build_pairs(tmp_path):
    from solarprep.cli import main

    out = tmp_path / "p.nc"
    assert main(["build-pairs", "--synthetic", "1", "--synthetic-size", "64", "--shape", "32",
                 "--radius", "12", "-o", str(out)]) == 0
    ds = solarprep.open_dataset(out)
    assert set(ds.data_vars) == {"blos", "euv171"} and ds.attrs["disk_radius_px"] == 12


def test_from_fits_files(tmp_path):
    sun = SyntheticSun(seed=5)
    sun.write_observations(tmp_path, kinds=("magnetogram", "euv193"),
                           times=["2024-05-01T00:00", "2024-05-01T06:00"], shape=64)
    out = pairs.build_pairs(str(tmp_path / "syn_hmi_magnetogram_*.fits"),
                            str(tmp_path / "syn_aia193_*.fits"), shape=32, radius=12,
                            progress=False)
    assert out.sizes["time"] == 2 and set(out.data_vars) == {"blos", "euv193"}
    assert np.isfinite(out["euv193"].values[:, 16, 16]).all()


def test_real_full_disk_images_are_put_on_the_standard_grid(real_fits):
    """Real HMI (CROTA2 ≈ 180°, 100 px) and AIA (128 px) frames: radius and north up."""
    for key, name in (("hmi_ic", "intensity"), ("aia171_full", "euv171")):
        ds = solarprep.load(real_fits[key], progress=False)
        out = pairs.regrid_disk(ds, shape=64, radius=24, progress=False)
        geo = solarprep.disk_coordinates(out)
        on = np.asarray(geo["on_disk"].values).reshape(-1, 64, 64)[0]
        yy, xx = np.mgrid[0:64, 0:64]
        r = np.hypot(yy - 31.5, xx - 31.5)
        sure = np.abs(r - 24) > 0.02
        np.testing.assert_array_equal(on[sure], (r < 24)[sure])
        lat = np.asarray(geo["hgs_lat"].values).reshape(-1, 64, 64)[0][:, 32]
        assert (np.diff(lat[np.isfinite(lat)]) > 0).all()
        img = out[name].values[0]
        assert np.isfinite(img[r < 20]).all(), key
        if key == "hmi_ic":
            # the limb-darkened disk is centred (intensity centroid) and its edge is at r = 24
            w = np.where(np.isfinite(img) & (r < 22), img, 0.0)
            assert (w * yy).sum() / w.sum() == pytest.approx(31.5, abs=0.15)
            assert (w * xx).sum() / w.sum() == pytest.approx(31.5, abs=0.15)
            inside = np.nanmean(img[(r > 22) & (r < 23.5)])
            outside = np.nanmean(img[(r > 24.5) & (r < 26)])
            assert inside > 5 * outside
