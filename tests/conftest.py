"""Shared fixtures: the real sample files, GPU gating and the CUDA simulator.

Without an NVIDIA GPU the whole session runs numba.cuda kernels in the CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, set here before numba is imported), so the
GPU twins are exercised on tiny inputs in CI. Tests that need CuPy and a real GPU
carry the ``gpu`` marker and are skipped cleanly elsewhere.
"""
import os
import pathlib
import shutil

if "NUMBA_ENABLE_CUDASIM" not in os.environ and not (
        shutil.which("nvidia-smi") or pathlib.Path("/dev/nvidia0").exists()):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pytest  # noqa: E402

REAL_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def pytest_collection_modifyitems(config, items):
    from solarprep.backend import gpu_available

    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU (none usable here)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def _uses_torch(module):
    for value in vars(module).values():
        origin = getattr(value, "__module__", None) or getattr(value, "__name__", "") or ""
        if isinstance(origin, str) and origin.split(".")[0] in ("torch", "solarmodels"):
            return True
    return False


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(request):
    """One torch thread in modules that use torch: tiny models run fastest so, and a busy
    2-core machine cannot slow them 10-50x (two threads fighting other processes)."""
    if not _uses_torch(request.module):
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def real_data():
    """Folder of the real sample observations (``../shared/data/real``); skips if absent."""
    path = pathlib.Path(os.environ.get("SOLARPREP_REAL_DATA", REAL_DATA))
    if not path.is_dir():
        pytest.skip(f"real sample data not found at {path} (set SOLARPREP_REAL_DATA)")
    return path


@pytest.fixture(scope="session")
def real_fits(real_data):
    """The real FITS images with a helioprojective WCS, by short name."""
    files = {
        "aia171_full": real_data / "sdo" / "aia171_20110215T0000_lev1_128px.fits",
        "aia171_cutout": real_data / "sdo" / "aia171_20130310T1200_cutout_769x705.fits",
        "hmi_blos": real_data / "sdo" / "hmi_blos_20110214T2034_AR11158_cutout_495x496.fits",
        "hmi_ic": real_data / "sdo" / "hmi_ic_20140301T0000_fulldisk_100px.fits",
        "euvi_a": real_data / "stereo" / "euvi171_A_20110215T0014_128px.fits",
        "euvi_b": real_data / "stereo" / "euvi171_B_20110215T0014_128px.fits",
    }
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        pytest.skip(f"real files missing: {missing}")
    return files


@pytest.fixture(scope="session")
def examples():
    """The gallery folder (``examples/``) on ``sys.path``, so tests can import its scripts."""
    import pathlib
    import sys

    folder = pathlib.Path(__file__).resolve().parents[1] / "examples"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return folder


@pytest.fixture(scope="session")
def dask_client():
    """One ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` for the session
    (``solarprep.parallel.local_cluster``: numba on one thread per worker), closed at the end."""
    pytest.importorskip("distributed")
    from distributed import Client

    from solarprep.parallel import local_cluster

    with local_cluster(2, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as client:
        yield client
