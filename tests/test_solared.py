"""SOLARED timelines I/O, tracked FITS cubes, synthetic regions and the dataset builder."""
import numpy as np
import pytest
import xarray as xr

from solarprep.datasets import solared
from solarprep.helioseismology.power import band_powers
from solarprep.helioseismology.tiles import tile_means
from solarprep.io.loader import SolarDataError


def test_read_real_timelines(real_data):
    a = solared.read_timelines(real_data / "solared" / "AR11158")
    b = solared.read_timelines(real_data / "solared" / "AR11726")
    assert a.sizes == {"time": 240, "tile": 81} and b.sizes == {"time": 232, "tile": 81}
    assert a.attrs["active_region"] == "11158"
    for name in solared.CHANNELS + ("intensity",):
        assert a[name].dtype == np.float32 and "units" in a[name].attrs
    steps = np.unique(np.diff(b.time.values).astype("timedelta64[h]").astype(int))
    assert steps.tolist() == [1, 9]                         # AR11726 has a 9 h gap
    k = solared.keep_tiles(a)
    assert k.sizes["tile"] == 63 and set(k.tile_row.values) == set(range(1, 8))
    assert np.all(a["flux"].values[:, a.tile_row.values == 0] == 0)


def test_timelines_roundtrip_npz_and_netcdf(real_data, tmp_path):
    from solarprep import open_dataset, save

    ds = solared.read_timelines(real_data / "solared" / "AR11726")
    paths = solared.write_timelines(solared.keep_tiles(ds), tmp_path / "AR11726")
    assert sorted(p.name for p in paths) == ["mean_int11726_flat.npz", "mean_mag11726_flat.npz",
                                             "mean_pmdop11726_flat.npz"]
    back = solared.read_timelines(tmp_path / "AR11726")     # 63 tiles padded back to 81 zeros
    for name in ds.data_vars:
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    np.testing.assert_array_equal(back.time.values, ds.time.values)
    save(ds, tmp_path / "ar.nc")
    nc = open_dataset(tmp_path / "ar.nc")
    np.testing.assert_array_equal(nc["power_4_5"].values, ds["power_4_5"].values)


def test_read_timelines_errors(tmp_path):
    with pytest.raises(SolarDataError, match="not a folder"):
        solared.read_timelines(tmp_path / "nope")
    with pytest.raises(SolarDataError, match="no mean_pmdop"):
        solared.read_timelines(tmp_path)


def _jsoc_cube(path, data, midtime, cadence=45.0):
    from astropy.io import fits

    hdu = fits.ImageHDU(data.astype(np.float32))
    hdu.header["MIDTIME"] = midtime
    hdu.header["CADENCE"] = cadence
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def test_fits_region_from_jsoc_like_cubes(tmp_path):
    rng = np.random.default_rng(0)
    dop, mag, con, cubes = [], [], [], []
    for k, hour in enumerate(["04", "05", "06"]):
        cube = rng.standard_normal((64, 27, 27)).astype(np.float32) * 100
        cubes.append(cube)
        mid = f"2024.05.01_{hour}:00:37_TAI"                  # TAI = UTC + 37 s
        dop.append(_jsoc_cube(tmp_path / f"dop{k}.fits", cube, mid))
        mag.append(_jsoc_cube(tmp_path / f"mag{k}.fits", cube[:5] - 50, mid))
        con.append(_jsoc_cube(tmp_path / f"con{k}.fits", cube[:5] + 6e4, mid))
    data, mid, dt = solared.read_tracked_cube(dop[0])
    assert data.shape == (64, 27, 27) and dt == 45.0
    assert mid == np.datetime64("2024-05-01T04:00:00", "ns")
    region = solared.FitsRegion("12345", dop[::-1], mag, con, device="cpu")
    tl = region.timelines()
    assert tl.sizes == {"time": 3, "tile": 81}
    assert np.all(np.diff(tl.time.values) == np.timedelta64(1, "h"))
    ref = tile_means(band_powers(cubes[1], 45.0, convention="solared", device="cpu"))
    np.testing.assert_allclose(np.stack([tl[v].values[1] for v in solared.POWER_VARIABLES]), ref,
                               rtol=1e-5)
    np.testing.assert_allclose(tl["flux"].values[2], tile_means(np.abs(cubes[2][2] - 50)),
                               rtol=1e-6)                    # middle frame of the cube, |B|
    np.testing.assert_allclose(tl["intensity"].values[0], tile_means(cubes[0][2] + 6e4), rtol=1e-6)
    with pytest.raises(SolarDataError, match="MIDTIME"):
        from astropy.io import fits

        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 9, 9), np.float32))]).writeto(
            tmp_path / "bad.fits")
        solared.read_tracked_cube(tmp_path / "bad.fits")


def _regions(n=3, steps=22):
    return [solared.SyntheticRegion(f"9000{k}", seed=k, n_steps=steps, shape=18, n_frames=64,
                                    emergence_step=10, tau_steps=3) for k in range(n)]


def test_synthetic_region_emerges():
    tl = _regions(1, 16)[0].timelines()
    centre = (tl.tile_row.values == 4) & (tl.tile_col.values == 4)
    assert tl["flux"].values[-1, centre] > 10 * tl["flux"].values[0, centre]
    assert tl["intensity"].values[-1, centre] < 0.9 * tl["intensity"].values[0, centre]
    assert tl["power_3_4"].values[-1, centre] < 0.8 * tl["power_3_4"].values[0, centre]


