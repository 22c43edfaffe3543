"""The synthetic Sun: determinism, headers, and the physics it claims (known truth)."""
import time

import astropy.units as u
import numpy as np
import pytest
import sunpy.map
from astropy.coordinates import SkyCoord
from astropy.time import Time
from sunpy.coordinates import (
    HeliographicStonyhurst,
    Helioprojective,
    RotatedSunFrame,
    get_earth,
    propagate_with_solar_surface,
    transform_with_sun_center,
)
from sunpy.map.sources import AIAMap, HMIMap
from sunpy.sun.models import differential_rotation

from solarprep import synthetic
from solarprep.coordinates.geometry import FrameGeometry
from solarprep.synthetic.observer import project_to_pixel, sky_geometry

T0 = "2024-05-01T00:00"


@pytest.fixture(scope="module")
def sun():
    return synthetic.SyntheticSun(seed=7, t0=T0)


def quiet_params():
    return synthetic.DopplerParams(pmode_rms=0.0, convective_blueshift=0.0, noise=0.0)


def hgs_pixel(smap, lat, lon):
    c = SkyCoord(lon * u.deg, lat * u.deg, frame=HeliographicStonyhurst(
        obstime=smap.reference_date, rsun=smap.rsun_meters), observer=smap.observer_coordinate)
    px = smap.world_to_pixel(c)
    return float(px.x.to_value(u.pix)), float(px.y.to_value(u.pix))


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_arrays_different_seed_different():
    a = synthetic.SyntheticSun(seed=11, t0=T0)
    b = synthetic.SyntheticSun(seed=11, t0=T0)
    c = synthetic.SyntheticSun(seed=12, t0=T0)
    t = "2024-05-01T03:00"
    for method, args in (("continuum", ()), ("magnetogram", ()), ("euv", (193,)),
                         ("dopplergram", ())):
        da = getattr(a, method)(t, *args, shape=64).data
        db = getattr(b, method)(t, *args, shape=64).data
        dc = getattr(c, method)(t, *args, shape=64).data
        np.testing.assert_array_equal(da, db)
        assert da.dtype == np.float32
        assert not np.array_equal(np.nan_to_num(da), np.nan_to_num(dc)), method
    assert a.features == b.features and a.features != c.features


def test_random_features_are_plausible():
    feats = synthetic.random_features(5, T0)
    regions = [f for f in feats if isinstance(f, synthetic.ActiveRegion)]
    assert 3 <= len(regions) <= 6
    for r in regions:
        assert 5 <= abs(r.lat) <= 35
        assert 700 < r.peak_field <= 2500 + 1e-6
        assert r.leading_sign == synthetic.hale_leading_sign(r.lat, T0)
    # Hale's law: cycle 24 (2011) south leading positive (NOAA 11158); cycle 25 the opposite.
    assert synthetic.hale_leading_sign(-20, "2011-02-14") == 1
    assert synthetic.hale_leading_sign(-20, "2024-05-01") == -1
    assert synthetic.hale_leading_sign(20, "2024-05-01") == 1


# --------------------------------------------------------------------------- files and headers


