"""Helpers shared by the per-seed tutorials: run a command line in-process, summarise results.

The tutorials type the same commands a user would (``solarprep build-pairs``, ``solarmodels
train / evaluate / predict / sample / solared-benchmark``), here through the CLIs' ``main`` in
the same process, and report each model's metric next to its baselines.
"""
import contextlib
import io
import json
import logging
import pathlib
import shlex
import time

log = logging.getLogger(__name__)

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def cli(argv, *, prog="solarmodels"):
    """Run ``prog argv...`` in-process; its JSON output as a dict (else the text).

    Raises RuntimeError with the command's error output when it fails.
    """
    if prog == "solarmodels":
        from solarmodels.cli import main
    else:
        from solarprep.cli import main
    argv = [str(a) for a in argv]
    log.info("$ %s %s", prog, shlex.join(argv))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code:
        raise RuntimeError(f"{prog} {shlex.join(argv)} failed ({code}): {err.getvalue()}")
    text = out.getvalue().strip()
    start = text.find("{")
    if start >= 0:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            pass
    return text


def train(config, run_dir, *settings, steps=None):
    """``solarmodels train CONFIG --run-dir RUN --no-resume [--set ...]`` (no progress bar)."""
    argv = ["train", CONFIGS / config, "--run-dir", run_dir, "--no-resume",
            "--set", "train.progress=false"]
    if steps is not None:
        argv += ["--steps", steps]
    for item in settings:
        argv += ["--set", item]
    return cli(argv)


def versus(result, key, label=None, fmt="{:.3g}"):
    """``"label 0.52 (train_mean 0.88, input 0.61)"``: a model metric beside its baselines."""
    metrics, baselines = result.get("metrics", result), result.get("baselines", {})
    value = metrics.get(key)
    parts = [f"{name} {fmt.format(b[key])}" for name, b in baselines.items()
             if isinstance(b, dict) and b.get(key) is not None]
    text = f"{label or key} {fmt.format(value) if value is not None else 'n/a'}"
    return text + (f" ({', '.join(parts)})" if parts else "")


def table(result, keys):
    """``{key: {"model": value, baseline: value, ...}}`` for the summary of a step."""
    metrics, baselines = result.get("metrics", {}), result.get("baselines", {})
    out = {}
    for key in keys:
        row = {"model": metrics.get(key)}
        row.update({name: b.get(key) for name, b in baselines.items()
                    if isinstance(b, dict) and key in b})
        out[key] = row
    return out


def versus_line(model, metric, result, key, *, better="auto"):
    """One row of the main job's "model vs baselines" table: ``{"model", "metric", "value",
    "baselines": {name: value}}`` for ``key`` of an evaluation result (or a flat
    ``{"metrics": {key: v}, "baselines": {name: {key: v}}}``)."""
    metrics, baselines = result.get("metrics", result), result.get("baselines", {})
    return {"model": model, "metric": metric, "value": metrics.get(key),
            "baselines": {name: b.get(key) for name, b in baselines.items()
                          if isinstance(b, dict) and b.get(key) is not None}}


def step(name, tic, files, metrics, note):
    """The dict a gallery script's ``demo_step`` returns (``tic``: its start, or None)."""
    seconds = 0.0 if tic is None else time.perf_counter() - tic
    return {"name": name, "seconds": round(seconds, 1),
            "files": [str(f) for f in files], "metrics": metrics, "note": note}


def demo_step_of(run, summarise):
    """The ``demo_step(out, *, progress=True, toy=False)`` of a tutorial: ``summarise(run(...))``."""

    def demo_step(out, *, progress=True, toy=False) -> dict:
        """Main-job step: the tutorial at demo size (``toy``: 2–3 steps); metrics beside their
        baselines."""
        tic = time.perf_counter()
        return summarise(run(out, toy=toy, progress=progress), out, tic)

    return demo_step
