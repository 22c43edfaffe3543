"""Solar differential rotation laws.

A rotation law gives the angular velocity of the solar surface as a function of
heliographic latitude φ,

.. math:: \\omega(\\varphi) = A + B \\sin^2\\varphi + C \\sin^4\\varphi ,

sidereal (relative to the distant stars). Internally every coefficient is a
plain float in **rad/s**; :meth:`RotationLaw.from_quantities` accepts any
angular-rate Quantity (µrad/s, deg/day, ...). The named laws are those of
:func:`sunpy.sun.models.differential_rotation`, so that a rotation computed here
agrees with sunpy's ``RotatedSunFrame`` and ``propagate_with_solar_surface``:

============= ======= ====== ====== ========== ============================================
name          A       B      C      unit       source
============= ======= ====== ====== ========== ============================================
``howard``    2.894   -0.428 -0.370 µrad/s     Howard, Harvey & Forgach (1990), Sol. Phys.
                                               130, 295 (Mt Wilson magnetic features)
``snodgrass`` 2.851   -0.343 -0.474 µrad/s     Snodgrass (1983), ApJ 270, 288; Snodgrass &
                                               Ulrich (1990), ApJ 351, 309 (magnetic)
``allen``     14.44   -3.0   0      deg/day    Allen's Astrophysical Quantities (sunspots)
``rigid``     14.1844 0      0      deg/day    Carrington rate (sidereal period 25.38 d;
                                               ``sunpy.sun.constants.sidereal_rotation_rate``)
============= ======= ====== ====== ========== ============================================

The synodic rate (as seen from the mean orbiting Earth) is the sidereal rate
minus 0.9856 deg/day (:data:`SYNODIC_OFFSET`), as sunpy does.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import astropy.units as u
    import numpy.typing as npt

__all__ = ["RotationLaw", "get_law", "LAWS", "SYNODIC_OFFSET", "URAD_PER_S", "DEG_PER_DAY"]

#: 1 µrad/s in rad/s.
URAD_PER_S = 1e-6
#: 1 deg/day in rad/s.
DEG_PER_DAY = math.pi / 180.0 / 86400.0
#: Mean orbital angular velocity of the Earth subtracted for the synodic rate, rad/s
#: (0.9856 deg/day, as in :func:`sunpy.sun.models.differential_rotation`).
SYNODIC_OFFSET = 0.9856 * DEG_PER_DAY

_FRAME_TIMES = ("sidereal", "synodic")


def _validate_frame_time(frame_time):
    if frame_time not in _FRAME_TIMES:
        raise ValueError(f"frame_time must be 'sidereal' or 'synodic', not {frame_time!r}")


@dataclasses.dataclass(frozen=True)
class RotationLaw:
    """A differential rotation law ω(φ) = A + B sin²φ + C sin⁴φ (sidereal).

    Attributes
    ----------
    name : str
        Short name (``"howard"``, ``"custom"``, ...).
    A, B, C : float
        Coefficients in rad/s.
    reference : str
        Where the coefficients come from.
    """

    name: str
    A: float
    B: float = 0.0
    C: float = 0.0
    reference: str = ""

    def __post_init__(self):
        for key in ("A", "B", "C"):
            value = getattr(self, key)
            number = isinstance(value, (int, float, np.floating, np.integer))
            if not number or not math.isfinite(value):
                raise ValueError(
                    f"rotation law coefficient {key} must be a finite number in rad/s, not "
                    f"{value!r} (use RotationLaw.from_quantities for Quantities)")
            object.__setattr__(self, key, float(value))

    @classmethod
    def from_quantities(cls, A: u.Quantity, B: u.Quantity | float = 0.0, C: u.Quantity | float = 0.0, *,
                        name: str = "custom", reference: str = "") -> RotationLaw:
        """Build a law from angular-rate Quantities (e.g. µrad/s or deg/day).

        Parameters
        ----------
        A, B, C : astropy.units.Quantity
            Coefficients with units of angle per time; plain ``0`` is allowed for B and C.

        Raises
        ------
        astropy.units.UnitConversionError
            If a coefficient is not an angular rate.
        """
        import astropy.units as u

        def rad_s(q):
            if isinstance(q, (int, float)) and q == 0:
                return 0.0
            return u.Quantity(q).to_value(u.rad / u.s)

        return cls(name, rad_s(A), rad_s(B), rad_s(C), reference)

    def rate(self, lat_deg: npt.ArrayLike, frame_time: str = "sidereal") -> float | np.ndarray:
        """Angular velocity at heliographic latitude ``lat_deg`` (deg), in rad/s.

        Parameters
        ----------
        lat_deg : float or array_like
            Latitude in degrees.
        frame_time : {"sidereal", "synodic"}
            Sidereal rate, or that minus :data:`SYNODIC_OFFSET`.
        """
        _validate_frame_time(frame_time)
        s2 = np.sin(np.radians(lat_deg)) ** 2
        omega = self.A + self.B * s2 + self.C * s2 * s2
        if frame_time == "synodic":
            omega = omega - SYNODIC_OFFSET
        return omega

    def delta_lon(self, duration_s: npt.ArrayLike, lat_deg: npt.ArrayLike,
                  frame_time: str = "sidereal") -> float | np.ndarray:
        """Change of longitude (deg, not wrapped) after ``duration_s`` seconds at ``lat_deg``."""
        return np.degrees(self.rate(lat_deg, frame_time) * np.asarray(duration_s, dtype=float))

    def to_quantities(self) -> tuple[u.Quantity, u.Quantity, u.Quantity]:
        """The coefficients ``(A, B, C)`` as Quantities in µrad/s."""
        import astropy.units as u

        return tuple((v * u.rad / u.s).to(u.urad / u.s) for v in (self.A, self.B, self.C))


LAWS = {
    "howard": RotationLaw("howard", 2.894 * URAD_PER_S, -0.428 * URAD_PER_S, -0.370 * URAD_PER_S,
                          "Howard, Harvey & Forgach (1990), Sol. Phys. 130, 295"),
    "snodgrass": RotationLaw("snodgrass", 2.851 * URAD_PER_S, -0.343 * URAD_PER_S,
                             -0.474 * URAD_PER_S,
                             "Snodgrass (1983), ApJ 270, 288; "
                             "Snodgrass & Ulrich (1990), ApJ 351, 309"),
    "allen": RotationLaw("allen", 14.44 * DEG_PER_DAY, -3.0 * DEG_PER_DAY, 0.0,
                         "Allen's Astrophysical Quantities (sunspots)"),
    "rigid": RotationLaw("rigid", 14.1844 * DEG_PER_DAY, 0.0, 0.0,
                         "Carrington sidereal rate 14.1844 deg/day (period 25.38 d)"),
}


def get_law(law: str | RotationLaw | tuple[u.Quantity, ...]) -> RotationLaw:
    """Return a :class:`RotationLaw` from a name, a law, or an ``(A, B, C)`` tuple of Quantities.

    Parameters
    ----------
    law : str, RotationLaw or tuple
        ``"howard"``, ``"snodgrass"``, ``"allen"``, ``"rigid"`` (case-insensitive), a
        :class:`RotationLaw`, or a tuple of one to three angular-rate Quantities.

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    if isinstance(law, RotationLaw):
        return law
    if isinstance(law, str):
        key = law.strip().lower()
        if key not in LAWS:
            raise ValueError(f"unknown rotation law {law!r}: use one of "
                             f"{', '.join(repr(k) for k in sorted(LAWS))}, a RotationLaw, "
                             "or (A, B, C) angular-rate Quantities")
        return LAWS[key]
    if isinstance(law, (tuple, list)) and 1 <= len(law) <= 3:
        return RotationLaw.from_quantities(*law)
    raise ValueError(f"cannot make a rotation law from {law!r}: use a name, a RotationLaw, "
                     "or (A, B, C) angular-rate Quantities")
