"""Limb-darkening laws, robust per-frame fits, and their removal (contrast images) on CPU and GPU.

Laws are polynomials in μ (the cosine of the heliocentric angle), normalised to
1 at disk centre: ``L(μ) = I(μ)/I(1) = Σ a_k μ^k``.

* linear (Milne 1921): ``L = 1 − u(1 − μ)``;
* quadratic (Kopal 1950): ``L = 1 − u₁(1 − μ) − u₂(1 − μ)²``;
* Neckel & Labs (1994, Sol. Phys. 153, 91, their Table 2): 5th-order polynomials
  at 30 continuum wavelengths 303–1099 nm, interpolated linearly in wavelength
  and renormalised to ``L(1) = 1`` (:data:`NECKEL_LABS_1994`);
* any user polynomial (:meth:`LimbDarkening.polynomial`).

:func:`fit_limb_darkening` fits ``I(μ) = I₀ L(μ)`` to every frame with iterative
σ-clipping (sunspots and faculae drop out), :func:`remove_limb_darkening` divides
by the fitted or given profile (one fused fit + divide on the GPU) and
:func:`add_limb_darkening` multiplies it back. The mathematics of the fit is in
``docs/photometry.md`` and :mod:`kernels._photometry_math`.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from kernels.params import LD_COEFFS, LD_SCALE, LD_SIGMA, LD_USED, LD_X0
from solarprep import backend
from solarprep.dataset import CONVENTIONS, append_history
from solarprep.errors import PhotometryError
from solarprep.photometry._common import (
    as_image,
    as_mu,
    check_mu_min,
    float32_var,
    frame_apply,
    image_array,
    image_variable,
    mu_array,
    to_host,
    wavelength_nm,
    with_mu,
)

if TYPE_CHECKING:
    import astropy.units as u
    import numpy.typing as npt

__all__ = ["LimbDarkening", "NECKEL_LABS_1994", "NECKEL_LABS_6173", "DEFAULT_LIMB_DARKENING",
           "neckel_labs_coefficients", "fit_limb_darkening", "remove_limb_darkening",
           "add_limb_darkening"]

log = logging.getLogger(__name__)

#: Neckel & Labs (1994, Sol. Phys. 153, 91), Table 2: wavelength (nm) → coefficients
#: a0…a5 of I(μ)/I(1) ≈ Σ a_k μ^k (their sums differ from 1 by < 1e-4).
NECKEL_LABS_1994 = {
    303.327: (0.08011, 0.70695, 0.49910, -0.31080, -0.02177, 0.04642),
    310.843: (0.08160, 0.71609, 0.69685, -0.87703, 0.47008, -0.08760),
    320.468: (0.08833, 0.77285, 0.65382, -1.04647, 0.72921, -0.19775),
    329.897: (0.09188, 0.92459, 0.19604, -0.39546, 0.23599, -0.05303),
    349.947: (0.11012, 1.02168, -0.10924, -0.00055, -0.08688, 0.06487),
    365.875: (0.12828, 1.04969, 0.17482, -1.13371, 1.23882, -0.45990),
    374.086: (0.12579, 0.85402, 0.54601, -1.15048, 0.88928, -0.26462),
    390.915: (0.12995, 0.91836, -0.07566, 0.19149, -0.28712, 0.12298),
    401.970: (0.12323, 1.08648, -0.43974, 0.45912, -0.32759, 0.09850),
    416.319: (0.12814, 1.19947, -0.84407, 1.07201, -0.79537, 0.23982),
    427.930: (0.14249, 1.28796, -1.19564, 1.68603, -1.36658, 0.44572),
    443.885: (0.16220, 1.24893, -0.92165, 0.89978, -0.50148, 0.11220),
    445.125: (0.15248, 1.38517, -1.49615, 1.99886, -1.48155, 0.44119),
    457.345: (0.16604, 1.38544, -1.52275, 2.00232, -1.45969, 0.42864),
    477.427: (0.19571, 1.30551, -1.25845, 1.50626, -1.05472, 0.30570),
    492.905: (0.20924, 1.30798, -1.20411, 1.21505, -0.67196, 0.14381),
    519.930: (0.23695, 1.29927, -1.28034, 1.37760, -0.85054, 0.21706),
    541.760: (0.26073, 1.27428, -1.30352, 1.47085, -0.96618, 0.26384),
    559.950: (0.26892, 1.34319, -1.58427, 1.91271, -1.31350, 0.37295),
    579.880: (0.28392, 1.36896, -1.75998, 2.22154, -1.56074, 0.44630),
    610.975: (0.30854, 1.36620, -1.83572, 2.33221, -1.63082, 0.45959),
    640.970: (0.33644, 1.30590, -1.79238, 2.45040, -1.89979, 0.59943),
    669.400: (0.34685, 1.37539, -2.04425, 2.70493, -1.94290, 0.55999),
    700.875: (0.37885, 1.25553, -1.70908, 2.19647, -1.59554, 0.47378),
    748.710: (0.40627, 1.22842, -1.67877, 2.05535, -1.39972, 0.38845),
    811.760: (0.42977, 1.25182, -1.85164, 2.31949, -1.59101, 0.44155),
    869.600: (0.45396, 1.25101, -2.02958, 2.75410, -2.02287, 0.59338),
    948.850: (0.47855, 1.19813, -1.86296, 2.36939, -1.64367, 0.46056),
    1046.600: (0.49870, 1.21429, -2.06976, 2.80703, -2.05247, 0.60221),
    1098.950: (0.51149, 1.19354, -2.00174, 2.66936, -1.94981, 0.57715),
}


def neckel_labs_coefficients(wavelength: float | u.Quantity) -> tuple[float, ...]:
    """Neckel & Labs (1994) coefficients a0…a5 at ``wavelength`` (nm, or an astropy Quantity).

    Linear interpolation between the two tabulated wavelengths that bracket it,
    renormalised so that ``Σ a_k = L(1) = 1``.

    Raises
    ------
    PhotometryError
        Outside the tabulated range 303.327–1098.95 nm.
    """
    if hasattr(wavelength, "to_value"):
        wavelength = wavelength.to_value("nm")
    lam = float(wavelength)
    grid = np.array(sorted(NECKEL_LABS_1994))
    if not grid[0] <= lam <= grid[-1]:
        raise PhotometryError(
            f"wavelength {lam} nm is outside the Neckel & Labs (1994) table "
            f"({grid[0]}–{grid[-1]} nm); give the law as LimbDarkening.polynomial(...)")
    table = np.array([NECKEL_LABS_1994[w] for w in grid])
    coeffs = np.array([np.interp(lam, grid, table[:, k]) for k in range(6)])
    return tuple(float(c) for c in coeffs / coeffs.sum())


#: Neckel & Labs (1994) polynomial at 617.3 nm (HMI's Fe I line), coefficients of μ⁰…μ⁵.
NECKEL_LABS_6173 = neckel_labs_coefficients(617.3)


@dataclasses.dataclass(frozen=True)
class LimbDarkening:
    """A limb-darkening law ``L(μ) = I(μ)/I(1)`` as a polynomial in μ.

    Attributes
    ----------
    coefficients : tuple of float
        ``a_0 … a_n`` of ``L(μ) = Σ a_k μ^k`` (ascending powers).
    name : str

    Notes
    -----
    The quadratic law :math:`L = 1 - u_1(1-\\mu) - u_2(1-\\mu)^2` is the polynomial
    :math:`(1-u_1-u_2) + (u_1+2u_2)\\mu - u_2\\mu^2`. The default
    (:data:`DEFAULT_LIMB_DARKENING`) is quadratic with ``u1 = 0.421, u2 = 0.212``: the
    least-squares fit, weighted by projected disk area (∝ μ dμ), to the Neckel & Labs
    (1994, Sol. Phys. 153, 91) 5th-order polynomial at 617.3 nm (max. deviation 0.016
    for μ > 0.1, 0.006 for μ > 0.3).
    """

    coefficients: tuple
    name: str = "polynomial"

    def __post_init__(self):
        c = tuple(float(x) for x in self.coefficients)
        if not c or not all(math.isfinite(x) for x in c):
            raise ValueError("limb-darkening coefficients must be finite numbers, "
                             f"not {self.coefficients!r}")
        object.__setattr__(self, "coefficients", c)

    @classmethod
    def linear(cls, u: float) -> LimbDarkening:
        """The linear law ``1 − u(1 − μ)`` (Milne 1921)."""
        return cls((1.0 - u, u), f"linear(u={u})")

    @classmethod
    def quadratic(cls, u1: float, u2: float) -> LimbDarkening:
        """The quadratic law ``1 − u1(1 − μ) − u2(1 − μ)²`` (Kopal 1950)."""
        return cls((1.0 - u1 - u2, u1 + 2.0 * u2, -u2), f"quadratic(u1={u1}, u2={u2})")

    @classmethod
    def polynomial(cls, coefficients: npt.ArrayLike) -> LimbDarkening:
        """A polynomial law ``Σ a_k μ^k`` (ascending powers; not renormalised)."""
        return cls(tuple(coefficients), "polynomial")

    @classmethod
    def neckel_labs(cls, wavelength: float = 617.3) -> LimbDarkening:
        """Neckel & Labs (1994) 5th-order polynomial at ``wavelength`` (nm or Quantity)."""
        coeffs = neckel_labs_coefficients(wavelength)
        if hasattr(wavelength, "to_value"):
            wavelength = wavelength.to_value("nm")
        return cls(coeffs, f"Neckel & Labs (1994), {float(wavelength):g} nm")

    @classmethod
    def neckel_labs_6173(cls) -> LimbDarkening:
        """Neckel & Labs (1994) 5th-order polynomial at 617.3 nm (HMI's Fe I line)."""
        return cls(NECKEL_LABS_6173, "Neckel & Labs (1994), 617.3 nm")

    @property
    def degree(self):
        """Degree of the polynomial."""
        return len(self.coefficients) - 1

    def flux_factor(self) -> float:
        """``2 ∫₀¹ L(μ) μ dμ = Σ 2a_k/(k + 2)``: disk-integrated flux / (π I(1) (R/d)²)."""
        return float(sum(2.0 * a / (k + 2) for k, a in enumerate(self.coefficients)))

    def __call__(self, mu: npt.ArrayLike) -> np.ndarray:
        """``L(μ)`` by Horner's rule, in the dtype of ``mu`` (float32 stays float32)."""
        xp = backend.array_module("cuda") if backend.is_cupy(mu) else np
        mu = xp.asarray(mu)
        dtype = mu.dtype if mu.dtype.kind == "f" else np.dtype(np.float64)
        out = xp.full(mu.shape, self.coefficients[-1], dtype=dtype)
        for a in self.coefficients[-2::-1]:
            out *= mu
            out += dtype.type(a)
        return out


#: Default law: quadratic fit to Neckel & Labs (1994) at 617.3 nm (see :class:`LimbDarkening`).
DEFAULT_LIMB_DARKENING = LimbDarkening.quadratic(0.421, 0.212)


# --------------------------------------------------------------------------- polynomial algebra

def _affine(coeffs, shift, scale):
    """Coefficients in ``t`` of ``P(shift + scale·t)`` for ``P = Σ c_k z^k`` (ascending)."""
    n = len(coeffs)
    out = np.zeros(n)
    for k, c in enumerate(coeffs):
        for m in range(k + 1):
            out[m] += c * math.comb(k, m) * shift ** (k - m) * scale ** m
    return out


def _x_to_mu_matrix(nq, x0, xs):
    """Matrix ``C`` with μ-coefficients = C · x-coefficients, for ``x = (μ − x0)·xs``."""
    return np.stack([_affine(np.eye(nq)[k], -x0 * xs, xs) for k in range(nq)], axis=1)


def _x_frame(mu_min):
    x0 = 0.5 * (1.0 + mu_min)
    xs = 2.0 / max(1.0 - mu_min, 1e-3)
    return x0, xs


# --------------------------------------------------------------------------- laws for fitting

@dataclasses.dataclass(frozen=True)
class _LawSpec:
    name: str
    nq: int
    fixed: tuple = None  # μ-coefficients of a fixed shape (scale-only fit)

    @property
    def coefficient_names(self):
        if self.name == "linear":
            return ["u"]
        if self.name == "quadratic":
            return ["u1", "u2"]
        return [f"a{k}" for k in range(self.nq)]

    def basis(self, x0, xs):
        if self.fixed is None:
            return np.eye(self.nq)
        return _affine(self.fixed, x0, 1.0 / xs)[None, :]

    def law_coefficients(self, a):
        """Named coefficients (and the matrix mapping ``a`` to them)."""
        if self.name == "linear":
            m = np.array([[0.0, 1.0]])
        elif self.name == "quadratic":
            m = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, -1.0]])
        else:
            m = np.eye(self.nq)
        return m


