"""The parameter blocks that the kernels read: their layouts and how to pack them, in one place.

Every kernel takes its per-frame parameters as rows of a float64 array. The offsets below
are the only place where the layouts are written down; the per-pixel maths
(``kernels/_*_math.py``) reads them from here and callers build the rows with the
``*_params`` functions, never by offset.

Frame geometry (:data:`GEOMETRY_LEN` = 25; ``kernels/_disk_math.py`` explains the maths)
    ``[0:2]`` reference pixel (0-based column, row), ``[2:6]`` the matrix M (rad/pixel,
    row-major), ``[6:15]`` the native-to-helioprojective rotation R₁, ``[15]`` D =
    DSUN_OBS/RSUN_REF, ``[16:25]`` the rotation R₂ to heliographic Stonyhurst.
    ``solarprep.coordinates.FrameGeometry.kernel_params`` computes it from a WCS.

Derotation (:data:`DEROTATE_LEN` = 55), :func:`derotate_params`
    output-frame geometry, input-frame geometry, Δt (s), the Stonyhurst drift δ (rad),
    and the sidereal law's A, B, C (rad/s).

Tracking (:data:`TRACK_LEN` = 42), :func:`track_params`
    input geometry, projection code, map scale (x, y; rad/pixel), reference pixel
    (column, row), the centre's unit vectors C, E, N (9 numbers), sin φ₀, φ₀ and λ₀ (rad).

Surface kernels (:data:`SURFACE_LEN` = 27), :func:`surface_params`
    geometry, R☉ in Mm, μ_min.

Limb-darkening rows (:data:`LIMB_DARKENING_LEN` = 18), :func:`limb_darkening_params`
    μ_min, x₀, s (the fit variable is x = (μ − x₀)·s), the absolute clipping threshold,
    nq = degree + 1, clip (σ units), the number of basis rows, σ (output), passes done
    (output), pixels used (output), then up to :data:`LD_MAX_COEFFS` coefficients.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["GEOMETRY_LEN", "DEROTATE_LEN", "TRACK_LEN", "SURFACE_LEN", "LIMB_DARKENING_LEN",
           "LD_MAX_COEFFS", "LD_SUMS_LEN", "DISK_SUMS_LEN", "PROJECTIONS",
           "derotate_params", "track_params", "surface_params", "limb_darkening_params"]

# ----------------------------------------------------------------------- frame geometry
GEOMETRY_LEN = 25
#: index of D = DSUN_OBS / RSUN_REF within the geometry
GEOMETRY_DISTANCE = 15

# ----------------------------------------------------------------------- derotation
DR_TARGET = 0                        # output-frame geometry [0:25]
DR_SOURCE = GEOMETRY_LEN             # input-frame geometry [25:50]
DR_DT = 2 * GEOMETRY_LEN             # Δt, s
DR_DRIFT = DR_DT + 1                 # δ, rad
DR_LAW = DR_DT + 2                   # A, B, C, rad/s
DEROTATE_LEN = DR_LAW + 3

# ----------------------------------------------------------------------- tracking
TR_PROJECTION = GEOMETRY_LEN         # 0 Postel, 1 CEA, 2 plate carrée
TR_SCALE = TR_PROJECTION + 1         # x, y scale, rad/pixel
TR_REF = TR_SCALE + 2                # reference pixel: column, row
TR_BASIS = TR_REF + 2                # C, E, N unit vectors (9)
TR_SIN_LAT0 = TR_BASIS + 9
TR_LAT0 = TR_SIN_LAT0 + 1
TR_LON0 = TR_LAT0 + 1
TRACK_LEN = TR_LON0 + 1
#: projection name → code
PROJECTIONS = {"postel": 0, "cea": 1, "plate-carree": 2}

# ----------------------------------------------------------------------- surface kernels
SF_RSUN = GEOMETRY_LEN               # R☉, Mm
SF_MU_MIN = GEOMETRY_LEN + 1         # μ_min
SURFACE_LEN = GEOMETRY_LEN + 2

# ----------------------------------------------------------------------- limb darkening
LD_MAX_COEFFS = 8
LD_MU_MIN, LD_X0, LD_SCALE, LD_THRESHOLD, LD_NQ, LD_CLIP, LD_NB = range(7)
LD_SIGMA, LD_PASSES, LD_USED = 7, 8, 9
LD_COEFFS = 10
LIMB_DARKENING_LEN = LD_COEFFS + LD_MAX_COEFFS
#: per-frame sums of the fit: S_0..S_14, T_0..T_7, Q, n
LD_T_OFF = 2 * (LD_MAX_COEFFS - 1) + 1
LD_Q_IDX = LD_T_OFF + LD_MAX_COEFFS
LD_N_IDX = LD_Q_IDX + 1
LD_SUMS_LEN = LD_N_IDX + 1
#: per-frame disk-integration sums: Σ w I, Σ w (finite I), Σ w (disk), n finite, n disk
DISK_SUMS_LEN = 5


def _rows(geometry):
    g = np.atleast_2d(np.asarray(geometry, dtype=np.float64))
    if g.shape[1] != GEOMETRY_LEN:
        raise ValueError(f"geometry rows must have {GEOMETRY_LEN} numbers, not {g.shape[1]}")
    return g


def derotate_params(target: npt.ArrayLike, source: npt.ArrayLike, dt: npt.ArrayLike,
                    drift: npt.ArrayLike, law: tuple[float, float, float]) -> np.ndarray:
    """Rows of the derotation kernel.

    Parameters
    ----------
    target, source : array_like
        ``(n, 25)`` geometries of the output frame (input WCS seen by the target
        observer) and of the input frame.
    dt, drift : array_like
        ``(n,)`` Δt = t_target − t_input in s, and the Stonyhurst drift δ in rad.
    law : (float, float, float)
        A, B, C of the sidereal rotation law ω = A + B sin²φ + C sin⁴φ, rad/s.

    Returns
    -------
    numpy.ndarray
        float64 ``(n, DEROTATE_LEN)``.
    """
    target, source = _rows(target), _rows(source)
    p = np.empty((len(source), DEROTATE_LEN))
    p[:, DR_TARGET:DR_TARGET + GEOMETRY_LEN] = target
    p[:, DR_SOURCE:DR_SOURCE + GEOMETRY_LEN] = source
    p[:, DR_DT] = dt
    p[:, DR_DRIFT] = drift
    p[:, DR_LAW:DR_LAW + 3] = law
    return p


def track_params(geometry: npt.ArrayLike, *, projection: str | int,
                 scale: float | tuple[float, float], reference_pixel: tuple[float, float],
                 basis: npt.ArrayLike, lat0: float, lon0: npt.ArrayLike) -> np.ndarray:
    """Rows of the tracking kernel.

    Parameters
    ----------
    geometry : array_like
        ``(n, 25)`` input-frame geometries.
    projection : str or int
        ``"postel"``, ``"cea"``, ``"plate-carree"`` or its code (:data:`PROJECTIONS`).
    scale : float or (float, float)
        Map scale along x and y, rad per pixel.
    reference_pixel : (float, float)
        0-based column and row of the tracked centre.
    basis : array_like
        ``(n, 9)`` or ``(9,)``: unit vectors C (centre), E (west), N (north), Stonyhurst.
    lat0 : float
        Centre latitude φ₀, rad.
    lon0 : array_like
        ``(n,)`` centre Stonyhurst longitude λ₀ at each frame's time, rad.

    Returns
    -------
    numpy.ndarray
        float64 ``(n, TRACK_LEN)``.
    """
    geometry = _rows(geometry)
    code = PROJECTIONS[projection] if isinstance(projection, str) else int(projection)
    sx, sy = (scale, scale) if np.ndim(scale) == 0 else scale
    p = np.empty((len(geometry), TRACK_LEN))
    p[:, :GEOMETRY_LEN] = geometry
    p[:, TR_PROJECTION] = code
    p[:, TR_SCALE], p[:, TR_SCALE + 1] = sx, sy
    p[:, TR_REF], p[:, TR_REF + 1] = reference_pixel
    p[:, TR_BASIS:TR_BASIS + 9] = basis
    p[:, TR_SIN_LAT0] = np.sin(lat0)
    p[:, TR_LAT0] = lat0
    p[:, TR_LON0] = lon0
    return p


def surface_params(geometry: npt.ArrayLike, rsun_mm: npt.ArrayLike, mu_min: float) -> np.ndarray:
    """Rows of the surface kernels (areas, foreshortening, solid angles, disk sums).

    Parameters
    ----------
    geometry : array_like
        ``(n, 25)`` frame geometries.
    rsun_mm : array_like
        ``(n,)`` or scalar solar radius in Mm.
    mu_min : float
        Pixels with μ < μ_min are excluded (NaN).

    Returns
    -------
    numpy.ndarray
        float64 ``(n, SURFACE_LEN)``, C-contiguous.
    """
    geometry = _rows(geometry)
    p = np.empty((len(geometry), SURFACE_LEN))
    p[:, :GEOMETRY_LEN] = geometry
    p[:, SF_RSUN] = rsun_mm
    p[:, SF_MU_MIN] = mu_min
    return p


def limb_darkening_params(n: int, *, mu_min: float, x0: float, scale: float, nq: int,
                          clip_sigma: float = 0.0, n_basis: int = 0,
                          coefficients: npt.ArrayLike | None = None) -> np.ndarray:
    """Rows of the limb-darkening kernels (fit passes, solve, divide).

    Parameters
    ----------
    n : int
        Number of frames.
    mu_min, x0, scale : float
        Fitted range starts at μ_min; the fit variable is x = (μ − x₀)·s.
    nq : int
        Polynomial degree + 1 (at most :data:`LD_MAX_COEFFS`).
    clip_sigma : float
        Clipping threshold in σ (0: no clipping).
    n_basis : int
        Number of basis rows of the fit (0 for the divide kernel).
    coefficients : array_like, optional
        ``(n, nq)`` model coefficients in ascending powers of x (divide kernel).

    Returns
    -------
    numpy.ndarray
        float64 ``(n, LIMB_DARKENING_LEN)``; the absolute threshold starts at ``inf``.
    """
    if not 1 <= nq <= LD_MAX_COEFFS:
        raise ValueError(f"limb-darkening polynomials need 1 to {LD_MAX_COEFFS} coefficients, "
                         f"not {nq}")
    p = np.zeros((n, LIMB_DARKENING_LEN))
    p[:, LD_MU_MIN], p[:, LD_X0], p[:, LD_SCALE] = mu_min, x0, scale
    p[:, LD_THRESHOLD] = np.inf
    p[:, LD_NQ] = nq
    p[:, LD_CLIP] = clip_sigma
    p[:, LD_NB] = n_basis
    if coefficients is not None:
        p[:, LD_COEFFS:LD_COEFFS + nq] = coefficients
    return p
