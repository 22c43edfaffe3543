"""``cupy.fft`` on SciPy's FFT (which, like cuFFT through CuPy, keeps float32 → complex64)."""
import scipy.fft as _scipy_fft

from cupy._submodule import forward

__getattr__ = forward(_scipy_fft, "cupy.fft")


class _PlanCache:
    size = 16
    memsize = -1

    def set_size(self, size):
        self.size = size

    def set_memsize(self, memsize):
        self.memsize = memsize

    def get_size(self):
        return self.size

    def clear(self):
        pass


class config:  # noqa: N801 - CuPy's name (cupy.fft.config)
    """``cupy.fft.config.get_plan_cache()``."""

    _cache = _PlanCache()

    @staticmethod
    def get_plan_cache():
        return config._cache
