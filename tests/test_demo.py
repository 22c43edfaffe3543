"""The main job, end to end on tiny synthetic sizes and the real samples."""
import json

import numpy as np

import solarprep

from .cf_files import check_tree


def test_demo_end_to_end(tmp_path, real_data, examples):
    from main_job import run_demo

    summary = run_demo(tmp_path, size=64, frames=6, real_data=real_data, progress=False,
                       models=False)   # the model steps: tests/test_seed_paths.py
    names = {row["name"] for row in summary["datasets"]}
    assert {"synthetic_continuum", "synthetic_magnetogram", "synthetic_euv171",
            "synthetic_dopplergram", "synthetic_goes"} <= names
    assert sum(n.startswith("real_") for n in names) == 6
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["datasets"] == json.loads(json.dumps(summary["datasets"], default=str))
    assert "| synthetic_dopplergram | vlos | m / s |" in (tmp_path / "summary.md").read_text()
    for row in summary["datasets"]:
        name = row["name"]
        if "on_disk_fraction" not in row:
            continue  # later steps (derotation, models...) are checked below
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
        ds = solarprep.open_dataset(tmp_path / f"{name}.nc")
        assert "disk_coordinates" in ds.attrs["history"]
        assert np.nanmax(ds["mu"].values) <= 1.0
    derotated = solarprep.open_dataset(tmp_path / "synthetic_continuum_derotated.nc")
    assert "derotate(" in derotated.attrs["history"] and derotated["valid"].values.any()
    assert (tmp_path / "synthetic_continuum_derotated.png").stat().st_size > 5000
    doppler = solarprep.open_dataset(tmp_path / "synthetic_dopplergram.nc")
    assert doppler.sizes["time"] == 6
    assert np.all(np.diff(doppler["time"].values) == np.timedelta64(45, "s"))
    assert not list(tmp_path.glob(".*tmp*")), "temporary files were left behind"
    # every file the main job wrote follows CF (units UDUNITS-2, axes, time) and reads back
    checked = check_tree(tmp_path)
    assert len(checked) >= 13, sorted(checked)
    assert checked["synthetic_goes.nc"]["xrsb"] == "W m-2"
    assert checked["synthetic_dopplergram.nc"]["vlos"] == "m s-1"
    assert checked["synthetic_magnetogram.nc"]["blos"] == "gauss"
    assert checked["synthetic_continuum.nc"]["x"] == "arcsec"
    assert doppler["vlos"].attrs["units"] == "m / s"            # as in memory once read back
