"""Co-registered image pairs for image translation: two instruments on one disk-centred grid.

The image-translation seeds (reference facts §3–4) train on pairs of full-disk images (HMI
magnetogram and AIA passband; EUV and HMI magnetogram) resampled so that the solar disk has a
fixed radius (392 px at 1024² for Park et al. 2019 and Kim et al. 2019; 450 px for Jeong et
al. 2020), centred, with solar north up. :func:`build_pairs` puts both instruments on that grid
with :func:`solarprep.remap.regrid_disk` and matches their frames in time.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from solarprep.dataset import CONVENTIONS, append_history, as_seconds, data_variables
from solarprep.errors import PairError
from solarprep.remap.regrid import DEFAULT_RADIUS, DEFAULT_SHAPE, regrid_disk

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from astropy.time import Time

    from solarprep.dataset import Duration

__all__ = ["build_pairs", "scale_pairs", "assign_time_splits", "synthetic_pair_sources"]

log = logging.getLogger(__name__)


def _as_dataset(source, progress):
    if isinstance(source, xr.Dataset):
        return source
    from solarprep.io.loader import load

    return load(source, progress=progress)


def _match_times(t_a, t_b, max_dt):
    """Index of the nearest B frame for each A frame, or -1 beyond ``max_dt`` seconds."""
    ta = t_a.astype("datetime64[ns]").astype(np.int64)
    tb = t_b.astype("datetime64[ns]").astype(np.int64)
    diff = np.abs(ta[:, None] - tb[None, :]) / 1e9
    best = diff.argmin(axis=1)
    ok = diff[np.arange(len(ta)), best] <= max_dt
    return np.where(ok, best, -1), diff[np.arange(len(ta)), best]


def build_pairs(a: object, b: object, *, shape: int | tuple[int, int] = DEFAULT_SHAPE,
                radius: float = DEFAULT_RADIUS, max_dt: Duration = 600.0, order: int = 1,
                antialias: bool = True, limb_mask: float | None = None,
                names: tuple[str, str] | None = None, scale: dict | None = None,
                splits: tuple[float, float, float] | None = None,
                progress: bool = True) -> xr.Dataset:
    """Co-register instruments onto one disk-centred, north-up grid and pair their frames.

    Each frame is resampled with :func:`regrid_disk` (its own disk scaled to ``radius`` px at
    the centre of a ``shape`` image, north up). Each frame of the (first) input is paired with
    the frame of every other source nearest in time; input frames without a partner within
    ``max_dt`` in every source are dropped (logged).

    Parameters
    ----------
    a : xarray.Dataset or str or path or sunpy Map(s) or list, or dict
        The network input: a solar Dataset, or anything :func:`solarprep.load` reads (FITS
        files, globs, Maps); or a dict ``{variable name: source}`` of several input channels
        (e.g. the far-side seed's three EUV passbands ``{"euv304": ..., "euv193": ...,
        "euv171": ...}``), paired to the first one's times.
    b : same as one source of ``a``
        The target (e.g. HMI ``blos``).
    shape : int or (int, int)
        Output size (1024 in the seeds).
    radius : float
        Disk radius in pixels (392 in Park et al. 2019, 450 in Jeong et al. 2020).
    max_dt : astropy.units.Quantity, str or float
        Largest time difference of a pair: ``10 * u.min``, ``"10min"`` or seconds
        (default 600 s).
    order, antialias, limb_mask
        See :func:`regrid_disk`.
    names : (str, str), optional
        Names of the input and target variables for a single-source ``a`` (default: the
        inputs' names, suffixed ``_a``/``_b`` when they collide).
    scale : dict, optional
        ``{variable: scaling name}`` of :data:`solarprep.datasets.scalings.SCALINGS` applied
        to the paired variables (e.g. ``{"blos": "hmi_3000", "euv304": "euv_median_log10"}``);
        the attributes :func:`~solarprep.datasets.scalings.unscale` needs are kept.
    splits : (float, float, float), optional
        Fractions of train / val / test as contiguous blocks in time (earliest frames train),
        written as the ``split`` coordinate along ``time``; blocks never share a frame, so
        neighbouring, nearly identical frames do not leak across splits.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, y, x)`` with the times and grid geometry of the first input; the input
        and target variables (float32, their own ``units``, ``long_name``, ``instrument``);
        coordinates ``time_b`` (the paired target times), ``pair_dt`` (s, largest over the
        sources) and ``split`` (with ``splits``); attributes ``disk_radius_px``,
        ``input_variables`` and ``target_variables``.

    Raises
    ------
    PairError
        If no frame of the input has partners within ``max_dt``, or names collide.
    """
    sources = dict(a) if isinstance(a, dict) else {None: a}
    if not sources:
        raise PairError("no input source given")
    max_dt = as_seconds(max_dt, "max_dt")
    loaded = {key: _as_dataset(src, progress) for key, src in sources.items()}
    ds_b = _as_dataset(b, progress)
    var_b = _single(ds_b, "b")
    first_key = next(iter(loaded))
    ref = loaded[first_key]
    t_ref = ref["time"].values
    matches = {}
    dt_all = np.zeros(t_ref.size)
    for key, ds in list(loaded.items())[1:] + [("__target__", ds_b)]:
        idx, dt = _match_times(t_ref, ds["time"].values, max_dt)
        matches[key] = idx
        dt_all = np.maximum(dt_all, dt)
    ok = np.all([m >= 0 for m in matches.values()], axis=0) if matches else np.ones(t_ref.size, bool)
    keep = np.flatnonzero(ok)
    if keep.size == 0:
        raise PairError(f"no frame of b lies within max_dt={max_dt:g} s of a frame of a "
                        f"(closest: {dt_all.min():.0f} s); raise max_dt or check the times")
    if keep.size < t_ref.size:
        log.warning("build_pairs: %d of %d input frames have no partner within %g s: dropped",
                    t_ref.size - keep.size, t_ref.size, max_dt)
    kw = dict(shape=shape, radius=radius, order=order, antialias=antialias,
              limb_mask=limb_mask, progress=progress)
    in_names = []
    pair = None
    for key, ds in loaded.items():
        var = _single(ds, "a" if key is None else repr(key))
        frames = ds.isel(time=keep if key == first_key else matches[key][keep])
        grid = regrid_disk(frames, variables=[var], **kw)
        name = key if key is not None else (names[0] if names else var)
        attrs = {**grid[var].attrs, "instrument": ds.attrs.get("instrument", "")}
        if pair is None:
            pair = grid.rename({var: name}) if var != name else grid
            pair[name].attrs = attrs
        else:
            if name in pair:
                raise PairError(f"input variable name {name!r} is given twice")
            pair[name] = (("time", "y", "x"), grid[var].data, attrs)
        in_names.append(name)
    name_b = names[1] if names and len(sources) == 1 else var_b
    if name_b in in_names:
        if names:
            raise PairError(f"target name {name_b!r} collides with an input")
        if len(sources) == 1:
            pair = pair.rename({in_names[0]: in_names[0] + "_a"})
            in_names = [in_names[0] + "_a"]
        name_b = var_b + "_b"
    gb = regrid_disk(ds_b.isel(time=matches["__target__"][keep]), variables=[var_b], **kw)
    pair[name_b] = (("time", "y", "x"), gb[var_b].data,
                    {**gb[var_b].attrs, "instrument": ds_b.attrs.get("instrument", "")})
    pair = pair.assign_coords(
        time_b=("time", ds_b["time"].values[matches["__target__"][keep]],
                {"long_name": f"time of the {name_b} frame"}),
        pair_dt=("time", dt_all[keep].astype(np.float64),
                 {"units": "s", "long_name": "largest |time − time of a paired frame|"}))
    instruments = [loaded[k].attrs.get("instrument", "") for k in loaded]
    pair.attrs.update(
        Conventions=CONVENTIONS,
        instrument=" + ".join(dict.fromkeys(instruments + [ds_b.attrs.get("instrument", "")])),
        title=f"co-registered pairs {', '.join(in_names)} → {name_b}",
        source="; ".join(f"{n}: {loaded[k].attrs.get('source', '')}"
                         for n, k in zip(in_names, loaded)) +
        f"; {name_b}: {ds_b.attrs.get('source', '')}",
        input_variables=" ".join(in_names), target_variables=name_b)
    pair = append_history(pair, f"build_pairs({in_names!r} → {name_b!r}, max_dt={max_dt})")
    if scale:
        pair = scale_pairs(pair, scale)
    if splits is not None:
        pair = assign_time_splits(pair, splits)
    return pair


def scale_pairs(pair: xr.Dataset, scale: Mapping[str, str]) -> xr.Dataset:
    """Apply ``{variable: scaling name}`` (:mod:`solarprep.datasets.scalings`) to a pair Dataset."""
    from solarprep.datasets.scalings import scale as apply_scaling

    for name, scaling in dict(scale).items():
        if name not in pair.data_vars:
            raise PairError(f"cannot scale {name!r}: the pairs hold {list(pair.data_vars)}")
        pair = apply_scaling(pair, scaling, variable=name)
    return pair


def assign_time_splits(pair: xr.Dataset,
                       splits: Sequence[float] = (0.8, 0.1, 0.1)) -> xr.Dataset:
    """Contiguous train / val / test blocks in time order as a ``split`` coordinate.

    ``splits`` are three non-negative fractions (normalised to their sum); every non-zero
    fraction gets at least one frame when there are enough frames.
    """
    fr = np.asarray([float(f) for f in splits], np.float64)
    if fr.shape != (3,) or np.any(fr < 0) or fr.sum() <= 0:
        raise PairError(f"splits must be three non-negative fractions, got {splits!r}")
    n = pair.sizes["time"]
    order = np.argsort(pair["time"].values, kind="stable")
    counts = np.round(fr / fr.sum() * n).astype(int)
    for k in (1, 2):
        if fr[k] > 0 and counts[k] == 0 and n - counts.sum() > 0:
            counts[k] = 1
    counts[0] = n - counts[1] - counts[2]
    if counts[0] < 1:
        raise PairError(f"{n} frames are too few for splits {tuple(splits)}")
    labels = np.empty(n, dtype="<U5")
    labels[order] = np.repeat(np.array(["train", "val", "test"]), counts)
    out = pair.assign_coords(split=("time", labels, {"long_name": "train / val / test split "
                                                                  "(contiguous blocks in time)"}))
    return append_history(out, f"assign_time_splits({tuple(float(f) for f in splits)})")


def _single(ds, label):
    names = data_variables(ds)
    if len(names) != 1:
        raise PairError(f"input {label} must hold one image variable, not {names}; select it "
                        f"first (ds[[name]])")
    return names[0]


def synthetic_pair_sources(times: Sequence[str | Time], *, seed: int = 0, a: str = "magnetogram",
                           b: str = "euv171", shape: int = 512,
                           noise: bool | None = None) -> tuple[xr.Dataset, xr.Dataset]:
    """Two solar Datasets of the synthetic Sun for :func:`build_pairs` (through ``load``).

    Parameters
    ----------
    times : list of str or astropy.time.Time
        Observation times (both instruments at the same times).
    a, b : str
        ``"continuum"``, ``"magnetogram"`` or ``"euv<wavelength>"`` (e.g. ``"euv304"``).
    shape : int
        Input image size (HMI-like at 0.504″·4096/N, AIA-like at 0.6″·4096/N per pixel).
    """
    from solarprep.io.loader import load
    from solarprep.synthetic import SyntheticSun

    sun = SyntheticSun(seed=seed)

    def maps(kind):
        if kind in ("continuum", "magnetogram"):
            return [getattr(sun, kind)(t, shape, noise=noise) for t in times]
        if kind.startswith("euv"):
            return [sun.euv(t, int(kind[3:]), shape, noise=noise) for t in times]
        raise PairError(f"unknown synthetic kind {kind!r}: use 'continuum', 'magnetogram' or "
                        "'euv<wavelength>' (e.g. 'euv171')")

    return load(maps(a), progress=False), load(maps(b), progress=False)
