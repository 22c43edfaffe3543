"""solarprep.lightcurves.goes: every real GOES/XRS file kind, the SWPC scale, classes, events and
image labels."""
import numpy as np
import pandas as pd
import pytest

from solarprep import synthetic
from solarprep.dataset import validate
from solarprep.lightcurves import goes


@pytest.fixture(scope="module")
def goes_dir(real_data):
    path = real_data / "goes"
    if not path.is_dir():
        pytest.skip(f"no GOES sample folder at {path}")
    return path


def _one_event(events, day, hhmm):
    target = np.datetime64(f"{day}T{hhmm}")
    k = int(np.argmin(np.abs(events.peak_time.values - target)))
    return events.isel(event=k)


def test_sdac_fits_m25_20110607(goes_dir):
    ds = goes.read_xrs(goes_dir / "go1520110607.fits")
    validate(ds)
    assert ds.attrs["flux_scale"] == "swpc"
    assert ds.xrsb.dtype == np.float32 and ds.xrsb.attrs["units"] == "W / m2"
    assert "long_name" in ds.xrsa.attrs and ds.xrsb.attrs["flux_scale"] == "swpc"
    ev = goes.detect_flares(ds)
    assert list(ev.goes_class.values) == ["M2.5"]
    m25 = ev.isel(event=0)
    assert pd.Timestamp(m25.peak_time.values).strftime("%H:%M") == "06:41"
    # NOAA event list: start 06:16, end 06:59
    assert pd.Timestamp(m25.start_time.values).strftime("%H:%M") == "06:16"
    assert pd.Timestamp(m25.end_time.values).strftime("%H:%M") == "06:59"
    assert int(m25.class_index) == 3


def test_sdac_fits_gz_c34_20120601(goes_dir):
    ds = goes.read_xrs(goes_dir / "go1520120601.fits.gz")
    ev = goes.detect_flares(ds)
    c34 = _one_event(ev, "2012-06-01", "22:42")
    assert str(c34.goes_class.values) == "C3.4"
    assert pd.Timestamp(c34.peak_time.values).strftime("%H:%M") == "22:42"
    assert str(ev.goes_class.values[np.argmax(ev.peak_flux.values)]) == "C3.4"


def test_reprocessed_x82_scale(goes_dir):
    ds = goes.read_xrs(goes_dir / "sci_gxrs-l2-irrad_g15_d20170910_v0-0-0_truncated.nc")
    assert ds.attrs["flux_scale"] == "true"
    true_ev = goes.detect_flares(ds, scale="true")
    swpc_ev = goes.detect_flares(ds, scale="swpc")
    assert str(true_ev.goes_class.values[0]).startswith("X1")          # X11.9 unscaled
    assert goes.class_to_flux(str(true_ev.goes_class.values[0])) == pytest.approx(1.19e-3, rel=0.02)
    scaled = goes.class_to_flux(str(swpc_ev.goes_class.values[0]))
    # NOAA's operational X8.2; reprocessed × 0.7 gives X8.3 (recalibration, see docs/goes.md)
    assert scaled == pytest.approx(8.2e-4, abs=0.15e-4)
    assert pd.Timestamp(swpc_ev.peak_time.values[0]).strftime("%H:%M") == "16:06"
    # to_scale round trip
    back = goes.to_scale(goes.to_scale(ds, "swpc"), "true")
    np.testing.assert_allclose(back.xrsb.values, ds.xrsb.values, rtol=1e-6)
    assert float(goes.to_scale(ds, "swpc").xrsa.max()) == pytest.approx(
        0.85 * float(ds.xrsa.max()), rel=1e-6)


def test_goesr_avg1m_and_mixed_scales(goes_dir):
    g16 = goes_dir / "sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc"
    ds = goes.read_xrs(g16)
    assert ds.attrs["flux_scale"] == "true" and "GOES-16" in ds.attrs["platform"]
    assert ds.sizes["time"] == 100
    assert float(ds.xrsb.max()) < 1e-7                     # quiet Sun: class A
    with pytest.raises(goes.GoesDataError, match="different flux scales"):
        goes.read_xrs([goes_dir / "go1520110607.fits", g16])
    both = goes.read_xrs([goes_dir / "go1520110607.fits", g16], scale="swpc")
    assert both.attrs["flux_scale"] == "swpc"
    assert np.all(np.diff(both.time.values) > np.timedelta64(0, "ns"))
    assert float(both.xrsb.sel(time="2021-01-01").max()) == pytest.approx(
        0.7 * float(ds.xrsb.max()), rel=1e-5)


def test_read_errors(tmp_path):
    with pytest.raises(goes.GoesDataError, match="does not exist"):
        goes.read_xrs(tmp_path / "go1520110607.fits")
    with pytest.raises(goes.GoesDataError, match="no GOES/XRS file matches"):
        goes.read_xrs(str(tmp_path / "*.fits"))
    with pytest.raises(goes.GoesDataError, match="scale must be"):
        goes.read_xrs(tmp_path, scale="bogus")


