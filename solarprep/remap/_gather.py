"""What derotation and tracking share: running a gather kernel over every data variable."""
import numpy as np

from solarprep import backend

__all__ = ["remap_variables", "empty_frames"]


def remap_variables(ds, names, kernel_name, params, shape, order, device):
    """Run the kernel ``kernel_name`` on each variable; returns ``({name: out}, valid)``.

    ``params`` is the host float64 parameter array, ``shape`` the output ``(nt, ny, nx)``.
    Arrays stay on ``device``; ``valid`` (the same for every variable) comes from the first.
    """
    from kernels import get as get_kernel

    kernel = get_kernel(kernel_name, device)
    xp = backend.array_module(device)
    p = xp.asarray(params)
    data, valid = {}, None
    for name in names:
        image = xp.ascontiguousarray(xp.asarray(ds[name].data))
        out = xp.empty(shape, dtype=np.float32)
        mask = xp.empty(shape, dtype=np.bool_)
        kernel(p, image, out, mask, order)
        data[name] = out
        valid = mask if valid is None else valid
    return data, valid


def empty_frames(valid):
    """Indices of the frames in which no output pixel has a source (host array)."""
    covered = backend.to_host(valid.any(axis=(1, 2)))  # one read of nt flags
    return np.flatnonzero(~covered)
