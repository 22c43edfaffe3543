"""Evaluation of trained runs: one entry point, the metrics of each kind, baselines beside them.

:func:`evaluate_run` ``(run, data="config", out_dir=None, *, split="test", ...)`` opens a trained
run (:func:`solarmodels._runs.open_run`), takes the split to evaluate (the test split by
default, the validation split when the data have none, never silently the training split) and
calls the run's ``System.evaluate`` — every system implements it for its kind, there is no
dispatch on names. When the run kept an exponential moving average of its weights, both the
average (the run's prediction weights) and the raw weights are scored, with a warning when the
average is still close to the initial weights. It writes ``metrics.nc`` / ``metrics.csv`` (one
row per sample or tile and per *variant*: the model and each baseline), ``summary.json`` and
figures.

The kinds (each a function here or in :mod:`solarmodels.evaluate_generative`, called by the
systems):

* :func:`evaluate_translation` — image translation: MAE, RMSE, CC, PSNR and SSIM with the data
  range stated in the scaled space, and in physical units through the inverse of the target's
  ``solarprep.datasets.scalings`` scaling: Park et al. (2019) CC / RE / PPE10 / PPE50 for AIA (DN),
  RMSE over the full disk / active regions / quiet Sun (G) and the total unsigned flux with the
  true pixel areas (limb pixels below μ = 0.1 masked, never NaN) for magnetograms. Baselines:
  the training-mean image, the input passed through the inverse of its scaling (and the
  target's forward scaling) when input and target are the same physical quantity, and for a
  magnetogram → EUV model the per-pixel regression of the target on the field strength
  (:func:`field_regression`).
* :func:`solared_metrics` / :func:`evaluate_solared` — SOLARED: RMSE overall, per active region
  and per tile, in the dataset's normalisation, in SOLARED intensity units and in a per-region
  normalisation, against persistence (the last observed intensity) and the per-tile training
  mean, with skill scores ``1 − RMSE_model / RMSE_baseline``; the emergence lead time on a
  normalisation-independent scale, counted only for tiles whose onset the forecasts can reach.
* :func:`translation_metrics` — one generated image against its target.
* :func:`write_table` — a metrics Dataset as netCDF and CSV (atomic writes).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from typing import TYPE_CHECKING, overload

import numpy as np
import xarray as xr

from solarmodels import metrics as M
from solarprep.io.atomic import atomic_path, write_text
from solarprep.io.storage import save

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Literal

    import numpy.typing as npt
    import torch
    from matplotlib.figure import Figure

    from solarmodels._runs import RunContext
    from solarmodels.datasets.solared import SolaredDataset
    from solarmodels.systems.base import System

__all__ = ["evaluate_run", "EvalOptions", "solared_metrics", "translation_metrics", "write_table",
           "solared_figure", "predict_solared", "pixel_area_cm2", "evaluate_translation",
           "evaluate_solared", "ema_initial_weight", "summarise_variants", "json_ready",
           "field_regression", "mean_target"]

log = logging.getLogger(__name__)

#: Fraction of the initial weights left in an EMA above which it counts as near-untrained.
EMA_UNTRAINED = 0.05


@dataclasses.dataclass
class EvalOptions:
    """Options of :func:`evaluate_run` that the systems' ``evaluate`` read.

    Attributes
    ----------
    split : str
        Split evaluated (``"test"``).
    data_range : float
        PSNR / SSIM data range of the scaled data (2 for [−1, 1]).
    figures : int
        Comparison figures written.
    batch_size : int
    disk_radius : float, optional
        Image translation: disk radius in pixels (default: the file's ``disk_radius_px``).
    progress : bool
    n_samples : int
        Generative runs: samples drawn for the distribution metrics.
    feature_extractor : str, optional
        DDPM: a local ``torch.export`` (``.pt2``) or TorchScript file of Inception-v3 without its
        classifier, a CLIP image encoder, ... giving features ``(N, D)`` for FID / KID
        (:func:`solarmodels.metrics_generative.load_feature_extractor`); default the small
        in-project encoder trained on the training images.
    feature_size : int, optional
        Resize images to this size for the extractor (299 for Inception-v3, 224 for CLIP).
    feature_rgb : bool
        Repeat grey images to 3 channels for the extractor.
    encoder_steps, f1_steps : int
        Training steps of the default encoder and of the F1 classifiers.
    seed : int
        Seed of the sampling noise.
    ensemble : int
        Video: the mean of this many samples per window is scored too (``ensemble_*``).
    guidance_scale : float, optional
        DDPM: the classifier-free guidance of the scored samples (default the run's).
    physics_guidance : float, optional
        Video: the physics guidance ``λ`` of sampling (default the run's
        ``system_config.physics_guidance``; :mod:`solarmodels.systems.video`).
    physics_projection : bool, optional
        Video: rescale the samples' disk integral onto the light curve (default the run's).
    """

    split: str = "test"
    data_range: float = 2.0
    figures: int = 4
    batch_size: int = 32
    disk_radius: float | None = None
    progress: bool = False
    n_samples: int = 64
    feature_extractor: str | None = None
    feature_size: int | None = None
    feature_rgb: bool = False
    encoder_steps: int = 200
    f1_steps: int = 200
    seed: int = 0
    ensemble: int = 8
    guidance_scale: float | None = None
    physics_guidance: float | None = None
    physics_projection: bool | None = None


# --------------------------------------------------------------------------- entry point

def ema_initial_weight(decay: float | None, steps: int) -> float:
    """Weight ``decay^steps`` that an EMA started at the initial weights still gives them."""
    return float(decay) ** int(steps) if decay else 0.0


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars as Python numbers and non-finite floats as JSON-safe."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def evaluate_run(run_dir: str | os.PathLike[str], data: str | os.PathLike[str] = "config",
                 out_dir: str | os.PathLike[str] | None = None, *, split: str = "test",
                 figures: int = 4, data_range: float = 2.0, device: str = "cpu",
                 batch_size: int = 32, progress: bool = False, disk_radius: float | None = None,
                 weights: str = "both", **options: Any) -> dict:
    """Evaluate a trained run with its system's metrics and baselines.

    Parameters
    ----------
    run_dir : path-like
        Run folder (``config.json`` + ``checkpoints/``).
    data : str or path-like
        ``"config"`` (the run's own data) or a data file replacing the configured ``path`` (a
        pair file for image translation, a SOLARED model-ready file, ...).
    out_dir : path-like, optional
        Output folder (default ``RUN/eval``).
    split : str
        Split to evaluate (``"test"``; the validation split when the data have no test split).
    figures, data_range, batch_size, progress, disk_radius
        See :class:`EvalOptions`.
    device : str
        ``"cpu"`` or ``"cuda"``.
    weights : {"both", "ema", "raw"}
        With an EMA in the checkpoint: score both (default), or one of them.
    **options
        Further :class:`EvalOptions` fields (``n_samples``, ``feature_extractor``, ...).

    Returns
    -------
    dict
        ``{"files", "metrics", "baselines", "split", "n", "weights"}`` and, when both were
        scored, ``"metrics_raw_weights"``, ``"baselines_raw_weights"``; ``summary.json`` holds
        the same.
    """
    from solarmodels._runs import open_run
    from solarmodels.config import build_dataclass

    opts = build_dataclass(EvalOptions, {"split": split, "data_range": data_range,
                                         "figures": figures, "batch_size": batch_size,
                                         "disk_radius": disk_radius, "progress": progress,
                                         **options}, where="evaluate option")
    ctx = open_run(run_dir, device=device, data=data)
    system = ctx.system
    dataset, used = ctx.eval_dataset(split)
    opts.split = used
    out_dir = pathlib.Path(out_dir or pathlib.Path(run_dir) / "eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    has_ema = bool(system.ema)
    notes = []
    if has_ema:
        decay = float(getattr(ctx.config.train, "ema_decay", 0.0) or 0.0)
        left = ema_initial_weight(decay, ctx.step)
        if left > EMA_UNTRAINED:
            text = (f"the EMA of the weights (decay {decay}) after {ctx.step} steps still gives "
                    f"{left:.0%} weight to the initial network: it is near-untrained; compare "
                    "the raw weights' metrics (metrics_raw_weights)")
            log.warning(text)
            notes.append(text)
    plan = [("ema" if has_ema else "raw", False)]
    if has_ema and weights == "raw":
        plan = [("raw", True)]
    elif has_ema and weights == "both":
        plan.append(("raw", True))
    summary = {"run": str(run_dir), "data": str(data), "split": used, "step": ctx.step,
               "model": ctx.config.model, "system": ctx.config.system}
    files = []
    for k, (label, raw) in enumerate(plan):
        target = out_dir if k == 0 else out_dir / "raw_weights"
        target.mkdir(parents=True, exist_ok=True)
        run_opts = dataclasses.replace(opts, figures=opts.figures if k == 0 else 0)
        if raw:
            with system.raw_weights():
                result = system.evaluate(ctx, dataset, target, run_opts)
        else:
            result = system.evaluate(ctx, dataset, target, run_opts)
        table = result.get("table")
        if table is not None:
            table.attrs.update(run=str(run_dir), split=used, weights=label,
                               data_range=float(opts.data_range))
            files += [str(f) for f in write_table(table, target)]
        files += [str(f) for f in result.get("files", [])]
        suffix = "" if k == 0 else "_raw_weights"
        summary[f"metrics{suffix}"] = result.get("metrics", {})
        summary[f"baselines{suffix}"] = result.get("baselines", {})
        if k == 0:
            summary["weights"] = label
            summary["n"] = int(result.get("n", len(dataset)))
            notes += list(result.get("notes", []))
    summary["notes"] = notes
    path = out_dir / "summary.json"
    write_text(path, json.dumps(json_ready(summary), indent=2) + "\n")
    files.append(str(path))
    summary["files"] = files
    return summary


def summarise_variants(table: xr.Dataset, dim: str) -> tuple[dict, dict]:
    """``(model metrics, {baseline: metrics})``: NaN-mean over ``dim`` of every variable of a
    table with a ``variant`` dimension (the first variant is the model)."""
    out = {}
    for v in table["variant"].values:
        part = table.sel(variant=v)
        row = {}
        for name, var in part.data_vars.items():
            if dim in var.dims and var.ndim == 1:
                values = np.asarray(var.values, np.float64)
                finite = values[np.isfinite(values)]
                row[name] = float(finite.mean()) if finite.size else float("nan")
        out[str(v)] = row
    first = str(table["variant"].values[0])
    model = out.pop(first)
    return model, out


# --------------------------------------------------------------------------- SOLARED

def _region_ranges(target, ars, names):
    """Observed intensity range (max − min over samples and tiles) of each region."""
    out = {}
    for name in names:
        t = target[ars == name]
        span = float(np.nanmax(t) - np.nanmin(t)) if t.size else 0.0
        out[name] = span if span > 0 else 1.0
    return out


def solared_metrics(pred: npt.ArrayLike, target: npt.ArrayLike, *, active_region: npt.ArrayLike | None = None,
                    target_time: npt.ArrayLike | None = None, tile_row: npt.ArrayLike | None = None,
                    tile_col: npt.ArrayLike | None = None, target_scale: float = 1.0,
                    target_offset: float = 0.0, lead_hours: float = 12.0,
                    emergence: Mapping[str, Any] | None = None,
                    persistence: npt.ArrayLike | None = None,
                    train_mean: npt.ArrayLike | None = None) -> xr.Dataset:
    """Metrics of SOLARED predictions ``(sample, tile)`` against their targets, with baselines.

    Parameters
    ----------
    pred, target : array, (S, N)
        Normalised intensities (as the network sees them).
    active_region, target_time : array, (S,), optional
        AR of each sample and the time its target refers to; with both, the per-region RMSE and
        the emergence lead time per AR and tile (samples ordered in time).
    tile_row, tile_col : array, (N,), optional
        Grid position of each tile.
    target_scale, target_offset : float
        ``intensity = y·scale + offset`` (the builder's normalisation).
    lead_hours : float
        Forecast horizon added in ``T_lead = (t_obs − t_pred) + horizon``.
    emergence : dict, optional
        Keyword arguments of :func:`solarmodels.metrics.emergence_time` (``threshold`` per hour
        on the per-region normalised intensity, ``min_steps``, ``smooth``).
    persistence : array, (S, N), optional
        The last observed intensity of each window (normalised like the targets): the
        persistence forecast.
    train_mean : array, (N,), optional
        Mean training target of each tile: the climatological forecast.

    Returns
    -------
    xarray.Dataset
        Dims ``variant`` (``model``, ``persistence``, ``train_mean`` — the baselines given),
        ``tile``, ``active_region``. Per variant: ``per_tile_rmse`` (tile, normalised),
        ``per_tile_rmse_intensity`` (SOLARED units), ``per_region_rmse`` (active_region),
        ``per_region_rmse_region_norm`` (each region's errors divided by its observed intensity
        range, max − min over its samples and tiles), scalars ``rmse``, ``rmse_intensity``,
        ``rmse_region_norm``, ``mae``, ``cc``; scalar skill scores ``skill_vs_persistence``,
        ``skill_vs_train_mean`` (``1 − RMSE_model/RMSE_baseline``, per region too);
        ``emergence_lead_time`` and ``emergence_time_observed`` (active_region, tile, hours)
        for the model, NaN where the onset is not reachable (attribute
        ``n_tiles_onset_reachable``).

    Notes
    -----
    The emergence onset (Tirona et al.'s "EarlyDetect" definition: the smoothed intensity
    falls faster than ``threshold`` = −0.01 per hour for ``min_steps`` = 4 consecutive hours)
    is found on each region's intensity divided by its observed range (max − min of its
    targets), the scale of the seed's per-AR min-max normalisation. That scale does not depend
    on how the dataset was normalised (any affine normalisation cancels), so the same threshold
    means the same thing for z-scored, min-max or raw intensities. A tile's onset counts only
    when it lies at least ``min_steps + smooth`` hours after the region's first target time:
    earlier, emergence had already begun when the first forecast was issued, and no forecast
    could have led it.
    """
    p = np.asarray(pred, np.float64)
    t = np.asarray(target, np.float64)
    if p.shape != t.shape or p.ndim != 2:
        raise M.MetricError(f"predictions {p.shape} and targets {t.shape} must both be "
                            "(sample, tile)")
    n_samples, n_tiles = p.shape
    variants = {"model": p}
    if persistence is not None:
        variants["persistence"] = np.asarray(persistence, np.float64).reshape(p.shape)
    if train_mean is not None:
        variants["train_mean"] = np.broadcast_to(np.asarray(train_mean, np.float64), p.shape)
    names = list(variants)
    scale = abs(float(target_scale))
    ds = xr.Dataset(coords={"variant": names, "tile": np.arange(n_tiles)})
    if tile_row is not None:
        ds = ds.assign_coords(tile_row=("tile", np.asarray(tile_row)),
                              tile_col=("tile", np.asarray(tile_col)))
    per_tile = np.stack([M.per_tile_rmse(v, t) for v in variants.values()])
    ds["per_tile_rmse"] = (("variant", "tile"), per_tile,
                           {"units": "", "long_name": "RMSE per tile (dataset normalisation)"})
    ds["per_tile_rmse_intensity"] = (("variant", "tile"), per_tile * scale,
                                     {"units": "", "long_name": "RMSE per tile (SOLARED "
                                                                "intensity units)"})
    rmse = np.array([M.rmse(v, t) for v in variants.values()])
    ds["rmse"] = ("variant", rmse, {"long_name": "RMSE over samples and tiles (dataset "
                                                 "normalisation)"})
    ds["rmse_intensity"] = ("variant", rmse * scale,
                            {"long_name": "RMSE over samples and tiles (SOLARED units)"})
    ds["mae"] = ("variant", np.array([M.mae(v, t) for v in variants.values()]),
                 {"long_name": "MAE (dataset normalisation)"})
    with np.errstate(invalid="ignore", divide="ignore"):
        ds["cc"] = ("variant", np.array([M.pearson_cc(v, t) for v in variants.values()]),
                    {"long_name": "Pearson CC over samples and tiles"})
    for base in ("persistence", "train_mean"):
        if base in variants:
            ds[f"skill_vs_{base}"] = ((), 1.0 - rmse[0] / rmse[names.index(base)],
                                      {"long_name": f"1 - RMSE_model / RMSE_{base}"})
    lead_attrs: dict[str, Any] = {"n_tiles_onset_reachable": 0, "n_tiles_onset_observed": 0}
    if active_region is not None:
        ars = np.asarray(active_region).astype(str)
        regions = sorted(set(ars))
        spans = _region_ranges(t, ars, regions)
        ds = ds.assign_coords(active_region=("active_region", np.array(regions)))
        per_region = np.full((len(names), len(regions)), np.nan)
        per_region_norm = np.full((len(names), len(regions)), np.nan)
        sq_norm = np.zeros(len(names))
        for k, name in enumerate(regions):
            sel = ars == name
            for j, v in enumerate(variants.values()):
                err = v[sel] - t[sel]
                per_region[j, k] = np.sqrt(np.mean(err ** 2))
                per_region_norm[j, k] = per_region[j, k] / spans[name]
                sq_norm[j] += np.sum((err / spans[name]) ** 2)
        ds["per_region_rmse"] = (("variant", "active_region"), per_region,
                                 {"long_name": "RMSE per active region (dataset normalisation)"})
        ds["per_region_rmse_region_norm"] = (
            ("variant", "active_region"), per_region_norm,
            {"long_name": "RMSE per active region / the region's observed intensity range"})
        ds["rmse_region_norm"] = ("variant", np.sqrt(sq_norm / t.size),
                                  {"long_name": "RMSE of the errors divided by each region's "
                                                "observed intensity range (max - min)"})
        ds["region_intensity_range"] = ("active_region", np.array([spans[r] for r in regions]),
                                        {"long_name": "observed target range of the region "
                                                      "(dataset normalisation)"})
        for base in ("persistence", "train_mean"):
            if base in variants:
                ds[f"per_region_skill_vs_{base}"] = (
                    "active_region", 1.0 - per_region[0] / per_region[names.index(base)],
                    {"long_name": f"1 - RMSE_model / RMSE_{base} per region"})
        if target_time is not None:
            times = np.asarray(target_time).astype("datetime64[ns]")
            kw = {"threshold": -0.01, "min_steps": 4, "smooth": 5, **(emergence or {})}
            margin = float(kw["min_steps"] + max(int(kw["smooth"]) // 2, 0))
            lead = np.full((len(regions), n_tiles), np.nan)
            t_obs = np.full((len(regions), n_tiles), np.nan)
            reach = np.zeros((len(regions), n_tiles), bool)
            for k, name in enumerate(regions):
                sel = np.flatnonzero(ars == name)
                sel = sel[np.argsort(times[sel])]
                if sel.size < 2:
                    continue
                lo, span = float(np.nanmin(t[sel])), spans[name]
                obs, prd = (t[sel] - lo) / span, (p[sel] - lo) / span
                onset = np.asarray(M.emergence_time(obs, times[sel], **kw), np.float64)
                t_obs[k] = onset
                reach[k] = np.isfinite(onset) & (onset >= margin)
                led = np.asarray(M.emergence_lead_time(obs, prd, times[sel],
                                                       horizon=lead_hours, **kw), np.float64)
                lead[k] = np.where(reach[k], led, np.nan)
            ds["emergence_lead_time"] = (("active_region", "tile"), lead,
                                         {"units": "h", "long_name": "emergence lead time "
                                          "(t_obs − t_pred) + horizon, reachable onsets only"})
            ds["emergence_time_observed"] = (("active_region", "tile"), t_obs,
                                             {"units": "h", "long_name": "observed emergence, "
                                              "hours after the region's first target time"})
            ds["onset_reachable"] = (("active_region", "tile"), reach,
                                     {"long_name": f"observed onset ≥ {margin:g} h after the "
                                                   "first target: a forecast could lead it"})
            lead_attrs = {"n_tiles_onset_reachable": int(reach.sum()),
                          "n_tiles_onset_observed": int(np.isfinite(t_obs).sum()),
                          "emergence_threshold_per_h": float(kw["threshold"]),
                          "emergence_scale": "per-region observed intensity range"}
    ds.attrs.update(title="SOLARED evaluation", lead_hours=float(lead_hours),
                    n_samples=int(n_samples), target_scale=float(target_scale),
                    target_offset=float(target_offset), **lead_attrs)
    return ds


@overload
def predict_solared(system: System, dataset: SolaredDataset, *, batch_size: int = 32,
                    progress: bool = False,
                    with_persistence: Literal[False] = False) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def predict_solared(system: System, dataset: SolaredDataset, *, batch_size: int = 32,
                    progress: bool = False, with_persistence: Literal[True]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]: ...


def predict_solared(system: System, dataset: SolaredDataset, *, batch_size: int = 32,
                    progress: bool = False, with_persistence: bool = False
                    ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Predictions ``(S, N)`` and targets of a :class:`SolaredDataset` (eval mode, no grad);
    ``with_persistence=True`` adds the persistence forecast (``None`` when the file lacks it)."""
    import torch
    from tqdm.auto import tqdm

    from solarmodels.trainer import collate, move_batch

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate)
    preds, targets, last = [], [], []
    for batch in tqdm(loader, disable=not progress, desc="predict", leave=False):
        batch = move_batch(batch, system.device)
        preds.append(system.predict(batch).float().cpu().numpy())
        targets.append(batch["target"].float().cpu().numpy())
        if "persistence" in batch:
            last.append(batch["persistence"].float().cpu().numpy())
    out = (np.concatenate(preds), np.concatenate(targets))
    if with_persistence:
        return out + (np.concatenate(last) if last else None,)
    return out


