"""Photometry on the CPU: limb-darkening normal equations and contrasts, surface areas, disk sums.

Twins of :mod:`kernels.cuda.photometry` (same names and arguments); the
per-pixel mathematics is in :mod:`kernels._photometry_math`. Reductions run as
``prange`` over image rows into float64 per-row partial sums, added up at the end.
"""
from __future__ import annotations

import numba
import numpy as np

from .._photometry_math import DISK_NSUMS, LD_MAXC, MUMIN_IDX, NSUMS, compile_for

__all__ = ["ld_normal_sums", "ld_solve", "ld_divide", "surface_area", "foreshortening",
           "solid_angle_weights", "disk_sums"]

(_surface, _area, _model, _select, _accumulate, _contrast,
 _solve) = compile_for(numba.njit(inline="always", cache=True))


@numba.njit(inline="always", cache=True)
def _frame_row(row, ny, n_shared):
    """Frame ``t`` and image row ``i`` of a flattened ``prange`` row, and the frame of an
    input that has one frame per frame (``n_shared > 1``) or one for all."""
    t = row // ny
    return t, row - t * ny, (t if n_shared > 1 else 0)


@numba.njit(parallel=True, nogil=True, cache=True)
def _ld_sums(image, mu, p, partial):
    nt, ny, nx = image.shape
    for row in numba.prange(nt * ny):
        t, i, tm = _frame_row(row, ny, mu.shape[0])
        acc = partial[row]
        acc[:] = 0.0
        pt = p[t]
        nd = int(pt[4]) - 1
        for j in range(nx):
            x, r = _select(image[t, i, j], mu[tm, i, j], pt)
            if x == x:
                _accumulate(acc, x, r, nd)


def ld_normal_sums(image: np.ndarray, mu: np.ndarray, p: np.ndarray, sums: np.ndarray) -> None:
    """Accumulate each frame's limb-darkening normal-equation sums (float64).

    Parameters
    ----------
    image : numpy.ndarray
        float32 ``(nt, ny, nx)``.
    mu : numpy.ndarray
        float32 ``(nt or 1, ny, nx)``, NaN off the disk.
    p : numpy.ndarray
        float64 ``(nt, LD_NPARAMS)`` parameter rows (:mod:`kernels._photometry_math`).
    sums : numpy.ndarray
        float64 output ``(nt, NSUMS)``, overwritten.
    """
    nt, ny, _ = image.shape
    partial = np.empty((nt * ny, NSUMS))
    _ld_sums(image, mu, p, partial)
    sums[...] = partial.reshape(nt, ny, NSUMS).sum(axis=1)


@numba.njit(nogil=True, cache=True)
def _ld_solve(sums, basis, p):
    a = np.empty((LD_MAXC, LD_MAXC))
    b = np.empty(LD_MAXC)
    c = np.empty(LD_MAXC)
    for t in range(p.shape[0]):
        _solve(sums[t], basis, p[t], a, b, c)


def ld_solve(sums: np.ndarray, basis: np.ndarray, p: np.ndarray) -> None:
    """Solve every frame's normal equations and update the parameter rows ``p`` in place.

    ``basis`` is float64 ``(nb, nq)``: the basis polynomials in ascending powers
    of ``x`` (identity for free coefficients, one row for a fixed shape).
    """
    _ld_solve(sums, basis, p)


@numba.njit(parallel=True, nogil=True, cache=True)
def _ld_divide(image, mu, p, out):
    nt, ny, nx = image.shape
    for row in numba.prange(nt * ny):
        t, i, tm = _frame_row(row, ny, mu.shape[0])
        pt = p[t]
        for j in range(nx):
            out[t, i, j] = _contrast(image[t, i, j], mu[tm, i, j], pt)


