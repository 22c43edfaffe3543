"""Thirty-second smoke test of a GPU machine: CuPy, numba.cuda on CuPy memory, DLPack to torch.

Run by ``bench/device/gpu_check.sh``; prints one line per check and exits non-zero
on the first failure.
"""
import time

import numpy as np


def check(name, fn):
    t0 = time.perf_counter()
    detail = fn()
    print(f"ok   {name:38s} {time.perf_counter() - t0:6.2f} s  {detail or ''}", flush=True)


def cupy_kernel_and_fft():
    import cupy

    square = cupy.ElementwiseKernel("float32 x", "float32 y", "y = x * x", "square")
    x = cupy.arange(1 << 20, dtype=cupy.float32) / (1 << 20)
    assert float(cupy.abs(square(x) - x * x).max()) == 0.0
    a = cupy.random.default_rng(0).standard_normal((64, 640), dtype=cupy.float32)
    spec = cupy.fft.rfft(a, axis=-1)
    ref = np.fft.rfft(cupy.asnumpy(a).astype(np.float64), axis=-1)
    err = float(np.abs(cupy.asnumpy(spec) - ref).max() / np.abs(ref).max())
    assert spec.dtype == cupy.complex64 and err < 1e-5, err
    props = cupy.cuda.runtime.getDeviceProperties(0)
    return f"{props['name'].decode()} cupy {cupy.__version__} rfft rel err {err:.1e}"


def numba_kernel_on_cupy():
    import cupy
    from numba import config, cuda

    assert not config.ENABLE_CUDASIM, "the CUDA simulator is on"

    @cuda.jit
    def axpy(a, x, y, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = a * x[i] + y[i]

    x = cupy.arange(1000, dtype=cupy.float32)
    y = cupy.ones(1000, dtype=cupy.float32)
    out = cupy.empty_like(x)
    axpy[4, 256](2.0, x, y, out)
    assert cupy.allclose(out, 2 * x + 1).item()
    return f"numba {getattr(cuda, 'implementation', '?')} cuda"


def project_kernel_on_cupy():
    import cupy

    import kernels.cpu
    import kernels.cuda
    from solarprep.coordinates.geometry import FrameGeometry

    g = FrameGeometry(crpix1=32.5, crpix2=32.5, crval1=0.0, crval2=0.0, cdelt1=32.0, cdelt2=32.0,
                      crota2=0.0, dsun_obs=1.496e11, hgln_obs=0.0, hglt_obs=7.0)
    p = g.kernel_params()[None]
    shape = (1, 64, 64)
    cpu = [np.empty(shape, np.float32) for _ in range(3)] + [np.empty(shape, bool)]
    kernels.cpu.disk_coordinates(p, *cpu)
    gpu = [cupy.empty(shape, cupy.float32) for _ in range(3)] + [cupy.empty(shape, bool)]
    kernels.cuda.disk_coordinates(cupy.asarray(p), *gpu)
    err = float(np.nanmax(np.abs(cupy.asnumpy(gpu[0]) - cpu[0])))
    assert err < 1e-5, err
    return f"disk_coordinates 64² max |Δμ| {err:.1e}"


def cupy_to_torch():
    import cupy
    import torch

    a = cupy.arange(12, dtype=cupy.float32).reshape(3, 4)
    t = torch.from_dlpack(a)
    assert t.is_cuda and t.data_ptr() == a.data.ptr
    t.mul_(2)
    assert float(a[2, 3]) == 22.0
    return f"torch {torch.__version__} shares memory"


if __name__ == "__main__":
    check("CuPy ElementwiseKernel and rfft", cupy_kernel_and_fft)
    check("numba.cuda kernel on CuPy arrays", numba_kernel_on_cupy)
    check("kernels.cuda.disk_coordinates", project_kernel_on_cupy)
    check("CuPy -> torch (DLPack, no copy)", cupy_to_torch)