def _law_spec(law, ds):
    if isinstance(law, LimbDarkening):
        return _LawSpec(law.name, len(law.coefficients), law.coefficients)
    if not isinstance(law, str):
        raise PhotometryError(
            f"law must be 'linear', 'quadratic', 'poly<N>', 'neckel_labs' or a LimbDarkening, "
            f"not {law!r}")
    key = law.lower().replace("-", "_")
    if key == "linear":
        return _LawSpec("linear", 2)
    if key == "quadratic":
        return _LawSpec("quadratic", 3)
    if key in ("neckel_labs", "neckel"):
        return _law_spec(LimbDarkening.neckel_labs(wavelength_nm(ds)), ds)
    m = re.fullmatch(r"poly(?:nomial)?(\d)", key)
    if m and 1 <= int(m.group(1)) <= 7:
        return _LawSpec(f"poly{m.group(1)}", int(m.group(1)) + 1)
    raise PhotometryError(
        f"unknown limb-darkening law {law!r}: use 'linear', 'quadratic', 'poly1'…'poly7' "
        "(free polynomial in μ), 'neckel_labs' (Neckel & Labs 1994 at the Dataset's "
        "wavelength, scale only) or a LimbDarkening (fixed shape, scale only)")


# --------------------------------------------------------------------------- the fit

