"""Every public operation that takes ``device=`` (or follows its input's device): CPU vs "cuda".

Each test body runs twice (:func:`tests.devices.numpy_cupy_allclose`): on NumPy
inputs (``device="auto"`` → CPU) and on CuPy inputs (``device="auto"`` → the GPU:
real CuPy and numba.cuda on a GPU machine, the CuPy stand-in and numba's CUDA
simulator elsewhere), and the results are compared on the host. Inside, the
host↔device copies of each call are counted (:func:`tests.devices.transfers`):
no image-sized copy and exactly the documented small reads (``docs/devices.md``).
Inputs are tiny (24² frames): the simulator runs one Python thread per GPU thread.
"""
import astropy.units as u
import numpy as np
import pytest
import xarray as xr

import solarprep
from solarprep import backend, synthetic
from solarprep import photometry as ph
from solarprep.datasets import scalings
from solarprep.helioseismology import tiles
from solarprep.helioseismology.power import band_powers
from solarprep.photometry.integration import solid_angle

from .devices import host, numpy_cupy_allclose, on, transfers

N = 24                       # frame size (pixels)
FRAME = N * N * 4            # bytes of one float32 frame: a copy this large is "bulk"
T0 = "2024-03-01T00:00"


@pytest.fixture(scope="module")
def sun():
    return synthetic.SyntheticSun(seed=5, t0=T0, noise=False)


@pytest.fixture(scope="module")
def continuum(sun):
    """Two 24² continuum frames two hours apart (different geometry per frame)."""
    times = [sun.t0, sun.t0 + 2 * u.hour]
    return solarprep.load([sun.continuum(t, shape=N) for t in times], progress=False)


@pytest.fixture(scope="module")
def magnetogram(sun):
    ds = solarprep.load(sun.magnetogram(sun.t0, shape=N, noise=False), progress=False)
    assert ds["blos"].attrs["units"] == "G"
    return ds


@pytest.fixture(scope="module")
def dopplergrams(sun):
    return solarprep.load(list(sun.dopplergram_cube(T0, 2, shape=N)), progress=False)


def _velocity_cube(n=96, shape=(4, 4), seed=3):
    """A random Dopplergram series on a regular 45 s cadence (no geometry needed)."""
    rng = np.random.default_rng(seed)
    times = np.datetime64(T0, "ns") + (np.arange(n) * 45e9).astype("timedelta64[ns]")
    return xr.Dataset({"vlos": (("time", "y", "x"),
                                (rng.standard_normal((n,) + shape) * 100).astype(np.float32),
                                {"units": "m / s", "long_name": "LOS velocity"})},
                      coords={"time": times})


# --------------------------------------------------------------------------- geometry, remap

@numpy_cupy_allclose(rtol=1e-5, atol=1e-4)
def test_disk_coordinates(xp, continuum):
    ds = on(xp, continuum)
    with transfers(xp) as t:
        out = solarprep.disk_coordinates(ds)
    t.expect(d2h=0, bulk_bytes=FRAME)
    return out


REMAPS = {
    "derotate-bilinear": lambda ds: solarprep.derotate(ds, "2024-03-01T12:00", order=1),
    "derotate-bicubic": lambda ds: solarprep.derotate(ds, "2024-03-01T12:00", order=3),
    "track": lambda ds: solarprep.track(ds, (10 * u.deg, 5 * u.deg), 12, 1.0, frame="stonyhurst"),
}


@numpy_cupy_allclose(rtol=1e-5, atol=1e-3)
@pytest.mark.parametrize("remap", sorted(REMAPS))
def test_derotate_and_track(xp, continuum, remap):
    ds = on(xp, continuum)
    with transfers(xp) as t:
        out = REMAPS[remap](ds)
    t.expect(d2h=1, bulk_bytes=FRAME)  # the overlap/visibility check reads one flag per frame
    return out


# --------------------------------------------------------------------------- photometry

@numpy_cupy_allclose(rtol=1e-5, atol=1e-3)
def test_foreshortening_correct_and_pixel_area(xp, magnetogram):
    ds = on(xp, magnetogram)
    with transfers(xp) as t:
        out = ph.foreshortening_correct(ds, kind="radial-field", mu_min=0.2)
        area = ph.pixel_area(ds, mu_min=0.2)
        omega = solid_angle(ds)
    t.expect(d2h=0, bulk_bytes=FRAME)
    return out, area, omega


