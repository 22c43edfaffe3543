"""solarprep.io.loader.load: real files, stacks, defaults and every documented error."""
import logging
import re

import astropy.units as u
import numpy as np
import pytest
import sunpy.map
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import TimeDelta
from sunpy.coordinates import HeliographicStonyhurst, get_earth
from sunpy.time import parse_time

from solarprep.coordinates.geometry import FrameGeometry
from solarprep.dataset import FRAME_COORDS, GEOMETRY_COORDS, validate
from solarprep.io.loader import SolarDataError, load

EXPECTED = {  # short name: (variable, units, long_name)
    "aia171_full": ("euv171", "DN", "SDO/AIA 171 Å intensity"),
    "aia171_cutout": ("euv171", "DN", "SDO/AIA 171 Å intensity"),
    "hmi_blos": ("blos", "G", "SDO/HMI line-of-sight magnetic field"),
    "hmi_ic": ("intensity", "DN / s", "SDO/HMI continuum intensity"),
    "euvi_a": ("euv171", "DN", "STEREO A/EUVI 171 Å intensity"),
    "euvi_b": ("euv171", "DN", "STEREO B/EUVI 171 Å intensity"),
}

_OBSERVER_KEYS = re.compile(r"^(hgln|hglt|dsun|crln|crlt|hae[xyz]|hee[xyz]|heq[xyz]|hci[xyz])_obs$")


@pytest.fixture(scope="module")
def aia(real_fits):
    return sunpy.map.Map(real_fits["aia171_full"])


def shifted(smap, seconds, data=None, **changes):
    """A copy of ``smap`` observed ``seconds`` later (every date keyword moved), with changes."""
    meta = smap.meta.copy()
    for key in ("date-obs", "t_obs", "date-avg", "date-beg", "date-end"):
        if key in meta:
            meta[key] = (parse_time(meta[key]) + TimeDelta(seconds, format="sec")).utc.isot
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    return sunpy.map.Map(smap.data.copy() if data is None else data, meta)


def write_fits(path, smap):
    smap.save(str(path), overwrite=True)
    return path


# --------------------------------------------------------------------------- real files


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_real_file_loads(real_fits, key):
    path = real_fits[key]
    smap = sunpy.map.Map(path)
    ds = load(path, north_up=False)
    validate(ds)
    var, units, long_name = EXPECTED[key]
    assert list(ds.data_vars) == [var]
    da = ds[var]
    assert da.dims == ("time", "y", "x") and da.dtype == np.float32
    assert da.attrs["long_name"] == long_name
    assert da.attrs["units"] == units
    assert u.Unit(da.attrs["units"], parse_strict="raise") == u.Unit(units)
    np.testing.assert_array_equal(da.values[0], np.asarray(smap.data).astype(np.float32))
    geometry = FrameGeometry.from_map(smap)
    for name in GEOMETRY_COORDS:
        assert ds[name].dtype == np.float64
        assert ds[name].values[0] == getattr(geometry, name), name
    for name, (units_attr, long_name_attr) in FRAME_COORDS.items():
        assert ds[name].dims == ("time",)
        assert ds[name].attrs["long_name"] == long_name_attr
        assert ds[name].attrs.get("units", "") == units_attr
    assert ds.time.values[0] == np.datetime64(smap.reference_date.utc.datetime64, "ns")
    assert ds.date_obs.values[0] == np.datetime64(smap.date.utc.datetime64, "ns")
    assert ds.rsun_obs.values[0] == smap.rsun_obs.to_value("arcsec")
    assert ds.attrs["rsun_ref"] == smap.rsun_meters.to_value("m")
    assert ds.attrs["source"] == str(path)
    assert "load: 1 file from" in ds.attrs["history"]


