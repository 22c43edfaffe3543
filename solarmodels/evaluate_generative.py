"""``System.evaluate`` of the generative seeds: the class-conditional DDPM and light curve → video.

Both are called by :func:`solarmodels.evaluate.evaluate_run` through their system's ``evaluate``
and return ``{"metrics", "baselines", "table", "files", "n", "notes"}``.

* :func:`evaluate_ddpm` — samples with the labels of the evaluated split, then, on the features
  of :func:`solarmodels.metrics_generative.load_feature_extractor` (a local ``torch.export``
  or TorchScript file of Inception-v3 or CLIP, as the seed's paper used) or, offline by
  default, of the small encoder trained on the training images: FID and KID against the real
  images of the split, cluster metrics (JS divergence of k-means occupancies, coverage, k-NN
  precision / recall) and the seed's application, the macro F1 of a flare-class classifier
  trained with and without the generated images. The class-conditional mean and peak
  (brightest-pixel: the flare the class drives) intensities (in the data's physical units,
  through the inverse of the flare images' scaling) are reported per class for generated and
  real images, with whether they grow strictly from A to X (``class_intensity_ordered``,
  ``class_peak_ordered``). Baselines: the training-mean image of each class (a
  generator that ignores the noise), the real training images (the floor the metrics reach for
  a perfect generator of the training distribution) and, for F1, the classifier trained on
  real images only.
* :func:`evaluate_video` — one generated video per test window, conditioned on its light curve
  (``system.evaluation_video``: a sample; for the autoencoder of stage 1, the reconstruction):
  MAE and PSNR / SSIM with the data range stated (2 for frames on [−1, 1]; MAE also in the
  frames' units), and the physics consistency of the generated disk-integrated brightness with
  the conditioning light curve (Pearson r, relative error). For a generative model the same
  metrics of the **ensemble mean** of ``options.ensemble`` samples per window (8; the point
  forecast that minimises the expected squared error, as in ensemble weather forecasting) are
  reported as ``ensemble_*``: a single sample draws features (spots) at places the light curve
  cannot tell, which the pixel metrics count twice. Baselines: the mean training frame
  and the last training frame, repeated over the window, and, when the data give it, the
  limb-darkened disk of every frame (the spotless Sun of the observer geometry,
  :func:`solarmodels.datasets.video.disk_model`) and that disk plus the mean training residual
  ``⟨x − d⟩`` (what a disk-residual model generates when it learns nothing from the light curve).
"""
from __future__ import annotations

import logging
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr

from solarmodels import metrics_generative as mg

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Sequence

    import numpy.typing as npt

    from solarmodels.systems.base import System
    from solarmodels.systems.diffusion import DiffusionSystem

__all__ = ["evaluate_ddpm", "evaluate_video", "collect", "draw_samples", "class_letters"]

log = logging.getLogger(__name__)

#: GOES classes in label order.
CLASSES = ("A", "B", "C", "M", "X")


def class_letters(labels: Iterable[int]) -> list[str]:
    """GOES letters of integer labels 0…4."""
    return [CLASSES[int(k)] if 0 <= int(k) < len(CLASSES) else "?" for k in labels]


def collect(dataset: Any, keys: Iterable[str], *, limit: int | None = None) -> dict[str, torch.Tensor]:
    """Stack ``keys`` of the items of a dataset (first ``limit`` items) into tensors."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    items = [dataset[i] for i in range(n)]
    return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in keys
            if k in items[0]}


def draw_samples(system: DiffusionSystem, labels: npt.ArrayLike | torch.Tensor, shape: Sequence[int], *,
                 batch_size: int = 32, seed: int = 0, progress: bool = False,
                 guidance_scale: float | None = None) -> torch.Tensor:
    """Guided samples for ``labels`` in batches (seeded: the same labels give the same images);
    ``guidance_scale`` None: the system's."""
    out = []
    gen = torch.Generator(device=system.device).manual_seed(int(seed))
    for chunk in torch.as_tensor(labels).split(max(int(batch_size), 1)):
        out.append(system.sample(chunk.to(system.device), (len(chunk), *shape), generator=gen,
                                 progress=progress, guidance_scale=guidance_scale).float().cpu())
    return torch.cat(out)