def test_fits_headers_read_by_sunpy(sun, tmp_path):
    t = Time("2024-05-01T06:00:00", scale="utc")
    paths = sun.write_observations(tmp_path, kinds=("continuum", "magnetogram", "dopplergram",
                                                   "euv"), times=t, shape=64)
    assert len(paths) == 6
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"
    truth = sun.truth(t)["observer"]
    expected = {"continuum": (HMIMap, u.DN / u.s), "magnetogram": (HMIMap, u.G),
                "dopplergram": (HMIMap, u.m / u.s), "aia171": (AIAMap, u.DN),
                "aia193": (AIAMap, u.DN), "aia304": (AIAMap, u.DN)}
    for path in paths:
        m = sunpy.map.Map(path)
        key = next(k for k in expected if k in path.name)
        cls, unit = expected[key]
        assert type(m) is cls, path.name
        assert m.unit == unit
        assert m.data.dtype.kind == "f" and m.data.dtype.itemsize == 4 and m.data.shape == (64, 64)
        assert abs((m.reference_date - t).to_value(u.s)) < 1e-3
        obs = m.observer_coordinate.transform_to(HeliographicStonyhurst(obstime=m.reference_date))
        assert obs.lon.wrap_at(180 * u.deg).to_value(u.deg) == pytest.approx(0.0, abs=1e-9)
        assert obs.lat.to_value(u.deg) == pytest.approx(truth["hglt_obs"], abs=1e-9)
        assert obs.radius.to_value(u.m) == pytest.approx(truth["dsun_obs"], rel=1e-12)
        earth = get_earth(t)
        assert obs.lat.to_value(u.deg) == pytest.approx(earth.lat.to_value(u.deg), abs=1e-9)
        rsun_obs = np.degrees(np.arcsin(696e6 / truth["dsun_obs"])) * 3600
        assert m.rsun_obs.to_value(u.arcsec) == pytest.approx(rsun_obs, rel=1e-9)
        assert m.rsun_meters.to_value(u.m) == 696e6
        assert m.meta["synthetic"] is True and m.meta["synseed"] == 7
        assert m.meta["telescop"] in ("SDO/HMI", "SDO/AIA")
        assert m.meta["ctype1"] == "HPLN-TAN" and m.meta["cunit1"] == "arcsec"
        geom = FrameGeometry.from_map(m)
        inst = "hmi" if cls is HMIMap else "aia"
        ref = sun.geometry(t, 64, inst)["geometry"]
        np.testing.assert_allclose(geom.kernel_params(), ref.kernel_params(), rtol=1e-9,
                                   atol=1e-12)
        if cls is HMIMap:
            assert m.meta["instrume"] == "HMI_FRONT2" and m.meta["t_obs"].endswith("_TAI")
            assert geom.crota2 == pytest.approx(179.93, abs=1e-9)
            assert np.isnan(m.data[0, 0])  # off disk
        else:
            assert m.meta["instrume"].startswith("AIA_") and m.exposure_time.to_value(u.s) > 0
            assert np.isfinite(m.data).all()  # corona off the limb
            assert m.wavelength.to_value(u.AA) in (171, 193, 304)
    mc = sunpy.map.Map(paths[0])
    np.testing.assert_array_equal(mc.data, sun.continuum(t, shape=64).data)
    assert mc.measurement == "continuum"


def test_write_fits_atomic_and_no_overwrite(sun, tmp_path):
    m = sun.continuum(T0, shape=32)
    path = synthetic.write_fits(m, tmp_path / "a.fits")
    with pytest.raises(FileExistsError):
        synthetic.write_fits(m, path, overwrite=False)
    with pytest.raises(ValueError, match="needs a header"):
        synthetic.write_fits(m.data, tmp_path / "b.fits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fits"]


def test_kind_errors(sun, tmp_path):
    with pytest.raises(ValueError, match="unknown observation kind 'xray'"):
        sun.write_observations(tmp_path, kinds=("xray",), shape=16)
    with pytest.raises(ValueError, match="no AIA-like passband 555"):
        sun.euv(T0, 555, shape=16)


# --------------------------------------------------------------------------- photosphere


@pytest.mark.parametrize("law", [None, "neckel_labs", (0.5, 0.2)])
def test_limb_darkening_truth(law):
    sun = synthetic.SyntheticSun(seed=1, features=[], t0=T0, limb_darkening=law, noise=False)
    t = "2024-05-01T12:00"
    m = sun.continuum(t, shape=96)
    g = sun.geometry(t, 96, "hmi")
    i0 = sun.truth(t)["continuum_i0"]
    on = g["on_disk"]
    assert np.isnan(m.data[~on]).all() and np.isfinite(m.data[on]).all()
    np.testing.assert_allclose(m.data[on] / i0, sun.limb_darkening(g["mu"][on]), rtol=2e-6)
    assert np.nanmax(m.data) == pytest.approx(i0 * float(sun.limb_darkening(np.float32(
        np.nanmax(g["mu"])))), rel=1e-5)
    # radiance does not depend on the distance: exactly the configured 6e4 DN/s
    assert i0 == pytest.approx(6e4)


