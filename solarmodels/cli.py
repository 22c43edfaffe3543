"""``solarmodels`` command line: list | train | evaluate | predict | sample | solared-benchmark | info.

Examples::

    solarmodels list --family translation
    solarmodels train configs/pix2pix_b_hmi_aia171_cpu.toml --run-dir runs/p2p --steps 200
    torchrun --standalone --nproc_per_node=4 -m solarmodels train CONFIG --run-dir runs/p2p
    solarmodels evaluate runs/p2p config                     # the run's own data, test split
    solarmodels evaluate runs/p2p pairs_test.nc --out runs/p2p/eval
    solarmodels predict runs/p2p hmi_frames.nc --out aia171_pred.nc [--physical]
    solarmodels predict runs/solared ../shared/data/real/solared/AR11158 --out ar11158.nc
    solarmodels sample runs/ddpm --class M --n 16 --out m_class.nc
    solarmodels sample runs/video --lightcurve goes.nc --out video.nc
    solarmodels solared-benchmark AR1 AR2 ... --test AR9 --minutes 5 --out bench/solared

``evaluate`` scores the test split by default (the validation split when the data have none);
each run kind reports its seed's metrics with trivial baselines beside them (``summary.json``).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from typing import TYPE_CHECKING, Any

from solarprep._version import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main", "environment"]


def environment() -> dict[str, Any]:
    """Versions and the compute device torch would train on, as a dict."""
    info = {"solarmodels": __version__, "python": platform.python_version()}
    try:
        import torch
    except ImportError:
        info["torch"] = None
        info["device"] = "unavailable (install torch first: pip install torch==2.13.0)"
        return info
    info["torch"] = torch.__version__
    if torch.cuda.is_available():
        info["device"] = f"cuda: {torch.cuda.get_device_name(0)}"
        info["cuda"] = torch.version.cuda
    else:
        info["device"] = f"cpu ({torch.get_num_threads()} threads)"
    return info


def _list(args):
    from solarmodels import registry

    rows = [{"name": n, "family": registry.model_entry(n).family,
             "description": registry.model_entry(n).description}
            for n in registry.list_models(args.family)]
    out = {"models": rows, "systems": registry.list_systems(), "datasets": registry.list_datasets()}
    errors = registry.discovery_errors()
    if errors:
        out["import_errors"] = errors
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    width = max([len(r["name"]) for r in rows] + [4])
    for r in rows:
        print(f"{r['name']:<{width}}  {r['family']:<12}  {r['description']}")
    print(f"\nsystems:  {', '.join(out['systems'])}")
    print(f"datasets: {', '.join(out['datasets'])}")
    for name, err in errors.items():
        print(f"warning: {name} failed to import: {err}", file=sys.stderr)
    return 0


def _rank() -> int:
    """This process's rank under torchrun (0 otherwise)."""
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0


def _train(args):
    from solarmodels import distributed
    from solarmodels._runs import train_run
    from solarmodels.config import default_run_dir, load_config

    overrides = list(args.set or [])
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    if args.minutes is not None:
        overrides.append(f"train.minutes={args.minutes}")
    if args.device:
        overrides.append(f"train.device=\"{args.device}\"")
    run_dir = args.run_dir
    if run_dir is None:
        run_dir = default_run_dir(load_config(args.config, overrides), source=args.config)
    try:
        result = train_run(args.config, run_dir, overrides=overrides, resume=not args.no_resume,
                           allow_unscaled=args.allow_unscaled)
    finally:
        distributed.shutdown()
    if _rank() == 0:
        for text in result.get("warnings", []):
            print(f"solarmodels train: warning: {text}", file=sys.stderr)
        print(json.dumps(result, indent=2, default=str))
    return 0


