"""solarprep.io.maps.to_maps: Map -> load -> to_maps gives back the same data, times and WCS."""
import astropy.units as u
import numpy as np
import pytest
import sunpy.map
import xarray as xr
from astropy.time import TimeDelta
from sunpy.map.maputils import all_coordinates_from_map
from sunpy.time import parse_time

from solarprep import backend
from solarprep.io.loader import load
from solarprep.io.maps import to_maps

ROUND_TRIP = ["aia171_full", "hmi_ic", "hmi_blos", "euvi_a", "euvi_b"]


@pytest.mark.parametrize("key", ROUND_TRIP)
def test_map_load_to_maps_round_trip(real_fits, key):
    m = sunpy.map.Map(real_fits[key])
    (m2,) = to_maps(load(m, north_up=False))
    assert type(m2) is type(m)
    assert m2.data.dtype == np.float32
    np.testing.assert_array_equal(m2.data, np.asarray(m.data).astype(np.float32))
    assert m2.reference_date == m.reference_date
    assert m2.date == m.date
    o1, o2 = m.observer_coordinate, m2.observer_coordinate
    assert abs(o1.radius - o2.radius) < 1 * u.mm
    assert abs((o1.lon - o2.lon).wrap_at(180 * u.deg)) < 1e-9 * u.deg
    assert abs(o1.lat - o2.lat) < 1e-9 * u.deg
    assert o1.obstime == o2.obstime
    c1, c2 = all_coordinates_from_map(m), all_coordinates_from_map(m2)
    assert np.abs(c1.Tx - c2.Tx).max() < 1e-6 * u.arcsec
    assert np.abs(c1.Ty - c2.Ty).max() < 1e-6 * u.arcsec
    assert m2.unit == m.unit
    assert m2.wavelength == m.wavelength
    assert m2.observatory == m.observatory
    assert m2.instrument == m.instrument and m2.detector == m.detector
    assert m2.exposure_time == m.exposure_time
    assert m2.rsun_obs == m.rsun_obs
    assert m2.rsun_meters == m.rsun_meters


def test_hmi_stays_rotated_by_180_degrees(real_fits):
    (m2,) = to_maps(load(real_fits["hmi_blos"], north_up=False))
    assert abs(m2.rotation_matrix[0, 0] + 1) < 1e-5  # cos(179.93 deg)
    assert m2.meta["t_obs"] == "2011.02.14_20:35:09.000000_TAI"


def test_north_up_round_trip_keeps_every_pixel_on_the_sky(real_fits):
    """Turned on load: the rebuilt Map has the turned pixels, each at its original position."""
    m = sunpy.map.Map(real_fits["hmi_blos"])
    (m2,) = to_maps(load(m))
    assert abs(m2.rotation_matrix[0, 0] - 1) < 1e-5
    np.testing.assert_array_equal(m2.data, np.asarray(m.data)[::-1, ::-1].astype(np.float32))
    c1, c2 = all_coordinates_from_map(m), all_coordinates_from_map(m2)
    assert np.abs(c1.Tx[::-1, ::-1] - c2.Tx).max() < 1e-6 * u.arcsec
    assert np.abs(c1.Ty[::-1, ::-1] - c2.Ty).max() < 1e-6 * u.arcsec


def test_several_frames_in_time_order(real_fits):
    aia = sunpy.map.Map(real_fits["aia171_full"])
    maps = []
    for k in (2, 0, 1):
        meta = aia.meta.copy()
        for key in ("date-obs", "t_obs"):
            meta[key] = (parse_time(meta[key]) + TimeDelta(30 * k, format="sec")).utc.isot
        maps.append(sunpy.map.Map(aia.data + k, meta))
    ds = load(maps)
    out = to_maps(ds)
    assert len(out) == 3
    for k, m2 in enumerate(out):
        assert abs(m2.reference_date - aia.reference_date - 30 * k * u.s) < 1 * u.ns
        np.testing.assert_array_equal(m2.data, (aia.data + k).astype(np.float32))
    back = load(out)
    for name in ds.coords:
        xr.testing.assert_identical(back[name], ds[name])
    xr.testing.assert_identical(back.euv171, ds.euv171)


def test_variable_choice(real_fits):
    ds = load(real_fits["aia171_full"])
    two = ds.assign(ratio=ds.euv171 / 2)
    two.ratio.attrs.update(units="DN", long_name="half")
    with pytest.raises(ValueError, match=r"\['euv171', 'ratio'\]; pass name="):
        to_maps(two)
    (m,) = to_maps(two, name="ratio")
    np.testing.assert_array_equal(m.data, ds.euv171.values[0] / 2)
    with pytest.raises(ValueError, match="'blos' is not a data variable"):
        to_maps(ds, name="blos")


def test_unknown_exptime_and_wavelength_are_left_out(real_fits):
    ds = load(real_fits["hmi_ic"])
    (m,) = to_maps(ds)
    assert "exptime" not in m.meta and m.exposure_time is None
    ds.attrs["wavelength"] = float("nan")
    (m,) = to_maps(ds)
    assert "wavelnth" not in m.meta


@pytest.mark.gpu
def test_cupy_data(real_fits):
    ds = load(real_fits["euvi_a"])
    (m,) = to_maps(backend.to_device(ds, "cuda"))
    assert isinstance(m.data, np.ndarray)
    np.testing.assert_array_equal(m.data, ds.euv171.values[0])
