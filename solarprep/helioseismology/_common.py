"""Helpers shared by the modules of :mod:`solarprep.helioseismology` (private to it)."""
from solarprep.dataset import data_variables
from solarprep.errors import SolarDataError


def pick_variable(ds, variable, preferred=("vlos",)):
    names = data_variables(ds) if "y" in ds.dims else [n for n, v in ds.data_vars.items()
                                                        if v.dims[:1] == ("time",)]
    if variable is not None:
        if variable not in ds.data_vars:
            raise SolarDataError(f"no variable {variable!r} in the Dataset (it has {list(ds.data_vars)})")
        return variable
    for name in preferred:
        if name in names:
            return name
    if len(names) == 1:
        return names[0]
    raise SolarDataError(f"say which variable to use (variable=...): candidates {names}")
