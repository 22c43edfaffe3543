"""Diffusion models: training images/s and sampling time per image (DDPM 1000 vs DDIM 50; RF 10).

Rows, side by side per size:

* ``ddpm train step`` — one optimiser step of the ``ddpm`` system (ε-MSE, CFG dropout 0.1, AdamW)
  on a resident batch: ``ddpm_unet_tiny`` at 32² (batch 16) and the seed preset
  ``ddpm_unet_seed64`` at 64² (batch 4 on the CPU, 64 on the GPU); images/s.
* ``ddpm sample`` — guided (w = 3, cond+uncond batched) sampling of 4 images with the tiny U-Net
  at 32²: DDPM 1000 steps (baseline) vs DDIM 50 steps; seconds per image.
* ``video train step`` / ``rflow sample`` — ``stdit_tiny`` on 16-frame 32² windows: training
  videos/s (batch 2) and rectified-flow Euler sampling with 10 steps (guidance 4), seconds per video.
* GPU rows (``skipif`` no CUDA): the same operations in bf16 autocast with ``torch.compile``
  (``stdit_small`` at 16 × 64² for the video), CUDA-event timing; ``compile_s`` reported. The
  DDPM training step compares fp32 eager with bf16 + channels_last + compile and reports MFU:
  FLOPs of one training image (``FlopCounterMode``, batch 1, fp32) × images/s over the measured
  bf16 GEMM peak of the same GPU (``gpu_peak``, bench/conftest.py).

Before timing, correctness is checked against a reference: DDIM with η = 1 over all T steps must
equal DDPM with the posterior variance (same noise draws; Song et al. 2021), and the bf16 rows'
loss must match fp32 within 5 %.

``SOLARMODELS_BENCH_DIFFUSION_FAST=1`` shortens the DDPM-1000 row to 100 steps (for a smoke run);
``SOLARMODELS_BENCH_THREADS=N`` sets torch's CPU threads (tiny models on a busy 2-core machine run
far faster with 1).
"""
import os
import time

import numpy as np
import pytest
import torch
from benchutil import count_flops, torch_event_times, training_step

FAST = os.environ.get("SOLARMODELS_BENCH_DIFFUSION_FAST", "") not in ("", "0")
THREADS = int(os.environ.get("SOLARMODELS_BENCH_THREADS", "0"))
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True, scope="module")
def _threads():
    """``SOLARMODELS_BENCH_THREADS=N`` sets torch's intra-op threads for the CPU rows (0: default)."""
    old = torch.get_num_threads()
    if THREADS > 0:
        torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(old)


def _system(kind, model, device, *, compile=False, channels_last=False, **model_kw):
    from solarmodels import registry

    torch.manual_seed(0)
    net = registry.create_model(model, **model_kw)
    system = registry.create_system(kind, {}, {"model": net})
    system.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    if compile:
        net.compile()
    return system


def _image_batch(n, batch, device, channels_last=False):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(batch, 1, n, n, generator=g) * 2 - 1).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return {"input": x, "label": torch.randint(0, 5, (batch,), generator=g).to(device)}


def _video_batch(n, frames, batch, device):
    g = torch.Generator().manual_seed(2)
    return {"input": (torch.rand(batch, 1, frames, n, n, generator=g) * 2 - 1).to(device),
            "cond": torch.randn(batch, frames, generator=g).to(device)}


_step = training_step


def _median(benchmark):
    return float(np.median(benchmark.stats.stats.data)) if benchmark.stats else None


@pytest.fixture(scope="module")
def ddim_equals_ddpm():
    """Reference check: DDIM(η = 1, all steps) ≡ DDPM(posterior variance) with the same noise."""
    from solarmodels.diffusion import DDPMScheduler

    net = _system("ddpm", "ddpm_unet_tiny", "cpu").networks["model"].eval()
    s = DDPMScheduler(100, 1e-3, 0.2, variance="posterior", clip_sample=None)
    labels = torch.tensor([0, 4])
    a = s.sample(net, (2, 1, 16, 16), labels, method="ddpm",
                 generator=torch.Generator().manual_seed(3))
    b = s.sample(net, (2, 1, 16, 16), labels, method="ddim", num_inference_steps=100, eta=1.0,
                 generator=torch.Generator().manual_seed(3))
    err = float((a - b).abs().max() / a.abs().max())
    assert err < 1e-4, err
    return err


