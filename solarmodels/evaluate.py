"""Evaluation tables and figures: SOLARED runs and image translation in physical units.

* :func:`solared_metrics` — per-tile RMSE (normalised and in SOLARED intensity units), overall
  RMSE / MAE / CC, and the emergence lead time of every tile of every active region
  (:func:`solarmodels.metrics.emergence_lead_time`), as an :class:`xarray.Dataset`.
* :func:`translation_metrics` — one generated image against its target: the scaled-space
  metrics (MAE, RMSE, CC, PSNR and SSIM with the stated data range) and, when the target's
  scaling is known (``solarprep.datasets.scalings`` attributes), the physical-unit metrics of the seeds:
  Park et al. (2019) CC / RE / PPE10 / PPE50 for AIA, RMSE over the full disk / active regions /
  quiet Sun and the total unsigned flux (true pixel areas) for magnetograms.
* :func:`evaluate_run` — a trained SOLARED run (``solarmodels._runs.load_run``) on its data:
  ``metrics.nc``, ``metrics.csv``, ``summary.json`` and figures; image-translation runs are
  handed to :func:`solarmodels._runs.evaluate_run`.
* :func:`write_table` — a metrics Dataset as netCDF and CSV (atomic writes).
"""
from __future__ import annotations

import json
import logging
import os
import pathlib

import numpy as np
import xarray as xr

from solarmodels import metrics as M

__all__ = ["solared_metrics", "translation_metrics", "write_table", "evaluate_run",
           "solared_figure", "predict_solared", "pixel_area_cm2"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- SOLARED

def solared_metrics(pred, target, *, active_region=None, target_time=None, tile_row=None,
                    tile_col=None, target_scale=1.0, target_offset=0.0, lead_hours=12.0,
                    emergence=None):
    """Metrics of SOLARED predictions ``(sample, tile)`` against their targets.

    Parameters
    ----------
    pred, target : array, (S, N)
        Normalised intensities (as the network sees them).
    active_region, target_time : array, (S,), optional
        AR of each sample and the time its target refers to; with both, the emergence lead
        time is computed per AR and tile from the samples ordered in time.
    tile_row, tile_col : array, (N,), optional
        Grid position of each tile.
    target_scale, target_offset : float
        ``intensity = y·scale + offset`` (the builder's normalisation).
    lead_hours : float
        Forecast horizon added in ``T_lead = (t_obs − t_pred) + horizon``.
    emergence : dict, optional
        Keyword arguments of :func:`solarmodels.metrics.emergence_time` (threshold on the
        normalised intensity, ``min_steps``, ``smooth``).

    Returns
    -------
    xarray.Dataset
        ``per_tile_rmse``, ``per_tile_rmse_intensity`` (tile); ``emergence_lead_time``,
        ``emergence_time_observed`` (active_region, tile, hours); scalars ``rmse``, ``mae``,
        ``cc``, ``rmse_intensity``.
    """
    p = np.asarray(pred, np.float64)
    t = np.asarray(target, np.float64)
    if p.shape != t.shape or p.ndim != 2:
        raise M.MetricError(f"predictions {p.shape} and targets {t.shape} must both be "
                            "(sample, tile)")
    n_tiles = p.shape[1]
    tile = np.arange(n_tiles)
    ds = xr.Dataset(coords={"tile": tile})
    if tile_row is not None:
        ds = ds.assign_coords(tile_row=("tile", np.asarray(tile_row)),
                              tile_col=("tile", np.asarray(tile_col)))
    ds["per_tile_rmse"] = ("tile", M.per_tile_rmse(p, t),
                           {"units": "", "long_name": "RMSE per tile (normalised intensity)"})
    ds["per_tile_rmse_intensity"] = ("tile", M.per_tile_rmse(p, t) * abs(float(target_scale)),
                                     {"units": "", "long_name": "RMSE per tile (SOLARED "
                                                                "intensity units)"})
    ds["rmse"] = ((), M.rmse(p, t), {"long_name": "RMSE over samples and tiles (normalised)"})
    ds["rmse_intensity"] = ((), M.rmse(p, t) * abs(float(target_scale)),
                            {"long_name": "RMSE over samples and tiles (SOLARED units)"})
    ds["mae"] = ((), M.mae(p, t), {"long_name": "MAE (normalised)"})
    ds["cc"] = ((), M.pearson_cc(p, t), {"long_name": "Pearson CC over samples and tiles"})
    if active_region is not None and target_time is not None:
        ars = np.asarray(active_region).astype(str)
        times = np.asarray(target_time).astype("datetime64[ns]")
        names = sorted(set(ars))
        lead = np.full((len(names), n_tiles), np.nan)
        t_obs = np.full((len(names), n_tiles), np.nan)
        kw = dict(emergence or {})
        for k, name in enumerate(names):
            sel = np.flatnonzero(ars == name)
            sel = sel[np.argsort(times[sel])]
            if sel.size < 2:
                continue
            obs, prd = t[sel], p[sel]               # the definition is on normalised intensity
            lead[k] = M.emergence_lead_time(obs, prd, times[sel], horizon=lead_hours, **kw)
            t_obs[k] = M.emergence_time(obs, times[sel], **kw)
        ds = ds.assign_coords(active_region=("active_region", np.array(names)))
        ds["emergence_lead_time"] = (("active_region", "tile"), lead,
                                     {"units": "h", "long_name": "emergence lead time "
                                      "(t_obs − t_pred) + horizon"})
        ds["emergence_time_observed"] = (("active_region", "tile"), t_obs,
                                         {"units": "h", "long_name": "observed emergence, hours "
                                          "after the first target time"})
    ds.attrs.update(title="SOLARED evaluation", lead_hours=float(lead_hours),
                    n_samples=int(p.shape[0]))
    return ds


def predict_solared(system, dataset, *, batch_size=32, progress=False):
    """Predictions ``(S, N)`` and targets of a :class:`SolaredDataset` (eval mode, no grad)."""
    import torch
    from tqdm.auto import tqdm

    from solarmodels.trainer import collate, move_batch

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate)
    preds, targets = [], []
    for batch in tqdm(loader, disable=not progress, desc="predict", leave=False):
        batch = move_batch(batch, system.device)
        preds.append(system.predict(batch).float().cpu().numpy())
        targets.append(batch["target"].float().cpu().numpy())
    return np.concatenate(preds), np.concatenate(targets)


