"""Archive queries for the seeds' data: JSOC record sets and sunpy Fido attributes.

Every function here is pure: it builds the query and touches no network, so the
query strings and attributes are tested by exact equality. :func:`solarprep.fetch`
runs them (``docs/data_jsoc.md``, ``docs/data_fido.md``).

JSOC record-set syntax (DRMS; Bogart et al., *JSOC user's guide*)::

    series[T_REC range][other prime keys]{segments}

with a time range ``start/duration@step``: ``aia.lev1_euv_12s[2011-02-15T00:00:00Z/1d@6h][171]{image}``
is one AIA 171 Å level-1 image every 6 h for a day. AIA prime keys are ``T_REC`` (UTC, ``Z``)
and ``WAVELNTH``; HMI prime keys are ``T_REC`` (TAI, ``2011.02.15_00:00:00_TAI``) and
``CAMERA``, which the queries leave open.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
from typing import TYPE_CHECKING

from solarprep.dataset import as_seconds
from solarprep.errors import QuantityError, QueryError

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    from astropy.time import Time
    from sunpy.net.fido_factory import UnifiedResponse

    from solarprep.dataset import Duration

    TimeLike: TypeAlias = "str | datetime.datetime | np.datetime64 | Time"

__all__ = ["JsocQuery", "FidoQuery", "AIA_SERIES", "AIA_WAVELENGTHS", "HMI_SERIES",
           "aia_query", "hmi_query", "euvi_query", "goes_xrs_query", "hek_flare_query",
           "jsoc_duration", "parse_time"]

#: AIA level-1 series and the passbands (Å) they hold.
AIA_SERIES = {
    "aia.lev1_euv_12s": (94, 131, 171, 193, 211, 304, 335),
    "aia.lev1_uv_24s": (1600, 1700),
    "aia.lev1_vis_1h": (4500,),
}
AIA_WAVELENGTHS = tuple(w for ws in AIA_SERIES.values() for w in ws)

#: HMI series by (product, cadence): (series name, segment).
HMI_SERIES = {
    ("M", "45s"): ("hmi.M_45s", "magnetogram"),
    ("Ic", "45s"): ("hmi.Ic_45s", "continuum"),
    ("V", "45s"): ("hmi.V_45s", "Dopplergram"),
    ("M", "720s"): ("hmi.M_720s", "magnetogram"),
    ("Ic", "720s"): ("hmi.Ic_720s", "continuum"),
    ("Ic_noLimbDark", "720s"): ("hmi.Ic_noLimbDark_720s", "continuum"),
    ("V", "720s"): ("hmi.V_720s", "Dopplergram"),
}

#: The cadence of each series' records (s): asking for a finer step returns every record.
_NATIVE_CADENCE = {"aia.lev1_euv_12s": 12.0, "aia.lev1_uv_24s": 24.0, "aia.lev1_vis_1h": 3600.0,
                   **{s: float(c.rstrip("s")) for (_, c), (s, _) in HMI_SERIES.items()}}


@dataclasses.dataclass(frozen=True)
class JsocQuery:
    """One JSOC export: a DRMS record set and how to export it.

    Attributes
    ----------
    recordset : str
        The DRMS record set, e.g. ``"hmi.M_45s[2011.02.15_00:00:00_TAI/1d@6h]{magnetogram}"``.
    series : str
        The series name (the cache folder).
    n_records : int
        How many records the time range and step select at most (for volume estimates).
    process : tuple of (str, tuple of (str, str))
        JSOC export processing steps (drms ``process=``), e.g. ``im_patch`` cut-outs, as
        nested tuples so that the query stays hashable; :meth:`process_dict` gives the dict.
    protocol, method : str
        drms export protocol (``"fits"``: full headers in every file) and method (``"url"``).
    """

    recordset: str
    series: str
    n_records: int
    process: tuple = ()
    protocol: str = "fits"
    method: str = "url"

    def __str__(self):
        return self.recordset

    @property
    def key(self):
        """A stable text key of the query (record set + processing), used by the cache."""
        if not self.process:
            return self.recordset
        steps = "|".join(f"{name}:" + ",".join(f"{k}={v}" for k, v in opts)
                         for name, opts in self.process)
        return f"{self.recordset} process={steps}"

    def process_dict(self) -> dict[str, dict[str, str]] | None:
        """The processing steps as drms wants them: ``{name: {option: value}}``, or None."""
        return {name: dict(opts) for name, opts in self.process} or None


@dataclasses.dataclass(frozen=True)
class FidoQuery:
    """A sunpy ``Fido`` search: the attributes and the cache folder of what it finds.

    ``Fido.search(*query.attrs)`` runs it; ``str(query)`` is a readable key.
    """

    attrs: tuple
    series: str
    n_records: int = 0

    def __str__(self):
        return " & ".join(_attr_text(a) for a in self.attrs)

    @property
    def key(self):
        return f"fido:{self.series}:{self}"

    def search(self) -> UnifiedResponse:
        """Run ``sunpy.net.Fido.search`` (needs the network)."""
        from sunpy.net import Fido

        return Fido.search(*self.attrs)


def _attr_text(attr):
    from sunpy.net import attrs as a

    if isinstance(attr, a.Time):
        return f"Time({attr.start.isot}, {attr.end.isot})"
    if hasattr(attr, "operator"):
        return f"{attr.name}{attr.operator}{attr.value}"
    value = getattr(attr, "value", getattr(attr, "item", None))
    if value is None and hasattr(attr, "min"):
        value = f"{attr.min}-{attr.max}"
    return f"{type(attr).__name__}({value})"


# --------------------------------------------------------------------------- helpers


def parse_time(value: TimeLike, name: str = "time") -> Time:
    """A UTC :class:`astropy.time.Time` from an ISO string, datetime, numpy datetime64 or Time."""
    from astropy.time import Time

    try:
        t = value if isinstance(value, Time) else Time(
            str(value) if not isinstance(value, datetime.datetime) else value, scale="utc")
    except (ValueError, TypeError) as exc:
        raise QueryError(f"{name}={value!r} is not a time astropy can read; give an ISO 8601 "
                         "string such as '2011-02-15T00:00:00'") from exc
    return t.utc


def _seconds(value, name):
    """Seconds of a duration (:func:`solarprep.dataset.as_seconds`), a QueryError if not one."""
    try:
        return as_seconds(value, name, allow_zero=False)
    except QuantityError as exc:
        raise QueryError(str(exc)) from None


def jsoc_duration(seconds: float) -> str:
    """A DRMS duration: the largest unit (d, h, m, s) that divides ``seconds`` exactly."""
    seconds = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _range(start, end, cadence, series):
    """``(t0, duration seconds, step seconds or None, n_records)``, checked."""
    t0, t1 = parse_time(start, "start"), parse_time(end, "end")
    span = round(float((t1 - t0).to_value("s")), 3)
    if not span > 0:
        raise QueryError(f"end={t1.isot} is not after start={t0.isot}")
    step = _seconds(cadence, "cadence")
    native = _NATIVE_CADENCE.get(series, 1.0)
    n = max(1, math.ceil(span / max(step or native, native) - 1e-9))
    return t0, span, step, n


def _time_range(t0, span, step, style):
    if style == "tai":
        text = t0.tai.strftime("%Y.%m.%d_%H:%M:%S") + "_TAI"
    else:
        text = t0.utc.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    out = f"{text}/{jsoc_duration(span)}"
    return f"{out}@{jsoc_duration(step)}" if step else out


# --------------------------------------------------------------------------- JSOC


def aia_query(start: TimeLike, end: TimeLike, wavelength: int, *, cadence: Duration | None = None,
              series: str | None = None, segment: str = "image") -> JsocQuery:
    """AIA level-1 images in one passband over a time range, at a cadence.

    Parameters
    ----------
    start, end : str, datetime or astropy.time.Time
        UTC time range (``end`` excluded by the duration form ``start/duration``).
    wavelength : int
        Passband in Å: 94, 131, 171, 193, 211, 304, 335 (``aia.lev1_euv_12s``), 1600,
        1700 (``aia.lev1_uv_24s``) or 4500 (``aia.lev1_vis_1h``).
    cadence : str, float or astropy.units.Quantity, optional
        Step between records (``"6h"``, 3600, ``12 * u.min``); every record by default.
    series : str, optional
        Override the series (e.g. ``"aia.lev1"`` for the older combined series).
    segment : str
        The segment to export (``image``).

    Returns
    -------
    JsocQuery
        ``aia.lev1_euv_12s[2011-02-15T00:00:00Z/1d@6h][171]{image}`` for
        ``aia_query("2011-02-15", "2011-02-16", 171, cadence="6h")``.

    Raises
    ------
    QueryError
        An unknown passband, an empty or reversed time range, a bad cadence.
    """
    try:
        wavelength = int(wavelength)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"wavelength={wavelength!r} is not an AIA passband; use one of "
                         f"{AIA_WAVELENGTHS} (Å)") from exc
    if series is None:
        series = next((s for s, ws in AIA_SERIES.items() if wavelength in ws), None)
        if series is None:
            raise QueryError(f"wavelength={wavelength} Å is not an AIA passband; use one of "
                             f"{AIA_WAVELENGTHS}")
    t0, span, step, n = _range(start, end, cadence, series)
    recordset = f"{series}[{_time_range(t0, span, step, 'utc')}][{wavelength}]{{{segment}}}"
    return JsocQuery(recordset, series, n)


def hmi_query(start: TimeLike, end: TimeLike, product: str = "M", *, cadence: Duration | None = None,
              series_cadence: Duration = "45s", segment: str | None = None,
              patch: dict | None = None) -> JsocQuery:
    """HMI full-disk (or JSOC-cut) observables over a time range, at a cadence.

    Parameters
    ----------
    start, end : str, datetime or astropy.time.Time
        UTC time range; written in TAI as the HMI prime key ``T_REC`` is.
    product : {"M", "Ic", "V", "Ic_noLimbDark"}
        Line-of-sight magnetogram, continuum intensity, Dopplergram, or (720 s only) the
        continuum with the limb darkening removed.
    cadence : str, float or Quantity, optional
        Step between records (every record by default).
    series_cadence : {"45s", "720s"} or astropy.units.Quantity
        ``hmi.M_45s`` ... or the 720 s averages ``hmi.M_720s`` ... (``12 * u.min`` is
        ``"720s"``).
    segment : str, optional
        Override the segment (``magnetogram``, ``continuum``, ``Dopplergram``).
    patch : dict, optional
        A JSOC ``im_patch`` cut-out tracked with solar rotation: keys ``lon``, ``lat``
        (Stonyhurst degrees at ``start``), ``width``, ``height`` (pixels). JSOC does the
        cutting and tracking, so a SOLARED 8-hour Dopplergram cube is ~1000× smaller
        than the full-disk images.

    Returns
    -------
    JsocQuery
        ``hmi.M_45s[2011.02.15_00:00:34_TAI/1d@6h]{magnetogram}`` for ``hmi_query(
        "2011-02-15", "2011-02-16", "M", cadence="6h")`` (TAI = UTC + 34 s in 2011).
    """
    key = (product, f"{_seconds(series_cadence, 'series_cadence'):g}s")
    if key not in HMI_SERIES:
        raise QueryError(f"no HMI series for product={product!r}, series_cadence="
                         f"{series_cadence!r}; known: "
                         + ", ".join(f"{p}/{c}" for p, c in HMI_SERIES))
    series, default_segment = HMI_SERIES[key]
    t0, span, step, n = _range(start, end, cadence, series)
    recordset = f"{series}[{_time_range(t0, span, step, 'tai')}]{{{segment or default_segment}}}"
    process = ()
    if patch is not None:
        process = (("im_patch", _im_patch(patch, t0)),)
    return JsocQuery(recordset, series, n, process=process)


def _im_patch(patch, t0):
    missing = {"lon", "lat", "width", "height"} - set(patch)
    if missing:
        raise QueryError(f"patch needs {sorted(missing)}: lon/lat (Stonyhurst deg at the start "
                         "time) and width/height (pixels)")
    t_ref = t0.tai.strftime("%Y.%m.%d_%H:%M:%S") + "_TAI"
    return (("t_ref", t_ref), ("t", "0"), ("r", "0"), ("c", "0"), ("locunits", "stony"),
            ("boxunits", "pixels"), ("x", f"{float(patch['lon']):g}"),
            ("y", f"{float(patch['lat']):g}"), ("width", str(int(patch["width"]))),
            ("height", str(int(patch["height"]))))


# --------------------------------------------------------------------------- Fido


def euvi_query(start: TimeLike, end: TimeLike, wavelength: float = 171, *, spacecraft: str = "A",
               cadence: Duration | None = None) -> FidoQuery:
    """STEREO/SECCHI EUVI images through the VSO (``Fido``).

    Returns a :class:`FidoQuery` with ``a.Time``, ``a.Source("STEREO_A")``,
    ``a.Instrument("EUVI")``, ``a.Wavelength`` (± 0.5 Å around the passband) and, with a
    cadence, ``a.Sample``. EUVI passbands: 171, 195, 284, 304 Å.
    """
    import astropy.units as u
    from sunpy.net import attrs as a

    if str(spacecraft).upper() not in ("A", "B"):
        raise QueryError(f"spacecraft={spacecraft!r}: STEREO 'A' or 'B'")
    if int(wavelength) not in (171, 195, 284, 304):
        raise QueryError(f"wavelength={wavelength!r} is not an EUVI passband (171, 195, 284, "
                         "304 Å)")
    t0, span, step, n = _range(start, end, cadence, "euvi")
    w = float(wavelength)
    attrs = [a.Time(t0, parse_time(end)), a.Source(f"STEREO_{str(spacecraft).upper()}"),
             a.Instrument("EUVI"), a.Wavelength((w - 0.5) * u.AA, (w + 0.5) * u.AA)]
    if step:
        attrs.append(a.Sample(step * u.s))
    return FidoQuery(tuple(attrs), f"stereo_{str(spacecraft).lower()}.euvi{int(w)}",
                     n if step else 0)


def goes_xrs_query(start: TimeLike, end: TimeLike, *, satellite: int | None = None,
                   resolution: str | None = None) -> FidoQuery:
    """GOES/XRS soft X-ray files through ``Fido`` (sunpy's ``XRSClient``, NOAA/NCEI).

    Parameters
    ----------
    satellite : int, optional
        ``a.goes.SatelliteNumber`` (13, 14, 15, 16, 17, 18); the client picks by date
        otherwise.
    resolution : {"flx1s", "avg1m", "irrad"}, optional
        ``a.Resolution``: GOES-R 1-s fluxes or 1-min averages, reprocessed GOES 13-15
        (``irrad``, 2 s).
    """
    from sunpy.net import attrs as a

    attrs = [a.Time(parse_time(start, "start"), parse_time(end, "end")), a.Instrument("XRS")]
    if satellite is not None:
        attrs.append(a.goes.SatelliteNumber(int(satellite)))
    if resolution is not None:
        if resolution not in ("flx1s", "avg1m", "irrad"):
            raise QueryError(f"resolution={resolution!r}: 'flx1s', 'avg1m' or 'irrad'")
        attrs.append(a.Resolution(resolution))
    name = "goes_xrs" + (f".g{int(satellite):02d}" if satellite is not None else "")
    return FidoQuery(tuple(attrs), name)


def hek_flare_query(start: TimeLike, end: TimeLike, *, min_class: str = "C1.0",
                    observatory: str = "GOES") -> FidoQuery:
    """HEK flare events (``FL``) at or above a GOES class, as the DDPM seed labels flares.

    Returns a :class:`FidoQuery` with ``a.Time``, ``a.hek.EventType("FL")``,
    ``a.hek.FL.GOESCls >= min_class`` and ``a.hek.OBS.Observatory == observatory``.
    ``Fido.search`` answers with the event table (no files to download).
    """
    from sunpy.net import attrs as a

    from solarprep.lightcurves.goes import class_to_flux

    try:
        class_to_flux(min_class)
    except ValueError as exc:
        raise QueryError(str(exc)) from exc
    attrs = (a.Time(parse_time(start, "start"), parse_time(end, "end")), a.hek.EventType("FL"),
             a.hek.FL.GOESCls >= str(min_class).upper(),
             a.hek.OBS.Observatory == observatory)
    return FidoQuery(attrs, "hek_flares")
