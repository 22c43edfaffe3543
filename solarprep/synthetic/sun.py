"""The synthetic Sun: seeded observations with known truth, as sunpy Maps or FITS files.

:class:`SyntheticSun` ties the models together. For each frame it computes the
observer (ephemeris, vectorised over times), the image WCS (full disk centred on
the Sun, HMI 0.504″ or AIA 0.6″ per pixel at 4096², scaled as 4096/N), the
per-pixel μ and Stonyhurst latitude/longitude with the project's geometry
kernel, and the positions of the features rotated from ``t0``; then it evaluates
the requested observable on those arrays (vectorised NumPy and small numba
kernels; each feature only inside its pixel window) and wraps it in a sunpy Map
with an SDO-like header. Every random element is drawn from
``numpy.random.SeedSequence([seed, tag, time…])``: the same seed and time give
identical arrays.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import pathlib
import time as _time
from typing import TYPE_CHECKING, Any

import numpy as np

from solarprep.coordinates.rotation import get_law
from solarprep.dataset import as_seconds
from solarprep.synthetic import corona
from solarprep.synthetic.doppler import DopplerParams, PModes, rotation_velocity
from solarprep.synthetic.features import (
    ActiveRegion,
    Facula,
    Sunspot,
    emergence_factor,
    feature_window,
    random_features,
)
from solarprep.synthetic.fits import aia_header, hmi_header, make_map, write_fits
from solarprep.synthetic.goes import goes_xrs
from solarprep.synthetic.magnetic import NetworkField, add_polarities
from solarprep.synthetic.observer import (
    RSUN_SDO,
    Observer,
    image_geometry,
    observer_states,
    pixel_geometry,
    sky_geometry,
    stonyhurst_drift,
)
from solarprep.synthetic.photosphere import (
    DEFAULT_LIMB_DARKENING,
    LimbDarkening,
    distance_to,
    facula_brightening,
    spot_contrast,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator, Sequence

    import sunpy.map
    import xarray as xr
    from astropy.time import Time

    from solarprep.coordinates.rotation import RotationLaw
    from solarprep.dataset import Duration
    from solarprep.synthetic.goes import Flare

__all__ = ["SyntheticSun", "INSTRUMENTS"]

log = logging.getLogger(__name__)

#: Plate scale at 4096² (arcsec/pixel) and default CROTA2 (deg) of the two SDO instruments.
INSTRUMENTS = {"hmi": {"scale": 0.504, "crota2": 179.93},
               "aia": {"scale": 0.6, "crota2": 0.0}}

_HMI_KINDS = ("continuum", "magnetogram", "dopplergram", "radial_field")


@dataclasses.dataclass
class _Frame:
    time: object
    dt: float
    drift: float
    states: object
    k: int
    geometry: object
    shape: tuple
    mu: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    on_disk: np.ndarray


def _as_time(t):
    from astropy.time import Time

    return t if isinstance(t, Time) else Time(t, scale="utc")


def _shape(shape):
    if np.isscalar(shape):
        shape = (int(shape), int(shape))
    ny, nx = (int(s) for s in shape)
    if ny < 2 or nx < 2:
        raise ValueError(f"image shape must be at least 2×2, not {shape!r}")
    return ny, nx


def _time_key(t):
    return int(round(t.utc.unix * 1000.0)) + 10**13


def _limb_darkening(value):
    if value is None:
        return DEFAULT_LIMB_DARKENING
    if isinstance(value, LimbDarkening):
        return value
    if isinstance(value, str) and value.lower().replace("-", "_") in ("neckel_labs", "neckel"):
        return LimbDarkening.neckel_labs_6173()
    coeffs = tuple(float(c) for c in value)
    if len(coeffs) == 2:
        return LimbDarkening.quadratic(*coeffs)
    return LimbDarkening.polynomial(coeffs)


class SyntheticSun:
    """A deterministic synthetic Sun observed by HMI- and AIA-like instruments.

    Parameters
    ----------
    seed : int
        Seeds every random element (features, network, noise, p modes, flares);
        the same seed gives identical arrays.
    law : str, RotationLaw or tuple
        Sidereal differential rotation (:func:`solarprep.coordinates.rotation.get_law`); default
        ``"howard"``.
    features : list, optional
        :class:`Sunspot`, :class:`Facula` and :class:`ActiveRegion` objects defined
        at ``t0``; ``None`` draws a seeded random set (:func:`random_features`),
        ``[]`` gives a quiet Sun.
    observer : "earth" or Observer
        Where the instruments are: the Earth's centre (ephemeris) or a fixed
        Stonyhurst position.
    t0 : str or astropy.time.Time
        Reference time of the feature positions.
    limb_darkening : LimbDarkening, (u1, u2), coefficient list or "neckel_labs"
        Continuum limb darkening; default quadratic u1 = 0.421, u2 = 0.212.
    n_regions : int, optional
        Number of random active regions when ``features`` is None.
    continuum_intensity : float
        Disk-centre continuum, DN/s (real hmi.Ic_45s: about 6e4), at any distance.
    network_rms : float
        rms of the network radial field, G.
    noise : bool
        Add noise to every observable (each method can override).
    continuum_noise : float
        Relative Gaussian noise of the continuum.
    magnetogram_noise : float
        Gaussian noise of the magnetogram, G.
    doppler : DopplerParams, optional
        Dopplergram model parameters.
    hmi_crota2, aia_crota2 : float
        Image rotation written to the headers (HMI images are stored about 180°
        rotated, as real ones are).

    Examples
    --------
    >>> sun = SyntheticSun(seed=1)                                  # doctest: +SKIP
    >>> ic = sun.continuum("2024-05-01T06:00", shape=512)           # a sunpy HMIMap
    >>> paths = sun.write_observations("obs/", kinds=("continuum", "euv"), shape=256)
    """

    def __init__(self, seed: int = 0, *, law: str | RotationLaw | tuple = "howard",
                 features: Sequence[Sunspot | Facula | ActiveRegion] | None = None,
                 observer: str | Observer = "earth", t0: str | Time = "2024-05-01T00:00",
                 limb_darkening: LimbDarkening | Sequence[float] | str | None = None,
                 n_regions: int | None = None, continuum_intensity: float = 6.0e4,
                 network_rms: float = 10.0, noise: bool = True, continuum_noise: float = 1e-3,
                 magnetogram_noise: float = 8.0, doppler: DopplerParams | None = None,
                 hmi_crota2: float = INSTRUMENTS["hmi"]["crota2"],
                 aia_crota2: float = INSTRUMENTS["aia"]["crota2"]) -> None:
        self.seed = int(seed)
        self.law = get_law(law)
        self.t0 = _as_time(t0)
        if isinstance(observer, str):
            observer = observer.lower()
        if not (observer == "earth" or isinstance(observer, Observer)):
            raise ValueError(f"observer must be 'earth' or a synthetic.Observer, not {observer!r}")
        self.observer = observer
        if features is None:
            features = random_features(self.seed, self.t0, n_regions)
        for f in features:
            if not isinstance(f, (Sunspot, Facula, ActiveRegion)):
                raise TypeError("features must be Sunspot, Facula or ActiveRegion objects, "
                                f"not {f!r}")
        self.features = list(features)
        self.limb_darkening = _limb_darkening(limb_darkening)
        self.continuum_intensity = float(continuum_intensity)
        self.network = NetworkField(self.seed, rms=network_rms)
        self.noise = bool(noise)
        self.continuum_noise = float(continuum_noise)
        self.magnetogram_noise = float(magnetogram_noise)
        self.doppler = doppler if doppler is not None else DopplerParams()
        self.crota2 = {"hmi": float(hmi_crota2), "aia": float(aia_crota2)}

    def __repr__(self):
        return (f"SyntheticSun(seed={self.seed}, law={self.law.name!r}, t0={self.t0.isot!r}, "
                f"{len(self.features)} features, observer={self.observer!r})")

    # ------------------------------------------------------------------ geometry

    def _frames(self, times, instrument, shape, cdelt=None, crota2=None):
        from astropy.time import Time

        times = _as_time(times)
        times = Time([times]) if times.isscalar else times
        shape = _shape(shape)
        states = observer_states(self.observer, times)
        drift = stonyhurst_drift(self.t0, times)
        dts = (times - self.t0).to_value("s")
        if cdelt is None:
            cdelt = INSTRUMENTS[instrument]["scale"] * 4096.0 / max(shape)
        rot = self.crota2[instrument] if crota2 is None else float(crota2)
        for k in range(len(times)):
            geom = image_geometry(states, k, shape, cdelt, rot, RSUN_SDO)
            mu, lat, lon, on_disk = pixel_geometry(geom, shape)
            yield _Frame(times[k], float(dts[k]), float(drift[k]), states, k, geom, shape,
                         mu, lat, lon, on_disk)

    def _frame(self, time, instrument, shape, cdelt=None, crota2=None):
        return next(self._frames(time, instrument, shape, cdelt, crota2))

    def geometry(self, time: str | Time, shape: int | tuple[int, int] = 512, instrument: str = "hmi", *,
                 cdelt: float | None = None, crota2: float | None = None) -> dict[str, Any]:
        """Pixel geometry of an image: ``dict(geometry=FrameGeometry, mu, lat, lon, on_disk)``."""
        f = self._frame(time, instrument, shape, cdelt, crota2)
        return {"geometry": f.geometry, "mu": f.mu, "lat": f.lat, "lon": f.lon,
                "on_disk": f.on_disk}

    # ------------------------------------------------------------------ features

    def _rotate(self, lat, lon, dt, drift):
        """Stonyhurst longitude at ``t0 + dt`` of a surface point at ``(lat, lon)`` at ``t0``."""
        return float(lon + self.law.delta_lon(dt, lat) + drift)

    def _factor(self, feature, dt):
        return emergence_factor(feature, dt, self.t0)

    def _spots(self, frame):
        for f in self.features:
            if isinstance(f, Sunspot):
                factor = self._factor(f, frame.dt)
                if factor > 1e-6:
                    yield f, f.lat, self._rotate(f.lat, f.lon, frame.dt, frame.drift), factor

    def _faculae(self, frame):
        for f in self.features:
            if isinstance(f, Facula):
                factor = self._factor(f, frame.dt)
                if factor > 1e-6:
                    yield f, f.lat, self._rotate(f.lat, f.lon, frame.dt, frame.drift), factor

    def _regions(self, dt, drift):
        """Per active region: ``[(lat, lon, b_signed, sigma)] × 2`` at ``t0 + dt``."""
        out = []
        for f in self.features:
            if isinstance(f, ActiveRegion):
                factor = self._factor(f, dt)
                pols = [(la, self._rotate(la, lo, dt, drift), s * f.peak_field * factor, f.sigma)
                        for la, lo, s in f.polarities()]
                out.append((f, factor, pols))
        return out

    def _radial_field_ar(self, frame):
        br = np.zeros(frame.shape, np.float32)
        for _, factor, pols in self._regions(frame.dt, frame.drift):
            if factor > 1e-9:
                add_polarities(br, frame.lat, frame.lon, frame.geometry, pols)
        return br

    def _radial_field(self, frame):
        lon_corot = (frame.lon - np.degrees(self.law.rate(frame.lat) * frame.dt)
                     - np.float32(frame.drift)).astype(np.float32)
        br = self.network(frame.lat, lon_corot)
        br += self._radial_field_ar(frame)
        return br

    def truth(self, time: str | Time) -> dict[str, Any]:
        """What the synthetic observations contain at ``time``.

        Returns
        -------
        dict
            ``time``; ``observer`` (dsun_obs m, hgln_obs/hglt_obs/crln_obs/crlt_obs deg,
            obs_vr/vw/vn m/s); ``continuum_i0`` (disk-centre continuum, DN/s);
            ``drift`` (deg); ``features``: one dict per feature with its kind, name,
            Stonyhurst ``lat``/``lon`` (deg) at ``time``, emergence ``factor`` and,
            for active regions, ``polarities`` (lat, lon, sign, peak_field G, flux Mx).
        """
        time = _as_time(time)
        states = observer_states(self.observer, time)
        drift = float(stonyhurst_drift(self.t0, time)[0])
        dt = float((time - self.t0).to_value("s"))
        features = []
        regions = {id(f): (factor, pols) for f, factor, pols in self._regions(dt, drift)}
        for f in self.features:
            factor = self._factor(f, dt)
            row = {"kind": type(f).__name__, "name": f.name, "lat": f.lat,
                   "lon": _wrap(self._rotate(f.lat, f.lon, dt, drift)), "factor": factor}
            if isinstance(f, ActiveRegion):
                _, pols = regions[id(f)]
                row["polarities"] = [
                    {"lat": la, "lon": _wrap(lo), "sign": int(np.sign(b)) or s,
                     "peak_field": abs(b), "flux": f.flux * factor}
                    for (la, lo, b, _), (_, _, s) in zip(pols, f.polarities())]
            if isinstance(f, Sunspot):
                row["radius"] = f.radius * math.sqrt(factor)
            features.append(row)
        return {
            "time": time,
            "observer": {"dsun_obs": float(states.dsun[0]), "hgln_obs": float(states.hgln[0]),
                         "hglt_obs": float(states.hglt[0]), "crln_obs": float(states.crln[0]),
                         "crlt_obs": float(states.crlt[0]), "obs_vr": float(states.obs_vr[0]),
                         "obs_vw": float(states.obs_vw[0]), "obs_vn": float(states.obs_vn[0]),
                         "name": states.name},
            "continuum_i0": self._i0(states.dsun[0]),
            "drift": drift,
            "features": features,
        }

    def _i0(self, dsun):
        # Specific intensity (surface brightness) does not depend on the observer's distance:
        # a pixel sees the same radiance from 0.98 or 1.02 AU; only the disk-integrated flux
        # scales as 1/d² (through the solid angle of the disk).
        del dsun
        return self.continuum_intensity

    def _rng(self, tag, time, *extra):
        return np.random.default_rng(np.random.SeedSequence(
            [self.seed, tag, _time_key(time), *[int(e) for e in extra]]))

    def _noise(self, noise):
        return self.noise if noise is None else bool(noise)

    # ------------------------------------------------------------------ observables

    def continuum(self, time: str | Time, shape: int | tuple[int, int] = 512, *, noise: bool | None = None,
                  cdelt: float | None = None, crota2: float | None = None) -> sunpy.map.GenericMap:
        """HMI-like continuum intensity (DN/s, NaN off the disk) as an HMIMap."""
        tic = _time.perf_counter()
        f = self._frame(time, "hmi", shape, cdelt, crota2)
        img = self.limb_darkening(f.mu)
        for spot, lat, lon, factor in self._spots(f):
            radius = spot.radius * math.sqrt(factor)
            window = feature_window(f.geometry, f.shape, lat, lon, 1.3 * radius)
            if window is None:
                continue
            d = distance_to(f.lat, f.lon, window, lat, lon)
            c = spot_contrast(d, radius, spot.umbra_fraction, spot.umbra_contrast,
                              spot.penumbra_contrast)
            img[window] *= c.astype(np.float32)
        for fac, lat, lon, factor in self._faculae(f):
            window = feature_window(f.geometry, f.shape, lat, lon, 2.5 * fac.radius)
            if window is None:
                continue
            d = distance_to(f.lat, f.lon, window, lat, lon)
            b = facula_brightening(d, f.mu[window].astype(np.float64), fac.radius,
                                   fac.contrast * factor)
            img[window] *= (1.0 + np.nan_to_num(b)).astype(np.float32)
        img *= np.float32(self._i0(f.geometry.dsun_obs))
        if self._noise(noise) and self.continuum_noise > 0:
            rng = self._rng(3, f.time)
            img *= 1.0 + np.float32(self.continuum_noise) * rng.standard_normal(f.shape, np.float32)
        log.debug("continuum %s in %.3f s", f.shape, _time.perf_counter() - tic)
        return self._hmi_map("continuum", img, f)

    def radial_field(self, time: str | Time, shape: int | tuple[int, int] = 512, *,
                     cdelt: float | None = None, crota2: float | None = None) -> sunpy.map.GenericMap:
        """The true radial field B_r (G, no noise) on the HMI grid, as an HMIMap."""
        f = self._frame(time, "hmi", shape, cdelt, crota2)
        return self._hmi_map("radial_field", self._radial_field(f), f)

    def magnetogram(self, time: str | Time, shape: int | tuple[int, int] = 512, *,
                    noise: bool | None = None, cdelt: float | None = None,
                    crota2: float | None = None) -> sunpy.map.GenericMap:
        """HMI-like line-of-sight magnetogram ``B_r·μ`` + noise (G, NaN off the disk)."""
        f = self._frame(time, "hmi", shape, cdelt, crota2)
        blos = self._radial_field(f) * f.mu
        if self._noise(noise) and self.magnetogram_noise > 0:
            rng = self._rng(4, f.time)
            blos += np.float32(self.magnetogram_noise) * rng.standard_normal(f.shape, np.float32)
        return self._hmi_map("magnetogram", blos, f)

    def euv(self, time: str | Time, wavelength: int = 171, shape: int | tuple[int, int] = 512, *,
            noise: bool | None = None, cdelt: float | None = None,
            crota2: float | None = None) -> sunpy.map.GenericMap:
        """AIA-like EUV/UV image (DN, with off-limb emission) as an AIAMap.

        ``wavelength`` (Å) is one of 94, 131, 171, 193, 211, 304, 335, 1600, 1700.
        """
        wavelength = int(wavelength)
        if wavelength not in corona.PASSBANDS:
            raise ValueError(f"no AIA-like passband {wavelength!r}: use one of "
                             f"{sorted(corona.PASSBANDS)}")
        pb = corona.PASSBANDS[wavelength]
        f = self._frame(time, "aia", shape, cdelt, crota2)
        impact, angle = sky_geometry(f.geometry, f.shape)
        img = corona.quiet_profiles(pb, f.mu, impact)
        regions = [pols for _, factor, pols in self._regions(f.dt, f.drift) if factor > 1e-9]
        if regions:
            proxy = corona.coronal_proxy(f.lat, f.lon, f.geometry, regions)
            img += (pb.ar_gain * (proxy / 100.0) ** pb.ar_index).astype(np.float32)
            angles, limb = corona.limb_proxy(f.geometry, regions)
            off = ~f.on_disk
            h = np.maximum(impact[off] - 1.0, 0.0)
            limb_ar = pb.ar_gain * (np.interp(angle[off], angles, limb) / 100.0) ** pb.ar_index
            img[off] += (limb_ar * np.exp(-h / max(pb.scale_height, 0.02))).astype(np.float32)
        scale = pb.quiet * pb.exptime  # radiance: independent of the observer distance
        img *= np.float32(scale)
        if self._noise(noise):
            rng = self._rng(5, f.time, wavelength)
            sigma = np.sqrt(pb.dn_per_photon * np.maximum(img, 0.0) + corona.AIA_READ_NOISE**2)
            img += sigma * rng.standard_normal(f.shape, np.float32)
        header = aia_header(wavelength, f.time, f.geometry, f.states, f.k, f.shape,
                            exptime=pb.exptime, camera=pb.camera, seed=self.seed,
                            extra=self._extra())
        return make_map(img, header)

    def dopplergram(self, time: str | Time, shape: int | tuple[int, int] = 512, *,
                    noise: bool | None = None, cdelt: float | None = None,
                    crota2: float | None = None) -> sunpy.map.GenericMap:
        """One HMI-like Dopplergram (the first frame of a cube starting at ``time``)."""
        return next(self.dopplergram_cube(time, 1, shape=shape, noise=noise, cdelt=cdelt,
                                          crota2=crota2))

    def dopplergram_cube(self, start: str | Time, n_frames: int, cadence: Duration = 45.0,
                         shape: int | tuple[int, int] = 512, *, noise: bool | None = None,
                         cdelt: float | None = None,
                         crota2: float | None = None) -> Iterator[sunpy.map.GenericMap]:
        """HMI-like Dopplergrams (m/s, + = away from the observer), generated frame by frame.

        Parameters
        ----------
        start : str or astropy.time.Time
            Time of the first frame.
        n_frames : int
        cadence : float or Quantity
            Seconds between frames (default 45 s, as HMI).
        shape : int or tuple

        Returns
        -------
        iterator of sunpy.map.sources.HMIMap
            One Map per frame, made when asked for (a 640-frame 512² cube never
            needs to be in memory at once); the p modes are continuous from frame to
            frame. The arguments are checked at once.
        """
        import astropy.units as u

        start = _as_time(start)
        n_frames = int(n_frames)
        if n_frames < 1:
            raise ValueError(f"n_frames must be at least 1, not {n_frames}")
        step = as_seconds(cadence, "cadence")
        if step <= 0:
            raise ValueError(f"cadence must be positive, not {cadence!r}")
        times = start + (np.arange(n_frames) * step) * u.s
        shape = _shape(shape)
        return self._doppler_frames(start, times, step, shape, noise, cdelt, crota2)

    def _doppler_frames(self, start, times, step, shape, noise, cdelt, crota2):
        params = self.doppler
        use_noise = self._noise(noise)
        pmodes = None
        for f in self._frames(times, "hmi", shape, cdelt, crota2):
            obs_pos = f.states.position(f.k)
            obs_vel = f.states.velocity[f.k] if params.observer_motion else np.zeros(3)
            v = rotation_velocity(f.lat, f.lon, self.law, obs_pos, obs_vel, f.geometry.rsun_ref)
            if params.convective_blueshift:
                v -= np.float32(params.convective_blueshift) * f.mu
            if params.pmode_rms > 0:
                if pmodes is None:
                    px_mm = (math.radians(f.geometry.cdelt1 / 3600.0)
                             * (f.geometry.dsun_obs - f.geometry.rsun_ref) / 1e6)
                    spacing = max(1, int(round(params.pmode_scale / px_mm)))
                    rng = np.random.default_rng(np.random.SeedSequence(
                        [self.seed, 6, _time_key(start), int(round(step * 1000)), *shape]))
                    pmodes = PModes(shape, spacing, step, params.pmode_frequency,
                                    params.pmode_width, rng)
                    pattern = pmodes.first()
                else:
                    pattern = pmodes.step()
                br = np.abs(self._radial_field_ar(f))
                amp = (np.float32(params.pmode_rms) * f.mu
                       * (1.0 - np.float32(params.suppression)
                          * np.tanh(br / np.float32(params.b_suppression))))
                v += amp * pattern
            if use_noise and params.noise > 0:
                rng = self._rng(8, f.time)
                v += np.float32(params.noise) * rng.standard_normal(shape, np.float32)
            yield self._hmi_map("dopplergram", v, f, cadence=step)

    def goes(self, start: str | Time, end: str | Time, cadence: Duration = 60.0, *,
             flares: Sequence[Flare | tuple[str | Time, str]] | None = None,
             background: str | float = "B5") -> xr.Dataset:
        """GOES/XRS-like 1–8 Å and 0.5–4 Å fluxes (see :func:`~solarprep.synthetic.goes_xrs`)."""
        return goes_xrs(start, end, cadence, flares=flares, background=background, seed=self.seed)

    # ------------------------------------------------------------------ output

    def _extra(self):
        return [("SYNLAW", self.law.name), ("SYNT0", self.t0.isot)]

    def _hmi_map(self, kind, data, f, cadence=45.0):
        header = hmi_header(kind, f.time, f.geometry, f.states, f.k, f.shape, seed=self.seed,
                            cadence=cadence, extra=self._extra())
        return make_map(data, header)

    def write_observations(self, folder: str | os.PathLike,
                           kinds: Iterable[str] = ("continuum", "magnetogram", "euv"),
                           times: str | Time | Sequence[str | Time] | None = None,
                           shape: int | tuple[int, int] = 512, *,
                           wavelengths: Iterable[int] = (171, 193, 304),
                           overwrite: bool = True) -> list[pathlib.Path]:
        """Write observations as FITS files that ``sunpy.map.Map`` / ``solarprep.load`` read.

        Parameters
        ----------
        folder : str or pathlib.Path
            Created if needed.
        kinds : iterable of str
            ``"continuum"``, ``"magnetogram"``, ``"dopplergram"``, ``"radial_field"``,
            ``"euv"`` (every wavelength of ``wavelengths``) or ``"euv<λ>"`` / ``"aia<λ>"``.
        times : time or list of times, optional
            Default: ``t0``. Dopplergrams at equally spaced times form one continuous cube.
        shape : int or tuple
        wavelengths : iterable of int
            For ``"euv"``.

        Returns
        -------
        list of pathlib.Path
            The files, in the order written.
        """
        from astropy.time import Time

        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        times = self.t0 if times is None else _as_time(times)
        times = Time([times]) if times.isscalar else times
        shape = _shape(shape)
        jobs = []
        for kind in ([kinds] if isinstance(kinds, str) else kinds):
            k = kind.lower()
            if k == "euv":
                jobs += [("euv", int(w)) for w in wavelengths]
            elif k.startswith(("euv", "aia")) and k[3:].isdigit():
                jobs.append(("euv", int(k[3:])))
            elif k in _HMI_KINDS:
                jobs.append((k, None))
            else:
                raise ValueError(f"unknown observation kind {kind!r}: use continuum, magnetogram, "
                                 "dopplergram, radial_field, euv or euv<wavelength>")
        paths = []
        n = f"{shape[1]}x{shape[0]}" if shape[0] != shape[1] else f"{shape[0]}"
        for kind, wave in jobs:
            if kind == "dopplergram":
                maps = self._doppler_maps(times, shape)
            else:
                maps = (self._one(kind, wave, t, shape) for t in times)
            for t, smap in zip(times, maps):
                stamp = t.utc.strftime("%Y%m%dT%H%M%S")
                name = (f"syn_aia{wave}_{stamp}_{n}px.fits" if kind == "euv"
                        else f"syn_hmi_{kind}_{stamp}_{n}px.fits")
                paths.append(write_fits(smap, folder / name, overwrite=overwrite))
        log.info("wrote %d synthetic FITS files to %s", len(paths), folder)
        return paths

    def _one(self, kind, wave, t, shape):
        if kind == "euv":
            return self.euv(t, wave, shape)
        return getattr(self, kind)(t, shape)

    def _doppler_maps(self, times, shape):
        if len(times) > 1:
            steps = np.diff((times - times[0]).to_value("s"))
            if np.all(steps > 0) and np.ptp(steps) < 1e-3:
                return self.dopplergram_cube(times[0], len(times), float(steps.mean()), shape)
        return (self.dopplergram(t, shape) for t in times)


def _wrap(lon):
    return (float(lon) + 180.0) % 360.0 - 180.0
