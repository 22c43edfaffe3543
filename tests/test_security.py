"""No code runs from data files, no writes outside the folders asked for (issue 13).

Every reader of user files is checked here: SOLARED ``.npz`` timelines (restricted
unpickling of the timestamps), zarr stores (no ``pickle`` codec), names taken from data or
configs that become paths (active regions, run names), and a source audit that no module
of the three packages calls ``pickle.load``, ``np.load(allow_pickle=True)``, ``eval``,
``exec``, ``yaml.load`` or ``torch.load`` without ``weights_only=True``.
"""
import ast
import datetime
import io
import json
import os
import pathlib
import pickle
import shutil
import sys
import zipfile

import numpy as np
import pytest

from solarprep.datasets import solared
from solarprep.errors import SolarDataError
from solarprep.io.npz import load_npz

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Audit events that would mean code from a file ran.
_DANGEROUS_EVENTS = ("os.system", "subprocess.Popen", "exec", "os.exec", "os.posix_spawn",
                     "os.spawn", "ctypes.dlopen", "shutil.rmtree")
_AUDIT = {"on": False, "seen": []}


def _audit(event, args):
    if not _AUDIT["on"] or not event.startswith(_DANGEROUS_EVENTS):
        return
    if event == "exec" and not getattr(args[0], "co_filename", "<").startswith("<"):
        return                          # a module being imported, not a string being run
    _AUDIT["seen"].append(event)


sys.addaudithook(_audit)


class _Watch:
    """Records dangerous audit events (os.system, exec, subprocess...) while active."""

    def __enter__(self):
        _AUDIT["seen"].clear()
        _AUDIT["on"] = True
        return _AUDIT["seen"]

    def __exit__(self, *exc):
        _AUDIT["on"] = False
        return False


class _Payload:
    """Unpickling this calls ``func(*args)``: the classic pickle exploit."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _npy(pickled, shape):
    """An .npy member: an object-array header followed by ``pickled``."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "|O", "fortran_order": False,
                                               "shape": shape})
    return head.getvalue() + pickled


def _replace_member(src, dst, member, data):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, data if info.filename == member else zin.read(info))


def _payloads(marker):
    touch = f"touch {marker}"
    return {
        "os.system": pickle.dumps(_Payload(os.system, touch), protocol=2),
        "os.system protocol 4": pickle.dumps(_Payload(os.system, touch), protocol=4),
        "builtins.exec": pickle.dumps(_Payload(exec, f"open({str(marker)!r}, 'w').close()")),
        "builtins.eval": pickle.dumps(_Payload(eval, f"open({str(marker)!r}, 'w')")),
        "shutil.rmtree": pickle.dumps(_Payload(shutil.rmtree, str(marker.parent / "victim"))),
        "inside an allowed array": pickle.dumps(np.array(
            [datetime.datetime(2011, 1, 1), _Payload(os.system, touch)], dtype=object)),
        "reconstruct with a foreign class": (
            b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncos\nsystem\n"
            b"K\x00\x85c__builtin__\nbytes\n)R\x87R."),
    }


@pytest.fixture
def ar_folder(real_data, tmp_path):
    folder = tmp_path / "AR11158"
    shutil.copytree(real_data / "solared" / "AR11158", folder)
    return folder


@pytest.mark.parametrize("kind", ["os.system", "os.system protocol 4", "builtins.exec",
                                  "builtins.eval", "shutil.rmtree", "inside an allowed array",
                                  "reconstruct with a foreign class"])
def test_malicious_timestamps_raise_and_run_nothing(ar_folder, tmp_path, kind):
    marker = tmp_path / "pwned"
    (tmp_path / "victim").mkdir()
    path = ar_folder / "mean_pmdop11158_flat.npz"
    clean = tmp_path / "clean.npz"
    shutil.copy(path, clean)
    _replace_member(clean, path, "arr_4.npy", _npy(_payloads(marker)[kind], (2,)))
    with _Watch() as seen, pytest.raises(SolarDataError) as err:
        solared.read_timelines(ar_folder)
    assert str(path) in str(err.value) and "arr_4" in str(err.value)
    assert not marker.exists() and (tmp_path / "victim").is_dir()
    assert seen == [], f"code ran while reading: {seen}"


def test_malicious_file_through_build_and_cli(ar_folder, tmp_path, capsys):
    from solarprep.cli import main

    marker = tmp_path / "pwned"
    path = ar_folder / "mean_int11158_flat.npz"
    clean = tmp_path / "clean.npz"
    shutil.copy(path, clean)
    _replace_member(clean, path, "arr_1.npy", _npy(_payloads(marker)["os.system"], (2,)))
    with _Watch() as seen:
        with pytest.raises(SolarDataError, match=r"refused to unpickle.*(os|posix)\.system"):
            solared.build([ar_folder], progress=False)
        with pytest.raises(SolarDataError, match="nothing from this file was run"):
            main(["build-solared", str(ar_folder), "-o", str(tmp_path / "out"), "--no-progress"])
    assert not marker.exists() and seen == []


def test_real_timestamps_read_without_numpy_pickle(real_data):
    """The restricted reader gives exactly what np.load(allow_pickle=True) gives."""
    for path in sorted((real_data / "solared" / "AR11726").glob("*.npz")):
        ours = load_npz(path)
        with np.load(path, allow_pickle=True) as z:
            assert list(ours) == z.files
            for key in z.files:
                assert ours[key].dtype == z[key].dtype
                np.testing.assert_array_equal(ours[key], z[key])


def test_object_arrays_hold_datetimes_only(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, arr_0=np.array(["a", 3], dtype=object))
    with pytest.raises(SolarDataError, match="holds str objects"):
        load_npz(path)
    np.savez(path, arr_0=np.array([np.float64(1.0)], dtype=object))
    with pytest.raises(SolarDataError, match=r"numpy\..*scalar"):
        load_npz(path)


