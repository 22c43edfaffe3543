"""Per-pixel remapping of solar images: derotation, tracking and interpolation, written once.

Both remaps are *gathers*: for every output pixel the kernel finds, analytically
and in registers, the point of the input image it comes from, and interpolates
there. No coordinate array is ever stored. The functions below are plain Python
on floats and arrays so that ``numba.njit`` and ``numba.cuda.jit(device=True)``
both compile them (see :func:`compile_for`); the geometry of one image is the
25-number vector of :mod:`kernels._disk_math`.

The parameter layouts are defined in :mod:`kernels.params` (with the functions that pack
them); they are repeated here for the reader.

Derotation (parameter vector of length :data:`NDEROTATE`)
    ``p[0:25]``   geometry of the output frame (input WCS, target observer)
    ``p[25:50]``  geometry of the input frame
    ``p[50]``     Δt = t_target − t_input, s
    ``p[51]``     δ, the change of Stonyhurst longitude of an inertially fixed point over Δt, rad
    ``p[52:55]``  A, B, C of the sidereal rotation law ω = A + B sin²φ + C sin⁴φ, rad/s

    The output pixel shows the surface unit vector ``h`` (heliographic
    Stonyhurst at the target time). That surface element was at Stonyhurst
    longitude ``λ − ω(φ)Δt − δ`` at the input time (sin φ = h_z), so ``h`` is
    turned about the rotation axis by ``−(ω(φ)Δt + δ)`` and projected into the
    input frame.

Tracking (parameter vector of length :data:`NTRACK`)
    ``p[0:25]``   geometry of the input frame
    ``p[25]``     projection: 0 Postel (azimuthal equidistant), 1 Lambert cylindrical
                  equal-area, 2 plate carrée
    ``p[26:28]``  map scale along x (columns) and y (rows), rad per pixel
    ``p[28:30]``  map reference pixel (0-based column, row): the tracked centre
    ``p[30:39]``  unit vectors C (centre), E (west, increasing longitude), N (north)
                  in heliographic Stonyhurst coordinates of the frame's time
    ``p[39]``     sin φ₀, the sine of the centre latitude
    ``p[40]``     φ₀, rad
    ``p[41]``     λ₀, the centre's Stonyhurst longitude at the frame's time, rad

    Map-plane coordinates ``(u, v) = ((j − j₀)·s_x, (i − i₀)·s_y)`` go to the
    sphere by Postel: ``h = cos ρ C + (sin ρ/ρ)(u E + v N)``, ρ = √(u² + v²) ≤ π;
    cylindrical equal-area: ``sin φ = sin φ₀ + v``, ``λ = λ₀ + u``; plate carrée:
    ``φ = φ₀ + v``, ``λ = λ₀ + u``.

Interpolation
    Pixel ``[i, j]`` is sampled at its centre, ``(x, y) = (j, i)``. Source points
    within half a pixel outside the image are clamped to the edge; farther out
    they give NaN. ``order=1`` is bilinear; ``order=3`` is the cubic convolution
    of Keys (1981, IEEE Trans. ASSP 29, 1153) with ``a = −1/2``, edge pixels
    replicated. A NaN among the neighbours used gives NaN.
"""
import math

from ._disk_math import compile_for as _compile_disk
from .params import (
    DEROTATE_LEN,
    DR_DRIFT,
    DR_DT,
    DR_LAW,
    DR_SOURCE,
    DR_TARGET,
    GEOMETRY_LEN,
    PROJECTIONS,
    TR_BASIS,
    TR_LAT0,
    TR_LON0,
    TR_PROJECTION,
    TR_REF,
    TR_SCALE,
    TR_SIN_LAT0,
    TRACK_LEN,
)

__all__ = ["NDEROTATE", "NTRACK", "POSTEL", "CEA", "PLATE_CARREE", "compile_for"]

# the layouts live in kernels.params; these names are kept for the kernels' own use
NDEROTATE = DEROTATE_LEN
NTRACK = TRACK_LEN
POSTEL, CEA, PLATE_CARREE = (PROJECTIONS[k] for k in ("postel", "cea", "plate-carree"))
_G = GEOMETRY_LEN
_C, _E, _N = TR_BASIS, TR_BASIS + 3, TR_BASIS + 6


