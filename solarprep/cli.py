"""``solarprep`` command line (also ``python -m solarprep``)."""
import argparse
import logging
import sys

from ._version import __version__

__all__ = ["main"]


def _demo(args):
    from .demo import run_demo

    summary = run_demo(args.out, size=args.size, frames=args.frames, real_data=args.real_data,
                       progress=not args.no_progress)
    print(f"demo finished in {summary['seconds']:.1f} s: {len(summary['datasets'])} Datasets, "
          f"figures and summary.md under {summary['out']}")
    return 0


def _info(args):
    from . import load, open_dataset

    for path in args.paths:
        ds = open_dataset(path) if str(path).endswith((".nc", ".h5", ".nc4", ".zarr")) \
            else load(path, progress=False)
        print(f"== {path}")
        print(ds)
    return 0


def _convert(args):
    from . import disk_coordinates, load, save

    ds = load(args.inputs if len(args.inputs) > 1 else args.inputs[0])
    if args.disk:
        ds = disk_coordinates(ds)
    save(ds, args.output)
    print(f"wrote {args.output}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="solarprep", description=__doc__)
    parser.add_argument("--version", action="version", version=f"solarprep {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the pipeline end to end on the embedded default data")
    demo.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    demo.add_argument("--size", type=int, default=512,
                      help="synthetic image size in pixels (default: 512)")
    demo.add_argument("--frames", type=int, default=64,
                      help="frames of the synthetic 45 s Dopplergram cube (default: 64)")
    demo.add_argument("--real-data", default=None,
                      help="folder of the real samples (default: ../shared/data/real if present)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    info = sub.add_parser("info", help="load FITS or solarprep files and print the Dataset")
    info.add_argument("paths", nargs="+")
    info.set_defaults(func=_info)

    convert = sub.add_parser("convert", help="FITS files to one netCDF/zarr solar Dataset")
    convert.add_argument("inputs", nargs="+", help="FITS files or a quoted glob pattern")
    convert.add_argument("-o", "--output", required=True, help="output .nc or .zarr")
    convert.add_argument("--disk", action="store_true", help="add mu / lat / lon coordinates")
    convert.set_defaults(func=_convert)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("numba", "matplotlib", "h5py", "fsspec", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return args.func(args)
