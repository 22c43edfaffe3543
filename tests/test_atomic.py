"""Atomic, durable writes (solarprep.io.atomic): no debris, no lost or partial files (issue 13).

Failures (exceptions, KeyboardInterrupt) remove the temporary; temporaries of killed writers
are removed by the next write when stale; the file and its folder are fsynced around the
rename; replacing a zarr store keeps a complete store under the final name at every moment,
checked by injecting a crash at the swap (monkeypatch and a process that dies there) and by
killing writers at random moments.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from solarprep import open_dataset, save
from solarprep.dataset import cf_decode
from solarprep.io import atomic
from solarprep.io.atomic import atomic_path, clean_stale, temporary_name, write_text
from solarprep.plotting import save_figure

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _dataset(value=0.0, n=4, size=32):
    data = np.full((n, size, size), value, np.float32) + np.arange(size, dtype=np.float32)
    return xr.Dataset({"v": (("time", "y", "x"), data, {"units": "", "long_name": "v"})},
                      coords={"time": np.arange(n).astype("datetime64[s]").astype("datetime64[ns]")})


def _listing(folder):
    return sorted(p.name for p in pathlib.Path(folder).iterdir())


class _Boom(Exception):
    pass


@pytest.mark.parametrize("error", [_Boom, KeyboardInterrupt])
@pytest.mark.parametrize("kind", ["file", "folder"])
def test_failed_write_removes_the_temporary(tmp_path, error, kind):
    target = tmp_path / "out"
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            if kind == "file":
                tmp.write_bytes(b"partial")
            else:
                (tmp / "sub").mkdir(parents=True)
                (tmp / "sub" / "chunk").write_bytes(b"partial")
            raise error()
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("suffix, method", [(".nc", "to_netcdf"), (".zarr", "to_zarr")])
def test_keyboard_interrupt_during_save_leaves_old_target(tmp_path, monkeypatch, suffix, method):
    path = save(_dataset(1.0), tmp_path / f"s{suffix}", check=False)
    real = getattr(xr.Dataset, method)

    def interrupted(self, target, *args, **kwargs):
        real(self, target, *args, **kwargs)           # the temporary is complete...
        raise KeyboardInterrupt                       # ...and then the user presses Ctrl-C

    monkeypatch.setattr(xr.Dataset, method, interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(_dataset(2.0), path, check=False)
    monkeypatch.undo()
    assert _listing(tmp_path) == [f"s{suffix}"]
    xr.testing.assert_identical(open_dataset(path), _dataset(1.0))


def test_other_writers_leave_nothing_on_failure(tmp_path, monkeypatch, real_data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from solarprep.datasets import solared
    from solarprep.synthetic.fits import write_fits

    fig = plt.figure()
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: (_ for _ in ()).throw(_Boom()))
    with pytest.raises(_Boom):
        save_figure(fig, tmp_path / "f.png")
    plt.close(fig)
    monkeypatch.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    ds = solared.read_timelines(real_data / "solared" / "AR11158")
    with pytest.raises(KeyboardInterrupt):
        solared.write_timelines(ds, tmp_path)
    from astropy.io import fits

    monkeypatch.setattr(fits.PrimaryHDU, "writeto", lambda *a, **k: (_ for _ in ()).throw(_Boom()))
    with pytest.raises(_Boom):
        write_fits(np.zeros((4, 4)), tmp_path / "x.fits", header={"BUNIT": "DN"})
    assert _listing(tmp_path) == []


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_are_removed_by_the_next_write(tmp_path):
    target = save(_dataset(), tmp_path / "s.nc", check=False)
    host = atomic._HOST
    other = "ffffff" if host != "ffffff" else "eeeeee"
    dead, alive = _dead_pid(), os.getppid()
    names = {
        f".s.nc.tmp-{host}-{dead}-0123abcd": "removed",        # owner gone
        f".s.nc.tmp-{host}-{alive}-0123abcd": "kept",          # owner alive, recent
        f".s.nc.tmp-{host}-{alive}-4567abcd": "old",           # owner alive, 2 days old
        f".s.nc.tmp-{other}-{dead}-0123abcd": "kept",          # other machine, recent
        f".s.nc.tmp-{other}-{dead}-89abcdef": "old",           # other machine, 2 days old
        f".s.nc.tmp-{dead}-0123abcd": "kept",                  # older versions' name, recent
        f".s.nc.tmp-{dead}-fedcba98": "old",                   # older versions' name, old
        f".s.nc.old-{host}-{dead}-0123abcd": "removed",        # old store, target exists
        ".s.nc.tmp-notours": "kept",                           # not our pattern
        f".t.nc.tmp-{host}-{dead}-0123abcd": "kept",           # another target
        "s.nc.bak": "kept",
    }
    for name, fate in names.items():
        (tmp_path / name).mkdir() if "old-" in name else (tmp_path / name).write_bytes(b"x")
        if fate == "old":
            stamp = time.time() - 2 * 86400
            os.utime(tmp_path / name, (stamp, stamp))
    save(_dataset(), target, check=False)
    left = set(_listing(tmp_path))
    for name, fate in names.items():
        assert (name in left) == (fate == "kept"), (name, fate)
    assert "s.nc" in left


def test_fsync_file_before_rename_and_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(src), os.fspath(dst)))
        return real_replace(src, dst)

    if not pathlib.Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the fsynced files")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = write_text(tmp_path / "a.txt", "hello")
    kinds = [e[0] for e in events]
    i = kinds.index("replace")
    tmp = events[i][1]
    assert ("fsync", tmp) in events[:i] and ("fsync", str(tmp_path)) in events[i + 1:]
    assert target.read_text() == "hello"


def test_zarr_overwrite_keeps_a_complete_store_under_the_name(tmp_path, monkeypatch):
    path = save(_dataset(1.0), tmp_path / "s.zarr", check=False)
    real_exchange = atomic._exchange
    seen = {}

    def exchange(a, b):      # the crash window: new store complete, not yet in place
        seen["before"] = open_dataset(b)
        seen["new"] = cf_decode(xr.open_dataset(a, engine="zarr", consolidated=False).load())
        done = real_exchange(a, b)
        seen["after"] = open_dataset(b)
        return done

    monkeypatch.setattr(atomic, "_exchange", exchange)
    save(_dataset(2.0), path, check=False)
    xr.testing.assert_identical(seen["before"], _dataset(1.0))
    xr.testing.assert_identical(seen["new"], _dataset(2.0))
    xr.testing.assert_identical(seen["after"], _dataset(2.0))
    assert _listing(tmp_path) == ["s.zarr"]


def test_zarr_fallback_crash_between_renames_is_recovered(tmp_path, monkeypatch):
    """Without an atomic exchange, a crash after the old store moved aside loses nothing."""
    path = save(_dataset(1.0), tmp_path / "s.zarr", check=False)
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    real_replace, calls = os.replace, []

    class Crash(BaseException):
        pass

    def replace(src, dst):
        if path in (pathlib.Path(src), pathlib.Path(dst)):     # the store renames, not zarr's
            calls.append(dst)
            if len(calls) > 1:             # the process dies after the first rename
                raise Crash
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(Crash):
        save(_dataset(2.0), path, check=False)
    monkeypatch.undo()
    assert not path.exists() and any(n.startswith(".s.zarr.old-") for n in _listing(tmp_path))
    monkeypatch.setattr(atomic, "_is_stale", lambda *a: True)   # as once the writer is dead
    xr.testing.assert_identical(open_dataset(path), _dataset(1.0))   # brought back
    assert _listing(tmp_path) == ["s.zarr"]


_CHILD_SCRIPT = """
import json, os, random, signal, sys, time
sys.path.insert(0, {tests!r})
import xarray as xr, zarr  # noqa: F401
from test_atomic import _dataset
from solarprep import save
from solarprep.io import atomic
ds = _dataset(2.0, n=8, size=128)
save(ds, sys.argv[2] + ".warm.nc", check=False)   # lazy imports done before the forks (no
os.remove(sys.argv[2] + ".warm.nc")               # zarr here: its event-loop thread would
xr.backends.list_engines()                        # not survive a fork)
random.seed(int(sys.argv[1]))


