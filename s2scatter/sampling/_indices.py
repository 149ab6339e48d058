"""Index conversions between harmonic-coefficient layouts.

Layouts (``L`` exclusive band-limit, ``lmax = L - 1``):

* **flm** (ours, s2fft's 2-D layout): ``(..., L, 2L-1)``, entry ``[l, L-1+m]``,
  zero for ``|m| > l``.
* **1-D** (pyssht / s2fft ``flm_2d_to_1d``): ``(..., L**2)``, index
  ``i = l**2 + l + m``.
* **alm** (healpy): ``(..., L(L+1)/2)``, ``m >= 0`` only, m-major: index
  ``m (2 lmax + 1 - m) / 2 + l`` (``healpy.Alm.getidx(lmax, l, m)``).  A real
  spin-0 field has ``f_{l,-m} = (-1)^m conj(f_{lm})``, which
  :func:`alm_to_flm` uses to fill negative ``m``.

Leading ``...`` axes are batch axes.  The gather/scatter index arrays are
built once per ``L`` (cached for the last 64, read-only) so conversions are a
single fancy-indexing operation.
"""

from __future__ import annotations

import numpy as np

from .._config import bounded_cache
from ._schemes import validate_int, validate_L, validate_spin


# --------------------------------------------- scalar / vectorised index maps
def lm_to_index(ell, m):
    """pyssht/s2fft 1-D index ``l**2 + l + m`` (vectorised).

    >>> int(lm_to_index(2, -1))
    5
    """
    ell, m = np.asarray(ell), np.asarray(m)
    return ell * ell + ell + m


def index_to_lm(index):
    """Inverse of :func:`lm_to_index`: ``(l, m)`` from ``i = l**2 + l + m``.

    >>> tuple(int(v) for v in index_to_lm(5))
    (2, -1)
    """
    index = np.asarray(index)
    ell = np.floor(np.sqrt(index)).astype(np.int64)
    # guard against sqrt rounding for large indices
    ell = np.where(ell * ell > index, ell - 1, ell)
    ell = np.where((ell + 1) * (ell + 1) <= index, ell + 1, ell)
    return ell, index - ell * ell - ell


def lm_to_alm_index(ell, m, L):
    """healpy alm index of ``(l, m)``, ``m >= 0``, for ``lmax = L - 1`` (vectorised).

    Equals ``healpy.Alm.getidx(L - 1, l, m)``.

    >>> int(lm_to_alm_index(2, 1, 4))
    5
    """
    L = validate_L(L)
    ell, m = np.asarray(ell), np.asarray(m)
    return m * (2 * L - 1 - m) // 2 + ell


def alm_size(L) -> int:
    """Length ``L (L + 1) / 2`` of a healpy alm array with ``lmax = L - 1``.

    >>> alm_size(4)
    10
    """
    L = validate_L(L)
    return L * (L + 1) // 2


# ----------------------------------------------- cached gather/scatter tables
def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


@bounded_cache(64)
def _alm_table(L: int, lmax: int, mmax: int):
    """The alm slots (healpy order for ``lmax``, ``mmax``) with ``l < L``: their alm index,
    ``m``, and the flat flm offsets of +m and -m in ``(L, 2L-1)``."""
    # m-major: for each m, l runs m..lmax; built by masking the (m, l) rectangle.
    mm, ll = np.meshgrid(np.arange(mmax + 1, dtype=np.int64), np.arange(lmax + 1, dtype=np.int64),
                         indexing="ij")
    keep = ll >= mm
    m, ell = mm[keep], ll[keep]
    idx = np.flatnonzero(ell < L)
    m, ell = m[idx], ell[idx]
    ncol = 2 * L - 1
    pos = ell * ncol + (L - 1) + m
    neg = ell * ncol + (L - 1) - m
    return _readonly(idx, m, pos, neg)


@bounded_cache(64)
def _flat_1d_table(L: int):
    """Flat flm offset of each 1-D (pyssht) index i = l^2 + l + m."""
    ell, m = index_to_lm(np.arange(L * L))
    return _readonly((ell * (2 * L - 1) + (L - 1) + m).astype(np.int64))[0]


def _check_flm(flm, L, name="flm"):
    flm = np.asarray(flm)
    if flm.ndim < 2 or flm.shape[-2:] != (L, 2 * L - 1):
        raise ValueError(
            f"{name} must have shape (..., L, 2L-1) = (..., {L}, {2 * L - 1}), "
            f"got {name}.shape={flm.shape}"
        )
    return flm


def _check_last(arr, n, name, what):
    arr = np.asarray(arr)
    if arr.ndim < 1 or arr.shape[-1] != n:
        raise ValueError(f"{name} must have shape (..., {what}) = (..., {n}), got {name}.shape={arr.shape}")
    return arr


# ---------------------------------------------------------------- conversions
def flm_to_alm(flm, L):
    """2-D ``flm`` ``(..., L, 2L-1)`` -> healpy ``alm`` ``(..., L(L+1)/2)``.

    Keeps ``m >= 0`` only (negative ``m`` are dropped, which is lossless for
    real spin-0 fields).  Dtype is preserved.

    >>> flm = np.zeros((3, 5), complex); flm[2, 2 + 1] = 1j
    >>> alm = flm_to_alm(flm, 3)
    >>> alm.shape, complex(alm[4])
    ((6,), 1j)
    """
    L = validate_L(L)
    flm = _check_flm(flm, L)
    _, _, pos, _ = _alm_table(L, L - 1, L - 1)
    return flm.reshape(flm.shape[:-2] + (-1,))[..., pos]