def solared_figure(table, pred=None, target=None, *, times=None, tiles=None, title=""):
    """Per-tile RMSE on the tile grid and, given series, observed vs predicted intensity.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    n_panels = 1 + (pred is not None)
    fig = Figure(figsize=(5.0 * n_panels + 1, 3.6), layout="constrained")
    ax = fig.add_subplot(1, n_panels, 1)
    rmse = table["per_tile_rmse"].values
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
        ax2.set_ylabel("normalised intensity")
        ax2.set_xlabel("target time" if times is not None else "sample")
        ax2.legend(fontsize=7, ncol=2)
        fig.autofmt_xdate()
    return fig


# --------------------------------------------------------------------------- image translation

def translation_metrics(pred, target, *, data_range=2.0, mask=None, attrs=None, median=None,
                        pixel_area=None, disk_radius=None, ar_threshold=50.0, flux_threshold=10.0):
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
        Surface area of each pixel, cm² (magnetograms: total unsigned flux).
    disk_radius : float, optional
        Disk radius in pixels (AIA metrics; default from the image size, 392/1024).

    Returns
    -------
    dict of str to float
    """
    p = np.asarray(pred, np.float64)
    t = np.asarray(target, np.float64)
    m = np.ones(t.shape, bool) if mask is None else np.asarray(mask, bool)
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
    if spec.unit_kind == "G":
        on = m & np.isfinite(tp)
        regions = M.magnetogram_rmse_regions(pp, tp, on, ar_threshold=ar_threshold)
        out.update({f"rmse_{k}_G" if k != "active_fraction" else k: v
                    for k, v in regions.items()})
        out["cc_G"] = M.pearson_cc(pp, tp, on)
        if pixel_area is not None:
            out["tumf_pred_Mx"] = M.total_unsigned_flux(pp, pixel_area, on, flux_threshold)
            out["tumf_target_Mx"] = M.total_unsigned_flux(tp, pixel_area, on, flux_threshold)
    else:
        ny, nx = t.shape
        radius = disk_radius if disk_radius is not None else 392.0 * ny / 1024.0
        binning = 4 if ny % 4 == 0 and nx % 4 == 0 else 1
        park = M.euv_generation_metrics(np.nan_to_num(pp), np.nan_to_num(tp), radius=radius,
                                        binning=binning)
        out.update({f"{k}_physical": v for k, v in park.items()})
    return out