def test_limb_darkening_laws():
    ld = synthetic.LimbDarkening.quadratic(0.421, 0.212)
    mu = np.linspace(0, 1, 11)
    np.testing.assert_allclose(ld(mu), 1 - 0.421 * (1 - mu) - 0.212 * (1 - mu) ** 2, rtol=1e-12)
    nl = synthetic.LimbDarkening.neckel_labs_6173()
    assert nl(1.0) == pytest.approx(1.0) and 0.30 < nl(0.0) < 0.33 and 0.72 < nl(0.5) < 0.76
    assert abs(float(ld(0.5)) - float(nl(0.5))) < 0.02
    assert ld(np.float32(0.5)).dtype == np.float32


def test_spot_at_predicted_pixel_and_rotates_like_sunpy():
    spot = synthetic.Sunspot(lat=15.0, lon=-20.0, radius=1.2)
    sun = synthetic.SyntheticSun(seed=3, features=[spot], t0=T0, noise=False)
    for days in (1, 5):
        t = sun.t0 + days * u.day
        feat = sun.truth(t)["features"][0]
        start = SkyCoord(-20 * u.deg, 15 * u.deg, 1 * u.R_sun,
                         frame=HeliographicStonyhurst(obstime=sun.t0))
        with propagate_with_solar_surface("howard"):
            moved = start.transform_to(HeliographicStonyhurst(obstime=t))
        rotated = SkyCoord(-20 * u.deg, 15 * u.deg, frame=RotatedSunFrame(
            base=HeliographicStonyhurst(obstime=sun.t0), rotated_time=t))
        with transform_with_sun_center():
            moved2 = rotated.transform_to(HeliographicStonyhurst(obstime=t))
        for ref in (moved, moved2):
            dlon = (feat["lon"] - ref.lon.to_value(u.deg) + 180) % 360 - 180
            assert abs(dlon) < 1e-6
            assert abs(feat["lat"] - ref.lat.to_value(u.deg)) < 1e-6
        m = sun.continuum(t, shape=256)
        x, y = hgs_pixel(m, feat["lat"], feat["lon"])
        iy, ix = np.unravel_index(np.nanargmin(m.data), m.data.shape)
        assert abs(ix - x) <= 1.0 and abs(iy - y) <= 1.0, (ix, iy, x, y)
        # umbra is dark, relative to the limb-darkened quiet Sun
        g = sun.geometry(t, 256, "hmi")
        quiet = sun.truth(t)["continuum_i0"] * sun.limb_darkening(g["mu"][iy, ix])
        ratio = m.data[iy, ix] / quiet
        assert 0.2 < ratio < 0.35


def test_project_to_pixel_matches_wcs():
    sun = synthetic.SyntheticSun(seed=0, features=[], t0=T0)
    m = sun.continuum("2024-05-03", shape=128)
    geom = FrameGeometry.from_map(m)
    lat = np.array([0.0, 30.0, -45.0, 10.0, 70.0])
    lon = np.array([0.0, 40.0, -60.0, 85.0, 10.0])
    col, row, visible = project_to_pixel(geom, lat, lon)
    assert visible.all()
    for k in range(lat.size):
        x, y = hgs_pixel(m, lat[k], lon[k])
        assert col[k] == pytest.approx(x, abs=1e-6) and row[k] == pytest.approx(y, abs=1e-6)
    assert not project_to_pixel(geom, np.array([0.0]), np.array([120.0]))[2][0]


