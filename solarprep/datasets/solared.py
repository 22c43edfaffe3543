"""SOLARED: per-tile timelines of emerging active regions and the model-ready dataset.

The Solar Active Region Emergence Dataset (SOLARED; Kasapis et al., NASA-IMPACT
``ar_emergence``) describes each active region (AR) by per-tile timelines on a
9×9 grid of its tracked 512² patch: acoustic power in four bands (2–3, 3–4,
4–5, 5–6 mHz), mean unsigned magnetic flux and continuum intensity, one value per
hour. Models see 120 steps of the five input channels on the 63 tiles left after
the flattening and predict the intensity of every tile ``lead`` (12) steps
later. ``docs/solared.md`` has the formulas and the differences from the seed.

Timelines (one AR): an :class:`xarray.Dataset` with dims ``(time, tile)``,
``tile = 9·row + col`` (coords ``tile_row``, ``tile_col``), float32 variables
``power_2_3 … power_5_6``, ``flux`` (G), ``intensity``, attribute
``active_region``. Read/written in the dataset's ``.npz`` layout
(:func:`read_timelines`, :func:`write_timelines`) or as netCDF
(:func:`solarprep.save`).

Sources for :func:`build`: a folder of ``.npz`` timelines, a timelines Dataset,
:class:`FitsRegion` (tracked FITS cubes as JSOC writes them: data in HDU 1,
``MIDTIME`` in the header, one 8-hour Dopplergram cube per timeline step) or
:class:`SyntheticRegion` (an emerging bipole with p modes, analytic or from
the synthetic Sun).
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import pathlib
import re
import time as _time
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from solarprep import backend
from solarprep.dataset import CONVENTIONS, append_history, as_seconds
from solarprep.errors import QuantityError, SolarDataError
from solarprep.helioseismology.power import DEFAULT_BANDS, band_name, band_powers
from solarprep.helioseismology.tiles import solared_flatten, tile_coords, tile_means
from solarprep.io.npz import load_npz, save_npz

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping, Sequence

    import numpy.typing as npt

    from solarprep.dataset import Duration
    from solarprep.datasets.normalize import NormStats

__all__ = ["POWER_VARIABLES", "CHANNELS", "GRID", "read_timelines", "write_timelines",
           "keep_tiles", "flatten_timelines", "timelines_dataset", "read_tracked_cube",
           "FitsRegion", "SyntheticRegion", "region_samples", "no_window_reason", "assign_splits",
           "build"]

log = logging.getLogger(__name__)

GRID = 9
POWER_VARIABLES = tuple(band_name(b) for b in DEFAULT_BANDS)
#: Input channels of the model-ready dataset, in order.
CHANNELS = POWER_VARIABLES + ("flux",)
#: Active-region names that may be put in file names (no separators, no leading dot).
_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")
_UNITS = {"power": "m2 / s", "flux": "G", "intensity": ""}
_LONG = {"flux": "mean unsigned line-of-sight magnetic flux density per tile",
         "intensity": "mean continuum intensity per tile (SOLARED units)"}


# --------------------------------------------------------------------------- timelines

def timelines_dataset(times: npt.ArrayLike, power: npt.ArrayLike, flux: npt.ArrayLike,
                      intensity: npt.ArrayLike, *, active_region: str, flattened: bool = False,
                      source: str = "",
                      bands: Sequence[tuple[float, float]] = DEFAULT_BANDS) -> xr.Dataset:
    """Assemble a timelines Dataset from arrays.

    Parameters
    ----------
    times : array_like
        datetime64 (or datetime objects), ``(T,)``.
    power : array_like
        ``(n_bands, T, n_tiles)`` band powers (SOLARED units, ``m2 / s``).
    flux, intensity : array_like
        ``(T, n_tiles)``.
    active_region : str
        NOAA number or name.
    flattened : bool
        Whether the SOLARED flattening was applied.
    """
    t = np.asarray(times).astype("datetime64[ns]")
    power = np.asarray(power)
    n_tiles = power.shape[-1]
    grid = int(round(math.sqrt(n_tiles)))
    if grid * grid == n_tiles:
        rows, cols = tile_coords(grid)
    else:
        rows, cols = tile_coords(GRID)
        keep = (rows != 0) & (rows != GRID - 1)
        rows, cols = rows[keep], cols[keep]
        if rows.size != n_tiles:
            raise ValueError(f"{n_tiles} tiles is neither a square grid nor the 63 kept tiles")
    ds = xr.Dataset(coords={"time": t, "tile": np.arange(n_tiles),
                            "tile_row": ("tile", rows), "tile_col": ("tile", cols)})
    for b, band in enumerate(bands):
        ds[band_name(band)] = xr.Variable(
            ("time", "tile"), np.asarray(power[b], np.float32),
            {"units": _UNITS["power"],
             "long_name": f"SOLARED acoustic power {band[0]:g}-{band[1]:g} mHz per tile"})
    ds["flux"] = xr.Variable(("time", "tile"), np.asarray(flux, np.float32),
                             {"units": _UNITS["flux"], "long_name": _LONG["flux"]})
    ds["intensity"] = xr.Variable(("time", "tile"), np.asarray(intensity, np.float32),
                                  {"units": _UNITS["intensity"], "long_name": _LONG["intensity"]})
    ds.attrs = {"Conventions": CONVENTIONS, "title": f"SOLARED timelines of AR {active_region}",
                "active_region": str(active_region), "flattened": int(bool(flattened)),
                "grid": GRID, "source": str(source)}
    return ds


def _safe_name(name, what):
    """An active-region name that can be put in a file name without leaving the folder."""
    name = str(name)
    if not _NAME_RE.match(name):
        raise SolarDataError(f"{what} {name!r} cannot be used in a file name: an active region "
                             "name is letters, digits, '-', '_' and '.' (not first), at most "
                             "64 characters (e.g. '11158')")
    return name


def _find(folder, kind, flat):
    names = sorted(folder.glob(f"mean_{kind}*.npz"))
    flat_names = [p for p in names if p.stem.endswith("_flat")]
    plain = [p for p in names if not re.search(r"_(flat|d|dflat)$", p.stem)]
    chosen = flat_names if flat else plain
    if not chosen:
        raise SolarDataError(f"{folder}: no mean_{kind}<AR>{'_flat' if flat else ''}.npz file "
                             f"(found {[p.name for p in names]}); is this a SOLARED AR folder?")
    if len(chosen) > 1:
        raise SolarDataError(f"{folder}: several mean_{kind} files {[p.name for p in chosen]}")
    return chosen[0]


def _times(values, path, key):
    """The timestamps of one file as datetime64[ns] (UTC): datetime objects or datetime64."""
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise SolarDataError(f"{path}: the timestamps {key} have shape {values.shape}; expected "
                             "one timestamp per step, shape (T,) with T >= 1")
    if np.issubdtype(values.dtype, np.datetime64):
        t = values.astype("datetime64[ns]")
    elif values.dtype == object:
        t = np.array([np.datetime64(_naive_utc(v), "ns") for v in values])
    else:
        raise SolarDataError(f"{path}: the timestamps {key} are {values.dtype}, not datetimes; "
                             "the last array of a SOLARED file holds the step times")
    if np.isnat(t).any():
        raise SolarDataError(f"{path}: timestamp {int(np.argmax(np.isnat(t)))} of {key} is NaT")
    return t


def _naive_utc(value):
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def _check_order(times, path):
    """Timestamps must increase strictly: the message names the first bad position."""
    steps = np.diff(times)
    bad = np.flatnonzero(steps <= np.timedelta64(0, "ns"))
    if bad.size:
        i = int(bad[0])
        what = ("duplicates the previous one" if times[i + 1] == times[i]
                else f"is before the previous one ({times[i]})")
        raise SolarDataError(f"{path}: timestamp {i + 1} ({times[i + 1]}) {what}; {bad.size} "
                             "step(s) do not increase. The timelines must be in time order "
                             "without duplicates: fix the file (or rewrite it with "
                             "write_timelines from a sorted Dataset)")


def _read_file(path, n_arrays):
    """``(arrays, times)`` of one SOLARED ``.npz``: ``n_arrays`` (81, T) arrays then the times."""
    members = load_npz(path)
    try:
        keys = sorted(members, key=lambda s: int(s.removeprefix("arr_")))
    except ValueError:
        raise SolarDataError(f"{path}: holds arrays {list(members)}, not arr_0, arr_1, ... as "
                             "SOLARED writes them") from None
    if len(keys) != n_arrays + 1:
        raise SolarDataError(f"{path}: holds {len(keys)} array(s); expected {n_arrays} timeline "
                             f"array(s) and the timestamps (arr_0 .. arr_{n_arrays})")
    times = _times(members[keys[-1]], path, keys[-1])
    arrays = []
    for key in keys[:-1]:
        a = members[key]
        if a.dtype.kind not in "fiu":
            raise SolarDataError(f"{path}: {key} holds {a.dtype} values, not numbers")
        if a.shape != (GRID * GRID, times.size):
            raise SolarDataError(f"{path}: {key} has shape {a.shape}; expected ({GRID * GRID}, "
                                 f"{times.size}): {GRID}x{GRID} tiles by the {times.size} "
                                 "timestamps")
        a = a.astype(np.float64)
        n_inf = int(np.isinf(a).sum())
        if n_inf:
            raise SolarDataError(f"{path}: {key} holds {n_inf} infinite value(s) (first at tile, "
                                 f"step {tuple(int(i) for i in np.argwhere(np.isinf(a))[0])}); "
                                 "missing values must be NaN")
        arrays.append(a)
    _check_order(times, path)
    return arrays, times


def read_timelines(folder: str | os.PathLike, *, flat: bool = True) -> xr.Dataset:
    """Read one AR folder of SOLARED ``.npz`` timelines.

    Parameters
    ----------
    folder : str or pathlib.Path
        Holds ``mean_pmdop{AR}_flat.npz`` (arr_0..arr_3: four band powers, each
        ``(81, T)``; arr_4: ``(T,)`` datetimes), ``mean_mag{AR}_flat.npz`` and
        ``mean_int{AR}_flat.npz`` (arr_0 ``(81, T)``, arr_1 datetimes).
    flat : bool
        Read the flattened (``_flat``) files (default) or the plain ones.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, tile=81)``; see the module docstring.

    Raises
    ------
    solarprep.SolarDataError
        Missing, truncated or corrupt files; wrong array counts, shapes or types;
        infinite values; timestamps that are not increasing, are duplicated or differ
        between the files; a pickle that names anything but datetime types.

    Notes
    -----
    The timestamps are pickled ``datetime`` objects. They are read with
    :func:`solarprep.io.npz.load_npz`, which unpickles nothing but numpy arrays of
    ``datetime`` objects, so a crafted file cannot run code. NaN values are kept
    (the dataset has NaN stretches; :func:`region_samples` skips windows with them).
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise SolarDataError(f"{folder}: not a folder of SOLARED timelines")
    arrays, stamps, paths = {}, {}, {}
    for kind in ("pmdop", "mag", "int"):
        paths[kind] = _find(folder, kind, flat)
        arrays[kind], stamps[kind] = _read_file(paths[kind], 4 if kind == "pmdop" else 1)
    for kind in ("mag", "int"):
        if not np.array_equal(stamps["pmdop"], stamps[kind]):
            a, b = stamps["pmdop"], stamps[kind]
            n = min(a.size, b.size)
            first = int(np.argmax(a[:n] != b[:n])) if np.any(a[:n] != b[:n]) else n
            raise SolarDataError(
                f"{folder}: the timestamps of {paths[kind].name} ({b.size} steps) differ from "
                f"those of {paths['pmdop'].name} ({a.size} steps) from step {first} on; the "
                "three files of a region must share their timestamps")
    m = re.search(r"(\d+)", paths["pmdop"].stem)
    name = m.group(1) if m else folder.name
    power = np.stack([a.T for a in arrays["pmdop"]])
    ds = timelines_dataset(stamps["pmdop"], power, arrays["mag"][0].T, arrays["int"][0].T,
                           active_region=name, flattened=flat, source=str(folder))
    return append_history(ds, f"read_timelines({folder.name!r}, flat={flat})")


