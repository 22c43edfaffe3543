"""Limb-darkening laws, robust fits, removal: synthetic truth, real HMI, CPU/CUDA twins, bad input."""
import math

import numpy as np
import pytest

import kernels.cpu
import kernels.cuda
from kernels._photometry_math import LD_NPARAMS, NSUMS
from solarprep import synthetic
from solarprep.photometry.limb_darkening import (
    NECKEL_LABS_1994,
    NECKEL_LABS_6173,
    LimbDarkening,
    PhotometryError,
    add_limb_darkening,
    fit_limb_darkening,
    neckel_labs_coefficients,
    remove_limb_darkening,
)

from .naive_photometry import naive_ld_fit, synthetic_dataset

NL = LimbDarkening.neckel_labs_6173()


# --------------------------------------------------------------------------- laws

def test_laws_values_and_neckel_labs_table():
    mu = np.linspace(0, 1, 11)
    np.testing.assert_allclose(LimbDarkening.linear(0.6)(mu), 1 - 0.6 * (1 - mu), rtol=1e-14)
    np.testing.assert_allclose(LimbDarkening.quadratic(0.421, 0.212)(mu),
                               1 - 0.421 * (1 - mu) - 0.212 * (1 - mu) ** 2, rtol=1e-14)
    # a tabulated wavelength gives its own row, renormalised to L(1) = 1
    row = np.array(NECKEL_LABS_1994[640.970])
    np.testing.assert_allclose(neckel_labs_coefficients(640.970), row / row.sum(), rtol=1e-12)
    assert abs(row.sum() - 1) < 1e-4  # the table's rows are normalised to 1e-4
    # 617.3 nm: linear interpolation of the 610.975 and 640.970 nm rows (the seed's value)
    w = (617.3 - 610.975) / (640.970 - 610.975)
    ref = (1 - w) * np.array(NECKEL_LABS_1994[610.975]) + w * row
    np.testing.assert_allclose(NECKEL_LABS_6173, ref / ref.sum(), rtol=1e-12)
    import astropy.units as u
    assert LimbDarkening.neckel_labs(6173 * u.AA).coefficients == pytest.approx(NECKEL_LABS_6173)
    # darker limb in the blue than in the red
    assert LimbDarkening.neckel_labs(400)(0.2) < LimbDarkening.neckel_labs(800)(0.2)
    with pytest.raises(PhotometryError, match="outside the Neckel & Labs"):
        neckel_labs_coefficients(250.0)
    # flux factor 2∫L μ dμ against quadrature
    from scipy.integrate import quad
    assert NL.flux_factor() == pytest.approx(2 * quad(lambda m: float(NL(m)) * m, 0, 1)[0],
                                             rel=1e-12)


def test_synthetic_sun_uses_these_laws():
    assert synthetic.LimbDarkening is LimbDarkening
    assert synthetic.NECKEL_LABS_6173 == NECKEL_LABS_6173


# --------------------------------------------------------------------------- synthetic truth

@pytest.fixture(scope="module")
def disk1024():
    """Unspotted noise-free 1024² continuum with the Neckel & Labs law, and its truth."""
    ds, sun = synthetic_dataset(1024, limb_darkening=NL)
    return ds, sun.truth(ds["time"].values[0])["continuum_i0"]


@pytest.mark.parametrize("law,truth", [("poly5", NECKEL_LABS_6173),
                                       (NL, None), ("neckel_labs", None)])
def test_fit_recovers_truth_1024(disk1024, law, truth):
    ds, i0 = disk1024
    fit = fit_limb_darkening(ds, law=law, device="cpu")
    assert fit["i0"].values[0] == pytest.approx(i0, rel=1e-5)
    np.testing.assert_allclose(fit["polynomial"].values[0], NECKEL_LABS_6173, atol=1e-4)
    if truth is not None:
        np.testing.assert_allclose(fit["coefficients"].values[0], truth, atol=1e-3)
        assert list(fit["coefficient"].values) == [f"a{k}" for k in range(6)]
    assert fit["clipped_fraction"].values[0] < 0.02


def test_fit_quadratic_truth_1024():
    ds, sun = synthetic_dataset(1024, limb_darkening=(0.5, 0.2))
    fit = fit_limb_darkening(ds, law="quadratic", device="cpu")
    np.testing.assert_allclose(fit["coefficients"].values[0], [0.5, 0.2], atol=1e-3)
    assert list(fit["coefficient"].values) == ["u1", "u2"]
    lin = fit_limb_darkening(ds, law="linear", mu_min=0.5, clip_sigma=None, device="cpu")
    assert lin["coefficients"].shape == (1, 1) and 0.5 < lin["coefficients"].values[0, 0] < 0.8


