"""Resampling of input grids onto a sampling scheme, through harmonic space.

Every reader ends in :func:`to_flm` (input grid -> coefficients ``flm`` for
``l < L``) followed by :func:`synthesise` (``flm`` -> map on the target
``(L, sampling, nside)``).  The output of :func:`s2scatter.io.read_map` is
therefore always band-limited at ``L``, whatever the input.

Input grids (:class:`Grid`):

* ``"equiangular"``: iso-latitude rings north -> south with ``W`` equally
  spaced longitudes starting at ``phi0``; the rings follow one of ducc0's
  geometries: ``"F1"`` (pixel centred, ``theta_i = pi (i + 1/2) / H``),
  ``"CC"`` (pole rows, ``theta_i = pi i / (H - 1)``) or ``"GL"``
  (Gauss-Legendre).  Analysis is :func:`ducc0.sht.experimental.analysis_2d`
  at the highest degree the grid supports (``H - 1``; ``H - 2`` for CC) and
  orders ``m < L`` only, which is exact for inputs band-limited at that degree
  and costs ``O(H W log W + H^2 L)``; the ``l >= L`` part is discarded (an
  ideal low-pass filter: anti-aliasing for inputs that are not band-limited).
* ``"sampling"``: a map on one of :data:`s2scatter.sampling.SAMPLINGS`;
  :func:`s2scatter.forward` at the input band-limit (exact for band-limited
  maps), then truncated or zero-padded to ``L``.  HEALPix (RING order, FITS
  files included): ``iter=3`` at ``min(L, 3 nside)``.

Coefficients that the input cannot resolve (input band-limit below ``L``)
are zero: the map is upsampled by band-limited interpolation.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import harmonic
from ..sampling import alm_to_flm, f_shape


@dataclasses.dataclass(frozen=True)
class Grid:
    """An input grid: data ``(C, ...)`` float64 and how its samples sit on the sphere.

    ``kind="equiangular"``: data ``(C, H, W)``, rows north -> south,
    ``geometry`` in ``("F1", "CC", "GL")``, ``phi0`` longitude (radians) of
    column 0, columns increasing eastwards.  ``kind="sampling"``: data
    ``(C, *f_shape(L_in, sampling=sampling, nside=nside))`` (HEALPix: RING order).
    """

    kind: str
    data: np.ndarray
    geometry: str | None = None
    phi0: float = 0.0
    nside: int | None = None
    sampling: str | None = None
    L_in: int | None = None


def _fit_L(flm: np.ndarray, L: int) -> np.ndarray:
    """Truncate or zero-pad ``flm`` ``(C, L_in, 2L_in-1)`` to band-limit ``L``."""
    L_in = flm.shape[-2]
    if L_in == L:
        return flm
    out = np.zeros(flm.shape[:-2] + (L, 2 * L - 1), dtype=flm.dtype)
    k = min(L, L_in)
    out[..., :k, L - k: L + k - 1] = flm[..., :k, L_in - k: L_in + k - 1]
    return out


def to_flm(grid: Grid, L: int, *, nthreads: int = 1) -> tuple[np.ndarray, dict]:
    """Coefficients ``(C, L, 2L-1)`` (complex128) of the input grid for ``l < L``.

    Returns the coefficients and a JSON-serialisable description of the
    resampling (method, analysis band-limit, whether it was upsampled).
    """
    data = np.asarray(grid.data, dtype=np.float64)
    if grid.kind == "equiangular":
        import ducc0

        _, H, W = data.shape
        lmax = H - 2 if grid.geometry == "CC" else H - 1  # what the grid resolves (ducc0's limits)
        mmax_grid = min(lmax, (W - 1) // 2)
        mmax = min(mmax_grid, L - 1)
        flm = np.empty((data.shape[0], L, 2 * L - 1), dtype=np.complex128)
        for c in range(data.shape[0]):
            alm = ducc0.sht.experimental.analysis_2d(
                map=np.ascontiguousarray(data[c:c + 1]), spin=0, lmax=lmax, mmax=mmax,
                geometry=grid.geometry, phi0=float(grid.phi0), nthreads=nthreads,
            )[0]
            flm[c] = alm_to_flm(alm, L, lmax=lmax, mmax=mmax)
        info = {
            "method": "ducc0.sht.experimental.analysis_2d, then ideal low-pass l < L",
            "geometry": grid.geometry,
            "lmax_analysis": int(lmax),
            "mmax_analysis": int(mmax),
            "upsampled": bool(min(lmax, mmax_grid) < L - 1),
        }
        return flm, info
    if grid.kind == "sampling":
        L_a = min(L, int(grid.L_in)) if grid.sampling == "healpix" else int(grid.L_in)
        flm = np.asarray(harmonic.forward(data, L_a, sampling=grid.sampling, nside=grid.nside, reality=True,
                                          iter=3))
        info = {
            "method": f"s2scatter.forward(sampling={grid.sampling!r}, iter=3), then "
                      "truncation/zero-padding to l < L",
            "L_analysis": int(L_a),
            "upsampled": bool(L_a < L),
        }
        return _fit_L(flm, L), info
    raise ValueError(f"unknown grid kind {grid.kind!r}")


def synthesise(flm: np.ndarray, L: int, sampling: str, nside: int | None) -> np.ndarray:
    """Real maps ``(C, *f_shape(L, sampling, nside))`` float64 from ``flm`` ``(C, L, 2L-1)``."""
    f = harmonic.inverse(flm, L, sampling=sampling, nside=nside, reality=True)
    f = np.array(f, dtype=np.float64, order="C")  # a writable NumPy copy, not a JAX view
    assert f.shape[1:] == f_shape(L, sampling=sampling, nside=nside)
    return f
