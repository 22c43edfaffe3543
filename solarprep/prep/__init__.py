"""Instrument preparation: SDO/AIA level 1 → 1.5, SDO/HMI, STEREO/EUVI level 0 → 1.

* :func:`prep` (:mod:`.core`): quality rejection, exposure normalisation, AIA degradation
  (offline correction table), EUVI bias and summing, registration north up and Sun-centred at
  0.6″ (or a chosen disk radius). ``docs/prep.md`` says what matches aiapy and what SolarSoft's
  ``secchi_prep`` does that is not reproduced.
"""
from solarprep.prep.core import AIA_SCALE, HMI_QUALITY_MASKS, aia_scale, prep, quality_mask

__all__ = ["prep", "AIA_SCALE", "HMI_QUALITY_MASKS", "aia_scale", "quality_mask"]
