"""Photometry of the solar disk: foreshortening, limb darkening and disk-integrated light curves.

* :func:`pixel_area`, :func:`foreshortening_correct`, :func:`total_unsigned_flux`
  (:mod:`.foreshortening`)
* :class:`LimbDarkening`, :func:`fit_limb_darkening`, :func:`remove_limb_darkening`,
  :func:`add_limb_darkening` (:mod:`.limb_darkening`)
* :func:`disk_integrate`, :func:`solid_angle`, :func:`relative_variation` (:mod:`.integration`)
"""
from solarprep.photometry.foreshortening import foreshortening_correct, pixel_area, total_unsigned_flux
from solarprep.photometry.integration import disk_integrate, relative_variation, solid_angle
from solarprep.photometry.limb_darkening import (
                                                 DEFAULT_LIMB_DARKENING,
                                                 LimbDarkening,
                                                 add_limb_darkening,
                                                 fit_limb_darkening,
                                                 neckel_labs_coefficients,
                                                 remove_limb_darkening,
)

__all__ = ["pixel_area", "foreshortening_correct", "total_unsigned_flux", "LimbDarkening",
           "DEFAULT_LIMB_DARKENING", "neckel_labs_coefficients", "fit_limb_darkening",
           "remove_limb_darkening", "add_limb_darkening", "disk_integrate", "solid_angle",
           "relative_variation"]
