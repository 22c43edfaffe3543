"""The solar Dataset convention (``docs/dataset.md``): names, validation, history.

Every step of solarprep reads and writes an :class:`xarray.Dataset` with dims
``(time, y, x)``, float32 data variables carrying ``units`` and ``long_name``,
per-frame geometry as coordinates along ``time`` and the constant metadata in
the global attributes. :func:`validate` says exactly what a Dataset lacks.
"""
import datetime

import numpy as np

from solarprep._version import __version__
from solarprep.errors import DatasetConventionError  # noqa: F401 (re-exported)

__all__ = ["GEOMETRY_COORDS", "FRAME_COORDS", "REQUIRED_ATTRS", "CONVENTIONS", "validate",
           "append_history", "data_variables", "is_light_curve", "is_heliographic_map", "MAP_PROJECTIONS"]

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


def data_variables(ds):
    """Names of the image variables, those with dims ``(time, y, x)``."""
    return [name for name, var in ds.data_vars.items() if var.dims == ("time", "y", "x")]


def is_light_curve(ds):
    """True for a light-curve Dataset: a ``time`` dimension and no image axes."""
    return "time" in ds.dims and "x" not in ds.dims and "y" not in ds.dims


def validate(ds):
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


def is_heliographic_map(ds):
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


def append_history(ds, message):
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
