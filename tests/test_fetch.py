"""solarprep.fetch against a local JSOC-like server on 127.0.0.1 (no internet).

The server plays the JSOC export protocol that drms speaks (``jsoc_fetch`` ``exp_request`` →
request id → ``exp_status`` polls → ``dir`` + ``data``) and serves tiny synthetic-Sun FITS
files with HTTP ``Range`` support; each test breaks one thing (a 404, an export that never
completes, a malformed answer, a cut-short or corrupt transfer, a full disk).
"""
import errno
import json
import os
import re

import pytest

pytest.importorskip("drms")
pytest.importorskip("pytest_httpserver")

from werkzeug.wrappers import Response  # noqa: E402

import solarprep  # noqa: E402
from solarprep.errors import ArchiveError, CacheError, DownloadError  # noqa: E402
from solarprep.io.archive import Cache, aia_query, fetch  # noqa: E402
from solarprep.io.archive import cache as cache_module  # noqa: E402

DIR = "/SUM1/D1234/S00000"
RECORDS = ["aia.lev1_euv_12s[2011-02-15T00:00:00Z][171]",
           "aia.lev1_euv_12s[2011-02-15T06:00:00Z][171]"]


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture(scope="module")
def fits_bytes(tmp_path_factory):
    from solarprep import synthetic

    folder = tmp_path_factory.mktemp("synthetic")
    sun = synthetic.SyntheticSun(seed=3)
    paths = sun.write_observations(folder, kinds=("euv171",), shape=16,
                                   times=["2011-02-15T00:00:00", "2011-02-15T06:00:00"])
    return [p.read_bytes() for p in paths]


