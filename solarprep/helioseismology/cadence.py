"""Cadence of a time series and its placement on a regular time grid, with the gaps found.

Differencing (:mod:`solarprep.helioseismology.doppler`), power maps
(:mod:`solarprep.helioseismology.power`) and the SOLARED builder all need frames on a
regular grid ``t₀ + n·cadence``: :func:`frame_cadence` finds the cadence and
:func:`regular_grid` the slot of every frame, a missing slot being a gap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solarprep.dataset import as_seconds
from solarprep.errors import CadenceError

if TYPE_CHECKING:
    import numpy.typing as npt

    from solarprep.dataset import Duration

__all__ = ["frame_cadence", "regular_grid", "cadence_fraction"]


def _seconds(times):
    t = np.asarray(times)
    if np.issubdtype(t.dtype, np.datetime64):
        return (t - t[0]).astype("timedelta64[ns]").astype(np.float64) / 1e9
    return np.asarray(t, dtype=np.float64) - float(t[0])


def frame_cadence(times: npt.ArrayLike, cadence: Duration | None = None) -> tuple[float, np.ndarray]:
    """Cadence of a time axis (s) and the positions of its gaps.

    Parameters
    ----------
    times : array_like
        datetime64 or seconds, one per frame.
    cadence : astropy.units.Quantity, str or float, optional
        Known cadence (``45 * u.s``, ``"45s"``, or seconds); by default the median of the time steps no longer
        than 1.5 × the shortest one (so that gaps do not bias it) when most steps are
        multiples of it; otherwise (a jittered series, whose shortest step says nothing)
        the mean of the steps between 0.5 and 1.5 × the median step.

    Returns
    -------
    cadence : float
        Seconds.
    steps : numpy.ndarray
        The ``len(times) − 1`` steps, s.

    Raises
    ------
    CadenceError
        With fewer than two frames, or if the times do not increase.
    """
    t = _seconds(times)
    if t.size < 2:
        raise CadenceError(f"need at least two frames to find a cadence, got {t.size}")
    steps = np.diff(t)
    if np.any(steps <= 0):
        bad = int(np.argmax(steps <= 0))
        raise CadenceError(f"times must increase strictly: frame {bad + 1} is not after frame "
                           f"{bad} (step {steps[bad]:g} s); sort the frames and drop duplicates")
    if cadence is None:
        cadence = _detect_cadence(steps)
    cadence = as_seconds(cadence, "cadence")
    if not cadence > 0:
        raise CadenceError(f"cadence must be positive, not {cadence!r}")
    return cadence, steps


def _detect_cadence(steps):
    cadence = float(np.median(steps[steps <= 1.5 * steps.min()]))
    ratio = steps / cadence
    if np.mean(np.abs(ratio - np.rint(ratio)) <= 0.1) >= 0.5:  # gaps are multiples of it
        return cadence
    typical = float(np.median(steps))      # jitter: the mean of the steps near the median
    return float(np.mean(steps[(steps >= 0.5 * typical) & (steps <= 1.5 * typical)]))


def regular_grid(times: npt.ArrayLike, cadence: Duration | None = None, *,
                 tolerance: Duration = 0.05) -> tuple[float, np.ndarray, np.ndarray]:
    """Place every frame on a regular grid ``t₀ + n·cadence``; missing slots are gaps.

    Parameters
    ----------
    times : array_like
        datetime64 or seconds.
    cadence : astropy.units.Quantity, str or float, optional
        ``45 * u.s``, ``"45s"`` or seconds; detected by default (:func:`frame_cadence`).
    tolerance : float, astropy.units.Quantity or str
        Largest allowed distance of a frame from its grid slot: a plain number is a
        fraction of the cadence (0.05), a duration (``2 * u.s``, ``"2s"``) is converted
        with the cadence.

    Returns
    -------
    cadence : float
    slots : numpy.ndarray
        int64 grid index of every frame (0 for the first).
    frame_at : numpy.ndarray
        int64 of length ``slots[-1] + 1``: the frame in each slot, −1 for a gap.

    Raises
    ------
    CadenceError
        For an irregular cadence (a frame more than ``tolerance`` cadences off the
        grid, e.g. a step of 1.3 cadences), two frames in one slot, fewer than two
        frames or times that do not increase.
    """
    cadence, _ = frame_cadence(times, cadence)
    tolerance = cadence_fraction(tolerance, cadence, "tolerance")
    t = _seconds(times)
    slots = np.rint(t / cadence).astype(np.int64)
    off = np.abs(t - slots * cadence) / cadence
    if np.any(off > tolerance):
        bad = int(np.argmax(off > tolerance))
        raise CadenceError(
            f"irregular cadence: frame {bad} lies {off[bad]:.2f} cadences "
            f"({off[bad] * cadence:.3g} s) off the regular {cadence:g} s grid, and "
            f"{int((off > tolerance).sum())} frame(s) are off by more than the tolerance of "
            f"{tolerance} cadences ({tolerance * cadence:.3g} s); resample the series to a "
            "regular cadence first, or pass cadence= if the detected one is wrong")
    if np.any(np.diff(slots) < 1):
        raise CadenceError(f"two frames fall in the same {cadence:g} s slot; drop duplicates")
    frame_at = np.full(int(slots[-1]) + 1, -1, np.int64)
    frame_at[slots] = np.arange(slots.size)
    return cadence, slots, frame_at


def cadence_fraction(value: Duration, cadence: float, name: str = "tolerance") -> float:
    """A tolerance as a fraction of the cadence: a plain number (or dimensionless Quantity)
    is one already; a duration (Quantity, ``"2s"``, timedelta) is divided by ``cadence`` (s).

    Raises
    ------
    solarprep.errors.QuantityError
        A Quantity that is neither dimensionless nor a time, a negative value.
    """
    import astropy.units as u

    if isinstance(value, u.Quantity) and value.unit.physical_type == "dimensionless":
        value = float(value.to_value(u.one))
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return as_seconds(value, name, unit="s")          # the same checks: finite, >= 0
    return as_seconds(value, name) / float(cadence)
