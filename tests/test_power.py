"""Acoustic power maps: conventions, analytic p modes, windows, bad input, kernel twins."""
import datetime

import astropy.units as u
import numpy as np
import pytest
import xarray as xr

from solarprep.errors import QuantityError
from solarprep.helioseismology.doppler import CadenceError
from solarprep.helioseismology.power import band_powers, band_weights, power_maps

DT = 45.0
BANDS = ((2, 3), (3, 4), (4, 5), (5, 6))


def solared_reference(cube, dt=45.0, T=28800.0, bands=BANDS):
    """Plain NumPy transcription of the SOLARED seed formula (float64)."""
    dv = np.diff(cube.astype(np.float64), axis=0)
    p = dt**2 / T * np.abs(np.fft.rfft(dv, axis=0)) ** 2
    f = np.arange(p.shape[0]) / T
    out = []
    for lo, hi in bands:
        m = (f >= lo * 1e-3) & (f <= hi * 1e-3)
        out.append(np.trapezoid(p[m], axis=0))  # np.trapz with unit spacing
    return np.array(out)


def cube_dataset(cube, dt=DT, start="2024-01-01T00:00", times=None):
    if times is None:
        times = np.datetime64(start, "ns") + (np.arange(cube.shape[0]) * dt * 1e9).astype(
            "timedelta64[ns]")
    return xr.Dataset({"vlos": (("time", "y", "x"), cube.astype(np.float32),
                                {"units": "m / s", "long_name": "LOS velocity"})},
                      coords={"time": times})


def test_solared_bins_are_the_seed_bins():
    starts, stops, w, n_bins = band_weights(BANDS, 640, DT, convention="solared")
    assert n_bins == 320
    assert starts.tolist() == [58, 87, 116, 144]
    assert (stops - 1).tolist() == [86, 115, 144, 172]  # bin 144 (5.000 mHz) in two bands
    assert w[0, 0] == pytest.approx(0.5 * DT**2 / 28800) and w[0, 1] == pytest.approx(DT**2 / 28800)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_solared_matches_numpy_transcription(precision):
    rng = np.random.default_rng(3)
    cube = (rng.standard_normal((640, 6, 7)) * 200 + 1000).astype(np.float32)
    ours = band_powers(cube, DT, convention="solared", precision=precision, device="cpu")
    ref = solared_reference(cube)
    assert ours.shape == (4, 6, 7) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


@pytest.mark.parametrize("compensate", [False, True])
@pytest.mark.parametrize("apodize", ["hann", "none"])
def test_physical_analytic_pmodes(compensate, apodize):
    """Sinusoids of known amplitude: the right band holds A²/2 (×|H|² if not compensated)."""
    n = 640
    m = n - 1
    t = np.arange(n) * DT
    rng = np.random.default_rng(1)
    freqs = [2.6e-3, 3.3e-3, 4.4e-3, 5.5e-3]   # one per band
    amps = [120.0, 300.0, 80.0, 40.0]
    cube = np.empty((n, 2, 4), np.float32)
    for j, (f, a) in enumerate(zip(freqs, amps)):
        f = round(f * m * DT) / (m * DT)        # on a bin of the M = N - 1 differences
        freqs[j] = f
        cube[:, :, j] = (a * np.sin(2 * np.pi * f * t + j))[:, None]
    cube += rng.standard_normal(cube.shape).astype(np.float32) * 0.5  # noise floor
    p = band_powers(cube, DT, convention="physical", compensate_difference=compensate,
                    apodize=apodize, device="cpu")
    for j, (f, a) in enumerate(zip(freqs, amps)):
        h2 = 1.0 if compensate else (2 * np.sin(np.pi * f * DT)) ** 2
        expected = a * a / 2 * h2
        np.testing.assert_allclose(p[j, :, j], expected, rtol=0.01)
        others = [b for b in range(4) if b != j]
        assert np.all(p[others, :, j] < 1e-3 * expected)   # the others stay at the noise floor


def test_physical_parseval_white_noise():
    """Summed over all bands covering 0..Nyquist, the PSD integrates to the variance."""
    rng = np.random.default_rng(5)
    cube = rng.standard_normal((201, 3, 3)).astype(np.float32) * 7.0
    nyq = 1e3 / (2 * DT)
    p = band_powers(cube, DT, bands=((0, nyq / 2), (nyq / 2, nyq + 1)), difference=False,
                    detrend="none", apodize="none", device="cpu")
    np.testing.assert_allclose(p.sum(axis=0), (cube.astype(np.float64) ** 2).mean(axis=0),
                               rtol=1e-5)


