"""Per-pixel disk geometry, written once and compiled for the CPU and the GPU.

The function below is plain Python on floats so that ``numba.njit`` and
``numba.cuda.jit(device=True)`` can both compile it (and the CUDA simulator can
run it as is). ``solarprep.coordinates.geometry`` builds the parameter vector ``p``.

Geometry
--------
A pixel ``(i, j)`` (row, column, 0-based) has intermediate world coordinates
``(ξ, η) = M · (j − c₁, i − c₂)`` in radians (``M`` = CDELT·PC). The gnomonic
(TAN) projection makes its native direction ``v = (−η, ξ, 1)/√(1 + ξ² + η²)``,
and the native-to-helioprojective rotation ``R₁`` (from CRVAL and LONPOLE, as in
Calabretta & Greisen 2002, A&A 395, 1077) gives the unit vector ``c`` from the
observer, with ``c = (1, 0, 0)`` towards Sun centre, ``c_y`` west, ``c_z`` north.

With the observer at distance ``D`` (in solar radii) the line of sight meets the
sphere where ``D² sin²θ ≤ 1``, ``sin²θ = c_y² + c_z²``. There

    μ = √(1 − D² sin²θ)

which is the cosine of the angle between the local vertical and the direction
back to the observer (exact for a finite observer distance; the orthographic
``√(1 − ρ²)`` differs by up to ~5e-3 at the limb). The distance to the surface
is ``d = D cosθ − μ`` and the point, in a frame with ``X'`` towards the observer,
is ``(D sin²θ + μ cosθ, d c_y, d c_z)``; the rotation ``R₂`` (observer latitude
B0, longitude L0) takes it to heliographic Stonyhurst Cartesian coordinates.

Parameter vector ``p`` (float64, length 25)
    ``p[0:2]``  reference pixel, 0-based (CRPIX − 1), column then row
    ``p[2:6]``  M row-major, radians per pixel
    ``p[6:15]`` R₁ row-major
    ``p[15]``   D = DSUN_OBS / RSUN_REF
    ``p[16:25]`` R₂ row-major
"""
import collections
import math

from .params import GEOMETRY_LEN as NPARAMS  # noqa: E402,F401 (the layout lives in kernels.params)

RAD2DEG = 180.0 / math.pi

DiskMath = collections.namedtuple(
    "DiskMath", ["pixel_geometry", "sky_position", "surface_point", "surface_to_pixel"])


def pixel_direction(i, j, p):
    """Unit vector ``(c_x, c_y, c_z)`` from the observer along the line of sight of pixel ``(i, j)``."""
    dx = j - p[0]
    dy = i - p[1]
    xi = p[2] * dx + p[3] * dy
    eta = p[4] * dx + p[5] * dy
    s = 1.0 / math.sqrt(1.0 + xi * xi + eta * eta)
    v0 = -eta * s
    v1 = xi * s
    v2 = s
    cx = p[6] * v0 + p[7] * v1 + p[8] * v2
    cy = p[9] * v0 + p[10] * v1 + p[11] * v2
    cz = p[12] * v0 + p[13] * v1 + p[14] * v2
    return cx, cy, cz


def compile_for(jit):
    """Compile the per-pixel functions with ``jit`` (``numba.njit`` or ``cuda.jit(device=True)``).

    Returns
    -------
    DiskMath
        A named tuple of compiled functions:

        ``pixel_geometry(i, j, p) -> (mu, lat_deg, lon_deg)``
            NaNs off the disk.
        ``sky_position(i, j, p) -> (impact, angle)``
            The line of sight's closest approach to Sun centre, ``D sin θ`` in
            solar radii (> 1 off the limb), and its position angle
            ``atan2(c_z, c_y)`` in radians from solar west towards north.
        ``surface_point(i, j, p) -> (mu, hx, hy, hz)``
            The unit vector of the surface point seen in pixel ``(i, j)``, in
            heliographic Stonyhurst Cartesian coordinates; NaNs off the disk.
        ``surface_to_pixel(hx, hy, hz, p) -> (x, y)``
            The inverse: the 0-based column ``x`` and row ``y`` where the unit
            surface vector ``h`` appears, or NaNs when ``h`` is on the far side
            (``D·q_x ≤ 1`` with ``q`` in the observer frame) or behind the
            projection plane.
    """
    direction = jit(pixel_direction)

    def surface_point(i, j, p):
        cx, cy, cz = direction(i, j, p)
        dist = p[15]
        sin2 = cy * cy + cz * cz
        disc = 1.0 - dist * dist * sin2
        if disc < 0.0 or cx <= 0.0:
            nan = math.nan
            return nan, nan, nan, nan
        mu = math.sqrt(disc)
        d = dist * cx - mu
        qx = dist * sin2 + mu * cx
        qy = d * cy
        qz = d * cz
        hx = p[16] * qx + p[17] * qy + p[18] * qz
        hy = p[19] * qx + p[20] * qy + p[21] * qz
        hz = p[22] * qx + p[23] * qy + p[24] * qz
        return mu, hx, hy, hz

    surface = jit(surface_point)

    def pixel_geometry(i, j, p):
        mu, hx, hy, hz = surface(i, j, p)
        lat = math.atan2(hz, math.sqrt(hx * hx + hy * hy)) * RAD2DEG
        lon = math.atan2(hy, hx) * RAD2DEG
        return mu, lat, lon

    def sky_position(i, j, p):
        cx, cy, cz = direction(i, j, p)
        return p[15] * math.sqrt(cy * cy + cz * cz), math.atan2(cz, cy)

    def surface_to_pixel(hx, hy, hz, p):
        # Observer frame: q = R₂ᵀ h (X' towards the observer).
        qx = p[16] * hx + p[19] * hy + p[22] * hz
        qy = p[17] * hx + p[20] * hy + p[23] * hz
        qz = p[18] * hx + p[21] * hy + p[24] * hz
        dist = p[15]
        if dist * qx <= 1.0:  # the observer sees the other hemisphere
            return math.nan, math.nan
        ax = dist - qx  # the line of sight, unnormalised: (D − q_x, q_y, q_z)
        v0 = p[6] * ax + p[9] * qy + p[12] * qz  # native frame: v = R₁ᵀ c
        v1 = p[7] * ax + p[10] * qy + p[13] * qz
        v2 = p[8] * ax + p[11] * qy + p[14] * qz
        if v2 <= 0.0:
            return math.nan, math.nan
        xi = v1 / v2
        eta = -v0 / v2
        det = p[2] * p[5] - p[3] * p[4]
        dx = (p[5] * xi - p[3] * eta) / det
        dy = (p[2] * eta - p[4] * xi) / det
        return p[0] + dx, p[1] + dy

    return DiskMath(jit(pixel_geometry), jit(sky_position), surface, jit(surface_to_pixel))