def test_global_attrs_and_pixel_axes(real_fits):
    ds = load(real_fits["euvi_a"])
    assert ds.attrs["Conventions"] == "CF-1.11"
    assert ds.attrs["observatory"] == "STEREO A"
    assert ds.attrs["instrument"] == "SECCHI" and ds.attrs["detector"] == "EUVI"
    assert ds.attrs["wavelength"] == 171.0 and ds.attrs["wavelength_unit"] == "Angstrom"
    assert (ds.attrs["ctype1"], ds.attrs["ctype2"]) == ("HPLN-TAN", "HPLT-TAN")
    assert ds.attrs["lonpole"] == 180.0 and ds.attrs["rsun_ref"] == 695_700_000.0
    assert ds.attrs["solarprep_version"] == "0.1.0"
    g = {k: float(ds[k].values[0]) for k in GEOMETRY_COORDS}
    np.testing.assert_allclose(ds.x.values[[0, 5]],
                               g["crval1"] + g["cdelt1"] * (np.array([0, 5]) + 1 - g["crpix1"]))
    np.testing.assert_allclose(ds.y.values[[0, 7]],
                               g["crval2"] + g["cdelt2"] * (np.array([0, 7]) + 1 - g["crpix2"]))
    assert ds.x.attrs["units"] == "arcsec" and ds.y.attrs["units"] == "arcsec"
    assert ds.exptime.values[0] == 16.0074


def test_times_follow_reference_date_conventions(real_fits):
    # AIA: T_OBS (UTC); HMI: T_OBS in TAI, stored as UTC (34 s earlier in 2011); EUVI: DATE-AVG.
    assert load(real_fits["aia171_full"]).time.values[0] == np.datetime64(
        "2011-02-15T00:00:01.340", "ns")
    hmi = load(real_fits["hmi_blos"])
    assert hmi.time.values[0] == np.datetime64("2011-02-14T20:34:35", "ns")
    assert hmi.date_obs.values[0] == np.datetime64("2011-02-14T20:34:12.200", "ns")
    assert np.isnan(hmi.exptime.values[0])
    assert load(real_fits["euvi_b"]).time.values[0] == np.datetime64(
        "2011-02-15T00:14:41.651", "ns")


@pytest.mark.parametrize("key", ["hmi_blos", "hmi_ic"])
def test_hmi_keeps_its_180_degree_rotation(real_fits, key):
    ds = load(real_fits[key], north_up=False)
    assert abs(float(ds.crota2.values[0]) - 179.93) < 0.01
    raw = fits.getdata(real_fits[key])
    np.testing.assert_array_equal(ds[EXPECTED[key][0]].values[0], raw.astype(np.float32))


@pytest.mark.parametrize("key", ["hmi_blos", "hmi_ic"])
def test_hmi_is_turned_north_up_by_default(real_fits, key):
    kept = load(real_fits[key], north_up=False)
    ds = load(real_fits[key])
    var = EXPECTED[key][0]
    assert abs(float(ds.crota2.values[0]) + 0.07) < 0.01
    np.testing.assert_array_equal(ds[var].values[0], kept[var].values[0][::-1, ::-1])
    ny, nx = ds[var].shape[1:]
    assert float(ds.crpix1[0]) == nx + 1 - float(kept.crpix1[0])
    assert float(ds.crpix2[0]) == ny + 1 - float(kept.crpix2[0])


def test_rice_compressed_file_reads_hdu_1(real_fits):
    path = real_fits["aia171_cutout"]
    with fits.open(path) as hdul:
        assert hdul[0].data is None
        assert isinstance(hdul[1], fits.CompImageHDU)
        expected = hdul[1].data.astype(np.float32)
    ds = load(path)
    assert ds.euv171.shape == (1, 705, 769)
    np.testing.assert_array_equal(ds.euv171.values[0], expected)


# --------------------------------------------------------------------------- stacks


def test_list_of_maps_is_sorted_by_time(aia):
    maps = [shifted(aia, 1200, aia.data * 3), shifted(aia, 0, aia.data * 1),
            shifted(aia, 600, aia.data * 2)]
    ds = load(maps)
    assert ds.sizes["time"] == 3
    t0 = np.datetime64("2011-02-15T00:00:01.340", "ns")
    expected = t0 + np.array([0, 600, 1200]).astype("timedelta64[s]")
    np.testing.assert_array_equal(ds.time.values, expected)
    np.testing.assert_array_equal(ds.date_obs.values, expected - np.timedelta64(1, "s"))
    for k, factor in enumerate((1, 2, 3)):
        np.testing.assert_array_equal(ds.euv171.values[k], (aia.data * factor).astype(np.float32))
    assert ds.attrs["source"] == "sunpy.map.Map objects"
    assert "load: 3 sunpy Maps" in ds.attrs["history"]


