"""``python -m solarmodels``: the command line, as ``torchrun -m solarmodels train CONFIG`` starts it."""
import sys

from solarmodels.cli import main

if __name__ == "__main__":
    sys.exit(main())
