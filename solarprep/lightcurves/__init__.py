"""Light curves: readers, 1-AU normalisation and resampling, GOES/XRS fluxes and flares.

* :func:`load_lightcurve` (:mod:`.readers`): SDO/EVE, GOES/XRS, SOHO/VIRGO, TESS, Kepler files
* :func:`normalize_to_1au`, :func:`resample`, :func:`condition` (:mod:`.conditioning`): the
  video model's conditioning steps for any light curve
* :func:`read_xrs`, :func:`to_scale` (:mod:`.goes`): every GOES/XRS file kind, SWPC and true scales
* :func:`flare_class`, :func:`class_to_flux`, :func:`detect_flares`, :func:`label_times`

Disk-integrated light curves of images are made by :func:`solarprep.photometry.disk_integrate`.
"""
from solarprep.lightcurves.conditioning import (
                                        condition,
                                        mark_gaps,
                                        normalize_to_1au,
                                        resample,
)
from solarprep.lightcurves.goes import (
                                        class_to_flux,
                                        detect_flares,
                                        flare_class,
                                        label_times,
                                        read_xrs,
                                        to_scale,
)
from solarprep.lightcurves.readers import load_lightcurve

__all__ = ["load_lightcurve", "normalize_to_1au", "resample", "condition", "mark_gaps",
           "read_xrs", "to_scale", "flare_class", "class_to_flux", "detect_flares",
           "label_times"]
