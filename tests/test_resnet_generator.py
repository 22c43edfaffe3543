"""One ResNet generator for pix2pixHD and Pix2PixCC: same layers, keys and outputs as before."""
import hashlib

import pytest
import torch

from solarmodels.networks.pix2pixcc import Pix2PixCCGenerator
from solarmodels.networks.pix2pixhd import GlobalGenerator
from solarmodels.networks.resnet import ResnetGenerator
from solarmodels.registry import create_model

# (key, shape) lists and outputs of the two former classes (commit 833cbad), recorded before
# they became one parametrised generator: checkpoints of the old classes load unchanged.
KEYS = [("pix2pixhd_global", {}, "5af513b1f2c95415", 45617729),
        ("pix2pixcc_generator", {}, "328ccd490ec7ac6c", 193578113),
        ("pix2pixhd_global", {"ngf": 4, "n_down": 2, "n_blocks": 2}, "9476e19c55047185", 12985),
        ("pix2pixhd_global", {"ngf": 4, "n_down": 2, "n_blocks": 2, "output": "tanh"},
         "9476e19c55047185", 12985),
        ("pix2pixcc_generator", {"ngf": 4, "n_down": 2, "n_blocks": 2}, "82135f8358f64c05",
         15545),
        ("pix2pixcc_generator", {"ngf": 4, "n_down": 2, "n_blocks": 2, "upsample": "bilinear"},
         "4b9666c75396b408", 15545)]
OUTPUTS = [("pix2pixhd_global", {}, -14.757346957921982, 33.696177893318236),
           ("pix2pixcc_generator", {}, -19.26393910465231, 41.625731598729544),
           ("pix2pixcc_generator", {"upsample": "bilinear"}, -9.287056233384646,
            45.08190484170336)]


def _signature(module):
    items = sorted((k, tuple(v.shape)) for k, v in module.state_dict().items())
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name, kw, digest, n_params", KEYS)
def test_state_dict_keys_and_parameter_counts_unchanged(name, kw, digest, n_params):
    net = create_model(name, **kw)
    assert isinstance(net, ResnetGenerator)
    assert _signature(net) == digest
    assert sum(p.numel() for p in net.parameters()) == n_params


@pytest.mark.parametrize("name, kw, total, total_abs", OUTPUTS)
def test_same_initialisation_and_outputs_as_before(name, kw, total, total_abs):
    torch.manual_seed(0)
    net = create_model(name, ngf=4, n_down=2, n_blocks=2, in_channels=3, **kw)
    torch.manual_seed(1)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        y = net(x).double()
    assert float(y.sum()) == pytest.approx(total, rel=1e-5)
    assert float(y.abs().sum()) == pytest.approx(total_abs, rel=1e-5)


def test_the_two_generators_are_one_class_with_parameters():
    hd, cc = GlobalGenerator(), Pix2PixCCGenerator()
    assert type(hd).__mro__[1] is ResnetGenerator and type(cc).__mro__[1] is ResnetGenerator
    acts = {type(m).__name__ for m in hd.modules()} & {"ReLU", "Mish"}
    assert acts == {"ReLU"}
    assert {type(m).__name__ for m in cc.modules()} & {"ReLU", "Mish"} == {"Mish"}
    assert hd.model[4].kernel_size == (3, 3) and cc.model[4].kernel_size == (5, 5)
    assert type(hd.model[0]).__name__ == "ReflectionPad2d"
    assert type(cc.model[0]).__name__ == "ReplicationPad2d"