def test_build_splits_normalisation_and_resume(tmp_path, monkeypatch):
    regions = _regions()
    splits = {"train": ["90000", "90001"], "test": ["AR90002"]}
    ds = solared.build(regions, out=tmp_path, window=6, lead=2, splits=splits, progress=False)
    n_per = 22 - 6 - 2 + 1
    assert ds["inputs"].shape == (3 * n_per, 6, 5, 63) and ds["targets"].shape == (3 * n_per, 63)
    assert ds["inputs"].dtype == np.float32
    assert ds.channel.values.tolist() == list(solared.CHANNELS)
    assert (ds.split.values == "test").sum() == n_per
    assert set(ds.active_region.values[ds.split.values == "test"]) == {"90002"}
    # normalisation from the training ARs only
    train = [xr.open_dataset(tmp_path / "regions" / f"AR9000{k}.nc").load() for k in (0, 1)]
    train = [solared.keep_tiles(solared.flatten_timelines(t)) for t in train]
    flux = np.concatenate([t["flux"].values for t in train])
    assert ds.attrs["input_offset"][4] == pytest.approx(flux.mean(), rel=1e-5)
    assert ds.attrs["input_scale"][4] == pytest.approx(flux.std(), rel=1e-5)
    tr = ds.inputs.values[ds.split.values == "train"]
    assert abs(tr[..., 4, :].mean()) < 0.2                    # ~zero mean on train samples
    # targets: intensity `lead` steps after the last input step
    first = train[0]
    raw = first["intensity"].values[6 - 1 + 2]
    np.testing.assert_allclose(ds.targets.values[0] * ds.attrs["target_scale"]
                               + ds.attrs["target_offset"], raw, rtol=1e-4, atol=1e-2)
    assert (tmp_path / "solared.nc").exists()
    # resume: finished regions are read back, never recomputed
    monkeypatch.setattr(solared.SyntheticRegion, "timelines",
                        lambda self, progress=False: pytest.fail("recomputed a finished AR"))
    again = solared.build(regions, out=tmp_path, window=6, lead=2, splits=splits, progress=False)
    np.testing.assert_array_equal(again.inputs.values, ds.inputs.values)


def test_build_from_real_folders_with_gap(real_data):
    folders = [real_data / "solared" / "AR11158", real_data / "solared" / "AR11726"]
    ds = solared.build(folders, splits={"train": ["11158"], "test": ["11726"]}, progress=False)
    counts = {ar: int((ds.active_region.values == ar).sum()) for ar in ("11158", "11726")}
    assert counts["11158"] == 240 - 120 - 12 + 1
    assert 0 < counts["11726"] < 232 - 120 - 12 + 1          # windows across the gap dropped
    end = ds.window_end.values[ds.active_region.values == "11726"]
    tgt = ds.target_time.values[ds.active_region.values == "11726"]
    assert np.all(tgt - end == np.timedelta64(12, "h"))


def test_build_errors():
    regions = _regions(2, 12)
    with pytest.raises(ValueError, match="no AR has"):
        solared.build(regions, window=20, lead=2, progress=False)
    with pytest.raises(ValueError, match="in no split"):
        solared.build(regions, window=4, lead=1, splits={"train": ["90000"]}, progress=False)
    with pytest.raises(TypeError, match="cannot build from"):
        solared.build([42], progress=False)
    assert solared.assign_splits(["a", "b", "c", "d", "e"], seed=1).values().__iter__()
    s = solared.assign_splits([str(k) for k in range(10)])
    assert sorted(s.values()).count("train") >= 6 and "test" in s.values() and "val" in s.values()


def test_cli_build_solared(tmp_path):
    from solarprep.cli import main

    assert main(["build-solared", "--synthetic", "3", "--synthetic-steps", "8", "--window", "4",
                 "--lead", "1", "--test", "S002", "-o", str(tmp_path), "--no-progress"]) == 0
    ds = xr.open_dataset(tmp_path / "solared.nc", engine="h5netcdf")
    assert ds.sizes["sample"] == 3 * 4 and ds.attrs["regions_test"] == "S002"
    assert (tmp_path / "regions" / "ARS000.nc").exists()


def test_window_and_lead_as_durations():
    import astropy.units as u

    from solarprep.errors import QuantityError

    regions = _regions(2, 12)
    splits = {"train": ["90000"], "test": ["90001"]}
    ref = solared.build(regions, window=4, lead=1, splits=splits, progress=False)
    cadence = float(np.diff(regions[0].timelines().time.values)[0] / np.timedelta64(1, "s"))
    got = solared.build(regions, window=4 * cadence * u.s, lead=f"{cadence}s", splits=splits,
                        progress=False)
    np.testing.assert_array_equal(got.inputs.values, ref.inputs.values)
    assert got.attrs["window"] == 4 and got.attrs["lead"] == 1
    with pytest.raises(QuantityError, match="whole number of steps"):
        solared.build(regions, window=1.5 * cadence * u.s, lead=1, splits=splits,
                      progress=False)
    with pytest.raises(QuantityError, match="lead=2.0 m: m is not a unit of time"):
        solared.region_samples(regions[0].timelines(), window=4, lead=2 * u.m)