# --------------------------------------------------------------------------- CPU


@pytest.mark.parametrize("model,n,batch", [("ddpm_unet_tiny", 32, 16), ("ddpm_unet_seed64", 64, 4)],
                         ids=["tiny-32", "seed64-64"])
def test_cpu_ddpm_train(benchmark, report, model, n, batch):
    system = _system("ddpm", model, "cpu")
    step = _step(system, _image_batch(n, batch, "cpu"))
    assert np.isfinite(step()["loss"])
    benchmark.group = f"ddpm train step {n}²"
    benchmark.pedantic(step, rounds=3 if n <= 32 else 2, iterations=1, warmup_rounds=1)
    med = _median(benchmark)
    report(benchmark, op="ddpm train step", size=f"{n}² {model}", backend=f"cpu fp32 (batch {batch})",
           bytes_min=None, baseline=True, batch=batch, images_per_s=batch / med if med else None,
           threads=torch.get_num_threads())


@pytest.mark.parametrize("method,steps", [("ddpm", 1000), ("ddim", 50)])
def test_cpu_ddpm_sample(benchmark, report, ddim_equals_ddpm, method, steps):
    system = _system("ddpm", "ddpm_unet_tiny", "cpu")
    if method == "ddpm" and FAST:
        from solarmodels.diffusion import DDPMScheduler

        system.scheduler = DDPMScheduler(100)
        steps = 100
    labels = torch.tensor([0, 1, 3, 4])

    def run():
        return system.sample(labels, (4, 1, 32, 32), method=method, steps=steps,
                             generator=torch.Generator().manual_seed(0))

    out = run()
    assert out.shape == (4, 1, 32, 32) and bool(torch.isfinite(out).all())
    benchmark.group = "ddpm sample 32² (tiny U-Net, w=3)"
    benchmark.pedantic(run, rounds=1 if method == "ddpm" else 3, iterations=1, warmup_rounds=0)
    med = _median(benchmark)
    report(benchmark, op="ddpm sample", size="32²", backend=f"cpu {method} {steps} steps",
           bytes_min=None, baseline=method == "ddpm", max_error=ddim_equals_ddpm,
           seconds_per_image=med / 4 if med else None, steps=steps)


def test_cpu_video_train(benchmark, report):
    system = _system("video_rflow", "stdit_tiny", "cpu")
    step = _step(system, _video_batch(32, 16, 2, "cpu"))
    assert np.isfinite(step()["loss"])
    benchmark.group = "video train step 16×32²"
    benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    med = _median(benchmark)
    report(benchmark, op="video train step", size="16×32²", backend="cpu fp32 stdit_tiny (batch 2)",
           bytes_min=None, baseline=True, videos_per_s=2 / med if med else None)


def test_cpu_rflow_sample(benchmark, report):
    system = _system("video_rflow", "stdit_tiny", "cpu")
    cond = {"values": torch.randn(2, 16, generator=torch.Generator().manual_seed(4))}

    def run():
        return system.sample(cond, (2, 1, 16, 32, 32), steps=10,
                             generator=torch.Generator().manual_seed(0))

    assert bool(torch.isfinite(run()).all())
    benchmark.group = "rflow sample 16×32²"
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    med = _median(benchmark)
    report(benchmark, op="rflow sample", size="16×32²", backend="cpu rflow 10 steps (w=4)",
           bytes_min=None, baseline=True, seconds_per_video=med / 2 if med else None)


# --------------------------------------------------------------------------- GPU


