"""Where the embedded default data are: the shipped real samples, if present.

The real observations live outside the package, in ``../shared/data/real`` beside
the repository (see its README). :func:`real_data_dir` finds them; code that
needs them falls back to the synthetic Sun when they are absent.
"""
from __future__ import annotations

import os
import pathlib

__all__ = ["real_data_dir", "real_images"]

_REPO = pathlib.Path(__file__).resolve().parents[2]


def real_data_dir() -> pathlib.Path | None:
    """Path of the real sample folder, or None.

    Looks at ``$SOLARPREP_REAL_DATA``, then ``../shared/data/real`` beside the
    current directory and beside the repository.
    """
    candidates = [os.environ.get("SOLARPREP_REAL_DATA"),
                  pathlib.Path.cwd().parent / "shared" / "data" / "real",
                  _REPO.parent / "shared" / "data" / "real"]
    for candidate in candidates:
        if candidate and pathlib.Path(candidate).is_dir():
            return pathlib.Path(candidate)
    return None


def real_images(folder: str | os.PathLike | None = None) -> list[pathlib.Path]:
    """The real helioprojective FITS images (SDO and STEREO), sorted, or [] without the folder."""
    folder = pathlib.Path(folder) if folder else real_data_dir()
    if folder is None:
        return []
    return sorted([*folder.glob("sdo/*.fits"), *folder.glob("stereo/*.fits")])
