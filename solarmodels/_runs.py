"""Runs from configuration files: build, train, reload, evaluate, predict (used by the CLI).

* :func:`build_run` turns a :class:`~solarmodels.config.RunConfig` into a system and its datasets,
* :func:`train_run` trains it in a run folder (resolved config saved there),
* :func:`load_run` rebuilds the system of a run folder from its ``config.json`` and newest
  checkpoint (EMA weights used for prediction when the run kept them),
* :func:`evaluate_run` writes per-sample metrics (netCDF + CSV) and comparison figures,
* :func:`predict_file` writes the network output for a netCDF/zarr input as a netCDF Dataset.
"""
from __future__ import annotations

import json
import logging
import pathlib

import numpy as np
import torch
import xarray as xr

from solarmodels import registry
from solarmodels.checkpoint import CheckpointError, load_checkpoint
from solarmodels.config import ConfigError, RunConfig, load_config
from solarmodels.trainer import Trainer, collate, latest_checkpoint, move_batch, seed_everything

__all__ = ["build_run", "train_run", "load_run", "evaluate_run", "predict_file",
           "comparison_figure"]

logger = logging.getLogger(__name__)


def _datasets(run: RunConfig, splits=("train", "val")):
    data = dict(run.data)
    name = data.pop("dataset", None)
    if not name:
        raise ConfigError("config [data] needs dataset = '<name>' (one of "
                          f"{registry.list_datasets()})")
    return [registry.create_dataset(name, split=s, **data) for s in splits]


def build_run(run: RunConfig, *, with_data=True):
    """``(system, train_data, val_data)`` of a run configuration (model built after seeding)."""
    if not run.model or not run.system:
        raise ConfigError("config needs model = '<name>' and system = '<name>' "
                          f"(models: {registry.list_models()}, systems: {registry.list_systems()})")
    seed_everything(run.train.seed)
    net = registry.create_model(run.model, run.model_config)
    system = registry.create_system(run.system, run.system_config, net)
    train, val = _datasets(run) if with_data else (None, None)
    if with_data and train is None:
        raise ConfigError(f"dataset {run.data.get('dataset')!r} has no training split")
    return system, train, val


def train_run(config, run_dir, *, overrides=None, resume=True) -> dict:
    """Load ``config`` (path or dict), build the run and train it in ``run_dir``."""
    run = load_config(config, overrides)
    system, train, val = build_run(run)
    trainer = Trainer(system, train, val, run.train, run_dir, run_config=run)
    result = trainer.fit(resume=resume)
    result["run_dir"] = str(run_dir)
    return result


def load_run(run_dir, *, device="cpu"):
    """``(system, run_config)`` of a trained run folder (or a checkpoint folder)."""
    run_dir = pathlib.Path(run_dir)
    if (run_dir / "weights.safetensors").exists():
        ck_path, cfg_path = run_dir, run_dir / "config.json"
    else:
        ck_path = latest_checkpoint(run_dir)
        cfg_path = run_dir / "config.json"
        if ck_path is None:
            raise CheckpointError(f"{run_dir} has no checkpoints/ (train it first: "
                                  "solarmodels train CONFIG --run-dir RUN)")
    if not cfg_path.exists():
        raise CheckpointError(f"{cfg_path} is missing: cannot rebuild the networks of {run_dir}")
    run = load_config(json.loads(cfg_path.read_text()))
    system, _, _ = build_run(run, with_data=False)
    ck = load_checkpoint(ck_path, None, with_state=False)
    if any(k.startswith("ema.") for k in ck["weights"]):
        system.enable_ema(run.train.ema_decay or 0.999)
    system.load_state_dict(ck["weights"])
    system.train_config = run.train
    system.to(device)
    return system, run


