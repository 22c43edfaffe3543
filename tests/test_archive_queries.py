"""Archive queries are pure functions: exact query strings and Fido attributes."""
import astropy.units as u
import pytest

from solarprep.errors import QueryError
from solarprep.io.archive import (
    PRESETS,
    aia_query,
    estimate_volume,
    euvi_query,
    goes_xrs_query,
    hek_flare_query,
    hmi_query,
    preset,
)
from solarprep.io.archive.queries import jsoc_duration

a = pytest.importorskip("sunpy.net.attrs")


def test_aia_record_sets():
    q = aia_query("2011-02-15", "2011-02-16", 171, cadence="6h")
    assert q.recordset == "aia.lev1_euv_12s[2011-02-15T00:00:00Z/1d@6h][171]{image}"
    assert q.series == "aia.lev1_euv_12s" and q.n_records == 4
    assert aia_query("2011-02-15T00:00", "2011-02-15T01:00", 1600).recordset == \
        "aia.lev1_uv_24s[2011-02-15T00:00:00Z/1h][1600]{image}"
    assert aia_query("2011-02-15T00:00", "2011-02-15T01:00", 1600).n_records == 150
    assert aia_query("2014-01-01", "2014-01-01T01:00", 94, cadence=12 * u.min).recordset == \
        "aia.lev1_euv_12s[2014-01-01T00:00:00Z/1h@12m][94]{image}"


def test_hmi_record_sets_are_in_tai():
    assert hmi_query("2011-02-15", "2011-02-16", "M", cadence="6h").recordset == \
        "hmi.M_45s[2011.02.15_00:00:34_TAI/1d@6h]{magnetogram}"
    assert hmi_query("2017-01-01", "2017-01-02", "Ic", series_cadence=12 * u.min).series == \
        hmi_query("2017-01-01", "2017-01-02", "Ic", series_cadence="720s").series
    assert hmi_query("2017-01-01", "2017-01-02", "Ic", series_cadence="720s",
                     cadence=43200).recordset == \
        "hmi.Ic_720s[2017.01.01_00:00:37_TAI/1d@12h]{continuum}"
    assert hmi_query("2011-02-15", "2011-02-15T08:00", "V").recordset == \
        "hmi.V_45s[2011.02.15_00:00:34_TAI/8h]{Dopplergram}"
    assert hmi_query("2011-02-15", "2011-02-15T08:00", "V").n_records == 640


def test_hmi_tracked_patch_is_a_jsoc_process():
    q = hmi_query("2011-02-15", "2011-02-15T08:00", "V",
                  patch={"lon": 10, "lat": -20, "width": 512, "height": 512})
    assert q.process_dict() == {"im_patch": {
        "t_ref": "2011.02.15_00:00:34_TAI", "t": "0", "r": "0", "c": "0",
        "locunits": "stony", "boxunits": "pixels", "x": "10", "y": "-20", "width": "512",
        "height": "512"}}
    assert q.key.startswith(q.recordset + " process=im_patch:t_ref=")
    assert hmi_query("2011-02-15", "2011-02-16").process_dict() is None


def test_fido_queries_are_exact_attrs():
    q = euvi_query("2011-02-15", "2011-02-16", 195, spacecraft="b", cadence="1h")
    assert q.attrs == (a.Time("2011-02-15", "2011-02-16"), a.Source("STEREO_B"),
                       a.Instrument("EUVI"), a.Wavelength(194.5 * u.AA, 195.5 * u.AA),
                       a.Sample(3600 * u.s))
    assert q.series == "stereo_b.euvi195"
    g = goes_xrs_query("2017-09-10", "2017-09-11", satellite=15, resolution="irrad")
    assert g.attrs == (a.Time("2017-09-10", "2017-09-11"), a.Instrument("XRS"),
                       a.goes.SatelliteNumber(15), a.Resolution("irrad"))
    h = hek_flare_query("2011-02-15", "2011-02-16", min_class="m1.0")
    assert h.attrs == (a.Time("2011-02-15", "2011-02-16"), a.hek.EventType("FL"),
                       a.hek.FL.GOESCls >= "M1.0", a.hek.OBS.Observatory == "GOES")
    assert str(h) == ("Time(2011-02-15T00:00:00.000, 2011-02-16T00:00:00.000) & EventType(FL) "
                      "& FL_GOESCls>=M1.0 & OBS_Observatory=GOES")


