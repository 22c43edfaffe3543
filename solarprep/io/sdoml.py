"""Read the SDOML v2 zarr stores (the ML-ready SDO archive) as a lazy solar Dataset.

The SDOML v2 layout (Galvez et al. 2019, ApJS 242, 7 for the data set; v2 re-packs it in
zarr with the FITS headers kept, ``docs/data_sdoml.md``)::

    sdomlv2_small.zarr/            AIA (also sdomlv2.zarr)
      2010/                        one group per year
        171A/                      one array per channel: (n_frames, 512, 512) float32,
          .zarray, .zattrs           chunks (1, 512, 512); .zattrs holds one list per FITS
                                     keyword, one entry per frame: T_OBS, EXPTIME, CRPIX1, ...
        193A/ ...                  94A 131A 171A 193A 211A 304A 335A 1600A 1700A
    sdomlv2_hmi_small.zarr/        HMI (also sdomlv2_hmi.zarr)
      2010/Bx, By, Bz              vector-field components, T_OBS in TAI (2010.05.01_00:12:04_TAI)

Frames within a year are **not** sorted by time in the public stores; :func:`open_sdoml`
sorts them. AIA ``T_OBS`` is UTC ISO 8601 with ``Z``; HMI's is TAI (converted to UTC here).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from solarprep.dataset import CONVENTIONS, FRAME_COORDS, append_history, as_seconds, validate
from solarprep.errors import SdomlError

if TYPE_CHECKING:
    from solarprep.dataset import Duration

__all__ = ["open_sdoml", "SDOML_AIA_CHANNELS", "SDOML_HMI_CHANNELS", "PUBLIC_STORES"]

log = logging.getLogger(__name__)

SDOML_AIA_CHANNELS = ("94A", "131A", "171A", "193A", "211A", "304A", "335A", "1600A", "1700A")
SDOML_HMI_CHANNELS = ("Bx", "By", "Bz")

#: The public stores (AWS open data, anonymous access with s3fs: ``storage_options={"anon": True}``).
PUBLIC_STORES = {
    "aia": "s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2.zarr",
    "aia_small": "s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2_small.zarr",
    "hmi": "s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2_hmi.zarr",
    "hmi_small": "s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2_hmi_small.zarr",
}

#: Per-frame coordinates → (header keyword, default when the store lacks it).
_KEYWORDS = {"crpix1": ("CRPIX1", None), "crpix2": ("CRPIX2", None),
             "crval1": ("CRVAL1", 0.0), "crval2": ("CRVAL2", 0.0),
             "cdelt1": ("CDELT1", None), "cdelt2": ("CDELT2", None),
             "crota2": ("CROTA2", 0.0), "exptime": ("EXPTIME", np.nan),
             "dsun_obs": ("DSUN_OBS", None), "hgln_obs": ("HGLN_OBS", 0.0),
             "hglt_obs": ("HGLT_OBS", None), "rsun_obs": ("RSUN_OBS", None)}

#: Largest differences between channels for them to share one geometry.
_GEOMETRY_TOLERANCE = {"crpix1": 0.5, "crpix2": 0.5, "crota2": 0.1}
_CDELT_RTOL = 1e-3


def _variable(channel):
    """``(name, long_name, default units)`` of a channel."""
    if channel in SDOML_HMI_CHANNELS:
        return channel.lower(), f"SDO/HMI {channel} (SDOML v2)", "G"
    wavelength = int(channel.rstrip("A"))
    kind = "uv" if wavelength >= 1250 else "euv"
    return f"{kind}{wavelength}", f"SDO/AIA {wavelength} Å intensity (SDOML v2)", "DN / s"


def _open_group(store, storage_options):
    import zarr

    try:
        return zarr.open_group(store, mode="r", storage_options=storage_options) \
            if storage_options else zarr.open_group(store, mode="r")
    except Exception as exc:  # zarr raises FileNotFoundError, GroupNotFoundError, KeyError...
        raise SdomlError(f"{store}: cannot be opened as a zarr group ({type(exc).__name__}: "
                         f"{exc}); give the folder or URL of an SDOML v2 store such as "
                         f"{PUBLIC_STORES['aia_small']}") from exc


def _years(group):
    return sorted(k for k in group.group_keys() if k.isdigit())


def _parse_times(values, label):
    """UTC datetime64[ns] of SDOML ``T_OBS`` strings (AIA ISO ``...Z``; HMI ``..._TAI``)."""
    from astropy.time import Time

    text = np.asarray([str(v).strip() for v in values])
    out = np.empty(text.size, "datetime64[ns]")
    tai = np.char.endswith(text, "_TAI")
    try:
        if tai.any():
            iso = [t[:-4].replace(".", "-", 2).replace("_", "T") for t in text[tai]]
            out[tai] = Time(iso, scale="tai").utc.datetime64
        if (~tai).any():
            out[~tai] = Time([t.rstrip("Z") for t in text[~tai]], scale="utc").datetime64
    except ValueError as exc:
        raise SdomlError(f"{label}: T_OBS holds times that cannot be read ({exc})") from exc
    return out


class _Channel:
    """One channel across the selected years: a lazy array, header lists and sorted times."""

    def __init__(self, name, parts, label):
        import dask.array as da

        arrays, headers = [], {}
        n_total = 0
        for arr in parts:
            attrs = dict(arr.attrs)
            n = arr.shape[0]
            if "T_OBS" not in attrs or len(attrs["T_OBS"]) != n:
                raise SdomlError(f"{label}/{name}: the attribute T_OBS must list one time per "
                                 f"frame ({n} frames); this is not an SDOML v2 array")
            for key, values in attrs.items():
                if isinstance(values, list) and len(values) == n:
                    headers.setdefault(key, [None] * n_total).extend(values)
            for key in headers:
                if len(headers[key]) < n_total + n:
                    headers[key].extend([None] * (n_total + n - len(headers[key])))
            arrays.append(da.from_zarr(arr))
            n_total += n
        shapes = {a.shape[1:] for a in arrays}
        if len(shapes) > 1:
            raise SdomlError(f"{label}/{name}: the years hold images of different shapes "
                             f"{sorted(shapes)}")
        times = _parse_times(headers["T_OBS"], f"{label}/{name}")
        order = np.argsort(times, kind="stable")
        self.name = name
        self.times = times[order]
        self.data = da.concatenate(arrays, axis=0)[order] if len(arrays) > 1 \
            else arrays[0][order]
        self.headers = {k: [v[i] for i in order] for k, v in headers.items()}

    def column(self, key, default, index, label):
        values = self.headers.get(key)
        if values is None:
            if default is None:
                raise SdomlError(f"{label}/{self.name}: the header lists lack {key}, without "
                                 "which the frames cannot be placed on the Sun")
            return np.full(index.size, default, np.float64)
        return np.array([np.nan if values[i] is None else float(values[i]) for i in index])


def _match(reference, other, tolerance):
    """Index into ``other`` of the nearest time to each reference time, -1 beyond tolerance."""
    if other.size == 0:
        return np.full(reference.size, -1)
    pos = np.clip(np.searchsorted(other, reference), 1, max(other.size - 1, 1))
    before = other[pos - 1]
    after = other[np.minimum(pos, other.size - 1)]
    pick = np.where(np.abs(reference - before) <= np.abs(after - reference), pos - 1, pos)
    pick = np.minimum(pick, other.size - 1)
    ok = np.abs(other[pick] - reference) <= tolerance
    return np.where(ok, pick, -1)


def open_sdoml(store: object, years: int | list[int] | None = None,
               channels: str | list[str] | None = None, *, reference: str | None = None,
               tolerance: Duration = "6min", storage_options: dict | None = None) -> xr.Dataset:
    """Open SDOML v2 zarr store(s) as one lazy solar Dataset (``docs/dataset.md``).

    Parameters
    ----------
    store : str, os.PathLike, zarr store, or a list of them
        The AIA store, the HMI store, or both (e.g. ``[PUBLIC_STORES["aia_small"],
        PUBLIC_STORES["hmi_small"]]``); local folders or fsspec URLs.
    years : int or list of int, optional
        Years to read (default: every year group of the stores).
    channels : str or list of str, optional
        ``"171A"``, ``"193A"``, ..., ``"Bz"`` (default: every channel of the first store).
    reference : str, optional
        The channel whose times and per-frame geometry the Dataset takes (default: the first).
    tolerance : astropy.units.Quantity, str or float
        Largest time difference of a frame of another channel from the reference frame
        (``6 * u.min``, ``"6min"`` (the default, the AIA cadence of SDOML) or seconds); reference frames
        without a frame of every channel within it are dropped (logged).
    storage_options : dict, optional
        For fsspec URLs, e.g. ``{"anon": True}`` for the public S3 stores (needs ``s3fs``).

    Returns
    -------
    xarray.Dataset
        Dask-backed (nothing read until computed): one variable per channel (``euv171``,
        ``uv1600``, ``bz`` ...; float32 ``(time, y, x)``; ``BUNIT`` from the header lists,
        else DN/s for AIA and G for HMI), ``time`` from the reference channel's ``T_OBS``
        (UTC), per-frame geometry (and ``quality`` when the lists have QUALITY) from its
        header lists, a ``<name>_time`` coordinate per other channel with the matched frame's
        time. It passes
        :func:`solarprep.dataset.validate`.

    Raises
    ------
    SdomlError
        A store that is not zarr or not in the SDOML v2 layout, a year or channel the stores
        lack, no frame of every channel within the tolerance, channels whose geometry
        differs (open them separately and regrid), header lists without a WCS.
    """
    stores = list(store) if isinstance(store, (list, tuple)) else [store]
    groups = [(str(s), _open_group(s, storage_options)) for s in stores]
    available = {}
    for label, group in groups:
        for year in _years(group):
            for name in group[year].array_keys():
                available.setdefault(name, []).append((label, year, group[year][name]))
    if not available:
        raise SdomlError(f"{', '.join(lbl for lbl, _ in groups)}: no year group with channel "
                         "arrays (SDOML v2 layout: <year>/<channel>, e.g. 2010/171A)")
    if years is not None:
        wanted = {str(y) for y in np.atleast_1d(years)}
        have = {y for parts in available.values() for _, y, _ in parts}
        if wanted - have:
            raise SdomlError(f"years {sorted(wanted - have)} are not in the store(s); they hold "
                             f"{sorted(have)}")
        available = {k: [p for p in v if p[1] in wanted] for k, v in available.items()}
    if channels is None:
        first = groups[0][0]
        channels = sorted({k for k, v in available.items() if any(p[0] == first for p in v)},
                          key=lambda c: (c not in SDOML_AIA_CHANNELS, c))
    channels = [channels] if isinstance(channels, str) else list(channels)
    missing = [c for c in channels if not available.get(c)]
    if missing:
        raise SdomlError(f"channels {missing} are not in the store(s) for the years asked; "
                         f"available: {sorted(k for k, v in available.items() if v)}")
    label = ", ".join(lbl for lbl, _ in groups)
    loaded = {c: _Channel(c, [p[2] for p in available[c]], available[c][0][0])
              for c in channels}
    reference = reference or channels[0]
    if reference not in loaded:
        raise SdomlError(f"reference={reference!r} is not one of the channels {channels}")
    ref = loaded[reference]
    tol = np.timedelta64(int(round(as_seconds(tolerance, "tolerance") * 1e9)), "ns")
    matches = {c: _match(ref.times, ch.times, tol) for c, ch in loaded.items()}
    keep = np.all([m >= 0 for m in matches.values()], axis=0)
    if not keep.any():
        raise SdomlError(f"{label}: no {reference} frame has a frame of every channel "
                         f"{channels} within {tolerance}; widen tolerance= or choose channels "
                         "observed at the same times")
    if not keep.all():
        log.info("open_sdoml: %d of %d %s frames dropped (no frame of every channel within %s)",
                 int((~keep).sum()), keep.size, reference, tolerance)
    index = {c: m[keep] for c, m in matches.items()}
    coords = _frame_coords(ref, index[reference], label)
    for c in channels:
        if c != reference:
            _check_geometry(coords, loaded[c], index[c], c, reference, label)
    ds = _dataset(loaded, index, coords, reference, label)
    ds = append_history(ds, f"open_sdoml: {len(channels)} channel(s) {channels}, "
                            f"{ds.sizes['time']} frames, reference {reference}, tolerance "
                            f"{tolerance}, from {label}")
    return validate(ds)


def _frame_coords(channel, index, label):
    cols = {key: channel.column(kw, default, index, label)
            for key, (kw, default) in _KEYWORDS.items()}
    if "HGLT_OBS" not in channel.headers and "CRLT_OBS" in channel.headers:
        cols["hglt_obs"] = channel.column("CRLT_OBS", None, index, label)
    if "QUALITY" in channel.headers:
        cols["quality"] = channel.column("QUALITY", 0, index, label).astype(np.int64)
    date_obs = channel.headers.get("DATE-OBS") or channel.headers.get("DATE_OBS")
    cols["date_obs"] = _parse_times([date_obs[i] for i in index], label) if date_obs \
        else channel.times[index]
    return cols


def _check_geometry(coords, channel, index, name, reference, label):
    for key, tol in _GEOMETRY_TOLERANCE.items():
        kw, default = _KEYWORDS[key]
        other = channel.column(kw, default, index, label)
        bad = np.abs(other - coords[key]) > tol
        if bad.any():
            raise SdomlError(_geometry_message(name, reference, key, other, coords[key], bad))
    for key in ("cdelt1", "cdelt2"):
        other = channel.column(_KEYWORDS[key][0], None, index, label)
        bad = np.abs(other / coords[key] - 1.0) > _CDELT_RTOL
        if bad.any():
            raise SdomlError(_geometry_message(name, reference, key, other, coords[key], bad))


def _geometry_message(name, reference, key, other, ref, bad):
    k = int(np.argmax(bad))
    return (f"channel {name} does not share the geometry of {reference}: {key.upper()} is "
            f"{other[k]:g} against {ref[k]:g} (frame {k}); a solar Dataset holds one geometry "
            f"per frame: open the channels separately (open_sdoml(..., channels=[{name!r}])) "
            "and regrid them onto one grid (solarprep.regrid_disk)")


def _dataset(loaded, index, coords, reference, label):
    ref = loaded[reference]
    ny, nx = ref.data.shape[1:]
    data = {}
    for c, channel in loaded.items():
        if channel.data.shape[1:] != (ny, nx):
            raise SdomlError(f"channel {c} has images of {channel.data.shape[1:]} pixels, "
                             f"{reference} of {(ny, nx)}; open them separately")
        name, long_name, units = _variable(c)
        bunit = channel.headers.get("BUNIT")
        if bunit and bunit[0]:
            units = _units(bunit[0], units)
        data[name] = xr.Variable(("time", "y", "x"),
                                 channel.data[index[c]].astype(np.float32),
                                 {"units": units, "long_name": long_name, "sdoml_channel": c})
    g = {k: v[0] for k, v in coords.items()}
    frame = {}
    for key, (units, long_name) in FRAME_COORDS.items():
        attrs = {"units": units, "long_name": long_name} if units else {"long_name": long_name}
        frame[key] = ("time", np.asarray(coords[key]), attrs)
    if "quality" in coords:
        frame["quality"] = ("time", coords["quality"], {"long_name": "QUALITY keyword"})
    extra = {f"{_variable(c)[0]}_time": ("time", loaded[c].times[index[c]],
                                         {"long_name": f"time of the matched {c} frame (UTC)"})
             for c in loaded if c != reference}
    x = g["crval1"] + g["cdelt1"] * (np.arange(nx) + 1.0 - g["crpix1"])
    y = g["crval2"] + g["cdelt2"] * (np.arange(ny) + 1.0 - g["crpix2"])
    rsun_ref = ref.headers.get("RSUN_REF", [695_700_000.0])[0] or 695_700_000.0
    instruments = sorted({str((loaded[c].headers.get("INSTRUME") or [""])[0] or
                              ("HMI" if c in SDOML_HMI_CHANNELS else "AIA")) for c in loaded})
    single = len(loaded) == 1 and reference in SDOML_AIA_CHANNELS
    ds = xr.Dataset(data, coords={
        "time": ("time", ref.times[index[reference]],
                 {"long_name": f"reference time of the {reference} frame (UTC)"}),
        "y": ("y", y, {"units": "arcsec", "long_name": "helioprojective latitude of the row "
                                                      "axis (frame 0)"}),
        "x": ("x", x, {"units": "arcsec", "long_name": "helioprojective longitude of the column "
                                                      "axis (frame 0)"}),
        **frame, **extra})
    ds.attrs = {"Conventions": CONVENTIONS, "title": f"SDOML v2 {', '.join(loaded)}",
                "observatory": "SDO", "instrument": ", ".join(instruments), "detector": "",
                "wavelength": float(reference.rstrip("A")) if single else np.nan,
                "wavelength_unit": "Angstrom" if single else "",
                "rsun_ref": float(rsun_ref), "ctype1": "HPLN-TAN", "ctype2": "HPLT-TAN",
                "lonpole": 180.0, "source": label, "sdoml_reference": reference}
    return ds


def _units(text, default):
    import astropy.units as u

    try:
        return u.Unit(str(text).replace("Gauss", "G"), parse_strict="raise").to_string()
    except ValueError:
        log.warning("SDOML BUNIT %r is not a unit astropy reads; using %r", text, default)
        return default
