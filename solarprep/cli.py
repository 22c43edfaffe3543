"""``solarprep`` command line (also ``python -m solarprep``)."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from solarprep._version import __version__
from solarprep.dataset import as_seconds
from solarprep.errors import QuantityError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _demo(args):
    print("`solarprep demo` moved out of the library: the main job is the gallery runner "
          "`python examples/main_job.py` in a source checkout (what `make demo` runs); see the "
          "README's quick start", file=sys.stderr)
    return 2


def _info(args):
    from solarprep import load, open_dataset

    for path in args.paths:
        ds = open_dataset(path) if str(path).endswith((".nc", ".h5", ".nc4", ".zarr")) \
            else load(path, progress=False)
        print(f"== {path}")
        print(ds)
    return 0


def _convert(args):
    from solarprep import disk_coordinates, load, save

    ds = load(args.inputs if len(args.inputs) > 1 else args.inputs[0])
    if args.disk:
        ds = disk_coordinates(ds)
    save(ds, args.output)
    print(f"wrote {args.output}")
    return 0


def _key_values(items, what):
    out = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"build-pairs: {what} {item!r} must look like NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def _build_pairs(args):
    from solarprep.datasets.pairs import build_pairs, synthetic_pair_sources
    from solarprep.io.storage import save

    inputs = _key_values(args.input, "--input")
    if args.synthetic:
        import numpy as np

        times = [str(np.datetime64("2024-05-01T00:00") + np.timedelta64(6 * k, "h"))
                 for k in range(args.synthetic)]
        kinds = (args.a or "magnetogram").split(",")
        a = {}
        for kind in kinds:
            a[kind], b = synthetic_pair_sources(times, a=kind, b=args.b or "euv171",
                                                shape=args.synthetic_size)
        if len(kinds) == 1:
            a = a[kinds[0]]
    elif inputs and (args.b or args.a):
        a, b = inputs, args.b or args.a
    elif args.a and args.b:
        a, b = args.a, args.b
    else:
        raise SystemExit("build-pairs: give two inputs (FITS globs) A and B, --input NAME=GLOB "
                         "(repeatable) and a target B, or --synthetic N")
    splits = tuple(args.split) if args.split else None
    pair = build_pairs(a, b, shape=args.shape, radius=args.radius, max_dt=args.max_dt,
                       order=args.order, limb_mask=args.limb_mask,
                       scale=_key_values(args.scale, "--scale") or None, splits=splits,
                       progress=not args.no_progress)
    save(pair, args.output)
    split = ""
    if "split" in pair.coords:
        labels = pair["split"].values
        split = " (" + ", ".join(f"{k} {int((labels == k).sum())}"
                                 for k in ("train", "val", "test")) + ")"
    print(f"wrote {args.output}: {pair.sizes['time']} pairs of {list(pair.data_vars)}{split}")
    return 0


def _build_solared(args):
    from solarprep.datasets import solared

    sources = list(args.sources)
    sources += [solared.SyntheticRegion(f"S{k:03d}", seed=k, n_steps=args.synthetic_steps)
                for k in range(args.synthetic)]
    if not sources:
        raise SystemExit("build-solared: give AR folders / .nc timelines or --synthetic N")
    splits = None
    if args.test or args.val:
        names = [solared._as_region(s)[0].removeprefix("AR") for s in sources]
        test = [a.removeprefix("AR") for a in args.test]
        val = [a.removeprefix("AR") for a in args.val]
        splits = {"train": [n for n in names if n not in test + val], "val": val, "test": test}
    ds = solared.build(sources, out=args.out, lead=args.lead, window=args.window, splits=splits,
                       normalize=None if args.normalize == "none" else args.normalize,
                       stride=args.stride, progress=not args.no_progress,
                       resume=not args.no_resume)
    print(f"wrote {args.out}/solared.nc: {ds.sizes['sample']} samples "
          f"(train {int((ds.split == 'train').sum())}, val {int((ds.split == 'val').sum())}, "
          f"test {int((ds.split == 'test').sum())})")
    return 0


def _fetch(args):
    from solarprep.io.archive import estimate_volume, fetch, preset
    from solarprep.io.archive.queries import JsocQuery

    if bool(args.preset) == bool(args.recordset):
        raise SystemExit("fetch: give a preset (" + ", ".join(_preset_names()) + ") or "
                         "--recordset 'series[...]{segment}', not both")
    if args.recordset:
        queries = [JsocQuery(args.recordset, args.recordset.split("[")[0].split("{")[0], 0)]
    else:
        if not (args.start and args.end):
            raise SystemExit("fetch: a preset needs --start and --end (UTC, ISO 8601)")
        center = tuple(float(v) for v in args.center.split(",")) if args.center else None
        queries = preset(args.preset, args.start, args.end, cadence=args.cadence,
                         center=center, size=args.size, min_class=args.min_class)
    for q in queries:
        print(q.key)
    volume = estimate_volume(queries)
    print(f"{len(queries)} queries; expected volume about {volume / 1e9:.3g} GB")
    if args.dry_run:
        return 0
    paths = fetch(queries, args.cache, email=args.email, server=args.server,
                  retries=args.retries, poll=args.poll, progress=not args.no_progress)
    print(f"{len(paths)} files in {args.cache or 'the default cache'}")
    return 0


def _preset_names():
    from solarprep.io.archive import PRESETS

    return sorted(PRESETS)


def _run(args):
    from solarprep.parallel.pipeline import run

    run(args.inputs if len(args.inputs) > 1 else args.inputs[0], args.step, args.output,
        scheduler=args.scheduler, n_workers=args.workers,
        threads_per_worker=args.threads_per_worker, chunks=args.chunks, batch=args.batch,
        overwrite=args.overwrite, device=args.device, progress=not args.no_progress)
    print(f"wrote {args.output}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="solarprep", description=__doc__)
    parser.add_argument("--version", action="version", version=f"solarprep {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="deprecated: the main job is `make demo` "
                                       "(python examples/main_job.py)")
    demo.add_argument("rest", nargs=argparse.REMAINDER)
    demo.set_defaults(func=_demo)

    info = sub.add_parser("info", help="load FITS or solarprep files and print the Dataset")
    info.add_argument("paths", nargs="+")
    info.set_defaults(func=_info)

    convert = sub.add_parser("convert", help="FITS files to one netCDF/zarr solar Dataset")
    convert.add_argument("inputs", nargs="+", help="FITS files or a quoted glob pattern")
    convert.add_argument("-o", "--output", required=True, help="output .nc or .zarr")
    convert.add_argument("--disk", action="store_true", help="add mu / lat / lon coordinates")
    convert.set_defaults(func=_convert)

    pairs = sub.add_parser("build-pairs", help="co-register two instruments on one disk-centred "
                                                "grid (fixed disk radius, north up)")
    pairs.add_argument("a", nargs="?", help="input FITS files (quoted glob), or with --synthetic "
                                            "a kind: magnetogram, continuum, euv171, ... "
                                            "(comma-separated for several channels)")
    pairs.add_argument("b", nargs="?", help="target FITS files (quoted glob) or synthetic kind")
    pairs.add_argument("-o", "--output", required=True, help="output .nc or .zarr")
    pairs.add_argument("--shape", type=int, default=1024, help="output size (default 1024)")
    pairs.add_argument("--radius", type=float, default=392.0,
                       help="disk radius in output pixels (default 392)")
    pairs.add_argument("--max-dt", type=_duration, default=600.0,
                       help="largest time difference of a pair: seconds or a duration such as "
                            "10min (default 600)")
    pairs.add_argument("--order", type=int, default=1, help="interpolation order (default 1)")
    pairs.add_argument("--limb-mask", type=float, default=None,
                       help="NaN beyond this fraction of the radius (e.g. 0.99)")
    pairs.add_argument("--synthetic", type=int, default=0,
                       help="make N pairs from the synthetic Sun instead of reading files")
    pairs.add_argument("--synthetic-size", type=int, default=512,
                       help="synthetic input image size (default 512)")
    pairs.add_argument("--input", action="append", metavar="NAME=GLOB",
                       help="one input channel (repeatable: several passbands, e.g. --input "
                            "euv304='aia304*.fits' --input euv193='aia193*.fits'); B is then the "
                            "only positional argument, the target")
    pairs.add_argument("--scale", action="append", metavar="VARIABLE=SCALING",
                       help="scale a paired variable to [-1, 1] with a solarprep scaling "
                            "(aia_log2, hmi_3000, hmi_100, euv_median_log10; repeatable)")
    pairs.add_argument("--split", type=float, nargs=3, metavar=("TRAIN", "VAL", "TEST"),
                       help="fractions of train/val/test as contiguous blocks in time "
                            "(e.g. 0.8 0.1 0.1); written as the 'split' coordinate")
    pairs.add_argument("--no-progress", action="store_true", help="no progress bars")
    pairs.set_defaults(func=_build_pairs)
    sol = sub.add_parser("build-solared", help="SOLARED model-ready dataset from AR timelines "
                                               "(.npz folders, .nc) or synthetic regions")
    sol.add_argument("sources", nargs="*", help="AR folders of SOLARED .npz files or .nc timelines")
    sol.add_argument("-o", "--out", required=True, help="output folder (regions/ + solared.nc)")
    sol.add_argument("--lead", type=_duration, default=12,
                     help="target steps after the window, or a duration such as 12h (12)")
    sol.add_argument("--window", type=_duration, default=120,
                     help="input steps per sample, or a duration such as 5d (120)")
    sol.add_argument("--stride", type=int, default=1, help="steps between samples (1)")
    sol.add_argument("--test", nargs="*", default=[], help="ARs of the test split")
    sol.add_argument("--val", nargs="*", default=[], help="ARs of the validation split")
    sol.add_argument("--normalize", choices=["zscore", "minmax", "none"], default="zscore")
    sol.add_argument("--synthetic", type=int, default=0, help="add N synthetic active regions")
    sol.add_argument("--synthetic-steps", type=int, default=160, help="steps per synthetic AR")
    sol.add_argument("--no-resume", action="store_true", help="recompute finished regions")
    sol.add_argument("--no-progress", action="store_true", help="no progress bars")
    sol.set_defaults(func=_build_solared)
    fet = sub.add_parser("fetch", help="download a seed's data selection (preset) or a JSOC "
                                       "record set into the download cache (docs/data_jsoc.md)")
    fet.add_argument("preset", nargs="?", help="park2019, farside, lightcurve, ddpm or solared "
                                               "(docs/data_presets.md)")
    fet.add_argument("--recordset", help="a JSOC record set instead of a preset")
    fet.add_argument("--start", help="UTC start, ISO 8601")
    fet.add_argument("--end", help="UTC end, ISO 8601")
    fet.add_argument("--cadence", help="step between records, e.g. 6h (preset default)")
    fet.add_argument("--center", help="solared: LON,LAT of the active region (Stonyhurst deg)")
    fet.add_argument("--size", type=int, default=None, help="solared: cut-out size, px (512)")
    fet.add_argument("--min-class", default=None, help="ddpm: smallest HEK flare class (C1.0)")
    fet.add_argument("--cache", default=None, help="cache folder (default $SOLARPREP_CACHE or "
                                                   "~/.cache/solarprep/archive)")
    fet.add_argument("--email", default=None, help="JSOC-registered e-mail ($JSOC_EMAIL)")
    fet.add_argument("--server", default=None, help="JSOC-like server base URL "
                                                    "($SOLARPREP_JSOC_URL)")
    fet.add_argument("--retries", type=int, default=4, help="retries per file (4)")
    fet.add_argument("--poll", type=_duration, default=5.0,
                     help="between JSOC export status requests: seconds or a duration (5)")
    fet.add_argument("--dry-run", action="store_true", help="print the queries and the expected "
                                                            "volume, download nothing")
    fet.add_argument("--no-progress", action="store_true", help="no progress bars")
    fet.set_defaults(func=_fetch)

    run = sub.add_parser(
        "run", help="process a large archive on dask: FITS files through steps into zarr "
                    "(streaming, resumable; docs/parallel.md)")
    run.add_argument("inputs", nargs="+", help="FITS files or a quoted glob pattern")
    run.add_argument("-o", "--output", required=True, help="output .zarr store (path or URL)")
    run.add_argument("-s", "--step", action="append", default=[],
                     help="a step, in order, e.g. derotate:to=2011-02-15T12:00, limb-darkening, "
                          "foreshortening, disk-coordinates, scale:scaling=aia_log2, "
                          "regrid:shape=1024, doppler-difference, power-maps:window=8h,step=1h")
    run.add_argument("--scheduler", default="local",
                     help="tcp://host:8786 (a running dask scheduler), local (a local cluster, "
                          "default), threads (no cluster) or synchronous")
    run.add_argument("--workers", type=int, default=None,
                     help="workers of the local cluster (default: one per core, or per GPU)")
    run.add_argument("--threads-per-worker", type=int, default=1,
                     help="threads of each worker, numba gets as many (default 1)")
    run.add_argument("--chunks", type=int, default=4, help="frames per chunk (default 4)")
    run.add_argument("--batch", type=int, default=None,
                     help="frames appended at a time (default: 4 chunks per worker)")
    run.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                     help="cuda: chunks on the GPUs of a dask-cuda cluster")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the output (default: resume it if the same job wrote it)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.set_defaults(func=_run)
    return parser


def _duration(text):
    """A command-line duration: a number as it is (its option's unit: s or steps), or a
    duration string (``10min``, ``12h``) checked here and passed on."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    try:
        as_seconds(text, "duration")
    except QuantityError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("numba", "matplotlib", "h5py", "fsspec", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return args.func(args)
