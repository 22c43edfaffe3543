"""``solarmodels`` command line: list | train CONFIG | evaluate RUN DATA | predict RUN INPUT | info.

Examples::

    solarmodels list --family translation
    solarmodels train configs/pix2pix_b_hmi_aia171.toml --run-dir runs/p2p --set train.steps=2000
    torchrun --standalone --nproc_per_node=4 -m solarmodels train CONFIG --run-dir runs/p2p
    solarmodels evaluate runs/p2p pairs_test.nc --out runs/p2p/eval
    solarmodels predict runs/p2p hmi_frames.nc --out aia171_pred.nc
"""
import argparse
import json
import logging
import os
import platform
import sys

from solarprep._version import __version__

__all__ = ["main", "environment"]


def environment():
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
        result = train_run(args.config, run_dir, overrides=overrides, resume=not args.no_resume)
    finally:
        distributed.shutdown()
    if _rank() == 0:
        print(json.dumps(result, indent=2, default=str))
    return 0


def _evaluate(args):
    from solarmodels.evaluate import evaluate_run  # SOLARED runs here, pair runs in _runs

    out = args.out or f"{args.run}/eval"
    result = evaluate_run(args.run, args.data, out, split=args.split, figures=args.figures,
                          data_range=args.data_range, device=args.device or "cpu",
                          disk_radius=args.disk_radius)
    print(json.dumps(result, indent=2))
    return 0


def _predict(args):
    from solarmodels._runs import predict_file

    path = predict_file(args.run, args.input, args.out, device=args.device or "cpu",
                        physical=args.physical)
    print(json.dumps({"output": str(path)}))
    return 0


def main(argv=None):
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
    p = sub.add_parser("evaluate", help="metrics table and comparison figures of a trained run")
    p.add_argument("run", help="run folder")
    p.add_argument("data", help="pair file (.nc/.zarr) or 'config' for the run's own data")
    p.add_argument("--out", help="output folder (default RUN/eval)")
    p.add_argument("--split", default="val", help="split to evaluate (default val)")
    p.add_argument("--figures", type=int, default=4, help="comparison figures to write")
    p.add_argument("--data-range", type=float, default=2.0,
                   help="data range for PSNR/SSIM (2 for data scaled to [-1, 1])")
    p.add_argument("--disk-radius", type=float,
                   help="disk radius in px for the physical metrics (default: the file's "
                        "disk_radius_px, else 392 at 1024²)")
    p.add_argument("--device", help="cpu (default) or cuda")
    p = sub.add_parser("predict", help="run a trained network over the frames of a file")
    p.add_argument("run", help="run folder")
    p.add_argument("input", help="netCDF/zarr file with the run's input variables")
    p.add_argument("--out", required=True, help="output netCDF file")
    p.add_argument("--physical", action="store_true",
                   help="undo the target's solarprep scaling (e.g. back to DN or gauss)")
    p.add_argument("--device", help="cpu (default) or cuda")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose and _rank() == 0 else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "info":
        print(json.dumps(environment(), indent=2))
        return 0
    handler = {"list": _list, "train": _train, "evaluate": _evaluate, "predict": _predict}
    try:
        return handler[args.command](args)
    except (ValueError, FileNotFoundError) as exc:  # ConfigError, CheckpointError, data errors
        if args.verbose:
            raise
        print(f"solarmodels {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