@pytest.mark.parametrize(("call", "match"), [
    (lambda: aia_query("2011-02-15", "2011-02-16", 170), "not an AIA passband"),
    (lambda: aia_query("2011-02-16", "2011-02-15", 171), "is not after start"),
    (lambda: aia_query("yesterday", "2011-02-15", 171), "not a time astropy can read"),
    (lambda: aia_query("2011-02-15", "2011-02-16", 171, cadence="6 fortnights"), "duration"),
    (lambda: aia_query("2011-02-15", "2011-02-16", 171, cadence=6 * u.m), "not a unit of time"),
    (lambda: preset("park2019", "2011-02-15", "2011-02-16", cadence="0h"), "positive duration"),
    (lambda: hmi_query("2011-02-15", "2011-02-16", "B"), "no HMI series"),
    (lambda: hmi_query("2011-02-15", "2011-02-16", patch={"lon": 1}), "patch needs"),
    (lambda: euvi_query("2011-02-15", "2011-02-16", 171, spacecraft="C"), "STEREO 'A' or 'B'"),
    (lambda: goes_xrs_query("2011-02-15", "2011-02-16", resolution="5s"), "flx1s"),
    (lambda: hek_flare_query("2011-02-15", "2011-02-16", min_class="Q9"), "not a GOES class"),
    (lambda: preset("nope", "2011-02-15", "2011-02-16"), "unknown preset"),
    (lambda: preset("solared", "2011-02-15", "2011-02-16"), "needs center"),
])
def test_bad_query_arguments(call, match):
    with pytest.raises(QueryError, match=match):
        call()


def test_jsoc_durations():
    assert [jsoc_duration(s) for s in (45, 720, 3600, 21600, 86400, 90000, 1.5)] == \
        ["45s", "12m", "1h", "6h", "1d", "25h", "1.5s"]


def test_presets_reproduce_the_seed_selections():
    park = preset("park2019", "2011-01-01", "2011-01-02")
    assert [q.recordset for q in park] == [
        "hmi.M_45s[2011.01.01_00:00:34_TAI/1d@6h]{magnetogram}"] + [
        f"{'aia.lev1_uv_24s' if w >= 1600 else 'aia.lev1_euv_12s'}"
        f"[2011-01-01T00:00:00Z/1d@6h][{w}]{{image}}"
        for w in (94, 131, 171, 193, 211, 304, 335, 1600, 1700)]
    far = preset("farside", "2011-01-01", "2011-01-02")
    assert [q.series for q in far] == ["aia.lev1_euv_12s"] * 3 + ["hmi.M_720s"]
    assert [q.recordset.split("][")[1][:3] for q in far[:3]] == ["304", "193", "171"]
    assert [q.series for q in preset("lightcurve", "2021-11-01", "2021-11-09")] == \
        ["hmi.Ic_720s", "hmi.Ic_noLimbDark_720s"]
    ddpm = preset("ddpm", "2011-02-15", "2011-02-16")
    assert [q.series for q in ddpm] == ["aia.lev1_euv_12s", "goes_xrs", "hek_flares"]
    sol = preset("solared", "2011-02-15", "2011-02-15T08:00", center=(30, -20))
    assert [q.series for q in sol] == ["hmi.V_45s", "hmi.M_45s", "hmi.Ic_45s"]
    assert set(PRESETS) == {"park2019", "farside", "lightcurve", "ddpm", "solared"}


def test_expected_volumes():
    # Park et al.: 10 series x 4 records/day x ~11-14 MB
    park = estimate_volume(preset("park2019", "2011-01-01", "2011-01-02"))
    assert park == 4 * (14 + 7 * 11 + 2 * 9) * 1e6
    sol = estimate_volume(preset("solared", "2011-02-15", "2011-02-15T08:00", center=(0, 0)))
    assert sol == 3 * 640 * 512 * 512 * 2.0
    ddpm = estimate_volume(preset("ddpm", "2011-02-15", "2011-02-17"))
    assert ddpm == 48 * 11e6 + 2 * 2e6
