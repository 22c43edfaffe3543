"""Shared fixtures: the real sample files, device gating, the CUDA simulator and the CuPy stand-in.

Without an NVIDIA GPU the whole session runs numba.cuda kernels in the CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, set here before numba is imported) and
imports the NumPy-backed CuPy stand-in of ``tests/cupy_standin`` as ``cupy``, so
that every ``device="cuda"`` path and every ``gpu``-marked test runs in CI on
tiny inputs. On a machine with a GPU the same tests run against real CuPy.
``--cupy-standin=on`` forces the stand-in (and the simulator), ``off`` never
uses it (``gpu`` tests are then skipped without a GPU); the environment variable
``SOLARPREP_CUPY_STANDIN`` gives the default. Tests marked ``real_gpu`` (torch
CUDA, large inputs) run on a real GPU only.
"""
import os
import pathlib
import shutil
import sys

import pytest

REAL_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
STANDIN = pathlib.Path(__file__).resolve().parent / "cupy_standin"


def pytest_addoption(parser):
    parser.addoption(
        "--cupy-standin", choices=("auto", "on", "off"),
        default=os.environ.get("SOLARPREP_CUPY_STANDIN", "auto"),
        help="run device paths on the NumPy-backed CuPy stand-in and numba's CUDA simulator: "
             "auto (where no NVIDIA GPU is present), on, off")
    parser.addoption("--remote-data", action="store_true", default=False,
                     help="run the tests marked remote_data (they use real archives online)")


def _gpu_hardware():
    return bool(shutil.which("nvidia-smi") or pathlib.Path("/dev/nvidia0").exists())


def _activate_standin():
    """Put the stand-in first on ``sys.path`` as ``cupy`` and count host arrays given to kernels."""
    for name in [m for m in sys.modules if m == "cupy" or m.startswith(("cupy.", "cupyx"))]:
        del sys.modules[name]
    sys.path.insert(0, str(STANDIN))
    import cupy
    from numba.cuda.simulator import kernel

    assert getattr(cupy, "IS_STANDIN", False), cupy.__file__
    wrap_arg = kernel.wrap_arg

    def counted(value, *args, **kwargs):  # numba copies a host array to the device and back
        cupy.LEDGER.record("kernel_host", value.nbytes, "NumPy array given to a CUDA kernel")
        return wrap_arg(value, *args, **kwargs)

    kernel.wrap_arg = counted


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    mode = config.getoption("--cupy-standin")
    if mode == "on" or (mode == "auto" and not _gpu_hardware()):
        if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and "numba" in sys.modules:
            raise pytest.UsageError("numba was imported before the CUDA simulator could be "
                                    "switched on: set NUMBA_ENABLE_CUDASIM=1")
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    config.cupy_standin = mode != "off" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    if config.cupy_standin:
        _activate_standin()


def pytest_report_header(config):
    return ("devices: CuPy stand-in + numba CUDA simulator" if config.cupy_standin else
            "devices: real CuPy/numba.cuda where a GPU is usable")


def _needs_torch(path):
    text = path.read_text()
    return any(line.startswith(("import torch", "from torch", "import solarmodels",
                                "from solarmodels"))
               for line in text.splitlines())


# Without torch (solarprep alone, or a Python for which no CPU torch is at hand) the modules
# that import torch or solarmodels at the top are not collected; everything else runs.
import importlib.util  # noqa: E402

collect_ignore = [] if importlib.util.find_spec("torch") else sorted(
    p.name for p in pathlib.Path(__file__).parent.glob("test_*.py") if _needs_torch(p))


def pytest_collection_modifyitems(config, items):
    from solarprep.backend import gpu_available

    if not config.getoption("--remote-data"):
        offline = pytest.mark.skip(reason="uses a real archive online (run with --remote-data)")
        for item in items:
            if "remote_data" in item.keywords:
                item.add_marker(offline)
    usable = gpu_available()
    real = usable and not config.cupy_standin
    no_gpu = pytest.mark.skip(reason="needs CuPy and a CUDA GPU, or the CuPy stand-in "
                                     "(--cupy-standin=on); none is usable here")
    no_real = pytest.mark.skip(reason="needs a real CUDA GPU (not the CuPy stand-in)")
    for item in items:
        if "real_gpu" in item.keywords and not real:
            item.add_marker(no_real)
        elif "gpu" in item.keywords and not usable:
            item.add_marker(no_gpu)


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
