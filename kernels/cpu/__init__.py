"""CPU kernels (numba, parallel over rows). Twins of :mod:`kernels.cuda`."""
from .disk import disk_coordinates, sky_coordinates
from .remap import derotate, track

__all__ = ["disk_coordinates", "sky_coordinates", "derotate", "track"]

from .power import band_power, band_power_rows, prepare_rows, prepare_series  # noqa: E402

__all__ += ["band_power", "prepare_series", "band_power_rows", "prepare_rows"]

from .photometry import (  # noqa: E402
                         disk_sums,
                         foreshortening,
                         ld_divide,
                         ld_normal_sums,
                         ld_solve,
                         solid_angle_weights,
                         surface_area,
)

__all__ += ["ld_normal_sums", "ld_solve", "ld_divide", "surface_area", "foreshortening",
            "solid_angle_weights", "disk_sums"]