def _flare_stats(ctx, dataset):
    stats = getattr(dataset, "stats", None)
    if stats is None:
        attrs = ctx.target_attrs.get("image") or {}
        if "lo" in attrs:
            stats = {"lo": attrs["lo"], "hi": attrs["hi"]}
    return stats


def _per_class_intensity(images, labels, stats, statistic="mean"):
    """Per class, the mean over its images of the image's mean (``statistic="mean"``) or peak
    (``"peak"``: the brightest pixel, where the flare is) intensity in physical units (inverse
    of the flare-image scaling)."""
    from solarmodels.datasets.flares import invert_scaling

    x = images.numpy()[:, 0]
    phys = invert_scaling(x, stats) if stats else x
    per_image = phys.reshape(len(phys), -1)
    per_image = per_image.max(1) if statistic == "peak" else per_image.mean(1)
    out = np.full(len(CLASSES), np.nan)
    lab = np.asarray(labels)
    for c in range(len(CLASSES)):
        if np.any(lab == c):
            out[c] = float(per_image[lab == c].mean())
    return out


def _ordered(values) -> bool:
    present = np.isfinite(values)
    return bool(np.all(np.diff(values[present]) > 0)) if present.sum() > 1 else False


def evaluate_ddpm(system: DiffusionSystem, ctx: Any, dataset: Any, out_dir: str | os.PathLike[str],
                  options: Any) -> dict:
    """``System.evaluate`` of the DDPM (module docstring)."""
    from solarprep.plotting import save_figure

    notes = []
    test = collect(dataset, ("input", "label"))
    x_test, y_test = test["input"].float(), test["label"].long()
    train_ds = ctx.train_dataset()
    if train_ds is None:
        raise ValueError("the DDPM evaluation needs the run's training images (baselines, "
                         "default feature encoder); its data configuration no longer builds")
    train = collect(train_ds, ("input", "label"))
    x_train, y_train = train["input"].float(), train["label"].long()
    n = min(int(options.n_samples), len(y_test)) if options.n_samples else len(y_test)
    gen_labels = y_test[torch.randperm(len(y_test),
                                       generator=torch.Generator().manual_seed(options.seed))[:n]]
    samples = draw_samples(system, gen_labels, tuple(x_test.shape[1:]),
                           batch_size=options.batch_size, seed=options.seed,
                           progress=options.progress,
                           guidance_scale=getattr(options, "guidance_scale", None))
    overall = x_train.mean(0)
    class_mean = torch.stack([x_train[y_train == c].mean(0) if bool((y_train == c).any())
                              else overall for c in range(len(CLASSES))])
    baseline_images = {"train_class_mean": class_mean[gen_labels],
                       "real_train": x_train[torch.randperm(
                           len(x_train), generator=torch.Generator().manual_seed(1))[:n]]}
    if options.feature_extractor:
        extractor = mg.load_feature_extractor(options.feature_extractor, size=options.feature_size,
                                              rgb=options.feature_rgb, device=str(system.device))
        feature_name = f"extractor {pathlib.Path(options.feature_extractor).name}"
    else:
        extractor = mg.train_feature_encoder(x_train, y_train, steps=options.encoder_steps,
                                             batch_size=32, seed=options.seed)
        feature_name = "small in-project encoder trained on the training images (offline " \
                       "default; FIDs not comparable with Inception-based ones)"
        notes.append(f"FID/KID features: {feature_name}")
    real_f = mg.extract_features(extractor, x_test)
    variants = {"model": samples, **baseline_images}
    rows = {}
    for name, images in variants.items():
        f = mg.extract_features(extractor, images)
        kid, kid_std = mg.kernel_distance(real_f, f, subsets=10, subset_size=min(100, len(f),
                                                                                 len(real_f)),
                                          seed=options.seed)
        clusters = mg.cluster_metrics(real_f, f, k=min(8, len(real_f) - 1), seed=options.seed)
        rows[name] = {"fid": mg.frechet_distance(real_f, f), "kid": kid, "kid_std": kid_std,
                      **clusters}
    f1 = mg.f1_with_generated(x_train, y_train, x_test, y_test, samples, gen_labels,
                              steps=options.f1_steps, seed=options.seed)
    rows["model"]["f1_macro"] = f1["f1_with_generated"]
    stats = _flare_stats(ctx, dataset)
    gen_int = _per_class_intensity(samples, gen_labels.numpy(), stats)
    real_int = _per_class_intensity(x_test, y_test.numpy(), stats)
    gen_peak = _per_class_intensity(samples, gen_labels.numpy(), stats, "peak")
    real_peak = _per_class_intensity(x_test, y_test.numpy(), stats, "peak")
    ordered = _ordered(gen_int)
    keys = list(rows["model"])
    names = list(variants)
    table = xr.Dataset(
        {k: ("variant", np.array([rows[v].get(k, np.nan) for v in names], np.float64))
         for k in keys},
        coords={"variant": names, "class": list(CLASSES)})
    units = (ctx.target_attrs.get("image") or {}).get("physical_units",
                                                        getattr(dataset, "physical_units", ""))
    table["mean_intensity_generated"] = ("class", gen_int, {"units": units, "long_name":
                                         "mean intensity of the generated images per class"})
    table["mean_intensity_real"] = ("class", real_int, {"units": units, "long_name":
                                    "mean intensity of the real images of the split per class"})
    table["peak_intensity_generated"] = ("class", gen_peak, {"units": units, "long_name":
                                         "mean peak (brightest-pixel) intensity of the "
                                         "generated images per class"})
    table["peak_intensity_real"] = ("class", real_peak, {"units": units, "long_name":
                                    "mean peak intensity of the real images of the split "
                                    "per class"})
    table["f1_real_only"] = ((), f1["f1_real_only"])
    table.attrs.update(features=feature_name, n_generated=int(n), n_real=int(len(y_test)))
    w = getattr(options, "guidance_scale", None)
    metrics = {**rows["model"], "class_intensity_ordered": ordered,
               "guidance_scale": float(system.config.guidance_scale if w is None else w),
               "class_peak_ordered": _ordered(gen_peak),
               "mean_intensity_generated": dict(zip(CLASSES, gen_int.tolist())),
               "mean_intensity_real": dict(zip(CLASSES, real_int.tolist())),
               "peak_intensity_generated": dict(zip(CLASSES, gen_peak.tolist())),
               "peak_intensity_real": dict(zip(CLASSES, real_peak.tolist())),
               "intensity_units": units}
    baselines = {name: rows[name] for name in names[1:]}
    baselines["real_only_classifier"] = {"f1_macro": f1["f1_real_only"]}
    fig = sample_grid(samples, gen_labels, real=x_test, real_labels=y_test,
                      title=f"DDPM samples per GOES class ({ctx.config.model}, step {ctx.step})")
    files = [str(save_figure(fig, pathlib.Path(out_dir) / "ddpm_samples.png"))]
    return {"metrics": metrics, "baselines": baselines, "table": table, "files": files,
            "n": int(len(y_test)), "notes": notes}


