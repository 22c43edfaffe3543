"""Chunked (dask) solar Datasets on a LocalCluster: lazy loading, every per-frame operation
block by block bitwise equal to the eager one, power maps across chunk borders, whole-series
defaults refused, zarr append / round trips, and the resumable ``solarprep run`` pipeline
(killed client, killed worker)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import astropy.units as u
import dask
import numpy as np
import pytest
import sunpy.map
import xarray as xr
from astropy.time import TimeDelta
from sunpy.time import parse_time

import solarprep
from solarprep import synthetic
from solarprep.datasets import normalize, scalings
from solarprep.errors import ChunkingError, PipelineError
from solarprep.helioseismology.power import power_maps
from solarprep.io import loader
from solarprep.parallel import blocks, pipeline, store
from solarprep.photometry import LimbDarkening

distributed = pytest.importorskip("distributed")

NT = 7  # frames: chunks of 3 give blocks of 3, 3, 1
TARGET = "2011-02-15T06:00"


def _variant(smap, k):
    """Frame ``k`` of a series: later, observer slightly elsewhere, pointing drifted."""
    meta = smap.meta.copy()
    for key in ("date-obs", "t_obs", "date-avg"):
        if key in meta:
            meta[key] = (parse_time(meta[key]) + TimeDelta(5400 * k, format="sec")).utc.isot
    meta["crval1"] = meta.get("crval1", 0.0) + 0.7 * k
    meta["dsun_obs"] = meta["dsun_obs"] * (1 + 2e-5 * k)
    meta["hgln_obs"] = meta.get("hgln_obs", 0.0) + 0.01 * k
    return sunpy.map.Map(smap.data * np.float32(1 + 0.01 * k), meta)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """FITS folders of 7 continuum, magnetogram and EUV frames (48²) with per-frame geometry."""
    sun = synthetic.SyntheticSun(seed=3)
    folder = tmp_path_factory.mktemp("series")
    maps = {"continuum": sun.continuum("2011-02-15T00:00", shape=48),
            "magnetogram": sun.magnetogram("2011-02-15T00:00", shape=48),
            "euv": sun.euv("2011-02-15T00:00", 171, shape=48)}
    out = {}
    for kind, smap in maps.items():
        (folder / kind).mkdir()
        for k in range(NT):
            _variant(smap, k).save(folder / kind / f"{kind}_{k}.fits")
        out[kind] = str(folder / kind / "*.fits")
    return out


@pytest.fixture(scope="module")
def eager(series):
    return {kind: solarprep.load(pattern, progress=False) for kind, pattern in series.items()}


def _chunked(ds, n=3):
    return ds.chunk({"time": n})


def _dataset(obj):
    return obj.to_dataset(name=obj.name or "result") if isinstance(obj, xr.DataArray) else obj


def assert_bitwise(expected, chunked):
    """``chunked`` is lazy and computes to ``expected`` bit for bit (history aside)."""
    expected, chunked = _dataset(expected), _dataset(chunked)
    assert blocks.is_chunked(chunked), "the chunked path was not taken (no dask variable)"
    got = chunked.compute()
    assert sorted(got.variables) == sorted(expected.variables)
    for name, var in expected.variables.items():
        other = got[name].variable
        assert other.dims == var.dims and other.dtype == var.dtype, name
        a, b = np.ascontiguousarray(var.values), np.ascontiguousarray(other.values)
        if a.dtype.kind in "fcmM":
            assert a.tobytes() == b.tobytes(), f"{name} differs"
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
        assert var.attrs == other.attrs, name
    drop = ("history", store.PROGRESS_ATTR)
    assert {k: v for k, v in got.attrs.items() if k not in drop} == \
        {k: v for k, v in expected.attrs.items() if k not in drop}


def _fit(ds):
    return solarprep.fit_limb_darkening(ds)


def _as_field(ds):
    out = ds.copy()
    out["intensity"] = (out.intensity - 50000) / 20
    out.intensity.attrs.update(units="G", long_name="field")
    return out


OPERATIONS = {
    "disk_coordinates": ("continuum", solarprep.disk_coordinates),
    "derotate": ("continuum", lambda ds: solarprep.derotate(ds, TARGET)),
    "derotate_bicubic_same_observer": (
        "magnetogram", lambda ds: solarprep.derotate(ds, TARGET, order=3, observer="same")),
    "remove_limb_darkening_fit": ("continuum", solarprep.remove_limb_darkening),
    "remove_limb_darkening_law": (
        "continuum", lambda ds: solarprep.remove_limb_darkening(
            ds, LimbDarkening.quadratic(0.42, 0.21), i0=np.linspace(5e4, 6e4, NT))),
    "fit_limb_darkening": ("continuum", _fit),
    "foreshortening_correct": ("magnetogram",
                               lambda ds: solarprep.foreshortening_correct(ds, kind="radial-field")),
    "pixel_area": ("magnetogram", solarprep.pixel_area),
    "total_unsigned_flux": ("magnetogram", solarprep.total_unsigned_flux),
    "disk_integrate": ("continuum", lambda ds: solarprep.disk_integrate(ds, reference=4e-4,
                                                                        mu_min=0.2)),
    "scale_euv_median": ("euv", lambda ds: scalings.scale(ds, "euv_median_log10")),
    "scale_aia_log2": ("euv", lambda ds: scalings.scale(ds, "aia_log2")),
    "unscale_euv_median": ("euv", lambda ds: scalings.unscale(scalings.scale(ds,
                                                                            "euv_median_log10"))),
    "regrid_disk": ("euv", lambda ds: solarprep.regrid_disk(ds, shape=32, radius=12,
                                                            progress=False)),
    "track": ("continuum", lambda ds: solarprep.track(ds, (10 * u.deg, 0 * u.deg), 12, 0.04,
                                                      reference_time=TARGET)),
}


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_per_frame_operation_chunked_equals_eager(op, eager, dask_client):
    kind, func = OPERATIONS[op]
    ds = eager[kind]
    assert_bitwise(func(ds), func(_chunked(ds)))


def test_limb_darkening_on_a_lazy_derotated_series(eager, dask_client):
    ds = eager["continuum"]
    expected = solarprep.remove_limb_darkening(solarprep.derotate(ds, TARGET))
    assert_bitwise(expected, solarprep.remove_limb_darkening(solarprep.derotate(_chunked(ds, 2),
                                                                                TARGET)))


def test_build_pairs_chunked_equals_eager(eager, dask_client):
    a, b = eager["magnetogram"], eager["euv"]
    kw = dict(shape=32, radius=12, progress=False)
    assert_bitwise(solarprep.build_pairs(a, b, **kw),
                   solarprep.build_pairs(_chunked(a, 2), _chunked(b, 3), **kw))


def _dopplergrams(nt=150, seed=0):
    rng = np.random.default_rng(seed)
    times = np.datetime64("2024-01-01T00:00", "ns") + (np.arange(nt) * 45e9).astype("timedelta64[ns]")
    cube = rng.standard_normal((nt, 4, 5)).astype(np.float32)
    return xr.Dataset({"vlos": (("time", "y", "x"), cube,
                                {"units": "m / s", "long_name": "LOS velocity"})},
                      coords={"time": times})


@pytest.mark.parametrize("convention", ["physical", "solared"])
def test_power_maps_across_chunk_borders(convention, dask_client):
    ds = _dopplergrams()
    kw = dict(window=48 * 45.0, step=20 * 45.0, convention=convention, device="cpu")
    chunked = power_maps(ds.chunk({"time": 23}), **kw)
    starts = np.arange(0, 150 - 48 + 1, 20)
    assert any((a // 23) != ((a + 47) // 23) for a in starts), "no window spans a border"
    assert_bitwise(power_maps(ds, **kw), chunked)


def test_power_maps_and_differences_with_a_gap(dask_client):
    ds = _dopplergrams().isel(time=np.r_[0:70, 71:150])
    kw = dict(window=32 * 45.0, convention="solared", device="cpu")
    assert_bitwise(power_maps(ds, **kw), power_maps(ds.chunk({"time": 10}), **kw))
    assert_bitwise(solarprep.doppler_difference(ds),
                   solarprep.doppler_difference(ds.chunk({"time": 10})))


def test_whole_series_defaults_raise_on_chunked_input(eager):
    ds = _chunked(eager["continuum"])
    with pytest.raises(ChunkingError, match="reference_time="):
        solarprep.track(ds, (10 * u.deg, 0 * u.deg), 12, 0.04)
    with pytest.raises(ChunkingError, match="reference='median'.*reference=<value>"):
        solarprep.disk_integrate(ds)
    with pytest.raises(ChunkingError, match="reference=0"):
        solarprep.disk_integrate(ds, reference=0)
    with pytest.raises(ChunkingError, match="fit them on an in-memory sample"):
        normalize.fit_zscore(ds, split_mask="all")
    with pytest.raises(PipelineError, match="derotate:to="):
        pipeline.parse_step("derotate")(ds)
    stats = normalize.fit_zscore(eager["continuum"], split_mask="all")  # given: fine, lazily
    assert_bitwise(normalize.apply(eager["continuum"], stats), normalize.apply(ds, stats))


def test_lazy_load_reads_no_pixel_before_compute(series, eager, monkeypatch):
    reads = []
    original = loader._open_fits

    def counting(path, unit=None, header_only=False):
        reads.append("header" if header_only else "pixels")
        return original(path, unit, header_only)

    monkeypatch.setattr(loader, "_open_fits", counting)
    monkeypatch.setattr(solarprep.parallel.cluster, "active_client", lambda: None)
    with solarprep.parallel.connect("synchronous"):
        lazy = solarprep.load(series["continuum"], chunks={"time": 3}, progress=False)
        assert reads == ["header"] * NT
        assert lazy.intensity.data.chunks[0] == (3, 3, 1)
        assert lazy.intensity.data.npartitions == 3
        assert_bitwise(eager["continuum"], lazy)
    assert reads.count("pixels") == NT
    with pytest.raises(ChunkingError, match="along 'time' only"):
        solarprep.load(series["continuum"], chunks={"time": 2, "x": 10})


def test_lazy_load_reads_headers_on_the_workers(series, eager, dask_client, caplog):
    with caplog.at_level("INFO", logger="solarprep.io.lazy"):
        lazy = solarprep.load(series["magnetogram"], chunks={"time": 2}, progress=False)
    assert "headers on the dask cluster" in caplog.text
    assert_bitwise(eager["magnetogram"], lazy)


def test_one_numba_thread_per_worker_and_kernels_release_the_gil(dask_client):
    import numba

    import kernels.cpu

    def threads(n):
        return np.full(n, numba.get_num_threads())

    env = dask_client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
    assert set(env.values()) == {"1"}
    used = blocks.map_frames(lambda rows: threads(rows.shape[0]),
                             blocks.frame_rows(np.zeros((6, 2))).chunk({"time": 2}),
                             output_core_dims=[[]], output_dtypes=[np.int64]).compute()
    assert set(used.values) == {1}
    dispatchers = [f for module in (kernels.cpu.disk, kernels.cpu.remap, kernels.cpu.photometry,
                                    kernels.cpu.power)
                   for f in vars(module).values() if isinstance(f, numba.core.registry.CPUDispatcher)
                   and not f.targetoptions.get("inline") == "always"]
    assert len(dispatchers) >= 14
    assert all(f.targetoptions.get("nogil") for f in dispatchers), \
        [f.__name__ for f in dispatchers if not f.targetoptions.get("nogil")]


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_save_then_open_dataset_chunked_round_trips(tmp_path, eager, suffix, dask_client):
    ds = solarprep.derotate(_chunked(eager["continuum"]), TARGET)
    # zarr on the cluster; netCDF (one HDF5 file, written under a lock) from local threads
    with dask.config.set(scheduler="dask.distributed" if suffix == ".zarr" else "threads"):
        path = solarprep.save(ds, tmp_path / f"d{suffix}")
    back = solarprep.open_dataset(path, chunks={"time": 3})
    assert back.intensity.data.chunks[0] == (3, 3, 1)
    assert not blocks.is_chunked(back.crpix1) and isinstance(back.crpix1.data, np.ndarray)
    key = "chunks" if suffix == ".zarr" else "chunksizes"
    assert back.intensity.encoding[key] == (3, 48, 48)
    xr.testing.assert_identical(back.compute(), ds.compute())
    if suffix == ".zarr":
        meta = json.loads((path / "zarr.json").read_text())
        assert "intensity" in meta["consolidated_metadata"]["metadata"]


def test_append_to_zarr_and_fsspec_urls(tmp_path, eager):
    ds = eager["euv"].chunk({"time": 2})
    target = tmp_path / "a.zarr"
    for part in (slice(0, 3), slice(3, 4), slice(4, NT)):  # appends that start mid-chunk
        solarprep.save(ds.isel(time=part), target, append_dim="time")
    back = solarprep.open_dataset(target)
    assert back.euv171.encoding["chunks"] == (2, 48, 48)
    xr.testing.assert_identical(back, eager["euv"])
    url = "memory://solarprep-test/a.zarr"  # fsspec's memory is per process: no workers
    with dask.config.set(scheduler="synchronous"):
        solarprep.save(ds.isel(time=slice(0, 5)), url, append_dim="time")
        solarprep.save(ds.isel(time=slice(5, NT)), url, append_dim="time")
        xr.testing.assert_identical(solarprep.open_dataset(url), eager["euv"])
        solarprep.save(ds, "memory://solarprep-test/a.nc")
        xr.testing.assert_identical(solarprep.open_dataset("memory://solarprep-test/a.nc",
                                                           chunks=2).compute(), eager["euv"])
    with pytest.raises(ValueError, match="append_dim needs a zarr store"):
        solarprep.save(ds, tmp_path / "b.nc", append_dim="time")


STEPS = [f"derotate:to={TARGET}", "limb-darkening"]


@pytest.fixture(scope="module")
def clean_run(series, tmp_path_factory):
    """The store of an uninterrupted run (chunks of 2 frames, batches of 2)."""
    out = tmp_path_factory.mktemp("clean") / "clean.zarr"
    pipeline.run(series["continuum"], STEPS, out, chunks=2, batch=2, progress=False)
    return out


def _without_progress(ds):
    ds = ds.copy()
    for key in ("history", store.PROGRESS_ATTR):
        ds.attrs.pop(key, None)
    return ds


def test_pipeline_equals_the_eager_operations(series, eager, clean_run, tmp_path):
    expected = solarprep.remove_limb_darkening(solarprep.derotate(eager["continuum"], TARGET))
    expected = expected.drop_vars(["mu", "hgs_lat", "hgs_lon", "on_disk"])
    assert_bitwise(expected, solarprep.open_dataset(clean_run, chunks=2))
    assert store.progress(clean_run)["frames"] == NT
    with pytest.raises(PipelineError, match="another job"):
        pipeline.run(series["continuum"], ["limb-darkening"], clean_run, progress=False)
    with pytest.raises(PipelineError, match="unknown step 'derotation'"):
        pipeline.run(series["continuum"], ["derotation"], tmp_path / "x.zarr", progress=False)


_CRASH = {"armed": False, "at": 4}


def crash_step(ds):
    """A step whose computation of frame 4 fails while armed (a crash in the middle of a batch)."""
    def block(data, frames=None):
        if _CRASH["armed"] and _CRASH["at"] in frames:
            raise RuntimeError("simulated crash")
        return data

    out = ds.copy()
    out["intensity"] = ds["intensity"].copy(data=blocks.map_frames(
        block, ds["intensity"], output_core_dims=[["y", "x"]], output_dtypes=[np.float32],
        frame_index=True).data)
    return out


def test_crash_in_the_middle_of_a_batch_resumes_to_the_clean_store(series, clean_run, tmp_path):
    clean = solarprep.open_dataset(clean_run)
    out = tmp_path / "crashed.zarr"
    _CRASH["armed"] = True
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            pipeline.run(series["continuum"], [crash_step, *STEPS], out, chunks=2, batch=2,
                         progress=False, scheduler="synchronous")
    finally:
        _CRASH["armed"] = False
    half = xr.open_zarr(out)
    assert json.loads(half.attrs[store.PROGRESS_ATTR])["frames"] == 4
    assert half.sizes["time"] == 6  # the failed batch was appended but never written
    pipeline.run(series["continuum"], [crash_step, *STEPS], out, chunks=2, batch=2,
                 progress=False, scheduler="synchronous")
    xr.testing.assert_identical(_without_progress(solarprep.open_dataset(out)),
                                _without_progress(clean))


_KILLED_RUN = """
import os, signal, sys, threading
from solarprep.parallel import pipeline

