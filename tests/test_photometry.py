"""Disk integration to light curves: analytic integrals, distance, spot transit, NaN, twins, errors."""
import math

import numpy as np
import pytest
import xarray as xr

import kernels.cpu
import kernels.cuda
import solarprep
from solarprep import synthetic
from solarprep.photometry._common import geometry_params
from solarprep.photometry.integration import AU, PhotometryError, disk_integrate, relative_variation
from solarprep.photometry.limb_darkening import LimbDarkening, fit_limb_darkening
from solarprep.synthetic.photosphere import spot_contrast

from .naive_photometry import T0, TIME, naive_disk_sums, synthetic_dataset

NL = LimbDarkening.neckel_labs_6173()
RSUN = 696_000_000.0


def exact_flux(law, i0, d, r=RSUN):
    """``∫ I dΩ`` of a limb-darkened sphere seen from distance ``d`` (1-D quadrature)."""
    from scipy.integrate import quad

    def integrand(psi):
        ell2 = d * d + r * r - 2 * d * r * math.cos(psi)
        mu = (d * math.cos(psi) - r) / math.sqrt(ell2)
        return float(law(np.array(mu))) * mu * 2 * math.pi * r * r * math.sin(psi) / ell2

    return i0 * quad(integrand, 0, math.acos(r / d), epsabs=0, epsrel=1e-12, limit=200)[0]


def test_flux_of_unspotted_disk_equals_analytic_integral_1024():
    ds, sun = synthetic_dataset(1024, limb_darkening=NL)
    truth = sun.truth(TIME)
    lc = disk_integrate(ds, normalize_distance=False, device="cpu")
    f = exact_flux(NL, truth["continuum_i0"], truth["observer"]["dsun_obs"])
    assert float(lc["flux"][0]) == pytest.approx(f, rel=1e-4)
    assert lc["flux"].attrs["units"] == "DN / s sr" or "sr" in lc["flux"].attrs["units"]
    assert float(lc["covered_fraction"][0]) == 1.0
    solarprep.validate(lc)


def _observer_pair(n=512):
    """The same quiet Sun from 0.983 and 1.017 AU, plate scale ∝ apparent radius (same pixels on the Sun).

    The synthetic Sun's specific intensity does not depend on the distance, as
    physically it does not: only the disk's solid angle (and so the flux) changes.
    """
    out = []
    base = 0.504 * 4096 / n
    for dist_au in (0.983, 1.017):
        d = dist_au * AU
        obs = synthetic.Observer(distance=d, lat=0.0, lon=0.0)
        cdelt = base * math.asin(RSUN / d) / math.asin(RSUN / AU)
        ds, sun = synthetic_dataset(n, observer=obs, limb_darkening=NL, cdelt=cdelt,
                                    continuum_intensity=6e4)
        out.append((ds, d))
    return out


def test_distance_invariance():
    (ds1, d1), (ds2, d2) = _observer_pair()
    # pixel intensities do not depend on the distance: I/L(μ) = I₀ for both
    for ds in (ds1, ds2):
        mu = solarprep.disk_coordinates(ds, device="cpu")["mu"].values
        ratio = ds["intensity"].values[0] / NL(mu.astype(np.float64))
        np.testing.assert_allclose(ratio[np.isfinite(ratio)], 6e4, rtol=1e-6)
    lcs = [disk_integrate(ds, device="cpu") for ds in (ds1, ds2)]
    raw = [disk_integrate(ds, normalize_distance=False, device="cpu") for ds in (ds1, ds2)]
    f1, f2 = (float(lc["flux"][0]) for lc in lcs)
    assert f1 == pytest.approx(f2, rel=1e-6)
    # without the normalisation the received flux goes as 1/d²
    r1, r2 = (float(lc["flux"][0]) for lc in raw)
    assert r1 / r2 == pytest.approx((d2 / d1) ** 2, rel=1e-6)
    assert abs(r1 / r2 - 1) > 0.06
    # and the mean intensity over the disk is distance-free
    m = [float(disk_integrate(ds, quantity="mean_intensity", device="cpu")["mean_intensity"][0])
         for ds in (ds1, ds2)]
    assert m[0] == pytest.approx(m[1], rel=1e-6)


def _spot_dip_analytic(spot, mu_s):
    """Relative flux deficit of a small spot at μ_s: L(μ_s) μ_s ∫(1 − C) dA / (π R² · 2∫Lμdμ)."""
    from scipy.integrate import quad

    def deficit(psi_deg):
        c = spot_contrast(np.array(psi_deg), spot.radius, spot.umbra_fraction,
                          spot.umbra_contrast, spot.penumbra_contrast)
        return (1.0 - float(c)) * math.sin(math.radians(psi_deg)) * math.radians(1.0)

    area = 2 * math.pi * quad(deficit, 0, 1.3 * spot.radius, limit=200)[0]  # in R☉²
    return float(NL(mu_s)) * mu_s * area / (math.pi * NL.flux_factor())