def _evaluate(args):
    from solarmodels.config import ConfigError, parse_value
    from solarmodels.evaluate import evaluate_run

    out = args.out or f"{args.run}/eval"
    options = {}
    if args.feature_extractor:
        options.update(feature_extractor=args.feature_extractor,
                       feature_size=args.feature_size, feature_rgb=args.feature_rgb)
    if args.n_samples is not None:
        options["n_samples"] = args.n_samples
    for item in args.option or ():
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--option {item!r} must look like KEY=VALUE")
        options[key.strip()] = parse_value(text.strip())
    result = evaluate_run(args.run, args.data, out, split=args.split, figures=args.figures,
                          data_range=args.data_range, device=args.device or "cpu",
                          disk_radius=args.disk_radius, weights=args.weights, **options)
    for text in result.get("notes", []):
        print(f"solarmodels evaluate: note: {text}", file=sys.stderr)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _predict(args):
    from solarmodels._runs import open_run

    ctx = open_run(args.run, device=args.device or "cpu")
    source = args.input[0] if len(args.input) == 1 else list(args.input)
    options = {"physical": args.physical} if args.physical else {}
    result = ctx.system.predict_file(ctx, source, args.out, **options)
    print(json.dumps(result, default=str))
    return 0


def _sample(args):
    from solarmodels._runs import open_run

    ctx = open_run(args.run, device=args.device or "cpu")
    options = {"seed": args.seed, "steps": args.sample_steps, "guidance_scale": args.guidance}
    if args.goes_class is not None:
        options.update(goes_class=args.goes_class, n=args.n)
    if args.lightcurve is not None:
        options.update(lightcurve=args.lightcurve, variable=args.variable)
    result = ctx.system.sample_file(ctx, args.out, **options)
    print(json.dumps(result, default=str))
    return 0


