"""Every exception and warning that solarprep raises, under one base class.

Catch :class:`SolarprepError` to handle anything the library refuses; each
subclass also derives from :class:`ValueError`, so code written against the
earlier, unrelated ``ValueError`` subclasses keeps working. Messages name the
file or variable, what was wrong and how to fix it.

The hierarchy::

    SolarprepError
    ├── SolarDataError          an input that cannot be read into a solar Dataset
    │   └── CadenceError        a time axis that is not increasing or not regular
    ├── DatasetConventionError  a Dataset that breaks the convention (docs/dataset.md)
    ├── GeometryError           a header or Dataset whose geometry cannot be used
    ├── EphemerisError          no known position for an observer
    ├── PhotometryError         an input photometry cannot use
    ├── GoesDataError           a GOES/XRS file or Dataset that cannot be used
    ├── PairError               inputs that cannot be co-registered into pairs
    ├── ScalingError            an instrument scaling that cannot be applied
    ├── NormalizationError      a split or statistics that cannot normalise the data
    ├── ChunkingError           a chunked (dask) Dataset that an operation cannot take as it is
    └── PipelineError           a pipeline run or output store that cannot be used or resumed

    SolarprepWarning (UserWarning)
    SolarprepDeprecationWarning (FutureWarning)
"""

__all__ = ["SolarprepError", "SolarDataError", "CadenceError", "DatasetConventionError",
           "GeometryError", "EphemerisError", "PhotometryError", "GoesDataError", "PairError",
           "ScalingError", "NormalizationError", "ChunkingError", "PipelineError",
           "SolarprepWarning",
           "SolarprepDeprecationWarning"]


class SolarprepError(Exception):
    """Base class of every error raised on purpose by solarprep (and solarmodels)."""


class SolarDataError(SolarprepError, ValueError):
    """An input that cannot be read into a solar Dataset; the message names the file and the fix."""


class CadenceError(SolarDataError):
    """A time axis that is not increasing, or not on a regular cadence."""


class DatasetConventionError(SolarprepError, ValueError):
    """A Dataset that does not follow the solar Dataset convention (``docs/dataset.md``)."""


class GeometryError(SolarprepError, ValueError):
    """A header or Dataset whose geometry cannot be used."""


class EphemerisError(SolarprepError, ValueError):
    """No position is known for an observer at the time asked for."""


class PhotometryError(SolarprepError, ValueError):
    """An input that photometry cannot use; the message says what was wrong and what to do."""


class GoesDataError(SolarprepError, ValueError):
    """A GOES/XRS file or Dataset that cannot be used; the message names the problem and the fix."""


class PairError(SolarprepError, ValueError):
    """Inputs that cannot be paired (no frames within the time tolerance, bad sizes)."""


class ScalingError(SolarprepError, ValueError):
    """A scaling that cannot be applied (unknown name, wrong units, missing median)."""


class NormalizationError(SolarprepError, ValueError):
    """A split or statistics that cannot normalise the data."""


class ChunkingError(SolarprepError, ValueError):
    """A chunked (dask-backed) Dataset that an operation cannot take as it is.

    Raised for defaults that depend on the whole series (a middle-frame reference time, a
    median over every frame, statistics of the whole split), which a chunked computation
    would otherwise take block by block; the message names the argument to give explicitly.
    """


class PipelineError(SolarprepError, ValueError):
    """A pipeline (``solarprep run``) that cannot run or resume: unknown step, foreign store."""


class SolarprepWarning(UserWarning):
    """Something solarprep did that the user should know about (a data gap skipped, say)."""


class SolarprepDeprecationWarning(FutureWarning):
    """A name or module path that still works but will be removed; the message names the new one."""
