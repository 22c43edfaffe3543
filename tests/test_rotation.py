"""solarprep.coordinates.rotation against sunpy.sun.models.differential_rotation."""
import math

import astropy.units as u
import numpy as np
import pytest
from sunpy.sun.models import differential_rotation

from solarprep.coordinates.rotation import LAWS, SYNODIC_OFFSET, RotationLaw, get_law

LATITUDES = np.array([-80.0, -45.0, -30.0, -12.5, 0.0, 7.0, 20.0, 35.0, 60.0, 89.0])


@pytest.mark.parametrize("name", ["howard", "snodgrass", "allen", "rigid"])
@pytest.mark.parametrize("frame_time", ["sidereal", "synodic"])
def test_matches_sunpy(name, frame_time):
    law = get_law(name)
    ours = law.delta_lon(86400.0, LATITUDES, frame_time)
    theirs = differential_rotation(1 * u.day, LATITUDES * u.deg, model=name,
                                   frame_time=frame_time).to_value(u.deg)
    # sunpy wraps into [0, 360); one day of rotation is 10-15 deg, so no wrap occurs.
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=0)


def test_rate_units_and_values():
    howard = get_law("howard")
    assert howard.rate(0.0) == pytest.approx(2.894e-6, rel=1e-15)
    assert howard.rate(90.0) == pytest.approx((2.894 - 0.428 - 0.370) * 1e-6, rel=1e-12)
    assert get_law("rigid").rate(40.0) == pytest.approx(
        math.radians(14.1844) / 86400.0, rel=1e-15)
    assert howard.rate(10.0, "synodic") == pytest.approx(howard.rate(10.0) - SYNODIC_OFFSET)
    assert SYNODIC_OFFSET == pytest.approx(math.radians(0.9856) / 86400.0)
    a, b, c = howard.to_quantities()
    assert a.unit == u.urad / u.s and a.value == pytest.approx(2.894)


def test_from_quantities_and_get_law_forms():
    law = RotationLaw.from_quantities(14.44 * u.deg / u.day, -3.0 * u.deg / u.day, 0,
                                      name="mine")
    np.testing.assert_allclose(law.rate(LATITUDES), LAWS["allen"].rate(LATITUDES), rtol=1e-14)
    tup = get_law((2.894 * u.urad / u.s, -0.428 * u.urad / u.s, -0.370 * u.urad / u.s))
    np.testing.assert_allclose(tup.rate(LATITUDES), LAWS["howard"].rate(LATITUDES), rtol=1e-14)
    assert get_law("Howard") is LAWS["howard"]
    assert get_law(law) is law
    with pytest.raises(u.UnitConversionError):
        RotationLaw.from_quantities(1 * u.m)


def test_errors():
    with pytest.raises(ValueError, match="unknown rotation law 'foo'"):
        get_law("foo")
    with pytest.raises(ValueError, match="frame_time must be"):
        LAWS["howard"].rate(0.0, "solar")
    with pytest.raises(ValueError, match="finite number"):
        RotationLaw("bad", float("nan"))
    with pytest.raises(ValueError, match="cannot make a rotation law"):
        get_law(42)