def _kernels(device):
    from kernels import get

    return (get("ld_normal_sums", device), get("ld_solve", device), get("ld_divide", device))


def _run_fit(image, mu, spec, mu_min, clip_sigma, max_iter, device, frames=None):
    """Iterate passes + solves on ``device``.

    Every frame is fitted as if it were alone: clipping stops for a frame at the first pass
    that keeps as many pixels as the pass before, and its fit is kept from then on, so the
    result of a frame does not depend on the other frames of the stack (a block of a chunked
    Dataset gives the frames' results of the whole series). ``frames`` are the global
    indices of the frames (for messages).

    Returns (params on the device, params on the host, sums, eligible pixels, basis).
    """
    from kernels.params import LD_SUMS_LEN, limb_darkening_params

    xp = backend.array_module(device)
    nt = image.shape[0]
    x0, xs = _x_frame(mu_min)
    basis = spec.basis(x0, xs)
    p = limb_darkening_params(nt, mu_min=mu_min, x0=x0, scale=xs, nq=spec.nq,
                              clip_sigma=clip_sigma if clip_sigma else 0.0,
                              n_basis=basis.shape[0])
    p_dev = xp.asarray(p)
    basis_dev = xp.asarray(np.ascontiguousarray(basis))
    sums = xp.zeros((nt, LD_SUMS_LEN))
    normal_sums, solve, _ = _kernels(device)
    passes = 2 + (int(max_iter) if clip_sigma else 0)
    eligible = None
    previous = None
    done = np.zeros(nt, dtype=bool)  # frames whose clipping has converged: their fit is kept
    kept_p = kept_sums = None
    for k in range(passes):
        normal_sums(image, mu, p_dev, sums)
        solve(sums, basis_dev, p_dev)
        if done.any():
            rows = xp.asarray(np.flatnonzero(done))
            p_dev[rows] = kept_p[rows]
            sums[rows] = kept_sums[rows]
        if k == 0:
            eligible = to_host(p_dev[:, LD_USED]).copy()
            if not np.all(eligible > basis.shape[0]):
                bad = np.flatnonzero(~(eligible > basis.shape[0]))
                bad = (bad if frames is None else np.asarray(frames)[bad]).tolist()
                raise PhotometryError(
                    f"frames {bad} have too few on-disk pixels with μ ≥ mu_min={mu_min} "
                    f"(and finite values) to fit the law: is this an off-disk cutout? Lower "
                    "mu_min or fit a law with fewer coefficients")
        elif k >= 3:
            used = to_host(p_dev[:, LD_USED])
            converged = (used == previous) & ~done
            if converged.any():
                done |= converged
                kept_p, kept_sums = p_dev.copy(), sums.copy()
            if done.all():
                break
            previous = used.copy()
        if k == 2:
            previous = to_host(p_dev[:, LD_USED]).copy()
    p_host = to_host(p_dev).copy()
    return p_dev, p_host, to_host(sums).copy(), eligible, basis


