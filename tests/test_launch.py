"""CUDA launch geometry: columns on the fast thread index, long stacks in chunks of frames.

The chunking is tested stumpy-style, with the frame limit patched down to 2 so that
a 5-frame stack needs three launches (t0 = 0, 2, 4), in numba's CUDA simulator.
"""
import numpy as np
import pytest

import kernels.cpu
import kernels.cuda
from kernels import _launch
from kernels.params import DISK_SUMS_LEN

from .test_kernels_disk import random_geometry


def test_frame_chunks(monkeypatch):
    assert _launch.frame_chunks(3) == [(0, 3)]
    assert _launch.frame_chunks(65535 * 2 + 1) == [(0, 65535), (65535, 65535), (131070, 1)]
    monkeypatch.setattr(_launch, "MAX_GRID_FRAMES", 2)
    assert _launch.frame_chunks(5) == [(0, 2), (2, 2), (4, 1)]
    assert _launch.frame_chunks(0) == []


def test_blocks_put_columns_on_the_fast_index(monkeypatch):
    seen = []

    class Kernel:
        def __getitem__(self, config):
            seen.append(config)
            return lambda *args: seen.append(args[-1])

    monkeypatch.setattr(_launch, "MAX_GRID_FRAMES", 4)
    _launch.launch_stack(Kernel(), (6, 20, 70), "arg")
    assert _launch.THREADS_2D == (32, 8)
    assert seen == [((3, 3, 4), (32, 8, 1)), 0, ((3, 3, 2), (32, 8, 1)), 4]


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(_launch, "MAX_GRID_FRAMES", 2)


def _stack(nt=5, n=8, seed=3):
    rng = np.random.default_rng(seed)
    params = np.stack([random_geometry(rng, n).kernel_params() for _ in range(nt)])
    return rng, params


def test_chunked_disk_coordinates_match_cpu(small_limit):
    _, params = _stack()
    out = {}
    for device in ("cpu", "cuda"):
        arrays = [np.full((5, 8, 8), np.nan, np.float32) for _ in range(3)]
        arrays.append(np.zeros((5, 8, 8), bool))
        kernels.get("disk_coordinates", device)(params, *arrays)
        out[device] = arrays
    for a, b in zip(out["cuda"], out["cpu"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert out["cpu"][3].any(axis=(1, 2)).all()  # every frame written (not just the first chunk)


def test_chunked_reduction_matches_cpu(small_limit):
    rng = np.random.default_rng(4)
    image = rng.random((5, 8, 8)).astype(np.float32)
    weight = rng.random((5, 8, 8)).astype(np.float32)
    sums = {}
    for device in ("cpu", "cuda"):
        s = np.full((5, DISK_SUMS_LEN), np.nan)
        kernels.get("disk_sums", device)(image, weight, s)
        sums[device] = s
    np.testing.assert_allclose(sums["cuda"], sums["cpu"], rtol=1e-6)
    np.testing.assert_allclose(sums["cpu"][:, 0], (image * weight).sum(axis=(1, 2)), rtol=1e-5)