def mean_target(dataset: torch.utils.data.Dataset | None,
                batch_size: int = 256) -> np.ndarray | None:
    """Mean of the ``"target"`` of every sample of a dataset (per element), or None.

    Where the samples carry a ``"mask"`` (1 on the pixels that count: the solar disk of a
    magnetogram whose off-disk NaN were filled with ``data.nan_to``), each pixel is the mean over
    the samples where it is valid, ``Σ m·t / Σ m``; a pixel valid in no sample keeps the plain
    mean (the fill). Without this, a limb pixel that is off the disk in some training frames
    (the disk radius changes with the observer's distance) averages the fill into the mean:
    at 64² the far-side training-mean magnetogram had limb pixels at −1690 G, which alone made
    its RMSE 72.5 G where a zero field scores 23 G.
    """
    import torch

    from solarmodels.trainer import collate

    if dataset is None or len(dataset) == 0:
        return None
    total = weighted = weight = None
    n = 0
    for batch in torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                             collate_fn=collate):
        t = batch["target"].double()
        m = batch["mask"].double().expand_as(t) if "mask" in batch else torch.ones_like(t)
        total = t.sum(0) if total is None else total + t.sum(0)
        weighted = (m * t).sum(0) if weighted is None else weighted + (m * t).sum(0)
        weight = m.sum(0) if weight is None else weight + m.sum(0)
        n += t.shape[0]
    plain = total / n
    mean = torch.where(weight > 0, weighted / weight.clamp_min(1e-12), plain)
    return mean.float().numpy()


