"""The download cache: one folder layout, a manifest, resumable checked downloads.

Layout (``docs/data_jsoc.md``)::

    CACHE/
      manifest.json                  every complete file, and the export requests
      <series>/<YYYY-MM-DD>/<file>   e.g. aia.lev1_euv_12s/2011-02-15/aia.lev1_euv_12s....fits
      <series>/<YYYY-MM-DD>/<file>.part   a download in progress (never under the final name)

``manifest.json`` holds ``files`` (relative path → record, series, record time,
wavelength, size in bytes, sha256, url) and ``requests`` (query key → JSOC request id and
the files of a finished export). A file is added to the manifest only after it was
downloaded completely, opened as FITS (or netCDF/HDF5) and renamed into place; the manifest
itself is rewritten atomically. So after any interruption (network, full disk, Ctrl-C) the
manifest lists only complete files, and a re-run skips them (checking size and sha256),
resumes ``.part`` files with an HTTP ``Range`` request, and fetches the rest.

One process at a time should write to a cache.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import http.client
import json
import logging
import os
import pathlib
import re
import secrets
import socket
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from solarprep.errors import CacheError, DownloadError

if TYPE_CHECKING:
    from typing import Any

__all__ = ["Cache", "download", "check_file", "sha256sum", "record_date"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_MANIFEST = "manifest.json"
_VERSION = 1

#: HTTP statuses worth retrying (server busy or failing); other 4xx are final.
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


def sha256sum(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def record_date(record: object) -> str:
    """``YYYY-MM-DD`` of the first date in a DRMS record or a file name, else ``"undated"``."""
    m = re.search(r"(\d{4})[.\-_]?(\d{2})[.\-_]?(\d{2})(?=[T_ ]|\d{2}|$)", str(record or ""))
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else "undated"


def check_file(path: str | os.PathLike) -> tuple[str, float]:
    """Open a downloaded file to make sure it is whole: FITS (every HDU's data read) or HDF5.

    Returns ``(record_time, wavelength)`` from a FITS header (``T_REC``/``T_OBS``/
    ``DATE-OBS``, ``WAVELNTH``), empty/NaN when absent.

    Raises
    ------
    DownloadError
        The file is not a readable FITS or HDF5/netCDF-4 file (truncated, or an error page).
    """
    path = pathlib.Path(path)
    name = path.name.removesuffix(".part")
    with open(path, "rb") as f:
        head = f.read(8)
    if name.endswith((".nc", ".h5", ".nc4")) or head.startswith(b"\x89HDF"):
        import h5py

        try:
            with h5py.File(path, "r"):
                return "", float("nan")
        except OSError as exc:
            raise DownloadError(f"{path}: is not a readable netCDF-4/HDF5 file ({exc}); it may "
                                "be truncated: delete it and fetch again") from exc
    from astropy.io import fits

    gz = head.startswith(b"\x1f\x8b")
    try:
        with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
            for hdu in hdul:
                _ = hdu.data
            header = next((h.header for h in hdul if h.header.get("NAXIS", 0) >= 2
                           or "T_REC" in h.header), hdul[0].header)
    except Exception as exc:  # astropy raises OSError, TypeError, ValueError, EOFError...
        what = "gzip-compressed FITS" if gz else "FITS"
        raise DownloadError(f"{path}: is not a complete {what} file ({type(exc).__name__}: "
                            f"{exc}); the download was cut short or the archive sent something "
                            "else (an error page?)") from exc
    when = str(header.get("T_REC") or header.get("T_OBS") or header.get("DATE-OBS") or "")
    wavelength = header.get("WAVELNTH")
    try:
        wavelength = float(wavelength)
    except (TypeError, ValueError):
        wavelength = float("nan")
    return when, wavelength


def _write_json_atomic(path, data):
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _disk_error(exc, path) from exc


def _disk_error(exc, path):
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return CacheError(f"{path}: the disk is full ({exc.strerror}); free space (or use "
                          "another cache folder) and run fetch again: complete files are kept "
                          "and listed in the manifest, a partial download is resumed")
    return CacheError(f"{path}: cannot be written ({exc}); check the cache folder's "
                      "permissions and free space")


class Cache:
    """A download cache folder (module docstring): layout, manifest and checks.

    Parameters
    ----------
    root : str or os.PathLike
        The cache folder; created when missing.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = pathlib.Path(os.path.expanduser(os.fspath(root)))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _disk_error(exc, self.root) from exc
        self.manifest_path = self.root / _MANIFEST
        self._manifest = self._read_manifest()

    def __repr__(self):
        return f"Cache({str(self.root)!r}, {len(self.files)} files)"

    def _read_manifest(self):
        if not self.manifest_path.exists():
            return {"version": _VERSION, "files": {}, "requests": {}}
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise CacheError(f"{self.manifest_path}: is not a readable manifest ({exc}); move it "
                             "away and run fetch again to rebuild the cache") from exc
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise CacheError(f"{self.manifest_path}: has no 'files' table; move it away and "
                             "run fetch again")
        data.setdefault("requests", {})
        return data

    @property
    def files(self):
        """The manifest's table of complete files (relative path → entry)."""
        return self._manifest["files"]

    @property
    def requests(self):
        """Export requests by query key (``request_id``, ``files``, ``complete``)."""
        return self._manifest["requests"]

    def save_manifest(self) -> None:
        """Rewrite ``manifest.json`` atomically."""
        _write_json_atomic(self.manifest_path, self._manifest)

    def path_for(self, series: str, record: object, filename: str | os.PathLike) -> str:
        """Where a file goes: ``<series>/<YYYY-MM-DD>/<filename>`` (relative, as a str)."""
        safe = re.sub(r"[^\w.\-+]", "_", os.path.basename(str(filename)))
        if not safe.strip("._"):
            raise CacheError(f"cannot make a file name of {filename!r}")
        date = record_date(record)
        if date == "undated":
            date = record_date(filename)
        return f"{series}/{date}/{safe}"

    def is_complete(self, relpath: str, *, check_hash: bool = True) -> bool:
        """True when the manifest lists the file and it is there with its size (and sha256).

        A listed file that is missing or differs is dropped from the manifest (and a damaged
        one deleted), so that it is fetched again.
        """
        entry = self.files.get(relpath)
        if entry is None:
            return False
        path = self.root / relpath
        problem = None
        if not path.is_file():
            problem = "is missing"
        elif path.stat().st_size != entry.get("size"):
            problem = f"has {path.stat().st_size} bytes, the manifest says {entry.get('size')}"
        elif check_hash and sha256sum(path) != entry.get("sha256"):
            problem = "does not match its sha256 in the manifest"
        if problem is None:
            return True
        log.warning("%s %s: fetching it again", path, problem)
        del self.files[relpath]
        if path.is_file():
            path.unlink()
        self.save_manifest()
        return False

    def add(self, relpath: str, *, record: str, series: str, url: str, record_time: str = "",
            wavelength: float = float("nan")) -> dict[str, Any]:
        """Put a completely downloaded file in the manifest (size and sha256 measured here)."""
        path = self.root / relpath
        self.files[relpath] = {
            "record": record, "series": series, "url": url, "record_time": record_time,
            "wavelength": None if wavelength != wavelength else wavelength,
            "size": path.stat().st_size, "sha256": sha256sum(path),
            "downloaded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.save_manifest()
        return self.files[relpath]

    def verify(self) -> list[str]:
        """Check every listed file (size and sha256); returns the relative paths that failed."""
        return [rel for rel in list(self.files) if not self.is_complete(rel)]

    def fetch_file(self, url: str, relpath: str, *, record: str = "", series: str = "",
                   retries: int = 4, backoff: float = 1.0, timeout: float = 60.0,
                   progress: Any = None) -> dict[str, Any]:
        """Download ``url`` to ``relpath`` unless complete there; check it; list it.

        Returns the manifest entry. See :func:`download` for the retries and resumption.
        """
        if self.is_complete(relpath):
            log.debug("%s: in the cache", relpath)
            return self.files[relpath]
        final = self.root / relpath
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _disk_error(exc, final.parent) from exc
        part = final.with_name(final.name + ".part")
        for attempt in range(2):
            download(url, part, retries=retries, backoff=backoff, timeout=timeout,
                     progress=progress)
            try:
                when, wavelength = check_file(part)
                break
            except DownloadError:
                part.unlink()           # a damaged file is never resumed: fetch it whole again
                if attempt:
                    raise
                log.warning("%s: the downloaded file is damaged; fetching it again", url)
        try:
            os.replace(part, final)
        except OSError as exc:
            raise _disk_error(exc, final) from exc
        return self.add(relpath, record=record, series=series, url=url,
                        record_time=when, wavelength=wavelength)


def _open(url, offset, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": "solarprep"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https URLs)


def download(url: str, part: pathlib.Path, *, retries: int = 4, backoff: float = 1.0,
             timeout: float = 60.0, progress: Any = None) -> pathlib.Path:
    """Download ``url`` into the file ``part``, resuming what is there, with retries.

    Parameters
    ----------
    url : str
    part : pathlib.Path
        The partial file (``<name>.part``); its bytes are kept and the rest is asked for
        with an HTTP ``Range`` request (a server that ignores it sends everything, which
        then replaces them).
    retries : int
        Further tries after a network error, a cut-short transfer or an HTTP 408/429/5xx;
        try ``k`` waits ``backoff · 2**k`` seconds first.
    backoff : float
        Seconds before the first retry.
    timeout : float
        Seconds of socket silence that count as a failure.
    progress : tqdm-like, optional
        Updated with the bytes received.

    Raises
    ------
    DownloadError
        HTTP 404 and other final 4xx at once; the last network error after the retries.
    CacheError
        The disk is full or not writable (the partial file is kept for a later resume).
    """
    part = pathlib.Path(part)
    last = None
    for attempt in range(retries + 1):
        if attempt:
            wait = backoff * 2 ** (attempt - 1)
            log.info("%s: retry %d/%d in %.1f s (%s)", url, attempt, retries, wait, last)
            time.sleep(wait)
        offset = part.stat().st_size if part.exists() else 0
        try:
            with _open(url, offset, timeout) as response:
                status = getattr(response, "status", 200)
                if offset and status != 206:
                    offset = 0                          # no Range support: start again
                length = response.headers.get("Content-Length")
                expected = int(length) + offset if length is not None else None
                with open(part, "ab" if offset else "wb") as out:
                    for block in iter(lambda r=response: r.read(_CHUNK), b""):
                        out.write(block)
                        if progress is not None:
                            progress.update(len(block))
                    out.flush()
                    os.fsync(out.fileno())
            size = part.stat().st_size
            if expected is not None and size < expected:
                last = f"transfer cut short at {size} of {expected} bytes"
                continue
            return part
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:              # range beyond the end: start again
                part.unlink()
                last = "HTTP 416 for the resumed range"
                continue
            if exc.code not in _RETRY_STATUS:
                raise DownloadError(
                    f"{url}: HTTP {exc.code} {exc.reason}; the archive does not have this file "
                    "(expired export? wrong record?): run fetch again to make a new request"
                    if exc.code == 404 else
                    f"{url}: HTTP {exc.code} {exc.reason}; the archive refused the download"
                ) from exc
            last = f"HTTP {exc.code} {exc.reason}"
        except OSError as exc:
            if isinstance(exc, urllib.error.URLError) or isinstance(
                    exc, (socket.timeout, ConnectionError, http.client.HTTPException)) \
                    or getattr(exc, "errno", None) is None:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
                continue
            raise _disk_error(exc, part) from exc
        except http.client.HTTPException as exc:
            last = f"{type(exc).__name__}: {exc}"
    raise DownloadError(f"{url}: download failed after {retries + 1} tries ({last}); check the "
                        "network and run fetch again: the partial file "
                        f"{part} is resumed")
