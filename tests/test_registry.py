"""Registry and configuration: discovery, create_model overrides, config files and overrides."""
import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from solarmodels import create_model, list_models, load_config, model_config
from solarmodels.config import ConfigError, TrainConfig, apply_overrides, save_config
from solarmodels.registry import RegistryError, create_system, discovery_errors, register_model, system_class

TRANSLATION = {
    # name: (tiny config, input shape)
    "pix2pix_unet": ({"in_channels": 2, "out_channels": 1, "image_size": 16, "ngf": 4},
                     (2, 2, 16, 16)),
    "patchgan": ({"in_channels": 3, "ndf": 4, "n_layers": 2}, (2, 3, 32, 32)),
    "pix2pixhd_global": ({"in_channels": 3, "out_channels": 1, "ngf": 4, "n_down": 2,
                          "n_blocks": 1}, (2, 3, 16, 16)),
    "multiscale_patchgan": ({"in_channels": 4, "ndf": 4}, (2, 4, 32, 32)),
    "pix2pixcc_generator": ({"in_channels": 3, "out_channels": 1, "ngf": 4, "n_down": 2,
                             "n_blocks": 1}, (2, 3, 16, 16)),
}


def test_discovery_in_a_fresh_interpreter():
    code = ("import solarmodels, json; print(json.dumps([solarmodels.list_models('translation'),"
            " solarmodels.list_systems()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    models, systems = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(TRANSLATION) <= set(models)
    assert {"pix2pix_a", "pix2pix_b", "pix2pixhd", "pix2pixcc"} <= set(systems)


def test_every_translation_model_is_covered_here():
    assert set(list_models("translation")) == set(TRANSLATION)
    assert not {k: v for k, v in discovery_errors().items() if "pix2pix" in k or "patchgan" in k}


@pytest.mark.parametrize("name", sorted(TRANSLATION))
def test_forward_backward_tiny(name):
    cfg, shape = TRANSLATION[name]
    torch.manual_seed(0)
    net = create_model(name, **cfg)
    x = torch.randn(*shape, requires_grad=True)
    out = net(x)
    flat = [t for scale in out for t in scale] if isinstance(out, list) else [out]
    for t in flat:
        assert torch.isfinite(t).all()
    if name in ("pix2pix_unet", "pix2pixhd_global", "pix2pixcc_generator"):
        assert out.shape == (shape[0], cfg["out_channels"], *shape[2:])
    sum(t.float().pow(2).mean() for t in flat).backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_create_model_overrides_and_errors():
    net = create_model("patchgan", {"ndf": 8}, n_layers=1)
    assert net.config.ndf == 8 and net.config.n_layers == 1
    assert model_config("patchgan", ndf="16").ndf == 16          # strings coerced to the type
    with pytest.raises(ConfigError, match="unknown key 'nfd'; did you mean 'ndf'"):
        create_model("patchgan", nfd=8)
    with pytest.raises(RegistryError, match="Did you mean 'patchgan'"):
        create_model("patchgam")
    with pytest.raises(ConfigError, match="expected an integer"):
        model_config("patchgan", ndf=1.5)
    with pytest.raises(RegistryError, match="unknown system"):
        system_class("pix2pix_c")


def test_register_duplicate_name_raises():
    @dataclasses.dataclass
    class Cfg:
        width: int = 1

    with pytest.raises(RegistryError, match="already registered"):
        register_model("patchgan", Cfg, family="test")(lambda cfg: torch.nn.Identity())
    with pytest.raises(TypeError, match="dataclass"):
        register_model("x_not_dc", dict, family="test")


def test_system_needs_its_primary_network():
    from solarmodels.systems.base import System

    class Bare(System):
        primary = "net"

    with pytest.raises(ConfigError, match="needs a 'net' network"):
        Bare()
    system = create_system("pix2pix_b", {"generator_config": {"image_size": 16, "ngf": 2}})
    assert set(system.networks) == {"g", "d"}                   # both built from the config
    assert system.networks["d"].config.in_channels == 6


RUN_TOML = """
model = "pix2pix_unet"
system = "pix2pix_b"
[model_config]
image_size = 64
[system_config]
lambda_l1 = 50
[data]
dataset = "synthetic_pairs"
[train]
steps = 10
lr = 1e-3
"""


def test_load_config_toml_json_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(RUN_TOML)
    cfg = load_config(path, ["train.lr=5e-4", "model_config.ngf=16", "data.n=7",
                             "train.precision=bf16", "train.channels_last=true"])
    assert isinstance(cfg.train, TrainConfig)
    assert cfg.train.lr == 5e-4 and cfg.train.steps == 10 and cfg.train.precision == "bf16"
    assert cfg.train.channels_last is True
    assert cfg.model_config["ngf"] == 16 and cfg.model_config["image_size"] == 64
    assert cfg.model_config["norm"] == "batch"                    # defaults filled in
    assert cfg.system_config["lambda_l1"] == 50.0 and cfg.system_config["beta1"] == 0.5
    assert cfg.data == {"dataset": "synthetic_pairs", "n": 7}
    saved = save_config(cfg, tmp_path / "resolved.json")
    again = load_config(saved)
    assert again == cfg
    yaml = pytest.importorskip("yaml")
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(json.loads(saved.read_text())))
    assert load_config(tmp_path / "run.yaml") == cfg


@pytest.mark.parametrize("override, message", [
    ("train.lrr=1", "unknown key 'lrr'; did you mean 'lr'"),
    ("model_config.ngff=3", "unknown key 'ngff'; did you mean 'ngf'"),
    ("system_config.lambda_l2=3", "unknown key 'lambda_l2'; did you mean 'lambda_l1'"),
    ("train.steps=abc", "expected an integer"),
    ("train.precision=fp16", "precision must be"),
    ("trainlr", "must look like key.sub=value"),
])

def test_override_errors(tmp_path, override, message):
    path = tmp_path / "run.toml"
    path.write_text(RUN_TOML)
    with pytest.raises(ConfigError, match=message):
        load_config(path, [override])


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config(tmp_path / "x.ini")


def test_apply_overrides_parses_values():
    out = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d.e=hello", 'f="x y"'])
    assert out == {"a": {"b": 2, "c": [1, 2]}, "d": {"e": "hello"}, "f": "x y"}