def test_classes():
    assert goes.flare_class(2.5e-5) == "M2.5"
    assert goes.flare_class(9.999e-6) == "M1.0"
    assert goes.class_to_flux("x8.2") == pytest.approx(8.2e-4)
    assert goes.class_index("M2.5") == 3
    np.testing.assert_array_equal(goes.class_index(np.array([5e-9, 5e-8, 5e-7, 5e-6, 5e-5, 2e-3])),
                                  [0, 0, 1, 2, 3, 4])
    assert goes.class_letter(4) == "X" and goes.class_letter(3e-6) == "C"
    with pytest.raises(ValueError, match="not a GOES class"):
        goes.class_index("Q1")
    # the synthetic module uses the same functions (one definition)
    assert synthetic.flare_class is goes.flare_class
    assert synthetic.class_to_flux is goes.class_to_flux


def test_synthetic_events_and_labels():
    flares = [("2024-05-01T02:00", "C5.0"), ("2024-05-01T06:00", "X2.0")]
    xrs = synthetic.goes_xrs("2024-05-01", "2024-05-01T10:00", 10.0, flares=flares,
                             background="A5", seed=1)
    xrs.attrs["flux_scale"] = "swpc"
    ev = goes.detect_flares(xrs, min_class="B1")
    assert [c[0] for c in ev.goes_class.values] == ["C", "X"]
    # the 1-minute average of a 4-min-rise flare peaks within 3 % of the class flux
    np.testing.assert_allclose(ev.peak_flux.values, [5e-6, 2e-4], rtol=0.03)
    for got, want in zip(ev.peak_time.values, ["2024-05-01T02:00", "2024-05-01T06:00"]):
        assert abs(got - np.datetime64(want)) <= np.timedelta64(60, "s")
    times = np.array(["2024-05-01T00:30", "2024-05-01T02:10", "2024-05-01T06:20",
                      "2024-05-01T09:50", "2024-05-02T12:00"], dtype="datetime64[ns]")
    lab = goes.label_times(times, xrs, before="15min", after="15min")
    np.testing.assert_array_equal(lab.label.values, [0, 2, 4, 0, -1])
    assert lab.goes_class.values[2].startswith("X") and lab.goes_class.values[4] == ""
    # a wider window reaches the X flare from an hour earlier
    wide = goes.label_times(times[:1] + np.timedelta64(300, "m"), xrs, before="0min", after="90min")
    assert int(wide.label.values[0]) == 4


def test_durations_as_quantities_and_the_deprecated_rise_minutes():
    import datetime

    import astropy.units as u

    from solarprep.errors import QuantityError, SolarprepDeprecationWarning

    flares = [("2024-05-01T02:00", "C5.0"), ("2024-05-01T06:00", "X2.0")]
    xrs = synthetic.goes_xrs("2024-05-01", "2024-05-01T10:00", 10 * u.s, flares=flares,
                             background="A5", seed=1)
    xrs.attrs["flux_scale"] = "swpc"
    ref = goes.detect_flares(xrs, min_class="B1")
    assert ref.attrs["rules"].startswith("NOAA-like: 4-min rise")
    for rise in (4 * u.min, "4min", 240 * u.s, 4):
        got = goes.detect_flares(xrs, min_class="B1", rise=rise)
        np.testing.assert_array_equal(got.peak_time.values, ref.peak_time.values)
    with pytest.warns(SolarprepDeprecationWarning, match=r"rise=4 \* u.min"):
        old = goes.detect_flares(xrs, min_class="B1", rise_minutes=4)
    np.testing.assert_array_equal(old.peak_time.values, ref.peak_time.values)
    with pytest.warns(SolarprepDeprecationWarning):
        assert goes.detect_flares(xrs, rise_minutes=3).attrs["rules"].startswith("NOAA-like: 3-min")
    with pytest.raises(QuantityError, match="whole number of minutes"):
        goes.detect_flares(xrs, rise=90 * u.s)
    with pytest.raises(QuantityError, match="rise=4.0 m: m is not a unit of time"):
        goes.detect_flares(xrs, rise=4 * u.m)
    times = np.array(["2024-05-01T00:30", "2024-05-01T02:10", "2024-05-01T06:20"],
                     dtype="datetime64[ns]")
    ref = goes.label_times(times, xrs, before="15min", after="15min")
    for before in (15 * u.min, 900.0, datetime.timedelta(minutes=15), np.timedelta64(15, "m")):
        got = goes.label_times(times, xrs, before=before, after=0.25 * u.h)
        np.testing.assert_array_equal(got.label.values, ref.label.values)
    with pytest.raises(QuantityError, match="before='-5min' must be a finite, non-negative"):
        goes.label_times(times, xrs, before="-5min")
