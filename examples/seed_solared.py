"""Seed 5: SOLARED emergence forecasts against baselines
=====================================================

Tutorial, seed 5: SOLARED emergence forecasts on the real active regions, against baselines.

What a user types (``runs/solared`` here)::

    # 1-4 in one command: build the model-ready dataset from the real SOLARED timelines, split by
    #    region (normalisation statistics of the training regions only), train for at most M
    #    minutes, evaluate on the test regions against persistence (the last observed intensity)
    #    and the per-tile training mean; summary.json with the skill scores
    solarmodels solared-benchmark ../shared/data/real/solared/AR1* --test \\
        ../shared/data/real/solared/AR12864 ../shared/data/real/solared/AR12877 \\
        --config configs/solared_attention_skill_cpu.toml --minutes 3 --out runs/solared
    # (configs/solared_attention_cpu.toml is the seed's five-channel setting, for comparison)
    # (solarprep build-solared + solarmodels train/evaluate do the same steps one by one)
    # 5. forecasts in SOLARED intensity units for an active region, with the run's normalisation
    solarmodels predict runs/solared/run ../shared/data/real/solared/AR12864 \\
        --out runs/solared/ar12864.nc

The configuration is the variant with skill over persistence (``docs/solared_models.md``: the
continuum-intensity history as a sixth channel and the change from the last observation as the
target); the tutorial reports the model next to both baselines whatever the outcome.
"""
import logging
import pathlib

from _gallery import CONFIGS, cli, demo_step_of, step

__all__ = ["demo_step", "run", "summarise"]

log = logging.getLogger(__name__)

DEMO = {"train": 8, "test": 2, "minutes": 0.75, "stride": 2,
        "config": "solared_attention_skill_cpu.toml", "set": []}
TOY = {"train": 2, "test": 1, "minutes": 0.02, "stride": 6,
       "config": "solared_attention_skill_cpu.toml",
       "set": ["model_config.d_model=8", "model_config.dim_feedforward=16",
               "model_config.nhead=2"]}


def _regions():
    from solarprep.io import real_data_dir

    folder = real_data_dir()
    if folder is None or not (folder / "solared").is_dir():
        return []
    return sorted(p for p in (folder / "solared").iterdir() if p.is_dir())


def run(out, *, toy=False, progress=False) -> dict:
    """The command-line path of this tutorial into ``out``; the results of each command."""
    p = TOY if toy else DEMO
    regions = _regions()
    if len(regions) < p["train"] + p["test"]:
        raise FileNotFoundError("the real SOLARED timelines (../shared/data/real/solared) are "
                                "needed for this tutorial")
    out = pathlib.Path(out) / "solared_benchmark"
    test = regions[-p["test"]:]
    train = regions[:p["train"]]
    sets = []
    for item in p["set"]:
        sets += ["--set", item]
    res = {"benchmark": cli(["solared-benchmark", *train, "--test", *test, "--minutes",
                             p["minutes"], "--config", CONFIGS / p["config"], "--stride",
                             p["stride"], "--out", out, *sets])}
    res["summary"] = out / "summary.json"
    res["predict"] = cli(["predict", out / "run", test[0], "--out",
                          out.parent / f"solared_forecast_{test[0].name}.nc"])
    res["regions"] = {"train": [r.name for r in train], "test": [r.name for r in test]}
    return res


def summarise(res, out, tic=None) -> dict:
    """The main-job row of the results of :func:`run`: metrics beside their baselines."""
    import json

    out = pathlib.Path(out)
    s = json.loads(pathlib.Path(res["summary"]).read_text())
    keys = ("rmse_model", "rmse_persistence", "rmse_train_mean", "skill_vs_persistence",
            "skill_vs_train_mean", "rmse_region_norm_model", "rmse_region_norm_persistence",
            "median_lead_time_h", "n_tiles_onset_reachable", "steps", "model")
    metrics = {k: s.get(k) for k in keys}
    metrics["regions"] = res["regions"]
    eval_dir = pathlib.Path(res["summary"]).parent / "eval"
    files = [res["summary"], *sorted(str(f) for f in eval_dir.glob("*.png")),
             *res["predict"]["files"]]
    note = (f"{s['model']}, {s['steps']} steps on {len(res['regions']['train'])} real regions, "
            f"test {', '.join(res['regions']['test'])}: RMSE {s['rmse_model']:.3f} vs "
            f"persistence {s['rmse_persistence']:.3f}, training mean {s['rmse_train_mean']:.3f} "
            f"(z-score units); skill vs persistence {s['skill_vs_persistence']:.2f}")
    row = step("solared", tic, files, metrics, note)
    row["versus"] = [{"model": s["model"], "metric": "RMSE (z-score)", "value": s["rmse_model"],
                      "baselines": {"persistence": s["rmse_persistence"],
                                    "train_mean": s["rmse_train_mean"]}}]
    return row


demo_step = demo_step_of(run, summarise)
