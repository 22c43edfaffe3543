"""Model-ready datasets built from solar observations (``solarprep.datasets.solared``: SOLARED)."""
from . import solared

__all__ = ["solared"]
