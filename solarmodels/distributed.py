"""Distributed training: the process group from ``torchrun``'s environment, DDP and FSDP2.

``torchrun --standalone --nproc_per_node=N -m solarmodels train CONFIG`` (or the multi-node form
with ``--nnodes``, ``--rdzv-backend c10d``) starts N processes whose environment holds ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. :func:`init_distributed`
reads it and makes the default process group: NCCL with one GPU per local rank when the run
trains on CUDA, gloo on the CPU. A group that the caller already made (e.g.
``init_process_group("gloo", init_method="file://...")`` in a test) is used as it is.

The trainer then wraps the networks of its :class:`~solarmodels.systems.base.System`:

* DDP (:func:`wrap_ddp`), each network on its own, so a GAN's generator and discriminator
  reduce their gradients separately. The wrapper calls the bare network when no gradient can
  flow into it (a frozen discriminator during the generator step, or ``no_grad``), so DDP
  never waits for gradients that will not come. Buffers (batch-norm running statistics) are
  not broadcast at every forward; the trainer broadcasts rank 0's after each step instead
  (:func:`sync_buffers`), so every rank holds the same networks and EMA at all times.
* FSDP2 (:func:`shard_fsdp`): ``fully_shard`` of every block of every ``nn.ModuleList``
  (deepest first), then of the network itself.
"""
from __future__ import annotations

import dataclasses
import inspect
import logging
import os
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import nn

from solarmodels.errors import ConfigError, DistributedError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["DistributedContext", "init_distributed", "shutdown", "resolve_device", "wrap_ddp",
           "shard_fsdp", "is_sharded", "broadcast_module", "sync_buffers", "rank_seed", "unwrap"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_OWNED = {"group": False}


def _dist():
    import torch.distributed as dist

    return dist


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly one-process) run.

    Attributes
    ----------
    rank, world_size, local_rank : int
    device : torch.device
        The device this rank trains on (``cuda:<local_rank>`` on GPUs).
    backend : str or None
        ``"nccl"``, ``"gloo"``, or None when there is no process group.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        """True when a process group exists (DDP/FSDP possible, collectives allowed)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that logs, shows progress and writes the run's files."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op without a group)."""
        if self.world_size > 1:
            _dist().barrier()

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """In-place ``all_reduce`` (``"sum"``, ``"min"`` or ``"max"``) of a tensor on
        :attr:`device`; returns it (unchanged with one rank)."""
        if self.world_size > 1:
            dist = _dist()
            ops = {"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}
            dist.all_reduce(tensor, op=ops[op])
        return tensor

    def agree(self, ok: bool) -> bool:
        """True when ``ok`` is true on every rank (a barrier as well)."""
        flag = torch.tensor([1.0 if ok else 0.0], device=self.device)
        return bool(self.all_reduce(flag, "min").item() > 0)

    def broadcast_object(self, obj: _T) -> _T:
        """Rank 0's ``obj`` on every rank (picklable objects; used for paths and names)."""
        if self.world_size == 1:
            return obj
        box = [obj]
        _dist().broadcast_object_list(box, src=0, device=self.device)
        return box[0]


def _env_world() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1") or 1)
    except ValueError:
        raise DistributedError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from None


def _wants_cuda(device) -> bool:
    device = "auto" if device is None else str(device)
    if device == "auto":
        return torch.cuda.is_available()
    return torch.device(device).type == "cuda"


def resolve_device(device: str | torch.device = "auto", local_rank: int = 0,
                   world_size: int = 1) -> torch.device:
    """The device of one rank: ``"auto"`` → ``cuda:<local_rank>`` when torch sees a GPU, else
    ``cpu``; ``"cuda"`` → ``cuda:<local_rank>``; other strings pass through (one rank only).

    Raises
    ------
    ConfigError
        CUDA asked for but not available, or one GPU named (``"cuda:1"``) for several ranks.
    DistributedError
        More local ranks than GPUs.
    """
    if not _wants_cuda(device):
        return torch.device("cpu" if device in (None, "auto") else device)
    if not torch.cuda.is_available():
        raise ConfigError(f"train.device={device!r} but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    dev = torch.device("cuda" if device in (None, "auto") else device)
    if dev.index is not None:
        if world_size > 1:
            raise ConfigError(f"train.device={device!r} names one GPU, but {world_size} ranks "
                              "train: use 'cuda' or 'auto' (each rank takes the GPU of its "
                              "LOCAL_RANK)")
        return dev
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise DistributedError(f"LOCAL_RANK={local_rank} but this node has {count} GPU(s): start at "
                               f"most {count} processes per node (torchrun --nproc_per_node={count})")
    return torch.device("cuda", local_rank)


def init_distributed(device: str | torch.device = "auto", *,
                     parallel: str = "auto") -> DistributedContext:
    """Join (or make) the default process group and pick this rank's device.

    Parameters
    ----------
    device : str
        ``train.device``: ``"auto"``/``"cuda"`` give ``cuda:<LOCAL_RANK>`` when torch sees GPUs
        (backend NCCL), ``"cpu"`` gives the CPU (backend gloo).
    parallel : str
        ``train.parallel``; ``"ddp"`` or ``"fsdp"`` in a single process without torchrun make a
        one-rank group (an in-memory store, no network).

    Returns
    -------
    DistributedContext

    Raises
    ------
    DistributedError
        ``WORLD_SIZE > 1`` with an incomplete environment (no ``RANK``, ``MASTER_ADDR``...), or
        more local ranks than GPUs.
    """
    world = _env_world()
    wants_group = world > 1 or parallel in ("ddp", "fsdp")
    dist = _dist() if (wants_group or _dist_initialized()) else None
    if dist is not None and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank % max(1, torch.cuda.device_count())))
        backend = str(dist.get_backend())
        dev = resolve_device(device, local_rank, world)
    elif world > 1:
        missing = [k for k in _ENV if k not in os.environ]
        if missing:
            raise DistributedError(f"WORLD_SIZE={world} but {', '.join(missing)} not set: launch "
                                   "with torchrun (torchrun --nproc_per_node=N -m solarmodels "
                                   "train CONFIG), which sets them all")
        rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
        dev = resolve_device(device, local_rank, world)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend, device_id=dev if dev.type == "cuda" else None)
        _OWNED["group"] = True
        logger.info("rank %d/%d (local %d) joined the %s group on %s", rank, world, local_rank,
                    backend, dev)
    elif wants_group:
        rank = local_rank = 0
        dev = resolve_device(device, 0, 1)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
        _OWNED["group"] = True
    else:
        return DistributedContext(device=resolve_device(device, 0, 1))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return DistributedContext(rank, world, local_rank, dev, backend)


