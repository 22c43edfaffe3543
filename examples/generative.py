"""Generative models: GOES labels, a DDPM and light curve → video
==============================================================

Demo step of the generative models: GOES labels, a short DDPM and a tiny light-curve → video run.

:func:`demo_step` (wired into ``solarprep demo`` by the lead) writes under ``out``:

* ``goes_events.png`` / ``goes_xrs.nc`` — the real GOES files read, events detected (when
  ``../shared/data/real/goes`` is there);
* ``ddpm_samples.png`` / ``ddpm_samples.nc`` — guided DDIM samples per GOES class from a tiny
  class-conditional DDPM trained for a few hundred steps on synthetic 171 Å flare images, with
  class-wise mean brightness, FID/KID on a small encoder trained here, cluster metrics and the
  F1-with/without-generated application;
* ``video_samples.png`` / ``video_samples.nc`` — a tiny STDiT trained with rectified flow on
  synthetic continuum windows, one test window sampled (10 Euler steps, guidance 4): MAE, MSE,
  PSNR (range 2), SSIM and the physics consistency of the generated disk integral.
"""
from __future__ import annotations

import logging
import os
import pathlib
import secrets
import tempfile
import time

import numpy as np

__all__ = ["demo_step"]

log = logging.getLogger(__name__)


def _save_nc(ds, path):
    """Write a plain xarray Dataset to netCDF atomically (temporary name, then os.replace)."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _goes_part(out, files, metrics):
    from solarprep.io.storage import save
    from solarprep.lightcurves import goes
    from solarprep.plotting import plot_lightcurve, save_figure

    folder = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "goes"
    folder = pathlib.Path(os.environ.get("SOLARPREP_REAL_DATA", folder.parent)) / "goes"
    path = folder / "go1520110607.fits"
    if not path.exists():
        log.info("GOES sample files not found at %s; GOES part skipped", folder)
        return
    xrs = goes.read_xrs(path)
    ev = goes.detect_flares(xrs, min_class="C1")
    fig = plot_lightcurve(xrs)
    ax = fig.axes[0]
    for t, c in zip(ev.peak_time.values, ev.goes_class.values):
        ax.axvline(t, color="C3", lw=0.8, ls="--")
        ax.text(t, float(xrs.xrsb.max()), str(c), color="C3", fontsize=8)
    files.append(str(save_figure(fig, out / "goes_events.png")))
    files.append(str(save(xrs, out / "goes_xrs.nc")))
    metrics["goes_events"] = [f"{c}@{np.datetime_as_string(t, unit='m')}"
                              for c, t in zip(ev.goes_class.values, ev.peak_time.values)]


def _ddpm_part(out, files, metrics, progress, tmp):
    import torch
    import xarray as xr
    from matplotlib.figure import Figure

    from solarmodels import metrics_generative as mg
    from solarmodels.datasets.flares import FlareImageDataset, synthetic_flare_images
    from solarmodels.registry import create_model, create_system
    from solarmodels.trainer import Trainer
    from solarprep.plotting import save_figure

    size = 16
    imgs, labels, _ = synthetic_flare_images(200, size, seed=0, n_base=2)
    train = FlareImageDataset(imgs[:160], labels[:160])
    test = FlareImageDataset(imgs[160:], labels[160:], stats=train.stats)
    torch.manual_seed(0)
    net = create_model("ddpm_unet_tiny", base_channels=8, attention_factors=())
    system = create_system("ddpm", {"sample_steps": 20}, {"model": net})
    trainer = Trainer(system, train, None, dict(steps=1200, batch_size=16, lr=2e-3, ema_decay=0.99,
                                                progress=progress, log_every=40, device="cpu",
                                                checkpoint_every=0), run_dir=tmp / "ddpm")
    res = trainer.fit(resume=False)
    losses = [r["loss"] for r in trainer.history if r.get("split") == "train"]
    per_class = 8
    gen_labels = torch.arange(5).repeat_interleave(per_class)
    samples = system.sample(gen_labels, (len(gen_labels), 1, size, size),
                            generator=torch.Generator().manual_seed(0))
    means = {c: float(samples[gen_labels == i].mean()) for i, c in enumerate("ABCMX")}
    ext = mg.train_feature_encoder(train.x, train.y, steps=80, batch_size=16, width=8,
                                   feature_dim=16)
    real_f = mg.extract_features(ext, train.x)
    gen_f = mg.extract_features(ext, samples)
    f1 = mg.f1_with_generated(train.x, train.y, test.x, test.y, samples, gen_labels, steps=60,
                              batch_size=16, width=8, feature_dim=16)
    clusters = mg.cluster_metrics(real_f, gen_f, k=5)
    metrics.update({
        "ddpm_loss_first_last": [round(losses[0], 4), round(losses[-1], 4)],
        "ddpm_train_seconds": round(res["seconds"], 1),
        "ddpm_class_mean_brightness": {k: round(v, 3) for k, v in means.items()},
        "ddpm_fid_small_encoder": round(mg.frechet_distance(real_f, gen_f), 3),
        "ddpm_kid_small_encoder": round(mg.kernel_distance(real_f, gen_f, subsets=5,
                                                           subset_size=40)[0], 4),
        "ddpm_cluster_js": round(clusters["js_divergence"], 3),
        "ddpm_precision_recall": [round(clusters["precision"], 2), round(clusters["recall"], 2)],
        **{k: round(v, 3) for k, v in f1.items()},
    })
    fig = Figure(figsize=(8, 5.2), layout="constrained")
    axes = fig.subplots(5, per_class)
    for i in range(5):
        for j in range(per_class):
            ax = axes[i, j]
            ax.imshow(samples[i * per_class + j, 0].numpy(), cmap="magma", vmin=-1, vmax=1,
                      origin="lower")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i, 0].set_ylabel("ABCMX"[i])
    fig.suptitle("DDPM samples per GOES class (tiny U-Net, DDIM 20, w = 3)", fontsize=9)
    files.append(str(save_figure(fig, out / "ddpm_samples.png")))
    ds = xr.Dataset({"sample": (("n", "y", "x"), samples[:, 0].numpy().astype(np.float32),
                                {"units": "1", "long_name": "scaled log intensity in [-1, 1]"}),
                     "label": ("n", gen_labels.numpy())},
                    attrs={"model": "ddpm_unet_tiny", "sampler": "DDIM 20 steps, guidance 3"})
    files.append(str(_save_nc(ds, out / "ddpm_samples.nc")))


def _video_part(out, files, metrics, progress, tmp):
    import torch
    import xarray as xr
    from matplotlib.figure import Figure

    from solarmodels.datasets.video import synthetic_continuum_series, video_windows
    from solarmodels.registry import create_model, create_system
    from solarmodels.trainer import Trainer, collate
    from solarprep.plotting import save_figure

    ds, lc = synthetic_continuum_series(64, 16, seed=2, n_spots=8)
    parts = video_windows(ds, lc)
    torch.manual_seed(0)
    net = create_model("stdit_tiny", hidden_size=32, num_heads=2, depth=1, mapping_size=32)
    system = create_system("video_rflow", {"physics_weight": 0.1}, {"model": net})
    trainer = Trainer(system, parts["train"], None,
                      dict(steps=300, batch_size=2, lr=2e-3, ema_decay=0.95, progress=progress,
                           log_every=20, device="cpu", checkpoint_every=0), run_dir=tmp / "video")
    res = trainer.fit(resume=False)
    part = parts["test"] if len(parts["test"]) else parts["train"]
    batch = collate([part[len(part) - 1]])
    samples = system.predict(batch)
    m = system.evaluate_samples(batch, samples)
    metrics.update({"video_train_seconds": round(res["seconds"], 1),
                    **{f"video_{k}": round(v, 4) for k, v in m.items()}})
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    axes = fig.subplots(2, 8)
    for j in range(8):
        k = 2 * j
        for row, src in enumerate((batch["input"], samples)):
            axes[row, j].imshow(src[0, 0, k].numpy(), cmap="gray", vmin=-1, vmax=1, origin="lower")
            axes[row, j].set_xticks([])
            axes[row, j].set_yticks([])
        axes[0, j].set_title(f"t{k}", fontsize=7)
    axes[0, 0].set_ylabel("real")
    axes[1, 0].set_ylabel("generated")
    fig.suptitle(f"light curve → video (tiny STDiT, RF 10 steps, w = 4): PSNR {m['psnr']:.1f} dB "
                 f"(range 2), physics r {m['physics_r']:.2f}", fontsize=9)
    files.append(str(save_figure(fig, out / "video_samples.png")))
    vds = xr.Dataset({"generated": (("frame", "y", "x"), samples[0, 0].numpy().astype(np.float32),
                                    {"units": "1", "long_name": "2 I / I_max - 1"}),
                      "real": (("frame", "y", "x"), batch["input"][0, 0].numpy().astype(np.float32),
                               {"units": "1", "long_name": "2 I / I_max - 1"}),
                      "light_curve": ("frame", batch["light_curve"][0].numpy(),
                                      {"long_name": "1-AU disk-integrated flux (disk_integrate)"})},
                     attrs={"model": "stdit_tiny (hidden 32, depth 1)",
                            "sampler": "rectified flow, Euler 10 steps, guidance 4"})
    files.append(str(_save_nc(vds, out / "video_samples.nc")))


def demo_step(out, *, progress=True) -> dict:
    """Run the generative demo into folder ``out`` (created); returns the demo-step summary dict.

    ``{"name", "seconds", "files", "metrics", "note"}``; about a minute on 2 free cores.
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    files, metrics = [], {}
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # tiny models: one thread is faster and robust to load
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = pathlib.Path(tmp)
            _goes_part(out, files, metrics)
            _ddpm_part(out, files, metrics, progress, tmp)
            _video_part(out, files, metrics, progress, tmp)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    means = metrics.get("ddpm_class_mean_brightness", {})
    note = (f"DDPM class means A {means.get('A', float('nan')):.2f} … X "
            f"{means.get('X', float('nan')):.2f}; video PSNR {metrics.get('video_psnr', 0):.1f} dB, "
            f"physics r {metrics.get('video_physics_r', 0):.2f} (toy sizes: 16² images)")
    return {"name": "generative (GOES labels, DDPM + CFG, light curve → video)",
            "seconds": round(seconds, 1), "files": files, "metrics": metrics, "note": note}