def test_map_sequence_and_single_map(aia):
    seq = sunpy.map.Map([shifted(aia, 60), aia], sequence=True)
    ds = load(seq)
    assert ds.sizes["time"] == 2 and ds.time.values[0] < ds.time.values[1]
    assert load(aia).sizes["time"] == 1


def test_glob_and_list_of_paths_are_sorted_by_time(tmp_path, aia):
    # Alphabetical order differs from time order.
    write_fits(tmp_path / "a.fits", shifted(aia, 120, aia.data + 2))
    write_fits(tmp_path / "b.fits", shifted(aia, 0, aia.data + 0))
    write_fits(tmp_path / "c.fits", shifted(aia, 60, aia.data + 1))
    ds = load(str(tmp_path / "*.fits"), progress=False)
    assert ds.sizes["time"] == 3
    assert np.all(np.diff(ds.time.values) == np.timedelta64(60, "s"))
    for k in range(3):
        np.testing.assert_array_equal(ds.euv171.values[k], (aia.data + k).astype(np.float32))
    assert ds.attrs["source"] == ", ".join(str(tmp_path / n) for n in ("a.fits", "b.fits",
                                                                      "c.fits"))
    assert f"load: 3 files from {tmp_path}" in ds.attrs["history"]
    listed = load([tmp_path / "c.fits", str(tmp_path / "a.fits")])
    np.testing.assert_array_equal(listed.euv171.values[1], (aia.data + 2).astype(np.float32))


def test_progress_bar_over_many_files(tmp_path, aia, capsys):
    for k in range(5):
        write_fits(tmp_path / f"f{k}.fits", shifted(aia, 60 * k))
    ds = load(str(tmp_path / "f*.fits"), progress=True)
    assert ds.sizes["time"] == 5
    assert "solarprep.load" in capsys.readouterr().err


def test_mismatched_shapes(aia):
    small = sunpy.map.Map(aia.data[:100, :], aia.meta.copy())
    with pytest.raises(SolarDataError, match=r"differ in shape.*\(128, 128\).*\(100, 128\)"):
        load([aia, shifted(small, 60)])


def test_mixing_instruments_is_an_error(real_fits):
    with pytest.raises(SolarDataError, match="mix instruments or wavelengths.*load each"):
        load([real_fits["aia171_full"], real_fits["euvi_a"]])


def test_dn_and_dn_per_second_are_converted(aia):
    exptime = aia.meta["exptime"]
    in_dn = shifted(aia, 0)
    per_s = shifted(aia, 60, aia.data / exptime, bunit="DN/s")
    ds = load([per_s, in_dn])
    assert ds.euv171.attrs["units"] == "DN / s"
    np.testing.assert_allclose(ds.euv171.values[0], aia.data / exptime, rtol=1e-6)
    assert not np.allclose(ds.euv171.values[0], aia.data, rtol=1e-3)
    np.testing.assert_array_equal(ds.euv171.values[1], (aia.data / exptime).astype(np.float32))
    assert "divided 1 frame(s) in DN by their EXPTIME" in ds.attrs["history"]


def test_dn_frame_without_exptime_cannot_be_converted(aia):
    per_s = shifted(aia, 60, aia.data / 2, bunit="DN/s")
    with pytest.raises(SolarDataError, match="no usable EXPTIME"):
        load([shifted(aia, 0, exptime=None), per_s])


def test_other_unit_mixes_are_errors(real_fits):
    euvi = sunpy.map.Map(real_fits["euvi_a"])
    with pytest.raises(SolarDataError, match="mix units: .* 'DN' .* 'ct'"):
        load([euvi, shifted(euvi, 60, bunit="ct")])


# --------------------------------------------------------------------------- defaults and options