def _uncertainties(spec, p_host, sums, basis):
    """I₀, normalised μ-coefficients and the law's coefficients with 1σ errors, per frame."""
    nt = p_host.shape[0]
    nq = spec.nq
    cmat = _x_to_mu_matrix(nq, p_host[0, LD_X0], p_host[0, LD_SCALE])
    lawm = spec.law_coefficients(None)
    ncoef = lawm.shape[0]
    i0 = np.full(nt, np.nan)
    i0_err = np.full(nt, np.nan)
    poly = np.full((nt, nq), np.nan)
    coef = np.full((nt, ncoef), np.nan)
    coef_err = np.full((nt, ncoef), np.nan)
    for t in range(nt):
        q = p_host[t, LD_COEFFS:LD_COEFFS + nq]
        if not np.all(np.isfinite(q)):
            continue
        s = sums[t]
        h = np.array([[s[k + m] for m in range(nq)] for k in range(nq)])
        normal = basis @ h @ basis.T
        try:
            cov_c = p_host[t, LD_SIGMA] ** 2 * np.linalg.inv(normal)
        except np.linalg.LinAlgError:
            cov_c = np.full_like(normal, np.nan)
        cov_q = basis.T @ cov_c @ basis
        pm = cmat @ q
        i0[t] = pm.sum()
        a = pm / i0[t]
        poly[t] = a
        grad_i0 = cmat.sum(axis=0)
        i0_err[t] = math.sqrt(max(grad_i0 @ cov_q @ grad_i0, 0.0))
        g = (cmat - np.outer(a, grad_i0)) / i0[t]
        cov_a = g @ cov_q @ g.T
        coef[t] = lawm @ a
        coef_err[t] = np.sqrt(np.clip(np.diag(lawm @ cov_a @ lawm.T), 0.0, None))
    return i0, i0_err, poly, coef, coef_err


