"""SOLARED: a spatio-temporal model on real active regions
=======================================================

Main-job step: a short training of SpatioTemporalAttention on the real SOLARED timelines.

Trains on AR 11158 and validates on AR 11726 (``../shared/data/real/solared``, read through
``solarprep.datasets.solared``), or on a synthetic Dataset of the same layout when the real
timelines are absent. The network is the seed's SpatioTemporalAttention with the 7×9 tile
positions, shrunk to run on two CPU cores within a minute (24 h windows instead of 120 h, width
32); it writes the per-tile RMSE table (netCDF + CSV) and a figure.
"""
from __future__ import annotations

import logging
import pathlib
import time

import numpy as np

__all__ = ["demo_step"]

log = logging.getLogger(__name__)

_MODEL = dict(time_steps=24, d_model=32, nhead=4, num_layers=2, dim_feedforward=64, dropout=0.0)


def demo_step(out, *, progress=True, steps=24, batch_size=16, time_budget=20.0) -> dict:
    """Train, evaluate and write the SOLARED demo under ``out``.

    Returns
    -------
    dict
        ``{"name", "seconds", "files", "metrics", "note"}``.
    """
    import torch

    from solarmodels.datasets.solared import (
        SolaredDataset,
        from_timelines,
        real_timeline_folders,
        synthetic_solared,
    )
    from solarmodels.evaluate import predict_solared, solared_figure, solared_metrics, write_table
    from solarmodels.registry import create_model, create_system
    from solarmodels.trainer import Trainer
    from solarprep.plotting import save_figure

    tic = time.perf_counter()
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    window = _MODEL["time_steps"]
    folders = real_timeline_folders()
    try:
        if len(folders) < 2:
            raise FileNotFoundError("real SOLARED timelines not found")
        ds = from_timelines(folders, splits={"train": [folders[0].name.removeprefix("AR")],
                                             "val": [folders[1].name.removeprefix("AR")]},
                            window=window, lead=12, stride=2)
        source = f"real timelines: train AR{folders[0].name[2:]}, validate AR{folders[1].name[2:]}"
    except (FileNotFoundError, ImportError, ValueError) as exc:
        log.warning("SOLARED demo: %s; using a synthetic dataset", exc)
        ds = synthetic_solared(160, window=window, seed=0)
        source = "synthetic SOLARED-layout data"
    train, val = SolaredDataset(ds, "train"), SolaredDataset(ds, "val")
    torch.manual_seed(0)
    net = create_model("solared_attention_grid", **_MODEL)
    system = create_system("solared", {"lr": 1e-3}, net)
    trainer = Trainer(system, train, val,
                      dict(steps=steps, batch_size=batch_size, device="cpu", eval_every=0,
                           checkpoint_every=0, log_every=max(steps // 4, 1), seed=0,
                           progress=progress), out / "run")
    before = trainer.evaluate()
    # stop early if this machine is much slower than expected (the step count is reported)
    done = 0
    while done < steps:
        done = min(done + max(steps // 4, 1), steps)
        trainer.fit(resume=done > max(steps // 4, 1), stop_at=done)
        if time.perf_counter() - tic > time_budget:
            break
    pred, target = predict_solared(system, val, batch_size=64)
    d = val.data
    table = solared_metrics(pred, target, active_region=d["active_region"].values,
                            target_time=d["target_time"].values,
                            tile_row=d["tile_row"].values, tile_col=d["tile_col"].values,
                            target_scale=float(ds.attrs.get("target_scale", 1.0)),
                            target_offset=float(ds.attrs.get("target_offset", 0.0)),
                            lead_hours=float(ds.attrs.get("lead", 12)))
    files = [str(p) for p in write_table(table, out, "solared_metrics")]
    fig = solared_figure(table, pred, target, times=d["target_time"].values,
                         title="(validation AR)")
    files.append(str(save_figure(fig, out / "solared_per_tile_rmse.png")))
    lead = table["emergence_lead_time"].values if "emergence_lead_time" in table else np.nan
    metrics = {"val_rmse_before": float(before["val_rmse"]),
               "val_rmse_after": float(table["rmse"]),
               "per_tile_rmse_median": float(np.median(table["per_tile_rmse"].values)),
               "per_tile_rmse_max": float(np.max(table["per_tile_rmse"].values)),
               "tiles_with_emergence": int(np.isfinite(lead).sum()),
               "median_lead_time_h": float(np.nanmedian(lead)) if np.isfinite(lead).any()
               else float("nan"),
               "steps": int(trainer.step), "train_samples": len(train),
               "val_samples": len(val)}
    seconds = time.perf_counter() - tic
    return {"name": "solared", "seconds": seconds, "files": files, "metrics": metrics,
            "note": f"SpatioTemporalAttention (7×9 positions, {window} h windows, width 32), "
                    f"{trainer.step} Adam steps of {batch_size} on {source}; validation RMSE "
                    f"{metrics['val_rmse_before']:.3f} → {metrics['val_rmse_after']:.3f} "
                    "(normalised intensity)"}
