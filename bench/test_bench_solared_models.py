"""Training throughput of the SOLARED models (seed 5): samples per second and MFU.

One row = one optimiser step of the ``solared`` system (summed MSE / batch, Adam) on a
device-resident batch of seed-sized samples ``(B, 120, 5, 63)``, the seed configuration of each
network: ``solared_attention`` (SpatioTemporalAttention, 200,385 parameters) and
``solared_resnet3d`` (R3D-18, 33,217,407 parameters). Data loading is not included.

Side by side, per model:

* ``cpu fp32 eager`` (baseline; batch ``SOLARED_BENCH_CPU_BATCH``, default 4, few rounds),
* ``cuda fp32 eager`` (TF32 allowed) at the seed's batch 32,
* ``cuda bf16 + compile`` (``torch.compile``; compile time reported as ``compile_s``).

FLOPs per training sample are counted once per model with ``FlopCounterMode`` over a real
training step on the CPU at batch 1. Before timing, the bf16 row checks the network output after
one step from the same initial weights against the fp32 eager step (``max_error``, relative).

``SOLARED_BENCH_MODELS=solared_attention`` restricts the models.
"""
import os

import numpy as np
import pytest
import torch
from benchutil import count_flops, torch_cuda_step_times, training_step

MODELS = os.environ.get("SOLARED_BENCH_MODELS", "solared_attention,solared_resnet3d").split(",")
CPU_BATCH = int(os.environ.get("SOLARED_BENCH_CPU_BATCH", "4"))
GPU_BATCH = 32
CPU_ROUNDS = 2
GPU_ROUNDS, GPU_WARMUP = 20, 5
OP = "solared train step"

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def make_system(name, device, *, compile=False, seed=0):
    from solarmodels.registry import create_model, create_system

    torch.manual_seed(seed)
    net = create_model(name, dropout=0.0) if "attention" in name else create_model(name)
    system = create_system("solared", {"lr": 1e-3}, net)
    system.to(device)
    if compile:
        for module in system.networks.values():
            module.compile()
    return system


def make_batch(batch, device, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 120, 5, 63, generator=g)
    y = -x[:, -12:, 4].mean(1)
    return {"input": x.to(device), "target": y.to(device)}


step_fn = training_step

_FLOPS = {}


def flops_per_sample(name):
    """FLOPs of one training step on one sample (counted on the CPU at batch 1, cached)."""
    if name not in _FLOPS:
        step = step_fn(make_system(name, "cpu"), make_batch(1, "cpu"), "fp32")
        _, _FLOPS[name] = count_flops(step)
    return _FLOPS[name]


def _output_after_one_step(system, batch, precision):
    step_fn(system, batch, precision)()
    with torch.no_grad():
        return system.networks["model"].eval()(batch["input"][:4]).float().cpu()


@pytest.mark.parametrize("name", MODELS)
def test_cpu_fp32_eager(benchmark, report, name):
    system = make_system(name, "cpu")
    step = step_fn(system, make_batch(CPU_BATCH, "cpu"), "fp32")
    logs = step()
    assert np.isfinite(logs["loss"]), logs
    benchmark.group = f"{OP} {name}"
    benchmark.pedantic(step, rounds=CPU_ROUNDS, iterations=1, warmup_rounds=0)
    median = float(np.median(benchmark.stats.stats.data)) if benchmark.stats else None
    flops = flops_per_sample(name)
    report(benchmark, op=OP, size=f"{name} (B,120,5,63)", backend=f"cpu fp32 eager "
           f"(batch {CPU_BATCH})", bytes_min=None, baseline=True, batch=CPU_BATCH,
           samples_per_s=CPU_BATCH / median if median else None, flops_per_sample=flops,
           achieved_tflops=flops * CPU_BATCH / median / 1e12 if median else None,
           threads=torch.get_num_threads())


@needs_cuda
@pytest.mark.parametrize("mode", ["fp32 eager", "bf16 + compile"])
@pytest.mark.parametrize("name", MODELS)
def test_cuda(benchmark, report, gpu_peak, name, mode):
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    fast = mode != "fp32 eager"
    precision = "bf16" if fast else "fp32"
    err = None
    if fast:
        ref = _output_after_one_step(make_system(name, "cuda"), make_batch(8, "cuda"), "fp32")
        out = _output_after_one_step(make_system(name, "cuda", compile=True),
                                     make_batch(8, "cuda"), "bf16")
        err = float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
        assert np.isfinite(err) and err < 0.1, f"bf16 step deviates from fp32 by {err:.3g}"
    system = make_system(name, "cuda", compile=fast)
    step = step_fn(system, make_batch(GPU_BATCH, "cuda"), precision)
    first_s, times, one = torch_cuda_step_times(step, warmup=GPU_WARMUP, rounds=GPU_ROUNDS)
    benchmark.group = f"{OP} {name}"
    benchmark.pedantic(one, rounds=3, iterations=1, warmup_rounds=0)
    median = float(np.median(times))
    flops = flops_per_sample(name)
    sps = GPU_BATCH / median
    report(benchmark, op=OP, size=f"{name} (B,120,5,63)", backend=f"cuda {mode} "
           f"(batch {GPU_BATCH})", bytes_min=None, max_error=err, times=times,
           timer="CUDA events around one step", device="gpu", batch=GPU_BATCH,
           samples_per_s=sps, flops_per_sample=flops, achieved_tflops=flops * sps / 1e12,
           peak_tflops=gpu_peak / 1e12, mfu_pct=100 * flops * sps / gpu_peak,
           compile_s=first_s if fast else None, first_step_s=first_s,
           gpu=torch.cuda.get_device_name(0))
    del system
    torch.cuda.empty_cache()