def _solared_benchmark(args):
    from solarmodels.benchmark import solared_benchmark

    summary = solared_benchmark(args.train, args.test, out=args.out, minutes=args.minutes,
                                config=args.config, val_dirs=args.val or (),
                                window=args.window, lead=args.lead, stride=args.stride,
                                device=args.device or "cpu", overrides=args.set,
                                progress=args.progress)
    keys = ("rmse_model", "rmse_persistence", "rmse_train_mean", "skill_vs_persistence",
            "skill_vs_train_mean", "steps", "train_seconds")
    print(json.dumps({k: summary[k] for k in keys} | {"summary": f"{args.out}/summary.json"},
                     indent=2, default=str))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="solarmodels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"solarmodels {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print versions and the training device as JSON")
    p = sub.add_parser("list", help="registered models, systems and datasets")
    p.add_argument("--family", help="only this model family (translation, solared, diffusion...)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("train", help="train the run described by a TOML/YAML/JSON config")
    p.add_argument("config", help="run configuration file")
    p.add_argument("--run-dir", help="run folder (default runs/<name>)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-3 (repeatable)")
    p.add_argument("--steps", type=int, help="shorthand for --set train.steps=N")
    p.add_argument("--minutes", type=float,
                   help="time budget: stop (with a checkpoint) after the step that passes it")
    p.add_argument("--device", help="shorthand for --set train.device=...")
    p.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")
    p.add_argument("--allow-unscaled", action="store_true",
                   help="train even if the data are not scaled the way the system expects "
                        "(a loud warning instead of an error)")
    p = sub.add_parser("evaluate", help="the seed's metrics with baselines for a trained run")
    p.add_argument("run", help="run folder")
    p.add_argument("data", nargs="?", default="config",
                   help="data file (pair file, SOLARED model-ready file, ...) or 'config' for "
                        "the run's own data (default)")
    p.add_argument("--out", help="output folder (default RUN/eval)")
    p.add_argument("--split", default="test",
                   help="split to evaluate (default test; val when the data have no test)")
    p.add_argument("--weights", choices=["both", "ema", "raw"], default="both",
                   help="with an EMA in the checkpoint: score both (default) or one")
    p.add_argument("--n-samples", type=int, help="generative runs: samples drawn")
    p.add_argument("--feature-extractor", metavar="FILE",
                   help="DDPM: torch.export (.pt2) or TorchScript feature extractor for FID/KID "
                        "(e.g. Inception-v3 without its classifier); default the small "
                        "in-project encoder")
    p.add_argument("--feature-size", type=int, help="resize for the extractor (299 Inception)")
    p.add_argument("--feature-rgb", action="store_true", help="repeat grey images to RGB")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="another evaluation option (solarmodels.evaluate.EvalOptions), e.g. "
                        "--option encoder_steps=100 --option f1_steps=100 (repeatable)")
    p.add_argument("--figures", type=int, default=4, help="comparison figures to write")
    p.add_argument("--data-range", type=float, default=2.0,
                   help="data range for PSNR/SSIM (2 for data scaled to [-1, 1])")
    p.add_argument("--disk-radius", type=float,
                   help="disk radius in px for the physical metrics (default: the file's "
                        "disk_radius_px, else 392 at 1024²)")
    p.add_argument("--device", help="cpu (default) or cuda")
    p = sub.add_parser("predict", help="apply a trained run to a data file (Dataset + figure)")
    p.add_argument("run", help="run folder")
    p.add_argument("input", nargs="+",
                   help="translation: netCDF/zarr with the run's input variables; SOLARED: a "
                        "model-ready file or AR folders; DDPM: a GOES/XRS file; video: a light "
                        "curve")
    p.add_argument("--out", required=True, help="output netCDF file (a PNG is written beside)")
    p.add_argument("--physical", action="store_true",
                   help="translation: undo the target's solarprep scaling (DN, gauss)")
    p.add_argument("--device", help="cpu (default) or cuda")
    p = sub.add_parser("sample", help="generate with a trained generative run (Dataset + figure)")
    p.add_argument("run", help="run folder")
    p.add_argument("--class", dest="goes_class", help="DDPM: GOES class (A, B, C, M, X)")
    p.add_argument("--n", type=int, default=16, help="DDPM: number of images (16)")
    p.add_argument("--lightcurve", help="video: light-curve file (netCDF, GOES/XRS, ...)")
    p.add_argument("--variable", help="video: variable of the light-curve file")
    p.add_argument("--seed", type=int, default=0, help="noise seed (0)")
    p.add_argument("--sample-steps", type=int, help="sampler steps (default: the run's)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the run's)")
    p.add_argument("--out", required=True, help="output netCDF file (a PNG is written beside)")
    p.add_argument("--device", help="cpu (default) or cuda")
    p = sub.add_parser("solared-benchmark",
                       help="SOLARED: build by region, train <= M minutes, score vs baselines")
    p.add_argument("train", nargs="+", help="training AR folders")
    p.add_argument("--test", nargs="+", required=True, help="test AR folders")
    p.add_argument("--val", nargs="*", help="validation AR folders (optional)")
    p.add_argument("--minutes", type=float, default=5.0, help="training budget (5 min)")
    p.add_argument("--out", required=True, help="output folder (summary.json, data/, run/, eval/)")
    p.add_argument("--config", help="SOLARED run config (default: a CPU-sized attention model)")
    p.add_argument("--window", type=int, help="input steps per sample (default: the config's)")
    p.add_argument("--lead", type=int, help="forecast lead in steps (default: the config's)")
    p.add_argument("--stride", type=int, help="steps between samples (default: the config's)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override")
    p.add_argument("--device", help="cpu (default) or cuda")
    p.add_argument("--progress", action="store_true", help="progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose and _rank() == 0 else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "info":
        print(json.dumps(environment(), indent=2))
        return 0
    handler = {"list": _list, "train": _train, "evaluate": _evaluate, "predict": _predict,
               "sample": _sample, "solared-benchmark": _solared_benchmark}
    try:
        return handler[args.command](args)
    except (ValueError, FileNotFoundError) as exc:  # ConfigError, CheckpointError, data errors
        if args.verbose:
            raise
        print(f"solarmodels {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