def kill_soon(frames):  # SIGKILL (no clean-up) a moment into the batch after the second
    if frames >= 2:
        threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGKILL)).start()

pipeline.run(sys.argv[1], sys.argv[3:], sys.argv[2], chunks=1, batch=1, progress=False,
             scheduler="threads", on_batch=kill_soon)
"""


def test_killed_client_resumes_to_the_clean_store(series, clean_run, tmp_path):
    clean = solarprep.open_dataset(clean_run)
    out = tmp_path / "killed.zarr"
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, series["continuum"], str(out),
                           *STEPS], capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    done = store.progress(out)["frames"]
    assert 2 <= done < NT
    from solarprep.cli import main

    assert main(["run", series["continuum"], "-o", str(out), "--chunks", "1", "--scheduler",
                 "threads", "--no-progress", *[a for s in STEPS for a in ("--step", s)]]) == 0
    xr.testing.assert_identical(_without_progress(solarprep.open_dataset(out)),
                                _without_progress(clean))


def test_killed_worker_mid_run_gives_the_clean_store(series, clean_run, tmp_path, dask_client):
    clean = solarprep.open_dataset(clean_run)
    before = set(dask_client.scheduler_info()["workers"])
    killed, commits = [], []

    def kill(worker):
        dask_client.run(os._exit, 1, workers=[worker], on_error="ignore")  # no reply: it died
        killed.append(time.monotonic())

    def on_batch(frames):
        commits.append(time.monotonic())
        if len(commits) == 1:  # a worker dies during the next batch
            threading.Timer(0.05, kill, args=(sorted(before)[0],)).start()

    out = tmp_path / "worker.zarr"
    pipeline.run(series["continuum"], STEPS, out, chunks=1, batch=2, progress=False,
                 scheduler=dask_client.scheduler.address, on_batch=on_batch)
    assert killed and any(t > killed[0] for t in commits), "the worker died after the run"
    xr.testing.assert_identical(_without_progress(solarprep.open_dataset(out)),
                                _without_progress(clean))
    dask_client.wait_for_workers(2, timeout=60)
    assert sorted(before)[0] not in dask_client.scheduler_info()["workers"]  # it was replaced


@pytest.mark.gpu
def test_chunked_on_the_gpu_equals_eager_on_the_gpu(eager):
    """CuPy blocks (as dask-cuda gives them): the CUDA kernels run per block.

    Computed in this process, one block at a time (numba's simulator runs one kernel at a
    time), so that it runs on the CuPy stand-in too; the
    dask-cuda cluster itself is the next test's (real GPUs only).
    """
    import dask

    cupy = pytest.importorskip("cupy")
    small = eager["continuum"].isel(time=slice(0, 3))  # the simulator is slow: 3 frames
    ds = blocks.images_to_device(small, "cuda")
    lazy = blocks.images_to_device(_chunked(small, 2), "cuda")
    assert isinstance(lazy.intensity.data._meta, cupy.ndarray)
    with dask.config.set(scheduler="synchronous"):
        for func in (lambda x: solarprep.derotate(x, TARGET), solarprep.remove_limb_darkening,
                     lambda x: solarprep.foreshortening_correct(x, mu_min=0.2)):
            expected, got = func(ds), func(lazy)
            assert isinstance(got.intensity.data._meta, cupy.ndarray)
            assert_bitwise(solarprep.to_device(expected, "cpu"), solarprep.to_device(got, "cpu"))


@pytest.mark.real_gpu
def test_local_cuda_cluster_pipeline(series, eager, tmp_path):
    pytest.importorskip("dask_cuda")
    out = tmp_path / "gpu.zarr"
    pipeline.run(series["continuum"], STEPS, out, chunks=2, scheduler="local", device="cuda",
                 progress=False)
    expected = solarprep.remove_limb_darkening(solarprep.derotate(eager["continuum"], TARGET))
    back = solarprep.open_dataset(out)
    np.testing.assert_allclose(back.intensity.values, expected.intensity.values, rtol=2e-5,
                               atol=2e-5)