def sample_grid(samples, labels, *, real=None, real_labels=None, per_class=6, title=""):
    """Figure: one row of generated images per class present (and one real image per row)."""
    from matplotlib.figure import Figure

    labels = np.asarray(labels)
    classes = [c for c in range(len(CLASSES)) if np.any(labels == c)]
    cols = per_class + (real is not None)
    fig = Figure(figsize=(1.3 * cols + 0.6, 1.3 * max(len(classes), 1) + 0.5),
                 layout="constrained")
    axes = np.atleast_2d(fig.subplots(max(len(classes), 1), cols, squeeze=False))
    for r, c in enumerate(classes):
        imgs = samples[labels == c][:per_class]
        for j in range(cols):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if real is not None and j == cols - 1:
                pick = np.flatnonzero(np.asarray(real_labels) == c)
                if pick.size:
                    ax.imshow(real[pick[0], 0].numpy(), cmap="magma", vmin=-1, vmax=1,
                              origin="lower")
                    ax.set_title("real", fontsize=7)
                continue
            if j < len(imgs):
                ax.imshow(imgs[j, 0].numpy(), cmap="magma", vmin=-1, vmax=1, origin="lower")
        axes[r, 0].set_ylabel(CLASSES[c])
    fig.suptitle(title, fontsize=9)
    return fig