def test_power_maps_sliding_windows_and_centres():
    rng = np.random.default_rng(0)
    cube = rng.standard_normal((200, 4, 5)).astype(np.float32)
    ds = cube_dataset(cube)
    pm = power_maps(ds, window=64 * DT, step="12min", convention="solared", device="cpu")
    starts = np.arange(0, 200 - 64 + 1, 16)
    assert pm.sizes["time"] == starts.size
    assert list(pm.data_vars) == ["power_2_3", "power_3_4", "power_4_5", "power_5_6"]
    expected_centres = ds.time.values[0] + ((starts + 31.5) * DT * 1e9).astype("timedelta64[ns]")
    np.testing.assert_array_equal(pm.time.values, expected_centres)
    for j, a in enumerate(starts[:3]):
        ref = solared_reference(cube[a:a + 64], T=64 * DT)
        np.testing.assert_allclose(np.stack([pm[v].values[j] for v in pm.data_vars]), ref,
                                   rtol=1e-5)
    assert pm["power_2_3"].attrs["units"] == "m2 / s" and pm.attrs["convention"] == "solared"


def test_gap_inside_window_gives_nan_or_raises():
    rng = np.random.default_rng(0)
    cube = rng.standard_normal((130, 3, 3)).astype(np.float32)
    ds = cube_dataset(cube)
    ds = ds.isel(time=np.r_[0:70, 71:130])  # frame 70 missing
    pm = power_maps(ds, window=32 * DT, convention="solared", device="cpu")
    values = pm["power_3_4"].values[:, 0, 0]
    assert pm.sizes["time"] == 4  # slots 0-31, 32-63, 64-95 (gap), 96-127
    assert np.isnan(values[2]) and np.all(np.isfinite(values[[0, 1, 3]]))
    with pytest.raises(CadenceError, match="missing frame"):
        power_maps(ds, window=32 * DT, convention="solared", gaps="raise", device="cpu")


def test_bad_input_errors():
    rng = np.random.default_rng(0)
    cube = rng.standard_normal((40, 3, 3)).astype(np.float32)
    ds = cube_dataset(cube)
    with pytest.raises(ValueError, match="longer than the series"):
        power_maps(ds, window="8h", device="cpu")
    with pytest.raises(CadenceError, match="at least two frames"):
        power_maps(ds.isel(time=[0]), window=2 * DT, device="cpu")
    times = ds.time.values.copy()
    times[10] += np.timedelta64(13, "s")  # 13 s off a 45 s grid
    with pytest.raises(CadenceError, match="irregular cadence"):
        power_maps(cube_dataset(cube, times=times), window=10 * DT, device="cpu")
    with pytest.raises(ValueError, match="at least 2"):
        power_maps(ds, window=DT, device="cpu")
    with pytest.raises(ValueError, match="exact recipe"):
        power_maps(ds, window=20 * DT, convention="solared", apodize="hann", device="cpu")
    with pytest.raises(ValueError, match="convention must be"):
        power_maps(ds, window=20 * DT, convention="other", device="cpu")
    with pytest.raises(QuantityError, match="window='eight hours' is not a duration"):
        power_maps(ds, window="eight hours", device="cpu")
    with pytest.raises(QuantityError, match="window=3.0 m: m is not a unit of time"):
        power_maps(ds, window=3 * u.m, device="cpu")


def test_durations_as_quantities_strings_and_seconds_agree():
    cube = np.random.default_rng(1).standard_normal((48, 3, 3)).astype(np.float32)
    ds = cube_dataset(cube)
    ref = power_maps(ds, window=32 * DT, step=8 * DT, cadence=DT, device="cpu")
    for window, step, cadence in ((32 * DT * u.s, 6 * u.min, 45 * u.s),
                                  (f"{32 * DT}s", "6min", "45s"),
                                  (datetime.timedelta(seconds=32 * DT), "360s", DT)):
        out = power_maps(ds, window=window, step=step, cadence=cadence, device="cpu")
        xr.testing.assert_identical(out.drop_attrs(), ref.drop_attrs())
        assert out.attrs["window_s"] == 32 * DT and out.attrs["step_s"] == 360.0


# --------------------------------------------------------------------------- kernel twins

def _naive_prepare(v, m, taper, detrend):
    x = np.diff(v.astype(np.float64), axis=0) if m == v.shape[0] - 1 else v.astype(np.float64)
    t = np.arange(m) - (m - 1) / 2
    if detrend:
        x = x - x.mean(axis=0)
    if detrend == 2:
        x = x - t[:, None] * (t @ x) / (t @ t)
    return x * taper[:, None]


def _kernel_inputs(n=24, npix=70, seed=0):
    rng = np.random.default_rng(seed)
    v = (rng.standard_normal((n, npix)) * 50 + np.arange(n)[:, None] * 3).astype(np.float32)
    spec = (rng.standard_normal((13, npix)) + 1j * rng.standard_normal((13, npix))).astype(
        np.complex64)
    starts = np.array([1, 4, 4, 12], np.int64)
    stops = np.array([4, 9, 5, 13], np.int64)
    weights = rng.random((4, 5))
    return v, spec, starts, stops, weights


def _naive_bands(spec, starts, stops, weights):
    p2 = np.abs(spec.astype(np.complex128)) ** 2
    return np.stack([(weights[b, : stops[b] - starts[b], None] * p2[starts[b]:stops[b]]).sum(0)
                     for b in range(starts.size)])


