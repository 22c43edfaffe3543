"""load_lightcurve on every light-curve file of the real samples, VIRGO and EVE lines files
constructed in their documented formats, and the 1-AU / resampling / conditioning steps."""
import numpy as np
import pytest

import solarprep
from solarprep.dataset import validate
from solarprep.errors import LightCurveError
from solarprep.lightcurves import condition, load_lightcurve, normalize_to_1au, resample

LIGHT_CURVES = {
    "goes/go1520110607.fits": ("GOES/XRS", ["xrsa", "xrsb"], 2.047),
    "goes/go1520120601.fits.gz": ("GOES/XRS", ["xrsa", "xrsb"], 2.047),
    "goes/sci_gxrs-l2-irrad_g15_d20170910_v0-0-0_truncated.nc": ("GOES/XRS", ["xrsa", "xrsb"],
                                                                 2.047),
    "goes/sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc": ("GOES/XRS", ["xrsa", "xrsb"], 60.0),
    "irradiance/eve_l1_esp_2011046_00_truncated.fits": (
        "SDO/EVE", ["qd", "ch_18", "ch_26", "ch_30", "ch_36"], 4.0),
    "stellar/tess2018206045859-s0001-0000000358108509-0120-s_lc.fits": (
        "TESS", ["flux", "flux_err"], 120.0),
    "stellar/kplr010002792-2010174085026_llc.fits": ("KEPLER", ["flux", "flux_err"], 1765.52),
}


def test_every_real_light_curve_file_is_covered(real_data):
    found = {p.relative_to(real_data).as_posix()
             for folder in ("goes", "irradiance", "stellar") for p in (real_data / folder).iterdir()}
    assert found == set(LIGHT_CURVES)


@pytest.mark.parametrize("name", sorted(LIGHT_CURVES))
def test_real_light_curves(real_data, name):
    instrument, variables, cadence = LIGHT_CURVES[name]
    ds = validate(load_lightcurve(real_data / name))
    assert ds.attrs["instrument"] == instrument
    assert list(ds.data_vars) == variables
    assert ds.attrs["cadence_s"] == pytest.approx(cadence, abs=0.01)
    assert ds["gap"].dtype == bool and np.all(np.diff(ds["time"].values) > np.timedelta64(0))
    for v in variables:
        assert ds[v].dtype == np.float32 and ds[v].attrs["units"]
    nan = ~np.isfinite(ds[variables[0]].values)
    assert np.all(ds["gap"].values[nan])          # every missing sample is marked a gap


def test_eve_esp_times_and_flare(real_data):
    ds = load_lightcurve(real_data / "irradiance" / "eve_l1_esp_2011046_00_truncated.fits")
    assert str(ds.time.values[0]).startswith("2011-02-15T01:44:10")
    assert str(ds.time.values[-1]).startswith("2011-02-15T02:25:46")
    peak = ds["qd"].idxmax().values                # X2.2 flare, GOES peak 01:56 UTC
    assert np.datetime64("2011-02-15T01:54") < peak < np.datetime64("2011-02-15T02:00")


def test_tess_quality_flags_and_flux_choice(real_data):
    path = real_data / "stellar" / "tess2018206045859-s0001-0000000358108509-0120-s_lc.fits"
    default = load_lightcurve(path)
    keep = load_lightcurve(path, quality_bitmask="none")
    sap = load_lightcurve(path, flux="sap", quality_bitmask=0)
    from astropy.io import fits

    with fits.open(path) as hdul:
        timed = np.isfinite(hdul[1].data["TIME"])     # astropy drops rows without a time
        quality = hdul[1].data["QUALITY"][timed]
        pdcsap = hdul[1].data["PDCSAP_FLUX"][timed]
        sap_raw = hdul[1].data["SAP_FLUX"][timed]
    assert default.attrs["n_rejected"] == int((quality != 0).sum()) == 1160
    assert int(np.isfinite(default.flux).sum()) == int((np.isfinite(pdcsap) & (quality == 0)).sum())
    assert int(np.isfinite(keep.flux).sum()) == int(np.isfinite(pdcsap).sum())
    assert np.nanmedian(sap.flux) == pytest.approx(np.nanmedian(sap_raw), rel=1e-6)
    assert default.flux.attrs["units"] == "electron / s" and default.attrs["target"] == "star"
    with pytest.raises(LightCurveError, match="stellar light curve"):
        normalize_to_1au(default)
    with pytest.raises(LightCurveError, match="'pdcsap' or 'sap'"):
        load_lightcurve(path, flux="kspsap")


VIRGO_TEXT = """\
; VIRGO TSI daily V8 (constructed in the documented column layout for the test)
; Col 1: UTC time  Col 2: TAI (s)  Col 3: JD  Col 4: PMO6V-A old  Col 5: VIRGO old
; Col 6: uncertainty  Col 7: PMO6V-A new  Col 8: VIRGO new (W/m2)
2011-02-14T12:00:00Z 1676462434.0 2455607.0 1365.90 1365.80 0.20 1361.30 1361.25
2011-02-15T12:00:00Z 1676548834.0 2455608.0 1365.95 1365.85 0.20 1361.35 1361.30
2011-02-16T12:00:00Z 1676635234.0 2455609.0 -99 -99 -99 -99 -99
2011-02-18T12:00:00Z 1676808034.0 2455611.0 1365.70 1365.60 0.20 1361.10 1361.05
"""


