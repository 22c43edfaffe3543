"""Per-pixel photometry: surface elements, limb-darkening normal equations, contrasts.

Written once as plain Python on floats and small arrays so that ``numba.njit``
and ``numba.cuda.jit(device=True)`` both compile it (and the CUDA simulator runs
it as is); :mod:`kernels.cpu.photometry` and :mod:`kernels.cuda.photometry` hold
the loops and reductions around it. ``solarprep.photometry.limb_darkening``,
``solarprep.photometry.foreshortening`` and ``solarprep.photometry.integration`` build the parameters.

Surface element of a pixel
--------------------------
With the intermediate world coordinates ``(ξ, η) = M·(j − c₁, i − c₂)`` (radians,
``M = R(ρ)·diag(CDELT)``), the gnomonic (TAN) projection puts the line of sight
at the tangent-plane point ``(1, ξ, η)``, so the solid angle of the pixel is

    Ω = |det M| · (1 + ξ² + η²)^(−3/2)

(the Jacobian of the gnomonic projection, exact to second order in the pixel
size). The line of sight meets the photosphere at ``μ = √(1 − D² sin²θ)`` and at
the distance ``ℓ = D cos θ − μ`` (solar radii) from the observer; the surface it
covers has the density ``Ω ℓ² R☉² / μ`` per pixel² (the projected area ``Ω ℓ²``
divided by the foreshortening ``μ``), averaged over 2×2 Gauss points of the pixel.

Limb-darkening fit
------------------
The model is a polynomial in ``x = (μ − x₀)·s`` (``x ∈ [−1, 1]`` over the fitted
range, which keeps the normal equations well conditioned) spanned by ``nb``
basis polynomials (rows of ``basis``): free coefficients (identity basis) or a
fixed shape with a free scale (one row). One pass over a frame accumulates, in
float64, the power sums ``S_m = Σ x^m`` (m ≤ 2n), ``T_k = Σ r x^k`` (k ≤ n) and
``Q = Σ r²`` of the residuals ``r = I − m_prev(x)`` from the previous model, plus
the count. The correction ``δ`` solves ``(B H Bᵀ) δ = B T`` (``H_kl = S_{k+l}``)
and the new residual sum of squares is ``Q − δ·(B T)``: no cancellation against
``Σ I²``. Pixels whose residual exceeds ``clip·σ`` are left out of the next pass.

Parameter row ``p`` of the fit (float64, :data:`LD_NPARAMS`)
    ``p[0]`` μ_min, ``p[1]`` x₀, ``p[2]`` s, ``p[3]`` clipping threshold (absolute,
    ``inf``: none), ``p[4]`` nq = degree + 1, ``p[5]`` clip (σ units), ``p[6]`` nb,
    ``p[7]`` σ (output), ``p[8]`` passes done, ``p[9]`` pixels used in the last
    pass, ``p[10:18]`` the model's coefficients in ascending powers of ``x``.
"""
import math

from . import params as _params
from ._disk_math import pixel_direction

__all__ = ["LD_NPARAMS", "LD_MAXC", "NSUMS", "T_OFF", "Q_IDX", "N_IDX", "DISK_NSUMS",
           "GEOM_NPARAMS", "RSUN_IDX", "MUMIN_IDX", "surface_element", "pixel_area", "ld_model",
           "ld_select", "ld_accumulate", "ld_contrast", "ld_solve", "compile_for"]

# The layouts live in kernels.params; the short names below are the kernels' own.
#: Largest number of polynomial coefficients (degree 7).
LD_MAXC = _params.LD_MAX_COEFFS
LD_NPARAMS = _params.LIMB_DARKENING_LEN
#: Sums per frame: S_0..S_14, T_0..T_7, Q, n.
T_OFF = _params.LD_T_OFF
Q_IDX = _params.LD_Q_IDX
N_IDX = _params.LD_N_IDX
NSUMS = _params.LD_SUMS_LEN
#: Disk-integration sums per frame: Σ w I, Σ w (finite I), Σ w (disk), n finite, n disk.
DISK_NSUMS = _params.DISK_SUMS_LEN
#: Geometry rows for surface kernels: the NPARAMS (25) of kernels._disk_math, then R☉ in Mm
#: (index RSUN_IDX) and μ_min (index MUMIN_IDX).
RSUN_IDX = _params.SF_RSUN
MUMIN_IDX = _params.SF_MU_MIN
GEOM_NPARAMS = _params.SURFACE_LEN
_MU_MIN, _X0, _SCALE, _THRESHOLD, _NQ = (_params.LD_MU_MIN, _params.LD_X0, _params.LD_SCALE,
                                         _params.LD_THRESHOLD, _params.LD_NQ)
