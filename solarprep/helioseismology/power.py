"""Acoustic power maps from Dopplergram series (FFT band powers), on the CPU or the GPU.

Two conventions, side by side (``docs/solared.md``):

``"solared"`` (reproduces the SOLARED dataset, Kasapis et al., NASA-IMPACT ar_emergence)
    ``ΔV[i] = V[i+1] − V[i]`` over a window of ``N`` frames (``N − 1`` differences),
    ``P[k] = (Δt²/T)·|rfft(ΔV)[k]|²`` with ``T = N·Δt`` and ``f_k = k/T``; a band
    ``[f₁, f₂]`` is closed at both ends (the 5 mHz bin 144 of an 8-hour 45 s window
    belongs to the 4–5 and 5–6 mHz bands) and is integrated with the trapezoid
    rule at unit spacing (``np.trapz(P[k₁:k₂+1])``, no ``Δf``); no detrending, no
    taper, no compensation of the differencing.

``"physical"`` (default)
    the one-sided power spectral density of the (differenced, detrended, tapered)
    series ``x`` of ``M`` samples, normalised so that Parseval holds
    (``Σ_k S_k Δf = ⟨x²⟩``)::

        S_k = c_k·Δt·|X_k|² / (M·⟨w²⟩),  c_k = 2 (1 for k = 0 and the Nyquist bin),
        f_k = k/(MΔt),  Δf = 1/(MΔt),

    integrated over the half-open band ``f₁ ≤ f_k < f₂`` as ``Σ S_k Δf``: the
    velocity variance in the band, m² s⁻². With ``compensate_difference=True``
    each bin is divided by the differencing response ``|2 sin(πf_kΔt)|²``, which
    gives the power of ``V`` itself.

The computation never holds all windows at once: windows are done one at a
time (sliding with ``step``), and on the CPU each window is cut into blocks of
pixels that stay in cache, handed to one thread per core (numba preparation
kernel, ``scipy.fft.rfft``, numba fused band sums that never store ``|X|²``; all
three release the GIL, so the threads never wait on each other). On the GPU the cube
is copied to the device once (not at all when it is there already), and a window
is one preparation kernel that writes the samples pixel-major, ``(P, M)``, one
cuFFT along that last, contiguous axis (a batched R2C; CuPy caches the plan) and
one band-sum kernel writing into the result on the device: no host round trip.
"""
from __future__ import annotations

import logging
import time as _time
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.dataset import FRAME_COORDS, append_history, as_seconds
from solarprep.errors import CadenceError
from solarprep.helioseismology._common import pick_variable as _pick_variable
from solarprep.helioseismology.cadence import regular_grid
from solarprep.parallel.blocks import is_chunked

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from solarprep.dataset import Duration

__all__ = ["DEFAULT_BANDS", "CONVENTIONS", "band_weights", "band_powers", "power_maps",
           "band_name"]

log = logging.getLogger(__name__)

#: The SOLARED bands, mHz.
DEFAULT_BANDS = ((2, 3), (3, 4), (4, 5), (5, 6))
CONVENTIONS = ("physical", "solared")
_DETREND = {None: 0, "none": 0, "constant": 1, "linear": 2}
#: Bytes of FFT input per CPU pixel block (about 3000 pixels of an 8-hour window).
_CPU_CHUNK_BYTES = 8 * 2**20


def band_name(band: tuple[float, float]) -> str:
    """``(2, 3)`` → ``"power_2_3"`` (``(2.5, 3)`` → ``"power_2p5_3"``)."""
    lo, hi = (f"{float(b):g}".replace(".", "p") for b in band)
    return f"power_{lo}_{hi}"


def _check_bands(bands):
    bands = tuple((float(lo), float(hi)) for lo, hi in bands)
    if not bands:
        raise ValueError("bands is empty: give at least one (low, high) pair in mHz")
    for lo, hi in bands:
        if not (0 <= lo < hi):
            raise ValueError(f"band ({lo:g}, {hi:g}) mHz must satisfy 0 <= low < high")
    return bands


