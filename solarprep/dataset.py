"""The solar Dataset convention (``docs/dataset.md``): names, validation, history.

Every step of solarprep reads and writes an :class:`xarray.Dataset` with dims
``(time, y, x)``, float32 data variables carrying ``units`` and ``long_name``,
per-frame geometry as coordinates along ``time`` and the constant metadata in
the global attributes. :func:`validate` says exactly what a Dataset lacks.
"""
from __future__ import annotations

import datetime
import math
import re
import warnings
from typing import TYPE_CHECKING, TypeAlias, overload

import numpy as np

from solarprep._version import __version__
from solarprep.errors import DatasetConventionError, QuantityError  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import os

    import xarray as xr
    from astropy.units import Quantity, UnitBase

__all__ = ["GEOMETRY_COORDS", "FRAME_COORDS", "REQUIRED_ATTRS", "CONVENTIONS", "validate",
           "append_history", "data_variables", "is_light_curve", "is_heliographic_map",
           "MAP_PROJECTIONS", "as_seconds", "cf_units", "cf_encode", "cf_decode", "UNITS_ASTROPY",
           "Duration", "PathLike"]

#: A duration as the public API takes it (:func:`as_seconds`): ``8 * u.h``, ``"8h"``, a
#: ``timedelta``, or a number in the argument's documented unit.
Duration: TypeAlias = "Quantity | str | float | datetime.timedelta | np.timedelta64"
#: A file or folder path.
PathLike: TypeAlias = "str | os.PathLike[str]"

CONVENTIONS = "CF-1.11"

#: Per-frame coordinates that define the geometry of each frame (float64, along ``time``).
GEOMETRY_COORDS = ("crpix1", "crpix2", "crval1", "crval2", "cdelt1", "cdelt2", "crota2",
                   "dsun_obs", "hgln_obs", "hglt_obs")

#: Every per-frame coordinate, with its units and long name.
FRAME_COORDS = {
    "date_obs": ("", "start of the observation (DATE-OBS)"),
    "exptime": ("s", "exposure time"),
    "dsun_obs": ("m", "observer distance from Sun centre"),
    "hgln_obs": ("deg", "observer heliographic Stonyhurst longitude"),
    "hglt_obs": ("deg", "observer heliographic Stonyhurst latitude (B0)"),
    "rsun_obs": ("arcsec", "apparent photospheric radius"),
    "crpix1": ("pix", "reference pixel along x, 1-based"),
    "crpix2": ("pix", "reference pixel along y, 1-based"),
    "crval1": ("arcsec", "helioprojective longitude of the reference pixel"),
    "crval2": ("arcsec", "helioprojective latitude of the reference pixel"),
    "cdelt1": ("arcsec / pix", "plate scale along x"),
    "cdelt2": ("arcsec / pix", "plate scale along y"),
    "crota2": ("deg", "rotation of the image axes from solar north"),
}

REQUIRED_ATTRS = ("Conventions", "instrument", "rsun_ref", "ctype1", "ctype2",
                  "solarprep_version", "history")

#: Projections of heliographic (tracked) map Datasets, named in ``attrs["projection"]``.
MAP_PROJECTIONS = ("postel", "cea", "plate-carree")

#: Per-frame coordinates of a heliographic map Dataset (the observer; no image WCS).
MAP_FRAME_COORDS = ("date_obs", "exptime", "dsun_obs", "hgln_obs", "hglt_obs", "rsun_obs")

#: Global attributes of a heliographic map Dataset.
MAP_REQUIRED_ATTRS = ("Conventions", "instrument", "rsun_ref", "projection",
                      "solarprep_version", "history")


def data_variables(ds: xr.Dataset) -> list[str]:
    """Names of the image variables, those with dims ``(time, y, x)``."""
    return [name for name, var in ds.data_vars.items() if var.dims == ("time", "y", "x")]


