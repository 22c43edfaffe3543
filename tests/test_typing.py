"""Type hints on the public API: every public function and method is annotated.

The public API is every name in ``__all__`` of the packages and of their public modules
(``solarprep.*``, ``kernels.*``, ``solarmodels.*``, private ``_`` modules left out), with the
public methods of the classes among them. The top-level API (``solarprep``, ``kernels``,
``solarmodels``) and ``solarprep.dataset`` are annotated in full; what is not annotated yet is
listed, one qualified name a line, in ``tests/typing_todo.txt``: a new public function must come
annotated, and a name annotated since must leave the list (so the list only shrinks).
"""
import importlib
import importlib.util
import inspect
import pathlib
import pkgutil

#: solarmodels needs torch; without it (``make test-py312``) solarprep and kernels are checked.
WITH_TORCH = importlib.util.find_spec("torch") is not None
PACKAGES = ("solarprep", "kernels") + (("solarmodels",) if WITH_TORCH else ())
TODO = pathlib.Path(__file__).with_name("typing_todo.txt")
#: Annotated in full, always.
CORE = tuple(p for p in ("solarprep", "kernels", "solarmodels", "solarprep.dataset")
             if WITH_TORCH or not p.startswith("solarmodels"))


def _modules():
    for package in PACKAGES:
        yield package
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if not any(part.startswith("_") for part in info.name.split(".")[1:]):
                yield info.name


def _callables(module_names):
    found = {}
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for key, value in vars(obj).items():
                    func = getattr(value, "__func__", value)
                    if (not key.startswith("_") or key in ("__init__", "__call__")) \
                            and inspect.isfunction(func) and func.__qualname__.startswith(obj.__qualname__):
                        found[f"{obj.__module__}.{func.__qualname__}"] = func
            elif inspect.isfunction(obj):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def _missing(func):
    """Parameters (and ``return``) without an annotation."""
    sig = inspect.signature(func)
    out = [p.name for p in sig.parameters.values()
           if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty and func.__name__ != "__init__":
        out.append("return")
    return out


def test_the_top_level_api_is_annotated():
    core = _callables(CORE)
    assert len(core) > (60 if WITH_TORCH else 40)  # the check found the API
    problems = {name: _missing(f) for name, f in core.items() if _missing(f)}
    assert not problems, problems


def test_every_other_public_callable_is_annotated_or_listed():
    every = _callables(_modules())
    incomplete = {name for name, f in every.items() if _missing(f)}
    listed = {line.strip() for line in TODO.read_text().splitlines()
              if line.strip() and not line.startswith("#")
              and line.split(".")[0] in PACKAGES}
    assert not incomplete - listed, ("public callables without full annotations (annotate "
                                     f"them): {sorted(incomplete - listed)}")
    assert not listed - incomplete, ("annotated or gone since: remove from "
                                     f"{TODO.name}: {sorted(listed - incomplete)}")
