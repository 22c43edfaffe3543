"""Co-registered image pairs for image translation: two instruments on one disk-centred grid.

The image-translation seeds (reference facts §3–4) train on pairs of full-disk images (HMI
magnetogram and AIA passband; EUV and HMI magnetogram) resampled so that the solar disk has a
fixed radius (392 px at 1024² for Park et al. 2019 and Kim et al. 2019; 450 px for Jeong et
al. 2020), centred, with solar north up. :func:`build_pairs` puts both instruments on that grid
with :func:`solarprep.remap.regrid_disk` and matches their frames in time.
"""
import logging

import numpy as np
import xarray as xr

from solarprep.dataset import CONVENTIONS, append_history, data_variables
from solarprep.errors import PairError
from solarprep.remap.regrid import DEFAULT_RADIUS, DEFAULT_SHAPE, regrid_disk

__all__ = ["build_pairs", "synthetic_pair_sources"]

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


def build_pairs(a, b, *, shape=DEFAULT_SHAPE, radius=DEFAULT_RADIUS, max_dt=600.0, order=1,
                antialias=True, limb_mask=None, names=None, progress=True):
    """Co-register two instruments onto one disk-centred, north-up grid and pair their frames.

    Each frame of ``a`` and ``b`` is resampled with :func:`regrid_disk` (its own disk scaled
    to ``radius`` px at the centre of a ``shape`` image, north up). Each frame of ``a`` is paired
    with the frame of ``b`` nearest in time; frames of ``a`` with no ``b`` frame within
    ``max_dt`` are dropped (logged).

    Parameters
    ----------
    a, b : xarray.Dataset or str or path or sunpy Map(s) or list
        Solar Datasets, or anything :func:`solarprep.load` reads (FITS files, globs, Maps).
        ``a`` is usually the network input (e.g. HMI ``blos``), ``b`` the target (AIA).
    shape : int or (int, int)
        Output size (1024 in the seeds).
    radius : float
        Disk radius in pixels (392 in Park et al. 2019).
    max_dt : float
        Largest time difference of a pair, s.
    order, antialias, limb_mask
        See :func:`regrid_disk`.
    names : (str, str), optional
        Names of the two variables in the pair Dataset (default: the inputs' names, suffixed
        ``_a``/``_b`` when they collide).

    Returns
    -------
    xarray.Dataset
        Dims ``(time, y, x)`` with the times and grid geometry of ``a``; both variables (float32,
        their own ``units``, ``long_name``, ``instrument``); coordinates ``time_b`` (the paired
        ``b`` times) and ``pair_dt`` (s); attribute ``disk_radius_px``.

    Raises
    ------
    PairError
        If no frame of ``a`` has a partner within ``max_dt``.
    """
    ds_a, ds_b = _as_dataset(a, progress), _as_dataset(b, progress)
    var_a, var_b = _single(ds_a, "a"), _single(ds_b, "b")
    idx, dt = _match_times(ds_a["time"].values, ds_b["time"].values, float(max_dt))
    keep = np.flatnonzero(idx >= 0)
    if keep.size == 0:
        raise PairError(f"no frame of b lies within max_dt={max_dt} s of a frame of a "
                        f"(closest: {dt.min():.0f} s); raise max_dt or check the times")
    if keep.size < idx.size:
        log.warning("build_pairs: %d of %d frames of a have no partner within %s s: dropped",
                    idx.size - keep.size, idx.size, max_dt)
    ds_a, ds_b = ds_a.isel(time=keep), ds_b.isel(time=idx[keep])
    kw = dict(shape=shape, radius=radius, order=order, antialias=antialias,
              limb_mask=limb_mask, progress=progress)
    ga = regrid_disk(ds_a, variables=[var_a], **kw)
    gb = regrid_disk(ds_b, variables=[var_b], **kw)
    name_a, name_b = names or ((var_a, var_b) if var_a != var_b else (var_a + "_a",
                                                                         var_b + "_b"))
    pair = ga.rename({var_a: name_a})
    vb = gb[var_b].variable.copy()
    vb.attrs = {**gb[var_b].attrs, "instrument": ds_b.attrs.get("instrument", "")}
    pair[name_a].attrs["instrument"] = ds_a.attrs.get("instrument", "")
    pair[name_b] = (("time", "y", "x"), vb.data, vb.attrs)
    pair = pair.assign_coords(
        time_b=("time", ds_b["time"].values, {"long_name": f"time of the {name_b} frame"}),
        pair_dt=("time", dt[keep].astype(np.float64),
                 {"units": "s", "long_name": "|time − time_b|"}))
    pair.attrs.update(
        Conventions=CONVENTIONS,
        instrument=f"{ds_a.attrs.get('instrument', '')} + {ds_b.attrs.get('instrument', '')}",
        title=f"co-registered pairs {name_a} → {name_b}",
        source=f"a: {ds_a.attrs.get('source', '')}; b: {ds_b.attrs.get('source', '')}")
    return append_history(pair, f"build_pairs({name_a!r}, {name_b!r}, max_dt={max_dt})")


def _single(ds, label):
    names = data_variables(ds)
    if len(names) != 1:
        raise PairError(f"input {label} must hold one image variable, not {names}; select it "
                        f"first (ds[[name]])")
    return names[0]


def synthetic_pair_sources(times, *, seed=0, a="magnetogram", b="euv171", shape=512,
                           noise=None):
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