def _dist_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def shutdown() -> None:
    """Destroy the default process group if :func:`init_distributed` made it (else nothing)."""
    if _OWNED["group"] and _dist_initialized():
        _dist().destroy_process_group()
    _OWNED["group"] = False


def rank_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s global RNGs (dropout, diffusion noise): ``seed`` on rank 0 (so a
    one-process run is unchanged), distinct and reproducible on the others."""
    return int(seed) if rank == 0 else (int(seed) + 104_729 * int(rank)) % 2**63


class _DDP(nn.parallel.DistributedDataParallel):
    """DDP that runs the bare module when no gradient can reach its parameters."""

    def forward(self, *args, **kwargs):
        if not torch.is_grad_enabled() or not any(p.requires_grad for p in self.module.parameters()):
            return self.module(*args, **kwargs)
        return super().forward(*args, **kwargs)


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (FSDP2 modules are their own network)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def wrap_ddp(module: nn.Module, context: DistributedContext, *, find_unused_parameters: bool = False,
             sync_batchnorm: bool = False) -> tuple[nn.Module, nn.Module]:
    """``(network, ddp)``: the network (batch norm converted to ``SyncBatchNorm`` if asked; same
    parameter objects, so optimisers built before stay valid) and its DDP wrapper.

    Raises
    ------
    ConfigError
        ``sync_batchnorm`` on the CPU (PyTorch's SyncBatchNorm needs a GPU).
    """
    if sync_batchnorm:
        if context.device.type != "cuda" and context.world_size > 1:
            raise ConfigError("train.sync_batchnorm needs CUDA (PyTorch's SyncBatchNorm has no CPU "
                              "implementation); set it to false to normalise per rank")
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if not any(p.requires_grad for p in module.parameters()):
        return module, module
    kwargs = {"find_unused_parameters": find_unused_parameters}
    params = inspect.signature(nn.parallel.DistributedDataParallel).parameters
    kwargs["forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"] = False
    if context.device.type == "cuda":
        kwargs["device_ids"] = [context.device.index]
    return module, _DDP(module, **kwargs)


def is_sharded(module: nn.Module) -> bool:
    """True for a network sharded by FSDP2 ``fully_shard``."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)


def shard_fsdp(module: nn.Module, context: DistributedContext) -> nn.Module:
    """FSDP2 ``fully_shard`` each child of every ``nn.ModuleList`` (deepest first), then
    ``module``, over all ranks; in place (the module's class becomes an ``FSDPModule``)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(context.device.type, (context.world_size,))
    depth = {module: 0}
    blocks = []
    for parent in module.modules():          # parents are visited before their children
        for child in parent.children():
            depth[child] = depth[parent] + 1
            if isinstance(parent, nn.ModuleList) and any(True for _ in child.parameters()):
                blocks.append(child)
    for block in sorted(blocks, key=lambda m: -depth[m]):
        fully_shard(block, mesh=mesh)
    fully_shard(module, mesh=mesh)
    return module


def _broadcast_tensors(tensors, context: DistributedContext):
    """Broadcast rank 0's ``tensors`` in place, one flat message per dtype and device."""
    groups: dict = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    dist = _dist()
    for group in groups.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        dist.broadcast(flat, src=0)
        offset = 0
        with torch.no_grad():
            for t in group:
                t.copy_(flat[offset:offset + t.numel()].view_as(t))
                offset += t.numel()


def broadcast_module(module: nn.Module, context: DistributedContext) -> None:
    """Give every rank rank 0's parameters and buffers of ``module`` (before wrapping, and for
    EMA copies, which DDP does not see)."""
    if context.world_size > 1:
        _broadcast_tensors(list(module.parameters()) + list(module.buffers()), context)


def sync_buffers(modules: Iterable[nn.Module], context: DistributedContext) -> None:
    """Broadcast rank 0's buffers (batch-norm running statistics) of ``modules`` after a step."""
    if context.world_size > 1:
        buffers = [b for m in modules for b in m.buffers()]
        if buffers:
            _broadcast_tensors(buffers, context)
