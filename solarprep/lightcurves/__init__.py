"""Light curves: GOES/XRS soft X-ray fluxes, flare classes and flare events.

* :func:`read_xrs`, :func:`to_scale` (:mod:`.goes`): every GOES/XRS file kind, SWPC and true scales
* :func:`flare_class`, :func:`class_to_flux`, :func:`detect_flares`, :func:`label_times`

Disk-integrated light curves of images are made by :func:`solarprep.photometry.disk_integrate`.
"""
from solarprep.lightcurves.goes import (
                                        class_to_flux,
                                        detect_flares,
                                        flare_class,
                                        label_times,
                                        read_xrs,
                                        to_scale,
)

__all__ = ["read_xrs", "to_scale", "flare_class", "class_to_flux", "detect_flares",
           "label_times"]
