"""``solarmodels`` command line: environment report (training commands come with the models)."""
import argparse
import json
import platform

from solarprep._version import __version__

__all__ = ["main"]


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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="solarmodels", description=__doc__)
    parser.add_argument("--version", action="version", version=f"solarmodels {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print versions and the training device as JSON")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(json.dumps(environment(), indent=2))
    return 0
