"""Build stand-in submodules (``cupy.fft``, ``cupy.linalg``, ``cupy.random``) from NumPy/SciPy ones."""
from cupy._core import unwrap, wrap

__all__ = ["forward"]


def forward(source, prefix):
    """A module ``__getattr__`` that calls ``source.<name>`` on device buffers and wraps results."""

    def __getattr__(name):
        attr = getattr(source, name)
        if isinstance(attr, type) or not callable(attr):
            return attr

        def call(*args, **kwargs):
            what = f"{prefix}.{name}"
            return wrap(attr(*unwrap(args, what=what), **unwrap(kwargs, what=what)))

        call.__name__ = name
        return call

    return __getattr__