def test_faculae_brighter_toward_limb():
    facs = [synthetic.Facula(lat=0.0, lon=0.0, radius=3.0, contrast=0.1),
            synthetic.Facula(lat=0.0, lon=60.0, radius=3.0, contrast=0.1)]
    sun = synthetic.SyntheticSun(seed=0, features=facs, t0=T0, noise=False)
    m = sun.continuum(T0, shape=256)
    g = sun.geometry(T0, 256, "hmi")
    i0 = sun.truth(T0)["continuum_i0"]
    excess = m.data / (i0 * sun.limb_darkening(g["mu"])) - 1
    for lon, lo, hi in ((0.0, 0.0, 0.01), (60.0, 0.05, 0.1)):
        x, y = hgs_pixel(m, 0.0, lon)
        assert lo <= excess[round(y), round(x)] <= hi


# --------------------------------------------------------------------------- magnetic field


def test_bipole_flux_balance_and_los_projection():
    ar = synthetic.ActiveRegion(lat=8.0, lon=5.0, flux=2e22, separation=8.0, tilt=10.0,
                                sigma=2.0, leading_sign=1)
    sun = synthetic.SyntheticSun(seed=2, features=[ar], t0=T0, network_rms=0.0, noise=False)
    shape = 128
    mag = sun.magnetogram(T0, shape=shape)
    br = sun.radial_field(T0, shape=shape)
    g = sun.geometry(T0, shape, "hmi")
    mu = g["mu"]
    on = g["on_disk"]
    np.testing.assert_allclose(mag.data[on], (br.data * mu)[on], rtol=1e-6, atol=1e-4)
    # net flux Σ B_r dA with dA = pixel area / μ is ≈ 0
    area = br.data[on] / mu[on]
    assert abs(area.sum()) / np.abs(area).sum() < 0.02
    # at the leading polarity centre B_r ≈ peak field (> 0, Hale sign given)
    pol = sun.truth(T0)["features"][0]["polarities"][0]
    assert pol["sign"] == 1 and pol["peak_field"] == pytest.approx(ar.peak_field)
    x, y = hgs_pixel(br, pol["lat"], pol["lon"])
    i, j = round(y), round(x)
    assert br.data[i, j] == pytest.approx(ar.peak_field, rel=0.1)
    assert mag.data[i, j] == pytest.approx(br.data[i, j] * mu[i, j], rel=1e-6)


def test_noise_and_network_levels():
    sun = synthetic.SyntheticSun(seed=4, features=[], t0=T0)
    mag = sun.magnetogram(T0, shape=128)
    quiet = sun.magnetogram(T0, shape=128, noise=False)
    g = sun.geometry(T0, 128, "hmi")
    on = g["on_disk"] & (g["mu"] > 0.9)
    assert 6.0 < np.std((mag.data - quiet.data)[on]) < 10.0  # ~8 G noise
    br = sun.radial_field(T0, shape=128).data[g["on_disk"]]
    assert 5.0 < np.std(br) < 15.0 and abs(np.mean(br)) < 3.0  # ±10 G mixed network


def test_emergence_grows_flux():
    ar = synthetic.ActiveRegion(lat=-12.0, lon=-10.0, flux=1e22, sigma=1.5,
                                t_emerge="2024-05-02T00:00", tau=6.0)
    sun = synthetic.SyntheticSun(seed=0, features=[ar], t0=T0, network_rms=0.0, noise=False)
    f0 = sun.truth(T0)["features"][0]["factor"]
    f1 = sun.truth("2024-05-02T00:00")["features"][0]["factor"]
    f2 = sun.truth("2024-05-03T00:00")["features"][0]["factor"]
    assert f0 < 1e-3 and f1 == pytest.approx(0.5) and f2 > 0.999
    flux = [np.nansum(np.abs(sun.radial_field(t, shape=64).data))
            for t in ("2024-05-01T00:00", "2024-05-02T00:00", "2024-05-03T00:00")]
    assert flux[0] < 0.01 * flux[2] and flux[0] < flux[1] < flux[2]


# --------------------------------------------------------------------------- Doppler