@pytest.mark.parametrize("reader", ["open_dataset", "open_pairs"])
def test_zarr_store_with_pickle_codec_is_refused(tmp_path, reader):
    from solarprep import open_dataset

    read = open_dataset
    if reader == "open_pairs":
        pytest.importorskip("torch", reason="solarmodels needs torch")
        from solarmodels.datasets.pairs import open_pairs as read

    store = tmp_path / "evil.zarr"
    (store / "x").mkdir(parents=True)
    (store / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (store / "x" / ".zarray").write_text(json.dumps(
        {"chunks": [1], "compressor": None, "dtype": "|O", "fill_value": 0, "order": "C",
         "filters": [{"id": "pickle", "protocol": 4}], "shape": [1], "zarr_format": 2}))
    (store / "x" / ".zattrs").write_text(json.dumps({"_ARRAY_DIMENSIONS": ["t"]}))
    (store / "x" / "0").write_bytes(pickle.dumps(_Payload(os.system, f"touch {tmp_path}/p")))
    with _Watch() as seen, pytest.raises(SolarDataError, match=r"evil\.zarr.*'pickle' codec"):
        read(store)
    assert seen == [] and not (tmp_path / "p").exists()


@pytest.mark.parametrize("name", ["../../evil", "/tmp/evil", "a/b", "..", ".hidden", "a\\b"])
def test_active_region_names_cannot_leave_the_folder(real_data, tmp_path, name):
    from solarprep import save

    ds = solared.keep_tiles(solared.read_timelines(real_data / "solared" / "AR11158"))
    ds.attrs["active_region"] = name
    inner = tmp_path / "a" / "b"
    with pytest.raises(SolarDataError, match="cannot be used in a file name"):
        solared.write_timelines(ds, inner)
    nc = tmp_path / "region.nc"
    save(ds, nc, check=False)
    with pytest.raises(SolarDataError, match="cannot be used in a file name"):
        solared.build([nc], out=inner / "out", progress=False)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["region.nc"]


def test_run_names_cannot_leave_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch", reason="solarmodels needs torch")
    from solarmodels.cli import main
    from solarmodels.config import ConfigError, RunConfig, default_run_dir

    for bad in ("../../elsewhere", "/abs/run", "a/b", "a\\b", "..", ".x", "C:run", "~", "a b"):
        with pytest.raises(ConfigError, match="cannot be a folder under runs/"):
            default_run_dir(RunConfig(name=bad), source="run.toml")
    assert default_run_dir(RunConfig(name="p2p-b.v1")) == pathlib.Path("runs/p2p-b.v1")
    assert default_run_dir(RunConfig(model="unet", system="a")) == pathlib.Path("runs/unet_a")
    work = tmp_path / "x" / "y"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    cfg = work / "run.toml"
    cfg.write_text('name = "../../elsewhere"\nmodel = "pix2pix_unet"\nsystem = "pix2pix_a"\n'
                   '[data]\ndataset = "pairs"\npath = "none.nc"\n')
    assert main(["train", str(cfg)]) == 2
    assert "'../../elsewhere' cannot be a folder under runs/" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["run.toml", "x", "y"]


# --------------------------------------------------------------------------- source audit

def _calls(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                owner, name = "", func.id
            elif isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else "<expr>"
                name = func.attr
            else:
                continue
            kwargs = {k.arg: k.value for k in node.keywords}
            yield owner, name, kwargs


def test_no_unsafe_deserialisation_in_the_packages():
    """pickle, eval/exec, yaml.load, np.load(allow_pickle), torch.load without weights_only."""
    problems = []
    for package in ("solarprep", "kernels", "solarmodels", "examples"):
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT)
            for owner, name, kw in _calls(path):
                if owner in ("pickle", "cPickle", "dill", "marshal", "shelve") and \
                        name in ("load", "loads", "open"):
                    problems.append(f"{where}: {owner}.{name}")
                if owner == "" and name in ("eval", "exec"):
                    problems.append(f"{where}: {name}()")
                if owner == "yaml" and name in ("load", "unsafe_load", "full_load"):
                    problems.append(f"{where}: yaml.{name} (use yaml.safe_load)")
                if name == "load" and owner in ("np", "numpy"):
                    allow = kw.get("allow_pickle")
                    if allow is not None and not (isinstance(allow, ast.Constant)
                                                  and allow.value is False):
                        problems.append(f"{where}: np.load(allow_pickle=...)")
                if owner == "torch" and name == "load":
                    wo = kw.get("weights_only")
                    if not (isinstance(wo, ast.Constant) and wo.value is True):
                        problems.append(f"{where}: torch.load without weights_only=True")
    assert not problems, "unsafe deserialisation:\n" + "\n".join(problems)


def test_a_crafted_latest_pointer_cannot_leave_the_run(tmp_path):
    pytest.importorskip("torch", reason="solarmodels needs torch")
    from solarmodels.trainer import latest_checkpoint

    run = tmp_path / "run"
    (run / "checkpoints" / "step_00000002").mkdir(parents=True)
    outside = tmp_path / "elsewhere" / "step_00000009"
    outside.mkdir(parents=True)
    (run / "checkpoints" / "latest").write_text("../../elsewhere/step_00000009")
    assert latest_checkpoint(run) == run / "checkpoints" / "step_00000002"
    (run / "checkpoints" / "latest").write_text(str(outside))
    assert latest_checkpoint(run) == run / "checkpoints" / "step_00000002"
    (run / "checkpoints" / "latest").write_text("step_00000002")
    assert latest_checkpoint(run) == run / "checkpoints" / "step_00000002"