# --------------------------------------------------------------------------- video

def _train_frames(train):
    """``(mean training frame, last training frame, mean residual from the disk or None)`` of
    the training windows (scaled)."""
    used = sorted({f for s in train.starts for f in range(s, s + train.window)})
    frames = train.x[used]
    residual = None
    if getattr(train, "disk", None) is not None:
        residual = (frames - train.disk[used]).mean(0)
    return frames.mean(0), train.x[used[-1]], residual


def _repeat(batch, k):
    """``batch`` with every tensor repeated ``k`` times along the batch axis (sample-major)."""
    return {key: value.repeat(k, *([1] * (value.dim() - 1)))
            if isinstance(value, torch.Tensor) else value for key, value in batch.items()}


def evaluate_video(system: System, ctx: Any, dataset: Any, out_dir: str | os.PathLike[str],
                   options: Any) -> dict:
    """``System.evaluate`` of the light-curve → video system (module docstring)."""
    from solarmodels.trainer import collate, move_batch
    from solarprep.plotting import save_figure

    notes = []
    train = ctx.train_dataset()
    baselines_frames, mean_residual = {}, None
    if train is not None and len(train):
        mean_frame, last_frame, mean_residual = _train_frames(train)
        baselines_frames = {"train_mean_frame": mean_frame, "last_train_frame": last_frame}
    else:
        notes.append("no training windows: no mean / last training frame baselines")
    stats = getattr(dataset, "stats", None) or ctx.target_attrs.get("frames") or {}
    i_max = float(stats.get("i_max", 2.0))
    units = getattr(dataset, "attrs", {}).get("units") or \
        (ctx.target_attrs.get("frames") or {}).get("units", "")
    k_samples = max(int(getattr(options, "ensemble", 1) or 1), 1) \
        if getattr(system, "stochastic_evaluation", False) else 1
    for key in ("physics_guidance", "physics_projection"):    # sampling options of the run
        value = getattr(options, key, None)
        if value is not None and hasattr(system.config, key):
            setattr(system.config, key, type(getattr(system.config, key))(value))
    names = ["model", *(["model_ensemble"] if k_samples > 1 else []), *baselines_frames]
    rows = {v: [] for v in names}
    first = None
    loader = torch.utils.data.DataLoader(dataset, batch_size=max(1, options.batch_size // 8),
                                         shuffle=False, collate_fn=collate)
    gen = torch.Generator(device=system.device).manual_seed(options.seed)
    for batch in loader:
        batch = move_batch(batch, system.device)
        real = batch["input"].float()
        shape = tuple(real.shape)
        videos = {"model": system.evaluation_video(batch, gen).float()}
        if k_samples > 1:                  # the point forecast: the mean of k samples
            more = system.evaluation_video(_repeat(batch, k_samples - 1), gen).float()
            draws = torch.cat([videos["model"][None],
                               more.view(k_samples - 1, *shape)]).clamp(-1, 1)
            videos["model_ensemble"] = draws.mean(0)
        for name, frame in baselines_frames.items():
            videos[name] = frame.to(real.device).expand(shape[0], shape[1], shape[2],
                                                        *frame.shape).clone()
        if "disk" in batch:
            videos["limb_darkened_disk"] = batch["disk"].float()
            if mean_residual is not None:
                videos["disk_plus_mean_residual"] = batch["disk"].float() + \
                    mean_residual.to(real.device)
            for name in ("limb_darkened_disk", "disk_plus_mean_residual"):
                if name in videos and name not in rows:
                    rows[name] = []
                    names.append(name)
        mask = batch.get("disk_mask")
        for b in range(shape[0]):
            for name, video in videos.items():
                v = video[b:b + 1].clamp(-1, 1)
                m = mg.video_metrics(v, real[b:b + 1], data_range=options.data_range)
                phys = mg.physics_consistency(
                    v, batch["light_curve"][b:b + 1], None if mask is None else mask[b],
                    mean=1.0, std=1.0,
                    frame_factor=None if "flux_factor" not in batch else
                    batch["flux_factor"][b:b + 1])
                m.pop("data_range", None)
                m["mae_physical"] = m["mae"] * i_max / 2.0
                m.update({f"physics_{k}": val for k, val in phys.items()})
                rows[name].append(m)
        if first is None:
            first = {k: v[:1].cpu() for k, v in videos.items()}
            first["real"] = real[:1].cpu()
            first["light_curve"] = batch["light_curve"][:1].cpu()
    keys = list(rows["model"][0])
    table = xr.Dataset({k: (("window", "variant"),
                            np.array([[rows[v][w][k] for v in names]
                                      for w in range(len(rows["model"]))], np.float64))
                        for k in keys},
                       coords={"window": np.arange(len(rows["model"])), "variant": names})
    table["mae_physical"].attrs["units"] = units
    table.attrs.update(data_range=float(options.data_range), i_max=i_max, frame_units=units)
    from solarmodels.evaluate import summarise_variants

    metrics, baselines = summarise_variants(table, "window")
    ensemble = baselines.pop("model_ensemble", None)
    if ensemble is not None:
        metrics.update({f"ensemble_{k}": v for k, v in ensemble.items()})
        metrics["ensemble_size"] = k_samples
    for key in ("physics_guidance", "physics_projection"):
        if hasattr(system.config, key):
            metrics[key] = getattr(system.config, key)
    metrics["data_range"] = float(options.data_range)
    metrics["frame_units"] = units
    fig = video_figure(first, title=f"light curve → video ({ctx.config.model}, "
                                    f"{options.split} window 0)")
    files = [str(save_figure(fig, pathlib.Path(out_dir) / "video_eval.png"))]
    return {"metrics": metrics, "baselines": baselines, "table": table, "files": files,
            "n": int(len(rows["model"])), "notes": notes}


def video_figure(videos, *, frames=8, title=""):
    """Rows of frames (real, generated, baselines) of one window, and the conditioning light
    curve against the generated disk-integrated brightness (both divided by their mean)."""
    from matplotlib.figure import Figure

    rows = [k for k in ("real", "model", "model_ensemble", "train_mean_frame",
                        "last_train_frame", "limb_darkened_disk") if k in videos]
    t = videos["real"].shape[2]
    picks = np.linspace(0, t - 1, min(frames, t)).round().astype(int)
    fig = Figure(figsize=(1.2 * len(picks) + 3.5, 1.2 * len(rows) + 0.6), layout="constrained")
    grid = fig.add_gridspec(len(rows), len(picks) + 3)
    for r, key in enumerate(rows):
        for j, f in enumerate(picks):
            ax = fig.add_subplot(grid[r, j])
            ax.imshow(videos[key][0, 0, f].numpy(), cmap="gray", vmin=-1, vmax=1, origin="lower")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t{f}", fontsize=7)
            if j == 0:
                ax.set_ylabel(key.replace("_", " "), fontsize=7)
    ax = fig.add_subplot(grid[:, len(picks):])
    lc = videos["light_curve"][0].numpy()
    ax.plot(lc / lc.mean(), "k-", label="conditioning light curve")
    for key in ("real", "model"):
        b = (videos[key][0, 0] + 1).sum((-2, -1)).numpy()
        ax.plot(b / b.mean(), "--" if key == "model" else ":", label=f"{key} disk integral")
    ax.set_xlabel("frame")
    ax.set_ylabel("relative brightness")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig
