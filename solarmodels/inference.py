"""Prediction and sampling of trained runs: what ``solarmodels predict`` and ``sample`` write.

Every output is a netCDF Dataset with units, ``long_name`` and the provenance of the run
(``source_run``, ``checkpoint_step``, ``git_revision``, an appended ``history``), written
atomically, plus a PNG figure beside it. The systems call these functions from their
``predict_file`` / ``sample_file`` (no dispatch on names):

* :func:`predict_translation` — an image-translation network over every frame of a file with the
  run's input variables (scaled output with the target's scaling attributes; ``physical=True``
  inverts it to DN or G);
* :func:`predict_solared` — SOLARED intensity forecasts in SOLARED units for a model-ready file or
  for active-region timelines (built with the run's own normalisation statistics), with the
  persistence forecast and the observations where the data have them;
* :func:`sample_ddpm` — images of one GOES class (``--class M --n 16``), back in the training
  images' units; :func:`predict_ddpm` — one image per time of a GOES/XRS light curve;
* :func:`sample_video` — continuum videos for any light curve solarprep reads
  (:func:`read_light_curve`), normalised the way the run was.
"""
from __future__ import annotations

import json
import logging
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from solarmodels.config import ConfigError
from solarprep.dataset import cf_decode

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from solarmodels.systems.base import System
    from solarmodels.systems.diffusion import DiffusionSystem

__all__ = ["predict_translation", "predict_solared", "sample_ddpm", "predict_ddpm",
           "sample_video", "read_light_curve"]

log = logging.getLogger(__name__)

CONVENTIONS = "CF-1.11"


def _finish(ds, ctx, out_path, what, fig=None):
    """Add conventions and provenance, write ``ds`` (and ``fig`` as PNG beside it)."""
    from solarmodels._runs import write_netcdf
    from solarprep.dataset import append_history
    from solarprep.plotting import save_figure

    ds.attrs.setdefault("Conventions", CONVENTIONS)
    ds.attrs.update(ctx.provenance())
    ds = append_history(ds, f"solarmodels {what} (run {ctx.run_dir}, step {ctx.step})")
    out_path = pathlib.Path(out_path)
    files = [str(write_netcdf(ds, out_path))]
    if fig is not None:
        files.append(str(save_figure(fig, out_path.with_suffix(".png"))))
    return {"output": files[0], "files": files}


# --------------------------------------------------------------------------- translation

def predict_translation(system: System, ctx: Any, source: str | os.PathLike[str],
                        out_path: str | os.PathLike[str], *, physical: bool = False,
                        batch_size: int = 4) -> dict:
    """Run an image-translation network over every frame of ``source`` (netCDF/zarr).

    The file must hold the run's input variables (full frames, scaled as in training). The output
    holds one variable ``<target>_pred`` per target, dims ``(time, y, x)``, the input's
    coordinates and the attributes of the training target (stored in the checkpoint's meta), so
    ``solarprep.datasets.scalings.unscale`` can map a scaled prediction back to physical units;
    ``physical=True`` does that here (AIA DN, gauss...).
    """
    from solarmodels.datasets.pairs import PairDataset, open_pairs
    from solarmodels.trainer import collate, move_batch

    cfg = ctx.config.data
    inputs, targets = cfg.get("input"), cfg.get("target")
    if inputs is None or targets is None:
        raise ConfigError("predict needs a run trained on 'pairs' data (data.input / data.target)")
    src = open_pairs(source)
    targets = [targets] if isinstance(targets, str) else list(targets)
    inputs_l = [inputs] if isinstance(inputs, str) else list(inputs)
    # target variables are not needed: point the dataset's target at the first input
    ds = PairDataset(src, inputs_l, inputs_l[:1], augment=False, nan_to=cfg.get("nan_to"))
    outs = []
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate)
    for batch in loader:
        batch = move_batch(batch, system.device)
        outs.append(system.predict(batch).float().cpu().numpy())
    pred = np.concatenate(outs)
    first = src[inputs_l[0]]
    dims = first.dims[:1] + first.dims[-2:]
    coords = {k: v for k, v in src.coords.items() if set(v.dims) <= set(dims)}
    result = xr.Dataset(coords=coords, attrs={k: v for k, v in src.attrs.items()
                                              if k not in ("history", "title")})
    stored = ctx.target_attrs
    for c, name in enumerate(targets):
        attrs = dict(stored.get(name) or (src[name].attrs if name in src else {}))
        attrs["units"] = attrs.get("units") or "1"
        attrs["long_name"] = (f"{attrs.get('long_name', name)}, predicted by "
                              f"{ctx.config.model}/{ctx.config.system}")
        result[f"{name}_pred"] = (dims, pred[:, c].astype(np.float32), attrs)
        if physical:
            from solarprep.datasets.scalings import unscale

            result = unscale(result, variable=f"{name}_pred")
    result.attrs["history"] = str(src.attrs.get("history", ""))
    result.attrs["title"] = f"{', '.join(targets)} predicted from {', '.join(inputs_l)}"
    fig = _translation_figure(np.asarray(first.isel({dims[0]: 0}).values),
                              np.asarray(result[f"{targets[0]}_pred"].values[0]),
                              inputs_l[0], f"{targets[0]}_pred",
                              result[f"{targets[0]}_pred"].attrs.get("units", ""))
    return _finish(result, ctx, out_path, "predict", fig)


def _translation_figure(inp, out, in_name, out_name, units):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, img, title, cmap in ((axes[0], inp, in_name, "gray"),
                                 (axes[1], out, f"{out_name} [{units}]", "inferno")):
        lo, hi = np.nanpercentile(img, [1, 99]) if np.isfinite(img).any() else (0, 1)
        im = ax.imshow(img, origin="lower", cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


# --------------------------------------------------------------------------- SOLARED

def _solared_source(ctx, sources):
    """A model-ready Dataset for ``sources``: a model-ready file as it is, or AR timelines
    built with the run's normalisation statistics, window, lead and stride."""
    from solarmodels.datasets.solared import from_timelines

    sources = [sources] if isinstance(sources, (str, pathlib.Path)) else list(sources)
    if len(sources) == 1 and pathlib.Path(sources[0]).is_file():
        with xr.open_dataset(sources[0], engine="h5netcdf") as probe:
            is_ready = "inputs" in probe
        if is_ready:
            return cf_decode(xr.open_dataset(sources[0], engine="h5netcdf").load())
    info = dict(ctx.target_attrs.get("targets") or {})
    if not info.get("norm_stats"):
        raise ConfigError(f"{ctx.run_dir}: the checkpoint does not record the SOLARED "
                          "normalisation statistics (trained before they were stored); give a "
                          "model-ready file built with the run's statistics instead")
    return from_timelines([pathlib.Path(s) for s in sources], normalize=info["norm_stats"],
                          window=int(info.get("window", 120)), lead=int(info.get("lead", 12)),
                          stride=int(info.get("stride", 1)))


def predict_solared(system: System, ctx: Any,
                    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                    out_path: str | os.PathLike[str], *, batch_size: int = 64) -> dict:
    """SOLARED forecasts for ``source`` (a model-ready file, or AR folders / timeline files).

    Output variables (SOLARED intensity units, ``intensity = y·scale + offset``):
    ``intensity_forecast (sample, tile)`` and, where the data have them,
    ``intensity_persistence`` (the last observed intensity of each window) and
    ``intensity_observed``; coordinates ``active_region``, ``window_end``, ``target_time``,
    ``tile_row``, ``tile_col``.
    """
    from solarmodels.datasets.solared import SolaredDataset, dataset_options
    from solarmodels.evaluate import predict_solared as run_network
    from solarmodels.evaluate import solared_figure, solared_metrics

    dataset = SolaredDataset(_solared_source(ctx, source), None,
                             **dataset_options(ctx.config.data))
    data = dataset.data
    pred, target, last = run_network(system, dataset, batch_size=batch_size,
                                     with_persistence=True)
    scale = float(data.attrs.get("target_scale", 1.0))
    offset = float(data.attrs.get("target_offset", 0.0))
    keep = [c for c in ("active_region", "window_end", "target_time", "tile_row", "tile_col")
            if c in data.coords]
    out = xr.Dataset(coords={c: data[c] for c in keep},
                     attrs={"title": f"SOLARED intensity forecasts {int(data.attrs.get('lead', 12))}"
                                     " steps ahead", "lead": int(data.attrs.get("lead", 12)),
                            "window": int(data.attrs.get("window", 0)),
                            "normalization": str(data.attrs.get("normalization", ""))})
    units = {"units": "1", "comment": "SOLARED intensity units (tile means of the flattened "
                                      "continuum intensity)"}
    out["intensity_forecast"] = (("sample", "tile"), (pred * scale + offset).astype(np.float32),
                                 {**units, "long_name": f"forecast by {ctx.config.model}"})
    if last is not None:
        out["intensity_persistence"] = (("sample", "tile"),
                                        (last * scale + offset).astype(np.float32),
                                        {**units, "long_name": "last observed intensity of the "
                                                               "window (persistence forecast)"})
    out["intensity_observed"] = (("sample", "tile"), (target * scale + offset).astype(np.float32),
                                 {**units, "long_name": "observed intensity at the target time"})
    ars = data["active_region"].values if "active_region" in data.coords else None
    sel = np.flatnonzero(ars == ars[0]) if ars is not None else np.arange(len(pred))
    table = solared_metrics(pred[sel], target[sel],
                            persistence=None if last is None else last[sel])
    fig = solared_figure(table, pred[sel], target[sel],
                         times=data["target_time"].values[sel] if "target_time" in data.coords
                         else None, persistence=None if last is None else last[sel],
                         title=f"AR {ars[0] if ars is not None else ''}")
    return _finish(out, ctx, out_path, "predict", fig)


# --------------------------------------------------------------------------- DDPM

def _flare_stats(ctx):
    attrs = ctx.target_attrs.get("image") or {}
    if "lo" in attrs:
        return {"lo": float(attrs["lo"]), "hi": float(attrs["hi"])}, attrs
    train = ctx.train_dataset()
    if train is not None and getattr(train, "stats", None):
        return dict(train.stats), getattr(train, "target_attrs", {}).get("image", {})
    return None, attrs


def _image_shape(ctx):
    attrs = ctx.target_attrs.get("image") or {}
    if "shape" in attrs:
        return (1, *[int(v) for v in attrs["shape"]])
    train = ctx.train_dataset()
    if train is None:
        raise ConfigError(f"{ctx.run_dir}: cannot tell the image size (no stored shape and the "
                          "training data are gone)")
    return tuple(train[0]["input"].shape)


def _ddpm_dataset(system, ctx, labels, *, seed, steps, guidance_scale, coords, title):
    from solarmodels.datasets.flares import invert_scaling
    from solarmodels.evaluate_generative import class_letters, draw_samples, sample_grid

    shape = _image_shape(ctx)
    gen = torch.Generator(device=system.device).manual_seed(int(seed))
    images = []
    for chunk in torch.as_tensor(labels).split(16):
        images.append(system.sample(chunk.to(system.device), (len(chunk), *shape),
                                    generator=gen, steps=steps,
                                    guidance_scale=guidance_scale).float().cpu())
    x = torch.cat(images) if images else draw_samples(system, labels, shape)
    stats, attrs = _flare_stats(ctx)
    units = attrs.get("physical_units", "DN")
    c = system.config
    ds = xr.Dataset(coords={"sample": np.arange(len(labels)), **coords,
                            "label": ("sample", np.asarray(labels, np.int64)),
                            "goes_class": ("sample", np.array(class_letters(labels)))},
                    attrs={"title": title, "sampler": f"{c.sample_method} "
                           f"{steps or c.sample_steps} steps",
                           "guidance_scale": float(c.guidance_scale if guidance_scale is None
                                                   else guidance_scale), "seed": int(seed)})
    dims = ("sample", "y", "x")
    ds["image_scaled"] = (dims, x[:, 0].numpy(), {"units": "1", "long_name":
                          "generated image, 2 (log10 I - lo)/(hi - lo) - 1"})
    if stats is not None:
        ds["image"] = (dims, invert_scaling(x[:, 0].numpy(), stats),
                       {"units": units, "long_name": "generated intensity "
                        f"(10^(lo + (x + 1)/2 (hi - lo)), lo {stats['lo']:.4g}, "
                        f"hi {stats['hi']:.4g})"})
    fig = sample_grid(x, np.asarray(labels), per_class=min(8, max(len(labels), 1)), title=title)
    return ds, fig


def sample_ddpm(system: DiffusionSystem, ctx: Any, out_path: str | os.PathLike[str], *,
                goes_class: str | int = "M", n: int = 16, seed: int = 0, steps: int | None = None,
                guidance_scale: float | None = None) -> dict:
    """``n`` images of GOES class ``goes_class`` (``"M"``, ``"X2.1"``, or 0…4).

    The output holds ``image`` in the training images' physical units (DN for AIA; the inverse
    of the flare images' scaling) and ``image_scaled`` in [−1, 1], with ``goes_class`` and
    ``label`` along ``sample``.
    """
    from solarprep.lightcurves.goes import class_index

    label = int(goes_class) if str(goes_class).isdigit() else class_index(str(goes_class))
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    labels = torch.full((int(n),), label, dtype=torch.long)
    ds, fig = _ddpm_dataset(system, ctx, labels, seed=seed, steps=steps,
                            guidance_scale=guidance_scale, coords={},
                            title=f"{n} DDPM samples of GOES class {'ABCMX'[label]}")
    return _finish(ds, ctx, out_path, f"sample --class {goes_class} --n {n}", fig)


def predict_ddpm(system: DiffusionSystem, ctx: Any, source: str | os.PathLike[str],
                 out_path: str | os.PathLike[str], *, n: int = 16, seed: int = 0,
                 steps: int | None = None, guidance_scale: float | None = None) -> dict:
    """One image per time of a GOES/XRS light curve (``n`` times spread over it, the time of the
    largest flux among them), labelled by the 1–8 Å class at that time
    (:func:`solarprep.lightcurves.goes.class_index`)."""
    from solarprep.lightcurves.goes import class_index

    lc = read_light_curve(source, variable="xrsb")
    name = next(iter(lc.data_vars))
    times = lc["time"].values
    flux = np.asarray(lc[name].values, np.float64)
    pick = np.unique(np.linspace(0, len(times) - 1, min(int(n), len(times))).round().astype(int))
    peak = int(np.nanargmax(flux))
    if peak not in pick:                      # the largest flare is always among the images
        pick[np.argmin(np.abs(pick - peak))] = peak
        pick = np.unique(pick)
    labels = torch.as_tensor(class_index(flux[pick]))
    ds, fig = _ddpm_dataset(system, ctx, labels, seed=seed, steps=steps,
                            guidance_scale=guidance_scale,
                            coords={"time": ("sample", times[pick])},
                            title=f"DDPM images for the GOES classes of {pathlib.Path(source).name}")
    ds["goes_flux"] = ("sample", flux[pick],
                       {"units": lc[name].attrs.get("units", "W m-2"),
                        "long_name": f"{name} at the image time"})
    return _finish(ds, ctx, out_path, f"predict {source}", fig)


# --------------------------------------------------------------------------- video

def read_light_curve(path: str | os.PathLike[str] | xr.Dataset | xr.DataArray,
                     variable: str | None = None) -> xr.Dataset:
    """A light curve as a Dataset with a ``time`` dim and one variable.

    ``path`` is a file, or already a Dataset / DataArray along ``time`` (used as it is).

    Uses ``solarprep.load_lightcurve`` when this solarprep has it (EVE, TESS, Kepler, …), else
    netCDF / zarr (``solarprep.open_dataset``, e.g. a ``disk_integrate`` output) and GOES/XRS
    files (``solarprep.lightcurves.read_xrs``). ``variable`` picks one of several variables
    (default: the only one along ``time``, else ``flux``, else ``xrsb``).
    """
    import solarprep

    if isinstance(path, (xr.Dataset, xr.DataArray)):
        ds, path = path, pathlib.Path(str(path.attrs.get("source", "light curve")))
    else:
        ds, path = None, pathlib.Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no light-curve file")
    loader = getattr(solarprep, "load_lightcurve", None)
    if ds is None and loader is not None:
        try:
            ds = loader(path)
        except (ValueError, OSError) as exc:
            log.info("solarprep.load_lightcurve could not read %s (%s); trying the others",
                     path, exc)
    if ds is None and path.suffix in (".nc", ".h5", ".nc4", ".zarr"):
        try:
            from solarprep.lightcurves import read_xrs

            ds = read_xrs(path)
        except (ValueError, OSError, KeyError):
            ds = cf_decode(xr.open_dataset(path, engine="zarr" if path.suffix == ".zarr"
                                           else "h5netcdf"))
    if ds is None:
        from solarprep.lightcurves import read_xrs

        ds = read_xrs(path)
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "flux")
    candidates = [n for n, v in ds.data_vars.items() if v.dims == ("time",)
                  and np.issubdtype(v.dtype, np.number)]
    if variable is not None and variable in candidates:
        name = variable
    elif len(candidates) == 1:
        name = candidates[0]
    else:
        name = next((n for n in ("flux", "xrsb") if n in candidates), None)
    if name is None:
        raise ConfigError(f"{path}: choose the light-curve variable among {candidates} "
                          "(--variable)")
    out = ds[[name]].dropna("time")
    return out.sortby("time")


