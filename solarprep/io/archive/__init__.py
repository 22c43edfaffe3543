"""Getting real data: archive queries, JSOC exports and a resumable, checked download cache.

* :mod:`.queries`: pure functions building each seed's archive query (JSOC record sets for
  AIA and HMI, sunpy ``Fido`` attributes for STEREO/EUVI, GOES/XRS and HEK flares)
* :func:`fetch` (:mod:`.fetch`): run queries into the cache folder (:mod:`.cache`: layout,
  manifest, resume, retries, checks); JSOC exports through ``drms`` (:mod:`.jsoc`)
* :func:`preset` (:mod:`.presets`): one query list per seed system's data selection

See ``docs/data_jsoc.md``, ``docs/data_fido.md`` and ``docs/data_presets.md``.
"""
from solarprep.io.archive.cache import Cache, check_file, sha256sum
from solarprep.io.archive.fetch import default_cache, fetch
from solarprep.io.archive.jsoc import jsoc_client
from solarprep.io.archive.presets import PRESETS, estimate_volume, preset
from solarprep.io.archive.queries import (
    FidoQuery,
    JsocQuery,
    aia_query,
    euvi_query,
    goes_xrs_query,
    hek_flare_query,
    hmi_query,
)

__all__ = ["fetch", "Cache", "default_cache", "check_file", "sha256sum", "jsoc_client",
           "JsocQuery", "FidoQuery", "aia_query", "hmi_query", "euvi_query", "goes_xrs_query",
           "hek_flare_query", "preset", "PRESETS", "estimate_volume"]
