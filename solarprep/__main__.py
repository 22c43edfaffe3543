"""``python -m solarprep``: the command line (:mod:`solarprep.cli`)."""
from solarprep.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