class FakeJsoc:
    """State of the fake JSOC: export answers, polls, files, failure switches."""

    def __init__(self, files):
        self.files = {f"{DIR}/aia.lev1_euv_12s.{k}.image_lev1.fits": data
                      for k, data in enumerate(files)}
        self.pending_polls = 1          # exp_status answers 'processing' this many times
        self.export_status = 0          # final status: 0 done, 4 failed
        self.malformed = False
        self.missing = set()            # file names answered with 404
        self.cut_once = set()           # file names whose first transfer is cut short
        self.garbage = set()            # file names answered with an HTML page
        self.requests = []
        self.n_export = 0
        self.range_requests = 0

    def __call__(self, request):
        self.requests.append(request.full_path)
        if request.path.endswith("/jsoc_fetch"):
            return self.jsoc_fetch(request.args)
        if request.path.endswith("/checkAddress.sh"):
            return Response(json.dumps({"status": 2, "msg": "Valid and registered"}),
                            content_type="application/json")
        return self.serve(request)

    def jsoc_fetch(self, args):
        if self.malformed:
            return Response("<html>maintenance</html>", content_type="application/json")
        if args["op"] == "exp_request":
            self.n_export += 1
            assert args["method"] == "url" and args["protocol"] == "fits"
            return Response(json.dumps({"status": 2, "requestid": "JSOC_20110215_001",
                                        "wait": 0}), content_type="application/json")
        assert args["op"] == "exp_status" and args["requestid"] == "JSOC_20110215_001"
        if self.pending_polls > 0:
            self.pending_polls -= 1
            return Response(json.dumps({"status": 1, "requestid": "JSOC_20110215_001",
                                        "wait": 0}), content_type="application/json")
        if self.export_status:
            return Response(json.dumps({"status": self.export_status,
                                        "error": "Bad recordset: no such series"}),
                            content_type="application/json")
        data = [{"record": rec, "filename": name.rsplit("/", 1)[1]}
                for rec, name in zip(RECORDS, self.files)]
        return Response(json.dumps({"status": 0, "requestid": "JSOC_20110215_001",
                                    "method": "url", "protocol": "FITS", "dir": DIR,
                                    "data": data, "wait": 0}),
                        content_type="application/json")

    def serve(self, request):
        name = request.path
        base = name.rsplit("/", 1)[1]
        if name not in self.files or base in self.missing:
            return Response("not found", status=404)
        if base in self.garbage:
            return Response("<html>Error: file expired</html>", content_type="text/html")
        data = self.files[name]
        if base in self.cut_once:
            self.cut_once.discard(base)
            # Promise the whole file, send half: the client sees a short read.
            half = data[: len(data) // 2]
            return Response(iter([half]), headers={"Content-Length": str(len(data)),
                                                   "Connection": "close"})
        start = 0
        if request.headers.get("Range"):
            self.range_requests += 1
            start = int(request.headers["Range"].split("=")[1].split("-")[0])
            return Response(data[start:], status=206, headers={
                "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
                content_type="application/fits")
        return Response(data, content_type="application/fits")


@pytest.fixture
def jsoc(httpserver, fits_bytes):
    fake = FakeJsoc(fits_bytes)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake)
    fake.url = httpserver.url_for("/")
    return fake


QUERY = aia_query("2011-02-15", "2011-02-15T12:00", 171, cadence="6h")
FAST = {"email": "test@example.org", "retries": 2, "backoff": 0.01, "timeout": 5,
        "export_timeout": 5, "poll": 0.01, "progress": False}


def _fetch(jsoc, cache, **kw):
    return fetch(QUERY, cache, server=jsoc.url, **{**FAST, **kw})


def test_fetch_downloads_into_the_layout_with_a_manifest(jsoc, tmp_path, fits_bytes):
    paths = _fetch(jsoc, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "aia.lev1_euv_12s/2011-02-15/aia.lev1_euv_12s.0.image_lev1.fits",
        "aia.lev1_euv_12s/2011-02-15/aia.lev1_euv_12s.1.image_lev1.fits"]
    assert [p.read_bytes() for p in paths] == fits_bytes
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["files"][paths[0].relative_to(tmp_path).as_posix()]
    import hashlib

    assert entry["sha256"] == hashlib.sha256(fits_bytes[0]).hexdigest()
    assert entry["size"] == len(fits_bytes[0]) and entry["wavelength"] == 171.0
    assert entry["record"] == RECORDS[0] and entry["record_time"].startswith("2011-02-15")
    assert manifest["requests"][QUERY.key]["complete"] is True
    assert not list(tmp_path.rglob("*.part"))
    ds = solarprep.load(paths, progress=False, device="cpu")
    assert ds.sizes["time"] == 2 and "euv171" in ds


def test_second_fetch_uses_the_cache_without_network(jsoc, tmp_path):
    _fetch(jsoc, tmp_path)
    n = len(jsoc.requests)
    again = _fetch(jsoc, tmp_path)
    assert len(jsoc.requests) == n and len(again) == 2


def test_a_damaged_cached_file_is_detected_and_fetched_again(jsoc, tmp_path, fits_bytes):
    paths = _fetch(jsoc, tmp_path)
    data = bytearray(paths[1].read_bytes())
    data[-1] ^= 0xFF                          # same size, different content
    paths[1].write_bytes(bytes(data))
    again = _fetch(jsoc, tmp_path)
    assert again[1].read_bytes() == fits_bytes[1]
    assert jsoc.n_export == 1                 # the stored request id was reused


def test_interrupted_download_resumes_with_a_range_request(jsoc, tmp_path, fits_bytes):
    cache = Cache(tmp_path)
    rel = "aia.lev1_euv_12s/2011-02-15/aia.lev1_euv_12s.0.image_lev1.fits"
    part = tmp_path / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(fits_bytes[0][:1000])    # what an interrupted run left
    cache.fetch_file(jsoc.url + DIR.lstrip("/") + "/aia.lev1_euv_12s.0.image_lev1.fits", rel,
                     backoff=0.01)
    assert (tmp_path / rel).read_bytes() == fits_bytes[0]
    assert jsoc.range_requests == 1 and not part.exists()


def test_a_cut_short_transfer_is_retried_and_completed(jsoc, tmp_path, fits_bytes):
    jsoc.cut_once.add("aia.lev1_euv_12s.1.image_lev1.fits")
    paths = _fetch(jsoc, tmp_path)
    assert paths[1].read_bytes() == fits_bytes[1]


def test_export_that_never_completes(jsoc, tmp_path):
    jsoc.pending_polls = 10 ** 6
    with pytest.raises(ArchiveError, match="did not complete within 0.05 s.*request id is kept"):
        _fetch(jsoc, tmp_path, export_timeout=0.05)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"] == {}
    assert manifest["requests"][QUERY.key]["request_id"] == "JSOC_20110215_001"
    jsoc.pending_polls = 0                    # JSOC finished meanwhile: the request is resumed
    assert len(_fetch(jsoc, tmp_path)) == 2 and jsoc.n_export == 1


def test_failed_export_is_reported(jsoc, tmp_path):
    jsoc.export_status = 4
    with pytest.raises(ArchiveError, match="export of .* failed: Bad recordset"):
        _fetch(jsoc, tmp_path)


def test_malformed_answer_is_reported(jsoc, tmp_path):
    jsoc.malformed = True
    with pytest.raises(ArchiveError, match="malformed answer"):
        _fetch(jsoc, tmp_path)


def test_404_gives_a_clear_error_and_keeps_the_cache_consistent(jsoc, tmp_path):
    jsoc.missing.add("aia.lev1_euv_12s.1.image_lev1.fits")
    with pytest.raises(DownloadError, match="HTTP 404"):
        _fetch(jsoc, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert list(manifest["files"]) == [
        "aia.lev1_euv_12s/2011-02-15/aia.lev1_euv_12s.0.image_lev1.fits"]
    assert not manifest["requests"][QUERY.key]["complete"]
    assert not (tmp_path / "aia.lev1_euv_12s/2011-02-15/aia.lev1_euv_12s.1.image_lev1.fits"
                ).exists()


def test_a_file_that_is_not_fits_is_refused(jsoc, tmp_path):
    jsoc.garbage.add("aia.lev1_euv_12s.0.image_lev1.fits")
    with pytest.raises(DownloadError, match="not a complete FITS file"):
        _fetch(jsoc, tmp_path)
    assert not list(tmp_path.rglob("*.fits*"))
    assert json.loads((tmp_path / "manifest.json").read_text())["files"] == {}


def test_network_failure_after_retries(tmp_path):
    import socket

    with socket.socket() as s:                # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ArchiveError, match="cannot reach the server"):
        fetch(QUERY, tmp_path, server=f"http://127.0.0.1:{port}/", **FAST)
    with pytest.raises(DownloadError, match="failed after 2 tries"):
        Cache(tmp_path).fetch_file(f"http://127.0.0.1:{port}/x.fits", "s/2011-01-01/x.fits",
                                   retries=1, backoff=0.01, timeout=2)


def test_full_disk_gives_a_clear_error_and_a_consistent_cache(jsoc, tmp_path, monkeypatch,
                                                              fits_bytes):
    real_open = open
    calls = {"n": 0}

    def full_disk_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if str(path).endswith("1.image_lev1.fits.part") and "b" in mode and "w" in mode \
                or str(path).endswith("1.image_lev1.fits.part") and "a" in mode:
            calls["n"] += 1

            class Full:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    handle.close()

                def write(self, block):
                    handle.write(block[:100])
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            return Full()
        return handle

    monkeypatch.setattr(cache_module, "open", full_disk_open, raising=False)
    with pytest.raises(CacheError, match="disk is full"):
        _fetch(jsoc, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert list(manifest["files"]) == [
        "aia.lev1_euv_12s/2011-02-15/aia.lev1_euv_12s.0.image_lev1.fits"]
    assert not (tmp_path / "aia.lev1_euv_12s/2011-02-15/aia.lev1_euv_12s.1.image_lev1.fits"
                ).exists()
    monkeypatch.undo()                        # space freed: the next run completes
    paths = _fetch(jsoc, tmp_path)
    assert paths[1].read_bytes() == fits_bytes[1] and calls["n"] == 1


def test_fetch_needs_an_email_for_exports(jsoc, tmp_path, monkeypatch):
    monkeypatch.delenv("JSOC_EMAIL", raising=False)
    with pytest.raises(ArchiveError, match="registered e-mail"):
        fetch(QUERY, tmp_path, server=jsoc.url, **{**FAST, "email": None})


def test_broken_manifest_is_reported(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CacheError, match="not a readable manifest"):
        Cache(tmp_path)


def test_cli_fetch_dry_run_and_download(jsoc, tmp_path, capsys):
    from solarprep.cli import main

    assert main(["fetch", "park2019", "--start", "2011-02-15", "--end", "2011-02-16",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "aia.lev1_euv_12s[2011-02-15T00:00:00Z/1d@6h][94]{image}" in out
    assert "hmi.M_45s[2011.02.15_00:00:34_TAI/1d@6h]{magnetogram}" in out
    assert "expected volume" in out
    assert main(["fetch", "--recordset", QUERY.recordset, "--cache", str(tmp_path),
                 "--server", jsoc.url, "--email", "a@b.org", "--no-progress", "--poll", "0.01"]) == 0
    assert len(Cache(tmp_path).files) == 2


@pytest.mark.remote_data
def test_real_jsoc_export_of_one_aia_image(tmp_path):
    email = os.environ.get("JSOC_EMAIL")
    if not email:
        pytest.skip("set JSOC_EMAIL to a JSOC-registered address")
    paths = fetch(aia_query("2011-02-15T00:00:00", "2011-02-15T00:00:12", 171), tmp_path,
                  email=email, progress=False)
    assert len(paths) == 1 and solarprep.load(paths[0]).sizes["x"] == 4096


def test_fido_results_with_urls_go_through_the_cache(httpserver, real_data, tmp_path):
    from astropy.time import Time
    from sunpy.net.dataretriever.client import QueryResponse

    path = real_data / "goes" / "sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc"
    httpserver.expect_request("/goes16/" + path.name).respond_with_data(
        path.read_bytes(), content_type="application/x-netcdf")
    table = QueryResponse({"Start Time": Time(["2021-01-01T00:00:00"]),
                           "End Time": Time(["2021-01-01T23:59:59"]),
                           "Instrument": ["XRS"], "Source": ["GOES"],
                           "url": [httpserver.url_for("/goes16/" + path.name)]})
    paths = fetch(table, tmp_path, progress=False)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f"goes.xrs/2021-01-01/{path.name}"]
    assert paths[0].read_bytes() == path.read_bytes()
    xrs = solarprep.lightcurves.read_xrs(paths[0])
    assert xrs.sizes["time"] > 0


def test_hek_event_tables_are_saved_as_ecsv(tmp_path):
    from astropy.table import Table
    from sunpy.net.base_client import QueryResponseTable

    events = QueryResponseTable({"event_type": ["FL", "FL"],
                                 "event_starttime": ["2011-02-15T01:44:00", "2011-02-15T14:32:00"],
                                 "fl_goescls": ["X2.2", "C4.8"]})
    paths = fetch(events, tmp_path, progress=False)
    assert paths[0].name == "hek_2events_2011-02-15.ecsv"
    back = Table.read(paths[0], format="ascii.ecsv")
    assert list(back["fl_goescls"]) == ["X2.2", "C4.8"]
    assert Cache(tmp_path).is_complete(paths[0].relative_to(tmp_path).as_posix())
