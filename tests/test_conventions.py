"""The conventions users expect: durations as Quantities, CF/UDUNITS-2 units in files."""
import datetime

import astropy.units as u
import numpy as np
import pytest
import xarray as xr

from solarprep.dataset import UNITS_ASTROPY, as_seconds, cf_decode, cf_encode, cf_units
from solarprep.errors import QuantityError


@pytest.mark.parametrize(("value", "seconds"), [
    (8 * u.h, 28800.0), ("8h", 28800.0), ("12min", 720.0), ("12m", 720.0), ("45s", 45.0),
    ("1d", 86400.0), ("100ms", 0.1), ("1h30min", 5400.0), ("2 ks", 2000.0), ("6 hours", 21600.0),
    (datetime.timedelta(minutes=2), 120.0), (np.timedelta64(3, "m"), 180.0), (45, 45.0),
    (np.float32(1.5), 1.5), (None, None),
])
def test_as_seconds_reads_every_form(value, seconds):
    assert as_seconds(value) == seconds


def test_as_seconds_numbers_have_the_arguments_unit():
    assert as_seconds(4, "rise", unit="min") == 240.0
    assert as_seconds(2, "tau", unit="h") == 7200.0
    assert as_seconds(4 * u.min, "rise", unit="h") == 240.0      # a Quantity keeps its own


@pytest.mark.parametrize(("value", "match"), [
    (3 * u.m, r"window=3.0 m: m is not a unit of time; give a duration such as window=8 \* u.h"),
    ("3 km", r"window='3 km': 'km' is not a unit of time"),
    ("eight hours", r"window='eight hours' is not a duration"),
    (-1, r"window=-1 must be a finite, non-negative duration"),
    (float("inf"), r"window=inf must be a finite"),
    (True, r"window=True \(bool\) is not a duration"),
    ([1, 2] * u.s, r"one duration, not an array"),
])
def test_as_seconds_errors_name_the_argument(value, match):
    with pytest.raises(QuantityError, match=match):
        as_seconds(value, "window")


def test_as_seconds_zero_only_where_allowed():
    assert as_seconds("0min", "before") == 0.0
    with pytest.raises(QuantityError, match="positive duration"):
        as_seconds(0, "cadence", allow_zero=False)


#: astropy units the packages write (in memory) → their CF/UDUNITS-2 spelling.
UNITS = {"W / m2": "W m-2", "m / s": "m s-1", "m2 / s2": "m2 s-2", "m2 / s": "m2 s-1",
         "G": "gauss", "Mx": "maxwell", "deg": "degree", "arcsec": "arcsec", "s": "s",
         "m": "m", "h": "h", "sr": "sr", "Mm2": "Mm2", "": "1", "DN": "count",
         "DN / s": "count s-1", "DN / (s sr)": "count s-1 sr-1", "electron / s": "count s-1",
         "pix": "1", "arcsec / pix": "arcsec", "1e-06 m": "1e-06 m"}


@pytest.mark.parametrize("astropy_string", sorted(UNITS))
def test_cf_units_are_udunits2_and_astropy_reads_them(astropy_string):
    text = cf_units(astropy_string)
    assert text == UNITS[astropy_string]
    u.Unit(text)                                           # astropy reads the CF string
    cf_units_lib = pytest.importorskip("cf_units")        # the UDUNITS-2 library itself
    cf_units_lib.Unit(text)
    if u.Unit(text) == u.Unit(astropy_string):             # UDUNITS-2 means the same unit
        si = cf_units(u.Unit(text).decompose())
        assert cf_units_lib.Unit(text).convert(1.0, cf_units_lib.Unit(si)) == \
            pytest.approx(1.0, rel=1e-5)
    else:                                                  # kept beside it for astropy
        assert u.Unit(astropy_string).to_string() in ("DN", "DN / s", "DN / (s sr)",
                                                      "electron / s", "pix", "arcsec / pix")


def test_cf_units_refuses_what_astropy_cannot_read():
    with pytest.raises(QuantityError, match="cannot be read by astropy"):
        cf_units("furlongs per fortnight")


def _image():
    t = np.datetime64("2024-01-01", "ns") + np.arange(2) * np.timedelta64(45, "s")
    return xr.Dataset(
        {"euv171": (("time", "y", "x"), np.ones((2, 3, 4), np.float32),
                    {"units": "DN / s", "long_name": "AIA 171"}),
         "blos": (("time", "y", "x"), np.ones((2, 3, 4), np.float32),
                  {"units": "G", "long_name": "B"})},
        coords={"time": t, "y": ("y", np.arange(3.0), {"units": "arcsec"}),
                "x": ("x", np.arange(4.0), {"units": "arcsec"}),
                "crpix1": ("time", [1.0, 1.0], {"units": "pix"}),
                "cdelt1": ("time", [0.6, 0.6], {"units": "arcsec / pix"})})


def test_cf_encode_and_decode_are_inverse():
    ds = _image()
    enc = cf_encode(ds)
    assert enc["euv171"].attrs == {"units": "count s-1", UNITS_ASTROPY: "DN / s",
                                   "long_name": "AIA 171"}
    assert enc["blos"].attrs["units"] == "gauss" and UNITS_ASTROPY not in enc["blos"].attrs
    assert enc["crpix1"].attrs == {"units": "1", UNITS_ASTROPY: "pix"}
    assert enc["time"].attrs == {"standard_name": "time", "axis": "T"}
    assert enc["x"].attrs["axis"] == "X" and enc["y"].attrs["axis"] == "Y"
    assert ds["euv171"].attrs["units"] == "DN / s"                 # the input is not changed
    xr.testing.assert_identical(cf_decode(enc), ds)
    xr.testing.assert_identical(cf_decode(cf_encode(enc)), ds)    # encoding twice is once


def test_files_are_cf_and_read_back_as_in_memory(tmp_path):
    import solarprep
    from solarprep.io.storage import save

    pytest.importorskip("cf_xarray")
    ds = _image()
    path = save(ds, tmp_path / "x.nc", check=False)
    with xr.open_dataset(path, engine="h5netcdf") as raw:
        assert raw.cf.axes == {"T": ["time"], "X": ["x"], "Y": ["y"]}
        assert raw.cf.standard_names == {"time": ["time"]}
        assert raw["euv171"].attrs["units"] == "count s-1"
    xr.testing.assert_identical(solarprep.open_dataset(path), ds)


def test_maps_from_a_file_read_by_plain_xarray_keep_their_units(tmp_path, real_data):
    import solarprep

    ds = solarprep.load(real_data / "sdo" / "hmi_ic_20140301T0000_fulldisk_100px.fits")
    path = solarprep.save(ds, tmp_path / "ic.nc")
    with xr.open_dataset(path, engine="h5netcdf") as raw:
        assert raw["intensity"].attrs["units"] == "count s-1"
        (raw_map,) = solarprep.to_maps(raw.load())
    (mem_map,) = solarprep.to_maps(ds)
    assert raw_map.unit == mem_map.unit == u.DN / u.s