def test_fit_uncertainties_match_scatter():
    """With 0.1 % noise, fitted coefficients lie within 4σ of the truth and σ is the noise."""
    ds, sun = synthetic_dataset(256, limb_darkening=NL, noise=True)
    fit = fit_limb_darkening(ds, law="poly5", device="cpu", clip_sigma=None)
    err = fit["coefficients_err"].values[0]
    assert np.all(err > 0)
    dev = np.abs(fit["coefficients"].values[0] - np.array(NECKEL_LABS_6173))
    assert np.all(dev < 4 * err), (dev, err)
    i0 = sun.truth(ds["time"].values[0])["continuum_i0"]
    assert abs(fit["i0"].values[0] - i0) < 4 * fit["i0_err"].values[0]
    # residual rms ≈ 0.1 % of the local intensity (between 0.3 and 1 × 1e-3 I0)
    assert 0.3e-3 < fit["sigma"].values[0] / i0 < 1e-3


def test_clipping_excludes_spots_and_faculae():
    spots = [synthetic.Sunspot(lat=10, lon=-5, radius=3.0), synthetic.Sunspot(lat=-15, lon=20,
                                                                              radius=2.5),
             synthetic.Facula(lat=20, lon=50, radius=8.0, contrast=0.3)]
    ds, sun = synthetic_dataset(256, limb_darkening=NL, features=spots)
    clipped = fit_limb_darkening(ds, law="poly5", device="cpu")
    plain = fit_limb_darkening(ds, law="poly5", clip_sigma=None, device="cpu")
    i0 = sun.truth(ds["time"].values[0])["continuum_i0"]
    err_clip = abs(clipped["i0"].values[0] / i0 - 1)
    err_plain = abs(plain["i0"].values[0] / i0 - 1)
    assert clipped["clipped_fraction"].values[0] > 0.005
    assert err_clip < 1e-3 < err_plain


# --------------------------------------------------------------------------- removal

def test_remove_flat_and_add_round_trip():
    ds, sun = synthetic_dataset(128, limb_darkening=NL)
    out = remove_limb_darkening(ds, mu_min=0.1, device="cpu")
    c = out["intensity"].values
    mu = ds.assign_coords().pipe(lambda d: out["mu"].values)
    on = mu >= 0.1
    assert np.all(np.isnan(c[0][~on]))
    np.testing.assert_allclose(c[0][on], 1.0, atol=2e-5)
    assert out["intensity"].attrs["units"] == ""
    back = add_limb_darkening(out, device="cpu")
    np.testing.assert_allclose(back["intensity"].values[0][on], ds["intensity"].values[0][on],
                               rtol=3e-5)
    assert back["intensity"].attrs["units"] == ds["intensity"].attrs["units"]
    # a given law: I₀ fitted only; a given law and I₀: nothing fitted
    i0 = sun.truth(ds["time"].values[0])["continuum_i0"]
    given = remove_limb_darkening(ds, NL, i0=i0, device="cpu")["intensity"].values[0]
    np.testing.assert_allclose(given[on], 1.0, atol=2e-6)
    scaled = remove_limb_darkening(ds, NL, device="cpu")
    assert scaled["ld_i0"].values[0] == pytest.approx(i0, rel=1e-6)
    fit = fit_limb_darkening(ds, device="cpu")
    via_fit = remove_limb_darkening(ds, fit, device="cpu")["intensity"].values[0]
    np.testing.assert_allclose(via_fit[on], 1.0, atol=2e-5)


def test_real_hmi_continuum_flat_after_removal(real_fits):
    """Quiet-Sun radial profile of the real HMI continuum flat within 1 % for μ > 0.3."""
    import solarprep

    ds = solarprep.load(real_fits["hmi_ic"], progress=False)
    out = remove_limb_darkening(ds, law="poly5", mu_min=0.1, device="cpu")
    c = out["intensity"].values[0]
    mu = out["mu"].values
    edges = np.linspace(0.3, 1.0, 8)
    medians = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (mu > lo) & (mu <= hi) & np.isfinite(c)
        assert sel.sum() > 30
        medians.append(np.median(c[sel]))
    assert np.max(np.abs(np.array(medians) - 1)) < 0.01, medians
    # before removal, the same profile falls by > 20 % from centre to μ = 0.3
    raw = ds["intensity"].values[0]
    inner = np.nanmedian(raw[mu > 0.9])
    outer = np.nanmedian(raw[(mu > 0.3) & (mu < 0.4)])
    assert outer / inner < 0.8


# --------------------------------------------------------------------------- kernels: twins