def _write_netcdf(ds: xr.Dataset, path) -> pathlib.Path:
    """Write ``ds`` to ``path`` atomically (temporary name, then rename); no convention check,
    since metric tables and predictions of non-solar test data are not solar Datasets."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    ds.to_netcdf(tmp, engine="h5netcdf")
    tmp.replace(path)
    return path


def comparison_figure(inp, target, output, *, titles=None, units=None):
    """Figure of input, target, output and output − target for one sample (2-D arrays).

    Target and output share one colour scale; the difference is symmetric about zero.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    titles = titles or ("input", "target", "output", "output − target")
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), constrained_layout=True)
    lo, hi = np.nanpercentile(np.concatenate([target.ravel(), output.ravel()]), [1, 99])
    diff = output - target
    d = np.nanpercentile(np.abs(diff), 99) or 1.0
    for ax, img, title, kw in zip(axes, (inp, target, output, diff), titles,
                                  ({"cmap": "gray"}, {"cmap": "inferno", "vmin": lo, "vmax": hi},
                                   {"cmap": "inferno", "vmin": lo, "vmax": hi},
                                   {"cmap": "RdBu_r", "vmin": -d, "vmax": d})):
        im = ax.imshow(img, origin="lower", **kw)
        ax.set_title(title if not units else f"{title} [{units}]" if title != titles[0] else title,
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _sample_metrics(out, tgt, mask, data_range):
    from solarmodels import metrics

    o, t = out.astype(np.float64), tgt.astype(np.float64)
    m = mask > 0
    return {"mae": float(metrics.mae(o, t, m)), "rmse": float(metrics.rmse(o, t, m)),
            "cc": float(metrics.pearson_cc(o, t, m)),
            "psnr": float(metrics.psnr(o, t, data_range, m)),
            "ssim": float(np.mean([metrics.ssim(o[c], t[c], data_range) for c in range(len(o))]))}


def _physical_plan(target_names, stored):
    """Per target channel: (name, inverse function, params, kind) for scaled targets whose
    scaling solarprep can invert without per-frame medians; kind is "DN" or "G"."""
    try:
        from solarprep.datasets.scalings import SCALINGS
    except ImportError:  # pragma: no cover
        return []
    plan = []
    for c, name in enumerate(target_names):
        attrs = stored.get(name) or {}
        spec = SCALINGS.get(attrs.get("scaling", ""))
        units = str(attrs.get("physical_units", ""))
        if spec is None or spec.needs_median:
            continue
        kind = "G" if units == "G" else "DN" if "DN" in units else None
        if kind:
            plan.append((c, name, spec.inverse, json.loads(attrs.get("scaling_params", "{}")), kind))
    return plan


def _seed_metrics(pred, tgt, plan, radius, prefix):
    """Park et al. (AIA, DN) / Jeong et al. (HMI, G) metrics in physical units for one sample."""
    from solarmodels import metrics

    out = {}
    for c, name, inverse, params, kind in plan:
        p = np.asarray(inverse(pred[c], **params), np.float64)
        t = np.asarray(inverse(tgt[c], **params), np.float64)
        tag = f"{name}_" if prefix else ""
        if kind == "DN":
            size = p.shape[-1]
            binning = 4 if size >= 256 and size % 4 == 0 else 1
            m = metrics.euv_generation_metrics(p, t, radius=radius, binning=binning)
            out.update({f"{tag}cc_disk": float(m["cc"]), f"{tag}re": float(m["re"]),
                        f"{tag}ppe10": float(m["ppe10"]), f"{tag}ppe50": float(m["ppe50"])})
        else:
            on = metrics.disk_mask(p.shape, radius)
            m = metrics.magnetogram_rmse_regions(p, t, on)
            out.update({f"{tag}rmse_disk_G": float(m["full_disk"]),
                        f"{tag}rmse_ar_G": float(m["active_region"]),
                        f"{tag}rmse_qs_G": float(m["quiet_sun"])})
    return out


def evaluate_run(run_dir, data, out_dir, *, split="val", figures=4, data_range=2.0, device="cpu",
                 batch_size=4, disk_radius=None) -> dict:
    """Evaluate a run on a pair file: per-sample metrics table and comparison figures.

    Parameters
    ----------
    run_dir : path-like
        Trained run folder.
    data : path-like
        Pair file (.nc/.zarr) with the run's input/target variables, or ``"config"`` for the run's
        own data configuration.
    out_dir : path-like
        Output folder: ``metrics.nc``, ``metrics.csv``, ``summary.json``, ``compare_<i>.png``.
    split : str
        Split to evaluate when the data carry a split coordinate.
    data_range : float
        PSNR/SSIM data range of the scaled data (2.0 for [-1, 1]).
    disk_radius : float, optional
        Disk radius in pixels for the physical-unit metrics (default: the pair file's
        ``disk_radius_px`` attribute, else 392·N/1024).

    Notes
    -----
    Every sample gets MAE, RMSE, CC, PSNR and SSIM in the scaled space. Targets scaled by
    ``solarprep.datasets.scalings`` (attributes recorded in the checkpoint) are also mapped back to
    physical units for the seeds' metrics: AIA (DN) → Park et al.'s binned on-disk CC, RE,
    PPE10, PPE50 (:func:`solarmodels.metrics.euv_generation_metrics`); HMI (G) → RMSE over the
    disk, active regions and quiet Sun (:func:`solarmodels.metrics.magnetogram_rmse_regions`).
    """
    from solarprep.plotting import save_figure

    system, run = load_run(run_dir, device=device)
    cfg = dict(run.data)
    name = cfg.pop("dataset")
    if str(data) != "config":
        if name != "pairs":
            raise ConfigError(f"evaluate with a data file needs a 'pairs' run, not {name!r}; "
                              "pass DATA=config to use the run's own data")
        cfg["path"] = str(data)
        cfg.pop("val_fraction", None)
        try:
            ds = registry.create_dataset("pairs", split=split, **cfg)
        except ConfigError:
            ds = None
        if ds is None:
            ds = registry.create_dataset("pairs", split="train", **{**cfg, "augment": False})
    else:
        ds = registry.create_dataset(name, split=split, **cfg)
    if ds is None or len(ds) == 0:
        raise ConfigError(f"no samples to evaluate in {data} (split {split!r})")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, files = [], []
    target_names = list(getattr(ds, "targets", []))
    plan = _physical_plan(target_names, _target_attrs(run_dir))
    src_attrs = getattr(getattr(ds, "ds", None), "attrs", {})
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate)
    k = 0
    for batch in loader:
        batch = move_batch(batch, system.device)
        pred = system.predict(batch).float().cpu().numpy()
        tgt = batch["target"].float().cpu().numpy()
        inp = batch["input"].float().cpu().numpy()
        mask = batch["mask"].cpu().numpy() if "mask" in batch else np.ones_like(tgt[:, :1])
        for j in range(len(pred)):
            row = {"sample": int(batch["index"][j]) if "index" in batch else k}
            row.update(_sample_metrics(pred[j], tgt[j], np.broadcast_to(mask[j], tgt[j].shape),
                                       data_range))
            if plan:
                radius = disk_radius or float(src_attrs.get("disk_radius_px",
                                                            392.0 * tgt.shape[-1] / 1024))
                row.update(_seed_metrics(pred[j], tgt[j], plan, radius, len(plan) > 1))
            rows.append(row)
            if k < figures:
                fig = comparison_figure(inp[j, 0], tgt[j, 0], pred[j, 0])
                files.append(str(save_figure(fig, out_dir / f"compare_{k:03d}.png")))
            k += 1
    table = xr.Dataset({key: ("sample", np.array([r[key] for r in rows], np.float64))
                        for key in rows[0] if key != "sample"},
                       coords={"sample": [r["sample"] for r in rows]})
    table.attrs.update({"run": str(run_dir), "data": str(data), "split": split,
                        "data_range": data_range})
    files.append(str(_write_netcdf(table, out_dir / "metrics.nc")))
    table.to_dataframe().to_csv(out_dir / "metrics.csv")
    files.append(str(out_dir / "metrics.csv"))
    summary = {key: float(table[key].mean()) for key in table.data_vars}
    summary["n"] = len(rows)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return {"metrics": summary, "files": files}