def sample_video(system: DiffusionSystem, ctx: Any, out_path: str | os.PathLike[str], *,
                 lightcurve: str | os.PathLike[str] | xr.Dataset | xr.DataArray,
                 variable: str | None = None, seed: int = 0, steps: int | None = None,
                 guidance_scale: float | None = None) -> dict:
    """Continuum videos for the light curve in ``lightcurve`` (any file :func:`read_light_curve`
    reads, or a Dataset with a ``time`` dim, e.g. ``solarprep.load_lightcurve(...)``).

    The curve is interpolated onto the run's frame cadence (its training frames'), z-scored
    with the run's training statistics and cut into consecutive windows of the run's length;
    one video is sampled per window. The output holds ``intensity (time, y, x)`` in the
    training frames' units (``I = (x + 1)/2 · I_max``), the resampled ``light_curve`` and the
    generated ``disk_integrated_intensity`` (sum over the frame) along ``time``.
    """
    info = dict(ctx.target_attrs.get("frames") or {})
    if "i_max" not in info:
        train = ctx.train_dataset()
        if train is None:
            raise ConfigError(f"{ctx.run_dir}: no stored frame statistics and no training data")
        info = train.target_attrs["frames"]
    lc = read_light_curve(lightcurve, variable)
    source = pathlib.Path(lightcurve).name if isinstance(lightcurve, (str, pathlib.Path)) \
        else "a light-curve Dataset"
    name = next(iter(lc.data_vars))
    units = str(lc[name].attrs.get("units", ""))
    if info.get("light_curve_units") not in (None, "", units):
        log.warning("the light curve is in %r but the run was trained on %r: it is z-scored with "
                    "the training statistics all the same", units, info.get("light_curve_units"))
    t = lc["time"].values.astype("datetime64[ns]")
    hours = (t - t[0]) / np.timedelta64(1, "h")
    cadence = float(info.get("cadence_hours") or np.median(np.diff(hours)))
    window = int(info.get("window", 16))
    grid = np.arange(0.0, hours[-1] + 1e-9, cadence)
    n_win = len(grid) // window
    if n_win < 1:
        raise ConfigError(f"{source}: {hours[-1]:.1f} h of light curve make {len(grid)} "
                          f"frames at the run's cadence of {cadence:g} h; the run needs "
                          f"windows of {window}")
    grid = grid[:n_win * window]
    values = np.interp(grid, hours, np.asarray(lc[name].values, np.float64))
    z = (values - float(info["lc_mean"])) / float(info["lc_std"])
    shape = (1, window, *[int(v) for v in info.get("frame_shape", (32, 32))])
    gen = torch.Generator(device=system.device).manual_seed(int(seed))
    times = t[0] + (grid * 3.6e12).astype("timedelta64[ns]")
    disk = None
    if "disk_coefficients" in info:              # the limb-darkened disk seen from the Earth
        from solarmodels.datasets.video import disk_for_times

        disk = torch.as_tensor(disk_for_times(info, times, shape[-2:]), dtype=torch.float32)
    videos = []
    for w in range(n_win):
        cond = {"values": torch.as_tensor(z[w * window:(w + 1) * window],
                                          dtype=torch.float32)[None].to(system.device)}
        if disk is not None:
            cond["disk"] = disk[w * window:(w + 1) * window][None, None].to(system.device)
        if getattr(system.config, "use_times", False):
            cond["times"] = torch.as_tensor(grid[w * window:(w + 1) * window]
                                            - grid[w * window], dtype=torch.float32)[None]
        videos.append(system.sample(cond, (1, *shape), generator=gen, steps=steps,
                                    guidance_scale=guidance_scale).float().cpu()[0, 0])
    x = torch.cat(videos).clamp(-1, 1).numpy()
    intensity = ((x + 1.0) / 2.0 * float(info["i_max"])).astype(np.float32)
    frame_units = str(info.get("units", "")) or "1"
    out = xr.Dataset(
        {"intensity": (("time", "y", "x"), intensity,
                       {"units": frame_units, "long_name": "generated continuum intensity "
                        "(I = (x + 1)/2 I_max)"}),
         "light_curve": ("time", values.astype(np.float64),
                         {"units": units or "1", "long_name": f"conditioning {name}, "
                          f"interpolated to the {cadence:g} h frame cadence"}),
         "disk_integrated_intensity": ("time", intensity.sum((-2, -1)).astype(np.float64),
                                       {"units": frame_units, "long_name":
                                        "sum of the generated frame"})},
        coords={"time": times},
        attrs={"title": f"continuum video generated from {source}",
               "i_max": float(info["i_max"]), "windows": int(n_win), "window": window,
               "seed": int(seed), "light_curve_source": source,
               "normalization": json.dumps({k: info[k] for k in ("lc_mean", "lc_std")})})
    fig = _video_sample_figure(out)
    return _finish(out, ctx, out_path, f"sample --lightcurve {source}", fig)