_CLIP = _params.LD_CLIP
_NB, _SIGMA, _PASSES, _USED, _COEF = (_params.LD_NB, _params.LD_SIGMA, _params.LD_PASSES,
                                      _params.LD_USED, _params.LD_COEFFS)


def _make_surface_element(direction):
    def surface_element(i, j, p):
        """``(μ, Ω, ℓ)`` of pixel ``(i, j)``: μ, solid angle (sr), distance to the surface (R☉).

        ``μ`` and ``ℓ`` are NaN off the disk; ``Ω`` is defined everywhere.
        """
        return _surface(i, j, p, direction(i, j, p))

    return surface_element


def _surface(i, j, p, c):
    dx = j - p[0]
    dy = i - p[1]
    xi = p[2] * dx + p[3] * dy
    eta = p[4] * dx + p[5] * dy
    s2 = 1.0 / (1.0 + xi * xi + eta * eta)
    omega = abs(p[2] * p[5] - p[3] * p[4]) * s2 * math.sqrt(s2)
    cx, cy, cz = c
    dist = p[15]
    disc = 1.0 - dist * dist * (cy * cy + cz * cz)
    if disc < 0.0 or cx <= 0.0:
        return math.nan, omega, math.nan
    mu = math.sqrt(disc)
    return mu, omega, dist * cx - mu


#: Offsets (pixels) of the 2×2 Gauss-Legendre points of a pixel.
GAUSS = 0.5 / math.sqrt(3.0)


def _make_pixel_area(surface):
    def pixel_area(i, j, p):
        """Surface area (Mm², ``p[RSUN_IDX]`` = R☉ in Mm) of pixel ``(i, j)``; NaN if μ < μ_min.

        The density ``Ω ℓ²/μ`` (per pixel²) averaged over the 2×2 Gauss-Legendre
        points of the pixel: exact to fourth order in the pixel size, where the
        centre value alone errs by ~Δ²(1/μ)''/24 (1 % at μ = 0.3 for 100-px
        images). Points beyond the limb count as zero area; μ_min applies to the
        pixel centre.
        """
        mu, omega, dist = surface(i, j, p)
        if not (mu >= p[MUMIN_IDX]):
            return math.nan
        acc = 0.0
        for a in range(2):
            for b in range(2):
                m, o, d = surface(i + (2 * a - 1) * GAUSS, j + (2 * b - 1) * GAUSS, p)
                if m > 0.0:
                    acc += o * d * d / m
        return 0.25 * acc * p[RSUN_IDX] * p[RSUN_IDX]

    return pixel_area


def ld_model(x, p):
    """The model ``Σ q_k x^k`` of row ``p`` (Horner)."""
    n = int(p[_NQ])
    acc = p[_COEF + n - 1]
    for k in range(n - 2, -1, -1):
        acc = acc * x + p[_COEF + k]
    return acc


def _make_select(model):
    def ld_select(value, mu, p):
        """``(x, r)`` of a pixel that takes part in the fit, ``(nan, nan)`` otherwise.

        A pixel takes part when its value is finite, ``μ ≥ μ_min`` and its residual
        ``r = I − m_prev(x)`` is within the clipping threshold.
        """
        if not (value == value) or not (mu >= p[_MU_MIN]) or math.isinf(value):
            return math.nan, math.nan
        x = (mu - p[_X0]) * p[_SCALE]
        r = value - model(x, p)
        if abs(r) > p[_THRESHOLD]:
            return math.nan, math.nan
        return x, r

    return ld_select


def ld_accumulate(acc, x, r, nd):
    """Add one pixel to the sums ``acc`` (see the module docstring), polynomial degree ``nd``."""
    pw = 1.0
    for m in range(2 * nd + 1):
        acc[m] += pw
        if m <= nd:
            acc[T_OFF + m] += r * pw
        pw *= x
    acc[Q_IDX] += r * r
    acc[N_IDX] += 1.0


