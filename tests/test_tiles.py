"""Tile means, SOLARED flattening and the μ correction."""
import numpy as np
import pytest

from solarprep.helioseismology.tiles import (
    SOLARED_ROW_WEIGHTS,
    mu_correction,
    solared_flatten,
    tile_edges,
    tile_means,
)


def naive_tile_means(img, grid=9, mode="solared"):
    ny, nx = img.shape
    out = np.empty(grid * grid)
    for r in range(grid):
        for c in range(grid):
            if mode == "solared":
                s = ny // grid
                y0, y1, x0, x1 = r * s, (r + 1) * s, c * (nx // grid), (c + 1) * (nx // grid)
            else:
                y0, y1 = round(r * ny / grid), round((r + 1) * ny / grid)
                x0, x1 = round(c * nx / grid), round((c + 1) * nx / grid)
            total, count = 0.0, 0
            for i in range(y0, y1):
                for j in range(x0, x1):
                    total += float(img[i, j])
                    count += 1
            out[grid * r + c] = total / count
    return out


@pytest.mark.parametrize("mode", ["solared", "exact"])
@pytest.mark.parametrize("shape", [(64, 64), (47, 58)])
def test_tile_means_equal_naive_loop(mode, shape):
    rng = np.random.default_rng(0)
    stack = rng.standard_normal((2,) + shape).astype(np.float32)
    ours = tile_means(stack, mode=mode)
    assert ours.shape == (2, 81)
    for k in range(2):
        np.testing.assert_allclose(ours[k], naive_tile_means(stack[k], mode=mode), rtol=1e-12)


def test_tile_edges_seed_and_exact():
    assert tile_edges(512).tolist() == [56 * k for k in range(10)]   # last 8 px dropped
    e = tile_edges(512, mode="exact")
    assert e[0] == 0 and e[-1] == 512 and set(np.diff(e)) <= {56, 57}
    with pytest.raises(ValueError, match="cannot hold"):
        tile_edges(5)
    with pytest.raises(ValueError, match="mode must be"):
        tile_edges(64, mode="pil")


def test_flatten_formula_and_rows():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((81, 5))
    f = solared_flatten(x, axis=0)
    g, gf = x.reshape(9, 9, 5), f.reshape(9, 9, 5)
    for r in range(9):
        w = SOLARED_ROW_WEIGHTS[r]
        np.testing.assert_allclose(gf[r], g[r] - ((1 - w) * g[0] + w * g[8]), atol=1e-12)
    assert np.all(gf[0] == 0) and np.all(gf[8] == 0)
    with pytest.raises(ValueError, match="81 tiles"):
        solared_flatten(np.zeros((63, 2)), axis=0)


def test_flatten_on_real_timelines_is_idempotent(real_data):
    from solarprep.datasets.solared import read_timelines

    for ar in ("AR11158", "AR11726"):
        ds = read_timelines(real_data / "solared" / ar)
        for name in ds.data_vars:
            x = ds[name].values.astype(np.float64)          # (time, 81), already flat
            f = solared_flatten(x, axis=1)
            rows = ds["tile_row"].values
            assert np.all(x[:, (rows == 0) | (rows == 8)] == 0)   # as in the files
            assert np.all(f[:, (rows == 0) | (rows == 8)] == 0)   # re-applied: still zero
            np.testing.assert_allclose(f, x, rtol=0, atol=0)       # and nothing else changes


def test_mu_correction():
    tiles = np.array([[2.0, 2.0, 2.0]])
    mu = np.array([1.0, 0.5, 0.05])
    np.testing.assert_allclose(mu_correction(tiles, mu, "flux"), [[2.0, 4.0, np.nan]])
    np.testing.assert_allclose(mu_correction(tiles, mu, "power"), [[2.0, 8.0, np.nan]])
    ld = 1 - 0.421 * 0.5 - 0.212 * 0.25
    np.testing.assert_allclose(mu_correction(tiles, mu, "intensity")[0, :2], [2.0, 2.0 / ld])
    with pytest.raises(ValueError, match="quantity must be"):
        mu_correction(tiles, mu, "velocity")
