"""Checkpoints: safetensors weights, JSON config and meta, and the exact training state.

A checkpoint is a folder::

    weights.safetensors   every network of the system ("g.…", "d.…") and EMA averages ("ema.g.…")
    config.json           the resolved run configuration
    meta.json             step, package versions, git revision, data fingerprint, UTC time
    state.pt              optimisers, schedulers, RNG states (Python, NumPy, torch CPU/CUDA),
                          sampler position and step; ``torch.save``'d and read back with
                          ``torch.load(weights_only=True)`` (no pickled code is ever executed)

Folders are written under a temporary name and renamed, so a crash never leaves half a checkpoint.
"""
from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import logging
import os
import pathlib
import platform
import random
import shutil
import subprocess

import numpy as np
import torch

from solarmodels.errors import CheckpointError  # noqa: F401 (re-exported)

__all__ = ["save_checkpoint", "load_checkpoint", "read_meta", "rng_state", "set_rng_state",
           "data_fingerprint", "environment_versions", "git_revision"]

logger = logging.getLogger(__name__)

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
META = "meta.json"
STATE = "state.pt"


def environment_versions() -> dict:
    """Versions of Python and the packages that decide the numbers of a run."""
    out = {"python": platform.python_version()}
    for name in ("torch", "numpy", "solarprep", "safetensors", "xarray"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["cuda"] = torch.version.cuda
    return out


def git_revision() -> str | None:
    """``git rev-parse HEAD`` of the source tree of this package (``+dirty`` if modified), or None."""
    root = pathlib.Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def data_fingerprint(dataset) -> str | None:
    """A short hash identifying the training data.

    Uses ``dataset.fingerprint()`` when the dataset defines it (the pair dataset hashes file
    path, size, modification time and variable names); otherwise type and length.
    """
    if dataset is None:
        return None
    fn = getattr(dataset, "fingerprint", None)
    if callable(fn):
        return str(fn())
    try:
        n = len(dataset)
    except TypeError:
        n = -1
    return hashlib.sha256(f"{type(dataset).__qualname__}:{n}".encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- RNG

def rng_state() -> dict:
    """Python, NumPy (legacy global) and torch CPU/CUDA RNG states in ``weights_only``-safe types."""
    py = random.getstate()
    npst = np.random.get_state()  # noqa: NPY002 (the global RNG that user code may use)
    state = {
        "python": [py[0], torch.tensor(py[1], dtype=torch.int64), py[2]],
        "numpy": [npst[0], torch.from_numpy(npst[1].astype(np.int64)), int(npst[2]),
                  int(npst[3]), float(npst[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict):
    """Restore the states saved by :func:`rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(int(v) for v in py[1].tolist()), py[2]))
    npst = state["numpy"]
    np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32),  # noqa: NPY002
                         npst[2], npst[3], npst[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- save / load

def _contiguous_unshared(tensors: dict) -> dict:
    out, seen = {}, set()
    for name, t in tensors.items():
        t = t.detach()
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape)) if t.numel() else None
        if key in seen or not t.is_contiguous():
            t = t.clone(memory_format=torch.contiguous_format)
        seen.add(key)
        out[name] = t.to("cpu").contiguous()
    return out


def save_checkpoint(path, system, *, config=None, state=None, meta=None) -> pathlib.Path:
    """Write ``system``'s weights, ``config``, meta and training ``state`` to folder ``path``.

    Parameters
    ----------
    path : path-like
        Checkpoint folder (replaced atomically if it exists).
    system : System or nn.Module
        Its ``state_dict()`` is saved as safetensors.
    config : dict or dataclass, optional
        Resolved run configuration (``config.json``).
    state : dict, optional
        Training state for :func:`torch.save` (optimisers, schedulers, RNG, step...).
    meta : dict, optional
        Extra fields of ``meta.json`` (step, data fingerprint...).
    """
    from safetensors.torch import save_file

    from solarmodels.config import to_dict

    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(_contiguous_unshared(system.state_dict()), str(tmp / WEIGHTS))
    (tmp / CONFIG).write_text(json.dumps(to_dict(config or {}), indent=2) + "\n")
    info = {"created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "versions": environment_versions(), "git_revision": git_revision()}
    info.update(to_dict(meta or {}))
    (tmp / META).write_text(json.dumps(info, indent=2) + "\n")
    if state is not None:
        torch.save(state, tmp / STATE)
    if path.exists():
        old = path.with_name(f".{path.name}.old{os.getpid()}")
        path.replace(old)
        tmp.replace(path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.replace(path)
    return path


def read_meta(path) -> dict:
    """``config.json`` and ``meta.json`` of a checkpoint folder as ``{"config": …, "meta": …}``."""
    path = pathlib.Path(path)
    if not (path / WEIGHTS).is_file():
        raise CheckpointError(f"{path} is not a checkpoint folder (no {WEIGHTS})")
    return {"config": json.loads((path / CONFIG).read_text()) if (path / CONFIG).exists() else {},
            "meta": json.loads((path / META).read_text()) if (path / META).exists() else {}}


def load_checkpoint(path, system=None, *, map_location="cpu", strict=True, with_state=True) -> dict:
    """Read a checkpoint folder; load its weights into ``system`` if given.

    Returns ``{"weights": dict, "config": dict, "meta": dict, "state": dict or None}``; the
    training state is read with ``torch.load(weights_only=True)``.
    """
    from safetensors.torch import load_file

    path = pathlib.Path(path)
    out = read_meta(path)
    weights = load_file(str(path / WEIGHTS), device=str(map_location))
    out["weights"] = weights
    if system is not None:
        try:
            system.load_state_dict(weights, strict=strict)
        except (RuntimeError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {path} does not match the system: {exc}") from exc
    state_file = path / STATE
    out["state"] = (torch.load(state_file, map_location=map_location, weights_only=True)
                    if with_state and state_file.exists() else None)
    return out
