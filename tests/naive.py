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


def world_to_pixel(geom, lat_deg, lon_deg):
    """0-based (column, row) and visibility of Stonyhurst surface points, by spherical trig.

    Route: Stonyhurst → heliocentric Cartesian (Thompson 2006, eq. 12 inverted)
    → helioprojective (Tx, Ty) → TAN native (φ, θ) by the inverse spherical
    rotation (Calabretta & Greisen 2002, eq. 5) → intermediate coordinates → pixel.
    """
    rsun, dist = geom.rsun_ref, geom.dsun_obs
    lat, dlon = np.deg2rad(lat_deg), np.deg2rad(lon_deg - geom.hgln_obs)
    b0 = np.deg2rad(geom.hglt_obs)
    x = rsun * np.cos(lat) * np.sin(dlon)
    y = rsun * (np.sin(lat) * np.cos(b0) - np.cos(lat) * np.cos(dlon) * np.sin(b0))
    z = rsun * (np.sin(lat) * np.sin(b0) + np.cos(lat) * np.cos(dlon) * np.cos(b0))
    visible = z * dist > rsun**2
    d = np.sqrt(x**2 + y**2 + (dist - z) ** 2)
    tx = np.arctan2(x, dist - z)
    ty = np.arcsin(y / d)
    a0, d0 = np.deg2rad(geom.crval1 / 3600), np.deg2rad(geom.crval2 / 3600)
    phip = np.deg2rad(geom.lonpole)
    phi = phip + np.arctan2(-np.cos(ty) * np.sin(tx - a0),
                            np.sin(ty) * np.cos(d0) - np.cos(ty) * np.sin(d0) * np.cos(tx - a0))
    theta = np.arcsin(np.sin(ty) * np.sin(d0) + np.cos(ty) * np.cos(d0) * np.cos(tx - a0))
    r = 1.0 / np.tan(theta)
    xi, eta = r * np.sin(phi), -r * np.cos(phi)
    m = np.diag([geom.cdelt1, geom.cdelt2]) @ geom.pc_matrix * np.deg2rad(1 / 3600)
    dx, dy = np.linalg.solve(m, np.stack([xi.ravel(), eta.ravel()]))
    col = dx.reshape(np.shape(xi)) + geom.crpix1 - 1
    row = dy.reshape(np.shape(xi)) + geom.crpix2 - 1
    return col, row, visible


def keys_weight(s, a=-0.5):
    """Keys (1981) cubic convolution kernel."""
    s = np.abs(s)
    return np.where(s < 1, (a + 2) * s**3 - (a + 3) * s**2 + 1,
                    np.where(s < 2, a * s**3 - 5 * a * s**2 + 8 * a * s - 4 * a, 0.0))


def interpolate(image, col, row, order):
    """Sample a 2-D image at (col, row): bilinear or Keys bicubic, edges replicated,
    NaN beyond half a pixel outside the image or where the coordinates are NaN."""
    ny, nx = image.shape
    ok = (np.isfinite(col) & np.isfinite(row) & (col >= -0.5) & (col <= nx - 0.5)
          & (row >= -0.5) & (row <= ny - 0.5))
    x = np.clip(np.where(ok, col, 0), 0, nx - 1)
    y = np.clip(np.where(ok, row, 0), 0, ny - 1)
    j0, i0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - j0, y - i0
    out = np.zeros(np.shape(x))
    taps = (0, 1) if order == 1 else (-1, 0, 1, 2)
    for a in taps:
        for b in taps:
            if order == 1:
                w = (fy if a else 1 - fy) * (fx if b else 1 - fx)
            else:
                w = keys_weight(fy - a) * keys_weight(fx - b)
            out += w * image[np.clip(i0 + a, 0, ny - 1), np.clip(j0 + b, 0, nx - 1)]
    return np.where(ok, out, np.nan)


def derotate(image, geom_in, geom_out, dt, drift_rad, law_abc, order):
    """Derotate one frame: output pixel → Stonyhurst (lat, lon) seen from ``geom_out``
    → longitude turned back by ω(lat)·dt + drift → pixel of ``geom_in`` → interpolation."""
    ny, nx = image.shape
    _, lat, lon, on = disk_coordinates(geom_out, ny, nx)
    a, b, c = law_abc
    s2 = np.sin(np.deg2rad(lat)) ** 2
    lon_src = lon - np.rad2deg((a + b * s2 + c * s2**2) * dt + drift_rad)
    col, row, visible = world_to_pixel(geom_in, lat, lon_src)
    col = np.where(on & visible, col, np.nan)
    return interpolate(image, col, row, order)