def pixel_area_cm2(ds, *, mu_min=0.1):
    """Surface area of every pixel of a solar Dataset in cm² (NaN off the disk and at μ < mu_min).

    Uses :func:`solarprep.photometry.foreshortening.pixel_area` (exact TAN solid angle, distance and μ),
    converted from Mm² with its ``cm2_per_unit``; dims ``(y, x)`` or ``(time, y, x)``. Pass the
    result to :func:`translation_metrics` / :func:`solarmodels.metrics.total_unsigned_flux`.
    """
    from solarprep.photometry.foreshortening import pixel_area

    area = pixel_area(ds, mu_min=mu_min, device="cpu")
    return np.asarray(area.values, np.float64) * float(area.attrs.get("cm2_per_unit", 1e16))


# --------------------------------------------------------------------------- files

def write_table(table, out_dir, name="metrics"):
    """Write a metrics Dataset as ``<name>.nc`` and ``<name>.csv`` in ``out_dir`` (atomically).

    The CSV holds the variables along the Dataset's first dimension (``tile`` or ``sample``),
    with the scalar metrics repeated in every row.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nc = out_dir / f"{name}.nc"
    tmp = nc.with_name(f".{nc.name}.tmp-{os.getpid()}")
    table.to_netcdf(tmp, engine="h5netcdf")
    os.replace(tmp, nc)
    dims = [d for d in table.dims if d != "active_region"]
    frame = table[[v for v in table.data_vars if table[v].dims in ((), (dims[0],))]] \
        .to_dataframe() if dims else table.to_dataframe()
    if "active_region" in table.dims and "emergence_lead_time" in table:
        for ar in table["active_region"].values:
            frame[f"lead_time_h_AR{ar}"] = table["emergence_lead_time"].sel(
                active_region=ar).values
    csv = out_dir / f"{name}.csv"
    tmp = csv.with_name(f".{csv.name}.tmp-{os.getpid()}")
    frame.to_csv(tmp)
    os.replace(tmp, csv)
    return [nc, csv]


def _physical_translation(system, cfg, data, out_dir, split, data_range, batch_size):
    """Physical-unit metrics of a pair run whose single target carries a solarprep scaling."""
    import torch

    from solarmodels import registry
    from solarmodels.datasets.pairs import open_pairs
    from solarmodels.trainer import collate, move_batch
    from solarprep.datasets import scalings

    path = cfg.get("path") if str(data) == "config" else str(data)
    targets = cfg.get("target")
    targets = [targets] if isinstance(targets, str) else list(targets or [])
    if path is None or len(targets) != 1:
        return None
    src = open_pairs(path)
    name = targets[0]
    attrs = dict(src[name].attrs)
    if not attrs.get("scaling"):
        log.info("evaluate: %s carries no solarprep scaling; no physical-unit metrics", name)
        return None
    spec = scalings.get_scaling(attrs["scaling"])
    kw = {k: v for k, v in cfg.items() if k != "path"}
    dataset = None
    for s in dict.fromkeys((split, "val", "train")):
        dataset = registry.create_dataset("pairs", split=s, path=path,
                                          **{**kw, "augment": False, "shake": 0})
        if dataset is not None and len(dataset):
            break
    med_key = f"{name}_scaling_median"
    medians = src[med_key].values if med_key in src.coords else None
    full_frame = dataset.crop == (dataset.height, dataset.width)
    area = None
    if spec.unit_kind == "G" and full_frame and "crpix1" in src.coords:
        try:
            area = pixel_area_cm2(src, mu_min=0.1)
        except Exception as exc:  # geometry missing or not a solar Dataset
            log.warning("evaluate: no pixel areas for the flux (%s)", exc)
    radius = src.attrs.get("disk_radius_px")
    rows = []
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate)
    for batch in loader:
        batch = move_batch(batch, system.device)
        pred = system.predict(batch).float().cpu().numpy()
        tgt = batch["target"].float().cpu().numpy()
        mask = batch["mask"].cpu().numpy() > 0
        for j in range(len(pred)):
            i = int(batch["index"][j])
            a = None if area is None else (area if area.ndim == 2 else area[i])
            row = translation_metrics(
                pred[j, 0], tgt[j, 0], data_range=data_range, mask=mask[j, 0], attrs=attrs,
                median=None if medians is None else medians[i], pixel_area=a,
                disk_radius=None if radius is None else float(radius) * tgt.shape[-2]
                / dataset.height)
            rows.append({"sample": i, **row})
    table = xr.Dataset({k: ("sample", np.array([r[k] for r in rows], np.float64))
                        for k in rows[0] if k != "sample"},
                       coords={"sample": [r["sample"] for r in rows]},
                       attrs={"target": name, "scaling": attrs["scaling"],
                              "physical_units": attrs.get("physical_units", ""),
                              "data_range": float(data_range)})
    summary = {k: float(np.nanmean(table[k])) for k in table.data_vars}
    if "tumf_pred_Mx" in table and len(rows) > 1:
        summary["tumf_cc"] = float(M.flux_correlation(table["tumf_pred_Mx"].values,
                                                      table["tumf_target_Mx"].values))
        table.attrs["tumf_cc"] = summary["tumf_cc"]
    files = [str(f) for f in write_table(table, out_dir, "metrics_physical")]
    return {"files": files, "metrics": summary}


def evaluate_run(run_dir, data="config", out_dir=None, *, split="test", figures=4,
                 data_range=2.0, device="cpu", batch_size=32, progress=False,
                 disk_radius=None) -> dict:
    """Evaluate a trained run: metrics table (netCDF + CSV), ``summary.json`` and figures.

    Parameters
    ----------
    run_dir : path-like
        Run folder (``config.json`` + ``checkpoints/``).
    data : str or path-like
        ``"config"`` (the run's own data configuration) or a data file: a SOLARED model-ready
        netCDF for SOLARED runs, a pair file for image-translation runs.
    out_dir : path-like, optional
        Output folder (default ``RUN/eval``).
    split : str
        Split to evaluate (``"test"``; falls back to ``"val"`` when the data have no test split).
    figures, data_range
        Image-translation runs: comparison figures written and the PSNR/SSIM range.
    disk_radius : float, optional
        Image-translation runs: disk radius in pixels for the seeds' disk metrics (default
        from the pair file, else 392 px at 1024²).

    Returns
    -------
    dict
        ``{"files": [...], "metrics": {...}}``.
    """
    from solarmodels import _runs, registry
    from solarmodels.datasets.solared import SolaredDataset
    from solarprep.plotting import save_figure

    out_dir = pathlib.Path(out_dir or pathlib.Path(run_dir) / "eval")
    system, run = _runs.load_run(run_dir, device=device)
    cfg = dict(run.data)
    name = cfg.pop("dataset", None)
    if name != "solared":
        result = _runs.evaluate_run(run_dir, data, out_dir, split=split, figures=figures,
                                    data_range=data_range, device=device,
                                    disk_radius=disk_radius)
        if name == "pairs":
            extra = _physical_translation(system, cfg, data, out_dir, split, data_range,
                                          batch_size)
            if extra is not None:
                result["files"] = list(result.get("files", [])) + extra["files"]
                result["physical"] = extra["metrics"]
        return result
    dataset = None
    for s in (split, "val") if split == "test" else (split,):
        dataset = (registry.create_dataset("solared", split=s, **cfg) if str(data) == "config"
                   else SolaredDataset(data, s))
        if dataset is not None and len(dataset):
            split = s
            break
    if dataset is None or not len(dataset):
        raise M.MetricError(f"no SOLARED samples to evaluate in {data} (split {split!r})")
    pred, target = predict_solared(system, dataset, batch_size=batch_size, progress=progress)
    d = dataset.data
    table = solared_metrics(
        pred, target, active_region=d["active_region"].values if "active_region" in d.coords
        else None, target_time=d["target_time"].values if "target_time" in d.coords else None,
        tile_row=d["tile_row"].values if "tile_row" in d.coords else None,
        tile_col=d["tile_col"].values if "tile_col" in d.coords else None,
        target_scale=float(d.attrs.get("target_scale", 1.0)),
        target_offset=float(d.attrs.get("target_offset", 0.0)),
        lead_hours=float(d.attrs.get("lead", 12)))
    table.attrs.update(run=str(run_dir), split=split, model=run.model)
    files = [str(f) for f in write_table(table, out_dir)]
    times = d["target_time"].values if "target_time" in d.coords else None
    first = np.flatnonzero(d["active_region"].values == d["active_region"].values[0]) \
        if "active_region" in d.coords else np.arange(len(pred))
    fig = solared_figure(table, pred[first], target[first],
                         times=None if times is None else times[first],
                         title=f"({run.model}, {split})")
    files.append(str(save_figure(fig, out_dir / "solared_eval.png")))
    summary = {k: float(table[k]) for k in ("rmse", "rmse_intensity", "mae", "cc")}
    if "emergence_lead_time" in table:
        summary["median_lead_time_h"] = float(np.nanmedian(table["emergence_lead_time"])) \
            if np.isfinite(table["emergence_lead_time"]).any() else float("nan")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    files.append(str(out_dir / "summary.json"))
    return {"files": files, "metrics": summary}
