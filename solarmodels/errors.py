"""Every exception that solarmodels raises, under :class:`solarprep.errors.SolarprepError`.

The hierarchy::

    SolarprepError                 (solarprep.errors)
    └── SolarmodelsError
        ├── ConfigError            a configuration value or key that is wrong
        │   └── RegistryError      an unknown or duplicate registered name
        ├── MetricError            inputs a metric cannot be computed from
        ├── CheckpointError        a checkpoint folder that is missing files or does not match
        ├── DistributedError       a torchrun / process-group environment that cannot be used
        └── NonFiniteLossError     a NaN or infinite training loss (also a FloatingPointError)

Each also derives from :class:`ValueError`, as before.
"""
from solarprep.errors import SolarprepError

__all__ = ["SolarmodelsError", "ConfigError", "RegistryError", "MetricError", "CheckpointError",
           "DistributedError", "NonFiniteLossError"]


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


class DistributedError(SolarmodelsError):
    """A distributed launch that cannot work (incomplete torchrun environment, too few GPUs,
    a checkpoint of another parallel layout); the message says what to change."""


class NonFiniteLossError(SolarmodelsError, FloatingPointError):
    """A training loss that became NaN or infinite; names the optimiser and the first bad step."""
