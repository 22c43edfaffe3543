"""The SOLARED benchmark: build, train within a time budget, evaluate against the baselines.

:func:`solared_benchmark` (``solarmodels solared-benchmark TRAIN_DIRS... --test TEST_DIRS...
--minutes M --out DIR``) builds the model-ready dataset from SOLARED active-region folders split
by region (normalisation statistics from the training regions only, through
:func:`solarprep.datasets.solared.build`), trains a SOLARED model for at most ``minutes`` of
wall-clock time (whole chunks of steps; the number of steps reached is reported), evaluates it
on the test regions (:func:`solarmodels.evaluate.evaluate_run`) and writes ``summary.json``:

``rmse_model``, ``rmse_persistence``, ``rmse_train_mean`` (dataset normalisation),
``skill_vs_persistence`` = 1 − RMSE_model / RMSE_persistence, ``skill_vs_train_mean``, the same
in a per-region normalisation (``rmse_region_norm_*``), per-region values (``per_region``),
the emergence lead time on reachable onsets, and what was run (regions, model, steps, seconds,
configuration).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time
from typing import TYPE_CHECKING, Any

from solarprep.io.atomic import write_text

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping, Sequence


__all__ = ["solared_benchmark", "train_for"]

log = logging.getLogger(__name__)

#: A CPU-sized SpatioTemporalAttention (2-D tile positions) used when no config is given.
CPU_MODEL = {"model": "solared_attention_grid",
             "model_config": {"time_steps": 24, "d_model": 32, "nhead": 4, "num_layers": 2,
                              "dim_feedforward": 64, "dropout": 0.0},
             "system": "solared", "system_config": {"lr": 1e-3},
             "data": {"window": 24, "lead": 12, "stride": 1},
             "train": {"batch_size": 8, "steps": 100000, "eval_every": 0, "log_every": 50,
                       "checkpoint_every": 0, "device": "cpu"}}


def train_for(config: str | os.PathLike[str] | Mapping[str, Any], run_dir: str | os.PathLike[str],
              minutes: float, *, chunk_seconds: float = 30.0, progress: bool = False) -> dict:
    """Train the run ``config`` for at most ``minutes`` of wall-clock time (or its steps).

    Training proceeds in chunks of steps sized from the measured step time (about
    ``chunk_seconds`` each); a chunk that would end past the budget is not started. Each chunk
    ends with a checkpoint, and the next one resumes from it exactly.

    Returns
    -------
    dict
        ``{"step", "seconds", "train", "val", "run_dir", "warnings"}``.
    """
    from solarmodels._runs import build_run
    from solarmodels.config import load_config
    from solarmodels.trainer import Trainer

    run = load_config(config)
    run.train.progress = progress
    system, train, val = build_run(run)
    warnings = []
    if val is None or len(val) == 0:
        warnings.append("no validation regions: no validation loss is logged")
        log.warning(warnings[-1])
        val = None
    trainer = Trainer(system, train, val, run.train, run_dir, run_config=run)
    budget = float(minutes) * 60.0
    tic = time.perf_counter()
    stop, per_step, result = 0, None, {"step": 0, "train": {}, "val": {}}
    while stop < run.train.steps:
        elapsed = time.perf_counter() - tic
        size = 5 if per_step is None else max(1, int(chunk_seconds / max(per_step, 1e-3)))
        if per_step is not None and elapsed + per_step * size > budget:
            size = int((budget - elapsed) / max(per_step, 1e-3))
            if size < 1:
                break
        stop = min(stop + size, run.train.steps)
        t0 = time.perf_counter()
        result = trainer.fit(resume=stop > size, stop_at=stop)
        per_step = (time.perf_counter() - t0) / max(size, 1)
        if time.perf_counter() - tic >= budget:
            break
    result["seconds"] = time.perf_counter() - tic
    result["run_dir"] = str(run_dir)
    result["warnings"] = warnings
    return result


def _names(folders):
    return [pathlib.Path(f).name.removeprefix("AR") for f in folders]


def solared_benchmark(train_dirs: Iterable[str | os.PathLike[str]],
                      test_dirs: Iterable[str | os.PathLike[str]], *, out: str | os.PathLike[str],
                      minutes: float = 5.0,
                      config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                      val_dirs: Iterable[str | os.PathLike[str]] = (), window: int | None = None,
                      lead: int | None = None, stride: int | None = None,
                      normalize: str = "zscore", seed: int = 0, device: str = "cpu",
                      overrides: Sequence[str] | None = None, progress: bool = False) -> dict:
    """Build, train (≤ ``minutes``) and evaluate a SOLARED model on a split by region.

    Parameters
    ----------
    train_dirs, test_dirs, val_dirs : list of path
        Active-region folders of SOLARED ``.npz`` timelines (or ``.nc`` timelines).
    out : path-like
        Output folder: ``data/`` (per-region timelines and ``solared.nc``), ``run/``,
        ``eval/`` and ``summary.json``.
    minutes : float
        Wall-clock training budget.
    config : path-like or dict, optional
        A SOLARED run configuration (e.g. ``configs/solared_attention_cpu.toml``); its
        ``data`` section gives ``window``, ``lead``, ``stride`` and its path is replaced by the
        built file. Default: a CPU-sized SpatioTemporalAttention (:data:`CPU_MODEL`).
    window, lead, stride : int, optional
        Override the configuration's data settings.
    normalize : str
        Normalisation of the builder (statistics of the training regions).
    overrides : list of str
        ``section.key=value`` overrides of the configuration.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.
    """
    from solarmodels import registry
    from solarmodels.config import apply_overrides, load_config, to_dict
    from solarmodels.evaluate import evaluate_run
    from solarprep.datasets.solared import build

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if config is None:
        raw = json.loads(json.dumps(CPU_MODEL))
    elif isinstance(config, dict):
        raw = json.loads(json.dumps(config))
    else:
        raw = to_dict(load_config(config, validate=False))
    raw = apply_overrides(raw, overrides)
    data = dict(raw.get("data") or {})
    window = int(window or data.get("window", 120))
    lead = int(lead if lead is not None else data.get("lead", 12))
    stride = int(stride or data.get("stride", 1))
    train_dirs, test_dirs, val_dirs = list(train_dirs), list(test_dirs), list(val_dirs or ())
    overlap = set(_names(train_dirs)) & set(_names(test_dirs) + _names(val_dirs))
    if overlap:
        raise ValueError(f"regions {sorted(overlap)} are in the training and evaluation sets")
    splits = {"train": _names(train_dirs), "val": _names(val_dirs), "test": _names(test_dirs)}
    tic = time.perf_counter()
    ds = build([pathlib.Path(p) for p in train_dirs + val_dirs + test_dirs], out=out / "data",
               window=window, lead=lead, stride=stride, splits=splits, normalize=normalize,
               seed=seed, progress=progress)
    build_seconds = time.perf_counter() - tic
    from solarmodels.datasets.solared import dataset_options

    options = dataset_options(data)
    raw["data"] = {"dataset": "solared", "path": str(out / "data" / "solared.nc"), **options}
    probe = registry.create_dataset("solared", split="train", path=raw["data"]["path"],
                                    **options)
    fields = {f.name for f in dataclasses.fields(registry.model_entry(raw["model"]).config_cls)}
    model_config = raw.setdefault("model_config", {})
    if "time_steps" in fields:
        model_config["time_steps"] = window
    sample = probe[0]["input"]                    # (time, channel, tile) as the model sees it
    model_config["num_channels"] = int(sample.shape[1])
    model_config["num_tiles"] = int(sample.shape[2])
    if sample.shape[2] != ds.sizes["tile"] and "grid" in fields:
        model_config["grid"] = None               # a subset of tiles has no grid
    raw.setdefault("train", {})["device"] = device
    run_dir = out / "run"
    trained = train_for(raw, run_dir, minutes, progress=progress)
    ev = evaluate_run(run_dir, out / "data" / "solared.nc", out / "eval", split="test",
                      device=device)
    m = ev["metrics"]
    summary = {
        "rmse_model": m.get("rmse_model"), "rmse_persistence": m.get("rmse_persistence"),
        "rmse_train_mean": m.get("rmse_train_mean"),
        "skill_vs_persistence": m.get("skill_vs_persistence"),
        "skill_vs_train_mean": m.get("skill_vs_train_mean"),
        "rmse_region_norm_model": m.get("rmse_region_norm_model"),
        "rmse_region_norm_persistence": m.get("rmse_region_norm_persistence"),
        "rmse_region_norm_train_mean": m.get("rmse_region_norm_train_mean"),
        "rmse_intensity_model": m.get("rmse_intensity"), "mae_model": m.get("mae"),
        "cc_model": m.get("cc"),
        "median_lead_time_h": m.get("median_lead_time_h"),
        "n_tiles_onset_reachable": m.get("n_tiles_onset_reachable"),
        "per_region": m.get("per_region", {}),
        "units": f"dataset normalisation ({normalize}, statistics of the training regions); "
                 "region_norm: errors divided by each test region's observed intensity range",
        "model": raw.get("model"), "model_config": raw.get("model_config"),
        "system_config": raw.get("system_config", {}), "data_options": options,
        "steps": int(trained["step"]), "train_seconds": round(trained["seconds"], 1),
        "build_seconds": round(build_seconds, 1), "minutes_budget": float(minutes),
        "window": window, "lead": lead, "stride": stride,
        "regions": {k: v for k, v in splits.items()},
        "n_samples": {s: int((ds["split"].values == s).sum()) for s in ("train", "val", "test")},
        "device": device, "warnings": trained.get("warnings", []) + ev.get("notes", []),
        "eval_split": ev.get("split"), "weights": ev.get("weights"),
    }
    path = out / "summary.json"
    from solarmodels.evaluate import json_ready

    write_text(path, json.dumps(json_ready(summary), indent=2) + "\n")
    return summary
