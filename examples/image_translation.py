"""Image translation: Pix2Pix from HMI magnetograms to AIA 171
===========================================================

Main-job step: a short Pix2Pix (Model A) training, synthetic HMI magnetogram → AIA 171 at 64².

The synthetic Sun (``solarprep.synthetic.SyntheticSun``) gives magnetograms and AIA 171 images of
the same rotating active regions on one grid (AIA plate scale, CROTA2 = 0). They are scaled as in
Park et al. (2019): HMI ``clip(B, ±3000 G)/3000`` and AIA ``2·log2(clip(x + 1, 1, 2¹⁴))/14 − 1``
(``solarprep.datasets.scalings``), written to a netCDF pair file, read back lazily by
:class:`~solarmodels.datasets.pairs.PairDataset` (paired 2-px shake, off-disk NaN of the
magnetogram → 0), and a small U-Net is trained for a few hundred steps with the trainer. The step
reports validation L1 / CC / PSNR (data range 2) / SSIM in the scaled space, the CC of AIA 171
DN after the inverse scaling, and writes a comparison figure (input, target, output, difference).
"""
from __future__ import annotations

import json
import logging
import pathlib
import time

import numpy as np

__all__ = ["demo_step"]

logger = logging.getLogger(__name__)

SIZE = 64
N_TRAIN, N_VAL = 12, 4


def _pair_file(path, progress):
    import xarray as xr
    from tqdm.auto import tqdm

    from solarprep.datasets.scalings import aia_log2, hmi_linear
    from solarprep.synthetic import SyntheticSun
    sun = SyntheticSun(seed=7)
    n = N_TRAIN + N_VAL
    times = np.datetime64("2024-05-01T00:00") + np.arange(n) * np.timedelta64(8, "h")
    cdelt = 0.6 * 4096 / SIZE                     # the AIA grid for both instruments
    b, euv = [], []
    for t in tqdm(times, desc="synthetic pairs", disable=not progress):
        stamp = str(t)
        b.append(np.asarray(sun.magnetogram(stamp, shape=SIZE, cdelt=cdelt, crota2=0.0).data))
        euv.append(np.asarray(sun.euv(stamp, 171, shape=SIZE).data))
    b, euv = np.stack(b).astype(np.float32), np.stack(euv).astype(np.float32)
    ds = xr.Dataset(
        {"hmi_blos": (("time", "y", "x"), hmi_linear(b, limit=3000.0),
                      {"units": "1", "long_name": "HMI LOS field, clip(B, ±3000 G)/3000"}),
         "aia_171": (("time", "y", "x"), aia_log2(euv),
                     {"units": "1", "long_name": "AIA 171, 2 log2(clip(DN + 1, 1, 2^14))/14 - 1"}),
         "aia_171_dn": (("time", "y", "x"), euv, {"units": "DN", "long_name": "AIA 171"})},
        coords={"time": times.astype("datetime64[ns]"),
                "split": ("time", np.array(["train"] * N_TRAIN + ["val"] * N_VAL))},
        attrs={"title": "synthetic HMI → AIA 171 pairs (solarprep.synthetic, seed 7)"})
    tmp = path.with_name(path.name + ".tmp")
    ds.to_netcdf(tmp, engine="h5netcdf")
    tmp.replace(path)
    return path


def demo_step(out, *, progress=True) -> dict:
    """Train Pix2Pix Model A on synthetic magnetogram → AIA 171 pairs; metrics and a figure.

    Parameters
    ----------
    out : pathlib.Path
        Folder for ``translation_pairs.nc``, the run folder ``translation_run/``,
        ``translation_metrics.json`` and ``translation_compare.png``.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        ``{"name", "seconds", "files", "metrics", "note"}``.
    """
    import torch

    from solarmodels import Trainer, create_model, create_system
    from solarmodels._runs import comparison_figure
    from solarmodels.datasets.pairs import PairDataset
    from solarmodels.metrics import pearson_cc, psnr, ssim
    from solarprep.plotting import save_figure

    t0 = time.perf_counter()
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # tiny network: one thread is faster than two contending
    try:
        pairs = _pair_file(out / "translation_pairs.nc", progress)
        train = PairDataset(pairs, "hmi_blos", "aia_171", split="train", shake=2, nan_to=0.0,
                            seed=0)
        val = PairDataset(pairs, "hmi_blos", "aia_171", split="val", nan_to=0.0)
        torch.manual_seed(0)
        g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=SIZE, ngf=16,
                         output="tanh", dropout=0.0)
        system = create_system("pix2pix_a", None, g)
        run = {"model": "pix2pix_unet", "system": "pix2pix_a",
               "model_config": {"in_channels": 1, "out_channels": 1, "image_size": SIZE,
                                "ngf": 16, "output": "tanh", "dropout": 0.0},
               "data": {"dataset": "pairs", "path": str(pairs), "input": ["hmi_blos"],
                        "target": ["aia_171"], "shake": 2, "nan_to": 0.0}}
        trainer = Trainer(system, train, val,
                          dict(steps=160, batch_size=4, lr=1e-3, eval_every=80, log_every=20,
                               checkpoint_every=0, progress=progress, seed=0),
                          out / "translation_run", run_config=run)
        first = trainer.evaluate()
        result = trainer.fit(resume=False)
        batch = {k: torch.stack([val[i][k] for i in range(len(val))]) for k in ("input", "target")}
        pred = system.predict(batch).numpy()
        tgt, inp = batch["target"].numpy(), batch["input"].numpy()
    finally:
        torch.set_num_threads(threads)
    from solarprep.datasets.scalings import aia_log2_inverse as aia_inverse
    dn_pred, dn_tgt = aia_inverse(pred), aia_inverse(tgt)
    metrics = {
        "val_l1_before": round(first["val_l1"], 4),
        "val_l1": round(result["val"]["val_l1"], 4),
        "val_cc_scaled": round(float(pearson_cc(pred, tgt)), 4),
        "val_cc_dn": round(float(pearson_cc(dn_pred.astype(np.float64), dn_tgt.astype(np.float64))), 4),
        "val_psnr_db_range2": round(float(psnr(pred, tgt, 2.0)), 2),
        "val_ssim_range2": round(float(np.mean([ssim(pred[i, 0], tgt[i, 0], 2.0)
                                                 for i in range(len(pred))])), 4),
        "train_steps": result["step"], "train_seconds": round(result["seconds"], 1),
    }
    fig = comparison_figure(inp[0, 0] * 3000.0, tgt[0, 0], pred[0, 0],
                            titles=("HMI B_LOS [G]", "AIA 171 (scaled)", "Pix2Pix A (scaled)",
                                    "output − target"))
    figure = save_figure(fig, out / "translation_compare.png")
    (out / "translation_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    files = [str(pairs), str(figure), str(out / "translation_metrics.json"),
             str(out / "translation_run" / "metrics.csv")]
    seconds = time.perf_counter() - t0
    return {"name": "translation", "seconds": round(seconds, 1), "files": files,
            "metrics": metrics,
            "note": (f"Pix2Pix A, synthetic HMI→AIA 171 at {SIZE}², {N_TRAIN} train / {N_VAL} val "
                     f"pairs, {result['step']} steps: val L1 {metrics['val_l1_before']}→"
                     f"{metrics['val_l1']}, CC {metrics['val_cc_scaled']}")}