def fit_limb_darkening(ds: xr.Dataset, *, law: str | LimbDarkening = "poly5",
                       variable: str | None = None, mu_min: float = 0.1,
                       clip_sigma: float | None = 3.0, max_iter: int = 10,
                       device: str = "auto") -> xr.Dataset:
    """Fit the centre-to-limb profile ``I(μ) = I₀ L(μ)`` of every frame, robustly.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset (``docs/dataset.md``) with one image variable (or name it
        with ``variable``); μ comes from its ``mu`` coordinate or is computed.
    law : str or LimbDarkening
        ``"linear"``, ``"quadratic"``, ``"poly1"``…``"poly7"`` (free polynomial in
        μ; ``"poly5"`` is the form of Neckel & Labs 1994), ``"neckel_labs"``
        (Neckel & Labs 1994 at the Dataset's wavelength, only I₀ free) or a
        :class:`LimbDarkening` (fixed shape, only I₀ free).
    mu_min : float
        Pixels with ``μ < mu_min`` are not fitted; in (0, 1].
    clip_sigma : float or None
        Pixels whose residual exceeds ``clip_sigma`` × the residual rms are left
        out of the next iteration (spots, faculae, flares); ``None``/0: no clipping.
    max_iter : int
        Largest number of clipping iterations; iteration stops earlier when the
        set of kept pixels no longer changes.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    xarray.Dataset
        Along ``time``: ``i0`` (disk-centre intensity, the variable's units) and
        ``i0_err``; ``coefficients`` and ``coefficients_err`` (dims ``time,
        coefficient``: ``u`` for linear, ``u1, u2`` for quadratic, ``a0…aN`` of
        ``L(μ) = Σ a_k μ^k`` otherwise); ``polynomial`` (``time, power``: the
        fitted ``L`` in ascending powers of μ, ``L(1) = 1``); ``sigma`` (rms of the
        kept residuals), ``n_used`` and ``clipped_fraction``.

    Notes
    -----
    The model is linear in its coefficients, so each iteration is one pass of
    float64 normal-equation sums over the frame and a tiny solve (see
    ``docs/photometry.md``). The 1σ uncertainties are
    :math:`\\sigma^2 (A^T A)^{-1}` propagated to ``I₀ = Σ p_k`` and ``a_k = p_k/I₀``
    (pixels treated as independent with equal variance). References: Neckel &
    Labs (1994, Sol. Phys. 153, 91); Pierce & Slaughter (1977, Sol. Phys. 51, 25).
    """
    mu_min = check_mu_min(mu_min)
    variable = image_variable(ds, variable)
    device = backend.resolve_device(device, ds)
    spec = _law_spec(law, ds)
    ds = with_mu(ds, device)
    options = dict(spec=spec, mu_min=mu_min, clip_sigma=clip_sigma, max_iter=max_iter)
    columns = frame_apply(_fit_frames, ds, variable, device=device,
                          outputs=[(_FIT_DIMS[name][1:], np.float32, "cpu") for name in _FIT_DIMS],
                          output_sizes={"coefficient": len(spec.coefficient_names),
                                        "power": spec.nq}, **options)
    return _fit_dataset(ds, variable, spec, dict(zip(_FIT_DIMS, columns)), mu_min, clip_sigma)


