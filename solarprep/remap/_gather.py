"""What derotation and tracking share: running a gather kernel over every data variable."""
import numpy as np

from solarprep import backend
from solarprep.parallel.blocks import frame_rows, is_chunked, map_frames

__all__ = ["remap_variables", "empty_frames"]


def remap_frames(params, image, *frames, kernel_name, shape, order, device, check=None):
    """Gather ``image`` (``(nt, ny, nx)``) through the kernel; returns ``(out, valid)``.

    ``params`` holds one row per frame, ``shape`` is the output ``(ny, nx)``. ``check``, if
    given, is called as ``check(valid, frames, params)`` with the global index of every frame
    (``frames``, default ``arange(nt)``) and raises for frames without any source.
    """
    from kernels import get as get_kernel

    xp = backend.array_module(device)
    image = xp.ascontiguousarray(xp.asarray(image))
    out_shape = (image.shape[0], *shape)
    out = xp.empty(out_shape, dtype=np.float32)
    valid = xp.empty(out_shape, dtype=np.bool_)
    get_kernel(kernel_name, device)(xp.asarray(params), image, out, valid, order)
    if check is not None:
        check(valid, frames[0] if frames else np.arange(out_shape[0]), params)
    return out, valid


def remap_variables(ds, names, kernel_name, params, shape, order, device, check=None):
    """Run the kernel ``kernel_name`` on each variable; returns ``({name: out}, valid)``.

    ``params`` is the host float64 parameter array, ``shape`` the output ``(nt, ny, nx)``.
    Arrays stay on ``device``; ``valid`` (the same for every variable) comes from the first.
    ``check(valid, frames, params)`` (see :func:`remap_frames`) runs on the eager result, or inside
    every block of a chunked Dataset, whose outputs are then lazy (dask) arrays.
    """
    options = {"kernel_name": kernel_name, "shape": tuple(shape[1:]), "order": order,
               "device": device, "check": check}
    data, valid = {}, None
    for name in names:
        if is_chunked(ds[name]):
            out, mask = (r.data for r in map_frames(
                remap_frames, frame_rows(params), ds[name],
                output_core_dims=[["y", "x"], ["y", "x"]], output_dtypes=[np.float32, np.bool_],
                output_sizes={"y": shape[1], "x": shape[2]}, device=device, kwargs=options,
                frame_index=True))
        else:
            out, mask = remap_frames(params, ds[name].data, **options)
        data[name] = out
        valid = mask if valid is None else valid
        options["check"] = None  # one check: every variable shares the geometry
    return data, valid


def empty_frames(valid):
    """Indices of the frames in which no output pixel has a source (host array)."""
    covered = backend.to_host(valid.any(axis=(1, 2)))  # one read of nt flags
    return np.flatnonzero(~covered)
