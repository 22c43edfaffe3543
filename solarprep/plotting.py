"""Quick-look figures of solar Datasets. Functions return a Figure; they never call ``show()``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solarprep.backend import to_host

if TYPE_CHECKING:
    import os
    import pathlib
    from collections.abc import Sequence

    import xarray as xr
    from matplotlib.figure import Figure

__all__ = ["quicklook", "plot_lightcurve", "plot_derotation", "save_figure"]

_CMAPS = {"intensity": "hmimag", "blos": "hmimag", "vlos": "RdBu_r"}


def _cmap(name, ds):
    import matplotlib

    if name.startswith("euv"):
        candidate = f"sdoaia{name[3:]}"
    elif name == "intensity":
        return "gray"
    else:
        candidate = _CMAPS.get(name, "viridis")
    try:
        import sunpy.visualization.colormaps  # noqa: F401  (registers the sdoaia* maps)

        matplotlib.colormaps[candidate]
        return candidate
    except (ImportError, KeyError):
        return "gray" if name.startswith("euv") else "viridis"


def quicklook(ds: xr.Dataset, variable: str | None = None, *, time: int = 0,
              figsize: tuple[float, float] = (5.5, 4.8)) -> Figure:
    """Image of one frame with helioprojective axes, the limb and a labelled colour bar.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset; CuPy data are copied to the host for plotting.
    variable : str, optional
        Data variable to show (default: the first).
    time : int
        Frame index.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import LogNorm, Normalize, SymLogNorm
    from matplotlib.figure import Figure

    from solarprep.dataset import data_variables

    variable = variable or data_variables(ds)[0]
    da = ds[variable].isel(time=time)
    data = np.asarray(to_host(da.data), dtype=float)
    finite = data[np.isfinite(data)]
    if variable.startswith("euv") and finite.size and (finite > 0).any():
        lo = max(np.percentile(finite[finite > 0], 1), 1e-3)
        norm = LogNorm(lo, max(np.percentile(finite, 99.9), lo * 10), clip=True)
    elif variable in ("blos", "vlos") and finite.size:
        lim = np.percentile(np.abs(finite), 99.5) or 1.0
        norm = (SymLogNorm(10.0, vmin=-lim, vmax=lim) if variable == "blos"
                else Normalize(-lim, lim))
    elif finite.size:
        norm = Normalize(*np.percentile(finite, [0.5, 99.9]))
    else:
        norm = Normalize(0, 1)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    x, y = ds["x"].values, ds["y"].values
    dx, dy = (x[1] - x[0] if x.size > 1 else 1), (y[1] - y[0] if y.size > 1 else 1)
    extent = [x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2]
    im = ax.imshow(data, origin="lower", extent=extent, cmap=_cmap(variable, ds), norm=norm,
                   interpolation="nearest")
    if "mu" in ds.coords:
        mu = ds["mu"] if ds["mu"].ndim == 2 else ds["mu"].isel(time=time)
        mu = np.nan_to_num(to_host(mu.data),
                           nan=-1.0)
        ax.contour(x, y, mu, levels=[0.0, 0.5], colors=["w", "w"], linewidths=[0.8, 0.4],
                   linestyles=["-", ":"])
    units = da.attrs.get("units", "")
    fig.colorbar(im, ax=ax, label=f"{da.attrs.get('long_name', variable)}"
                                  + (f" [{units}]" if units else ""))
    ax.set_xlabel("x (image axis) [arcsec]")
    ax.set_ylabel("y (image axis) [arcsec]")
    stamp = np.datetime_as_string(ds["time"].values[time], unit="s")
    ax.set_title(f"{ds.attrs.get('instrument', '')} {variable}  {stamp} UTC", fontsize=9)
    return fig


#: GOES class floors in the 1–8 Å channel, W m⁻².
GOES_CLASSES = {"A": 1e-8, "B": 1e-7, "C": 1e-6, "M": 1e-5, "X": 1e-4}