def test_virgo_text(tmp_path):
    path = tmp_path / "VIRGO_TSI_daily_V8_20110218.txt"
    path.write_text(VIRGO_TEXT)
    ds = validate(load_lightcurve(path))
    assert ds.attrs["instrument"] == "SOHO/VIRGO" and ds.attrs["cadence_s"] == 86400.0
    np.testing.assert_allclose(ds["tsi"].values, [1361.25, 1361.30, np.nan, 1361.05], rtol=1e-6)
    assert ds["gap"].values.tolist() == [False, False, True, True]   # missing, then a 2-day jump
    assert normalize_to_1au(ds) is ds                                # TSI is at 1 AU already
    bad = tmp_path / "virgo_bad.txt"
    bad.write_text("2011-02-14T12:00:00Z 1 2 3\n")
    with pytest.raises(LightCurveError, match="virgo_bad.txt:1: 4 columns, expected 8"):
        load_lightcurve(bad)


def test_eve_lines_file(tmp_path):
    from astropy.io import fits

    tai0 = 1676419234.0                                       # 2011-02-15T00:00:00 UTC in TAI s
    meta = fits.BinTableHDU.from_columns([
        fits.Column("NAME", "10A", array=["Fe IX", "He II"]),
        fits.Column("WAVE_CENTER", "E", array=[17.11, 30.38])], name="LinesMeta")
    data = fits.BinTableHDU.from_columns([
        fits.Column("TAI", "D", array=tai0 + 10.0 * np.arange(3)),
        fits.Column("LINE_IRRADIANCE", "2E", array=[[1e-4, 2e-4], [1.1e-4, -1.0],
                                                    [1.2e-4, 2.2e-4]])], name="LinesData")
    path = tmp_path / "EVL_L2_2011046_00_007_02.fit"
    fits.HDUList([fits.PrimaryHDU(), meta, data]).writeto(path)
    ds = validate(load_lightcurve(path))
    assert list(ds.data_vars) == ["line_fe_ix_17_1", "line_he_ii_30_4"]
    assert str(ds.time.values[0]) == "2011-02-15T00:00:00.000000000"
    assert np.isnan(ds["line_he_ii_30_4"].values[1]) and ds["gap"].values.tolist() == \
        [False, True, False]


def test_unknown_and_missing_files(tmp_path):
    with pytest.raises(LightCurveError, match="no such file"):
        load_lightcurve(tmp_path / "nope.fits")
    odd = tmp_path / "image.png"
    odd.write_bytes(b"\x89PNG")
    with pytest.raises(LightCurveError, match="not a light-curve file"):
        load_lightcurve(odd)


def test_one_au_resampling_and_conditioning(real_data):
    ds = load_lightcurve(real_data / "goes" / "go1520110607.fits")
    one_au = normalize_to_1au(ds)
    from astropy.time import Time
    from sunpy.coordinates import get_earth

    d = get_earth(Time("2011-06-07T12:00")).radius.to_value("m")
    ratio = float(one_au["xrsb"][20000] / ds["xrsb"][20000])
    assert ratio == pytest.approx((d / 149_597_870_700.0) ** 2, rel=1e-5)
    assert one_au.attrs["normalized_to_1au"] == 1 and normalize_to_1au(one_au) is one_au
    minute = resample(one_au, "1min")
    first, last = (one_au.time.values[[0, -1]].astype("datetime64[m]"))
    assert minute.sizes["time"] == int((last - first) / np.timedelta64(1, "m")) + 1
    assert minute.attrs["cadence_s"] == 60.0
    t = minute.time.values[100]
    inside = (one_au.time.values >= t) & (one_au.time.values < t + np.timedelta64(60, "s"))
    assert float(minute["xrsb"][100]) == pytest.approx(
        float(np.nanmean(one_au["xrsb"].values[inside])), rel=1e-5)
    frames = np.datetime64("2011-06-07T06:00") + np.arange(16) * np.timedelta64(30, "m")
    raw = condition(one_au, frames, variable="xrsb", tolerance="1min")
    z = condition(one_au, frames, variable="xrsb", tolerance="1min", mean=raw.mean(),
                  std=raw.std())
    assert z.shape == (16,) and abs(float(z.mean())) < 1e-5
    with pytest.raises(LightCurveError, match="no 'xrsb' sample within 1min"):
        condition(one_au, [np.datetime64("2011-06-09T00:00")], variable="xrsb",
                  tolerance="1min")
    # durations as Quantities, timedeltas or seconds give the same results
    import astropy.units as u
    import xarray as xr

    xr.testing.assert_identical(resample(one_au, 1 * u.min).drop_attrs(), minute.drop_attrs())
    for tolerance in (1 * u.min, 60.0, np.timedelta64(60, "s")):
        np.testing.assert_array_equal(condition(one_au, frames, variable="xrsb",
                                                tolerance=tolerance), raw)


def test_video_dataset_uses_the_shared_1au_factor():
    from solarprep.photometry.integration import one_au_factor

    assert one_au_factor(149_597_870_700.0) == 1.0
    assert solarprep.lightcurves.load_lightcurve is load_lightcurve
