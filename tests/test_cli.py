"""The command lines: solarprep convert / info, python -m solarprep, solarmodels info."""
import json
import subprocess
import sys

import numpy as np

import solarprep
from solarmodels.cli import main as solarmodels_main
from solarprep.cli import main as solarprep_main


def test_convert_and_info(real_fits, tmp_path, capsys):
    out = tmp_path / "hmi.nc"
    assert solarprep_main(["convert", str(real_fits["hmi_blos"]), "-o", str(out), "--disk"]) == 0
    ds = solarprep.open_dataset(out)
    assert ds["blos"].attrs["units"] == "G"
    assert "mu" in ds.coords and np.nanmax(ds["mu"].values) <= 1.0
    assert solarprep_main(["info", str(out)]) == 0
    assert "blos" in capsys.readouterr().out


def test_python_dash_m_version():
    result = subprocess.run([sys.executable, "-m", "solarprep", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"solarprep {solarprep.__version__}"


def test_solarmodels_info(capsys):
    assert solarmodels_main(["info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["torch"] and info["device"].startswith(("cpu", "cuda"))


def test_duration_options_take_seconds_steps_or_durations(capsys):
    import numpy as np
    import pytest
    import xarray as xr

    from solarprep.cli import build_parser
    from solarprep.parallel.pipeline import parse_step

    parser = build_parser()
    args = parser.parse_args(["build-pairs", "a", "b", "-o", "x.nc", "--max-dt", "10min"])
    assert args.max_dt == "10min"
    assert parser.parse_args(["build-pairs", "a", "b", "-o", "x.nc"]).max_dt == 600.0
    args = parser.parse_args(["build-solared", "-o", "out", "--window", "5d", "--lead", "12"])
    assert args.window == "5d" and args.lead == 12
    with pytest.raises(SystemExit):
        parser.parse_args(["build-pairs", "a", "b", "-o", "x.nc", "--max-dt", "ten minutes"])
    assert "is not a duration" in capsys.readouterr().err
    # solarprep run: duration options of the steps are durations too
    step = parse_step("doppler-difference:cadence=45s,tolerance=2s")
    t = np.datetime64("2024-01-01", "ns") + np.arange(4) * np.timedelta64(45, "s")
    ds = xr.Dataset({"vlos": (("time", "y", "x"), np.ones((4, 2, 2), np.float32),
                              {"units": "m / s", "long_name": "v"})}, coords={"time": t})
    assert step(ds)["dvlos"].attrs["cadence_s"] == 45.0
