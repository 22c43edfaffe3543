"""Training throughput of Pix2Pix Model B (U-Net + 70×70 PatchGAN): images per second and MFU.

One row = one optimiser step of the ``pix2pix_b`` system (D step, then G step; BCE + 100·L1,
Adam) on a device-resident batch, 1 → 1 channels (HMI → AIA), ngf = ndf = 64, batch norm, U-Net
depth log2(N). Data loading and the trainer's bookkeeping are not included.

Side by side, per size N² (256², 512², 1024²):

* ``cpu fp32 eager`` (the baseline of its size; few rounds: a 1024² step takes minutes on 2 cores),
* ``cuda fp32 eager`` (TF32 matmuls/convolutions allowed, the PyTorch default for cuDNN convs),
* ``cuda bf16 + channels_last + compile`` (``torch.compile`` of every network; compile time
  reported separately as ``compile_s``).

FLOPs per training image are counted once per size with ``torch.utils.flop_counter.FlopCounterMode``
over a real training step at batch 1 (256²: 85.6 GFLOP) (forward and backward convolutions /
matmuls of G and D, batch 1), so
``MFU = FLOPs/image · images/s / peak``; the peak is a bf16 GEMM (8192³) measured at the start of
the GPU rows on the same device (reported as ``peak_tflops``), the same reference for both
precisions. Before timing, each GPU row checks its generator output after one step from the same
initial weights against the fp32 eager CPU-free reference (``max_error``: max |Δ| / max |ref|).

One more GPU row, ``pix2pix_b DDP on one GPU`` (256²): the whole trainer (``Trainer.fit``,
5 steps, batch 8, ``deterministic=True``) once plain and once with ``train.parallel="ddp"`` in a
one-rank NCCL group; the weights must be equal (``max_error``: max |Δ| over all tensors, 0 when
bit-identical) and the row reports both seconds per step (the DDP overhead on one GPU).

Sizes: ``SOLARMODELS_BENCH_SIZES=256,512`` restricts the run (default ``256,512,1024``).
"""
import os

import numpy as np
import pytest
import torch
from benchutil import count_flops, torch_cuda_step_times, training_step

SIZES = [int(s) for s in os.environ.get("SOLARMODELS_BENCH_SIZES", "256,512,1024").split(",")]
GPU_BATCH = {256: 32, 512: 8, 1024: 2}
CPU_ROUNDS = {256: 3, 512: 2, 1024: 1}
GPU_ROUNDS, GPU_WARMUP = 20, 5
OP = "pix2pix_b train step"

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def size_id(n):
    return f"{n}x{n}"


def make_system(n, device, *, channels_last=False, compile=False, seed=0):
    from solarmodels import create_model, create_system

    torch.manual_seed(seed)
    g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=n, ngf=64)
    system = create_system("pix2pix_b", {"discriminator_config": {"ndf": 64}}, {"g": g})
    system.to(device)
    if channels_last:
        for net in system.networks.values():
            net.to(memory_format=torch.channels_last)
    if compile:
        for net in system.networks.values():
            net.compile()
    return system


def make_batch(n, batch, device, channels_last=False, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, n, n, generator=g)
    y = torch.tanh(x)
    batch = {"input": x.to(device), "target": y.to(device)}
    if channels_last:
        batch = {k: v.contiguous(memory_format=torch.channels_last) for k, v in batch.items()}
    return batch


step_fn = training_step

_FLOPS = {}


counted_step = count_flops


def flops_per_image(n):
    """FLOPs of one training step on one image (batch 1, fp32, cached per size; counted on the
    GPU when there is one, else on the CPU)."""
    if n not in _FLOPS:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        system = make_system(n, device)
        _, _FLOPS[n] = counted_step(step_fn(system, make_batch(n, 1, device), "fp32"))
        del system
    return _FLOPS[n]


def _generator_after_one_step(system, batch, precision):
    step_fn(system, batch, precision)()
    with torch.no_grad():
        return system.networks["g"].eval()(batch["input"][:1]).float().cpu()


def _check_against_fp32(n, device, system_kwargs, precision):
    """Max relative deviation of G's output after one step vs the fp32 eager step (same init)."""
    ref_sys = make_system(n, device)
    ref = _generator_after_one_step(ref_sys, make_batch(n, 2, device), "fp32")
    del ref_sys
    sys_ = make_system(n, device, **system_kwargs)
    out = _generator_after_one_step(sys_, make_batch(n, 2, device, system_kwargs.get(
        "channels_last", False)), precision)
    err = float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
    assert np.isfinite(err) and err < 0.1, f"{precision} step deviates from fp32 by {err:.3g}"
    return {"g_out_rel_max": err, "checked_on": f"{n}², batch 2"}