def _taper(apodize, m):
    if apodize is None or (isinstance(apodize, str) and apodize.lower() == "none"):
        return np.ones(m)
    if isinstance(apodize, str):
        from scipy.signal import windows

        try:
            return np.asarray(windows.get_window(apodize, m, fftbins=False), np.float64)
        except ValueError as exc:
            raise ValueError(f"unknown apodize={apodize!r} ({exc}); use None, 'hann', "
                             "('tukey', 0.1), ... (scipy.signal.get_window names)") from None
    if isinstance(apodize, tuple):
        from scipy.signal import windows

        return np.asarray(windows.get_window(apodize, m, fftbins=False), np.float64)
    w = np.asarray(apodize, np.float64)
    if w.shape != (m,):
        raise ValueError(f"an apodisation array must have the window's {m} samples, not {w.shape}")
    return w


def band_weights(bands: Sequence[tuple[float, float]], n_frames: int, dt: float, *,
                 convention: str = "physical", difference: bool = True,
                 compensate_difference: bool = False, taper: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Bins and weights of each band: ``(starts, stops, weights, n_bins)``.

    ``band power = Σ_{k=starts[b]}^{stops[b]−1} weights[b, k − starts[b]]·|X_k|²``
    where ``X = rfft(x)`` of the ``M = n_frames − 1`` (``difference``) or ``n_frames``
    samples ``x``. See the module docstring for the two conventions.

    Parameters
    ----------
    bands : sequence of (low, high)
        mHz.
    n_frames : int
        Dopplergram frames ``N`` in the window.
    dt : float
        Cadence, s.
    convention : {"physical", "solared"}
    difference : bool
    compensate_difference : bool
        Physical convention only.
    taper : numpy.ndarray, optional
        The ``M`` apodisation weights (physical convention: the PSD is divided by ⟨w²⟩).
    """
    bands = _check_bands(bands)
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
    m = n_frames - 1 if difference else n_frames
    n_bins = m // 2 + 1
    k = np.arange(n_bins)
    spans, weights = [], []
    if convention == "solared":
        t_win = n_frames * dt
        f_mhz = k * 1e3 / t_win
        scale = dt * dt / t_win
        for lo, hi in bands:
            eps = 1e-9 * max(hi, 1.0)
            sel = np.flatnonzero((f_mhz >= lo - eps) & (f_mhz <= hi + eps))
            w = np.full(sel.size, scale)
            if sel.size:
                w[0] *= 0.5
                w[-1] *= 0.5
                if sel.size == 1:
                    w[:] = 0.0  # np.trapz of one sample
            spans.append(sel)
            weights.append(w)
    else:
        if compensate_difference and not difference:
            raise ValueError("compensate_difference=True needs difference=True")
        taper = np.ones(m) if taper is None else np.asarray(taper, np.float64)
        w2 = float(np.mean(taper**2))
        if not w2 > 0:
            raise ValueError("the apodisation window is zero everywhere")
        f = k / (m * dt)
        df = 1.0 / (m * dt)
        c = np.full(n_bins, 2.0)
        c[0] = 1.0
        if m % 2 == 0:
            c[-1] = 1.0
        psd = c * dt / (m * w2) * df
        if compensate_difference:
            with np.errstate(divide="ignore"):
                psd = psd / (2.0 * np.sin(np.pi * f * dt)) ** 2
        f_mhz = f * 1e3
        for lo, hi in bands:
            sel = np.flatnonzero((f_mhz >= lo) & (f_mhz < hi))
            if compensate_difference and sel.size and sel[0] == 0:
                raise ValueError(f"band ({lo:g}, {hi:g}) mHz includes 0 Hz, where the "
                                 "differencing response is zero: it cannot be compensated")
            spans.append(sel)
            weights.append(psd[sel])
    nb = len(bands)
    starts = np.array([s[0] if s.size else 0 for s in spans], np.int64)
    stops = np.array([s[-1] + 1 if s.size else 0 for s in spans], np.int64)
    width = max(1, max(s.size for s in spans))
    wmat = np.zeros((nb, width))
    for b, w in enumerate(weights):
        wmat[b, : w.size] = w
    empty = [bands[b] for b, s in enumerate(spans) if s.size == 0]
    if empty:
        log.warning("bands %s mHz contain no frequency bin of a %d-frame %g s window "
                    "(resolution %.3g mHz): their power is 0", empty, n_frames, dt,
                    1e3 / (n_frames * dt))
    return starts, stops, wmat, n_bins


class _Engine:
    """Prepared bins, taper and buffers for windows of one shape, on one device."""

    def __init__(self, n_frames, npix, dt, *, bands, convention, difference, compensate,
                 detrend, apodize, precision, device):
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
        if convention == "solared":
            if not difference or compensate or detrend not in (None, "none") \
                    or apodize not in (None, "none"):
                raise ValueError("convention='solared' is the dataset's exact recipe: it takes "
                                 "no detrend, apodize, compensate_difference or difference=False; "
                                 "use convention='physical' for those")
            detrend = None
        if detrend not in _DETREND:
            raise ValueError(f"detrend must be None, 'constant' or 'linear', not {detrend!r}")
        if precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', not {precision!r}")
        self.n = int(n_frames)
        self.m = self.n - 1 if difference else self.n
        if self.m < 2:
            raise ValueError(f"a window of {self.n} frame(s) gives {self.m} sample(s): need at "
                             "least 2 samples for a spectrum (lengthen the window)")
        self.npix = int(npix)
        self.device = device
        self.dtype = np.dtype(precision)
        self.detrend = _DETREND[detrend]
        self.taper = _taper(apodize, self.m) if convention == "physical" else np.ones(self.m)
        self.starts, self.stops, self.weights, self.n_bins = band_weights(
            bands, self.n, dt, convention=convention, difference=difference,
            compensate_difference=compensate, taper=self.taper)
        self.nb = self.starts.size
        if device == "cuda":
            import cupy

            self._dev = {k: cupy.asarray(getattr(self, k))
                         for k in ("taper", "starts", "stops", "weights")}
        self._buf = None

    # -- CPU: blocks of pixels kept in cache, one block per thread at a time -----------
    def _cpu(self, cube, out):
        import concurrent.futures

        import numba
        import scipy.fft

        from kernels.cpu import power as kc

        chunk = max(kc.BLOCK, _CPU_CHUNK_BYTES // (4 * self.m) // kc.BLOCK * kc.BLOCK)
        chunk = min(chunk, self.npix)
        bounds = [(p0, min(p0 + chunk, self.npix)) for p0 in range(0, self.npix, chunk)]
        threads = max(1, min(numba.get_num_threads(), len(bounds)))
        if self._buf is None or len(self._buf) != threads or self._buf[0].shape[1] != chunk:
            self._buf = [np.empty((self.m, chunk), self.dtype) for _ in range(threads)]
        free = list(self._buf)

        def block(p0, p1):
            buf = free.pop()  # list.pop/append are atomic under the GIL
            try:
                b = buf[:, : p1 - p0]
                kc.prepare_series_serial(cube[:, p0:p1], b, self.taper, self.detrend)
                spec = scipy.fft.rfft(b, axis=0, workers=1)
                kc.band_power_serial(spec, self.starts, self.stops, self.weights, out[:, p0:p1])
            finally:
                free.append(buf)

        if threads == 1:
            for p0, p1 in bounds:
                block(p0, p1)
        else:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                for f in [pool.submit(block, p0, p1) for p0, p1 in bounds]:
                    f.result()
        return out

    # -- GPU: one preparation kernel, one cuFFT along the last axis, one band-sum kernel --
    def _cuda(self, cube, out):
        import cupy

        import kernels.cuda as kg

        if self._buf is None:
            self._buf = cupy.empty((self.npix, self.m), self.dtype)  # pixel-major samples
        d = self._dev
        kg.prepare_rows(cube, self._buf, d["taper"], self.detrend)
        spec = cupy.fft.rfft(self._buf, axis=-1)  # contiguous batched R2C, plan cached by CuPy
        kg.band_power_rows(spec, d["starts"], d["stops"], d["weights"], out)
        return out

    def __call__(self, cube, out=None):
        """Band powers ``(nb, P)`` of one window ``cube`` ``(N, P)`` on this engine's device.

        On the GPU, ``cube`` must already be there (a window of a cube copied once).
        """
        if cube.shape != (self.n, self.npix):
            raise ValueError(f"window of shape {cube.shape}, expected {(self.n, self.npix)}")
        xp = backend.array_module(self.device)
        if out is None:
            out = xp.empty((self.nb, self.npix), np.float32)
        if self.device == "cuda":
            return self._cuda(cube, out)
        return self._cpu(np.asarray(cube), out)


def _window_source(data, eng):
    """What windows are cut from: on the GPU the whole cube, copied there once (not at all
    when it is there already) in the engine's precision; on the CPU the data as they are."""
    if eng.device == "cpu":
        return data
    import cupy

    cube = cupy.asarray(data)  # host data: the one host→device copy
    if eng.dtype == np.float32 and cube.dtype != np.float32:
        cube = cube.astype(np.float32)
    return cupy.ascontiguousarray(cube.reshape(cube.shape[0], eng.npix))


def _window(source, lo, hi, eng):
    """Frames ``lo:hi`` as an ``(N, P)`` C-contiguous array on the engine's device."""
    if eng.device == "cuda":
        return source[lo:hi]  # a view of the device cube: no copy
    cube = backend.to_host(source[lo:hi]).reshape(hi - lo, eng.npix)
    if eng.dtype == np.float32 and cube.dtype != np.float32:
        cube = cube.astype(np.float32)
    return np.ascontiguousarray(cube)


def band_powers(cube: Any, dt: float, *, bands: Sequence[tuple[float, float]] = DEFAULT_BANDS,
                convention: str = "physical", difference: bool = True,
                compensate_difference: bool = False, detrend: str | None = None,
                apodize: str | tuple | npt.ArrayLike | None = None, precision: str = "float32",
                device: str = "auto") -> Any:
    """Band powers of one window of Dopplergrams held as an array.

    Parameters
    ----------
    cube : array_like
        ``(N, ny, nx)`` (or ``(N, P)``) float32 velocities, m/s (NumPy or CuPy).
    dt : float
        Cadence, s.
    bands, convention, difference, compensate_difference, detrend, apodize, precision
        As :func:`power_maps` (``detrend``/``apodize`` None = the convention's default).
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    array
        ``(n_bands,) + cube.shape[1:]`` float32, on ``device``.
    """
    device = backend.resolve_device(device, cube)
    detrend, apodize = _defaults(convention, detrend, apodize)
    shape = cube.shape
    if len(shape) < 2:
        raise ValueError(f"cube must be (time, ...) with at least one pixel, not {shape}")
    npix = int(np.prod(shape[1:]))
    eng = _Engine(shape[0], npix, float(dt), bands=bands, convention=convention,
                  difference=difference, compensate=compensate_difference, detrend=detrend,
                  apodize=apodize, precision=precision, device=device)
    flat = _window(_window_source(cube, eng), 0, shape[0], eng)
    return eng(flat).reshape((eng.nb,) + tuple(shape[1:]))


def _defaults(convention, detrend, apodize):
    if convention == "physical":
        return ("linear" if detrend is None else detrend), ("hann" if apodize is None else apodize)
    return detrend, apodize


def _window_power(cube, eng, out=None):
    """Band powers ``(nb, P)`` of one window ``cube`` (``(N, ...)``, NumPy or CuPy)."""
    xp = backend.array_module(eng.device)
    cube = xp.asarray(cube).reshape(eng.n, eng.npix)
    if cube.dtype != np.float32 and eng.dtype == np.float32:
        cube = cube.astype(np.float32)
    return eng(xp.ascontiguousarray(cube), out)


def _window_block(cube, eng):
    """One window of a chunked series (a task): its own copy of the engine's buffers."""
    import copy

    from solarprep.parallel.blocks import block_threads, numba_threads

    eng = copy.copy(eng)
    eng._buf = None  # two tasks of one worker may share the engine, never its buffers
    with numba_threads(block_threads()):
        return _window_power(cube, eng)


def _lazy_window(cube, eng):
    """The band powers ``(nb, P)`` of one window of a dask series, as a lazy array.

    The window's frames, wherever the chunk borders fall, are gathered into one block, so
    its powers are computed exactly as in the eager loop.
    """
    import dask

    meta = backend.array_module(eng.device).empty((0, 0), np.float32)
    whole = cube.reshape(cube.shape[0], -1).rechunk(-1)
    return whole.map_blocks(_window_block, dask.delayed(eng, pure=True), dtype=np.float32,
                            chunks=((eng.nb,), (eng.npix,)), meta=meta)


def _lazy_nan_window(data, nb):
    import dask.array

    return dask.array.full((nb, int(np.prod(data.shape[1:]))), np.nan, dtype=np.float32,
                           chunks=-1)


def power_maps(ds: xr.Dataset, variable: str | None = None, *,
               bands: Sequence[tuple[float, float]] = DEFAULT_BANDS, window: Duration = "8h",
               step: Duration | None = None, convention: str = "physical", difference: bool = True,
               compensate_difference: bool = False, detrend: str | None = None,
               apodize: str | tuple | npt.ArrayLike | None = None, cadence: Duration | None = None,
               gaps: str = "nan", precision: str = "float32", device: str = "auto",
               progress: bool = False) -> xr.Dataset:
    """Acoustic power maps in frequency bands, over one or many (sliding) time windows.

    Parameters
    ----------
    ds : xarray.Dataset
        Dopplergrams ``(time, y, x)`` in m/s, at a regular cadence (gaps allowed).
    variable : str, optional
        Default ``vlos`` (or the only image variable).
    bands : sequence of (low, high)
        Frequency bands in mHz (default the SOLARED 2–3, 3–4, 4–5, 5–6 mHz).
    window : astropy.units.Quantity, str or float
        Window length (``8 * u.h``, ``"8h"``, or seconds); it holds
        ``N = round(window/Δt)`` frames.
    step : astropy.units.Quantity, str or float, optional
        Distance between window starts (e.g. ``12 * u.min``, ``"1h"``, seconds); default:
        the window (back-to-back windows). Only full windows are computed.
    convention : {"physical", "solared"}
        See the module docstring; ``"solared"`` reproduces the dataset's numbers.
    difference : bool
        Difference the frames first (``ΔV[i] = V[i+1] − V[i]``, inside the window).
    compensate_difference : bool
        Physical convention: divide by ``|2 sin(πfΔt)|²``.
    detrend : {None, "constant", "linear"}
        Physical convention; default ``"linear"`` (SOLARED: none).
    apodize : str, tuple or array, optional
        Physical convention: a ``scipy.signal.get_window`` name or array; default
        ``"hann"``; ``"none"`` for a rectangular window.
    cadence : astropy.units.Quantity, str or float, optional
        ``45 * u.s``, ``"45s"`` or seconds; detected from ``time`` by default.
    gaps : {"nan", "raise"}
        A window with a missing frame is NaN (default) or raises.
    precision : {"float32", "float64"}
        Arithmetic of the FFT (output is float32 either way).
    device : {"auto", "cpu", "cuda"}
    progress : bool
        tqdm bar over the windows.

    Returns
    -------
    xarray.Dataset
        One float32 ``(time, y, x)`` variable per band (for a chunked series, lazy: one
        task per window, its frames gathered across chunk borders), named :func:`band_name`
        (``power_2_3``, ...), units ``m2 / s2`` (physical) or ``m2 / s`` (SOLARED's
        ``Δt²/T·|X|²`` per unit bin), ``time`` = window centres, per-frame geometry
        of the frame nearest each centre, and the attributes ``convention``,
        ``window_s``, ``step_s``, ``window_frames``, ``cadence_s``, ``bands_mhz``.

    Raises
    ------
    solarprep.helioseismology.doppler.CadenceError
        Irregular cadence, fewer than two frames, times not increasing, or a gap
        inside a window with ``gaps="raise"``.
    solarprep.errors.QuantityError
        A window, step or cadence that is no duration (a length, ``"eight hours"``).
    ValueError
        A window longer than the series, a window of fewer than 2 samples, bad
        options.

    Notes
    -----
    Windows that contain a gap (a missing frame) are NaN with ``gaps="nan"``; the
    series is placed on the regular grid of its cadence and windows start every
    ``step`` from the first frame. References: SOLARED preprocessing (Kasapis et
    al. 2025, NASA-IMPACT ar_emergence); acoustic power suppression in active
    regions, Hindman & Brown (1998, ApJ 504, 1029); PSD normalisation, e.g.
    Press et al., Numerical Recipes §13.4.
    """
    if gaps not in ("nan", "raise"):
        raise ValueError(f"gaps must be 'nan' or 'raise', not {gaps!r}")
    variable = _pick_variable(ds, variable)
    var = ds[variable]
    if var.dims[0] != "time" or var.ndim < 2:
        raise ValueError(f"{variable!r} has dims {var.dims}; expected ('time', 'y', 'x')")
    times = ds["time"].values
    if times.size < 2:
        raise CadenceError(f"need at least two frames for a power map, got {times.size}")
    dt, slots, frame_at = regular_grid(times, as_seconds(cadence, "cadence", allow_zero=False))
    win_s = as_seconds(window, "window", allow_zero=False)
    n = int(round(win_s / dt))
    if n < 2:
        raise ValueError(f"window={window!r} holds {n} frame(s) of {dt:g} s: need at least 2")
    n_slots = frame_at.size
    if n > n_slots:
        raise ValueError(f"window={window!r} ({n} frames of {dt:g} s = {n * dt / 3600:.3g} h) is "
                         f"longer than the series ({n_slots} frames = {n_slots * dt / 3600:.3g} h); "
                         "shorten the window")
    step_s = win_s if step is None else as_seconds(step, "step", allow_zero=False)
    s = int(round(step_s / dt))
    if s < 1:
        raise ValueError(f"step={step!r} is shorter than one frame ({dt:g} s)")
    starts = np.arange(0, n_slots - n + 1, s)
    device = backend.resolve_device(device, ds)
    detrend, apodize = _defaults(convention, detrend, apodize)
    shape = var.shape[1:]
    npix = int(np.prod(shape))
    eng = _Engine(n, npix, dt, bands=bands, convention=convention, difference=difference,
                  compensate=compensate_difference, detrend=detrend, apodize=apodize,
                  precision=precision, device=device)
    xp = backend.array_module(device)
    chunked = is_chunked(var)
    out = [] if chunked else xp.full((starts.size, eng.nb, npix), np.nan, np.float32)
    centre_frames = np.empty(starts.size, np.int64)
    data = var.data
    source = None if chunked else _window_source(data, eng)
    n_nan = 0
    from tqdm.auto import tqdm

    tic = _time.perf_counter()
    for j, a in enumerate(tqdm(starts, desc="power maps", unit="window",
                               disable=not progress or chunked)):
        idx = frame_at[a:a + n]
        present = idx[idx >= 0]
        mid = a + (n - 1) / 2
        centre_frames[j] = present[np.argmin(np.abs(slots[present] - mid))] if present.size else 0
        if present.size < n:
            if gaps == "raise":
                raise CadenceError(
                    f"window {j} ({n} frames from slot {a}) has {n - present.size} missing "
                    f"frame(s); pass gaps='nan' to get NaN for such windows")
            n_nan += 1
            if chunked:
                out.append(_lazy_nan_window(data, eng.nb))
            continue
        lo, hi = int(idx[0]), int(idx[-1]) + 1  # contiguous frames (no gap)
        if chunked:
            out.append(_lazy_window(data[lo:hi], eng))
        else:
            eng(_window(source, lo, hi, eng), out[j])
    if n_nan:
        log.warning("power_maps: %d of %d windows contain a gap and are NaN", n_nan, starts.size)
    if chunked:
        import dask.array

        out = dask.array.stack(out)
    else:
        log.debug("power_maps: %d windows of %d frames in %.3f s on %s", starts.size, n,
                  _time.perf_counter() - tic, device)
    out = out.reshape((starts.size, eng.nb) + tuple(shape))
    t0 = times[0]
    centres = t0 + ((starts + (n - 1) / 2) * dt * 1e9).astype("timedelta64[ns]")
    result = xr.Dataset(coords={"time": centres})
    for name in var.dims[1:]:
        if name in ds.coords:
            result = result.assign_coords({name: ds[name]})
    for name in FRAME_COORDS:
        if name in ds.coords and ds[name].dims == ("time",):
            result = result.assign_coords(
                {name: ("time", ds[name].values[centre_frames], ds[name].attrs)})
    result.attrs = dict(ds.attrs)
    units = "m2 / s" if convention == "solared" else "m2 / s2"
    bands_t = _check_bands(bands)
    for b, band in enumerate(bands_t):
        what = ("SOLARED acoustic power (dt^2/T |FFT(dV)|^2, trapezoid over bins, closed band)"
                if convention == "solared" else
                "acoustic power (band-integrated one-sided PSD of "
                + ("compensated " if compensate_difference else "")
                + ("dV" if difference else "V") + ")")
        result[band_name(band)] = xr.Variable(
            ("time",) + tuple(var.dims[1:]), out[:, b],
            {"units": units, "long_name": f"{what} {band[0]:g}-{band[1]:g} mHz"})
    result.attrs.update({"convention": convention, "window_s": n * dt, "step_s": s * dt,
                         "window_frames": n, "cadence_s": dt,
                         "bands_mhz": np.asarray(bands_t, np.float64).ravel().tolist(),
                         "difference": int(bool(difference)),
                         "compensate_difference": int(bool(compensate_difference)),
                         "detrend": str(detrend) if convention == "physical" else "none",
                         "apodize": (str(apodize) if convention == "physical" and
                                     isinstance(apodize, (str, tuple)) else
                                     ("array" if convention == "physical" else "none"))})
    return append_history(result, f"power_maps(variable={variable!r}, convention={convention!r}, "
                                  f"window={n * dt:g} s, step={s * dt:g} s, bands={bands_t}) "
                                  f"{starts.size} window(s), {n_nan} NaN")