def _video_sample_figure(out, frames=8):
    from matplotlib.figure import Figure

    n = out.sizes["time"]
    picks = np.linspace(0, n - 1, min(frames, n)).round().astype(int)
    fig = Figure(figsize=(1.3 * len(picks), 4.2), layout="constrained")
    grid = fig.add_gridspec(2, len(picks))
    vmax = float(out["intensity"].max()) or 1.0
    for j, f in enumerate(picks):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(out["intensity"].values[f], cmap="gray", vmin=0, vmax=vmax, origin="lower")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(out["time"].values[f])[:13], fontsize=6)
    ax = fig.add_subplot(grid[1, :])
    for key, style in (("light_curve", "k-"), ("disk_integrated_intensity", "C1--")):
        v = out[key].values
        ax.plot(out["time"].values, v / v.mean(), style, label=f"{key} / mean")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return fig


def reconstruct_frames(system, ctx, source, out_path) -> dict:
    """The stage-1 autoencoder of the latent video model over the frames of an image file.

    ``source``: anything :func:`solarprep.load` reads (FITS files or a glob) or a netCDF / zarr
    image Dataset (``solarprep.io.storage.open_dataset``). Frames are scaled with the run's
    training statistics (``x = 2I/I_max − 1``), their limb-darkened disks computed from their
    geometry with the run's profile, encoded and decoded. The output holds
    ``intensity_reconstructed (time, y, x)`` in the frames' units and ``intensity`` (the input).
    """
    import solarprep
    from solarmodels.datasets.video import disk_model, frame_geometry
    from solarprep.dataset import data_variables

    info = dict(ctx.target_attrs.get("frames") or {})
    if "i_max" not in info:
        raise ConfigError(f"{ctx.run_dir}: the checkpoint does not record the frame statistics")
    path = pathlib.Path(str(source))
    if path.suffix in (".nc", ".zarr", ".h5"):
        from solarprep.io.storage import open_dataset

        ds = open_dataset(path)
    else:
        ds = solarprep.load(str(source), progress=False)
    name = info.get("variable") or data_variables(ds)[0]
    frames = np.asarray(ds[name].values, np.float32)
    i_max = float(info["i_max"])
    x = torch.as_tensor(2.0 * np.nan_to_num(frames, nan=0.0) / i_max - 1.0)[None, None]
    batch = {"input": x.to(system.device)}
    if "disk_coefficients" in info:
        geo = frame_geometry(ds)
        disk = disk_model(frames.shape[-2:], geo["radius"], geo["center"],
                          info["disk_coefficients"])
        batch["disk"] = torch.as_tensor(2.0 * np.nan_to_num(disk, nan=0.0) / i_max - 1.0,
                                        dtype=torch.float32)[None, None].to(system.device)
    rec = system.predict(batch).float().cpu().clamp(-1, 1).numpy()[0, 0]
    units = str(ds[name].attrs.get("units", info.get("units", "")))
    out = xr.Dataset(
        {"intensity_reconstructed": (("time", "y", "x"),
                                     ((rec + 1.0) / 2.0 * i_max).astype(np.float32),
                                     {"units": units, "long_name": "autoencoder reconstruction"}),
         "intensity": (("time", "y", "x"), frames, {"units": units, "long_name": "input frames"})},
        coords={"time": ds["time"].values}, attrs={"title": f"reconstructions of {path.name}"})
    return _finish(out, ctx, out_path, f"predict {path.name}")