@pytest.mark.parametrize("n", SIZES, ids=size_id)
def test_cpu_fp32_eager(benchmark, report, n):
    from solarmodels.networks.unet import unet_levels

    system = make_system(n, "cpu")
    assert system.networks["g"].levels == unet_levels(n)
    batch = make_batch(n, 1, "cpu")
    step = step_fn(system, batch, "fp32")
    logs, flops = counted_step(step)            # the untimed check step also counts the FLOPs
    _FLOPS.setdefault(n, flops)
    assert all(np.isfinite(v) for v in logs.values()), logs
    benchmark.group = f"{OP} {n}²"
    benchmark.pedantic(step, rounds=CPU_ROUNDS.get(n, 1), iterations=1, warmup_rounds=0)
    median = float(np.median(benchmark.stats.stats.data)) if benchmark.stats else None
    report(benchmark, op=OP, size=f"{n}²", backend="cpu fp32 eager (batch 1)", bytes_min=None,
           baseline=True, batch=1, images_per_s=1 / median if median else None,
           flops_per_image=flops,
           achieved_tflops=flops / median / 1e12 if median else None,
           threads=torch.get_num_threads())


@needs_cuda
@pytest.mark.parametrize("mode", ["fp32 eager", "bf16 + channels_last + compile"])
@pytest.mark.parametrize("n", SIZES, ids=size_id)
def test_cuda(benchmark, report, gpu_peak, n, mode):
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    fast = mode != "fp32 eager"
    kwargs = {"channels_last": True, "compile": True} if fast else {}
    precision = "bf16" if fast else "fp32"
    err = _check_against_fp32(n, "cuda", kwargs, precision) if fast else None
    batch_size = GPU_BATCH.get(n, 1)
    system = make_system(n, "cuda", **kwargs)
    batch = make_batch(n, batch_size, "cuda", fast)
    step = step_fn(system, batch, precision)
    first_s, times, one = torch_cuda_step_times(step, warmup=GPU_WARMUP, rounds=GPU_ROUNDS)
    benchmark.group = f"{OP} {n}²"
    benchmark.pedantic(one, rounds=3, iterations=1, warmup_rounds=0)
    median = float(np.median(times))
    flops = flops_per_image(n)
    ips = batch_size / median
    report(benchmark, op=OP, size=f"{n}²", backend=f"cuda {mode} (batch {batch_size})",
           bytes_min=None, max_error=err, times=times, timer="CUDA events around one step",
           device="gpu", batch=batch_size, images_per_s=ips, flops_per_image=flops,
           achieved_tflops=flops * ips / 1e12, peak_tflops=gpu_peak / 1e12,
           mfu_pct=100 * flops * ips / gpu_peak,
           compile_s=first_s if fast else None, first_step_s=first_s,
           gpu=torch.cuda.get_device_name(0))
    del system, batch
    torch.cuda.empty_cache()


def ddp_versus_plain(n, device, tmp_path, *, steps=5, batch=8):
    """Train ``pix2pix_b`` at ``n²`` with the trainer, plain and under one-rank DDP; returns
    ``(max |Δ| of the weights, plain s/step, DDP s/step)`` (deterministic algorithms on)."""
    from solarmodels import Trainer, distributed
    from solarmodels.datasets.pairs import SyntheticPairs

    data = SyntheticPairs(2 * batch, n)
    cfg = dict(steps=steps, batch_size=batch, device=str(device), deterministic=True,
               progress=False, tensorboard=False, log_every=0, eval_every=0, checkpoint_every=0)
    runs = {}
    try:
        for parallel in ("none", "ddp"):
            system = make_system(n, "cpu")
            out = Trainer(system, data, None, {**cfg, "parallel": parallel},
                          tmp_path / parallel).fit()
            runs[parallel] = (system.state_dict(), out["seconds"] / steps)
    finally:
        distributed.shutdown()
        torch.use_deterministic_algorithms(False)
    (a, plain_s), (b, ddp_s) = runs["none"], runs["ddp"]
    err = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    return err, plain_s, ddp_s


@needs_cuda
def test_cuda_ddp_one_gpu_equals_plain(benchmark, report, tmp_path):
    err, plain_s, ddp_s = ddp_versus_plain(256, "cuda", tmp_path)
    assert err < 1e-5, f"DDP on one GPU differs from the plain run by {err:.3g}"
    benchmark.group = "pix2pix_b DDP on one GPU 256²"
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    report(benchmark, op="pix2pix_b DDP on one GPU", size="256²", backend="cuda fp32 trainer",
           bytes_min=None, max_error=err, times=[ddp_s], timer="Trainer.fit seconds / step",
           device="gpu", batch=8, plain_step_s=plain_s, ddp_step_s=ddp_s,
           ddp_overhead_pct=100 * (ddp_s / plain_s - 1), bit_identical=err == 0.0,
           gpu=torch.cuda.get_device_name(0))