def test_missing_observer_defaults_to_earth(aia, caplog):
    meta = {k: v for k, v in aia.meta.items() if not _OBSERVER_KEYS.match(k)}
    bare = sunpy.map.Map(aia.data, meta)
    with caplog.at_level(logging.WARNING, logger="solarprep.io.loader"):
        ds = load(bare)
    assert "no observer position" in caplog.text
    earth = get_earth(aia.reference_date)
    assert abs(ds.dsun_obs.values[0] - earth.radius.to_value("m")) < 1e-3
    assert abs(ds.hgln_obs.values[0]) < 1e-9
    assert abs(ds.hglt_obs.values[0] - earth.lat.to_value("deg")) < 1e-9
    assert "observer assumed at Earth's centre for 1 frame(s)" in ds.attrs["history"]
    # the header's own observer is not the same as Earth's centre (SDO is in orbit)
    assert ds.dsun_obs.values[0] != load(aia).dsun_obs.values[0]


def test_explicit_earth_observer_matches_the_default(aia):
    meta = {k: v for k, v in aia.meta.items() if not _OBSERVER_KEYS.match(k)}
    bare = sunpy.map.Map(aia.data, meta)
    default, earth = load(bare), load(bare, observer="earth")
    for name in ("dsun_obs", "hgln_obs", "hglt_obs"):
        assert default[name].values[0] == earth[name].values[0]


def test_missing_rsun_ref_uses_sunpy_default(real_fits, aia):
    # No RSUN_REF and no RSUN_OBS (EUVI keeps its radius in RSUN): IAU 2015 nominal radius.
    euvi = sunpy.map.Map(real_fits["euvi_a"])
    assert load(shifted(euvi, 0, rsun_ref=None)).attrs["rsun_ref"] == 695_700_000.0
    # No RSUN_REF but RSUN_OBS: sunpy derives the radius from RSUN_OBS and DSUN_OBS.
    stripped = shifted(aia, 0, rsun_ref=None)
    rsun_ref = load(stripped).attrs["rsun_ref"]
    assert rsun_ref == stripped.rsun_meters.to_value("m")
    assert rsun_ref != 696_000_000.0 and abs(rsun_ref - 696_000_000.0) < 1e6


def test_explicit_observer_coordinate(aia):
    meta = {k: v for k, v in aia.meta.items() if not _OBSERVER_KEYS.match(k)}
    observer = SkyCoord(10 * u.deg, 5 * u.deg, 1.2e11 * u.m, frame=HeliographicStonyhurst,
                        obstime=aia.reference_date)
    ds = load(sunpy.map.Map(aia.data, meta), observer=observer)
    assert abs(ds.hgln_obs.values[0] - 10) < 1e-9 and abs(ds.hglt_obs.values[0] - 5) < 1e-9
    assert abs(ds.dsun_obs.values[0] - 1.2e11) < 1e-3
    with pytest.raises(TypeError, match="observer='mars' is not supported"):
        load(sunpy.map.Map(aia.data, meta), observer="mars")


def test_missing_bunit_is_dimensionless_with_warning(real_fits, caplog):
    euvi = sunpy.map.Map(real_fits["euvi_a"])
    with caplog.at_level(logging.WARNING, logger="solarprep.io.loader"):
        ds = load(shifted(euvi, 0, bunit=None))
    assert ds.euv171.attrs["units"] == ""
    assert "no BUNIT" in caplog.text


def test_unit_and_name_overrides(aia):
    ds = load(aia, unit="DN / s", name="aia171")
    assert list(ds.data_vars) == ["aia171"]
    assert ds.aia171.attrs["units"] == "DN / s"
    with pytest.raises(SolarDataError, match="name='time' is the name of a coordinate"):
        load(aia, name="time")
    with pytest.raises(SolarDataError, match="unit='bogons' is not a unit"):
        load(aia, unit="bogons")


def test_integer_blank_pixels_become_nan(aia):
    raw = np.arange(128 * 128, dtype=np.int16).reshape(128, 128)
    raw[3, 4] = -32768
    ds = load(sunpy.map.Map(raw, {**aia.meta, "blank": -32768}))
    assert np.isnan(ds.euv171.values[0, 3, 4])
    assert np.isfinite(np.delete(ds.euv171.values[0].ravel(), 3 * 128 + 4)).all()
    assert ds.euv171.values[0, 3, 5] == raw[3, 5]


