"""Local helioseismology: Dopplergram differencing, acoustic power maps and tiles.

* :func:`frame_cadence`, :func:`regular_grid` (:mod:`.cadence`): cadence and gaps of a series
* :func:`doppler_difference`, :func:`remove_static_velocity` (:mod:`.doppler`)
* :func:`power_maps`, :func:`band_powers` (:mod:`.power`): FFT band powers in sliding windows
* :func:`tile_means`, :func:`solared_flatten`, :func:`mu_correction` (:mod:`.tiles`)
"""
from solarprep.helioseismology.cadence import frame_cadence, regular_grid
from solarprep.helioseismology.doppler import doppler_difference, remove_static_velocity
from solarprep.helioseismology.power import DEFAULT_BANDS, band_powers, band_weights, power_maps
from solarprep.helioseismology.tiles import mu_correction, solared_flatten, tile_means

__all__ = ["frame_cadence", "regular_grid", "doppler_difference", "remove_static_velocity",
           "power_maps", "band_powers", "band_weights", "DEFAULT_BANDS", "tile_means",
           "solared_flatten", "mu_correction"]
