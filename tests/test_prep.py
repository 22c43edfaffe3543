"""solarprep.prep on the real AIA, HMI and EUVI samples, checked against aiapy.register.

aiapy's ``register`` puts the reference coordinate (CRVAL) at the image centre; prep puts the
Sun centre there. For full-resolution AIA level 1 (CRVAL = 0) they are the same; the shipped
re-binned samples have CRVAL ≠ 0 (0.24, 0.15 px), so the comparison runs aiapy on the same
image with its WCS re-expressed with the reference pixel at Sun centre (an exact change of
header, not of data): then both grids coincide and the pixels are compared one to one.

Tolerance (stated in docs/prep.md): AIA |prep − aiapy| ≤ 1e-4 of the median on-disk
intensity at every finite pixel (measured 4.5e-5; 99th percentile 1.1e-5); HMI the same
within 0.9 R☉ at the 99th percentile and ≤ 5e-3 at every on-disk pixel (measured 1.8e-3
next to the NaN limb, which aiapy's and scipy's splines treat differently).
"""
import numpy as np
import pytest

from solarprep.errors import PrepError
from solarprep.prep import aia_scale, prep

aiapy_calibrate = pytest.importorskip("aiapy.calibrate")


def _aiapy_sun_centred(path, **kw):
    """aiapy.register of the file with the reference pixel moved to Sun centre (same WCS)."""
    import astropy.units as u
    import sunpy.map
    from astropy.coordinates import SkyCoord

    m = sunpy.map.Map(str(path))
    x0, y0 = m.wcs.world_to_pixel(SkyCoord(0 * u.arcsec, 0 * u.arcsec,
                                           frame=m.coordinate_frame))
    meta = m.meta.copy()
    meta.update({"crpix1": float(x0) + 1, "crpix2": float(y0) + 1, "crval1": 0.0, "crval2": 0.0})
    return m, aiapy_calibrate.register(sunpy.map.Map(m.data, meta), **kw)


def _radius(ds, m):
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    yy, xx = np.mgrid[0:ny, 0:nx]
    return np.hypot(xx - (nx - 1) / 2, yy - (ny - 1) / 2) * ds["cdelt1"].values[0] \
        / m.rsun_obs.to_value("arcsec")


@pytest.mark.filterwarnings("ignore")
def test_aia_prep_agrees_with_aiapy_register(real_fits):
    ds = prep(real_fits["aia171_full"])
    m, ref = _aiapy_sun_centred(real_fits["aia171_full"])
    assert ds["euv171"].attrs["units"] == "DN / s" and ds.attrs["prep_level"] == 1.5
    assert ds["cdelt1"].values[0] == ref.meta["cdelt1"] == aia_scale(m.meta["cdelt1"]) == 19.2
    assert ds["crpix1"].values[0] == ref.meta["crpix1"] and ds["crval1"].values[0] == 0.0
    assert ds["crota2"].values[0] == 0.0
    expected = np.asarray(ref.data) / m.exposure_time.to_value("s")
    ours = ds["euv171"].values[0].astype(np.float64)
    finite = np.isfinite(ours)
    assert finite.mean() > 0.98
    scale = np.median(expected[_radius(ds, m) < 0.9])
    assert np.max(np.abs(ours - expected)[finite]) <= 1e-4 * scale
    assert "registered north up, Sun centred, 19.2 arcsec/px" in ds.attrs["history"]


@pytest.mark.filterwarnings("ignore")
def test_hmi_prep_agrees_with_aiapy_register(real_fits):
    ds = prep(real_fits["hmi_ic"])
    m, ref = _aiapy_sun_centred(real_fits["hmi_ic"], missing=np.nan)
    assert ds["crota2"].values[0] == 0.0 and ds["cdelt1"].values[0] == ref.meta["cdelt1"]
    ours, expected = ds["intensity"].values[0].astype(np.float64), np.asarray(ref.data)
    r = _radius(ds, m)
    scale = np.nanmedian(expected[r < 0.9])
    both = np.isfinite(ours) & np.isfinite(expected)
    diff = np.abs(ours - expected) / scale
    assert np.percentile(diff[both & (r < 0.9)], 99) <= 1e-4
    assert np.max(diff[both & (r < 0.95)]) <= 5e-3
    assert "0 frame(s) rejected for QUALITY & 0xffffffff" in ds.attrs["history"]