#: The per-frame columns of a fit, with their dims.
_FIT_DIMS = {"i0": ("time",), "i0_err": ("time",), "coefficients": ("time", "coefficient"),
             "coefficients_err": ("time", "coefficient"), "polynomial": ("time", "power"),
             "sigma": ("time",), "n_used": ("time",), "clipped_fraction": ("time",)}


def _fit_columns(image, mu, frames, *, spec, mu_min, clip_sigma, max_iter, device):
    """Fit every frame; returns the parameters on the device and the float32 columns."""
    p_dev, p_host, sums, eligible, basis = _run_fit(
        as_image(image, device), as_mu(mu, device), spec, mu_min, clip_sigma, max_iter, device,
        frames=frames)
    i0, i0_err, poly, coef, coef_err = _uncertainties(spec, p_host, sums, basis)
    used = p_host[:, LD_USED]
    columns = (i0, i0_err, coef, coef_err, poly, p_host[:, LD_SIGMA], used, 1.0 - used / eligible)
    return p_dev, tuple(np.asarray(c, dtype=np.float32) for c in columns)


def _fit_frames(image, mu, frames=None, **options):
    """The fit columns of a stack of frames (or a block of one), in :data:`_FIT_DIMS` order."""
    return _fit_columns(image, mu, frames, **options)[1]


def _fit_dataset(ds, variable, spec, columns, mu_min, clip_sigma):
    units = ds[variable].attrs.get("units", "")
    long_names = {
        "i0": (units, "disk-centre intensity I(μ=1) of the fit"),
        "i0_err": (units, "1σ uncertainty of i0"),
        "coefficients": ("", f"limb-darkening coefficients ({spec.name})"),
        "coefficients_err": ("", "1σ uncertainty of coefficients"),
        "polynomial": ("", "fitted L(μ) = Σ a_k μ^k, L(1) = 1"),
        "sigma": (units, "rms of the kept residuals"),
        "n_used": ("", "pixels kept by the last iteration"),
        "clipped_fraction": ("", "fraction of eligible pixels clipped"),
    }
    out = xr.Dataset(
        {name: float32_var(_FIT_DIMS[name], columns[name], *long_names[name])
         for name in _FIT_DIMS},
        coords={"time": ds["time"].values, "coefficient": spec.coefficient_names,
                "power": np.arange(spec.nq)},
        attrs={"Conventions": CONVENTIONS, "title": f"limb-darkening fit of {variable}",
               "law": spec.name, "variable": variable, "mu_min": mu_min,
               "clip_sigma": float(clip_sigma or 0.0),
               "instrument": ds.attrs.get("instrument", ""),
               "history": ds.attrs.get("history", "")})
    for name in ("dsun_obs",):
        if name in ds.coords:
            out = out.assign_coords({name: ("time", np.asarray(ds[name].values))})
    return append_history(out, f"fit_limb_darkening(law={spec.name!r}, mu_min={mu_min}, "
                               f"clip_sigma={clip_sigma})")


def _params_from_profile(i0, poly, mu_min, nt):
    """Parameter rows for the divide kernel from I₀ (per frame) and L's μ-coefficients."""
    from kernels.params import LD_MAX_COEFFS, limb_darkening_params

    poly = np.atleast_2d(np.asarray(poly, dtype=float))
    if poly.shape[0] == 1:
        poly = np.repeat(poly, nt, axis=0)
    i0 = np.broadcast_to(np.asarray(i0, dtype=float), (nt,))
    nq = poly.shape[1]
    if nq > LD_MAX_COEFFS:
        raise PhotometryError(f"limb-darkening polynomials of degree > {LD_MAX_COEFFS - 1} "
                              "are not supported")
    x0, xs = _x_frame(mu_min)
    coefficients = np.array([_affine(poly[t] * i0[t], x0, 1.0 / xs) for t in range(nt)])
    return limb_darkening_params(nt, mu_min=mu_min, x0=x0, scale=xs, nq=nq,
                                 coefficients=coefficients)


