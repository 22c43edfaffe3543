"""Reading and writing solar Datasets: FITS and sunpy Maps in, netCDF/zarr files and Maps out.

* :func:`load` (:mod:`.loader`): FITS files, globs, Maps → one solar Dataset (``docs/dataset.md``)
* :func:`save`, :func:`open_dataset` (:mod:`.storage`): atomic netCDF (h5netcdf) and zarr files
* :func:`to_maps` (:mod:`.maps`): back to sunpy Maps with the same data and WCS
* :func:`real_data_dir`, :func:`real_images` (:mod:`.sample_data`): the shipped real samples
* :func:`fetch` (:mod:`.archive`): archive queries and the resumable download cache
* :func:`open_sdoml` (:mod:`.sdoml`): the SDOML v2 zarr stores as a lazy solar Dataset
* :mod:`.atomic`: the durable all-or-nothing writes every writer uses (``docs/guarantees.md``)
* :mod:`.npz`: ``.npz`` files read without running code from them (SOLARED timestamps)
"""
from solarprep.errors import SolarDataError
from solarprep.io.archive import fetch
from solarprep.io.loader import load
from solarprep.io.maps import to_maps
from solarprep.io.sample_data import real_data_dir, real_images
from solarprep.io.sdoml import open_sdoml
from solarprep.io.storage import open_dataset, save

__all__ = ["load", "save", "open_dataset", "to_maps", "real_data_dir", "real_images",
           "SolarDataError", "fetch", "open_sdoml"]