def test_nan_pixels_are_kept(aia):
    data = aia.data.copy()
    data[:10] = np.nan
    values = load(sunpy.map.Map(data, aia.meta)).euv171.values[0]
    assert np.isnan(values[:10]).all() and np.isfinite(values[10:]).all()


# --------------------------------------------------------------------------- errors


def test_nonexistent_path():
    with pytest.raises(SolarDataError, match=r"/nonexistent/aia\.fits: no such file"):
        load("/nonexistent/aia.fits")


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(SolarDataError, match="pattern matches no file"):
        load(str(tmp_path / "*.fits"))


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(SolarDataError, match=r"is a folder.*\*\.fits"):
        load(tmp_path)


def test_truncated_fits(tmp_path, real_fits):
    bad = tmp_path / "truncated.fits"
    bad.write_bytes(real_fits["aia171_full"].read_bytes()[:3000])
    with pytest.raises(SolarDataError, match=re.escape(str(bad)) + ".*truncated, corrupt"):
        load(bad)


def test_not_a_fits_file(tmp_path):
    bad = tmp_path / "notes.fits"
    bad.write_text("not a FITS file\n" * 200)
    with pytest.raises(SolarDataError, match=re.escape(str(bad)) + ": cannot be read"):
        load(bad)


def test_non_solar_wcs(tmp_path, aia):
    header = {**aia.meta, "ctype1": "RA---TAN", "ctype2": "DEC--TAN", "cunit1": "deg",
              "cunit2": "deg", "cdelt1": 0.005, "cdelt2": 0.005, "crval1": 10.0, "crval2": 20.0}
    path = write_fits(tmp_path / "sky.fits", sunpy.map.Map(aia.data, header))
    with pytest.raises(SolarDataError, match=re.escape(str(path)) + ".*not helioprojective"):
        load(path)


def test_all_nan_image(aia):
    with pytest.raises(SolarDataError, match="every pixel is NaN"):
        load(sunpy.map.Map(np.full((8, 8), np.nan), aia.meta))


def test_unparseable_bunit_names_file_and_value(tmp_path, aia):
    path = write_fits(tmp_path / "odd.fits",
                      shifted(aia, 0, bunit="furlongs per fortnight squiggle"))
    with pytest.raises(SolarDataError, match=re.escape(str(path)) + ".*BUNIT='furlongs per "
                       "fortnight squiggle'.*unit="):
        load(path)
    assert load(path, unit="DN").euv171.attrs["units"] == "DN"


def test_unparseable_bunit_on_hmi(tmp_path, real_fits):
    # sunpy's HMIMap parses BUNIT strictly while it is built: the file cannot become a Map.
    header = fits.getheader(real_fits["hmi_ic"])
    header["BUNIT"] = "furlongs per fortnight squiggle"
    path = tmp_path / "hmi.fits"
    fits.writeto(path, fits.getdata(real_fits["hmi_ic"]), header)
    with pytest.raises(SolarDataError, match=re.escape(str(path)) + ".*BUNIT='furlongs per "
                       "fortnight squiggle'"):
        load(path)
    ds = load(path, unit="DN / s", north_up=False)
    assert ds.intensity.attrs["units"] == "DN / s"
    np.testing.assert_array_equal(ds.intensity.values[0],
                                  fits.getdata(real_fits["hmi_ic"]).astype(np.float32))


def test_missing_date_obs(aia):
    with pytest.raises(SolarDataError, match="no DATE-OBS"):
        load(shifted(aia, 0, **{"date-obs": None}))


@pytest.mark.parametrize("key", ["ctype1", "cdelt2", "crpix1"])
def test_missing_required_keys(aia, key):
    with pytest.raises(SolarDataError, match=f"header lacks {key.upper()}"):
        load(shifted(aia, 0, **{key: None}))


def test_data_cube(tmp_path, real_fits):
    path = tmp_path / "cube.fits"
    fits.writeto(path, np.zeros((3, 8, 8)), fits.getheader(real_fits["aia171_full"]))
    with pytest.raises(SolarDataError, match=re.escape(str(path)) + ": is a data cube.*NAXIS3=3"):
        load(path)


def test_unsupported_sources():
    with pytest.raises(TypeError, match="cannot read a int"):
        load(42)
    with pytest.raises(SolarDataError, match="empty list"):
        load([])