def _keys(s):
    """Keys' cubic convolution weight for distance ``s`` (a = −1/2)."""
    s = abs(s)
    if s < 1.0:
        return (1.5 * s - 2.5) * s * s + 1.0
    if s < 2.0:
        return ((-0.5 * s + 2.5) * s - 4.0) * s + 2.0
    return 0.0


def _clamp(k, n):
    return 0 if k < 0 else (n - 1 if k > n - 1 else k)


def compile_for(jit):
    """Compile the remap functions with ``jit`` (``numba.njit`` or ``cuda.jit(device=True)``).

    Returns
    -------
    derotate_source : callable
        ``(i, j, p) -> (x, y)``: where output pixel ``(i, j)`` comes from in the
        input frame (NaNs off the output disk or from the input's far side).
    track_source : callable
        ``(i, j, p) -> (x, y)``: the same for a tracked map pixel.
    sample : callable
        ``(image, t, x, y, order) -> value`` from frame ``t`` of a 3-D image stack.
    """
    disk = _compile_disk(jit)
    surface_point = disk.surface_point
    surface_to_pixel = disk.surface_to_pixel
    keys = jit(_keys)
    clamp = jit(_clamp)

    def derotate_source(i, j, p):
        mu, hx, hy, hz = surface_point(i, j, p[DR_TARGET:DR_TARGET + _G])
        if not mu == mu:
            return math.nan, math.nan
        s2 = hz * hz
        omega = p[DR_LAW] + (p[DR_LAW + 1] + p[DR_LAW + 2] * s2) * s2
        angle = -(omega * p[DR_DT] + p[DR_DRIFT])
        ca = math.cos(angle)
        sa = math.sin(angle)
        return surface_to_pixel(hx * ca - hy * sa, hx * sa + hy * ca, hz, p[DR_SOURCE:DR_SOURCE + _G])

    def track_source(i, j, p):
        u = (j - p[TR_REF]) * p[TR_SCALE]
        v = (i - p[TR_REF + 1]) * p[TR_SCALE + 1]
        code = p[TR_PROJECTION]
        if code == POSTEL:
            rho = math.sqrt(u * u + v * v)
            if rho > math.pi:
                return math.nan, math.nan
            k = math.sin(rho) / rho if rho > 0.0 else 1.0
            c = math.cos(rho)
            hx = c * p[_C] + k * (u * p[_E] + v * p[_N])
            hy = c * p[_C + 1] + k * (u * p[_E + 1] + v * p[_N + 1])
            hz = c * p[_C + 2] + k * (u * p[_E + 2] + v * p[_N + 2])
        else:
            if code == CEA:
                sin_lat = p[TR_SIN_LAT0] + v
                if sin_lat < -1.0 or sin_lat > 1.0:
                    return math.nan, math.nan
                cos_lat = math.sqrt(1.0 - sin_lat * sin_lat)
            else:
                lat = p[TR_LAT0] + v
                if lat < -0.5 * math.pi or lat > 0.5 * math.pi:
                    return math.nan, math.nan
                sin_lat = math.sin(lat)
                cos_lat = math.cos(lat)
            lon = p[TR_LON0] + u
            hx = cos_lat * math.cos(lon)
            hy = cos_lat * math.sin(lon)
            hz = sin_lat
        return surface_to_pixel(hx, hy, hz, p[0:_G])

    def sample(image, t, x, y, order):
        ny = image.shape[1]
        nx = image.shape[2]
        if not (x >= -0.5 and x <= nx - 0.5 and y >= -0.5 and y <= ny - 0.5):
            return math.nan
        x = min(max(x, 0.0), nx - 1.0)
        y = min(max(y, 0.0), ny - 1.0)
        j0 = int(math.floor(x))
        i0 = int(math.floor(y))
        fx = x - j0
        fy = y - i0
        if order == 1:
            j1 = min(j0 + 1, nx - 1)
            i1 = min(i0 + 1, ny - 1)
            top = (1.0 - fx) * image[t, i0, j0] + fx * image[t, i0, j1]
            bottom = (1.0 - fx) * image[t, i1, j0] + fx * image[t, i1, j1]
            return (1.0 - fy) * top + fy * bottom
        total = 0.0
        for a in range(4):
            wy = keys(fy - (a - 1))
            ii = clamp(i0 + a - 1, ny)
            row = 0.0
            for b in range(4):
                row += keys(fx - (b - 1)) * image[t, ii, clamp(j0 + b - 1, nx)]
            total += wy * row
        return total

    return jit(derotate_source), jit(track_source), jit(sample)
