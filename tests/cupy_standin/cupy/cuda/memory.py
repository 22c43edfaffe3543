"""Memory pools that report nothing in use (the stand-in allocates with NumPy)."""
import numpy as np


class MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        pass

    def get_limit(self):
        return 0


class PinnedMemoryPool(MemoryPool):
    def n_free_blocks(self):
        return 0


_POOL = MemoryPool()
_PINNED = PinnedMemoryPool()


def get_default_memory_pool():
    return _POOL


def get_default_pinned_memory_pool():
    return _PINNED


def alloc_pinned_memory(size):
    """Page-locked host memory: here a plain host buffer (``numpy.frombuffer`` works on it)."""
    return memoryview(np.empty(int(size), np.uint8))
