"""open_sdoml on tiny zarr stores written here in the SDOML v2 layout (year/channel arrays with
per-frame header lists, unsorted T_OBS, HMI times in TAI)."""
import numpy as np
import pytest

import solarprep
from solarprep.errors import SdomlError
from solarprep.io.sdoml import PUBLIC_STORES, open_sdoml

zarr = pytest.importorskip("zarr")
dask = pytest.importorskip("dask")

N = 16
CDELT = 2 * 959.0 / 12.0          # disk radius 6 px on a 16 px image


def _header(times, n, *, crota=0.0, cdelt=CDELT, instrument="AIA_3", extra=None):
    h = {"T_OBS": times, "DATE-OBS": times, "EXPTIME": [2.0] * n,
         "CRPIX1": [8.5] * n, "CRPIX2": [8.5] * n, "CRVAL1": [0.0] * n, "CRVAL2": [0.0] * n,
         "CDELT1": [cdelt] * n, "CDELT2": [cdelt] * n, "CROTA2": [crota] * n,
         "DSUN_OBS": [1.4710e11 + 1e6 * k for k in range(n)], "HGLN_OBS": [0.0] * n,
         "HGLT_OBS": [-6.9] * n, "RSUN_OBS": [975.0] * n, "RSUN_REF": [6.957e8] * n,
         "INSTRUME": [instrument] * n, "CTYPE1": ["HPLN-TAN"] * n, "QUALITY": [0] * n}
    h.update(extra or {})
    return h


def _write(group, year, channel, times, value, **kw):
    n = len(times)
    data = np.stack([np.full((N, N), value + k, np.float32) for k in range(n)])
    arr = group.require_group(year).create_array(channel, shape=data.shape, dtype="float32",
                                                 chunks=(1, N, N))
    arr[:] = data
    arr.attrs.update(_header(times, n, **kw))
    return arr


@pytest.fixture
def stores(tmp_path):
    aia = zarr.open_group(tmp_path / "sdomlv2_small.zarr", mode="w", zarr_format=2)
    # frames out of time order, as in the public stores
    t2010 = ["2010-05-13T00:12:07.84Z", "2010-05-13T00:00:07.84Z", "2010-05-13T00:06:07.84Z"]
    _write(aia, "2010", "171A", t2010, 100.0)
    _write(aia, "2010", "193A", ["2010-05-13T00:00:08.84Z", "2010-05-13T00:06:08.84Z",
                                 "2010-05-13T00:12:08.84Z"], 200.0)
    _write(aia, "2011", "171A", ["2011-01-01T00:00:00.35Z"], 300.0)
    _write(aia, "2011", "193A", ["2011-01-01T00:00:01.35Z"], 400.0)
    hmi = zarr.open_group(tmp_path / "sdomlv2_hmi_small.zarr", mode="w", zarr_format=2)
    # HMI T_OBS are TAI (UTC + 34 s in 2010): 00:00:41_TAI = 00:00:07 UTC; no 00:06 frame
    _write(hmi, "2010", "Bz", ["2010.05.13_00:12:41_TAI", "2010.05.13_00:00:41_TAI"], -5.0,
           instrument="HMI_SIDE1", extra={"BUNIT": ["Gauss", "Gauss"]})
    return tmp_path / "sdomlv2_small.zarr", tmp_path / "sdomlv2_hmi_small.zarr"


def test_one_store_lazy_sorted_with_frame_geometry(stores):
    aia, _ = stores
    ds = open_sdoml(aia, years=[2010, 2011])
    assert list(ds.data_vars) == ["euv171", "euv193"]
    assert isinstance(ds["euv171"].data, dask.array.Array)          # lazy
    assert [str(t)[:19] for t in ds.time.values] == [
        "2010-05-13T00:00:07", "2010-05-13T00:06:07", "2010-05-13T00:12:07",
        "2011-01-01T00:00:00"]
    # sorting moved the data with the times: frame k of 2010 holds 100 + its stored index
    assert ds["euv171"].isel(y=0, x=0).values.tolist() == [101.0, 102.0, 100.0, 300.0]
    assert ds["euv193"].isel(y=0, x=0).values.tolist() == [200.0, 201.0, 202.0, 400.0]
    assert ds["dsun_obs"].values[0] == 1.4710e11 + 1e6          # the header list entry of frame 1
    assert ds["euv171"].attrs["units"] == "DN / s" and ds.attrs["instrument"] == "AIA_3"
    assert str(ds["euv193_time"].values[0])[:19] == "2010-05-13T00:00:08"
    assert ds["quality"].values.tolist() == [0, 0, 0, 0]


