"""The one launch helper shared by every CUDA kernel.

Image kernels run one thread per output pixel in blocks of :data:`THREADS_2D` =
``(32, 8)``: 32 threads along ``x`` (columns, the contiguous axis) are the fast
thread index, so a warp reads and writes 32 consecutive pixels of a row
(coalesced). Kernels take ``j, i = cuda.grid(2)`` (column, row) and the frame
``t = t0 + cuda.blockIdx.z``. Frames go to ``gridDim.z`` (reductions: to
``gridDim.y``), which CUDA limits to 65535: longer stacks are launched in chunks
of :data:`MAX_GRID_FRAMES` frames, each launch told its first frame ``t0``.
"""
import math

__all__ = ["cuda_available", "THREADS_2D", "MAX_GRID_FRAMES", "frame_chunks", "launch_stack"]

#: Threads per block of the image kernels: (x: columns, fastest; y: rows).
THREADS_2D = (32, 8)
#: Largest number of frames in one launch (CUDA's limit on gridDim.y and gridDim.z).
MAX_GRID_FRAMES = 65535


def cuda_available() -> bool:
    """True when numba.cuda can launch kernels (a real GPU, or the simulator)."""
    try:
        from numba import cuda
    except ImportError:  # pragma: no cover - numba is a hard dependency
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # a driver that is present but broken
        return False


def frame_chunks(nt):
    """``[(t0, n), ...]``: the first frame and frame count of each launch over ``nt`` frames."""
    step = int(MAX_GRID_FRAMES)
    return [(t0, min(step, nt - t0)) for t0 in range(0, int(nt), step)]


def launch_stack(kernel, shape, *args, threads=THREADS_2D):
    """Launch ``kernel(*args, t0)`` over a stack of images of ``shape = (nt, ny, nx)``.

    Blocks cover the columns (``x``, fastest), rows and frames (``z``), in as many
    launches as :func:`frame_chunks` needs.
    """
    nt, ny, nx = shape
    bx, by = math.ceil(nx / threads[0]), math.ceil(ny / threads[1])
    for t0, n in frame_chunks(nt):
        kernel[(bx, by, n), (threads[0], threads[1], 1)](*args, t0)
