"""Build ``.whl/``: wheels (CPython 3.12, manylinux x86_64) of what the GPU image lacks.

The lent GPU machines cannot reach a package index. Their image has Python 3.12,
torch, CuPy (CUDA 13), numba-cuda, xarray, scipy and the packages listed in
``bench/device/image-packages.txt``; this downloads, here, the project's runtime
and test requirements (not its GPU extras, not torch) with their dependencies,
and keeps only the wheels of packages the image does not have. ``make wheelhouse``
runs it; ``bench/device/gpu_check.sh`` installs the folder there with ``--no-index``.

Usage: ``python bench/device/wheelhouse.py [--dest .whl]``.
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = pathlib.Path(__file__).resolve().parent / "image-packages.txt"
#: Extras of the project that the device run needs (the test suite, the models, the bench).
EXTRAS = ("test", "test-models", "models", "bench")
#: Never downloaded: in the image, and large (torch would not fit the 64 MiB carried tree),
#: or not needed on the device (ruff: the lint test skips without it; 10 MiB).
NEVER = {"torch", "ruff"}
PLATFORMS = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"] + [
    f"manylinux_2_{n}_x86_64" for n in range(17, 40)]


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def image_packages():
    words = " ".join(line for line in IMAGE.read_text().splitlines() if not line.startswith("#"))
    return {normalise(w) for w in words.split()}


def requirements():
    """The project's dependencies and the extras above, minus torch."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in EXTRAS:
        reqs += project["optional-dependencies"].get(extra, [])
    keep = []
    for req in reqs:
        name = normalise(re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0])
        if name not in NEVER and req not in keep:
            keep.append(req)
    return keep


def wheel_name(path):
    return normalise(path.name.split("-")[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=str(ROOT / ".whl"))
    args = parser.parse_args(argv)
    dest = pathlib.Path(args.dest)
    have = image_packages()
    reqs = requirements()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
               "--abi", "abi3", "--abi", "none", "-d", tmp]
        for platform in PLATFORMS:
            cmd += ["--platform", platform]
        subprocess.run(cmd + reqs, check=True)
        wheels = sorted(pathlib.Path(tmp).glob("*.whl"))
        names = [wheel_name(w) for w in wheels]
        if len(set(names)) != len(names):
            raise SystemExit(f"two versions of one package downloaded: {names}")
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        kept = []
        for w in wheels:
            if wheel_name(w) not in have:
                kept.append(dest / w.name)
                shutil.copy2(w, kept[-1])
    size = sum(p.stat().st_size for p in dest.glob("*.whl"))
    (dest / "README.txt").write_text(
        "Wheels for the GPU machines (made by bench/device/wheelhouse.py; not committed).\n"
        f"Requirements: {' '.join(reqs)}\nLeft out (in the image): "
        f"{' '.join(sorted(set(names) - {wheel_name(w) for w in kept}))}\n")
    print(f"{len(kept)} wheels, {size / 2**20:.1f} MiB in {dest}:")
    for w in kept:
        print(f"  {w.name}  {w.stat().st_size / 2**20:.2f} MiB")
    if size > 48 * 2**20:
        raise SystemExit(f"{size / 2**20:.1f} MiB: too large to travel with the 64 MiB working tree")


if __name__ == "__main__":
    main()
