"""``solarprep.fetch``: run archive queries into the download cache (``docs/data_jsoc.md``)."""
from __future__ import annotations

import logging
import os
import pathlib
import secrets
import shutil
from typing import TYPE_CHECKING

from solarprep.dataset import as_seconds
from solarprep.errors import ArchiveError, CacheError
from solarprep.io.archive.cache import Cache, check_file
from solarprep.io.archive.jsoc import export_files, jsoc_client
from solarprep.io.archive.queries import FidoQuery, JsocQuery

if TYPE_CHECKING:
    from solarprep.dataset import Duration, PathLike

__all__ = ["fetch", "default_cache", "CACHE_ENV"]

log = logging.getLogger(__name__)

#: Environment variable naming the default cache folder.
CACHE_ENV = "SOLARPREP_CACHE"


def default_cache() -> pathlib.Path:
    """``$SOLARPREP_CACHE``, else ``~/.cache/solarprep/archive``."""
    return pathlib.Path(os.path.expanduser(
        os.environ.get(CACHE_ENV, "~/.cache/solarprep/archive")))


def fetch(query: object, cache: PathLike | None = None, *, email: str | None = None,
          server: str | None = None, retries: int = 4, backoff: Duration = 1.0,
          timeout: Duration = 60.0, export_timeout: Duration = 600.0, poll: Duration = 5.0,
          progress: bool = True) -> list[pathlib.Path]:
    """Download what archive queries select into the cache; return the local files.

    Parameters
    ----------
    query : JsocQuery, FidoQuery, sunpy search results, or a list of them
        From :mod:`solarprep.io.archive.queries` (``aia_query``, ``hmi_query``,
        ``euvi_query``, ``goes_xrs_query``, ``hek_flare_query``), a preset
        (:func:`~solarprep.io.archive.presets.preset`), or results of ``Fido.search``.
    cache : str or os.PathLike, optional
        The cache folder (default :func:`default_cache`). Layout and manifest: module
        docstring of :mod:`solarprep.io.archive.cache`.
    email : str, optional
        JSOC-registered e-mail address for exports (default ``$JSOC_EMAIL``).
    server : str, optional
        Base URL of a JSOC-like server (default ``$SOLARPREP_JSOC_URL``, else JSOC).
    retries : int
        Per file: further tries after a network failure.
    backoff, timeout : astropy.units.Quantity, str or float
        Per file: the first wait between tries (doubled each try) and the socket timeout
        (``1 * u.s``, ``"1min"``, or seconds).
    export_timeout, poll : astropy.units.Quantity, str or float
        How long to wait for a JSOC export to be ready, and between status requests
        (``10 * u.min``, ``"5s"``, or seconds).
    progress : bool
        ``tqdm.auto`` progress bar over the files.

    Returns
    -------
    list of pathlib.Path
        The files of every query, in the archive's order (HEK queries: one ECSV event table).

    Raises
    ------
    ArchiveError
        The archive refused or failed (an export that fails or never completes, HTTP 404,
        a malformed answer); its subclasses :class:`~solarprep.errors.DownloadError`
        (network failures after the retries, truncated or corrupt files) and
        :class:`~solarprep.errors.CacheError` (a full disk, an unwritable folder).
        The cache stays consistent: the manifest lists only complete files.

    Notes
    -----
    A query whose files are all in the cache (manifest entry, size and sha256) needs no
    network: nothing is asked of the archive.
    """
    backoff, timeout = as_seconds(backoff, "backoff"), as_seconds(timeout, "timeout")
    export_timeout, poll = as_seconds(export_timeout, "export_timeout"), as_seconds(poll, "poll")
    cache = Cache(default_cache() if cache is None else cache)
    queries = list(query) if isinstance(query, (list, tuple)) else [query]
    client = None
    out = []
    for q in queries:
        if isinstance(q, JsocQuery):
            done = _cached_query(cache, q)
            if done is not None:
                log.info("%s: all %d files in the cache", q, len(done))
                out += done
                continue
            client = client or jsoc_client(server, email)
            files = export_files(q, client=client, requests=cache.requests,
                                 save=cache.save_manifest, export_timeout=export_timeout,
                                 poll=poll)
            items = [(url, cache.path_for(q.series, record, filename), record, q.series)
                     for record, filename, url in files]
            out += _download_all(cache, items, q.key, retries=retries, backoff=backoff,
                                 timeout=timeout, progress=progress)
        elif isinstance(q, FidoQuery):
            done = _cached_query(cache, q)
            if done is not None:
                out += done
                continue
            out += _fetch_results(cache, q.search(), q.series, q.key, retries=retries,
                                  backoff=backoff, timeout=timeout, progress=progress)
        elif _is_search_result(q):
            out += _fetch_results(cache, q, None, None, retries=retries, backoff=backoff,
                                  timeout=timeout, progress=progress)
        else:
            raise TypeError(f"fetch() cannot run a {type(q).__name__}: pass a JsocQuery or "
                            "FidoQuery (solarprep.io.archive.queries) or Fido.search results")
    return out


