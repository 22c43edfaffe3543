"""Photometry: limb darkening and a disk-integrated light curve
============================================================

Main-job step: limb-darkening removal on a synthetic continuum and a synthetic light curve."""
import logging
import pathlib
import time

import numpy as np

__all__ = ["demo_step"]

log = logging.getLogger(__name__)


def demo_step(out, *, progress=True, size=512, frames=25, days=6.0):
    """Fit and remove limb darkening on a 512² synthetic continuum; light curve of a spot transit.

    Writes under ``out``: ``photometry_contrast.nc`` and ``.png`` (the contrast
    image), ``photometry_lightcurve.nc`` and ``.png`` (the 1-AU-normalised,
    limb-darkening-normalised disk-integrated flux of ``frames`` 256² frames over
    ``days`` days while a large spot group crosses the disk).

    Returns
    -------
    dict
        ``name``, ``seconds``, ``files``, ``metrics`` and a one-line ``note``.
    """
    from solarprep import load, plotting, save, synthetic
    from solarprep.photometry.integration import disk_integrate
    from solarprep.photometry.limb_darkening import LimbDarkening, fit_limb_darkening, remove_limb_darkening

    tic = time.perf_counter()
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    law = LimbDarkening.neckel_labs_6173()

    # 1. limb-darkening removal on a continuum with random active regions
    sun = synthetic.SyntheticSun(seed=7, limb_darkening=law, t0="2024-05-01")
    t = "2024-05-02T00:00"
    ds = load(sun.continuum(t, shape=size), progress=False)
    fit = fit_limb_darkening(ds, law="poly5")
    contrast = remove_limb_darkening(ds, fit)
    from solarprep.backend import to_device

    contrast = to_device(contrast, "cpu")
    path = out / "photometry_contrast.nc"
    save(contrast, path)
    files.append(str(path))
    fig = plotting.quicklook(contrast, "intensity")
    png = out / "photometry_contrast.png"
    plotting.save_figure(fig, png)
    files.append(str(png))
    c = np.asarray(contrast["intensity"].values[0])
    mu = np.asarray(contrast["mu"].values)
    quiet = np.isfinite(c) & (mu > 0.3) & (np.abs(c - 1) < 0.02)
    coef_err = float(np.max(np.abs(fit["polynomial"].values[0] - np.array(law.coefficients))))
    i0_true = sun.truth(t)["continuum_i0"]

    # 2. a synthetic light curve: a spot group crossing the disk, seen from a fixed observer
    #    at 1 AU, so that only the spots change the flux
    spots = [synthetic.Sunspot(lat=12.0, lon=-45.0, radius=2.5),
             synthetic.Sunspot(lat=14.0, lon=-37.0, radius=1.5)]
    observer = synthetic.Observer(distance=synthetic.observer.AU, lat=-4.0, lon=0.0,
                                  name="1 AU")
    transit = synthetic.SyntheticSun(seed=8, features=spots, limb_darkening=law,
                                     t0="2024-05-01", noise=False, observer=observer)
    import astropy.units as u
    from astropy.time import Time

    times = Time("2024-05-01") + np.linspace(0, days, frames) * u.day
    maps = [transit.continuum(tt, shape=256) for tt in _progress(times, progress)]
    cube = load(maps, progress=False)
    lc = disk_integrate(cube, reference="max",
                        limb_darkening=fit_limb_darkening(cube, law=law, clip_sigma=3.0))
    lc = to_device(lc, "cpu")
    lc["spot_signal"] = ((lc["relative_flux"] - 1.0) * 1e6).astype(np.float32).assign_attrs(
        units="", long_name="flux / limb-darkened quiet-disk flux − 1 (ppm)")
    path = out / "photometry_lightcurve.nc"
    save(lc, path)
    files.append(str(path))
    fig = plotting.plot_lightcurve(lc, ["relative_variation", "spot_signal"])
    fig.axes[0].set_ylabel("relative flux variation [ppm]")
    png = out / "photometry_lightcurve.png"
    plotting.save_figure(fig, png)
    files.append(str(png))
    rel = lc["relative_variation"].values
    metrics = {
        "ld_fit_max_coefficient_error": coef_err,
        "ld_fit_i0_relative_error": float(fit["i0"].values[0] / i0_true - 1),
        "ld_clipped_fraction": float(fit["clipped_fraction"].values[0]),
        "contrast_quiet_median_mu_gt_0.3": float(np.median(c[quiet])),
        "lightcurve_frames": int(lc.sizes["time"]),
        "lightcurve_min_ppm": float(np.nanmin(rel)),
        "lightcurve_max_ppm": float(np.nanmax(rel)),
        "spot_signal_min_ppm": float(np.nanmin(lc["spot_signal"].values)),
    }
    seconds = time.perf_counter() - tic
    note = (f"limb darkening fitted to {coef_err:.1e} (poly5) and removed; spot transit dip "
            f"{-metrics['spot_signal_min_ppm']:.0f} ppm below the quiet disk over {frames} frames")
    log.info("photometry demo: %s (%.1f s)", note, seconds)
    return {"name": "photometry", "seconds": seconds, "files": files, "metrics": metrics,
            "note": note}


def _progress(items, progress):
    from tqdm.auto import tqdm

    return tqdm(items, desc="synthetic light curve", disable=not progress, leave=False)