def keep_tiles(ds: xr.Dataset, *, grid: int = GRID) -> xr.Dataset:
    """Drop the top and bottom tile rows (zero after the flattening): 81 → 63 tiles."""
    rows = ds["tile_row"].values
    keep = np.flatnonzero((rows != 0) & (rows != grid - 1))
    return ds.isel(tile=keep)


def flatten_timelines(ds: xr.Dataset) -> xr.Dataset:
    """Apply :func:`solarprep.helioseismology.tiles.solared_flatten` to every variable of an
    81-tile Dataset."""
    if ds.sizes.get("tile") != GRID * GRID:
        raise ValueError(f"flattening needs the full {GRID}x{GRID} tiles, got {ds.sizes.get('tile')}")
    out = ds.copy()
    for name, var in ds.data_vars.items():
        if var.dims == ("time", "tile"):
            out[name] = var.copy(data=solared_flatten(var.values.astype(np.float64), axis=1)
                                 .astype(np.float32))
    out.attrs["flattened"] = 1
    return append_history(out, "flatten_timelines() SOLARED dtws row blend")


def write_timelines(ds: xr.Dataset, folder: str | os.PathLike, *,
                    suffix: str | None = None) -> list[pathlib.Path]:
    """Write a timelines Dataset in SOLARED's ``.npz`` layout (three files).

    63-tile Datasets are padded back to 81 tiles with zeros in the top and bottom
    rows, as in the dataset. ``suffix`` defaults to ``"_flat"`` for a flattened
    Dataset and ``""`` otherwise. Returns the three paths. Each file is written
    atomically (:func:`solarprep.io.npz.save_npz`); an ``active_region`` that is not
    a plain name (letters, digits, ``-_.``) raises :class:`SolarDataError`.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = _safe_name(ds.attrs.get("active_region", "0"), "the Dataset's active_region")
    if suffix is None:
        suffix = "_flat" if int(ds.attrs.get("flattened", 0)) else ""
    rows, cols = ds["tile_row"].values, ds["tile_col"].values
    index = GRID * rows + cols
    times = np.array([datetime.datetime(1970, 1, 1) + datetime.timedelta(
        microseconds=int(t) // 1000) for t in ds["time"].values.astype("datetime64[ns]")
        .astype(np.int64)], dtype=object)

    def full(var):
        a = np.zeros((GRID * GRID, ds.sizes["time"]))
        a[index] = np.asarray(ds[var].values, np.float64).T
        return a

    paths = []
    for kind, variables in (("pmdop", POWER_VARIABLES), ("mag", ("flux",)), ("int", ("intensity",))):
        path = folder / f"mean_{kind}{name}{suffix}.npz"
        arrays = {f"arr_{i}": full(v) for i, v in enumerate(variables)}
        arrays[f"arr_{len(variables)}"] = times
        paths.append(save_npz(path, arrays))
    return paths


# --------------------------------------------------------------------------- FITS cubes

def _parse_time(value):
    from astropy.time import Time

    s = str(value).strip()
    scale = "utc"
    m = re.match(r"^(\d{4})\.(\d{2})\.(\d{2})_(\d{2}:\d{2}:[\d.]+)(?:_([A-Z]+))?$", s)
    if m:
        s = f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}"
        scale = (m.group(5) or "UTC").lower()
    elif s.endswith("_TAI"):
        s, scale = s[:-4], "tai"
    s = s.replace("_", "T")
    return np.datetime64(Time(s, scale=scale).utc.isot, "ns")


def read_tracked_cube(path: str | os.PathLike, *, cadence: Duration | None = None
                      ) -> tuple[np.ndarray, np.datetime64, float]:
    """Read a tracked cube as JSOC writes it: ``(data, midtime, cadence)``.

    The data are the first 3-D image HDU (HDU 1 for JSOC exports, which keep HDU 0
    empty, possibly RICE-compressed), ``(time, y, x)`` float32; ``MIDTIME`` (JSOC
    ``2011.02.14_12:00:00_TAI`` or ISO) gives the cube's centre time; the cadence
    comes from ``CADENCE``, ``T_STEP`` or ``DELTA_T`` (default 45 s) unless ``cadence``
    (``45 * u.s``, ``"45s"`` or seconds) is given.
    """
    from astropy.io import fits

    path = pathlib.Path(path)
    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.data is not None and getattr(hdu.data, "ndim", 0) == 3:
                data = np.asarray(hdu.data, dtype=np.float32)
                header = hdu.header
                break
        else:
            raise SolarDataError(f"{path}: no 3-D image HDU (expected the cube in HDU 1)")
        head0 = hdul[0].header
    mid = header.get("MIDTIME", head0.get("MIDTIME"))
    if mid is None:
        raise SolarDataError(f"{path}: no MIDTIME keyword; cannot place the cube in time")
    if cadence is None:
        for key in ("CADENCE", "T_STEP", "DELTA_T"):
            if key in header or key in head0:
                cadence = float(header.get(key, head0.get(key)))
                break
        else:
            cadence = 45.0
    return data, _parse_time(mid), as_seconds(cadence, "cadence", allow_zero=False)


@dataclasses.dataclass
class FitsRegion:
    """An AR given as tracked FITS cubes, one file per timeline step.

    Attributes
    ----------
    name : str
        NOAA number or name.
    doppler : list of path
        Dopplergram cubes (8 h at 45 s in SOLARED), each one timeline step at
        its ``MIDTIME``.
    magnetogram, continuum : list of path
        Cubes whose middle frame gives the flux (``|B|``) and intensity of the
        step with the nearest ``MIDTIME`` (the seed took frame ``n_files/2``, a
        bug; here the middle frame of each cube).
    convention : str
        Power convention (default ``"solared"``).
    tile_mode : str
        ``"solared"`` or ``"exact"`` tiling.
    """

    name: str
    doppler: list
    magnetogram: list = None
    continuum: list = None
    convention: str = "solared"
    tile_mode: str = "solared"
    device: str = "auto"

    def timelines(self, progress: bool = False) -> xr.Dataset:
        from tqdm.auto import tqdm

        if not self.doppler:
            raise ValueError(f"region {self.name}: no Dopplergram cubes")
        steps = []
        for path in tqdm(list(self.doppler), desc=f"AR {self.name} power", disable=not progress):
            cube, mid, dt = read_tracked_cube(path)
            p = band_powers(cube, dt, convention=self.convention, device=self.device)
            steps.append((mid, backend.to_host(tile_means(p, mode=self.tile_mode))))
        times = np.array([s[0] for s in steps])
        order = np.argsort(times)
        times = times[order]
        power = np.stack([steps[k][1] for k in order], axis=1)  # (nb, T, 81)

        def middle(paths, absolute):
            if not paths:
                return np.full((times.size, GRID * GRID), np.nan)
            frames = {}
            for path in paths:
                data, mid, _ = read_tracked_cube(path)
                frame = data[data.shape[0] // 2]
                frames[mid] = tile_means(np.abs(frame) if absolute else frame, mode=self.tile_mode)
            keys = np.array(sorted(frames))
            rows = []
            for t in times:
                k = keys[np.argmin(np.abs(keys - t))]
                rows.append(frames[k])
            return np.stack(rows)

        flux = middle(self.magnetogram, True)
        intensity = middle(self.continuum, False)
        return timelines_dataset(times, power, flux, intensity, active_region=self.name,
                                 source=f"{len(self.doppler)} tracked Dopplergram cubes")


# --------------------------------------------------------------------------- synthetic ARs

@dataclasses.dataclass
class SyntheticRegion:
    """A synthetic emerging active region with known truth, observed hour by hour.

    Each timeline step is an ``n_frames``-frame Dopplergram window (45 s) of a
    ``shape``² patch plus a magnetogram and a continuum image at the window
    centre. ``engine="analytic"`` (fast): a bipole ``B = F(t)·(G₊ − G₋)``
    (Gaussian polarities separating as they emerge, ``F(t) = ½(1 + tanh((t − t_e)/τ))``),
    p modes from :class:`solarprep.synthetic.doppler.PModes` (damped oscillators,
    Lorentzian at 3.2 mHz) with amplitude ``rms·(1 − 0.6 tanh(|B|/300 G))``
    (Hindman & Brown 1998), continuum ``1 − 0.7 tanh((|B|/1200 G)²)``, noise.
    ``engine="sun"``: the same patch at disk centre cut from
    :class:`solarprep.synthetic.SyntheticSun` (its Dopplergram model: rotation,
    observer motion, limb shift, p modes suppressed by the field; slow, seconds
    per step at 48²).

    Attributes
    ----------
    name : str
    seed : int
    n_steps : int
        Timeline steps (1 h apart by default).
    shape : int
        Patch size in pixels (≥ 9).
    n_frames : int
        Dopplergram frames per window (SOLARED: 640 = 8 h).
    cadence, step : float
        Seconds between frames, and between timeline steps.
    emergence_step, tau_steps : float
        Emergence time and time scale, in steps.
    start : str
        Time of the first step.
    """

    name: str
    seed: int = 0
    n_steps: int = 160
    shape: int = 45
    n_frames: int = 64
    cadence: float = 45.0
    step: float = 3600.0
    emergence_step: float = 100.0
    tau_steps: float = 12.0
    start: str = "2024-05-01T00:00"
    engine: str = "analytic"
    peak_field: float = 2000.0
    pmode_rms: float = 250.0
    convention: str = "solared"

    def _field(self, t_step, rng_offsets):
        n = self.shape
        y, x = np.mgrid[0:n, 0:n] / (n - 1) - 0.5
        f = 0.5 * (1 + math.tanh((t_step - self.emergence_step) / self.tau_steps))
        sep = 0.05 + 0.2 * f
        dy, dx = rng_offsets
        sigma = 0.08
        g1 = np.exp(-((x - dx - sep / 2) ** 2 + (y - dy) ** 2) / (2 * sigma**2))
        g2 = np.exp(-((x - dx + sep / 2) ** 2 + (y - dy) ** 2) / (2 * sigma**2))
        return (self.peak_field * f * (g1 - g2)).astype(np.float32)

    def _analytic_step(self, k, rng):
        from solarprep.synthetic.doppler import PModes

        offsets = (0.1 * (np.random.default_rng(self.seed).random(2) - 0.5))
        b = self._field(k, offsets)
        amp = self.pmode_rms * (1 - 0.6 * np.tanh(np.abs(b) / 300.0))
        pm = PModes((self.shape, self.shape), 3, self.cadence, 3.2e-3, 1.0e-3, rng)
        cube = np.empty((self.n_frames, self.shape, self.shape), np.float32)
        cube[0] = pm.first()
        for i in range(1, self.n_frames):
            cube[i] = pm.step()
        cube *= amp.astype(np.float32)
        cube += 10.0 * rng.standard_normal(cube.shape, np.float32)
        mag = b + 8.0 * rng.standard_normal(b.shape, np.float32)
        cont = (6e4 * (1 - 0.7 * np.tanh((np.abs(b) / 1200.0) ** 2))
                * (1 + 1e-3 * rng.standard_normal(b.shape))).astype(np.float32)
        return cube, mag, cont

    def _sun(self):
        from solarprep.synthetic import ActiveRegion, SyntheticSun

        t_e = np.datetime64(self.start) + np.timedelta64(int(self.emergence_step * self.step), "s")
        ar = ActiveRegion(lat=0.0, lon=0.0, flux=1e22, t_emerge=str(t_e),
                          tau=self.tau_steps * self.step / 3600.0, name=str(self.name))
        return SyntheticSun(seed=self.seed, features=[ar], t0=str(t_e))

    def _sun_step(self, sun, when):
        kw = {"shape": self.shape, "cdelt": 4.0 * 48 / self.shape, "crota2": 0.0}
        start = when - np.timedelta64(int(self.n_frames * self.cadence * 500), "ms")
        maps = sun.dopplergram_cube(str(start), self.n_frames, self.cadence, **kw)
        cube = np.stack([np.asarray(m.data, np.float32) for m in maps])
        mag = np.asarray(sun.magnetogram(str(when), **kw).data, np.float32)
        cont = np.asarray(sun.continuum(str(when), **kw).data, np.float32)
        return cube, mag, cont

    def timelines(self, progress: bool = False) -> xr.Dataset:
        from tqdm.auto import tqdm

        if self.shape < GRID:
            raise ValueError(f"shape={self.shape}: a patch needs at least {GRID} pixels a side")
        if self.engine not in ("analytic", "sun"):
            raise ValueError(f"engine must be 'analytic' or 'sun', not {self.engine!r}")
        t0 = np.datetime64(self.start, "ns")
        times = t0 + (np.arange(self.n_steps) * self.step * 1e9).astype("timedelta64[ns]")
        sun = self._sun() if self.engine == "sun" else None
        power, flux, inten = [], [], []
        for k in tqdm(range(self.n_steps), desc=f"synthetic AR {self.name}", disable=not progress):
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, k]))
            if sun is None:
                cube, mag, cont = self._analytic_step(k, rng)
            else:
                cube, mag, cont = self._sun_step(sun, times[k])
            p = band_powers(cube, self.cadence, convention=self.convention, device="cpu")
            power.append(tile_means(p))
            flux.append(tile_means(np.abs(mag)))
            inten.append(tile_means(cont))
        return timelines_dataset(times, np.stack(power, axis=1), np.stack(flux), np.stack(inten),
                                 active_region=self.name,
                                 source=f"SyntheticRegion(engine={self.engine!r}, seed={self.seed})")


# --------------------------------------------------------------------------- builder

def _as_region(src):
    if isinstance(src, (FitsRegion, SyntheticRegion)):
        return str(src.name), src.timelines
    if isinstance(src, xr.Dataset):
        return str(src.attrs.get("active_region", "?")), lambda progress=False: src
    if isinstance(src, (str, pathlib.Path)):
        path = pathlib.Path(src)
        if path.suffix in (".nc", ".nc4", ".h5"):
            from solarprep.io.storage import open_dataset

            ds = open_dataset(path)
            return str(ds.attrs.get("active_region", path.stem)), lambda progress=False: ds
        m = re.search(r"(\d+)", path.name)
        return (m.group(1) if m else path.name), lambda progress=False: read_timelines(path)
    raise TypeError(f"cannot build from {type(src).__name__}: give an AR folder of .npz files, a "
                    "timelines Dataset or .nc file, a FitsRegion or a SyntheticRegion")


def _steps_of(value, cadence, name="window"):
    """A number of steps of ``cadence`` seconds: an integer is one already; a duration
    (``12 * u.h``, ``"12h"``, a timedelta) is converted and must be a whole number of steps.

    Raises
    ------
    solarprep.errors.QuantityError
        A duration that is no whole number of cadences, or not a duration at all.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    n = as_seconds(value, name) / float(cadence)
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise QuantityError(f"{name}={value!r} is {n:g} steps of the {cadence:g} s cadence: give "
                            "a whole number of steps or a duration that is one")
    return int(round(n))