def _cuda_times(fn, rounds=10, warmup=3):
    return torch_event_times(fn, rounds=rounds, warmup=warmup)


@needs_cuda
@pytest.mark.parametrize("mode", ["fp32 eager", "bf16 + channels_last + compile"])
def test_cuda_ddpm_train(benchmark, report, gpu_peak, mode):
    fast = mode != "fp32 eager"
    batch = _image_batch(64, 64, "cuda", channels_last=fast)
    torch.manual_seed(5)
    ref = float(_step(_system("ddpm", "ddpm_unet_seed64", "cuda"), batch)()["loss"])
    _, flops = count_flops(_step(_system("ddpm", "ddpm_unet_seed64", "cuda"),
                                 _image_batch(64, 1, "cuda")))
    system = _system("ddpm", "ddpm_unet_seed64", "cuda", compile=fast, channels_last=fast)
    torch.manual_seed(5)
    t0 = time.perf_counter()
    loss = float(_step(system, batch, "bf16" if fast else "fp32")()["loss"])
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    err = abs(loss - ref) / ref
    assert err < 0.05, err
    step = _step(system, batch, "bf16" if fast else "fp32")
    times = _cuda_times(step)
    benchmark.group = "ddpm train step 64² (GPU)"
    benchmark.pedantic(lambda: (step(), torch.cuda.synchronize()), rounds=3, iterations=1)
    ips = 64 / float(np.median(times))
    report(benchmark, op="ddpm train step", size="64² ddpm_unet_seed64", backend=f"cuda {mode}",
           bytes_min=None, max_error=err, times=times, timer="CUDA events", device="gpu",
           baseline=not fast, images_per_s=ips, flops_per_image=flops,
           achieved_tflops=flops * ips / 1e12, peak_tflops=gpu_peak / 1e12,
           mfu_pct=100 * flops * ips / gpu_peak, compile_s=first if fast else None,
           gpu=torch.cuda.get_device_name(0))


@needs_cuda
@pytest.mark.parametrize("method,steps", [("ddpm", 1000), ("ddim", 50)])
def test_cuda_ddpm_sample(benchmark, report, method, steps):
    system = _system("ddpm", "ddpm_unet_seed64", "cuda")
    labels = torch.arange(64, device="cuda") % 5

    def run():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return system.sample(labels, (64, 1, 64, 64), method=method, steps=steps,
                                 generator=torch.Generator("cuda").manual_seed(0))

    times = _cuda_times(run, rounds=1 if method == "ddpm" else 3, warmup=1)
    benchmark.group = "ddpm sample 64² (GPU)"
    benchmark.pedantic(run, rounds=1, iterations=1)
    report(benchmark, op="ddpm sample", size="64²", backend=f"cuda bf16 {method} {steps}",
           bytes_min=None, baseline=method == "ddpm", times=times, timer="CUDA events",
           device="gpu", seconds_per_image=float(np.median(times)) / 64)


@needs_cuda
def test_cuda_rflow(benchmark, report):
    system = _system("video_rflow", "stdit_small", "cuda", compile=True)
    batch = _video_batch(64, 16, 8, "cuda")
    step = _step(system, batch, "bf16")
    t0 = time.perf_counter()
    step()
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    times = _cuda_times(step)
    cond = {"values": batch["cond"]}

    def sample():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return system.sample(cond, (8, 1, 16, 64, 64), steps=10)

    stimes = _cuda_times(sample, rounds=3, warmup=1)
    benchmark.group = "video 16×64² (GPU)"
    benchmark.pedantic(lambda: (step(), torch.cuda.synchronize()), rounds=3, iterations=1)
    report(benchmark, op="video train step", size="16×64² stdit_small", backend="cuda bf16 + compile",
           bytes_min=None, times=times, timer="CUDA events", device="gpu",
           videos_per_s=8 / float(np.median(times)), compile_s=first,
           rflow_10_steps_s_per_video=float(np.median(stimes)) / 8)