def _fit_and_divide(image, mu, frames=None, *, device, **options):
    """Fit and remove the profile of every frame: ``(contrast, I₀, L's μ-coefficients)``."""
    xp = backend.array_module(device)
    image, mu = as_image(image, device), as_mu(mu, device)
    p_dev, columns = _fit_columns(image, mu, frames, device=device, **options)
    out = xp.empty_like(image)
    _kernels(device)[2](image, mu, p_dev, out)
    return out, columns[0], columns[4]


def _divide_frames(image, mu, params, frames=None, *, device):
    """Divide every frame by the profile of its parameter row (:func:`_params_from_profile`)."""
    xp = backend.array_module(device)
    image, mu = as_image(image, device), as_mu(mu, device)
    out = xp.empty_like(image)
    _kernels(device)[2](image, mu, xp.asarray(params), out)
    return out


def remove_limb_darkening(ds: xr.Dataset, fit: xr.Dataset | LimbDarkening | None = None, *,
                          variable: str | None = None, law: str | LimbDarkening = "poly5",
                          i0: float | npt.ArrayLike | None = None, mu_min: float = 0.1,
                          clip_sigma: float | None = 3.0, max_iter: int = 10,
                          device: str = "auto") -> xr.Dataset:
    """Divide every frame by its limb-darkening profile: a contrast image, 1 over the quiet Sun.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset with one image variable (or name it with ``variable``).
    fit : xarray.Dataset or LimbDarkening, optional
        The profile: a :func:`fit_limb_darkening` result, or a law whose shape is
        kept (with ``i0`` given, nothing is fitted; without, I₀ is fitted per
        frame). ``None``: fit ``law`` per frame first (fused with the division).
    law, mu_min, clip_sigma, max_iter
        As for :func:`fit_limb_darkening` (used when something is fitted);
        ``mu_min`` also sets where the contrast is defined.
    i0 : float or array, optional
        Disk-centre intensity per frame for a given law.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    xarray.Dataset
        ``ds`` with the variable replaced by ``I / (I₀ L(μ))`` (float32, units
        ``""``; NaN where ``μ < mu_min`` or off the disk), and the profile used as
        ``ld_i0`` (time) and ``ld_polynomial`` (time, power) so that
        :func:`add_limb_darkening` can invert it.
    """
    mu_min = check_mu_min(mu_min)
    variable = image_variable(ds, variable)
    device = backend.resolve_device(device, ds)
    units = ds[variable].attrs.get("units", "")
    ds = with_mu(ds, device)
    nt = ds.sizes["time"]
    image_out = [(("y", "x"), np.float32)]
    if fit is None or (isinstance(fit, LimbDarkening) and i0 is None):
        spec = _law_spec(law if fit is None else fit, ds)
        out, i0_t, poly = frame_apply(
            _fit_and_divide, ds, variable, device=device,
            outputs=image_out + [((), np.float32, "cpu"), (("power",), np.float32, "cpu")],
            output_sizes={"power": spec.nq}, spec=spec, mu_min=mu_min, clip_sigma=clip_sigma,
            max_iter=max_iter)
        label = f"fit {spec.name}"
    else:
        if isinstance(fit, LimbDarkening):
            poly, i0_t = np.array(fit.coefficients)[None], i0
            label = fit.name
        elif isinstance(fit, xr.Dataset) and "polynomial" in fit and "i0" in fit:
            if fit.sizes["time"] != nt:
                raise PhotometryError(f"the fit has {fit.sizes['time']} frames, the Dataset {nt}")
            poly, i0_t = to_host(fit["polynomial"].data), to_host(fit["i0"].data)
            label = f"given fit {fit.attrs.get('law', '')}"
        else:
            raise PhotometryError("fit must be a fit_limb_darkening Dataset, a LimbDarkening "
                                  f"or None, not {type(fit).__name__}")
        out = frame_apply(_divide_frames, ds, variable,
                          _params_from_profile(i0_t, poly, mu_min, nt), device=device,
                          outputs=image_out)
        nq = np.asarray(poly).shape[-1]
        poly = np.broadcast_to(np.atleast_2d(np.asarray(poly, dtype=float)), (nt, nq))
        i0_t = np.broadcast_to(np.asarray(i0_t, float), (nt,))
    result = ds.copy()
    result[variable] = xr.Variable(ds[variable].dims, out, {
        **ds[variable].attrs, "units": "",
        "long_name": f"{ds[variable].attrs.get('long_name', variable)} / limb-darkening profile"})
    result["ld_i0"] = float32_var(("time",), i0_t, units,
                                  "disk-centre intensity of the removed profile")
    result["ld_polynomial"] = float32_var(("time", "power"), poly, "",
                                          "removed L(μ) = Σ a_k μ^k")
    result = result.assign_coords(power=np.arange(poly.shape[-1]))
    return append_history(result, f"remove_limb_darkening({variable!r}, {label}, "
                                  f"mu_min={mu_min}, device={device!r})")