def _analytic_los_velocity(smap, i, j):
    """(v_surface − v_observer)·n̂ from sunpy coordinates and the ephemeris, m/s."""
    t = smap.reference_date
    hgs = HeliographicStonyhurst(obstime=t)
    point = smap.pixel_to_world(j * u.pix, i * u.pix).transform_to(hgs)
    p = point.cartesian.xyz.to_value(u.m)
    obs = smap.observer_coordinate.transform_to(hgs).cartesian.xyz.to_value(u.m)
    omega = differential_rotation(1 * u.s, point.lat).to_value(u.rad)
    v_p = omega * np.array([-p[1], p[0], 0.0])
    h = 60 * u.s
    with transform_with_sun_center():
        e1 = get_earth(t - h).transform_to(hgs).cartesian.xyz.to_value(u.m)
        e2 = get_earth(t + h).transform_to(hgs).cartesian.xyz.to_value(u.m)
    v_o = (e2 - e1) / (2 * h.to_value(u.s))
    n = (p - obs) / np.linalg.norm(p - obs)
    return float(np.dot(v_p - v_o, n))


def test_doppler_rotation_signal_is_exact():
    sun = synthetic.SyntheticSun(seed=0, features=[], t0=T0, doppler=quiet_params())
    m = sun.dopplergram("2024-05-01T04:00", shape=64)
    g = sun.geometry("2024-05-01T04:00", 64, "hmi")
    rng = np.random.default_rng(0)
    candidates = np.argwhere(g["on_disk"] & (g["mu"] > 0.2) & (np.abs(np.nan_to_num(m.data)) > 300))
    for i, j in candidates[rng.choice(len(candidates), 6, replace=False)]:
        expected = _analytic_los_velocity(m, i, j)
        assert m.data[i, j] == pytest.approx(expected, rel=1e-3)


def test_doppler_east_approaching_west_receding():
    t = "2024-06-06T12:00"  # B0 ≈ 0
    sun = synthetic.SyntheticSun(seed=0, features=[], t0=T0, doppler=quiet_params())
    m = sun.dopplergram(t, shape=128)
    assert abs(m.observer_coordinate.lat.to_value(u.deg)) < 0.1
    rsun = m.rsun_obs.to_value(u.arcsec)
    frame = Helioprojective(observer=m.observer_coordinate, obstime=m.reference_date)
    vals = {}
    for side, tx in (("east", -0.9), ("west", 0.9)):
        px = m.world_to_pixel(SkyCoord(tx * rsun * u.arcsec, 0 * u.arcsec, frame=frame))
        vals[side] = m.data[round(float(px.y.value)), round(float(px.x.value))]
    assert vals["east"] < -1000 and vals["west"] > 1000
    # OBS_VR: the observer's radial velocity is in the header and in the signal
    assert abs(m.meta["obs_vr"]) < 1000 and 2.8e4 < m.meta["obs_vw"] < 3.1e4


def test_pmode_spectrum_peak_and_suppression():
    ar = synthetic.ActiveRegion(lat=0.0, lon=0.0, flux=1.2e23, separation=8.0, tilt=0.0,
                                sigma=2.5)
    params = synthetic.DopplerParams(convective_blueshift=0.0, noise=0.0)
    sun = synthetic.SyntheticSun(seed=5, features=[ar], t0=T0, doppler=params, network_rms=0.0)
    tic = time.perf_counter()
    cube = np.stack([m.data for m in sun.dopplergram_cube(T0, 128, 45.0, shape=64)])
    assert time.perf_counter() - tic < 10
    g = sun.geometry(T0, 64, "hmi")
    br = np.abs(sun.radial_field(T0, shape=64).data)
    v = cube - cube.mean(axis=0)
    spec = np.abs(np.fft.rfft(v * np.hanning(128)[:, None, None], axis=0)) ** 2
    freq = np.fft.rfftfreq(128, 45.0)
    quiet = g["on_disk"] & (g["mu"] > 0.5) & (br < 20)
    mean_spec = spec[:, quiet].mean(axis=1)
    assert 2.5e-3 <= freq[np.argmax(mean_spec)] <= 4.0e-3
    rms_quiet = v[:, quiet & (g["mu"] > 0.85)].std()
    strong = g["on_disk"] & (br > 500)
    assert strong.sum() >= 4
    power = (v**2).mean(axis=0)
    assert power[strong].mean() < 0.5 * power[quiet & (g["mu"] > 0.85)].mean()
    assert 150 < rms_quiet < 300


