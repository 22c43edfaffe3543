"""The one launch helper shared by every CUDA kernel."""
import math

__all__ = ["cuda_available", "grid_3d", "THREADS_2D"]

#: Threads per block for image kernels: 32 along x keeps warps coalesced.
THREADS_2D = (8, 32)


def cuda_available():
    """True when numba.cuda can launch kernels (a real GPU, or the simulator)."""
    try:
        from numba import cuda
    except ImportError:  # pragma: no cover - numba is a hard dependency
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # a driver that is present but broken
        return False


def grid_3d(shape, threads=THREADS_2D):
    """Blocks and threads covering a stack of images of ``shape = (nt, ny, nx)``.

    Returns ``(blocks, threads)`` for ``kernel[blocks, threads](...)``: the kernel
    takes rows from ``cuda.grid(2)[0]``, columns from ``cuda.grid(2)[1]`` and the
    frame from ``cuda.blockIdx.z``.
    """
    nt, ny, nx = shape
    blocks = (math.ceil(ny / threads[0]), math.ceil(nx / threads[1]), nt)
    return blocks, threads + (1,)