def evaluate_solared(system: System, ctx: RunContext, dataset: SolaredDataset,
                     out_dir: str | os.PathLike[str], options: EvalOptions) -> dict:
    """``System.evaluate`` of the SOLARED systems (:func:`solared_metrics` on the split)."""
    from solarprep.plotting import save_figure

    pred, target, last = predict_solared(system, dataset, batch_size=options.batch_size,
                                         progress=options.progress, with_persistence=True)
    notes = []
    if last is None:
        notes.append("the SOLARED file has no last_intensity (built before it was added): no "
                     "persistence baseline; rebuild it with solarprep build-solared")
    mean = mean_target(ctx.train_dataset())
    if mean is None:
        notes.append("the run's training data are not available: no training-mean baseline")
    d = dataset.data

    def coord(key):
        return d[key].values if key in d.coords else None

    table = solared_metrics(
        pred, target, active_region=coord("active_region"), target_time=coord("target_time"),
        tile_row=coord("tile_row"), tile_col=coord("tile_col"),
        target_scale=float(d.attrs.get("target_scale", 1.0)),
        target_offset=float(d.attrs.get("target_offset", 0.0)),
        lead_hours=float(d.attrs.get("lead", 12)), persistence=last, train_mean=mean)
    table.attrs.update(model=ctx.config.model, normalization=str(d.attrs.get("normalization",
                                                                             "")))
    ars = coord("active_region")
    times = coord("target_time")
    first = np.flatnonzero(ars == ars[0]) if ars is not None else np.arange(len(pred))
    fig = solared_figure(table, pred[first], target[first],
                         times=None if times is None else times[first],
                         title=f"({ctx.config.model}, {options.split})",
                         persistence=None if last is None else last[first])
    files = [str(save_figure(fig, pathlib.Path(out_dir) / "solared_eval.png"))]
    metrics = solared_summary(table)
    baselines = {v: {"rmse": metrics[f"rmse_{v}"],
                     "rmse_intensity": float(table["rmse_intensity"].sel(variant=v)),
                     "rmse_region_norm": metrics.get(f"rmse_region_norm_{v}", float("nan")),
                     "mae": float(table["mae"].sel(variant=v)),
                     "cc": float(table["cc"].sel(variant=v))}
                 for v in ("persistence", "train_mean") if f"rmse_{v}" in metrics}
    return {"metrics": metrics, "baselines": baselines, "table": table, "files": files,
            "n": int(len(pred)), "notes": notes}