def _make_contrast(model):
    def ld_contrast(value, mu, p):
        """``I / m(x)`` where ``μ ≥ μ_min``, NaN elsewhere."""
        if not (mu >= p[_MU_MIN]):
            return math.nan
        return value / model((mu - p[_X0]) * p[_SCALE], p)

    return ld_contrast


def ld_solve(sums, basis, p, a, b, c):
    """Solve one frame's normal equations and update its parameter row ``p`` in place.

    ``a`` (LD_MAXC × LD_MAXC), ``b`` and ``c`` (LD_MAXC) are scratch arrays. After
    the first pass the clipping threshold is left at infinity (the residual sum of
    that pass is taken against a zero model and is not precise enough to clip
    with); later passes set it to ``clip·σ``. A frame with too few pixels or a
    singular system gets NaN coefficients.
    """
    nq = int(p[_NQ])
    nb = int(p[_NB])
    n = sums[N_IDX]
    p[_USED] = n
    p[_PASSES] += 1.0
    if not (n > nb):
        for k in range(nq):
            p[_COEF + k] = math.nan
        p[_SIGMA] = math.nan
        return
    for r in range(nb):
        acc = 0.0
        for k in range(nq):
            acc += basis[r, k] * sums[T_OFF + k]
        b[r] = acc
        for s in range(nb):
            acc = 0.0
            for k in range(nq):
                brk = basis[r, k]
                if brk != 0.0:
                    for m in range(nq):
                        acc += brk * basis[s, m] * sums[k + m]
            a[r, s] = acc
    # Cholesky factorisation a = L Lᵀ (lower triangle, in place)
    for r in range(nb):
        for s in range(r + 1):
            acc = a[r, s]
            for k in range(s):
                acc -= a[r, k] * a[s, k]
            if r == s:
                if not (acc > 0.0):
                    for k in range(nq):
                        p[_COEF + k] = math.nan
                    p[_SIGMA] = math.nan
                    return
                a[r, r] = math.sqrt(acc)
            else:
                a[r, s] = acc / a[s, s]
    for r in range(nb):  # forward: L y = b
        acc = b[r]
        for k in range(r):
            acc -= a[r, k] * c[k]
        c[r] = acc / a[r, r]
    for r in range(nb - 1, -1, -1):  # backward: Lᵀ δ = y
        acc = c[r]
        for k in range(r + 1, nb):
            acc -= a[k, r] * c[k]
        c[r] = acc / a[r, r]
    rss = sums[Q_IDX]
    for r in range(nb):
        rss -= c[r] * b[r]
    for k in range(nq):
        acc = 0.0
        for r in range(nb):
            acc += c[r] * basis[r, k]
        p[_COEF + k] += acc
    sigma = math.sqrt(max(rss, 0.0) / (n - nb))
    p[_SIGMA] = sigma
    if p[_PASSES] >= 2.0 and p[_CLIP] > 0.0:
        p[_THRESHOLD] = p[_CLIP] * sigma
    else:
        p[_THRESHOLD] = math.inf


def compile_for(jit):
    """Compile the per-pixel functions with ``jit`` (``numba.njit`` or ``cuda.jit(device=True)``).

    Returns ``(surface, area, model, select, accumulate, contrast, solve)``:
    :func:`surface_element` and :func:`pixel_area` with the pixel direction bound,
    then the limb-darkening functions.
    """
    surface_core = jit(_surface)
    direction = jit(pixel_direction)

    def surface(i, j, p):
        return surface_core(i, j, p, direction(i, j, p))

    surface = jit(surface)
    model = jit(ld_model)
    return (surface, jit(_make_pixel_area(surface)), model, jit(_make_select(model)),
            jit(ld_accumulate), jit(_make_contrast(model)), jit(ld_solve))


#: Plain-Python versions (for reading and for tests).
surface_element = _make_surface_element(pixel_direction)

pixel_area = _make_pixel_area(surface_element)
ld_select = _make_select(ld_model)
ld_contrast = _make_contrast(ld_model)
