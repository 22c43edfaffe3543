"""Checkpoints: safetensors weights, JSON config and meta, and the exact training state.

A checkpoint is a folder::

    weights.safetensors   every network of the system ("g.…", "d.…") and EMA averages ("ema.g.…"),
                          whole (gathered on rank 0 under FSDP)
    config.json           the resolved run configuration
    meta.json             step, package versions, git revision, data fingerprint, UTC time,
                          base_dir (the working directory of training)
    state.pt              optimisers, schedulers, RNG states (Python, NumPy, torch CPU/CUDA) of
                          rank 0, sampler position and step; ``torch.save``'d and read back with
                          ``torch.load(weights_only=True)`` (no pickled code is ever executed)
    rank_00001.pt ...     distributed runs: the RNG state of each rank r >= 1
    sharded/              FSDP runs: networks, EMA and optimisers as a torch.distributed.checkpoint
                          (one file per rank and ``.metadata``); ``state.pt`` then has no optimisers

Folders are written under a temporary name (``.step_….tmp-<host>-<pid>-<random>``, chosen by
rank 0), every file and the folder are fsync'ed, and the folder is moved into place with
:func:`solarprep.io.atomic.replace_folder` (the library's one durable-write helper: an atomic
exchange with an existing folder, then the parent folder flushed); ``latest`` is written with
:func:`solarprep.io.atomic.write_text`. A crash or power loss never leaves half a checkpoint; a
failed write removes its temporary, and each write first removes temporaries that a killed
process left behind in the same folder. Under ``torch.distributed`` rank 0 writes the
weights, config, meta and state, every rank its own RNG state (and FSDP shard), and all ranks
agree that their files are complete before rank 0 renames the folder and moves ``latest``.
"""
from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import logging
import pathlib
import platform
import random
import shutil
import subprocess
from typing import TYPE_CHECKING

import numpy as np
import torch

from solarmodels.errors import CheckpointError  # noqa: F401 (re-exported)
from solarprep.io.atomic import fsync_tree, replace_folder, temporary_name, write_text

if TYPE_CHECKING:
    import os
    from typing import Any

    from torch import nn

    from solarmodels.distributed import DistributedContext

__all__ = ["save_checkpoint", "load_checkpoint", "read_meta", "rng_state", "set_rng_state",
           "data_fingerprint", "environment_versions", "git_revision",
           "set_latest", "clean_temporaries", "read_rank_state", "load_sharded", "SHARDED"]

logger = logging.getLogger(__name__)

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
META = "meta.json"
STATE = "state.pt"
SHARDED = "sharded"


