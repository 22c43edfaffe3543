"""GOES/XRS-like soft X-ray flux (W/m²): background plus flares of given class.

* ``xrsb`` (1–8 Å): a slowly varying background (a sum of a few random-phase
  sinusoids of 3–24 h periods, ±10 %) plus flares with a half-Gaussian rise
  (σ_r) and an exponential decay (τ_d) — a common empirical template (cf.
  Gryciuk et al. 2017, Sol. Phys. 292, 77, for a smoother convolved form). The
  flare amplitude is set so that the *total* flux peaks at the class flux at the
  peak time, as GOES classes are defined.
* ``xrsa`` (0.5–4 Å): background ×0.02; each flare scaled by the short/long
  ratio ``0.05 + 0.05·log10(F/1e-6)`` (clipped to 0.02–0.35: hotter, larger
  flares are harder) and decaying 1.5 times faster.
* Multiplicative Gaussian noise of 0.2 % on both channels (seeded).

GOES class scale (1–8 Å peak): A < 1e-7 ≤ B < 1e-6 ≤ C < 1e-5 ≤ M < 1e-4 ≤ X W/m², the
class number being the flux in units of the class floor (``"M2.5"`` = 2.5e-5).
Random flares follow ``dN/dF ∝ F^−2`` (Veronig et al. 2002, A&A 382, 1070).
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from solarprep.dataset import as_seconds
from solarprep.lightcurves.goes import class_to_flux, flare_class

if TYPE_CHECKING:
    from collections.abc import Sequence

    import xarray as xr
    from astropy.time import Time

    from solarprep.dataset import Duration

__all__ = ["Flare", "flare_class", "class_to_flux", "goes_xrs", "random_flares"]

log = logging.getLogger(__name__)

# The class scale and its conversions live once, in solarprep.lightcurves.goes.


@dataclasses.dataclass(frozen=True)
class Flare:
    """A flare in the GOES 1–8 Å channel.

    Attributes
    ----------
    peak_time : str or astropy.time.Time
    goes_class : str
        e.g. ``"M2.5"``; the total 1–8 Å flux peaks at its flux.
    rise : float or Quantity
        σ of the half-Gaussian rise (minutes if a number).
    decay : float or Quantity
        e-folding time of the decay (minutes if a number).
    """

    peak_time: object
    goes_class: str
    rise: object = 4.0
    decay: object = 12.0

    @property
    def peak_flux(self):
        return class_to_flux(self.goes_class)


def _profile(t, peak, rise, decay):
    x = t - peak
    out = np.exp(-x / decay)
    before = x < 0
    out[before] = np.exp(-0.5 * (x[before] / rise) ** 2)
    return out


def _amplitudes(tp, rise, decay, excess, iterations=100):
    """Flare amplitudes ≥ 0 such that the summed flares reach ``excess`` at each peak time.

    Projected Gauss–Seidel on ``Σ_j a_j P_j(t_k) = excess_k`` (``P_k(t_k) = 1``): exact
    for every flare that is not buried under the tail of a larger one; a buried flare
    gets amplitude 0 (the total there already exceeds its class).
    """
    n = len(tp)
    excess = np.maximum(np.asarray(excess, float), 0.0)
    if n == 0:
        return np.zeros(0)
    m = np.empty((n, n))
    for j in range(n):
        m[:, j] = _profile(np.asarray(tp, float), tp[j], rise[j], decay[j])
    amp = excess.copy()
    for _ in range(iterations):
        for k in np.argsort(-excess):
            amp[k] = max(0.0, excess[k] - (m[k] @ amp - amp[k]))
    return amp


def random_flares(rng: np.random.Generator, start: Time, end: Time, rate_per_day: float = 3.0,
                  fmin: float = 1e-6, fmax: float = 2e-4) -> list[Flare]:
    """Seeded flares, Poisson in time, peak flux ∝ F^−2 between ``fmin`` and ``fmax``."""
    import astropy.units as u

    span = (end - start).to_value(u.day)
    n = int(rng.poisson(rate_per_day * max(span, 0.0)))
    flares = []
    for _ in range(n):
        # inverse CDF of p(F) ∝ F^-2 on [fmin, fmax]
        q = rng.random()
        flux = 1.0 / (1.0 / fmin - q * (1.0 / fmin - 1.0 / fmax))
        peak = start + rng.uniform(0.0, span) * u.day
        scale = (flux / 1e-5) ** 0.15
        flares.append(Flare(peak.isot, flare_class(flux), rise=float(rng.uniform(2, 6)) * scale,
                            decay=float(rng.uniform(8, 25)) * scale))
    return sorted(flares, key=lambda f: str(f.peak_time))


def goes_xrs(start: str | Time, end: str | Time, cadence: Duration = 60.0, *,
             flares: Sequence[Flare | tuple[str | Time, str]] | None = None,
             background: str | float = "B5", seed: int = 0) -> xr.Dataset:
    """A GOES/XRS-like light curve as an xarray Dataset.

    Parameters
    ----------
    start, end : str or astropy.time.Time
    cadence : float or Quantity
        Sampling interval (s if a number).
    flares : list, optional
        :class:`Flare` objects or ``(peak_time, class)`` tuples; ``None`` draws
        random flares (3 per day, seeded); ``[]`` gives none.
    background : str or float
        1–8 Å background level: a class (``"B5"``) or W/m².
    seed : int

    Returns
    -------
    xarray.Dataset
        ``xrsb`` (1–8 Å) and ``xrsa`` (0.5–4 Å), float32, ``units = "W / m2"``,
        along ``time`` (datetime64[ns], UTC); the truth as coordinates along
        ``flare``: ``flare_peak_time``, ``flare_class``, ``flare_peak_flux`` and
        ``flare_amplitude`` (the flare's own contribution above the background and
        the other flares; 0 for a flare buried under the tail of a larger one).
    """
    import astropy.units as u
    import xarray as xr
    from astropy.time import Time

    start = Time(start, scale="utc")
    end = Time(end, scale="utc")
    step = as_seconds(cadence, "cadence")
    if step <= 0 or end <= start:
        raise ValueError("goes_xrs needs end > start and a positive cadence")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
    if flares is None:
        flares = random_flares(rng, start, end)
    flares = [f if isinstance(f, Flare) else Flare(*f) for f in flares]
    t = np.arange(0.0, (end - start).to_value(u.s) + 0.5 * step, step)
    bg_level = class_to_flux(background) if isinstance(background, str) else float(background)

    periods = rng.uniform(3.0, 24.0, 4) * 3600.0
    phases = rng.uniform(0, 2 * np.pi, 4)
    amps = rng.uniform(0.02, 0.04, 4)

    def bg(tt):
        tt = np.atleast_1d(tt)
        return bg_level * (1.0 + sum(a * np.sin(2 * np.pi * tt / p + ph)
                                     for a, p, ph in zip(amps, periods, phases)))

    long = bg(t)
    short = 0.02 * long
    tp = np.array([(Time(f.peak_time, scale="utc") - start).to_value(u.s) for f in flares])
    rise = np.array([as_seconds(f.rise, "rise", unit="min") for f in flares])
    decay = np.array([as_seconds(f.decay, "decay", unit="min") for f in flares])
    peak_flux = np.array([f.peak_flux for f in flares])
    amp = _amplitudes(tp, rise, decay, peak_flux - bg(tp) if len(flares) else peak_flux)
    peaks = []
    for k, f in enumerate(flares):
        long = long + amp[k] * _profile(t, tp[k], rise[k], decay[k])
        ratio = float(np.clip(0.05 + 0.05 * math.log10(peak_flux[k] / 1e-6), 0.02, 0.35))
        short = short + ratio * amp[k] * _profile(t, tp[k], rise[k], decay[k] / 1.5)
        peaks.append((Time(f.peak_time, scale="utc"), f.goes_class, peak_flux[k]))
    long = long * (1.0 + 0.002 * rng.standard_normal(t.shape))
    short = short * (1.0 + 0.002 * rng.standard_normal(t.shape))
    times = (start + t * u.s).datetime64.astype("datetime64[ns]")
    attrs = {"units": "W / m2"}
    ds = xr.Dataset(
        {"xrsb": ("time", long.astype(np.float32),
                  dict(attrs, long_name="synthetic GOES/XRS 1-8 Å flux")),
         "xrsa": ("time", short.astype(np.float32),
                  dict(attrs, long_name="synthetic GOES/XRS 0.5-4 Å flux"))},
        coords={"time": times,
                "flare_peak_time": ("flare", np.array([p[0].datetime64 for p in peaks],
                                                      dtype="datetime64[ns]")),
                "flare_class": ("flare", np.array([p[1] for p in peaks], dtype=str)),
                "flare_peak_flux": ("flare", np.array([p[2] for p in peaks], dtype=float),
                                    {"units": "W / m2"}),
                "flare_amplitude": ("flare", np.asarray(amp, dtype=float),
                                    {"units": "W / m2",
                                     "long_name": "the flare's own 1-8 Å peak contribution "
                                                  "(0: buried under a larger flare)"})},
        attrs={"title": "synthetic GOES/XRS light curve", "instrument": "XRS (synthetic)",
               "synthetic": 1, "seed": int(seed), "background": bg_level,
               "Conventions": "CF-1.11"})
    log.debug("goes_xrs: %d samples, %d flares", t.size, len(peaks))
    return ds