def test_two_stores_aligned_within_the_tolerance(stores, caplog):
    ds = open_sdoml(list(stores), years=2010, channels=["171A", "Bz"], tolerance="30s")
    assert [str(t)[:19] for t in ds.time.values] == ["2010-05-13T00:00:07",
                                                     "2010-05-13T00:12:07"]
    assert [str(t)[:19] for t in ds["bz_time"].values] == ["2010-05-13T00:00:07",
                                                           "2010-05-13T00:12:07"]
    assert ds["bz"].isel(y=0, x=0).values.tolist() == [-4.0, -5.0]
    assert ds["bz"].attrs["units"] == "G"
    assert "HMI_SIDE1" in ds.attrs["instrument"]
    with pytest.raises(SdomlError, match="no 171A frame has a frame of every channel"):
        open_sdoml(list(stores), years=2010, channels=["171A", "Bz"], tolerance="100ms")
    import astropy.units as u

    same = open_sdoml(list(stores), years=2010, channels=["171A", "Bz"], tolerance=0.5 * u.min)
    assert (same.time.values == ds.time.values).all()


def test_sdoml_dataset_goes_through_solarprep(stores):
    ds = open_sdoml(stores[0], years=2010, channels="171A")
    solarprep.validate(ds)
    disk = solarprep.disk_coordinates(ds, device="cpu")
    assert int(disk["on_disk"].sum()) > 0
    # lazy (SDOML is read with dask): a whole-series default must be given explicitly
    with pytest.raises(solarprep.errors.ChunkingError, match="reference"):
        solarprep.disk_integrate(ds, device="cpu", min_covered=0.0)
    lc = solarprep.disk_integrate(ds, device="cpu", min_covered=0.0, reference=1.0)
    assert lc.sizes["time"] == 3
    eager = solarprep.disk_integrate(ds.compute(), device="cpu", min_covered=0.0)
    np.testing.assert_allclose(lc["flux"].values, eager["flux"].values, rtol=1e-6)
    maps = solarprep.to_maps(ds.isel(time=[0]))
    assert maps[0].data.shape == (N, N)


def test_bad_stores_and_selections(stores, tmp_path):
    aia, hmi = stores
    with pytest.raises(SdomlError, match="cannot be opened as a zarr group"):
        open_sdoml(tmp_path / "nothing.zarr")
    with pytest.raises(SdomlError, match=r"years \['2012'\] are not in the store"):
        open_sdoml(aia, years=2012)
    with pytest.raises(SdomlError, match=r"channels \['304A'\] are not in the store"):
        open_sdoml(aia, channels=["304A"])
    odd = zarr.open_group(tmp_path / "odd.zarr", mode="w", zarr_format=2)
    _write(odd, "2010", "171A", ["2010-05-13T00:00:07.84Z"], 1.0)
    _write(odd, "2010", "193A", ["2010-05-13T00:00:07.84Z"], 1.0, crota=3.0)
    with pytest.raises(SdomlError, match="193A does not share the geometry of 171A: CROTA2"):
        open_sdoml(tmp_path / "odd.zarr")
    bare = zarr.open_group(tmp_path / "bare.zarr", mode="w", zarr_format=2)
    bare.require_group("2010").create_array("171A", shape=(1, N, N), dtype="float32")
    with pytest.raises(SdomlError, match="T_OBS must list one time per frame"):
        open_sdoml(tmp_path / "bare.zarr")


@pytest.mark.remote_data
def test_public_store_one_frame():
    pytest.importorskip("s3fs")
    ds = open_sdoml(PUBLIC_STORES["aia_small"], years=2010, channels="171A",
                    storage_options={"anon": True})
    assert ds.sizes["x"] == 512 and float(ds["euv171"].isel(time=0).mean()) > 0
