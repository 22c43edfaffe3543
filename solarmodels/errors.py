"""Every exception that solarmodels raises, under :class:`solarprep.errors.SolarprepError`.

The hierarchy::

    SolarprepError                 (solarprep.errors)
    └── SolarmodelsError
        ├── ConfigError            a configuration value or key that is wrong
        │   └── RegistryError      an unknown or duplicate registered name
        ├── MetricError            inputs a metric cannot be computed from
        └── CheckpointError        a checkpoint folder that is missing files or does not match

Each also derives from :class:`ValueError`, as before.
"""
from solarprep.errors import SolarprepError

__all__ = ["SolarmodelsError", "ConfigError", "RegistryError", "MetricError", "CheckpointError"]


class SolarmodelsError(SolarprepError, ValueError):
    """Base class of every error raised on purpose by solarmodels."""


class ConfigError(SolarmodelsError):
    """A configuration value or key that is wrong; the message says how to fix it."""


class RegistryError(ConfigError):
    """An unknown or duplicate name in one of the registries."""


class MetricError(SolarmodelsError):
    """Inputs a metric cannot be computed from (shapes, NaNs, ranges)."""


class CheckpointError(SolarmodelsError):
    """A checkpoint folder that is missing files or does not match the system."""
