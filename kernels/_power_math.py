"""Per-sample arithmetic of the acoustic power maps, written once for the CPU and the GPU.

Two kernels share these functions (see :mod:`kernels.cpu.power` and
:mod:`kernels.cuda.power`):

``prepare_series``
    turns a Dopplergram window ``V[t, p]`` (``N`` frames, ``P`` pixels, float32)
    into the FFT input ``x[t, p]`` (``M`` samples): the time difference
    ``x_t = V[t+1] − V[t]`` when ``M = N − 1`` (or ``x_t = V[t]`` when ``M = N``),
    minus its least-squares constant or straight line when asked, times a taper
    ``w_t``::

        x'_t = (x_t − a − b·(t − t̄))·w_t,   t̄ = (M − 1)/2,
        a = mean(x),  b = Σ(t − t̄)x_t / Σ(t − t̄)²  (b = 0 for a constant detrend).

``band_power``
    sums weighted squared moduli of the spectrum ``X[k, p]`` (complex64) over the
    bins of each band, ``S_b[p] = Σ_{k=start_b}^{stop_b−1} c_{b,k−start_b}·|X[k, p]|²``,
    without ever storing ``|X|²``. The weights ``c`` carry the convention (SOLARED's
    ``dt²/T`` with trapezoid end weights ½, or the physical ``2Δt/(M⟨w²⟩)·Δf``, with
    or without the differencing compensation ``1/|2 sin(πfΔt)|²``); solarprep.helioseismology.power
    builds them.
"""
__all__ = ["DETREND_NONE", "DETREND_CONSTANT", "DETREND_LINEAR", "sample", "power_term",
           "detrended"]

DETREND_NONE = 0
DETREND_CONSTANT = 1
DETREND_LINEAR = 2


def sample(v, t, p, difference):
    """Sample ``t`` of pixel ``p``: ``V[t+1, p] − V[t, p]`` if ``difference`` else ``V[t, p]``."""
    if difference:
        return float(v[t + 1, p]) - float(v[t, p])
    return float(v[t, p])


def detrended(x, t, mean, slope, centre, taper):
    """``(x − mean − slope·(t − centre))·taper``."""
    return (x - mean - slope * (t - centre)) * taper


def power_term(z, weight):
    """``weight·|z|²`` for a complex spectrum value ``z``."""
    return weight * (z.real * z.real + z.imag * z.imag)
