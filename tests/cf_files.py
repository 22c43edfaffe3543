"""CF checks of written files, as a user's tools read them: cf-xarray, UDUNITS-2 and astropy.

``check_file`` opens a netCDF file or zarr store with plain xarray (no solarprep decoding) and
asserts that every ``units`` attribute is a UDUNITS-2 unit (through ``cf_units``, the UDUNITS-2
library itself, where installed; else cf-xarray's pint registry), that astropy reads it (or the
``units_astropy`` kept beside it), and that an image Dataset (dims ``time``, ``y``, ``x``) has
its axes where cf-xarray looks for them (``.cf.axes``, ``.cf.coordinates``,
``.cf.standard_names``).
"""
import pathlib

import astropy.units as u
import numpy as np
import pytest
import xarray as xr

cf_xarray = pytest.importorskip("cf_xarray")


def _udunits(text):
    try:
        import cf_units
    except ImportError:          # cf-xarray's pint registry (UDUNITS-like) instead
        from cf_xarray.units import units as registry

        registry(text or "1")
        return
    cf_units.Unit(text)


def check_file(path):
    """Assert the CF conventions of one file; return the ``units`` strings checked."""
    path = pathlib.Path(path)
    engine = "zarr" if path.suffix == ".zarr" else "h5netcdf"
    kwargs = {"consolidated": None} if engine == "zarr" else {}
    seen = {}
    with xr.open_dataset(path, engine=engine, **kwargs) as ds:
        for name, var in ds.variables.items():
            if "units" not in var.attrs or np.issubdtype(var.dtype, np.datetime64):
                continue
            text = var.attrs["units"]
            assert isinstance(text, str) and "/" not in text and "pix" not in text, \
                f"{path.name}:{name}: units={text!r} is not in CF/UDUNITS-2 syntax"
            try:
                _udunits(text)
            except Exception as exc:       # noqa: BLE001 (the library's own exception types)
                raise AssertionError(f"{path.name}:{name}: units={text!r} is not a UDUNITS-2 "
                                     f"unit ({exc})") from None
            u.Unit(var.attrs.get("units_astropy", text))          # astropy reads it back
            seen[name] = text
        if {"time", "y", "x"} <= set(ds.dims) and "x" in ds.coords and "y" in ds.coords:
            axes = ds.cf.axes
            assert axes.get("X") == ["x"] and axes.get("Y") == ["y"], (path.name, axes)
            assert axes.get("T") == ["time"], (path.name, axes)
            assert ds.cf.coordinates.get("time") == ["time"], (path.name, ds.cf.coordinates)
            assert ds.cf.standard_names.get("time") == ["time"], (path.name, ds.cf.standard_names)
        if "Conventions" in ds.attrs:
            assert str(ds.attrs["Conventions"]).startswith("CF-"), path.name
    return seen


def check_tree(folder):
    """``check_file`` on every ``.nc`` file and ``.zarr`` store under ``folder``."""
    folder = pathlib.Path(folder)
    paths = sorted(folder.rglob("*.nc")) + sorted(folder.rglob("*.zarr"))
    paths = [p for p in paths if not any(part.startswith(".") for part in p.parts)]
    return {str(p.relative_to(folder)): check_file(p) for p in paths}
