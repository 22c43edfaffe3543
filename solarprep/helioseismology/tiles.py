"""Per-tile means of image stacks and the SOLARED tile corrections.

* :func:`tile_means`: a 9×9 (``grid``) tiling of each frame into per-tile means,
  either the SOLARED way (``mode="solared"``: square tiles of ``ny // grid`` pixels,
  56 px for 512², the last ``ny − grid·56`` rows and columns dropped, as the
  dataset's PIL crops do) or as an exact partition (``mode="exact"``: tile edges
  at ``round(k·n/grid)``, every pixel in exactly one tile, tiles of 56 or 57 px).
  Tiles are flattened row-major: ``tile = grid·row + col``.
* :func:`solared_flatten`: the dataset's empirical "dtws" flattening
  ``X′[r, c] = X[r, c] − ((1 − w_r)·X[0, c] + w_r·X[8, c])`` with
  ``w = [0, 1/9, 2/9, 1/3, 1/2, 2/3, 7/9, 8/9, 1]``: rows 0 and 8 become zero.
* :func:`mu_correction`: the physically motivated alternative, dividing each
  tile by the centre-to-limb factor of its mean μ (flux ``1/μ``, p-mode power
  ``1/μ²``, continuum by the limb-darkening law).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from solarprep import backend

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["SOLARED_ROW_WEIGHTS", "tile_edges", "tile_means", "solared_flatten",
           "mu_correction", "tile_coords"]

#: Weights of the bottom reference row in the SOLARED flattening, grid row 0..8.
SOLARED_ROW_WEIGHTS = np.array([0, 1 / 9, 2 / 9, 1 / 3, 1 / 2, 2 / 3, 7 / 9, 8 / 9, 1])


def tile_edges(n: int, grid: int = 9, mode: str = "solared") -> np.ndarray:
    """Pixel edges ``(grid + 1,)`` of the tiles along an axis of ``n`` pixels."""
    if n < grid:
        raise ValueError(f"an axis of {n} pixels cannot hold {grid} tiles")
    if mode == "solared":
        size = n // grid
        return np.arange(grid + 1) * size
    if mode == "exact":
        return np.rint(np.arange(grid + 1) * n / grid).astype(np.int64)
    raise ValueError(f"mode must be 'solared' or 'exact', not {mode!r}")


def tile_coords(grid: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """``(tile_row, tile_col)`` int arrays of the row-major flattened tiles."""
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    return rows, cols


def tile_means(data: Any, *, grid: int = 9, mode: str = "solared") -> Any:
    """Mean of each tile of each frame.

    Parameters
    ----------
    data : array_like
        ``(..., ny, nx)`` NumPy or CuPy array (or DataArray: its ``.data``).
    grid : int
        Tiles per side (9 in SOLARED).
    mode : {"solared", "exact"}
        See the module docstring.

    Returns
    -------
    array
        ``(..., grid·grid)`` float64 tile means, row-major (``tile = grid·r + c``), on
        the input's device; NaN pixels make their tile NaN.
    """
    data = backend.array_of(data)
    xp = backend.array_module("cuda" if backend.is_cupy(data) else "cpu")
    a = xp.asarray(data)
    ny, nx = a.shape[-2:]
    ey, ex = tile_edges(ny, grid, mode), tile_edges(nx, grid, mode)
    lead = a.shape[:-2]
    if mode == "solared":
        sy, sx = ey[1], ex[1]
        a = a[..., : grid * sy, : grid * sx].astype(np.float64)
        out = a.reshape(lead + (grid, sy, grid, sx)).mean(axis=(-3, -1))
        return out.reshape(lead + (grid * grid,))
    # exact partition: sums from cumulative sums at the edges
    c = xp.cumsum(xp.cumsum(a.astype(np.float64), axis=-2), axis=-1)
    c = xp.pad(c, [(0, 0)] * len(lead) + [(1, 0), (1, 0)])
    iy, ix = xp.asarray(ey), xp.asarray(ex)
    s = c[..., iy, :][..., :, ix]
    sums = s[..., 1:, 1:] - s[..., :-1, 1:] - s[..., 1:, :-1] + s[..., :-1, :-1]
    counts = xp.asarray(np.diff(ey)[:, None] * np.diff(ex)[None, :], dtype=np.float64)
    return (sums / counts).reshape(lead + (grid * grid,))


def solared_flatten(tiles: Any, *, axis: int = -1, grid: int = 9,
                    weights: npt.ArrayLike = SOLARED_ROW_WEIGHTS) -> Any:
    """SOLARED's flattening: subtract the linear blend of the top and bottom tile rows.

    ``X′[r, c] = X[r, c] − ((1 − w_r)·X[0, c] + w_r·X[grid−1, c])``; rows 0 and
    ``grid − 1`` become exactly zero (drop them with
    :func:`solarprep.datasets.solared.keep_tiles` to get 63 tiles). An empirical
    correction (it is not a 1/μ or area weighting).

    Parameters
    ----------
    tiles : array_like
        Row-major flattened tiles (``grid²`` long) along ``axis``.
    """
    xp = backend.array_module("cuda" if backend.is_cupy(tiles) else "cpu")
    x = xp.moveaxis(xp.asarray(tiles), axis, -1)
    if x.shape[-1] != grid * grid:
        raise ValueError(f"flattening needs {grid * grid} tiles along axis {axis}, "
                         f"got {x.shape[-1]}")
    g = x.reshape(x.shape[:-1] + (grid, grid))
    w = xp.asarray(np.asarray(weights, np.float64)).reshape((grid, 1)).astype(g.dtype)
    ref = (1 - w) * g[..., :1, :] + w * g[..., -1:, :]
    out = g - ref
    out[..., 0, :] = 0
    out[..., -1, :] = 0
    return xp.moveaxis(out.reshape(x.shape), -1, axis)


def mu_correction(tiles: Any, mu: Any, quantity: str, *,
                  limb_darkening: tuple[float, float] = (0.421, 0.212), mu_min: float = 0.1) -> Any:
    """Divide tile values by their centre-to-limb factor (the physical geometric correction).

    Parameters
    ----------
    tiles : array_like
        Tile values, ``(..., n_tiles)``.
    mu : array_like
        Mean μ = cos(heliocentric angle) of each tile, broadcastable to ``tiles``.
    quantity : {"flux", "power", "intensity"}
        ``flux``: line-of-sight field → radial, ``/μ``; ``power``: mostly vertical
        p-mode velocity seen along the line of sight, ``v_los = v_r μ``, power
        ``/μ²``; ``intensity``: ``/ (1 − u₁(1 − μ) − u₂(1 − μ)²)`` (quadratic limb
        darkening, default HMI-like u₁ = 0.421, u₂ = 0.212).
    mu_min : float
        Tiles with ``μ < mu_min`` (too close to the limb) are NaN.

    Notes
    -----
    SOLARED removes centre-to-limb trends with an empirical blend of the top and
    bottom tile rows (:func:`solared_flatten`), which discards those rows; this
    correction keeps all 81 tiles and has a physical meaning, but needs the
    geometry (μ per tile, :func:`solarprep.disk_coordinates` then
    :func:`tile_means`).
    """
    xp = backend.array_module("cuda" if backend.is_cupy(tiles) else "cpu")
    x = xp.asarray(tiles, dtype=np.float64)
    m = xp.asarray(mu, dtype=np.float64)
    if quantity == "flux":
        factor = m
    elif quantity == "power":
        factor = m * m
    elif quantity == "intensity":
        u1, u2 = limb_darkening
        factor = 1 - u1 * (1 - m) - u2 * (1 - m) ** 2
    else:
        raise ValueError(f"quantity must be 'flux', 'power' or 'intensity', not {quantity!r}")
    out = x / factor
    return xp.where(m >= mu_min, out, np.nan)