def solared_summary(table: xr.Dataset) -> dict:
    """The scalar metrics of a :func:`solared_metrics` table as a flat dict (``rmse_model``,
    ``rmse_persistence``, ``rmse_train_mean``, ``skill_vs_persistence``, per-region values...)."""
    out = {}
    variants = [str(v) for v in table["variant"].values]
    for v in variants:
        tag = "model" if v == "model" else v
        out[f"rmse_{tag}"] = float(table["rmse"].sel(variant=v))
        if "rmse_region_norm" in table:
            out[f"rmse_region_norm_{tag}"] = float(table["rmse_region_norm"].sel(variant=v))
    m = table.sel(variant="model")
    out.update(rmse=float(m["rmse"]), rmse_intensity=float(m["rmse_intensity"]),
               mae=float(m["mae"]), cc=float(m["cc"]))
    for base in ("persistence", "train_mean"):
        if f"skill_vs_{base}" in table:
            out[f"skill_vs_{base}"] = float(table[f"skill_vs_{base}"])
    if "active_region" in table.dims:
        out["per_region"] = {}
        for k, ar in enumerate(table["active_region"].values):
            row = {f"rmse_{'model' if v == 'model' else v}":
                   float(table["per_region_rmse"].sel(variant=v).values[k]) for v in variants}
            for base in ("persistence", "train_mean"):
                key = f"per_region_skill_vs_{base}"
                if key in table:
                    row[f"skill_vs_{base}"] = float(table[key].values[k])
            out["per_region"][str(ar)] = row
    if "emergence_lead_time" in table:
        lead = table["emergence_lead_time"].values
        out["median_lead_time_h"] = float(np.nanmedian(lead)) if np.isfinite(lead).any() \
            else float("nan")
        out["n_tiles_onset_reachable"] = int(table.attrs.get("n_tiles_onset_reachable", 0))
        out["n_tiles_onset_observed"] = int(table.attrs.get("n_tiles_onset_observed", 0))
    return out