def is_light_curve(ds: xr.Dataset) -> bool:
    """True for a light-curve Dataset: a ``time`` dimension and no image axes."""
    return "time" in ds.dims and "x" not in ds.dims and "y" not in ds.dims


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check that ``ds`` follows the solar Dataset convention.

    Image Datasets (dims ``time, y, x``) are checked in full; light-curve
    Datasets (dim ``time`` and no image axes, e.g. GOES/XRS fluxes or disk
    integrals) need the ``time`` index, float32 variables along ``time`` with
    ``units`` and ``long_name``, and the ``Conventions`` attribute.

    Returns
    -------
    xarray.Dataset
        ``ds`` itself, so that ``validate`` can be chained.

    Raises
    ------
    DatasetConventionError
        Listing every problem found, each with what to do about it.
    """
    problems = _time_problems(ds)
    if is_light_curve(ds):
        names = [n for n, v in ds.data_vars.items() if "time" in v.dims]
        if not names:
            problems.append("no data variable along 'time'")
        problems += _variable_problems(ds, names)
        if "Conventions" not in ds.attrs:
            problems.append("global attribute 'Conventions' is missing")
    else:
        problems += _image_problems(ds)
    if problems:
        raise DatasetConventionError(
            "the Dataset does not follow the solar Dataset convention (docs/dataset.md):\n  - "
            + "\n  - ".join(problems))
    return ds


def _time_problems(ds):
    if "time" not in ds.dims:
        return ["dimension 'time' is missing"]
    if "time" in ds.coords and not np.issubdtype(ds["time"].dtype, np.datetime64):
        return [f"'time' has dtype {ds['time'].dtype}, expected datetime64[ns] (UTC)"]
    return []


def _variable_problems(ds, names):
    import astropy.units as u

    problems = []
    for name in names:
        var = ds[name]
        if var.dtype != np.float32:
            problems.append(f"variable {name!r} is {var.dtype}, expected float32")
        if "long_name" not in var.attrs:
            problems.append(f"variable {name!r} has no 'long_name'")
        if "units" not in var.attrs:
            problems.append(f"variable {name!r} has no 'units'")
        else:
            try:
                u.Unit(var.attrs["units"], parse_strict="raise")
            except ValueError:
                problems.append(f"variable {name!r} has units {var.attrs['units']!r}, "
                                "which astropy cannot parse")
    return problems


def is_heliographic_map(ds: xr.Dataset) -> bool:
    """True for a tracked heliographic map Dataset (``attrs["projection"]`` names one)."""
    return ds.attrs.get("projection") in MAP_PROJECTIONS


def _image_problems(ds):
    problems = []
    heliographic = is_heliographic_map(ds)
    axis_units = "deg" if heliographic else "arcsec"
    for dim in ("y", "x"):
        if dim not in ds.dims:
            problems.append(f"dimension {dim!r} is missing")
    for axis in ("x", "y"):
        if axis in ds.coords and ds[axis].attrs.get("units") != axis_units:
            problems.append(f"coordinate {axis!r} must have units={axis_units!r}")
    names = data_variables(ds)
    if not names:
        problems.append("no data variable with dims ('time', 'y', 'x')")
    problems += _variable_problems(ds, names)
    for name in (MAP_FRAME_COORDS if heliographic else FRAME_COORDS):
        if name not in ds.coords:
            problems.append(f"per-frame coordinate {name!r} is missing")
        elif ds[name].dims != ("time",):
            problems.append(f"coordinate {name!r} has dims {ds[name].dims}, expected ('time',)")
    for name in (MAP_REQUIRED_ATTRS if heliographic else REQUIRED_ATTRS):
        if name not in ds.attrs:
            problems.append(f"global attribute {name!r} is missing")
    return problems


def append_history(ds: xr.Dataset, message: str) -> xr.Dataset:
    """Return a shallow copy of ``ds`` with one line added to its ``history`` attribute.

    Each line reads ``<UTC time> solarprep <version> <message>``, oldest first.
    """
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{stamp} solarprep {__version__} {message}"
    out = ds.copy(deep=False)
    out.attrs = dict(ds.attrs)
    previous = out.attrs.get("history", "")
    out.attrs["history"] = f"{previous}\n{line}" if previous else line
    out.attrs["solarprep_version"] = __version__
    return out


# --------------------------------------------------------------------------- durations


#: Units of duration strings (``"8h"``, ``"12min"``, ``"45s"``, ``"1d"``): as pandas and
#: JSOC write them, so ``"m"`` is a minute here (never a metre).
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "secs": 1.0,
                   "second": 1.0, "seconds": 1.0, "m": 60.0, "min": 60.0, "mins": 60.0,
                   "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hrs": 3600.0,
                   "hour": 3600.0, "hours": 3600.0, "d": 86400.0, "day": 86400.0,
                   "days": 86400.0}
_DURATION = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*$")


@overload
def as_seconds(value: None, name: str = ..., *, unit: str = ..., allow_zero: bool = ...) -> None: ...
@overload
def as_seconds(value: Duration, name: str = ..., *, unit: str = ...,
               allow_zero: bool = ...) -> float: ...
def as_seconds(value: Duration | None, name: str = "duration", *, unit: str = "s",
               allow_zero: bool = True) -> float | None:
    """A duration in seconds, from any of the forms the public API accepts.

    Parameters
    ----------
    value : astropy.units.Quantity, str, datetime.timedelta, numpy.timedelta64, float or None
        A time Quantity (``8 * u.h``), a string (``"8h"``, ``"12min"``, ``"45s"``, ``"1d"``,
        ``"100ms"``, ``"1h30min"``; ``"m"`` is a minute, as in pandas and JSOC), a
        ``timedelta`` or a plain number in ``unit``.
    name : str
        The argument's name, for the error message.
    unit : str
        The unit of a plain number (the argument's documented unit: ``"s"``, ``"min"``, ...).
    allow_zero : bool
        Accept a zero duration.

    Returns
    -------
    float or None
        Seconds; None for None.

    Raises
    ------
    solarprep.errors.QuantityError
        A Quantity whose unit is not a time, a string that is no duration, a negative,
        non-finite (or, without ``allow_zero``, zero) value.
    """
    import astropy.units as u

    if value is None:
        return None
    forms = (f"give a duration such as {name}=8 * u.h, {name}='8h' or a number of {unit}")
    if isinstance(value, u.Quantity):
        if not value.isscalar:
            raise QuantityError(f"{name}={value!r}: one duration, not an array; {forms}")
        try:
            seconds = float(value.to_value(u.s))
        except u.UnitConversionError:
            raise QuantityError(f"{name}={value}: {value.unit} is not a unit of time; "
                                f"{forms}") from None
    elif isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, np.timedelta64):
        seconds = float(value.astype("timedelta64[ns]").astype(np.int64)) / 1e9
    elif isinstance(value, str):
        seconds = _string_seconds(value, name, forms)
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise QuantityError(f"{name}={value!r} ({type(value).__name__}) is not a duration; {forms}")
    else:
        try:
            seconds = float(value) * float(u.Unit(unit).to(u.s))
        except u.UnitConversionError:
            raise QuantityError(f"{name}: the unit of plain numbers, {unit!r}, is not a unit of "
                                "time") from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise QuantityError(f"{name}={value!r} must be a finite, {need} duration; {forms}")
    return seconds


def _string_seconds(text, name, forms):
    import astropy.units as u

    match = _DURATION.match(text)
    if match:
        number, word = float(match.group(1)), match.group(2)
        if word in _DURATION_UNITS or word.lower() in _DURATION_UNITS:
            return number * _DURATION_UNITS.get(word, _DURATION_UNITS.get(word.lower()))
        try:
            unit = u.Unit(word)
        except ValueError:
            unit = None
        if unit is not None:
            if unit.physical_type != "time":
                raise QuantityError(f"{name}={text!r}: {word!r} is not a unit of time; {forms}")
            return number * float(unit.to(u.s))
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.Timedelta(text).total_seconds()
    except (ValueError, TypeError):
        raise QuantityError(f"{name}={text!r} is not a duration; {forms}") from None


# --------------------------------------------------------------------------- CF units


#: Attribute that keeps, beside a CF ``units`` string, a unit UDUNITS-2 has no name for
#: (``DN``, ``electron``, ``pix``): written by :func:`cf_encode`, read by :func:`cf_decode`.
UNITS_ASTROPY = "units_astropy"

#: astropy's generic names that UDUNITS-2 spells differently.
_UDUNITS_NAMES = {"deg": "degree", "G": "gauss", "Mx": "maxwell", "AU": "au"}
#: Counting units UDUNITS-2 does not know: written as ``count`` (dimensionless in UDUNITS).
_COUNTS = frozenset(("DN", "ct", "electron", "ph", "adu", "chan"))
#: Units that are not units in CF (a pixel is a count of grid steps): dropped.
_DROPPED = frozenset(("pix",))


def cf_units(unit: str | UnitBase) -> str:
    """The CF/UDUNITS-2 spelling of a unit: ``"W m-2"``, ``"m s-1"``, ``"gauss"``, ``"1"``.

    Parameters
    ----------
    unit : str or astropy.units.UnitBase
        Any unit astropy reads (its generic strings, ``"W / m2"``, or CF strings).

    Returns
    -------
    str
        Symbols separated by spaces with integer powers (``"m2 s-2"``), UDUNITS-2 names
        where astropy's symbols are not UDUNITS-2 ones (``deg`` → ``degree``, ``G`` →
        ``gauss``, ``Mx`` → ``maxwell``), counting units UDUNITS-2 lacks (``DN``,
        ``electron``, ``ct``) as ``count``, ``pix`` dropped and ``"1"`` for a
        dimensionless unit. :func:`cf_encode` keeps the exact astropy unit beside it
        where the two differ (:data:`UNITS_ASTROPY`).

    Raises
    ------
    solarprep.errors.QuantityError
        A string astropy cannot parse.
    """
    import astropy.units as u

    try:
        unit = u.Unit(unit)
    except ValueError as exc:
        raise QuantityError(f"units {unit!r} cannot be read by astropy ({exc})") from None
    if isinstance(unit, u.CompositeUnit):
        scale, pairs = unit.scale, list(zip(unit.bases, unit.powers))
    else:
        scale, pairs = 1.0, [(unit, 1)]
    terms = []
    for base, power in pairs:
        symbol = base.to_string()
        if symbol in _DROPPED:
            continue
        symbol = "count" if symbol in _COUNTS else _UDUNITS_NAMES.get(symbol, symbol)
        if float(power) != int(power):
            return unit.to_string("fits")
        terms.append(symbol if power == 1 else f"{symbol}{int(power)}")
    text = " ".join(terms)
    if scale != 1:
        text = f"{scale:g} {text}".strip()
    return text or "1"


def _is_time(var):
    return np.issubdtype(var.dtype, np.datetime64) or np.issubdtype(var.dtype, np.timedelta64)


#: CF attributes :func:`cf_encode` adds to the axes (and :func:`cf_decode` takes away).
_AXES = {"time": {"standard_name": "time", "axis": "T"}, "x": {"axis": "X"}, "y": {"axis": "Y"}}


def cf_encode(ds: xr.Dataset) -> xr.Dataset:
    """The Dataset as files hold it: CF/UDUNITS-2 ``units``, ``axis`` and ``standard_name``.

    Every ``units`` attribute (variables and coordinates, not datetimes) becomes
    :func:`cf_units` of it, with the exact astropy unit kept in :data:`UNITS_ASTROPY`
    where the CF string means another unit (``DN / s`` → ``units="count s-1"``,
    ``units_astropy="DN / s"``); ``time`` gets ``standard_name="time"`` and ``axis="T"``,
    the image axes ``x``/``y`` ``axis="X"``/``"Y"`` (CF has no standard name for
    helioprojective or heliographic map angles). Every writer of the three packages
    calls it (:func:`solarprep.save` does); :func:`cf_decode` is its inverse.

    Returns
    -------
    xarray.Dataset
        A shallow copy with new attribute dicts (the data are shared).
    """
    import astropy.units as u

    out = ds.copy(deep=False)
    for name, var in out.variables.items():
        attrs = dict(var.attrs)
        if "units" in attrs and not _is_time(var):
            given = attrs.get(UNITS_ASTROPY, attrs["units"])
            try:
                unit = u.Unit(given)
            except (ValueError, TypeError):
                unit = None       # not astropy's to judge (validate() checks solar Datasets)
            if unit is not None:
                attrs["units"] = cf_units(unit)
                if u.Unit(attrs["units"]) != unit:
                    attrs[UNITS_ASTROPY] = unit.to_string()
                else:
                    attrs.pop(UNITS_ASTROPY, None)
        if name in _AXES and name in out.dims and var.dims == (name,):
            for key, value in _AXES[name].items():
                attrs.setdefault(key, value)
        var.attrs = attrs
    return out


def cf_decode(ds: xr.Dataset) -> xr.Dataset:
    """Inverse of :func:`cf_encode`: astropy's generic ``units`` strings, as in memory.

    ``units`` becomes astropy's generic string of the unit (``"W m-2"`` → ``"W / m2"``,
    ``"1"`` → ``""``), or the :data:`UNITS_ASTROPY` unit where a file has one (``"DN / s"``);
    the ``axis``/``standard_name`` that :func:`cf_encode` adds to ``time``, ``x`` and ``y``
    are taken away, so that ``open_dataset(save(ds))`` is ``ds``. Strings astropy cannot
    read are left as they are.

    Returns
    -------
    xarray.Dataset
        A shallow copy with new attribute dicts.
    """
    import astropy.units as u

    out = ds.copy(deep=False)
    for name, var in out.variables.items():
        attrs = dict(var.attrs)
        if "units" in attrs and not _is_time(var):
            given = attrs.pop(UNITS_ASTROPY, None) or attrs["units"]
            try:
                attrs["units"] = u.Unit(given).to_string()
            except (ValueError, TypeError):
                attrs["units"] = given
        for key, value in _AXES.get(name, {}).items():
            if attrs.get(key) == value and var.dims == (name,):
                del attrs[key]
        var.attrs = attrs
    return out
