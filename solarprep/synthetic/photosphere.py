"""The photospheric continuum (HMI-like, 6173 Å): limb darkening, sunspots, faculae.

.. math:: I = I_0 \\, L(\\mu) \\prod_{\\rm spots} C_s \\prod_{\\rm faculae} (1 + F_f)

with :math:`I_0` the disk-centre intensity (DN/s, the same at any observer distance),
:math:`L(\\mu)` the limb-darkening law
(:class:`solarprep.photometry.limb_darkening.LimbDarkening`), :math:`C_s` the spot contrast
profile (:func:`spot_contrast`) and :math:`F_f` the facular brightening
(:class:`~solarprep.synthetic.features.Facula`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solarprep.photometry.limb_darkening import DEFAULT_LIMB_DARKENING, NECKEL_LABS_6173, LimbDarkening
from solarprep.synthetic.features import angular_distance

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["LimbDarkening", "DEFAULT_LIMB_DARKENING", "NECKEL_LABS_6173", "spot_contrast",
           "facula_brightening"]

# The limb-darkening laws live in solarprep.photometry.limb_darkening (one implementation for the
# synthetic Sun and for fitting real data); re-exported here for compatibility.


def _smooth_inside(x, edge, width):
    """≈1 for x < edge, ≈0 for x > edge, with a tanh transition of ``width``."""
    return 0.5 * (1.0 - np.tanh((x - edge) / width))


def spot_contrast(d: npt.ArrayLike, radius: float, umbra_fraction: float, umbra_contrast: float,
                  penumbra_contrast: float, width: float = 0.04) -> np.ndarray:
    """Sunspot contrast ``I/I_quiet`` at angular distance ``d`` (deg) from the spot centre.

    With ``x = d / radius``: 1 outside, ``penumbra_contrast`` in the penumbra and
    ``umbra_contrast·(1 + 0.3 (x/x_u)²)`` in the umbra (darkest at the centre,
    ``x_u = umbra_fraction``), joined by tanh steps of width ``width`` (in units of
    the radius).
    """
    x = d / radius
    xu = umbra_fraction
    umbra = umbra_contrast * (1.0 + 0.3 * (x / xu) ** 2)
    inner = _smooth_inside(x, xu, width)
    outer = _smooth_inside(x, 1.0, width)
    return 1.0 - outer * (1.0 - penumbra_contrast) - inner * (penumbra_contrast - umbra)


def facula_brightening(d: npt.ArrayLike, mu: npt.ArrayLike, radius: float,
                       contrast: float) -> np.ndarray:
    """Facular excess ``F = contrast·(27/4)μ(1−μ)²·exp(−d²/2σ²)``, ``σ = radius/2``."""
    sigma = radius / 2.0
    return contrast * 6.75 * mu * (1.0 - mu) ** 2 * np.exp(-0.5 * (d / sigma) ** 2)


def distance_to(lat, lon, window, lat0, lon0):
    """Great-circle distance (deg, float64) of the pixels in ``window`` to ``(lat0, lon0)``."""
    return angular_distance(lat[window].astype(np.float64), lon[window].astype(np.float64),
                            lat0, lon0)
