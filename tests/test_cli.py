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