@pytest.mark.parametrize("difference", [True, False])
@pytest.mark.parametrize("detrend", [0, 1, 2])
def test_prepare_series_cpu_and_cuda_twins(difference, detrend):
    import kernels.cpu
    import kernels.cuda

    v, *_ = _kernel_inputs()
    m = v.shape[0] - 1 if difference else v.shape[0]
    taper = np.hanning(m)
    ref = _naive_prepare(v, m, taper, detrend)
    cpu = np.empty((m, v.shape[1]), np.float32)
    kernels.cpu.prepare_series(v, cpu, taper, detrend)
    gpu = np.empty_like(cpu)
    kernels.cuda.prepare_series(v, gpu, taper, detrend)  # CUDA simulator without a GPU
    np.testing.assert_allclose(cpu, ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-4)


def test_band_power_cpu_and_cuda_twins():
    import kernels.cpu
    import kernels.cuda

    _, spec, starts, stops, weights = _kernel_inputs()
    ref = _naive_bands(spec, starts, stops, weights)
    cpu = np.empty((4, spec.shape[1]), np.float32)
    kernels.cpu.band_power(spec, starts, stops, weights, cpu)
    gpu = np.empty_like(cpu)
    kernels.cuda.band_power(spec, starts, stops, weights, gpu)
    np.testing.assert_allclose(cpu, ref, rtol=1e-6)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5)


GPU_BLOCKS = {"TILE": 32, "TILE_ROWS": 8, "BAND_LANES": 32, "BAND_PIXELS": 8}


@pytest.fixture(params=["simulator-blocks", "gpu-blocks"])
def row_blocks(request, monkeypatch):
    """The row kernels with the simulator's small blocks and with the GPU's (32-wide) ones."""
    import kernels.cuda.power as kp

    if request.param == "gpu-blocks":
        for name, value in GPU_BLOCKS.items():
            monkeypatch.setattr(kp, name, value)  # the simulator reads globals at run time
    return request.param


@pytest.mark.parametrize("difference, detrend", [(True, 2), (False, 0)])
def test_prepare_rows_cpu_and_cuda_twins(difference, detrend, row_blocks):
    """The pixel-major layout of the GPU path: (N, P) window in, (P, M) samples out."""
    import kernels.cpu
    import kernels.cuda

    v, *_ = _kernel_inputs(n=40)  # > one 32-sample tile, pixels over two 32-pixel tiles
    m = v.shape[0] - 1 if difference else v.shape[0]
    taper = np.hanning(m)
    ref = _naive_prepare(v, m, taper, detrend).T
    cpu = np.empty((v.shape[1], m), np.float32)
    kernels.cpu.prepare_rows(v, cpu, taper, detrend)
    gpu = np.full_like(cpu, np.nan)
    kernels.cuda.prepare_rows(v, gpu, taper, detrend)
    np.testing.assert_allclose(cpu, ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-4)


def test_band_power_rows_cpu_and_cuda_twins(row_blocks):
    import kernels.cpu
    import kernels.cuda

    _, spec, starts, stops, weights = _kernel_inputs(npix=10)
    rows = np.ascontiguousarray(spec.T)
    ref = _naive_bands(spec, starts, stops, weights)
    cpu = np.empty((4, rows.shape[0]), np.float32)
    kernels.cpu.band_power_rows(rows, starts, stops, weights, cpu)
    gpu = np.full_like(cpu, np.nan)
    kernels.cuda.band_power_rows(rows, starts, stops, weights, gpu)
    np.testing.assert_allclose(cpu, ref, rtol=1e-6)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5)
    with pytest.raises(ValueError, match="outside the spectrum"):
        kernels.cpu.band_power_rows(rows, starts, stops + 20, weights, cpu)


def test_kernel_argument_errors():
    import kernels.cpu

    v, spec, starts, stops, weights = _kernel_inputs()
    with pytest.raises(ValueError, match="N - 1"):
        kernels.cpu.prepare_series(v, np.empty((5, v.shape[1]), np.float32), np.ones(5), 0)
    with pytest.raises(ValueError, match="outside the spectrum"):
        kernels.cpu.band_power(spec, starts, stops + 20, weights, np.empty((4, spec.shape[1])))


# --------------------------------------------------------------------------- GPU

@pytest.mark.gpu
@pytest.mark.parametrize("convention", ["solared", "physical"])
def test_power_maps_gpu_matches_cpu(convention):
    import cupy

    rng = np.random.default_rng(2)
    cube = (rng.standard_normal((100, 3, 5)) * 100).astype(np.float32)  # tiny: simulator
    ds = cube_dataset(cube)
    cpu = power_maps(ds, window=64 * DT, step=32 * DT, convention=convention, device="cpu")
    gpu = power_maps(ds, window=64 * DT, step=32 * DT, convention=convention, device="cuda")
    for name in cpu.data_vars:
        assert isinstance(gpu[name].data, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(gpu[name].data), cpu[name].values, rtol=1e-5)
