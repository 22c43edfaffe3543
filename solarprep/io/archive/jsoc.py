"""JSOC exports through ``drms``: the client (configurable server), requests and their files.

The JSOC export protocol (drms ``Client.export``; JSOC ``jsoc_fetch``):

1. ``op=exp_request`` with the record set, method ``url`` and protocol ``fits`` (every file
   with its full header) answers a request id (``JSOC_20110215_001``) and status 2
   (queued) or 1 (processing);
2. ``op=exp_status&requestid=...`` is polled until status 0 (done: a ``dir`` and a ``data``
   list of ``record``/``filename``) or an error status (4, 5, 7: failed);
3. each file is downloaded from ``<http_download_baseurl><dir>/<filename>``.

The request id is kept in the cache's manifest as soon as JSOC gives it, so a fetch that
is interrupted while JSOC prepares the export picks the same request up again instead of
submitting a new one. ``SOLARPREP_JSOC_URL`` (or ``server=``) points the client at another
server with the same CGI layout, e.g. the local server the tests run.
"""
from __future__ import annotations

import json
import logging
import os
import urllib.error
from typing import TYPE_CHECKING

from solarprep.errors import ArchiveError

if TYPE_CHECKING:
    from collections.abc import Callable

    import drms

    from solarprep.io.archive.queries import JsocQuery

__all__ = ["jsoc_client", "export_files", "JSOC_URL_ENV", "JSOC_EMAIL_ENV"]

log = logging.getLogger(__name__)

#: Environment variable naming another JSOC-like server (base URL).
JSOC_URL_ENV = "SOLARPREP_JSOC_URL"
#: Environment variable with the JSOC-registered e-mail address.
JSOC_EMAIL_ENV = "JSOC_EMAIL"


def jsoc_client(server: str | None = None, email: str | None = None) -> drms.Client:
    """A :class:`drms.Client` for JSOC or for a server at the base URL ``server``.

    Parameters
    ----------
    server : str, optional
        Base URL of a JSOC-like server: its CGI programs under ``<server>/cgi-bin/ajax/``
        (``jsoc_info``, ``jsoc_fetch``, ``checkAddress.sh``) and exported files under
        ``<server>/``. Default: ``$SOLARPREP_JSOC_URL``, else the public JSOC.
    email : str, optional
        JSOC-registered address for exports (default ``$JSOC_EMAIL``).
    """
    import drms

    server = server or os.environ.get(JSOC_URL_ENV)
    email = email or os.environ.get(JSOC_EMAIL_ENV)
    if server:
        base = server.rstrip("/") + "/"
        config = drms.ServerConfig(
            name=f"solarprep:{base}", cgi_baseurl=base + "cgi-bin/ajax/",
            cgi_show_series="show_series", cgi_jsoc_info="jsoc_info",
            cgi_jsoc_fetch="jsoc_fetch", cgi_check_address="checkAddress.sh",
            http_download_baseurl=base)
    try:
        return drms.Client(server=config if server else "jsoc", email=email)
    except Exception as exc:  # the e-mail check is a request: urllib, json or ValueError
        if isinstance(exc, ValueError) and "not registered" in str(exc):
            raise ArchiveError(f"JSOC does not know the e-mail address {email!r}; register it at "
                               "jsoc.stanford.edu/ajax/register_email.html") from exc
        raise _archive_error(exc, "e-mail check") from exc


def _archive_error(exc, what):
    """An ArchiveError for the ways a drms call fails (HTTP, network, bad JSON, failed export)."""
    if isinstance(exc, urllib.error.HTTPError):
        return ArchiveError(f"JSOC {what}: HTTP {exc.code} {exc.reason} from {exc.url}; the "
                            "server refused the request (check the record set), or is down: "
                            "try again later")
    if isinstance(exc, (urllib.error.URLError, OSError)):
        return ArchiveError(f"JSOC {what}: cannot reach the server ({exc}); check the network "
                            f"(or ${JSOC_URL_ENV}) and try again")
    if isinstance(exc, (json.JSONDecodeError, ValueError, KeyError, TypeError)):
        return ArchiveError(f"JSOC {what}: malformed answer from the server ({type(exc).__name__}"
                            f": {exc}); the archive may be in maintenance: try again later")
    return ArchiveError(f"JSOC {what}: {type(exc).__name__}: {exc}")


def export_files(query: JsocQuery, *, client: drms.Client, requests: dict, save: Callable[[], None],
                 export_timeout: float = 600.0, poll: float = 5.0) -> list[tuple[str, str, str]]:
    """Run (or resume) the export of a :class:`~solarprep.io.archive.queries.JsocQuery`.

    Parameters
    ----------
    query : JsocQuery
    client : drms.Client
    requests : dict
        The cache's request table (query key → state); updated in place, ``save()`` called
        after each change.
    save : callable
    export_timeout : float
        Seconds to wait for JSOC to finish preparing the export.
    poll : float
        Seconds between status requests.

    Returns
    -------
    list of (record, filename, url)

    Raises
    ------
    ArchiveError
        A failed or never-completing export, a malformed answer, an unreachable server,
        no registered e-mail address.
    """
    import drms

    state = requests.get(query.key, {})
    try:
        if state.get("request_id"):
            log.info("JSOC: resuming export request %s for %s", state["request_id"], query)
            request = client.export_from_id(state["request_id"])
        else:
            if not client.email:
                raise ArchiveError(
                    f"JSOC exports need a registered e-mail address: pass email=... or set "
                    f"${JSOC_EMAIL_ENV} (register at jsoc.stanford.edu/ajax/register_email.html)")
            log.info("JSOC: export request for %s", query.key)
            request = client.export(query.recordset, method=query.method,
                                    protocol=query.protocol, filenamefmt=False,
                                    process=query.process_dict())
            if request.id:
                requests[query.key] = {"request_id": request.id, "complete": False}
                save()
        finished = request.wait(timeout=export_timeout, sleep=poll)
    except ArchiveError:
        raise
    except drms.DrmsExportError as exc:
        requests.pop(query.key, None)
        save()
        raise ArchiveError(f"JSOC export of {query} failed: {exc}; check the record set (and "
                           "that the series and times exist); the next fetch makes a new "
                           "request") from exc
    except Exception as exc:  # drms surfaces urllib, json and pandas errors as they are
        raise _archive_error(exc, f"export of {query}") from exc
    if not finished:
        raise ArchiveError(
            f"JSOC export request {request.id} for {query} did not complete within "
            f"{export_timeout:g} s; JSOC may be busy: run fetch again later (the request id is "
            "kept in the cache and picked up) or raise export_timeout")
    try:
        urls = request.urls
        files = [(str(r), str(f), str(u)) for r, f, u in
                 zip(urls["record"], urls["filename"], urls["url"])]
    except Exception as exc:
        raise _archive_error(exc, f"export {request.id} file list") from exc
    if request.id:
        requests[query.key] = {"request_id": request.id, "complete": False}
        save()
    log.info("JSOC: export %s has %d files", request.id, len(files))
    return files