def _tiny_frames(nt=2, n=48, seed=3):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    images, mus = [], []
    for t in range(nt):
        rho = np.hypot(yy - (n - 1) / 2 + t, xx - (n - 1) / 2) / (0.45 * n)
        with np.errstate(invalid="ignore"):
            mu = np.sqrt(1 - rho**2)
        img = 5e4 * (1 + 0.1 * t) * NL(mu) * (1 + 1e-3 * rng.standard_normal(mu.shape))
        img[n // 2 - 3:n // 2 + 2, n // 2 - 4:n // 2 + 1] *= 0.3  # a spot to clip
        images.append(img)
        mus.append(mu)
    return np.array(images, np.float32), np.array(mus, np.float32)


def _params(nt, nq, mu_min=0.1, clip=3.0):
    p = np.zeros((nt, LD_NPARAMS))
    p[:, 0], p[:, 1], p[:, 2] = mu_min, 0.5 * (1 + mu_min), 2.0 / (1 - mu_min)
    p[:, 3], p[:, 4], p[:, 5], p[:, 6] = np.inf, nq, clip, nq
    return p


def _run(module, image, mu, p, basis, passes):
    sums = np.zeros((p.shape[0], NSUMS))
    for _ in range(passes):
        module.ld_normal_sums(image, mu, p, sums)
        module.ld_solve(sums, basis, p)
    out = np.empty_like(image)
    module.ld_divide(image, mu, p, out)
    return p, sums, out


def test_cuda_twin_matches_cpu():
    """numba.cuda kernels (simulator in CI) against the CPU twin on 2 frames of 32²."""
    image, mu = _tiny_frames(n=32)
    passes = 3
    p_cpu, s_cpu, out_cpu = _run(kernels.cpu, image, mu, _params(2, 6), np.eye(6), passes)
    p_gpu, s_gpu, out_gpu = _run(kernels.cuda, image, mu, _params(2, 6), np.eye(6), passes)
    np.testing.assert_allclose(s_gpu, s_cpu, rtol=1e-9, atol=1e-9 * np.abs(s_cpu).max())
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-9)
    np.testing.assert_allclose(out_gpu, out_cpu, rtol=1e-5, equal_nan=True)
    assert p_gpu[0, 9] < np.sum(mu[0] >= 0.1)  # the spot was clipped


@pytest.mark.parametrize("degree", [2, 5])
def test_cpu_kernels_against_numpy(degree):
    image, mu = _tiny_frames()
    nq = degree + 1
    passes = 5
    p_cpu, _, out_cpu = _run(kernels.cpu, image, mu, _params(2, nq), np.eye(nq), passes)
    from solarprep.photometry.limb_darkening import _x_to_mu_matrix
    for t in range(2):
        coef, sigma, n = naive_ld_fit(image[t], mu[t], mu_min=0.1, degree=degree, clip=3.0,
                                      passes=passes)
        ours = _x_to_mu_matrix(nq, p_cpu[t, 1], p_cpu[t, 2]) @ p_cpu[t, 10:10 + nq]
        np.testing.assert_allclose(ours, coef, rtol=1e-6, atol=1e-6 * abs(coef).max())
        assert p_cpu[t, 7] == pytest.approx(sigma, rel=1e-6)
        assert p_cpu[t, 9] == n
        assert n < np.sum(np.isfinite(image[t]) & (mu[t] >= 0.1))  # the spot was clipped
    # shared μ (one geometry for every frame) gives the same as a repeated μ
    p_shared, _, _ = _run(kernels.cpu, image[:1].repeat(2, 0), mu[:1], _params(2, nq),
                          np.eye(nq), passes)
    np.testing.assert_allclose(p_shared[1], p_shared[0])


def test_fixed_shape_basis_twins():
    image, mu = _tiny_frames(nt=1, n=24)
    from solarprep.photometry.limb_darkening import _affine
    p = _params(1, 6)
    p[:, 6] = 1
    basis = _affine(NECKEL_LABS_6173, p[0, 1], 1 / p[0, 2])[None]
    p_cpu, _, _ = _run(kernels.cpu, image, mu, p.copy(), basis, 3)
    p_gpu, _, _ = _run(kernels.cuda, image, mu, p.copy(), basis, 3)
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-9)
    # model = scale × law, with scale ≈ 5e4
    scale = p_cpu[0, 10] / basis[0, 0]
    np.testing.assert_allclose(p_cpu[0, 10:16], scale * basis[0], rtol=1e-12)
    assert scale == pytest.approx(5e4, rel=2e-3)


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("mu_min", [0.0, -0.1, 1.5, math.nan])
def test_mu_min_outside_range(mu_min):
    ds, _ = synthetic_dataset(32)
    with pytest.raises(PhotometryError, match=r"outside \(0, 1\]"):
        fit_limb_darkening(ds, mu_min=mu_min, device="cpu")
    with pytest.raises(PhotometryError, match=r"outside \(0, 1\]"):
        remove_limb_darkening(ds, mu_min=mu_min, device="cpu")


def test_bad_law_and_off_disk_cutout():
    ds, _ = synthetic_dataset(32)
    with pytest.raises(PhotometryError, match="unknown limb-darkening law"):
        fit_limb_darkening(ds, law="cubic-spline", device="cpu")
    off = ds.assign_coords(crval1=("time", [3000.0]))  # field of view beyond the limb
    with pytest.raises(PhotometryError, match="too few on-disk pixels"):
        fit_limb_darkening(off, device="cpu")
    two = ds.assign(other=ds["intensity"] * 2)
    with pytest.raises(PhotometryError, match="say which one with variable="):
        fit_limb_darkening(two, device="cpu")
    with pytest.raises(PhotometryError, match="needs i0="):
        add_limb_darkening(ds, NL, device="cpu")