def alm_to_flm(alm, L, *, reality=True, lmax=None, mmax=None):
    """healpy ``alm`` ``(..., nalm)`` -> 2-D ``flm`` ``(..., L, 2L-1)``.

    ``alm`` holds ``l <= lmax``, ``m <= min(l, mmax)`` in healpy's m-major order
    (``nalm = (mmax + 1) (2 lmax + 2 - mmax) / 2``; by default ``lmax = mmax = L - 1``,
    ``nalm = L(L+1)/2``).  Degrees ``l >= L`` are dropped; entries the alm does not
    hold (``l > lmax`` or ``|m| > mmax``) are zero.  With ``reality=True`` (real
    spin-0 field) negative orders are filled by
    ``flm[l, -m] = (-1)^m conj(flm[l, m])``; with ``reality=False`` they are
    left zero.  Output dtype is the complex type matching ``alm``.

    >>> alm = np.arange(6) * (1 + 1j)
    >>> flm = alm_to_flm(alm, 3)
    >>> complex(flm[1, 2 + 1]), complex(flm[1, 2 - 1])
    ((3+3j), (-3+3j))
    >>> alm_to_flm(np.arange(6) * (1 + 1j), 2, lmax=2).shape  # l = 2 dropped
    (2, 3)
    """
    L = validate_L(L)
    lmax = L - 1 if lmax is None else validate_int(lmax, "lmax")
    mmax = lmax if mmax is None else min(validate_int(mmax, "mmax"), lmax)
    nalm = (mmax + 1) * (2 * lmax + 2 - mmax) // 2
    alm = _check_last(alm, nalm, "alm", "(mmax+1)(2 lmax+2-mmax)/2")
    idx, m, pos, neg = _alm_table(L, lmax, mmax)
    dtype = np.result_type(alm.dtype, np.complex64)
    batch = alm.shape[:-1]
    if idx.size != nalm:
        alm = alm[..., idx]
    out = np.zeros(batch + (L * (2 * L - 1),), dtype=dtype)
    if reality:
        # write -m first so that m = 0 ends up holding the given value
        sign = np.where(m % 2 == 0, 1.0, -1.0)
        out[..., neg] = sign * np.conj(alm)
    out[..., pos] = alm
    return out.reshape(batch + (L, 2 * L - 1))


def flm_to_1d(flm, L):
    """2-D ``flm`` ``(..., L, 2L-1)`` -> pyssht 1-D ``(..., L**2)``, ``i = l**2 + l + m``.

    Entries with ``|m| > l`` are dropped.  Dtype is preserved.

    >>> flm = np.zeros((2, 3), complex); flm[1, 1 - 1] = 2.0
    >>> flm_to_1d(flm, 2).real.tolist()
    [0.0, 2.0, 0.0, 0.0]
    """
    L = validate_L(L)
    flm = _check_flm(flm, L)
    return flm.reshape(flm.shape[:-2] + (-1,))[..., _flat_1d_table(L)]


def flm_from_1d(flm1d, L):
    """pyssht 1-D ``(..., L**2)`` -> 2-D ``flm`` ``(..., L, 2L-1)`` (zeros for ``|m| > l``).

    Dtype is preserved.

    >>> flm_from_1d(np.arange(4.0), 2).tolist()
    [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
    """
    L = validate_L(L)
    flm1d = _check_last(flm1d, L * L, "flm1d", "L**2")
    batch = flm1d.shape[:-1]
    out = np.zeros(batch + (L * (2 * L - 1),), dtype=flm1d.dtype)
    out[..., _flat_1d_table(L)] = flm1d
    return out.reshape(batch + (L, 2 * L - 1))


def random_flm(L, *, spin=0, reality=False, slope=0.0, rng=None):
    """Random band-limited coefficients ``(L, 2L-1)``, for tests, examples and benchmarks.

    Complex Gaussian entries scaled by ``(1 + l)^-slope`` (``slope=1``: a red
    spectrum), zero for ``|m| > l`` and ``l < |spin|``.  With ``reality`` the
    coefficients are those of a real field: ``flm[l, -m] = (-1)^m conj(flm[l, m])``.

    Args:
        L: band-limit; spin: spin weight (``|spin| < L``).
        reality: conjugate-symmetric coefficients (``spin`` must be 0).
        slope: spectral slope of the amplitudes.
        rng: ``numpy.random.Generator`` (default: a fresh ``default_rng()``).

    >>> random_flm(3, reality=True, rng=np.random.default_rng(0)).shape
    (3, 5)
    """
    spin = validate_spin(spin, L)
    if reality and spin:
        raise ValueError(f"reality=True requires spin=0, got spin={spin}")
    rng = np.random.default_rng() if rng is None else rng
    flm = rng.standard_normal((L, 2 * L - 1)) + 1j * rng.standard_normal((L, 2 * L - 1))
    ell = np.arange(L)[:, None]
    m = np.arange(-(L - 1), L)[None, :]
    flm[(np.abs(m) > ell) | (ell < abs(spin))] = 0
    if reality:
        flm[:, : L - 1] = ((-1.0) ** m[:, L:] * np.conj(flm[:, L:]))[:, ::-1]
        flm[:, L - 1] = flm[:, L - 1].real
    return flm / (1.0 + ell) ** slope if slope else flm