def solared_figure(table: xr.Dataset, pred: np.ndarray | None = None,
                   target: np.ndarray | None = None, *, times: npt.ArrayLike | None = None,
                   tiles: Sequence[int] | None = None, title: str = "",
                   persistence: np.ndarray | None = None) -> Figure:
    """Per-tile RMSE on the tile grid (model) and, given series, observed vs predicted intensity
    (and the persistence forecast).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    n_panels = 1 + (pred is not None)
    fig = Figure(figsize=(5.0 * n_panels + 1, 3.6), layout="constrained")
    ax = fig.add_subplot(1, n_panels, 1)
    rmse = table["per_tile_rmse"]
    rmse = (rmse.sel(variant="model") if "variant" in rmse.dims else rmse).values
    if "tile_row" in table.coords:
        rows = table["tile_row"].values - table["tile_row"].values.min()
        cols = table["tile_col"].values - table["tile_col"].values.min()
        grid = np.full((rows.max() + 1, cols.max() + 1), np.nan)
        grid[rows, cols] = rmse
    else:
        grid = rmse[None, :]
    im = ax.imshow(grid, origin="lower", cmap="magma")
    ax.set_xlabel("tile column")
    ax.set_ylabel("tile row")
    ax.set_title(f"per-tile RMSE {title}".strip(), fontsize=9)
    fig.colorbar(im, ax=ax, label="RMSE (normalised intensity)")
    if pred is not None:
        ax2 = fig.add_subplot(1, n_panels, 2)
        x = np.arange(len(pred)) if times is None else times
        tiles = tiles if tiles is not None else np.argsort(np.ptp(target, axis=0))[-3:]
        for tile in tiles:
            line, = ax2.plot(x, target[:, tile], lw=1.2, label=f"tile {tile} observed")
            ax2.plot(x, pred[:, tile], lw=1.0, ls="--", color=line.get_color(),
                     label=f"tile {tile} predicted")
            if persistence is not None:
                ax2.plot(x, persistence[:, tile], lw=0.8, ls=":", color=line.get_color(),
                         label=f"tile {tile} persistence")
        ax2.set_ylabel("normalised intensity")
        ax2.set_xlabel("target time" if times is not None else "sample")
        ax2.legend(fontsize=6, ncol=2)
        fig.autofmt_xdate()
    return fig


# --------------------------------------------------------------------------- image translation

def translation_metrics(pred: npt.ArrayLike, target: npt.ArrayLike, *, data_range: float = 2.0,
                        mask: npt.ArrayLike | None = None, attrs: Mapping[str, Any] | None = None,
                        median: float | None = None, pixel_area: npt.ArrayLike | None = None,
                        disk_radius: float | None = None, ar_threshold: float = 50.0,
                        flux_threshold: float = 10.0) -> dict[str, float]:
    """Metrics of one generated image ``(H, W)`` (scaled, as the network outputs it).

    Parameters
    ----------
    pred, target : array, (H, W)
        Scaled images (e.g. in [−1, 1]).
    data_range : float
        Range of the scaled data for PSNR and SSIM (2 for [−1, 1]).
    mask : bool array, optional
        Pixels for MAE / RMSE / CC (e.g. on the disk); SSIM uses the whole image.
    attrs : dict, optional
        Attributes of the target variable as written by :func:`solarprep.datasets.scalings.scale`
        (``scaling``, ``scaling_params``, ``physical_units``); with them the images are inverted
        to physical units and the physical metrics added.
    median : float, optional
        Disk median of the frame (``euv_median_log10`` only).
    pixel_area : array, optional
        Surface area of each pixel, cm² (magnetograms: total unsigned flux); NaN or 0 where the
        area is not defined (off the disk, μ below the cut of :func:`pixel_area_cm2`): those
        pixels are left out of the flux (masked, never NaN).
    disk_radius : float, optional
        Disk radius in pixels (default from the image size, 392/1024). For magnetograms the
        physical metrics are restricted to this disk.

    Returns
    -------
    dict of str to float
        ``mae``, ``rmse``, ``cc``, ``psnr``, ``ssim`` (scaled); AIA: ``cc_physical``,
        ``re_physical``, ``ppe10_physical``, ``ppe50_physical``; magnetograms:
        ``rmse_full_disk_G``, ``rmse_active_region_G``, ``rmse_quiet_sun_G``,
        ``active_fraction``, ``cc_G``, ``tumf_pred_Mx``, ``tumf_target_Mx``, ``tumf_rel_error``.
    """
    p = np.asarray(pred, np.float64)
    t = np.asarray(target, np.float64)
    m = np.ones(t.shape, bool) if mask is None else np.asarray(mask, bool)
    m = m & np.isfinite(p) & np.isfinite(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"mae": M.mae(p, t, m), "rmse": M.rmse(p, t, m), "cc": M.pearson_cc(p, t, m),
               "psnr": M.psnr(p, t, data_range, m),
               "ssim": M.ssim(np.nan_to_num(p), np.nan_to_num(t), data_range)}
    if not attrs or not attrs.get("scaling"):
        return out
    from solarprep.datasets import scalings

    spec = scalings.get_scaling(attrs["scaling"])
    params = json.loads(attrs.get("scaling_params", "{}"))
    args = (median,) if spec.needs_median else ()
    if spec.needs_median and median is None:
        raise M.MetricError("translation_metrics: euv_median_log10 needs the frame's median")
    pp = np.asarray(spec.inverse(p, *args, **params), np.float64)
    tp = np.asarray(spec.inverse(t, *args, **params), np.float64)
    ny, nx = t.shape
    if spec.unit_kind == "G":
        on = m & np.isfinite(tp) & np.isfinite(pp)
        if disk_radius is not None:
            on &= M.disk_mask(t.shape, disk_radius)
        with np.errstate(invalid="ignore", divide="ignore"):
            regions = M.magnetogram_rmse_regions(pp, tp, on, ar_threshold=ar_threshold)
            out.update({f"rmse_{k}_G" if k != "active_fraction" else k: float(v)
                        for k, v in regions.items()})
            out["cc_G"] = M.pearson_cc(pp, tp, on)
        if pixel_area is not None:
            area = np.asarray(pixel_area, np.float64)
            limb = on & np.isfinite(area) & (area > 0)          # μ below the cut: masked
            area = np.where(limb, area, 0.0)
            out["tumf_pred_Mx"] = M.total_unsigned_flux(pp, area, limb, flux_threshold)
            out["tumf_target_Mx"] = M.total_unsigned_flux(tp, area, limb, flux_threshold)
            out["tumf_rel_error"] = (out["tumf_pred_Mx"] - out["tumf_target_Mx"]) / \
                out["tumf_target_Mx"] if out["tumf_target_Mx"] > 0 else float("nan")
    else:
        radius = disk_radius if disk_radius is not None else 392.0 * ny / 1024.0
        binning = 4 if ny % 4 == 0 and nx % 4 == 0 and ny >= 64 else 1
        park = M.euv_generation_metrics(np.nan_to_num(pp), np.nan_to_num(tp), radius=radius,
                                        binning=binning)
        out.update({f"{k}_physical": float(v) for k, v in park.items()})
    return out


def pixel_area_cm2(ds: xr.Dataset, *, mu_min: float = 0.1) -> np.ndarray:
    """Surface area of every pixel of a solar Dataset in cm² (NaN off the disk and at μ < mu_min).

    Uses :func:`solarprep.photometry.foreshortening.pixel_area` (exact TAN solid angle, distance
    and μ), converted from Mm² with its ``cm2_per_unit``; dims ``(y, x)`` or ``(time, y, x)``.
    Pass the result to :func:`translation_metrics`, which leaves the NaN pixels out of the
    flux (so do ``np.isfinite(area)`` as the mask of
    :func:`solarmodels.metrics.total_unsigned_flux`).
    """
    from solarprep.photometry.foreshortening import pixel_area

    area = pixel_area(ds, mu_min=mu_min, device="cpu")
    return np.asarray(area.values, np.float64) * float(area.attrs.get("cm2_per_unit", 1e16))


def _scaling_of(attrs):
    from solarprep.datasets import scalings

    name = (attrs or {}).get("scaling")
    if not name:
        return None
    try:
        return scalings.get_scaling(name)
    except ValueError:
        return None


def _input_baseline_plan(dataset, target_attrs):
    """Per target channel, the input channel to pass through the scalings, or None.

    Only where input and target are the same physical quantity (same ``physical_units``, both
    scaled by solarprep): then ``target_scaling(input_inverse(x))`` is a forecast of the target
    (e.g. one EUV passband for another, an older frame for a newer one).
    """
    src = getattr(dataset, "ds", None)
    plan = []
    for name in dataset.targets:
        t_attrs = target_attrs.get(name) or {}
        t_spec = _scaling_of(t_attrs)
        choice = None
        for c, inp in enumerate(dataset.inputs):
            i_attrs = dict(src[inp].attrs) if src is not None and inp in src else {}
            i_spec = _scaling_of(i_attrs)
            if (t_spec is not None and i_spec is not None and not t_spec.needs_median
                    and not i_spec.needs_median
                    and i_attrs.get("physical_units") == t_attrs.get("physical_units")):
                choice = (c, i_spec, json.loads(i_attrs.get("scaling_params", "{}")), t_spec,
                          json.loads(t_attrs.get("scaling_params", "{}")))
                break
        plan.append(choice)
    return plan


def _field_inputs(dataset):
    """Input channels of a pair dataset that are magnetograms (a solarprep scaling in gauss)."""
    src = getattr(dataset, "ds", None)
    if src is None:
        return []
    out = []
    for c, name in enumerate(getattr(dataset, "inputs", [])):
        spec = _scaling_of(dict(src[name].attrs)) if name in src else None
        if spec is not None and spec.unit_kind == "G":
            out.append(c)
    return out


def _field_features(x):
    """``(|x|, √|x|)`` of a scaled magnetogram, stacked on a new first axis."""
    a = np.abs(np.asarray(x, np.float64))
    return np.stack([a, np.sqrt(a)])


def field_regression(train: torch.utils.data.Dataset | None, channel: int, *,
                     batch_size: int = 64) -> Callable[[npt.ArrayLike], np.ndarray] | None:
    """Per-pixel regression of each target channel on the field strength of input ``channel``.

    ``ŷ(p) = ȳ(p) + Σ_k β_k (φ_k(x(p)) − φ̄_k(p))``, ``φ = (|B|, √|B|)`` in the input's scaled
    units, ``ȳ`` and ``φ̄`` the per-pixel training means (so it is the training-mean image plus
    the brightening the local field strength explains) and ``β`` (per target channel) least
    squares over the masked training pixels. A baseline for magnetogram → EUV (Park et al.
    2019): EUV brightness grows with the unsigned field below it.

    Returns
    -------
    callable or None
        ``predict(x) -> (C_out, H, W)`` for one input ``(C_in, H, W)``; None without training
        samples.
    """
    import torch

    from solarmodels.trainer import collate

    if train is None or len(train) == 0:
        return None
    xs, ys, ms = [], [], []
    for batch in torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=False,
                                             collate_fn=collate):
        xs.append(batch["input"][:, channel].double().numpy())
        ys.append(batch["target"].double().numpy())
        mask = batch["mask"].numpy() > 0 if "mask" in batch else np.ones_like(ys[-1][:, :1], bool)
        ms.append(mask[:, 0])
    x, y, m = np.concatenate(xs), np.concatenate(ys), np.concatenate(ms)
    phi = np.moveaxis(_field_features(x), 0, 1)                  # (N, K, H, W)
    phi_mean, y_mean = phi.mean(0), y.mean(0)
    dphi = (phi - phi_mean) * m[:, None]                         # (N, K, H, W), masked
    a = np.einsum("nkhw,nlhw->kl", dphi, dphi)
    b = np.einsum("nkhw,nchw->ck", dphi, y - y_mean)
    beta = np.linalg.lstsq(a + 1e-9 * np.eye(len(a)), b.T, rcond=None)[0].T    # (C, K)

    def predict(inp: npt.ArrayLike) -> np.ndarray:
        f = _field_features(np.asarray(inp, np.float64)[channel]) - phi_mean
        return (y_mean + np.einsum("ck,khw->chw", beta, f)).astype(np.float32)

    predict.coefficients = beta  # type: ignore[attr-defined]
    return predict


def _pixel_area_for(dataset, log_reason):
    src = getattr(dataset, "ds", None)
    if src is None or "crpix1" not in src.coords:
        return None
    if getattr(dataset, "crop", None) not in (None, (dataset.height, dataset.width)):
        return None
    try:
        return pixel_area_cm2(src, mu_min=0.1)
    except Exception as exc:  # no usable geometry: no flux, say why
        log_reason(f"no pixel areas for the flux ({exc})")
        return None


def evaluate_translation(system: System, ctx: RunContext, dataset: torch.utils.data.Dataset,
                         out_dir: str | os.PathLike[str], options: EvalOptions) -> dict:
    """``System.evaluate`` of the image-translation systems (module docstring).

    Returns the model's and baselines' per-sample metrics in one table with dims ``(sample,
    variant)``, variant ``model``, ``train_mean`` and, where it makes sense, ``input``.
    """
    import torch

    from solarmodels._runs import comparison_figure
    from solarmodels.trainer import collate, move_batch
    from solarprep.plotting import save_figure

    notes = []
    src = getattr(dataset, "ds", None)
    targets = list(getattr(dataset, "targets", ["target"]))
    stored = ctx.target_attrs
    t_attrs = {n: (dict(src[n].attrs) if src is not None and n in src and
                   src[n].attrs.get("scaling") else stored.get(n) or {}) for n in targets}
    train = ctx.train_dataset(augment=False, shake=0)
    mean = mean_target(train)
    if mean is not None and mean.shape[-2:] != tuple(dataset[0]["target"].shape[-2:]):
        notes.append("training frames differ in size from the evaluated ones: no training-mean "
                     "baseline")
        mean = None
    if mean is None:
        notes.append("no training-mean baseline (training data not available)")
    plan = _input_baseline_plan(dataset, t_attrs) if hasattr(dataset, "inputs") else \
        [None] * len(targets)
    area = _pixel_area_for(dataset, notes.append) if any(
        getattr(_scaling_of(a), "unit_kind", None) == "G" for a in t_attrs.values()) else None
    radius = options.disk_radius
    if radius is None and src is not None and "disk_radius_px" in src.attrs:
        radius = float(src.attrs["disk_radius_px"]) * dataset[0]["target"].shape[-2] / \
            getattr(dataset, "height", dataset[0]["target"].shape[-2])
    regression = None
    fields = _field_inputs(dataset)
    target_kinds = {getattr(_scaling_of(a), "unit_kind", None) for a in t_attrs.values()}
    if fields and train is not None and "G" not in target_kinds and mean is not None:
        regression = field_regression(train, fields[0])
    variants = ["model", "train_mean"] + (["input"] if any(plan) else []) + \
        (["field_regression"] if regression is not None else [])
    rows = {v: [] for v in variants}
    index, files = [], []
    loader = torch.utils.data.DataLoader(dataset, batch_size=options.batch_size, shuffle=False,
                                         collate_fn=collate)
    k = 0
    for batch in loader:
        batch = move_batch(batch, system.device)
        pred = system.predict(batch).float().cpu().numpy()
        tgt = batch["target"].float().cpu().numpy()
        inp = batch["input"].float().cpu().numpy()
        mask = batch["mask"].cpu().numpy() > 0 if "mask" in batch else np.ones_like(tgt[:, :1],
                                                                                   bool)
        ids = batch["index"].cpu().numpy() if "index" in batch else np.arange(k, k + len(pred))
        for j in range(len(pred)):
            i = int(ids[j])
            index.append(i)
            outputs = {"model": pred[j], "train_mean": mean}
            if regression is not None:
                outputs["field_regression"] = regression(inp[j])
            if "input" in variants:
                base = np.array(tgt[j], copy=True) * np.nan
                for c, choice in enumerate(plan):
                    if choice is not None:
                        ci, i_spec, i_par, t_spec, t_par = choice
                        phys = i_spec.inverse(inp[j, ci], **i_par)
                        base[c] = t_spec.forward(phys, **t_par)
                outputs["input"] = base
            for v in variants:
                row = {}
                out = outputs[v]
                for c, name in enumerate(targets):
                    if out is None or not np.isfinite(out[c]).any():
                        continue
                    med_key = f"{name}_scaling_median"
                    median = float(src[med_key].values[i]) if src is not None and \
                        med_key in src.coords else None
                    a = None if area is None else (area if area.ndim == 2 else area[i])
                    m = translation_metrics(out[c], tgt[j, c], data_range=options.data_range,
                                            mask=mask[j, 0], attrs=t_attrs.get(name),
                                            median=median, pixel_area=a, disk_radius=radius)
                    prefix = f"{name}_" if len(targets) > 1 else ""
                    row.update({f"{prefix}{key}": float(val) for key, val in m.items()})
                rows[v].append(row)
            if k < options.figures:
                fig = comparison_figure(inp[j, 0], tgt[j, 0], pred[j, 0])
                files.append(str(save_figure(fig, pathlib.Path(out_dir) / f"compare_{k:03d}.png")))
            k += 1
    keys = list(dict.fromkeys(key for v in variants for r in rows[v] for key in r))
    data = {}
    for key in keys:
        arr = np.full((len(index), len(variants)), np.nan)
        for b, v in enumerate(variants):
            for s, r in enumerate(rows[v]):
                arr[s, b] = r.get(key, np.nan)
        data[key] = (("sample", "variant"), arr)
    table = xr.Dataset(data, coords={"sample": index, "variant": variants})
    if "tumf_pred_Mx" in table and len(index) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            table.attrs["tumf_cc"] = float(M.flux_correlation(
                table["tumf_pred_Mx"].sel(variant="model").values,
                table["tumf_target_Mx"].sel(variant="model").values))
    table.attrs["targets"] = " ".join(targets)
    table.attrs["physical_units"] = " ".join(str(t_attrs[n].get("physical_units", ""))
                                             for n in targets)
    model, baselines = summarise_variants(table, "sample")
    if "tumf_cc" in table.attrs:
        model["tumf_cc"] = table.attrs["tumf_cc"]
    model["data_range"] = float(options.data_range)
    return {"metrics": model, "baselines": baselines, "table": table, "files": files,
            "n": len(index), "notes": notes}


# --------------------------------------------------------------------------- files

def write_table(table: xr.Dataset, out_dir: str | os.PathLike[str],
                name: str = "metrics") -> list[pathlib.Path]:
    """Write a metrics Dataset as ``<name>.nc`` and ``<name>.csv`` in ``out_dir`` (atomically).

    The CSV has one row per element of the table's main dimension (``sample``, ``tile``,
    ``window`` or ``class``) and ``variant`` (model and baselines) when present, with the
    per-variant and scalar metrics repeated in every row; for SOLARED tables one column
    ``lead_time_h_AR<name>`` per active region.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nc = out_dir / f"{name}.nc"
    save(table, nc, check=False)
    main = next((d for d in ("sample", "tile", "window", "class") if d in table.dims), None)
    allowed = {d for d in (main, "variant") if d is not None}
    keep = [v for v in table.data_vars if set(table[v].dims) <= allowed]
    sub = table[keep]
    frame = sub.drop_vars([c for c in sub.coords if not set(sub[c].dims) <= allowed]) \
        .to_dataframe()
    if "active_region" in table.dims and "emergence_lead_time" in table and main == "tile":
        tiles = np.asarray(frame.index.get_level_values("tile"))
        for ar in table["active_region"].values:
            values = table["emergence_lead_time"].sel(active_region=ar).values
            frame[f"lead_time_h_AR{ar}"] = values[tiles]
    csv = out_dir / f"{name}.csv"
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp)
    return [nc, csv]