def _cached_query(cache, query):
    """The files of a query finished earlier, if all are still complete; else None."""
    state = cache.requests.get(query.key)
    if not state or not state.get("complete"):
        return None
    files = state.get("files", [])
    if all(cache.is_complete(rel) for rel in files):
        return [cache.root / rel for rel in files]
    return None


def _download_all(cache, items, key, *, retries, backoff, timeout, progress):
    """Download ``(url, relpath, record, series)`` items; mark the query complete after."""
    from tqdm.auto import tqdm

    paths = []
    for url, rel, record, series in tqdm(items, desc="solarprep.fetch", unit="file",
                                         disable=not progress or len(items) < 2):
        cache.fetch_file(url, rel, record=record, series=series, retries=retries,
                         backoff=backoff, timeout=timeout)
        paths.append(cache.root / rel)
    if key is not None:
        state = cache.requests.setdefault(key, {})
        state.update(complete=True, files=[it[1] for it in items])
        cache.save_manifest()
    return paths


def _is_search_result(obj):
    from sunpy.net.base_client import QueryResponseTable
    from sunpy.net.fido_factory import UnifiedResponse

    return isinstance(obj, (UnifiedResponse, QueryResponseTable))


def _tables(results):
    from sunpy.net.fido_factory import UnifiedResponse

    return list(results) if isinstance(results, UnifiedResponse) else [results]


def _fetch_results(cache, results, series, key, *, retries, backoff, timeout, progress):
    """Files of Fido search results: URL tables through the cache's downloader, HEK event
    tables written as ECSV, other (VSO) tables through ``Fido.fetch`` into a staging folder."""
    paths = []
    all_items = []
    for table in _tables(results):
        client = type(getattr(table, "client", None)).__name__
        if client == "HEKClient" or "event_type" in table.colnames:
            paths.append(_save_events(cache, table, series or "hek"))
            continue
        name = series or _series_of(table, client)
        if "url" in table.colnames:
            items = []
            for row in table:
                url = str(row["url"])
                record = str(row["Start Time"].isot) if "Start Time" in table.colnames else ""
                items.append((url, cache.path_for(name, record or url, url.rsplit("/", 1)[-1]),
                              record, name))
            all_items += items
            paths += _download_all(cache, items, None, retries=retries, backoff=backoff,
                                   timeout=timeout, progress=progress)
        else:
            paths += _fido_staged(cache, table, name, progress)
    if key is not None:
        state = cache.requests.setdefault(key, {})
        state.update(complete=True, files=[str(p.relative_to(cache.root)) for p in paths])
        cache.save_manifest()
    return paths


def _series_of(table, client):
    for col in ("Source", "Instrument", "Provider"):
        if col in table.colnames and len(table):
            parts = [str(table[0][c]).lower() for c in ("Source", "Instrument")
                     if c in table.colnames]
            return ".".join(parts) or client.lower()
    return client.lower().removesuffix("client") or "fido"


def _save_events(cache, table, name):
    """Write an event table (HEK) as ECSV under the layout and list it in the manifest."""
    from astropy.table import Table

    plain = Table({c: table[c] for c in table.colnames
                   if getattr(table[c], "ndim", 1) == 1 and table[c].dtype.kind in "biufUSM"
                   or c in ("event_starttime", "event_peaktime", "event_endtime")})
    first = str(plain["event_starttime"][0]) if len(plain) and \
        "event_starttime" in plain.colnames else "undated"
    rel = cache.path_for(name, first, f"{name}_{len(plain)}events_{first[:10]}.ecsv")
    final = cache.root / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(final.name + ".part")
    try:
        plain.write(tmp, format="ascii.ecsv", overwrite=True)
        os.replace(tmp, final)
    except OSError as exc:
        raise CacheError(f"{final}: cannot be written ({exc})") from exc
    cache.add(rel, record=f"{len(plain)} events", series=name, url="HEK", record_time=first)
    return final


def _fido_staged(cache, table, name, progress):
    """``Fido.fetch`` (parfive) into ``.staging/``, then check, move and list each file."""
    from sunpy.net import Fido

    staging = cache.root / ".staging" / secrets.token_hex(4)
    staging.mkdir(parents=True, exist_ok=True)
    try:
        got = Fido.fetch(table, path=str(staging / "{file}"), progress=progress)
        if getattr(got, "errors", None):
            got = Fido.fetch(got, path=str(staging / "{file}"), progress=progress)
        if getattr(got, "errors", None):
            raise ArchiveError(f"Fido could not download {len(got.errors)} file(s) of {name}: "
                               f"{got.errors[0]}; run fetch again to retry them")
        paths = []
        for path in map(pathlib.Path, got):
            when, wavelength = check_file(path)
            rel = cache.path_for(name, when or path.name, path.name)
            final = cache.root / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
            cache.add(rel, record=path.name, series=name, url="fido", record_time=when,
                      wavelength=wavelength)
            paths.append(final)
        return paths
    finally:
        shutil.rmtree(staging, ignore_errors=True)