def add_limb_darkening(ds: xr.Dataset, law: LimbDarkening | xr.Dataset | None = None, *,
                       i0: float | npt.ArrayLike | None = None, variable: str | None = None,
                       units: str | None = None, device: str = "auto") -> xr.Dataset:
    """Multiply a contrast image by a limb-darkening profile: ``I = C · I₀ · L(μ)``.

    Parameters
    ----------
    ds : xarray.Dataset
        A solar Dataset whose variable is a contrast (e.g. from
        :func:`remove_limb_darkening`).
    law : LimbDarkening or xarray.Dataset, optional
        The profile; default: the ``ld_i0``/``ld_polynomial`` variables that
        :func:`remove_limb_darkening` left in ``ds``.
    i0 : float or array, optional
        Disk-centre intensity per frame (required with a LimbDarkening).
    units : str, optional
        Units of the result (default: those of ``ld_i0``, or ``""``).

    Returns
    -------
    xarray.Dataset
        ``ds`` with the variable multiplied by ``I₀ L(μ)`` (NaN off the disk).
    """
    variable = image_variable(ds, variable)
    device = backend.resolve_device(device, ds)
    xp = backend.array_module(device)
    nt = ds.sizes["time"]
    if law is None:
        if "ld_polynomial" not in ds or "ld_i0" not in ds:
            raise PhotometryError("no profile given and the Dataset has no ld_i0/ld_polynomial "
                                  "(from remove_limb_darkening): pass law= and i0=")
        poly = to_host(ds["ld_polynomial"].data)
        i0_t = to_host(ds["ld_i0"].data) if i0 is None else i0
        units = ds["ld_i0"].attrs.get("units", "") if units is None else units
    elif isinstance(law, LimbDarkening):
        if i0 is None:
            raise PhotometryError("add_limb_darkening with a LimbDarkening needs i0= "
                                  "(the disk-centre intensity)")
        poly, i0_t = np.array(law.coefficients)[None], i0
    elif isinstance(law, xr.Dataset):
        poly = to_host(law["polynomial"].data)
        i0_t = to_host(law["i0"].data) if i0 is None else i0
        units = law["i0"].attrs.get("units", "") if units is None else units
    else:
        raise PhotometryError(f"law must be a LimbDarkening or a fit Dataset, not {law!r}")
    poly = np.broadcast_to(np.atleast_2d(np.asarray(poly, float)), (nt, np.shape(poly)[-1]))
    i0_t = np.broadcast_to(np.asarray(i0_t, float), (nt,))
    ds, mu = mu_array(ds, device)
    image = image_array(ds, variable, device)
    out = xp.empty_like(image)
    for t in range(nt):
        profile = LimbDarkening(tuple(poly[t]))(mu[t if mu.shape[0] > 1 else 0])
        out[t] = image[t] * np.float32(i0_t[t]) * profile
    result = ds.copy()
    attrs = {**ds[variable].attrs, "units": units or ""}
    attrs["long_name"] = attrs.get("long_name", variable).replace(" / limb-darkening profile", "")
    result[variable] = xr.Variable(ds[variable].dims, out, attrs)
    result = result.drop_vars([v for v in ("ld_i0", "ld_polynomial") if v in result])
    return append_history(result, f"add_limb_darkening({variable!r}, device={device!r})")