def ld_divide(image: np.ndarray, mu: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """Contrast ``I / m(μ)`` of every pixel with ``μ ≥ μ_min`` (NaN elsewhere) into ``out``."""
    _ld_divide(image, mu, p, out)


@numba.njit(parallel=True, nogil=True, cache=True)
def _surface_area(p, area):
    nt, ny, nx = area.shape
    for row in numba.prange(nt * ny):
        t, i, _ = _frame_row(row, ny, 1)
        pt = p[t]
        for j in range(nx):
            area[t, i, j] = _area(np.float64(i), np.float64(j), pt)


def surface_area(p: np.ndarray, area: np.ndarray) -> None:
    """Area on the photosphere covered by every pixel, Mm² (NaN off disk or below μ_min).

    ``p`` float64 ``(nt, GEOM_NPARAMS)``: the 25 geometry parameters of
    :mod:`kernels._disk_math`, R☉ in Mm and μ_min; ``area`` float32 or float64
    ``(nt, ny, nx)``.
    """
    _surface_area(np.ascontiguousarray(p, dtype=np.float64), area)


@numba.njit(parallel=True, nogil=True, cache=True)
def _foreshortening(p, image, out):
    nt, ny, nx = image.shape
    shared = p.shape[0] == 1
    for row in numba.prange(nt * ny):
        t, i, _ = _frame_row(row, ny, 1)
        pt = p[0] if shared else p[t]
        for j in range(nx):
            mu, omega, dist = _surface(i, j, pt)
            out[t, i, j] = image[t, i, j] / mu if mu >= pt[MUMIN_IDX] else np.nan


def foreshortening(p: np.ndarray, image: np.ndarray, out: np.ndarray) -> None:
    """``out = image / μ`` where ``μ ≥ μ_min``, NaN elsewhere (μ computed from the geometry).

    ``p`` float64 ``(nt or 1, GEOM_NPARAMS)``; ``image`` and ``out`` ``(nt, ny, nx)``.
    """
    _foreshortening(np.ascontiguousarray(p, dtype=np.float64), image, out)


@numba.njit(parallel=True, nogil=True, cache=True)
def _solid_angle_weights(p, weight):
    nt, ny, nx = weight.shape
    for row in numba.prange(nt * ny):
        t, i, _ = _frame_row(row, ny, 1)
        pt = p[t]
        for j in range(nx):
            mu, omega, dist = _surface(i, j, pt)
            weight[t, i, j] = omega if mu == mu else 0.0


def solid_angle_weights(p: np.ndarray, weight: np.ndarray) -> None:
    """Solid angle (sr) of every pixel whose line of sight meets the photosphere, 0 elsewhere.

    ``p`` float64 ``(nt, ≥ 25)``; ``weight`` float32 ``(nt, ny, nx)``.
    """
    _solid_angle_weights(np.ascontiguousarray(p, dtype=np.float64), weight)


@numba.njit(parallel=True, nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _disk_sums(image, weight, partial):
    # Branch-free (selects) so that LLVM vectorises the row loop; "reassoc" allows the
    # reordered float64 sums, NaN semantics are kept (no "nnan").
    nt, ny, nx = image.shape
    for row in numba.prange(nt * ny):
        t, i, tw = _frame_row(row, ny, weight.shape[0])
        s_wi = 0.0
        s_wf = 0.0
        s_w = 0.0
        n_f = 0.0
        n_d = 0.0
        for j in range(nx):
            w = np.float64(weight[tw, i, j])
            v = np.float64(image[t, i, j])
            disk = w > 0.0
            ok = disk & ((v - v) == 0.0)  # on the disk and finite
            s_wi += w * v if ok else 0.0
            s_wf += w if ok else 0.0
            n_f += 1.0 if ok else 0.0
            s_w += w
            n_d += 1.0 if disk else 0.0
        partial[row, 0] = s_wi
        partial[row, 1] = s_wf
        partial[row, 2] = s_w
        partial[row, 3] = n_f
        partial[row, 4] = n_d


def disk_sums(image: np.ndarray, weight: np.ndarray, sums: np.ndarray) -> None:
    """Per frame: Σ wI and Σ w over finite on-disk pixels, Σ w on disk, their counts.

    Parameters
    ----------
    image : numpy.ndarray
        ``(nt, ny, nx)`` float32 (NaN = missing).
    weight : numpy.ndarray
        ``(nt or 1, ny, nx)`` float32 solid angles, 0 off the disk
        (:func:`solid_angle_weights`).
    sums : numpy.ndarray
        float64 output ``(nt, DISK_NSUMS)``: ``[Σ wI, Σ w (finite), Σ w (disk),
        n finite, n disk]``.
    """
    nt, ny, _ = image.shape
    partial = np.empty((nt * ny, DISK_NSUMS))
    _disk_sums(image, weight, partial)
    sums[...] = partial.reshape(nt, ny, DISK_NSUMS).sum(axis=1)
