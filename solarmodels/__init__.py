"""solarmodels: the networks of the seed systems, trained from solarprep Datasets."""
from solarprep._version import __version__
