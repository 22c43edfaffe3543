"""Plain NumPy reference implementations, written for clarity, not speed.

Each kernel in ``kernels/`` is compared with the function of the same name here.
They take a different route from the kernels on purpose (spherical trigonometry
where the kernels use rotation matrices) so that a shared mistake is unlikely.
"""
import numpy as np


def helioprojective(geom, ny, nx):
    """Tx, Ty (rad) of every pixel: intermediate world coordinates (CDELT·PC) → TAN
    native spherical (φ, θ) → the spherical rotation of Calabretta & Greisen (2002, eq. 2)."""
    i, j = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    dx = j + 1 - geom.crpix1
    dy = i + 1 - geom.crpix2
    pc = geom.pc_matrix
    x = np.deg2rad(geom.cdelt1 * (pc[0, 0] * dx + pc[0, 1] * dy) / 3600)
    y = np.deg2rad(geom.cdelt2 * (pc[1, 0] * dx + pc[1, 1] * dy) / 3600)
    # TAN: R_θ = (180/π) cot θ, φ = arg(−y, x)
    phi = np.arctan2(x, -y)
    theta = np.arctan2(1.0, np.hypot(x, y))
    a0 = np.deg2rad(geom.crval1 / 3600)
    d0 = np.deg2rad(geom.crval2 / 3600)
    phip = np.deg2rad(geom.lonpole)
    tx = a0 + np.arctan2(-np.cos(theta) * np.sin(phi - phip),
                         np.sin(theta) * np.cos(d0) - np.cos(theta) * np.sin(d0) * np.cos(phi - phip))
    ty = np.arcsin(np.sin(theta) * np.sin(d0) + np.cos(theta) * np.cos(d0) * np.cos(phi - phip))
    return tx, ty


def sky_coordinates(geom, ny, nx):
    """Impact parameter (solar radii) and position angle (rad, west → north) of each line of sight."""
    tx, ty = helioprojective(geom, ny, nx)
    cos_alpha = np.cos(ty) * np.cos(tx)
    impact = geom.dsun_obs / geom.rsun_ref * np.sqrt(1 - cos_alpha**2)
    return impact, np.arctan2(np.sin(ty), np.cos(ty) * np.sin(tx))


def disk_coordinates(geom, ny, nx):
    """μ, Stonyhurst lat/lon (deg) and on-disk mask for a :class:`FrameGeometry`.

    Route: :func:`helioprojective` → heliocentric Cartesian with the distance of
    Thompson (2006, eq. 15) → Stonyhurst by B0 and L0, all with trig functions.
    """
    tx, ty = helioprojective(geom, ny, nx)
    dist = geom.dsun_obs
    rsun = geom.rsun_ref
    cos_alpha = np.cos(ty) * np.cos(tx)
    sin_alpha2 = 1 - cos_alpha**2
    disc = rsun**2 - dist**2 * sin_alpha2
    on = (disc >= 0) & (cos_alpha > 0)
    d = dist * cos_alpha - np.sqrt(np.where(on, disc, np.nan))
    hx = d * np.cos(ty) * np.sin(tx)
    hy = d * np.sin(ty)
    hz = dist - d * np.cos(ty) * np.cos(tx)
    # μ: cosine between the outward normal and the vector to the observer (0, 0, D)
    vx, vy, vz = -hx, -hy, dist - hz
    mu = (hx * vx + hy * vy + hz * vz) / (rsun * np.sqrt(vx**2 + vy**2 + vz**2))
    # heliocentric Cartesian → Stonyhurst (Thompson 2006, eq. 11)
    b0 = np.deg2rad(geom.hglt_obs)
    l0 = np.deg2rad(geom.hgln_obs)
    r = np.sqrt(hx**2 + hy**2 + hz**2)
    lat = np.arcsin((hy * np.cos(b0) + hz * np.sin(b0)) / r)
    lon = l0 + np.arctan2(hx, hz * np.cos(b0) - hy * np.sin(b0))
    lon = (np.rad2deg(lon) + 180) % 360 - 180
    return mu, np.rad2deg(lat), lon, on