def environment_versions() -> dict:
    """Versions of Python and the packages that decide the numbers of a run."""
    out = {"python": platform.python_version()}
    for name in ("numpy", "solarprep", "safetensors", "xarray"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["torch"] = torch.__version__  # the build ("2.14.1+cu130"), which the metadata omits
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


def data_fingerprint(dataset: Any) -> str | None:
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

def rng_state(cuda_device: torch.device | str | int | None = None) -> dict:
    """Python, NumPy (legacy global) and torch CPU/CUDA RNG states in ``weights_only``-safe types.

    ``cuda_device`` (a distributed rank's GPU) saves that device's CUDA state only, instead of
    every visible GPU's (which would create a CUDA context on each of them)."""
    py = random.getstate()
    npst = np.random.get_state()  # noqa: NPY002 (the global RNG that user code may use)
    state = {
        "python": [py[0], torch.tensor(py[1], dtype=torch.int64), py[2]],
        "numpy": [npst[0], torch.from_numpy(npst[1].astype(np.int64)), int(npst[2]),
                  int(npst[3]), float(npst[4])],
        "torch": torch.get_rng_state(),
    }
    if cuda_device is not None and torch.device(cuda_device).type == "cuda":
        state["cuda_device"] = torch.cuda.get_rng_state(cuda_device)
    elif torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, cuda_device: torch.device | str | int | None = None) -> None:
    """Restore the states saved by :func:`rng_state` (``cuda_device``: where a single-device
    CUDA state goes, default the current device)."""
    py = state["python"]
    random.setstate((py[0], tuple(int(v) for v in py[1].tolist()), py[2]))
    npst = state["numpy"]
    np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32),  # noqa: NPY002
                         npst[2], npst[3], npst[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "cuda_device" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda_device"], cuda_device or "cuda")


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


def _remove(path: pathlib.Path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_temporaries(folder: str | os.PathLike[str]) -> list:
    """Remove what interrupted writes left in ``folder`` (``.<name>.tmp…``, ``.<name>.old…``);
    returns the removed paths. Only one process may write checkpoints to a folder at a time."""
    folder = pathlib.Path(folder)
    removed = []
    if folder.is_dir():
        for item in folder.iterdir():
            if item.name.startswith(".") and (".tmp" in item.name or ".old" in item.name):
                _remove(item)
                removed.append(item)
    if removed:
        logger.info("removed %d stale temporaries in %s", len(removed), folder)
    return removed


def set_latest(checkpoints: str | os.PathLike[str], name: str) -> pathlib.Path:
    """Point ``checkpoints/latest`` at the checkpoint folder ``name`` (atomically, fsync'ed)."""
    pointer = pathlib.Path(checkpoints) / "latest"
    return write_text(pointer, name + "\n")


def _rank_file(rank: int) -> str:
    return f"rank_{rank:05d}.pt"


def _single():
    from solarmodels.distributed import DistributedContext

    return DistributedContext()


def save_checkpoint(path: str | os.PathLike[str], system: nn.Module, *, config: Any = None,
                    state: dict | None = None, meta: dict | None = None,
                    context: DistributedContext | None = None, rank_state: dict | None = None,
                    sharded: dict | None = None, weights: dict | None = None,
                    latest: bool = False) -> pathlib.Path:
    """Write ``system``'s weights, ``config``, meta and training ``state`` to folder ``path``.

    Under ``torch.distributed`` every rank calls it: rank 0 writes the weights, config, meta and
    state; each rank ``r >= 1`` its ``rank_state``; all ranks the ``sharded`` state.

    Parameters
    ----------
    path : path-like
        Checkpoint folder (replaced atomically if it exists).
    system : System or nn.Module
        Its ``state_dict()`` is saved as safetensors (unless ``weights`` is given).
    config : dict or dataclass, optional
        Resolved run configuration (``config.json``).
    state : dict, optional
        Training state for :func:`torch.save` (optimisers, schedulers, RNG, step...).
    meta : dict, optional
        Extra fields of ``meta.json`` (step, data fingerprint...).
    context : DistributedContext, optional
        This rank's place in a distributed run (default: one process).
    rank_state : dict, optional
        This rank's own state (its RNG), written as ``rank_<r>.pt`` by ranks ``r >= 1``.
    sharded : dict, optional
        A ``torch.distributed.checkpoint`` state dict (FSDP networks and optimisers) saved by
        every rank into ``sharded/``.
    weights : dict, optional
        The tensors of ``weights.safetensors`` on rank 0 (e.g. gathered from FSDP shards).
    latest : bool
        Point ``latest`` in the parent folder at this checkpoint once it is complete.

    Raises
    ------
    CheckpointError
        A write failed on some rank; the temporary folder is removed and nothing is renamed.
    """
    from safetensors.torch import save_file

    from solarmodels.config import to_dict

    ctx = context or _single()
    path = pathlib.Path(path)
    tmp = pathlib.Path(ctx.broadcast_object(str(temporary_name(path)) if ctx.is_main else None))
    error = None
    if ctx.is_main:
        try:
            clean_temporaries(path.parent)
            tmp.mkdir(parents=True)
        except OSError as exc:
            error = exc
    _agree_or_raise(ctx, error, path, tmp)
    try:
        mine = []
        if ctx.is_main:
            mine.append(tmp / WEIGHTS)
            save_file(_contiguous_unshared(system.state_dict() if weights is None else weights),
                      str(tmp / WEIGHTS))
            mine.append(tmp / CONFIG)
            (tmp / CONFIG).write_text(json.dumps(to_dict(config or {}), indent=2) + "\n")
            info = {"created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "versions": environment_versions(), "git_revision": git_revision()}
            info.update(to_dict(meta or {}))
            mine.append(tmp / META)
            (tmp / META).write_text(json.dumps(info, indent=2) + "\n")
            if state is not None:
                mine.append(tmp / STATE)
                torch.save(state, tmp / STATE)
        elif rank_state is not None:
            mine.append(tmp / _rank_file(ctx.rank))
            torch.save(rank_state, mine[-1])
        for f in mine:
            fsync_tree(f)
        if sharded is not None:
            import torch.distributed.checkpoint as dcp

            dcp.save(sharded, checkpoint_id=str(tmp / SHARDED))
    except Exception as exc:            # every rank must learn of the failure
        error = exc
    _agree_or_raise(ctx, error, path, tmp)       # the barrier before anything is renamed
    if ctx.is_main:
        try:
            fsync_tree(tmp)
            replace_folder(tmp, path)
            if latest:
                set_latest(path.parent, path.name)
        except OSError as exc:
            error = exc
    _agree_or_raise(ctx, error, path, tmp)
    return path


def _agree_or_raise(ctx, error, path, tmp):
    """Every rank learns whether all ranks succeeded; on failure rank 0 removes ``tmp``."""
    if ctx.agree(error is None):
        return
    if ctx.is_main:
        _remove(tmp)
    if error is None:
        raise CheckpointError(f"writing checkpoint {path} failed on another rank (see its log)")
    raise CheckpointError(f"writing checkpoint {path} failed on rank {ctx.rank}: "
                          f"{type(error).__name__}: {error}") from error


def read_rank_state(path: str | os.PathLike[str], rank: int) -> dict | None:
    """The ``rank_<r>.pt`` state of rank ``rank`` in checkpoint ``path`` (None if absent)."""
    f = pathlib.Path(path) / _rank_file(rank)
    return torch.load(f, map_location="cpu", weights_only=True) if f.is_file() else None


def load_sharded(path: str | os.PathLike[str], state_dict: dict) -> dict:
    """Load the ``sharded/`` part of an FSDP checkpoint into ``state_dict`` in place (collective:
    every rank calls it; the number of ranks may differ from the one that saved it)."""
    import torch.distributed.checkpoint as dcp

    folder = pathlib.Path(path) / SHARDED
    if not folder.is_dir():
        raise CheckpointError(f"{path} has no {SHARDED}/ (it was not written with "
                              "train.parallel='fsdp'); resume it without FSDP")
    dcp.load(state_dict, checkpoint_id=str(folder))
    return state_dict


def read_meta(path: str | os.PathLike[str]) -> dict:
    """``config.json`` and ``meta.json`` of a checkpoint folder as ``{"config": …, "meta": …}``."""
    path = pathlib.Path(path)
    if not (path / WEIGHTS).is_file():
        raise CheckpointError(f"{path} is not a checkpoint folder (no {WEIGHTS})")
    return {"config": json.loads((path / CONFIG).read_text()) if (path / CONFIG).exists() else {},
            "meta": json.loads((path / META).read_text()) if (path / META).exists() else {}}


def load_checkpoint(path: str | os.PathLike[str], system: nn.Module | None = None, *,
                    map_location: str | torch.device = "cpu", strict: bool = True,
                    with_state: bool = True, with_weights: bool = True) -> dict:
    """Read a checkpoint folder; load its weights into ``system`` if given.

    Returns ``{"weights": dict, "config": dict, "meta": dict, "state": dict or None}``; the
    training state is read with ``torch.load(weights_only=True)``. ``with_weights=False``
    skips the weights file (``"weights"`` is then None), e.g. when an FSDP run restores its
    shards instead.
    """
    from safetensors.torch import load_file

    path = pathlib.Path(path)
    out = read_meta(path)
    weights = load_file(str(path / WEIGHTS), device=str(map_location)) if with_weights else None
    out["weights"] = weights
    if system is not None and weights is not None:
        try:
            system.load_state_dict(weights, strict=strict)
        except (RuntimeError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {path} does not match the system: {exc}") from exc
    state_file = path / STATE
    out["state"] = (torch.load(state_file, map_location=map_location, weights_only=True)
                    if with_state and state_file.exists() else None)
    return out