def test_doppler_cube_continuity_and_speed():
    sun = synthetic.SyntheticSun(seed=9, t0=T0)
    tic = time.perf_counter()
    maps = list(sun.dopplergram_cube(T0, 64, 45 * u.s, shape=128))
    elapsed = time.perf_counter() - tic
    assert elapsed < 10, elapsed
    assert len(maps) == 64
    times = [m.reference_date for m in maps]
    assert (times[1] - times[0]).to_value(u.s) == pytest.approx(45.0, abs=1e-3)
    first = sun.dopplergram(T0, shape=128)
    np.testing.assert_array_equal(first.data, maps[0].data)
    # frame-to-frame correlation of p modes over 45 s is high but not 1
    a, b = maps[0].data, maps[1].data
    ok = np.isfinite(a)
    assert 0.3 < np.corrcoef(a[ok], b[ok])[0, 1] < 0.9999


def test_stereo_like_observer():
    obs = synthetic.Observer.from_quantities(0.96 * u.AU, 2 * u.deg, -90 * u.deg, "STEREO-like")
    sun = synthetic.SyntheticSun(seed=1, features=[], t0=T0, observer=obs)
    m = sun.euv(T0, 171, shape=64)
    oc = m.observer_coordinate
    assert oc.lon.wrap_at(180 * u.deg).to_value(u.deg) == pytest.approx(-90.0)
    assert oc.radius.to(u.AU).value == pytest.approx(0.96)
    st = synthetic.observer_states(obs, Time(T0))
    # a point fixed in Stonyhurst moves with the frame (~0.9856 deg/day), radially at rest
    assert abs(st.obs_vr[0]) < 1e-6
    assert 2.5e4 < st.obs_vw[0] < 3.0e4


# --------------------------------------------------------------------------- EUV


def test_euv_off_limb_decay_limb_brightening_and_active_region():
    ar = synthetic.ActiveRegion(lat=10.0, lon=-10.0, flux=2e22, separation=6.0, sigma=1.2)
    sun = synthetic.SyntheticSun(seed=0, features=[ar], t0=T0, noise=False)
    for wave in (171, 193, 304):
        m = sun.euv(T0, wave, shape=128)
        g = sun.geometry(T0, 128, "aia")
        impact, _ = sky_geometry(g["geometry"], (128, 128))
        x, y = hgs_pixel(m, 0.0, 90.0)  # west limb, far from the region (east of centre)
        profile = [np.mean(m.data[(impact > lo) & (impact < lo + 0.05)])
                   for lo in (1.02, 1.12, 1.22, 1.32)]
        assert all(a > b for a, b in zip(profile, profile[1:])), (wave, profile)
        ax, ay = hgs_pixel(m, ar.lat, ar.lon + sun.truth(T0)["drift"])
        quiet_centre = np.median(m.data[g["on_disk"] & (g["mu"] > 0.9)])
        assert m.data[round(ay), round(ax)] > 3 * quiet_centre, wave
        if wave in (171, 193):
            near_limb = np.median(m.data[g["on_disk"] & (g["mu"] < 0.3)])
            assert near_limb > 1.5 * quiet_centre
    uv = sun.euv(T0, 1700, shape=64)
    assert type(uv) is AIAMap and uv.wavelength.to_value(u.AA) == 1700


# --------------------------------------------------------------------------- GOES


@pytest.mark.parametrize("cls,flux", [("M2.5", 2.5e-5), ("X1.0", 1e-4), ("C3.4", 3.4e-6),
                                       ("B5.0", 5e-7), ("A0.5", 5e-9), ("X12.0", 1.2e-3)])
def test_flare_class_round_trip(cls, flux):
    assert synthetic.class_to_flux(cls) == pytest.approx(flux, rel=1e-12)
    assert synthetic.flare_class(flux) == cls


