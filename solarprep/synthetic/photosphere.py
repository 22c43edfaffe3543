"""The photospheric continuum (HMI-like, 6173 Å): limb darkening, sunspots, faculae.

.. math:: I = I_0 \\, L(\\mu) \\prod_{\\rm spots} C_s \\prod_{\\rm faculae} (1 + F_f)

with :math:`I_0` the disk-centre intensity (DN/s, scaled by (1 AU / d)²),
:math:`L(\\mu)` the limb-darkening law (:class:`LimbDarkening`), :math:`C_s` the
spot contrast profile (:func:`spot_contrast`) and :math:`F_f` the facular
brightening (:class:`~solarprep.synthetic.features.Facula`).
"""
import dataclasses
import math

import numpy as np

from .features import angular_distance

__all__ = ["LimbDarkening", "DEFAULT_LIMB_DARKENING", "NECKEL_LABS_6173", "spot_contrast",
           "facula_brightening"]

# Neckel & Labs (1994, Sol. Phys. 153, 91), Table 2: 5th-order polynomial coefficients
# a0..a5 of I(μ)/I(1) = Σ a_k μ^k at the two wavelengths that bracket 617.3 nm (nm: coefficients).
_NECKEL_LABS_ROWS = {
    610.975: (0.30854, 1.36620, -1.83572, 2.33221, -1.63082, 0.45959),
    640.970: (0.33644, 1.30590, -1.79238, 2.45040, -1.89979, 0.59943),
}


def _neckel_labs_6173():
    (l1, a), (l2, b) = sorted(_NECKEL_LABS_ROWS.items())
    w = (617.3 - l1) / (l2 - l1)
    c = (1 - w) * np.array(a) + w * np.array(b)
    return tuple(float(x) for x in c / c.sum())


#: Neckel & Labs (1994) polynomial at 617.3 nm (linear interpolation between 610.975 and
#: 640.970 nm, renormalised to 1 at μ = 1), coefficients of μ⁰…μ⁵.
NECKEL_LABS_6173 = _neckel_labs_6173()


@dataclasses.dataclass(frozen=True)
class LimbDarkening:
    """A limb-darkening law ``L(μ) = I(μ)/I(1)`` as a polynomial in μ.

    Attributes
    ----------
    coefficients : tuple of float
        ``a_0 … a_n`` of ``L(μ) = Σ a_k μ^k`` (ascending powers).
    name : str

    Notes
    -----
    The quadratic law :math:`L = 1 - u_1(1-\\mu) - u_2(1-\\mu)^2` is the polynomial
    :math:`(1-u_1-u_2) + (u_1+2u_2)\\mu - u_2\\mu^2`. The default
    (:data:`DEFAULT_LIMB_DARKENING`) is quadratic with ``u1 = 0.421, u2 = 0.212``: the
    least-squares fit, weighted by projected disk area (∝ μ dμ), to the Neckel & Labs
    (1994, Sol. Phys. 153, 91) 5th-order polynomial at 617.3 nm (max. deviation 0.016
    for μ > 0.1, 0.006 for μ > 0.3).
    """

    coefficients: tuple
    name: str = "polynomial"

    def __post_init__(self):
        c = tuple(float(x) for x in self.coefficients)
        if not c or not all(math.isfinite(x) for x in c):
            raise ValueError("limb-darkening coefficients must be finite numbers, "
                             f"not {self.coefficients!r}")
        object.__setattr__(self, "coefficients", c)

    @classmethod
    def quadratic(cls, u1, u2):
        """The quadratic law ``1 − u1(1 − μ) − u2(1 − μ)²``."""
        return cls((1.0 - u1 - u2, u1 + 2.0 * u2, -u2), f"quadratic(u1={u1}, u2={u2})")

    @classmethod
    def polynomial(cls, coefficients):
        """A polynomial law ``Σ a_k μ^k`` (e.g. Neckel & Labs' 5th-order coefficients)."""
        return cls(tuple(coefficients), "polynomial")

    @classmethod
    def neckel_labs_6173(cls):
        """Neckel & Labs (1994) 5th-order polynomial at 617.3 nm (HMI's Fe I line)."""
        return cls(NECKEL_LABS_6173, "Neckel & Labs (1994), 617.3 nm")

    def __call__(self, mu):
        """``L(μ)`` by Horner's rule, in the dtype of ``mu`` (float32 stays float32)."""
        mu = np.asarray(mu)
        dtype = mu.dtype if mu.dtype.kind == "f" else np.dtype(np.float64)
        out = np.full(mu.shape, self.coefficients[-1], dtype=dtype)
        for a in self.coefficients[-2::-1]:
            out *= mu
            out += dtype.type(a)
        return out


#: Default law: quadratic fit to Neckel & Labs (1994) at 617.3 nm (see :class:`LimbDarkening`).
DEFAULT_LIMB_DARKENING = LimbDarkening.quadratic(0.421, 0.212)


def _smooth_inside(x, edge, width):
    """≈1 for x < edge, ≈0 for x > edge, with a tanh transition of ``width``."""
    return 0.5 * (1.0 - np.tanh((x - edge) / width))


def spot_contrast(d, radius, umbra_fraction, umbra_contrast, penumbra_contrast, width=0.04):
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


def facula_brightening(d, mu, radius, contrast):
    """Facular excess ``F = contrast·(27/4)μ(1−μ)²·exp(−d²/2σ²)``, ``σ = radius/2``."""
    sigma = radius / 2.0
    return contrast * 6.75 * mu * (1.0 - mu) ** 2 * np.exp(-0.5 * (d / sigma) ** 2)


def distance_to(lat, lon, window, lat0, lon0):
    """Great-circle distance (deg, float64) of the pixels in ``window`` to ``(lat0, lon0)``."""
    return angular_distance(lat[window].astype(np.float64), lon[window].astype(np.float64),
                            lat0, lon0)