def test_chosen_disk_radius_and_shape(real_fits):
    ds = prep(real_fits["aia171_full"], radius=50, shape=120, order=1)
    rsun = ds["rsun_obs"].values[0]
    assert ds.sizes["x"] == 120 and ds["cdelt1"].values[0] == pytest.approx(
        np.degrees(np.tan(np.radians(rsun / 3600))) * 3600 / 50, rel=1e-4)


def test_hmi_quality_rejection(real_fits, tmp_path):
    from astropy.io import fits

    bad = tmp_path / "hmi_nodata.fits"
    with fits.open(real_fits["hmi_ic"]) as hdul:
        hdul[0].header["QUALITY"] = 0x80000000 - 2 ** 32   # QUAL_NODATA as a signed int32
        hdul[0].header["T_OBS"] = "2014.03.01_00:13:25_TAI"
        hdul[0].header["DATE-OBS"] = "2014-03-01T00:12:27.90"
        hdul.writeto(bad)
    good = real_fits["hmi_ic"]
    ds = prep([good, bad])
    assert ds.sizes["time"] == 1 and ds["quality"].values.tolist() == [0]
    assert "1 frame(s) rejected" in ds.attrs["history"]
    assert prep([good, bad], quality="none").sizes["time"] == 2
    assert prep([good, bad], quality="nodata").sizes["time"] == 1
    with pytest.raises(PrepError, match="every frame has a rejected QUALITY flag"):
        prep(bad)


@pytest.mark.filterwarnings("ignore")
def test_euvi_level0_to_1(real_fits):
    import solarprep

    raw = solarprep.load(real_fits["euvi_a"], device="cpu")
    ds = prep(real_fits["euvi_a"])
    assert ds.attrs["prep_level"] == 1.0 and ds["euv171"].attrs["units"] == "DN / s"
    assert ds["crota2"].values[0] == 0.0 and ds["crval1"].values[0] == 0.0
    assert ds["cdelt1"].values[0] == pytest.approx(raw["cdelt1"].values[0])
    corner = np.nanmedian(ds["euv171"].values[0][:10, :10])
    assert abs(corner) < 0.5 < np.nanmedian(raw["euv171"].values[0][:10, :10]) / 16.0074 - 40
    assert "EUVI bias [725.242] DN subtracted" in ds.attrs["history"]
    with pytest.raises(PrepError, match="needs the FITS headers"):
        prep(raw)


def test_aia_degradation_with_an_offline_table(real_fits, tmp_path):
    table = tmp_path / "aia_V10_response_table.txt"
    table.write_text(
        "DATE VER_NUM WAVE_STR WAVELNTH T_START T_STOP EFFA_P1 EFFA_P2 EFFA_P3 EFF_AREA "
        "EFF_WVLN\n"
        "2010-03-24T00:00:00 10 171_THIN 171 2010-03-24T00:00:00 2011-01-01T00:00:00 0 0 0 "
        "2.0 171.1\n"
        "2011-01-01T00:00:00 10 171_THIN 171 2011-01-01T00:00:00 2030-01-01T00:00:00 0 0 0 "
        "1.5 171.1\n")
    plain = prep(real_fits["aia171_full"], order=1)
    corrected = prep(real_fits["aia171_full"], order=1, degradation=True,
                     correction_table=table)
    np.testing.assert_allclose(corrected["euv171"].values, plain["euv171"].values / 0.75,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(PrepError, match="needs aiapy's correction table"):
        prep(real_fits["aia171_full"], degradation=True)


def test_prep_refuses_other_instruments(tmp_path):
    import solarprep
    from solarprep import synthetic

    path = synthetic.SyntheticSun(seed=1).write_observations(tmp_path, kinds=("euv171",),
                                                             shape=16)[0]
    ds = solarprep.load(path, device="cpu")
    ds.attrs["instrument"] = "EIT"
    ds.attrs["detector"] = "EIT"
    with pytest.raises(PrepError, match="knows SDO/AIA, SDO/HMI and STEREO/EUVI"):
        prep(ds)
    with pytest.raises(PrepError, match="quality='bogus'"):
        prep(path, quality="bogus")


def test_prep_reports_unreadable_paths(tmp_path):
    with pytest.raises(PrepError, match="cannot be read as FITS images"):
        prep(tmp_path / "missing.fits")
