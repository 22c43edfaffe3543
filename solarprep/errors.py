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
    ├── ArchiveError            a data archive refused, failed or answered nonsense
    │   ├── QueryError          an archive query that cannot be built from its arguments
    │   ├── DownloadError       a download that failed (network, partial file, bad content)
    │   └── CacheError          a download cache that cannot be used (disk full, damaged files)
    ├── PrepError               an image that the level-1.5 preparation cannot process
    ├── DeviceError             an unknown device name (argument or SOLARPREP_DEVICE)
    │   └── GPUUnavailableError device="cuda" asked for where no GPU is usable (also a RuntimeError)
    ├── ChunkingError           a chunked (dask) Dataset that an operation cannot take as it is
    ├── QuantityError           a duration or other quantity in a unit that does not fit
    └── PipelineError           a pipeline run or output store that cannot be used or resumed

    SolarDataError also has LightCurveError (a light-curve file that cannot be read) and
    SdomlError (an SDOML zarr store that does not have the SDOML v2 layout).

    SolarprepWarning (UserWarning)
    SolarprepDeprecationWarning (FutureWarning)
"""

__all__ = ["SolarprepError", "SolarDataError", "CadenceError", "DatasetConventionError",
           "GeometryError", "EphemerisError", "PhotometryError", "GoesDataError", "PairError",
           "ScalingError", "NormalizationError", "ArchiveError", "QueryError", "DownloadError",
           "CacheError", "PrepError", "LightCurveError", "SdomlError", "DeviceError",
           "GPUUnavailableError", "ChunkingError", "PipelineError", "QuantityError",
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


class ArchiveError(SolarprepError, ValueError):
    """A data archive (JSOC, the VSO, NOAA, ...) refused a request, failed or answered nonsense."""


class QueryError(ArchiveError):
    """An archive query that cannot be built from the arguments given."""


class DownloadError(ArchiveError):
    """A download that failed: network errors after the retries, a partial or corrupt file."""


class CacheError(ArchiveError):
    """A download cache that cannot be used: a full disk, a damaged file, a broken manifest."""


class PrepError(SolarprepError, ValueError):
    """An image that level-1.5 preparation cannot process; the message says what is missing."""


class LightCurveError(SolarDataError):
    """A light-curve file (EVE, VIRGO, TESS, Kepler, ...) that cannot be read."""


class SdomlError(SolarDataError):
    """An SDOML zarr store that does not follow the SDOML v2 layout, or a selection it lacks."""


class DeviceError(SolarprepError, ValueError):
    """An unknown device name, as an argument or in the ``SOLARPREP_DEVICE`` environment variable."""


class GPUUnavailableError(DeviceError, RuntimeError):
    """``device="cuda"`` (or ``SOLARPREP_DEVICE=cuda``) where CuPy and a CUDA GPU are not usable."""


class ChunkingError(SolarprepError, ValueError):
    """A chunked (dask-backed) Dataset that an operation cannot take as it is.

    Raised for defaults that depend on the whole series (a middle-frame reference time, a
    median over every frame, statistics of the whole split), which a chunked computation
    would otherwise take block by block; the message names the argument to give explicitly.
    """


class PipelineError(SolarprepError, ValueError):
    """A pipeline (``solarprep run``) that cannot run or resume: unknown step, foreign store."""


class QuantityError(SolarprepError, ValueError):
    """A duration, cadence or threshold that cannot be read as the quantity asked for.

    A Quantity in a unit that does not convert (a length given for a duration), a string
    that is no duration (``"eight hours"``), a negative or non-finite value; the message
    names the argument and the forms accepted.
    """


class SolarprepWarning(UserWarning):
    """Something solarprep did that the user should know about (a data gap skipped, say)."""


class SolarprepDeprecationWarning(FutureWarning):
    """A name or module path that still works but will be removed; the message names the new one."""
