"""The synthetic Sun: seeded, physically plausible observations with known truth.

:class:`SyntheticSun` produces HMI-like continuum, magnetograms, Dopplergram cubes
and AIA-like EUV/UV images as sunpy Maps with real-looking SDO headers (or FITS
files, :meth:`SyntheticSun.write_observations`), so they go through the same
loading path as real data, plus GOES/XRS-like light curves (:func:`goes_xrs`).

Modules: :mod:`.observer` (ephemeris, image geometry), :mod:`.features` (spots,
faculae, active regions, rotation and emergence), :mod:`.photosphere`
(continuum, limb darkening), :mod:`.magnetic` (radial field, network),
:mod:`.corona` (EUV/UV), :mod:`.doppler` (rotation, limb shift, p modes),
:mod:`.goes` (X-ray flux, flare classes), :mod:`.fits` (headers, writer),
:mod:`.sun` (:class:`SyntheticSun`).
"""
from solarprep.synthetic.corona import PASSBANDS, Passband
from solarprep.synthetic.doppler import DopplerParams
from solarprep.synthetic.features import ActiveRegion, Facula, Sunspot, hale_leading_sign, random_features
from solarprep.synthetic.fits import write_fits
from solarprep.synthetic.goes import Flare, class_to_flux, flare_class, goes_xrs
from solarprep.synthetic.observer import Observer, observer_states, stonyhurst_drift
from solarprep.synthetic.photosphere import DEFAULT_LIMB_DARKENING, NECKEL_LABS_6173, LimbDarkening
from solarprep.synthetic.sun import INSTRUMENTS, SyntheticSun

__all__ = [
    "SyntheticSun", "Sunspot", "Facula", "ActiveRegion", "Observer", "DopplerParams",
    "LimbDarkening", "DEFAULT_LIMB_DARKENING", "NECKEL_LABS_6173", "Flare", "flare_class",
    "class_to_flux", "goes_xrs", "write_fits", "random_features", "hale_leading_sign",
    "observer_states", "stonyhurst_drift", "Passband", "PASSBANDS", "INSTRUMENTS",
]
