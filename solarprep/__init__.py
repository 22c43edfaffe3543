"""solarprep: solar observations to analysis- and training-ready xarray Datasets."""
from ._version import __version__