@numpy_cupy_allclose(rtol=1e-6)
def test_total_unsigned_flux(xp, magnetogram):
    ds = solarprep.disk_coordinates(on(xp, magnetogram))
    mask = np.zeros((N, N), bool)
    mask[3:20, 5:22] = True
    mask = mask if xp is np else xp.asarray(mask)
    with transfers(xp) as t:
        flux = ph.total_unsigned_flux(ds, mask=mask, threshold=5.0)
    t.expect(d2h=1, bulk_bytes=FRAME)  # the per-frame sums
    arrays = ph.total_unsigned_flux(ds["blos"].data, mu=ds["mu"].data,
                                    pixel_area=ph.pixel_area(ds).data)
    return flux, arrays


@numpy_cupy_allclose(rtol=1e-4, atol=1e-4)
def test_limb_darkening_fit_remove_add(xp, continuum):
    ds = on(xp, continuum)
    with transfers(xp) as t:
        fit = ph.fit_limb_darkening(ds, law="poly3", clip_sigma=None)
    t.expect(d2h=3, bulk_bytes=FRAME)  # eligible pixels, fitted parameters, normal sums
    with transfers(xp) as t:
        contrast = ph.remove_limb_darkening(ds, fit, mu_min=0.2)
        back = ph.add_limb_darkening(contrast)
    t.expect(d2h=0, bulk_bytes=FRAME)
    law = ph.LimbDarkening.neckel_labs(617.3)
    with transfers(xp) as t:
        fused = ph.remove_limb_darkening(ds, law, mu_min=0.2, clip_sigma=3.0, max_iter=2)
    assert t.d2h <= 8 and not [n for n in t.sizes_h2d if n >= FRAME], t.events
    return fit, contrast, back, fused


@numpy_cupy_allclose(rtol=2e-5, atol=1e-6)
def test_disk_integrate(xp, continuum):
    ds = on(xp, continuum)
    law = ph.LimbDarkening.neckel_labs(617.3)
    with transfers(xp) as t:
        lc = ph.disk_integrate(ds, quantity="flux", normalize_distance=True)
        mean = ph.disk_integrate(ds, quantity="mean_intensity", mu_min=0.3)
    t.expect(d2h=2, bulk_bytes=FRAME)  # one read of the per-frame sums per call
    contrast = ph.remove_limb_darkening(ds, law, mu_min=0.1)
    with transfers(xp) as t:
        model = ph.disk_integrate(contrast, limb_darkening=law, min_covered=0.5)
    t.expect(d2h=2, bulk_bytes=FRAME)  # the sums, and those of the model profile
    return lc, mean, model


# --------------------------------------------------------------------------- helioseismology