def plot_lightcurve(ds: xr.Dataset, variables: Sequence[str] | None = None, *, log: bool | None = None,
                    figsize: tuple[float, float] = (7.0, 3.2)) -> Figure:
    """Light-curve Dataset (dim ``time``) against time; GOES class bands when in W m⁻².

    Parameters
    ----------
    ds : xarray.Dataset
        A light-curve Dataset (``solarprep.dataset.is_light_curve``).
    variables : list of str, optional
        Variables to draw (default: every float variable along ``time``).
    log : bool, optional
        Logarithmic y axis (default: when every variable is in ``W / m2``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    variables = variables or [n for n, v in ds.data_vars.items() if v.dims == ("time",)]
    units = {ds[v].attrs.get("units", "") for v in variables}
    log = (units == {"W / m2"}) if log is None else log
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    for name in variables:
        ax.plot(ds["time"].values, np.asarray(ds[name].values),
                label=ds[name].attrs.get("long_name", name), lw=1)
    if log:
        ax.set_yscale("log")
        if units == {"W / m2"}:
            for letter, floor in GOES_CLASSES.items():
                ax.axhline(floor, color="0.8", lw=0.5, zorder=0)
                ax.text(1.005, floor, letter, transform=ax.get_yaxis_transform(), fontsize=8,
                        va="bottom")
    ax.set_ylabel(" / ".join(sorted(u for u in units if u)) or "value")
    ax.set_xlabel("time [UTC]")
    ax.legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    return fig


def _host(values):
    return np.asarray(to_host(values), dtype=float)


def plot_derotation(before: xr.Dataset, after: xr.Dataset, target: xr.Dataset | None = None,
                    variable: str | None = None, *, time: int = 0,
                    figsize: tuple[float, float] | None = None) -> Figure:
    """Before/after panels of a derotation, with the frame really observed at the target time.

    Parameters
    ----------
    before, after : xarray.Dataset
        The input of :func:`solarprep.derotate` and its output.
    target : xarray.Dataset, optional
        A frame observed at the target time; adds it and the difference
        ``after − target`` (relative to the target) as two more panels.
    variable : str, optional
        Data variable (default: the first).
    time : int
        Frame index in ``before``/``after`` (``target`` uses its frame 0).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from solarprep.dataset import data_variables

    variable = variable or data_variables(before)[0]
    panels = [(before, time, "input"), (after, time, "derotated")]
    if target is not None:
        panels.append((target, 0, "observed at the target time"))
    fig = Figure(figsize=figsize or (3.3 * (len(panels) + (target is not None)), 3.6),
                 layout="constrained")
    axes = fig.subplots(1, len(panels) + (target is not None))
    ref = _host(before[variable].isel(time=time).data)
    lo, hi = np.nanpercentile(ref, [0.5, 99.9])
    x, y = before["x"].values, before["y"].values
    extent = [x[0], x[-1], y[0], y[-1]]
    for ax, (ds, k, label) in zip(axes, panels):
        data = _host(ds[variable].isel(time=k).data)
        ax.imshow(data, origin="lower", extent=extent, cmap=_cmap(variable, ds),
                  norm=Normalize(lo, hi), interpolation="nearest")
        stamp = np.datetime_as_string(ds["time"].values[k], unit="m")
        ax.set_title(f"{label}\n{stamp}", fontsize=8)
        ax.set_xlabel("x [arcsec]")
    axes[0].set_ylabel("y [arcsec]")
    if target is not None:
        a = _host(after[variable].isel(time=time).data)
        b = _host(target[variable].isel(time=0).data)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = (a - b) / np.abs(b)
        lim = np.nanpercentile(np.abs(rel), 99) if np.isfinite(rel).any() else 1.0
        im = axes[-1].imshow(rel, origin="lower", extent=extent, cmap="RdBu_r",
                             norm=Normalize(-lim, lim), interpolation="nearest")
        axes[-1].set_title("(derotated − observed) / observed", fontsize=8)
        axes[-1].set_xlabel("x [arcsec]")
        fig.colorbar(im, ax=axes[-1], shrink=0.8)
    law = after.attrs.get("derotation_law", "")
    fig.suptitle(f"{before.attrs.get('instrument', '')} {variable}: derotation ({law})",
                 fontsize=9)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: float = 110) -> pathlib.Path:
    """Write a figure as PNG atomically (:func:`solarprep.io.atomic.atomic_path`): temporary
    name, flushed, renamed into place; nothing is left behind when it fails."""
    import pathlib

    from solarprep.io.atomic import atomic_path

    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path