def _target_attrs(run_dir) -> dict:
    run_dir = pathlib.Path(run_dir)
    ck = run_dir if (run_dir / "weights.safetensors").exists() else latest_checkpoint(run_dir)
    from solarmodels.checkpoint import read_meta

    return read_meta(ck)["meta"].get("target_attrs") or {}


def predict_file(run_dir, input_path, out_path, *, device="cpu", batch_size=4,
                 physical=False) -> pathlib.Path:
    """Run a trained network over every frame of a netCDF/zarr file; write a netCDF Dataset.

    The input file must hold the run's input variables (full frames). The output holds one
    variable ``<target>_pred`` per target with dims ``(time, y, x)``, the input's coordinates and
    the attributes of the training target (stored in the checkpoint's meta), so
    ``solarprep.datasets.scalings.unscale`` can map a scaled prediction back to physical units;
    ``physical=True`` does that here (AIA DN, gauss...).
    """
    from solarmodels.datasets.pairs import PairDataset, open_pairs

    system, run = load_run(run_dir, device=device)
    cfg = run.data
    inputs, targets = cfg.get("input"), cfg.get("target")
    if inputs is None or targets is None:
        raise ConfigError("predict needs a run trained on 'pairs' data (data.input / data.target)")
    src = open_pairs(input_path)
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
    result = xr.Dataset(coords=coords)
    stored = _target_attrs(run_dir)
    for c, name in enumerate(targets):
        attrs = dict(stored.get(name) or (src[name].attrs if name in src else {}))
        attrs.setdefault("units", "1")
        attrs["long_name"] = f"{attrs.get('long_name', name)}, predicted by {run.model}/{run.system}"
        result[f"{name}_pred"] = (dims, pred[:, c].astype(np.float32), attrs)
        if physical:
            from solarprep.datasets.scalings import unscale

            result = unscale(result, variable=f"{name}_pred")
    result.attrs["history"] = (str(src.attrs.get("history", "")) +
                               f"\nsolarmodels.predict(run={run_dir})").strip()
    return _write_netcdf(result, out_path)
