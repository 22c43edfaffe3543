"""The house rules of the package layout, checked on the source (docs/layout.md)."""
import ast
import importlib
import pathlib
import warnings

import pytest

import solarprep
from solarprep import errors
from solarprep._moved import MOVED

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("kernels", "solarprep", "solarmodels")


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def _imports(path):
    """``(module, name)`` for every ``from module import name`` and ``import module``."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None


def _owner(module):
    """The subpackage that owns a module: ``solarprep.remap`` for ``solarprep.remap._gather``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def test_layers_never_import_upwards():
    above = {"kernels": ("solarprep", "solarmodels", "examples"),
             "solarprep": ("solarmodels", "examples"), "solarmodels": ("examples",)}
    for name, path in _modules():
        banned = above[name.split(".")[0]]
        for module, _ in _imports(path):
            assert module.split(".")[0] not in banned, f"{name} imports {module}"
        text = path.read_text()
        for word in banned:
            assert f'"{word}.' not in text and f"'{word}." not in text, \
                f"{name} names the upper layer {word} in a string (an import by name?)"


def test_no_private_names_across_subpackages():
    problems = []
    for name, path in _modules():
        for module, imported in _imports(path):
            if module.split(".")[0] not in PACKAGES:
                continue
            private_module = any(p.startswith("_") and p != "__init__" and p != "_version"
                                 for p in module.split("."))
            private_name = imported is not None and imported.startswith("_") \
                and imported != "__version__"
            if (private_module or private_name) and _owner(module) != _owner(name):
                problems.append(f"{name} uses the private {module}:{imported}")
    assert not problems, "private names used across subpackages:\n" + "\n".join(problems)


def test_every_error_has_the_common_base():
    import solarmodels.errors as model_errors

    for mod in (errors, model_errors):
        for value in vars(mod).values():
            if isinstance(value, type) and issubclass(value, Exception) \
                    and not issubclass(value, Warning):
                assert issubclass(value, errors.SolarprepError), value
                assert issubclass(value, ValueError) or value is errors.SolarprepError, value
    defined = []
    for name, path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                defined.append(f"{name}.{node.name}")
    assert sorted(defined) == sorted(
        [f"solarprep.errors.{n}" for n in errors.__all__ if n.endswith("Error")]
        + [f"solarmodels.errors.{n}" for n in model_errors.__all__]), \
        "errors are defined in solarprep/errors.py and solarmodels/errors.py only"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_paths_warn_and_give_the_new_module(old):
    with pytest.warns(errors.SolarprepDeprecationWarning, match=MOVED[old]):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])
    assert module.__spec__.name == MOVED[old]


def test_public_api_is_reexported_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in solarprep.__all__:
            assert getattr(solarprep, name) is not None
        for sub in ("io", "coordinates", "remap", "photometry", "helioseismology",
                    "lightcurves", "datasets", "synthetic"):
            module = importlib.import_module(f"solarprep.{sub}")
            for name in module.__all__:
                assert getattr(module, name) is not None, f"solarprep.{sub}.{name}"


def test_kernel_parameter_layouts_are_consistent():
    from kernels import params

    assert params.DEROTATE_LEN == 2 * params.GEOMETRY_LEN + 5 == 55
    assert params.TRACK_LEN == 42 and params.SURFACE_LEN == 27
    assert params.LIMB_DARKENING_LEN == 18
    g = [[float(k) for k in range(25)]] * 2
    p = params.derotate_params(g, g, [1.0, 2.0], [0.1, 0.2], (3.0, 4.0, 5.0))
    assert p.shape == (2, 55) and p[1, params.DR_DT] == 2.0 and p[0, params.DR_LAW + 2] == 5.0
    with pytest.raises(ValueError, match="25 numbers"):
        params.surface_params([[0.0] * 24], 695.7, 0.1)


def test_ruff_is_clean():
    """The lint configuration of pyproject.toml holds for the whole tree (``ruff check .``)."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff, or the test extra)")
    proc = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]
