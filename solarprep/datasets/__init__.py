"""Model-ready datasets built from solar observations, and the scalings and normalisation they use.

* :func:`build_pairs` (:mod:`.pairs`): co-registered image pairs for image translation
* :mod:`.solared`: the SOLARED acoustic-power timelines and their model-ready form
* :mod:`.scalings`: the instrument scalings of the seed papers
* :mod:`.normalize`: split-aware z-score and min-max normalisation
"""
from solarprep.datasets import normalize, scalings, solared
from solarprep.datasets.pairs import build_pairs

__all__ = ["build_pairs", "solared", "scalings", "normalize"]
