"""The misleading messages and silent results of issue 13, one test each.

Each bad input gets the library's own exception naming the file (or the frame, the region)
and the problem; the fuzz suite (test_fuzz_inputs.py) covers the many damaged variants.
"""
import logging
import re
import shutil

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

from solarprep import load
from solarprep.datasets import solared
from solarprep.errors import CadenceError, GoesDataError, PhotometryError, SolarDataError
from solarprep.helioseismology.cadence import frame_cadence
from solarprep.helioseismology.doppler import doppler_difference
from solarprep.helioseismology.power import power_maps
from solarprep.lightcurves.goes import read_xrs

from .naive_photometry import synthetic_dataset


def _edited(real_fits, tmp_path, key, value, name="aia171_full"):
    header = fits.getheader(real_fits[name])
    if value is None:
        del header[key]
    else:
        header[key] = value
    path = tmp_path / f"{key}.fits"
    with pytest.warns():                       # astropy: BLANK on float data
        fits.writeto(path, fits.getdata(real_fits[name]), header, output_verify="silentfix")
    return path


def test_missing_wavelnth_is_named_not_called_truncated(real_fits, tmp_path):
    path = _edited(real_fits, tmp_path, "WAVELNTH", None)
    with pytest.raises(SolarDataError) as err:
        load(path, progress=False)
    text = str(err.value)
    assert str(path) in text and "lacks WAVELNTH" in text and "truncated" not in text


def test_unparseable_date_obs_is_not_reported_missing(real_fits, tmp_path):
    path = _edited(real_fits, tmp_path, "DATE-OBS", "2011-02-30T25:61:00")
    with pytest.raises(SolarDataError, match=re.escape(str(path)) + ".*cannot be parsed.*"
                       "DATE-OBS='2011-02-30T25:61:00'") as err:
        load(path, progress=False)
    assert "no DATE-OBS" not in str(err.value)


@pytest.mark.parametrize("key, value, words", [
    ("CDELT1", 0.0, "CDELT1=0.0 is impossible"), ("RSUN_REF", -1.0, "RSUN_REF=-1.0"),
    ("EXPTIME", -2.0, "EXPTIME=-2.0"), ("CRPIX1", "64.5", "CRPIX1='64.5' is not a number"),
    ("CROTA2", True, "CROTA2=True is not a number")])
def test_impossible_header_values(real_fits, tmp_path, key, value, words):
    path = _edited(real_fits, tmp_path, key, value)
    with pytest.raises(SolarDataError, match=re.escape(str(path)) + ".*" + re.escape(words)):
        load(path, progress=False)


def test_nan_header_value_of_a_map(real_fits):
    import sunpy.map

    smap = sunpy.map.Map(real_fits["hmi_ic"])
    smap.meta["dsun_obs"] = float("nan")
    with pytest.raises(SolarDataError, match=r"sunpy Map #0 \(HMIMap\): the header's DSUN_OBS=nan "
                                             "is not a finite number"):
        load(smap, progress=False)


def test_duplicate_frame_times_are_refused(real_fits, tmp_path):
    copy = tmp_path / "again.fits"
    shutil.copy(real_fits["aia171_full"], copy)
    with pytest.raises(SolarDataError, match="have the same time") as err:
        load([real_fits["aia171_full"], copy], progress=False)
    assert str(copy) in str(err.value)


def test_infinite_pixels_become_nan_with_a_warning(real_fits, tmp_path, caplog):
    data = fits.getdata(real_fits["aia171_full"]).astype(np.float64)
    data[0, :4] = np.inf
    path = tmp_path / "inf.fits"
    with pytest.warns():
        fits.writeto(path, data, fits.getheader(real_fits["aia171_full"]),
                     output_verify="silentfix")
    with caplog.at_level(logging.WARNING, logger="solarprep.io.loader"):
        ds = load(path, progress=False, north_up=False)
    assert np.isnan(ds.euv171.values[0, 0, :4]).all() and "4 pixel(s) are infinite" in caplog.text


def test_goes_netcdf_without_time_is_not_1970(real_data, tmp_path):
    src = real_data / "goes" / "sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc"
    with xr.open_dataset(src, engine="h5netcdf") as ds:
        bad = ds[["xrsa_flux", "xrsb_flux"]].load().drop_vars("time")
    path = tmp_path / "sci_xrsf-l2-avg1m_g16_d20210101_notime.nc"
    bad.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(GoesDataError, match=re.escape(str(path)) + ": no time variable"):
        read_xrs(path)


