"""One query list per seed system's data selection (``docs/data_presets.md``).

==============  ===============================================================  =======
preset          what (reference facts §1–5)                                      cadence
==============  ===============================================================  =======
``park2019``    HMI ``M_45s`` + the nine AIA passbands (94–335 Å, 1600, 1700)    6 h
``farside``     AIA 304, 193, 171 Å + HMI ``M_720s`` (Kim 2019, Jeong 2020/22)   12 h
``lightcurve``  HMI ``Ic_720s`` (light curve) + ``Ic_noLimbDark_720s`` (frames)  12 h
``ddpm``        AIA 171 Å + GOES/XRS files + HEK flares ≥ C1 (Ramunno 2024)      1 h
``solared``     HMI ``V_45s``, ``M_45s``, ``Ic_45s`` cut out around an AR,       45 s
                512×512 px tracked by JSOC ``im_patch``
==============  ===============================================================  =======

:func:`estimate_volume` gives the expected download size from typical file sizes
(:data:`TYPICAL_BYTES`; JSOC ``fits`` exports are Rice-compressed, sizes vary ±30 %).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from solarprep.errors import QueryError
from solarprep.io.archive.queries import (
    aia_query,
    goes_xrs_query,
    hek_flare_query,
    hmi_query,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from solarprep.io.archive.queries import FidoQuery, JsocQuery, TimeLike

__all__ = ["PRESETS", "preset", "estimate_volume", "TYPICAL_BYTES"]

_MB = 1_000_000

#: Typical size of one exported file (bytes) by series; cut-outs by pixel count.
TYPICAL_BYTES = {
    "aia.lev1_euv_12s": 11 * _MB, "aia.lev1_uv_24s": 9 * _MB, "aia.lev1_vis_1h": 12 * _MB,
    "hmi.M_45s": 14 * _MB, "hmi.Ic_45s": 12 * _MB, "hmi.V_45s": 15 * _MB,
    "hmi.M_720s": 14 * _MB, "hmi.Ic_720s": 12 * _MB, "hmi.Ic_noLimbDark_720s": 12 * _MB,
    "hmi.V_720s": 15 * _MB, "goes_xrs": 2 * _MB,
}

#: Bytes per pixel of a compressed JSOC cut-out (32-bit, Rice-compressed about 2×).
_CUTOUT_BYTES_PER_PIXEL = 2.0

_NINE = (94, 131, 171, 193, 211, 304, 335, 1600, 1700)


def _park2019(start, end, cadence="6h", **_):
    return [hmi_query(start, end, "M", cadence=cadence)] + \
        [aia_query(start, end, w, cadence=cadence) for w in _NINE]


def _farside(start, end, cadence="12h", **_):
    return [aia_query(start, end, w, cadence=cadence) for w in (304, 193, 171)] + \
        [hmi_query(start, end, "M", cadence=cadence, series_cadence="720s")]


def _lightcurve(start, end, cadence="12h", **_):
    return [hmi_query(start, end, "Ic", cadence=cadence, series_cadence="720s"),
            hmi_query(start, end, "Ic_noLimbDark", cadence=cadence, series_cadence="720s")]


def _ddpm(start, end, cadence="1h", min_class="C1.0", **_):
    return [aia_query(start, end, 171, cadence=cadence), goes_xrs_query(start, end),
            hek_flare_query(start, end, min_class=min_class)]


def _solared(start, end, cadence=None, center=None, size=512, **_):
    if center is None:
        raise QueryError("the solared preset needs center=(lon, lat): the active region's "
                         "Stonyhurst longitude and latitude (deg) at the start time "
                         "(CLI: --center LON,LAT)")
    lon, lat = center
    patch = {"lon": lon, "lat": lat, "width": size, "height": size}
    return [hmi_query(start, end, p, cadence=cadence, patch=patch) for p in ("V", "M", "Ic")]


#: Preset name → (builder, one-line description).
PRESETS = {
    "park2019": (_park2019, "HMI M_45s + nine AIA passbands, 6 h (Park et al. 2019)"),
    "farside": (_farside, "AIA 304/193/171 + HMI M_720s, 12 h (far-side magnetograms)"),
    "lightcurve": (_lightcurve, "HMI Ic_720s + Ic_noLimbDark_720s, 12 h (light curve → video)"),
    "ddpm": (_ddpm, "AIA 171, 1 h + GOES/XRS + HEK flares >= C1 (flare-class DDPM)"),
    "solared": (_solared, "HMI V/M/Ic_45s, 512² tracked cut-outs around an AR (SOLARED)"),
}


def preset(name: str, start: TimeLike, end: TimeLike, **options: Any) -> list[JsocQuery | FidoQuery]:
    """The queries of a seed's data selection between ``start`` and ``end``.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`.
    start, end : str, datetime or astropy.time.Time
    **options
        ``cadence`` (all), ``min_class`` (ddpm), ``center`` = (lon, lat) deg and ``size``
        px (solared).

    Returns
    -------
    list of JsocQuery and FidoQuery
    """
    if name not in PRESETS:
        raise QueryError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    options = {k: v for k, v in options.items() if v is not None}
    return PRESETS[name][0](start, end, **options)


def estimate_volume(queries: Iterable[JsocQuery | FidoQuery]) -> float:
    """Expected download size (bytes) of queries: records × :data:`TYPICAL_BYTES`.

    Cut-outs count their pixels; Fido queries count 1 file per day (GOES/XRS) and HEK
    event tables nothing.
    """
    total = 0.0
    for q in queries:
        process = dict(getattr(q, "process", ()) or ())
        if "im_patch" in process:
            opts = dict(process["im_patch"])
            per = int(opts["width"]) * int(opts["height"]) * _CUTOUT_BYTES_PER_PIXEL
        else:
            per = TYPICAL_BYTES.get(q.series.split(".g")[0] if q.series.startswith("goes") else
                                    q.series, 0)
        n = q.n_records
        if q.series.startswith("goes_xrs"):
            t = q.attrs[0]
            n = max(1, int((t.end - t.start).to_value("d") + 0.999))
        total += n * per
    return total