def test_flare_class_edges_and_errors():
    assert synthetic.flare_class(9.999e-6) == "M1.0"
    assert synthetic.flare_class(1e-5) == "M1.0"
    assert synthetic.class_to_flux("m2.5") == pytest.approx(2.5e-5)
    with pytest.raises(ValueError, match="not a GOES class"):
        synthetic.class_to_flux("Q2")
    with pytest.raises(ValueError, match="positive number"):
        synthetic.flare_class(-1.0)


def test_goes_flare_peak():
    sun = synthetic.SyntheticSun(seed=0, features=[], t0=T0)
    ds = sun.goes("2024-05-01T06:00", "2024-05-01T08:00", cadence=2.0,
                  flares=[("2024-05-01T06:41:00", "M2.5")])
    assert ds["xrsb"].attrs["units"] == "W / m2" and ds["xrsa"].attrs["units"] == "W / m2"
    assert ds["xrsb"].dtype == np.float32 and ds["time"].dtype == "datetime64[ns]"
    peak = float(ds["xrsb"].max())
    assert peak == pytest.approx(2.5e-5, rel=0.01)
    t_peak = ds["time"].values[int(np.argmax(ds["xrsb"].values))]
    assert abs(t_peak - np.datetime64("2024-05-01T06:41:00")) <= np.timedelta64(60, "s")
    assert str(ds["flare_class"].values[0]) == "M2.5"
    assert synthetic.flare_class(peak) == "M2.5"
    assert (ds["xrsa"] < ds["xrsb"]).all()
    bg = float(ds["xrsb"].isel(time=slice(0, 300)).mean())
    assert 4e-7 < bg < 6e-7  # B5 background before the flare


def test_goes_random_flares_deterministic():
    a = synthetic.goes_xrs("2024-05-01", "2024-05-03", 10.0, seed=3)
    b = synthetic.goes_xrs("2024-05-01", "2024-05-03", 10.0, seed=3)
    np.testing.assert_array_equal(a["xrsb"].values, b["xrsb"].values)
    assert a.sizes["flare"] == b.sizes["flare"] >= 1
    for cls, tp in zip(a["flare_class"].values, a["flare_peak_time"].values):
        sel = a["xrsb"].sel(time=slice(tp - np.timedelta64(2, "m"), tp + np.timedelta64(2, "m")))
        assert float(sel.max()) >= 0.95 * synthetic.class_to_flux(str(cls))


def test_files_go_through_the_loader(tmp_path):
    io = pytest.importorskip("solarprep.io.loader")
    from solarprep.coordinates.geometry import disk_coordinates
    from solarprep.dataset import validate

    sun = synthetic.SyntheticSun(seed=1, t0=T0)
    times = ["2024-05-01T00:00:00", "2024-05-01T00:00:45", "2024-05-01T00:01:30"]
    paths = sun.write_observations(tmp_path, kinds=("continuum", "dopplergram", "euv171"),
                                   times=times, shape=32)
    ds = disk_coordinates(io.load([p for p in paths if "continuum" in p.name]), device="cpu")
    validate(ds)
    assert ds["intensity"].attrs["units"] == "DN / s"
    np.testing.assert_array_equal(ds["time"].values, np.array(times, dtype="datetime64[ns]"))
    np.testing.assert_array_equal(ds["mu"].values[0], sun.geometry(times[0], 32, "hmi")["mu"])
    dop = io.load([p for p in paths if "dopplergram" in p.name])
    assert dop["vlos"].attrs["units"] == "m / s" and dop.sizes["time"] == 3
    euv = io.load([p for p in paths if "aia171" in p.name])
    assert euv["euv171"].attrs["units"] == "DN"


def test_doppler_cube_argument_errors(sun):
    with pytest.raises(ValueError, match="n_frames must be at least 1"):
        sun.dopplergram_cube(T0, 0)
    with pytest.raises(ValueError, match="cadence must be positive"):
        sun.dopplergram_cube(T0, 3, cadence=0)