def test_goes_impossible_fluxes_are_masked_and_counted(real_data, tmp_path, caplog):
    src = real_data / "goes" / "sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc"
    with xr.open_dataset(src, engine="h5netcdf") as ds:
        ds = ds[["xrsa_flux", "xrsb_flux"]].load()
    b = ds["xrsb_flux"].values.copy()
    b[[3, 4, 5]] = [-1e-7, 1.0, np.inf]
    ds["xrsb_flux"] = ("time", b)
    path = tmp_path / "sci_xrsf-l2-avg1m_g16_d20210101_x.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    with caplog.at_level(logging.WARNING):
        out = read_xrs(path)
    assert np.isnan(out.xrsb.values[[3, 4, 5]]).all() and out.attrs["masked_samples"] == 3
    assert np.isfinite(out.xrsb.values[:3]).all() and "set to NaN" in caplog.text
    assert "3 impossible value(s) set to NaN" in out.attrs["history"]


def test_truncated_gzip_goes_file(real_data, tmp_path):
    raw = (real_data / "goes" / "go1520120601.fits.gz").read_bytes()
    path = tmp_path / "go1520120601.fits.gz"
    path.write_bytes(raw[:-100])
    with pytest.raises(GoesDataError, match=re.escape(str(path)) + ".*truncated or corrupt"):
        read_xrs(path)


def _series(times):
    t = np.datetime64("2024-01-01T00:00", "ns") + (np.asarray(times) * 1e9).astype("timedelta64[ns]")
    v = np.random.default_rng(0).normal(size=(len(t), 2, 2)).astype(np.float32)
    return xr.Dataset({"vlos": (("time", "y", "x"), v, {"units": "m / s", "long_name": "v"})},
                      coords={"time": t})


def test_jittered_cadence_is_found_and_refused_the_same_way():
    jitter = np.random.default_rng(1).uniform(-20, 20, 64)
    ds = _series(np.arange(64) * 45.0 + jitter)
    assert frame_cadence(ds.time.values)[0] == pytest.approx(45, abs=6)     # not 8 or 12 s
    with pytest.raises(CadenceError, match=r"off the regular 4\d\.?\d* s grid") as a:
        power_maps(ds, window="20min")
    with pytest.raises(CadenceError, match=r"off the regular 4\d\.?\d* s grid") as b:
        doppler_difference(ds)
    assert str(a.value) == str(b.value)
    small = _series(np.arange(64) * 45.0 + np.random.default_rng(2).uniform(-1, 1, 64))
    assert doppler_difference(small).sizes["time"] == 63
    assert power_maps(small, window="20min").sizes["time"] == 2


def test_gaps_still_give_the_true_cadence():
    assert frame_cadence(np.array([0.0, 45.0, 135.0]))[0] == 45.0
    assert frame_cadence(np.array([0.0, 90, 180, 225, 270]))[0] == 45.0


def test_half_nan_frame_says_why(tmp_path, caplog):
    ds, _ = synthetic_dataset(64)
    half = ds["intensity"].values.copy()
    half[0, :32] = np.nan
    bad = ds.assign(intensity=(ds["intensity"].dims, half, ds["intensity"].attrs))
    with pytest.raises(PhotometryError, match=r"every frame covers less than min_covered=0.99 "
                                              r"of the disk.*frame 0 \(.*\) 5\d\.\d%"):
        from solarprep import disk_integrate

        disk_integrate(bad, device="cpu")
    two = xr.concat([ds, bad], dim="time")
    two = two.assign_coords(time=two.time.values + np.array([0, 60], "timedelta64[s]"))
    with caplog.at_level(logging.WARNING):
        lc = disk_integrate(two, device="cpu")
    assert np.isnan(lc.flux.values[1]) and "frame 1" in caplog.text


def test_region_without_a_window_says_which_and_why(real_data, tmp_path):
    ds = solared.keep_tiles(solared.read_timelines(real_data / "solared" / "AR11190"))
    with pytest.raises(SolarDataError) as err:
        solared.build([ds], window=120, lead=12, progress=False, splits={"train": ["11190"]})
    text = str(err.value)
    assert "AR 11190" in text and "1 missing step(s)" in text and "with NaN values" in text
    assert "longest usable stretch 121 steps" in text and "= 132" in text


def test_timelines_with_unsorted_or_duplicated_times(real_data, tmp_path):
    ds = solared.read_timelines(real_data / "solared" / "AR11158")
    order = np.arange(ds.sizes["time"])
    order[[5, 6]] = [6, 5]
    solared.write_timelines(ds.isel(time=order), tmp_path / "a")
    with pytest.raises(SolarDataError, match=r"mean_pmdop11158_flat\.npz: timestamp 6 .* is "
                                             "before the previous one"):
        solared.read_timelines(tmp_path / "a")
    solared.write_timelines(ds.isel(time=np.r_[0, order[:-1]]), tmp_path / "b")
    with pytest.raises(SolarDataError, match="timestamp 1 .* duplicates the previous one"):
        solared.read_timelines(tmp_path / "b")