def test_spot_transit_dip_matches_analytic():
    spot = synthetic.Sunspot(lat=0.0, lon=0.0, radius=2.5)
    obs = synthetic.Observer(distance=AU, lat=0.0, lon=0.0)
    kwargs = dict(observer=obs, limb_darkening=NL, noise=False, t0=T0, seed=4)
    spotted = synthetic.SyntheticSun(features=[spot], **kwargs)
    quiet = synthetic.SyntheticSun(features=[], **kwargs)
    times = ["2024-05-01T00:00", "2024-05-04T00:00"]
    for t in times:
        ds_s = solarprep.load(spotted.continuum(t, shape=512), progress=False)
        ds_q = solarprep.load(quiet.continuum(t, shape=512), progress=False)
        lc = disk_integrate([ds_q, ds_s], reference=0, device="cpu")
        dip = -float(lc["relative_variation"][1]) * 1e-6
        lon = spotted.truth(t)["features"][0]["lon"]
        mu_s = math.cos(math.radians(lon))
        expected = _spot_dip_analytic(spot, mu_s)
        assert dip == pytest.approx(expected, rel=0.02), (t, dip, expected)
        assert 1e-4 < dip < 3e-3


def test_nan_aware_coverage_and_reference():
    ds, _ = synthetic_dataset(64)
    holes = ds["intensity"].values.copy()
    holes[0, 20:30, 20:30] = np.nan
    two = xr.concat([ds, ds.assign(intensity=(ds["intensity"].dims, holes,
                                              ds["intensity"].attrs))], dim="time")
    two = two.assign_coords(time=two["time"].values + np.array([0, 3600], "timedelta64[s]"))
    lc = disk_integrate(two, device="cpu")
    cov = lc["covered_fraction"].values
    assert cov[0] == 1.0 and 0.9 < cov[1] < 0.99
    assert np.isfinite(lc["flux"][0]) and np.isnan(lc["flux"][1])  # not silently biased
    lc2 = disk_integrate(two, min_covered=0.0, quantity="mean_intensity", device="cpu")
    assert lc2["mean_intensity"].values[1] == pytest.approx(lc2["mean_intensity"].values[0],
                                                            rel=0.05)
    rel, ref = relative_variation([1.0, 1.001, np.nan, 0.999], "first")
    np.testing.assert_allclose(rel[[0, 1, 3]], [0.0, 1000.0, -1000.0], atol=1e-6)
    assert np.isnan(rel[2]) and ref == 1.0
    assert relative_variation([2.0, 4.0], 4.0)[0][1] == 0.0


def test_limb_darkening_normalised_light_curve():
    ds, _ = synthetic_dataset(128, limb_darkening=NL)
    fit = fit_limb_darkening(ds, device="cpu")
    lc = disk_integrate(ds, limb_darkening=fit, device="cpu")
    assert float(lc["relative_flux"][0]) == pytest.approx(1.0, abs=2e-5)


def test_disk_kernels_twins_against_numpy():
    ds, _ = synthetic_dataset(32)
    p = geometry_params(ds)
    rng = np.random.default_rng(1)
    image = rng.uniform(1, 2, (3, 32, 32)).astype(np.float32)
    image[1, 5:20, 3:9] = np.nan
    results = []
    for mod in (kernels.cpu, kernels.cuda):
        weight = np.empty((1, 32, 32), np.float32)
        mod.solid_angle_weights(p, weight)
        sums = np.zeros((3, 5))
        mod.disk_sums(image, weight, sums)
        np.testing.assert_allclose(sums, naive_disk_sums(image, weight), rtol=1e-9)
        results.append(sums)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-9)


def test_bad_inputs():
    ds, _ = synthetic_dataset(32)
    other = ds.assign_attrs(instrument="AIA_3")
    with pytest.raises(PhotometryError, match="different instruments"):
        disk_integrate([ds, other], device="cpu")
    units = ds.assign(intensity=ds["intensity"].assign_attrs(units="W / m2"))
    with pytest.raises(PhotometryError, match="different variables or units"):
        disk_integrate([ds, units], device="cpu")
    off = ds.assign_coords(crval1=("time", [3000.0]))
    with pytest.raises(PhotometryError, match="no pixel on the solar disk"):
        disk_integrate(off, device="cpu")
    with pytest.raises(PhotometryError, match=r"outside \(0, 1\]"):
        disk_integrate(ds, mu_min=2.0, device="cpu")
    with pytest.raises(PhotometryError, match="quantity='sum' is not one of"):
        disk_integrate(ds, quantity="sum", device="cpu")
