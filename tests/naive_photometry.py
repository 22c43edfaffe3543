"""Plain-NumPy references for the photometry kernels, and small synthetic solar Datasets.

Written the obvious way (explicit design matrices, ``numpy.linalg.lstsq``,
``numpy.nansum``), independent of :mod:`kernels._photometry_math`.
"""
import math

import numpy as np

from kernels._photometry_math import RSUN_IDX

T0 = "2024-05-01T00:00"
TIME = "2024-05-01T12:00"


def synthetic_dataset(n, *, time=TIME, shape=None, **kwargs):
    """A solar Dataset of one synthetic HMI-like continuum frame (noise-free, quiet by default)."""
    import solarprep
    from solarprep import synthetic

    kwargs.setdefault("features", [])
    kwargs.setdefault("noise", False)
    cdelt = kwargs.pop("cdelt", None)
    sun = synthetic.SyntheticSun(seed=kwargs.pop("seed", 1), t0=T0, **kwargs)
    m = sun.continuum(time, shape=shape or n, cdelt=cdelt)
    return solarprep.load(m, progress=False), sun


def naive_ld_fit(image, mu, *, mu_min, degree, clip, passes):
    """Iterative σ-clipped least-squares fit of ``I = Σ p_k μ^k`` with the kernels' schedule.

    Passes 0 and 1 use every pixel with finite I and μ ≥ μ_min; from pass 2 on,
    the pixels within ``clip``·σ of the previous fit. Returns ``(p, sigma, n)``.
    """
    image = np.asarray(image, np.float64)
    mu = np.asarray(mu, np.float64)
    base = np.isfinite(image) & (mu >= mu_min)
    sel = base.copy()
    coef = sigma = None
    for k in range(passes):
        if k >= 2:
            model = np.polynomial.polynomial.polyval(mu, coef)
            sel = base & (np.abs(image - model) <= clip * sigma)
        a = np.vander(mu[sel], degree + 1, increasing=True)
        coef = np.linalg.lstsq(a, image[sel], rcond=None)[0]
        resid = image[sel] - a @ coef
        sigma = math.sqrt(resid @ resid / (sel.sum() - degree - 1))
    return coef, sigma, int(sel.sum())


def naive_surface(p, ny, nx):
    """μ, pixel solid angle (sr) and surface area (Mm²) from explicit angles, for one geometry row.

    Builds each pixel's line of sight from the TAN projection by hand (native
    spherical angles, then the rotation to helioprojective), intersects it with
    the sphere by solving the quadratic, and takes the density ``Ω ℓ² / μ``
    averaged over the pixel's 2×2 Gauss-Legendre points (off-disk points: 0).
    """
    mu, omega, _ = _naive_density(p, ny, nx, 0.0, 0.0)
    g = 0.5 / math.sqrt(3.0)
    dens = [_naive_density(p, ny, nx, a * g, b * g)[2] for a in (-1, 1) for b in (-1, 1)]
    area = np.mean([np.nan_to_num(d) for d in dens], axis=0)
    return mu, omega, np.where(np.isfinite(mu), area, np.nan)


def _naive_density(p, ny, nx, di, dj):
    jj, ii = np.meshgrid(np.arange(nx, dtype=float) + dj, np.arange(ny, dtype=float) + di)
    dx, dy = jj - p[0], ii - p[1]
    xi = p[2] * dx + p[3] * dy
    eta = p[4] * dx + p[5] * dy
    r = np.hypot(xi, eta)
    theta_native = np.arctan2(1.0, r)              # native latitude of the TAN projection
    phi = np.arctan2(xi, -eta)
    v = np.stack([np.cos(theta_native) * np.cos(phi), np.cos(theta_native) * np.sin(phi),
                  np.sin(theta_native)])
    r1 = np.asarray(p[6:15]).reshape(3, 3)
    c = np.einsum("ab,bij->aij", r1, v)
    dist = p[15]
    # |D e_x − ℓ c|² = 1 → ℓ² − 2 D c_x ℓ + D² − 1 = 0, nearer root
    disc = (dist * c[0]) ** 2 - (dist**2 - 1.0)
    with np.errstate(invalid="ignore"):
        ell = dist * c[0] - np.sqrt(disc)
        point = np.stack([dist - ell * c[0], -ell * c[1], -ell * c[2]])  # from Sun centre
        mu = np.einsum("aij,aij->ij", point, c)        # (−normal)·c = normal · (−c)
    mu = np.where(disc >= 0, mu, np.nan)
    omega = abs(p[2] * p[5] - p[3] * p[4]) * np.sin(theta_native) ** 3
    area = omega * (ell * p[RSUN_IDX]) ** 2 / mu
    return mu, omega, np.where(disc >= 0, area, np.nan)


def naive_disk_sums(image, weight):
    """``[Σ wI, Σ w (finite), Σ w (disk), n finite, n disk]`` per frame with numpy."""
    image = np.asarray(image, np.float64)
    weight = np.broadcast_to(np.asarray(weight, np.float64), image.shape)
    disk = weight > 0
    finite = disk & np.isfinite(image)
    return np.stack([np.where(finite, weight * np.nan_to_num(image), 0).sum((1, 2)),
                     np.where(finite, weight, 0).sum((1, 2)), np.where(disk, weight, 0).sum((1, 2)),
                     finite.sum((1, 2)), disk.sum((1, 2))], axis=1)