@numpy_cupy_allclose(rtol=1e-4, atol=1e-3)
@pytest.mark.parametrize("convention", ["solared", "physical"])
def test_power_maps(xp, convention):
    ds = on(xp, _velocity_cube())
    with transfers(xp) as t:
        out = solarprep.power_maps(ds, window=64 * 45, step=16 * 45, convention=convention)
    t.expect(d2h=0, bulk_bytes=ds["vlos"].nbytes // 4)  # no window is ever copied
    return out


@numpy_cupy_allclose(rtol=1e-4, atol=1e-3)
def test_band_powers_and_tiles(xp):
    rng = np.random.default_rng(4)
    cube = on(xp, (rng.standard_normal((48, 9, 9)) * 80).astype(np.float32))
    with transfers(xp) as t:
        p = band_powers(cube, 45.0, convention="solared")
        means = tiles.tile_means(p, grid=3)
        flat = tiles.solared_flatten(means, grid=3, weights=(1.0, 2.0, 1.0))
        corr = tiles.mu_correction(means, xp.full(means.shape[-1], 0.7), "intensity")
    t.expect(d2h=0, bulk_bytes=cube.nbytes // 4)
    return p, means, flat, corr


@pytest.mark.gpu
def test_power_maps_copies_a_host_cube_to_the_device_once():
    """device="cuda" on host data: one copy of the cube, whatever the number of windows."""
    import cupy

    ds = _velocity_cube(n=128, shape=(2, 3))
    with transfers(cupy) as t:
        out = solarprep.power_maps(ds, window=64 * 45, step=8 * 45, device="cuda")
    assert out.sizes["time"] == 9
    t.expect(d2h=0, bulk_h2d=1, bulk_bytes=ds["vlos"].nbytes)


@numpy_cupy_allclose(rtol=1e-5, atol=1e-3)
def test_remove_static_velocity_and_difference(xp, dopplergrams):
    ds = on(xp, dopplergrams)
    with transfers(xp) as t:
        physical = solarprep.remove_static_velocity(ds)
        poly = solarprep.remove_static_velocity(ds, model="polynomial", degree=2)
    t.expect(d2h=2, bulk_bytes=FRAME)  # one read of counts and coefficients per call
    with transfers(xp) as t:
        diff = solarprep.doppler_difference(ds)
    t.expect(d2h=0, bulk_bytes=FRAME)
    return physical, poly, diff


# --------------------------------------------------------------------------- scalings

@numpy_cupy_allclose(rtol=1e-5, atol=1e-5)
def test_scalings(xp, continuum):
    ds = on(xp, continuum.rename({"intensity": "euv171"}).assign_attrs(instrument="AIA"))
    ds["euv171"].attrs["units"] = "DN / s"
    with transfers(xp) as t:
        scaled = scalings.scale(ds, "euv_median_log10")
    t.expect(d2h=1, bulk_bytes=FRAME)  # the per-frame medians, a host coordinate
    with transfers(xp) as t:
        back = scalings.unscale(scaled)
        log2 = scalings.aia_log2(ds["euv171"].data)
        lin = scalings.hmi_linear(ds["euv171"].data * 0.1)
    t.expect(d2h=0, bulk_bytes=FRAME)
    return scaled, back, log2, lin


# --------------------------------------------------------------------------- chains, files

@pytest.mark.gpu
def test_chains_stay_on_the_device(continuum):
    """Pipelines of device operations make no image-sized copy and only the documented reads."""
    import cupy

    ds = backend.to_device(continuum, "cuda")
    with transfers(cupy) as t:
        geo = solarprep.disk_coordinates(ds)
        corrected = ph.foreshortening_correct(geo, mu_min=0.2)
        contrast = ph.remove_limb_darkening(corrected, ph.LimbDarkening.neckel_labs(617.3), i0=1.0,
                                         mu_min=0.2)
    t.expect(d2h=0, bulk_bytes=FRAME)
    assert backend.is_cupy(contrast["intensity"].data) and backend.is_cupy(contrast["mu"].data)
    with transfers(cupy) as t:
        solarprep.disk_integrate(geo)
    t.expect(d2h=1, bulk_bytes=FRAME)  # the light curve's per-frame sums, nothing else
    frame = continuum.isel(time=[0], x=slice(6, 18), y=slice(6, 18))  # 8 frames, 45 s apart
    times = frame["time"].values[0] + (np.arange(8) * 45e9).astype("timedelta64[ns]")
    series = xr.concat([frame] * 8, "time").assign_coords(time=times)
    if "date_obs" in series.coords:
        series = series.assign_coords(date_obs=("time", times))
    series = backend.to_device(series, "cuda")
    with transfers(cupy) as t:
        rot = solarprep.derotate(series, series["time"].values + np.timedelta64(1, "h"))
        maps = solarprep.power_maps(rot, window=6 * 45, step=2 * 45, convention="solared")
    # derotate's overlap check reads one flag per frame; power_maps reads nothing back
    t.expect(d2h=1, bulk_bytes=series["intensity"].nbytes)
    assert backend.is_cupy(maps["power_2_3"].data) and maps.sizes["time"] == 2


@pytest.mark.gpu
def test_device_data_to_files_and_maps(continuum, tmp_path):
    """Files and sunpy Maps come from the host: one read per variable (per frame for Maps)."""
    import cupy

    geo = solarprep.disk_coordinates(backend.to_device(continuum, "cuda"))
    with transfers(cupy) as t:
        maps = solarprep.to_maps(geo)
    assert len(maps) == 2 and t.d2h == 2, t.events
    np.testing.assert_array_equal(maps[1].data, continuum["intensity"].values[1])
    with transfers(cupy) as t:
        back = solarprep.open_dataset(solarprep.save(geo, tmp_path / "geo.nc"))
    assert t.d2h == 5, t.events  # intensity, mu, hgs_lat, hgs_lon, on_disk
    xr.testing.assert_allclose(back.drop_vars(["mu", "hgs_lat", "hgs_lon", "on_disk"]),
                               continuum)
    np.testing.assert_allclose(back["mu"].values, host(geo["mu"]).values)


@pytest.mark.gpu
def test_device_cuda_on_host_data_copies_each_image_once(continuum):
    import cupy

    with transfers(cupy) as t:
        out = ph.foreshortening_correct(continuum, mu_min=0.2, device="cuda")
    t.expect(d2h=0, bulk_h2d=1, bulk_bytes=FRAME)
    assert backend.is_cupy(out["intensity"].data)
    ref = ph.foreshortening_correct(continuum, mu_min=0.2, device="cpu")
    xr.testing.assert_allclose(host(out).drop_attrs(), ref.drop_attrs(), rtol=1e-5)