def _region_steps(ds, window, lead):
    """``window`` and ``lead`` of one AR's timelines in steps of its cadence."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (window, lead)):
        return int(window), int(lead)
    from solarprep.helioseismology.cadence import frame_cadence

    cadence, _ = frame_cadence(ds["time"].values)
    return _steps_of(window, cadence, "window"), _steps_of(lead, cadence, "lead")


def region_samples(ds: xr.Dataset, *, window: int | Duration = 120, lead: int | Duration = 12,
                   stride: int = 1, persistence: bool = False,
                   history: bool = False) -> tuple[np.ndarray, ...] | None:
    """Sample windows of one AR's timelines: ``(inputs, targets, window_end, target_time)``.

    ``inputs`` ``(S, window, 5, n_tiles)``, ``targets`` ``(S, n_tiles)``: the intensity
    ``lead`` steps after the last step of the window. ``window`` and ``lead`` are steps of
    the timelines' cadence, or durations (``120 * u.h``, ``"12h"``) converted with it. Only
    windows whose steps and target lie on the regular cadence without a gap, with finite
    values, are kept. ``persistence=True`` appends ``last`` ``(S, n_tiles)``, the intensity
    at the last step of each window (the persistence forecast), to the returned tuple;
    ``history=True`` then appends ``(S, window, n_tiles)``, the intensity over the window (its
    last step is ``last``).
    """
    from solarprep.helioseismology.cadence import regular_grid

    window, lead = _region_steps(ds, window, lead)
    if window < 1 or lead < 0:
        raise ValueError(f"window must be >= 1 and lead >= 0, got window={window}, lead={lead}")
    times = ds["time"].values
    if times.size < window + lead:
        return None
    _, slots, frame_at = regular_grid(times)
    x = np.stack([ds[c].values for c in CHANNELS], axis=1).astype(np.float32)  # (T, 5, tiles)
    y = ds["intensity"].values.astype(np.float32)
    ins, outs, ends, targ, last, hist = [], [], [], [], [], []
    for e in range(window, frame_at.size - lead + 1, stride):
        idx = frame_at[e - window:e]
        tgt = frame_at[e - 1 + lead]
        if np.any(idx < 0) or tgt < 0:
            continue
        xi, yi, hi = x[idx], y[tgt], y[idx]
        if not (np.all(np.isfinite(xi)) and np.all(np.isfinite(yi)) and np.all(np.isfinite(hi))):
            continue
        ins.append(xi)
        outs.append(yi)
        ends.append(times[idx[-1]])
        targ.append(times[tgt])
        last.append(hi[-1])
        hist.append(hi)
    if not ins:
        return None
    out = (np.stack(ins), np.stack(outs), np.array(ends), np.array(targ))
    if persistence:
        out += (np.stack(last),)
        if history:
            out += (np.stack(hist),)
    return out


def no_window_reason(ds: xr.Dataset, *, window: int | Duration = 120,
                     lead: int | Duration = 12) -> str:
    """Why :func:`region_samples` finds no window in one AR's timelines, in words.

    Names the number of steps, the gaps in the regular cadence (missing steps) and the
    steps with NaN values, and the longest stretch of consecutive usable steps, against
    the ``window + lead`` steps a sample needs.
    """
    from solarprep.helioseismology.cadence import regular_grid

    window, lead = _region_steps(ds, window, lead)
    times = ds["time"].values
    need = window + lead
    if times.size < need:
        return f"{times.size} step(s), fewer than window {window} + lead {lead} = {need}"
    cadence, _, frame_at = regular_grid(times)
    values = np.stack([ds[c].values for c in CHANNELS + ("intensity",)], axis=1)
    finite = np.all(np.isfinite(values), axis=(1, 2))
    usable = np.zeros(frame_at.size, bool)
    usable[frame_at >= 0] = finite[frame_at[frame_at >= 0]]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], usable.astype(np.int8), [0]])))
    runs = edges.reshape(-1, 2)
    longest = runs[np.argmax(runs[:, 1] - runs[:, 0])] if runs.size else np.array([0, 0])
    parts = [f"{times.size} steps at {cadence / 3600:g} h"]
    missing = np.flatnonzero(frame_at < 0)
    if missing.size:
        after = times[frame_at[missing[0] - 1]]
        parts.append(f"{missing.size} missing step(s) in the cadence (first gap after {after})")
    if not finite.all():
        parts.append(f"{int((~finite).sum())} step(s) with NaN values (first at "
                     f"{times[int(np.argmax(~finite))]})")
    length = int(longest[1] - longest[0])
    if length:
        start = times[frame_at[longest[0]]]
        parts.append(f"longest usable stretch {length} steps from {start}")
    else:
        parts.append("no usable step")
    return ", ".join(parts) + f"; a sample needs window {window} + lead {lead} = {need}"


def assign_splits(names: Iterable[str], splits: Mapping[str, Sequence[str]] | Sequence[float] | None = None,
                  *, seed: int = 0) -> dict[str, str]:
    """Map AR names to "train" / "val" / "test".

    ``splits`` is a dict ``{"train": [...], "val": [...], "test": [...]}`` (every
    name listed once), a tuple of fractions ``(train, val, test)`` or None
    (``(0.7, 0.15, 0.15)``); fractions are applied to a seeded permutation of the
    sorted names, with at least one training AR.
    """
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError(f"active region names must be unique, got {names}")
    if isinstance(splits, dict):
        out = {}
        for split, members in splits.items():
            if split not in ("train", "val", "test"):
                raise ValueError(f"unknown split {split!r}: use 'train', 'val', 'test'")
            for n in members:
                n = str(n).removeprefix("AR")
                if n in out:
                    raise ValueError(f"AR {n} is in two splits")
                out[n] = split
        missing = [n for n in names if n not in out]
        if missing:
            raise ValueError(f"ARs {missing} are in no split; list every AR in splits")
        if "train" not in [out[n] for n in names]:
            raise ValueError("no AR in the training split: normalisation needs one")
        return {n: out[n] for n in names}
    fr = (0.7, 0.15, 0.15) if splits is None else tuple(float(f) for f in splits)
    if len(fr) != 3 or min(fr) < 0 or sum(fr) <= 0:
        raise ValueError(f"splits fractions must be three non-negative numbers, got {splits!r}")
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order = sorted(names) if len(names) == 1 else order
    n = len(names)
    total = sum(fr)
    n_test = int(round(n * fr[2] / total))
    n_val = int(round(n * fr[1] / total))
    if n >= 3:
        n_test = max(n_test, 1 if fr[2] > 0 else 0)
        n_val = max(n_val, 1 if fr[1] > 0 else 0)
    while n - n_test - n_val < 1:
        if n_val > 0:
            n_val -= 1
        else:
            n_test -= 1
    out = {}
    for i, name in enumerate(order):
        out[name] = "test" if i < n_test else ("val" if i < n_test + n_val else "train")
    return {n: out[n] for n in names}


def _fit_stats(regions, split_of, method):
    """Normalisation statistics of the training regions' timelines
    (:mod:`solarprep.datasets.normalize`): per input channel over time and tiles, and one for
    the intensity."""
    from solarprep.datasets import normalize as norm

    names = list(regions)
    x = np.concatenate([np.stack([regions[n][c].values for c in CHANNELS], axis=1)
                        for n in names]).astype(np.float64)  # (T, 5, tiles)
    y = np.concatenate([regions[n]["intensity"].values for n in names]).astype(np.float64)
    split = np.concatenate([[split_of[n]] * regions[n].sizes["time"] for n in names])
    table = xr.Dataset({"inputs": (("time", "channel", "tile"), x), "targets": (("time", "tile"), y)},
                       coords={"channel": list(CHANNELS), "split": ("time", split)})
    return norm.fit(table, method, dim="time", split="train", keep=("channel",))


def _as_stats(normalize):
    """``normalize`` as NormStats when it is given statistics (a NormStats, dict or JSON)."""
    from solarprep.datasets.normalize import NormStats

    if isinstance(normalize, NormStats):
        return normalize
    if isinstance(normalize, dict) or (isinstance(normalize, str) and normalize.startswith("{")):
        return NormStats.from_dict(normalize)
    return None


def build(sources: Iterable[Any], *, out: str | os.PathLike | None = None, lead: int | Duration = 12,
          window: int | Duration = 120,
          splits: Mapping[str, Sequence[str]] | Sequence[float] | None = None,
          normalize: str | NormStats | Mapping[str, Any] | None = "zscore", stride: int = 1,
          flatten: bool = True, seed: int = 0, progress: bool = True,
          resume: bool = True) -> xr.Dataset:
    """Build the model-ready SOLARED Dataset from many active regions.

    Parameters
    ----------
    sources : iterable
        AR folders of ``.npz`` timelines, timelines Datasets or ``.nc`` files,
        :class:`FitsRegion` or :class:`SyntheticRegion` objects.
    out : str or pathlib.Path, optional
        Output folder: per-AR timelines, as computed (before the flattening), go
        to ``regions/AR<name>.nc`` (reused when ``resume``), the result to
        ``solared.nc``.
    lead : int, astropy.units.Quantity or str
        Steps between the last input step and the target (12 = 12 h at the SOLARED
        1-hour cadence), or a duration (``12 * u.h``, ``"12h"``) converted with the
        timelines' cadence (a whole number of steps, the same for every region).
    window : int, astropy.units.Quantity or str
        Input steps per sample (120), or a duration (``120 * u.h``, ``"5d"``).
    splits : dict or tuple, optional
        See :func:`assign_splits`; splits are by AR, never within one.
    normalize : {"zscore", "minmax", "peak", "percentile", None} or NormStats
        Per input channel (over time and tiles) and for the target, with
        statistics of the training ARs only (:mod:`solarprep.datasets.normalize`);
        stored in the attributes ``input_offset``, ``input_scale``,
        ``target_offset``, ``target_scale`` (``x_norm = (x − offset)/scale``) and
        ``norm_stats`` (JSON). Statistics from an earlier build (a
        :class:`~solarprep.datasets.normalize.NormStats`, its dict or JSON, e.g. the
        ``norm_stats`` attribute of a trained run's data) are applied as they are:
        new regions normalised the way a model was trained.
    stride : int
        Steps between consecutive sample windows of one AR.
    flatten : bool
        Apply the SOLARED flattening to timelines that are not flattened yet.
    seed : int
        Seed of the split permutation.
    progress, resume : bool

    Returns
    -------
    xarray.Dataset
        ``inputs (sample, time=window, channel=5, tile=63)``, ``targets
        (sample, tile=63)``, ``last_intensity (sample, tile=63)`` (the
        intensity at the last step of the window, normalised like the targets:
        the persistence forecast) and ``intensity_history (sample, time=window,
        tile=63)`` (the intensity over the window, normalised like the targets)
        float32; coords ``channel``, ``tile_row``/``tile_col``,
        ``active_region``, ``split``, ``window_end``, ``target_time`` along
        ``sample``; attributes with the normalisation, ``lead``, ``window``,
        ``regions_<split>``.
    """
    from tqdm.auto import tqdm

    from solarprep.datasets.normalize import METHODS
    from solarprep.io.storage import open_dataset, save

    given = _as_stats(normalize)
    if given is None and normalize not in (*METHODS, None):
        raise ValueError(f"normalize must be one of {METHODS}, None or NormStats, "
                         f"not {normalize!r}")
    out = pathlib.Path(out) if out is not None else None
    if out is not None:
        (out / "regions").mkdir(parents=True, exist_ok=True)
    regions = {}
    tic = _time.perf_counter()
    items = [_as_region(s) for s in sources]
    if not items:
        raise ValueError("no sources given")
    for name, make in tqdm(items, desc="active regions", unit="AR", disable=not progress):
        name = name.removeprefix("AR")
        if name in regions:
            raise ValueError(f"active region {name} given twice")
        cached = (out / "regions" / f"AR{_safe_name(name, 'active region')}.nc"
                  if out is not None else None)
        if cached is not None and resume and cached.exists():
            log.info("AR %s: reusing %s", name, cached)
            ds = open_dataset(cached)
        else:
            ds = make(progress=progress)
            if cached is not None:
                save(ds, cached)  # as computed (not yet flattened)
        if flatten and not int(ds.attrs.get("flattened", 0)):
            ds = flatten_timelines(ds)
        if ds.sizes["tile"] == GRID * GRID:
            ds = keep_tiles(ds)
        regions[name] = ds
    names = list(regions)
    steps = {_region_steps(regions[n], window, lead) for n in names}
    if len(steps) > 1:
        raise SolarDataError(f"window={window!r}, lead={lead!r} are different numbers of steps "
                             f"in regions of different cadences ({sorted(steps)}): give steps")
    window, lead = steps.pop()
    split_of = assign_splits(names, splits, seed=seed)
    stats = given if given is not None else (
        _fit_stats(regions, split_of, normalize) if normalize else None)
    if stats is not None:
        a_in, b_in = stats.center_of("inputs"), stats.scale_of("inputs")
        a_out, b_out = float(stats.center_of("targets")), float(stats.scale_of("targets"))
    else:
        a_in, b_in, a_out, b_out = np.zeros(len(CHANNELS)), np.ones(len(CHANNELS)), 0.0, 1.0
    parts, reasons = [], []
    for n in names:
        s = region_samples(regions[n], window=window, lead=lead, stride=stride,
                           persistence=True, history=True)
        if s is None:
            reasons.append(f"AR {n}: {no_window_reason(regions[n], window=window, lead=lead)}")
            log.warning("no samples from %s", reasons[-1])
            continue
        parts.append((n, s))
    if not parts:
        raise SolarDataError(f"no AR has {window} usable consecutive steps plus a target {lead} "
                             f"steps later ({'; '.join(reasons)}): lower window or lead")
    x = np.concatenate([s[0] for _, s in parts])
    y = np.concatenate([s[1] for _, s in parts])
    x = ((x - a_in[None, None, :, None]) / b_in[None, None, :, None]).astype(np.float32)
    y = ((y - a_out) / b_out).astype(np.float32)
    last = ((np.concatenate([s[4] for _, s in parts]) - a_out) / b_out).astype(np.float32)
    hist = ((np.concatenate([s[5] for _, s in parts]) - a_out) / b_out).astype(np.float32)
    ar = np.concatenate([[n] * len(s[1]) for n, s in parts]).astype(str)
    tiles = regions[parts[0][0]]
    ds = xr.Dataset(
        {"inputs": (("sample", "time", "channel", "tile"), x,
                    {"units": "", "long_name": "normalised input timelines "
                                               "(4 acoustic power bands, unsigned flux) per tile"}),
         "targets": (("sample", "tile"), y,
                     {"units": "", "long_name": f"normalised continuum intensity {lead} steps "
                                                "after the window"}),
         "last_intensity": (("sample", "tile"), last,
                            {"units": "", "long_name": "normalised continuum intensity at the "
                                                       "last step of the window (persistence)"}),
         "intensity_history": (("sample", "time", "tile"), hist,
                               {"units": "", "long_name": "normalised continuum intensity over "
                                                          "the window"})},
        coords={"channel": np.array(CHANNELS), "tile_row": ("tile", tiles["tile_row"].values),
                "tile_col": ("tile", tiles["tile_col"].values),
                "active_region": ("sample", ar),
                "split": ("sample", np.array([split_of[a] for a in ar])),
                "window_end": ("sample", np.concatenate([s[2] for _, s in parts])),
                "target_time": ("sample", np.concatenate([s[3] for _, s in parts]))})
    ds.attrs = {"Conventions": CONVENTIONS, "title": "SOLARED model-ready dataset",
                "lead": int(lead), "window": int(window), "stride": int(stride),
                "normalization": stats.method if stats is not None else "None",
                "norm_stats": stats.to_json() if stats is not None else "",
                "channels": list(CHANNELS),
                "input_offset": np.asarray(a_in, np.float64).tolist(),
                "input_scale": np.asarray(b_in, np.float64).tolist(),
                "target_offset": float(a_out), "target_scale": float(b_out),
                "normalization_split": "train"}
    for split in ("train", "val", "test"):
        ds.attrs[f"regions_{split}"] = " ".join(n for n in names if split_of[n] == split)
    ds = append_history(ds, f"solared.build({len(names)} ARs, window={window}, lead={lead}, "
                            f"normalize={stats.method if given is not None else normalize!r}) "
                            f"{ds.sizes['sample']} samples in "
                            f"{_time.perf_counter() - tic:.1f} s")
    if out is not None:
        _save_plain(ds, out / "solared.nc")
    return ds


def _save_plain(ds, path):
    """Atomic netCDF write of the model-ready Dataset (not a solar image Dataset)."""
    from solarprep.io.storage import save

    return save(ds, path, check=False,
                encoding={n: {"zlib": True, "complevel": 4}
                          for n in ("inputs", "targets", "last_intensity", "intensity_history")})