def die_at_swap(target):                 # the new store is complete; die just before the swap
    atomic._exchange = lambda a, b: os._exit(3)


def die_between_renames(target):         # no exchange: die after the old store moved aside
    atomic._exchange = lambda a, b: False
    real, calls = os.replace, []
    def replace(src, dst):
        if target in (os.fspath(src), os.fspath(dst)):
            calls.append(dst)
            if len(calls) > 1:
                os._exit(3)
        return real(src, dst)
    os.replace = replace


codes = []
for job in sys.argv[3:]:
    kind, target = job.split("=", 1)
    pid = os.fork()
    if pid == 0:
        if kind == "kill":               # rewrite the target until killed
            while True:
                save(ds, target, check=False)
        (die_at_swap if kind == "exchange" else die_between_renames)(target)
        save(ds, target, check=False)
        os._exit(0)
    if kind == "kill":
        time.sleep(random.uniform(0.0, 0.1))
        os.kill(pid, signal.SIGKILL)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_crashes_and_kills_during_save_never_lose_or_corrupt_a_file(tmp_path):
    """A writer dying at the zarr swap (both strategies), and 60 SIGKILLs at random moments
    of netCDF and zarr writes over an existing target: the target always opens, with the old
    or the new content, and the next write removes what the dead writers left."""
    old, new = _dataset(1.0, n=8, size=128), _dataset(2.0, n=8, size=128)
    first = {suffix: save(old, tmp_path / f"t0{suffix}", check=False) for suffix in (".nc", ".zarr")}
    targets = list(first.values())
    for k in range(1, 30):
        targets.append(shutil.copy(first[".nc"], tmp_path / f"t{k}.nc"))
        targets.append(shutil.copytree(first[".zarr"], tmp_path / f"t{k}.zarr"))
    crashed = [shutil.copytree(first[".zarr"], tmp_path / f"{kind}.zarr")
               for kind in ("exchange", "fallback")]
    jobs = [f"{p.stem}={p}" for p in crashed] + [f"kill={p}" for p in targets]
    script = _CHILD_SCRIPT.format(tests=str(ROOT / "tests"))
    proc = subprocess.run([sys.executable, "-c", script, "13", str(tmp_path / "scratch"), *jobs],
                          cwd=ROOT, check=True, timeout=300, capture_output=True, text=True)
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert codes[:2] == [3, 3] and len(codes) == 62
    for path in crashed:                  # the old store, under its name, after the crash
        assert len([n for n in _listing(tmp_path) if path.name in n]) == 2
        xr.testing.assert_identical(open_dataset(path), old)
    interrupted = [n for n in _listing(tmp_path) if n.startswith(".t")]
    outcomes = {"old": 0, "new": 0}
    for path in targets:
        got = open_dataset(path)
        state = "new" if got["v"].values[0, 0, 0] == 2.0 else "old"
        outcomes[state] += 1
        xr.testing.assert_identical(got, new if state == "new" else old)
    assert sum(outcomes.values()) == 60
    assert interrupted and outcomes["new"], (interrupted, outcomes)   # kills hit mid-write
    for path in crashed:
        save(new, path, check=False)      # the next write cleans up and succeeds
        xr.testing.assert_identical(open_dataset(path), new)
    for path in targets:
        clean_stale(path)
    assert _listing(tmp_path) == sorted(p.name for p in targets + crashed)


def test_temporary_names_match_the_cleanup_pattern(tmp_path):
    name = temporary_name(tmp_path / "a.b.nc").name
    m = atomic._TEMP_RE.match(name)
    assert m and m.group("name") == "a.b.nc" and int(m.group("pid")) == os.getpid()
    assert m.group("host") == atomic._HOST
