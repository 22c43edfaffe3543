"""A trained run opens from any working directory and after its project folder was moved: the
relative paths of its ``config.json`` are resolved from the cwd, the recorded training directory
(``base_dir`` in the checkpoint's ``meta.json``), then the folders above the run."""
import json
import logging
import shutil

import pytest

from solarmodels._runs import _resolve_run_paths
from solarmodels.cli import main
from solarmodels.errors import ConfigError
from tests.test_solarmodels_cli import _config, _pair_file


def _meta(run):
    return run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip() / "meta.json"


@pytest.fixture
def project(tmp_path, monkeypatch, capsys):
    """``tmp_path/proj`` with a pair file and a run trained there with relative paths."""
    proj = tmp_path / "proj"
    (proj / "runs" / "demo").mkdir(parents=True)
    _pair_file(proj / "runs" / "demo" / "pairs.nc")
    _config(proj, "runs/demo/pairs.nc")                       # a relative data path
    monkeypatch.chdir(proj)
    assert main(["train", "run.toml", "--run-dir", "runs/demo/r"]) == 0
    capsys.readouterr()
    saved = json.loads((proj / "runs/demo/r/config.json").read_text())
    assert saved["data"]["path"] == "runs/demo/pairs.nc"      # kept as given
    assert json.loads(_meta(proj / "runs/demo/r").read_text())["base_dir"] == str(proj)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return proj


def _evaluate(run, out, capsys):
    code = main(["evaluate", str(run), "--figures", "0", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_run_evaluates_from_another_directory_and_after_a_move(project, tmp_path, capsys,
                                                                 caplog):
    # (a) another cwd: found from the recorded training directory
    with caplog.at_level(logging.DEBUG, logger="solarmodels._runs"):
        ev = _evaluate(project / "runs/demo/r", tmp_path / "ev1", capsys)
    assert ev["n"] == 2 and ev["split"] == "val"
    assert f"resolved to {project / 'runs/demo/pairs.nc'}" in caplog.text
    # (b) the whole project moved: base_dir is gone, the folders above the run hold the file
    moved = tmp_path / "moved"
    shutil.move(project, moved)
    ev = _evaluate(moved / "runs/demo/r", tmp_path / "ev2", capsys)
    assert ev["n"] == 2
    # an older run without base_dir in its meta still opens
    meta_path = _meta(moved / "runs/demo/r")
    meta = json.loads(meta_path.read_text())
    del meta["base_dir"]
    meta_path.write_text(json.dumps(meta))
    assert _evaluate(moved / "runs/demo/r", tmp_path / "ev3", capsys)["n"] == 2
    # data gone: the dataset's own error, saying how paths are stored and how to override
    (moved / "runs/demo/pairs.nc").unlink()
    assert main(["evaluate", str(moved / "runs/demo/r"), "--figures", "0",
                 "--out", str(tmp_path / "ev4")]) != 0
    err = capsys.readouterr().err
    assert "no such pair file" in err and "relative to the directory the run was trained in" in err
    assert "solarmodels evaluate RUN DATA" in err and "data.path = 'runs/demo/pairs.nc'" in err


def test_resolution_order_and_absolute_paths(tmp_path, monkeypatch):
    base, run = tmp_path / "base", tmp_path / "proj" / "runs" / "r"
    for folder in (base / "a", tmp_path / "proj" / "a", tmp_path / "proj" / "ae", run,
                   tmp_path / "cwd" / "t1"):
        folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd")
    raw = {"data": {"path": "a", "timelines": ["t1", "ae", "nowhere"]},
           "system_config": {"autoencoder": "ae"},
           "train": {"init_from": str(tmp_path / "gone"), "seed": 1}, "model": "m"}
    out, hint = _resolve_run_paths(raw, run, base)
    assert out["data"]["path"] == str(base / "a")                   # base_dir before ancestors
    assert out["data"]["timelines"] == ["t1", str(tmp_path / "proj" / "ae"), "nowhere"]
    assert out["system_config"]["autoencoder"] == str(tmp_path / "proj" / "ae")
    assert out["train"] == raw["train"] and out["model"] == "m"    # absolute kept as given
    assert raw["data"]["path"] == "a"                               # input not modified
    assert "data.timelines = 'nowhere'" in hint and str(base) in hint
    # no base_dir (an older run): the nearest ancestor of the run folder
    out, hint = _resolve_run_paths(raw, run, None)
    assert out["data"]["path"] == str(tmp_path / "proj" / "a") and "not recorded" in hint
    assert _resolve_run_paths({"data": {"path": "t1"}}, run, base) == ({"data": {"path": "t1"}},
                                                                         "")


def test_video_run_finds_its_relative_autoencoder_after_a_move(tmp_path, monkeypatch):
    from solarmodels import load_run
    from solarmodels.datasets.video import synthetic_continuum_series, video_windows
    from solarmodels.registry import create_model, create_system
    from solarmodels.trainer import Trainer

    ds, lc = synthetic_continuum_series(16, 16, seed=3, n_spots=2)
    train = video_windows(ds, lc, window=8, stride=8)["train"]
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.chdir(proj)
    steps = {"steps": 1, "batch_size": 1, "progress": False, "tensorboard": False}
    ae_run = {"model": "video_autoencoder", "model_config": {"width": 4},
              "system": "video_autoencoder", "system_config": {"disk_residual": True},
              "data": {"dataset": "synthetic_continuum_video"}, "train": steps}
    ae = create_system("video_autoencoder", ae_run["system_config"],
                       create_model("video_autoencoder", width=4))
    Trainer(ae, train, None, steps, "runs/ae", run_config=ae_run).fit()
    net_cfg = {"hidden_size": 16, "num_heads": 2, "depth": 1, "mapping_size": 16,
               "in_channels": 4, "out_channels": 4, "patch_size": [1, 1, 1]}
    flow_run = {"model": "stdit_tiny", "model_config": net_cfg, "system": "video_rflow",
                "system_config": {"autoencoder": "runs/ae", "disk_residual": True,
                                  "sample_steps": 1},
                "data": {"dataset": "synthetic_continuum_video"}, "train": steps}
    flow = create_system("video_rflow", flow_run["system_config"],
                         create_model("stdit_tiny", **net_cfg))
    Trainer(flow, train, None, steps, "runs/flow", run_config=flow_run).fit()
    shutil.move(proj, tmp_path / "moved")
    monkeypatch.chdir(tmp_path)
    system, run = load_run(tmp_path / "moved" / "runs" / "flow")
    assert run.system_config["autoencoder"] == str(tmp_path / "moved" / "runs" / "ae")
    assert system.autoencoder is not None
    shutil.rmtree(tmp_path / "moved" / "runs" / "ae")
    with pytest.raises(ConfigError, match="not a trained run.*relative to the directory"):
        load_run(tmp_path / "moved" / "runs" / "flow")
