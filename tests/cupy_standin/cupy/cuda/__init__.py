"""``cupy.cuda``: one pretend device, streams and events that do nothing, memory pools that count."""
import time

from cupy._core import _device
from cupy.cuda import memory, runtime  # noqa: F401
from cupy.cuda.memory import (  # noqa: F401
    MemoryPool,
    PinnedMemoryPool,
    alloc_pinned_memory,
    get_default_memory_pool,
    get_default_pinned_memory_pool,
)


def is_available():
    return True


def Device(device=None):  # noqa: N802 - CuPy's name
    return _device()


class Stream:
    """A stream that runs everything at once (NumPy is synchronous)."""

    null = None
    ptr = 0

    def __init__(self, null=False, non_blocking=False, ptr=0):
        self.ptr = 0

    def synchronize(self):
        pass

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


Stream.null = Stream()


def get_current_stream(device_id=-1):
    return Stream.null


class Event:
    """Host-clock events (``get_elapsed_time`` in ms)."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.t = None

    def record(self, stream=None):
        self.t = time.perf_counter()

    def synchronize(self):
        pass


def get_elapsed_time(start_event, end_event):
    return (end_event.t - start_event.t) * 1e3
