"""The steps both wavelet paths run, written once against an array namespace ``xp``.

The JAX cores of :mod:`._transforms` (``xp = jax.numpy``, filters possibly traced) and
the host path of :mod:`._host` (``xp = numpy``) take their per-scale factors here, as in
kymatio's core/backend split; the orientation DFT is a constant NumPy matrix each path
applies with its own fastest product.  ``psi``: ``(J+1, L, 2N-1)``, entry
``[j, l, N-1+n]``; ``phi``: ``(L,)``.  Cost: O(L) per factor, O(N^2) per DFT (cached).
"""

from __future__ import annotations

import numpy as np

from .._config import bounded_cache


@bounded_cache(256)
def ell_factor(Lj, power):
    """``(4 pi / (2l+1)) ** power`` for ``l < Lj`` (NumPy, float64; cached, read-only)."""
    ell = np.arange(Lj)
    out = (4.0 * np.pi / (2 * ell + 1)) ** power
    out.flags.writeable = False
    return out


@bounded_cache(256)
def _root(Lj):
    """``sqrt(4 pi / (2l+1))`` for ``l < Lj`` (cached, read-only)."""
    out = np.sqrt(ell_factor(Lj, 1.0))
    out.flags.writeable = False
    return out


def scaling_filter(phi, Ls, xp):
    """``sqrt(4 pi/(2l+1)) Phi_l`` for ``l < Ls``: the scaling map's coefficients are
    this factor times ``f_lm`` (analysis), and its contribution to ``f_lm`` this factor
    times its own coefficients (synthesis)."""
    return xp.asarray(phi)[:Ls] * _root(Ls)


def mode_filter(psi, j, Lj, N, n, xp, *, synthesis=False, weight=1.0):
    """Per-degree factor ``(Lj,)`` of the orientation mode ``n`` of scale ``j``.

    Analysis: ``(-1)^n sqrt(4 pi/(2l+1)) conj(Psi^j_ln)``; the spin ``-n`` mode has
    coefficients this factor times ``f_lm``.  Synthesis (``synthesis=True``):
    ``weight (-1)^n 2 pi sqrt(4 pi/(2l+1)) Psi^j_ln`` (i.e. ``8 pi^2 / sqrt(4 pi (2l+1))``),
    the factor of the mode's forward transform in ``f_lm``; ``weight = 2`` folds the
    ``-n`` twin of an ``n > 0`` mode of a real signal in.
    """
    root = _root(Lj)
    col = xp.asarray(psi)[j, :Lj, N - 1 + n]
    if synthesis:
        return col * (weight * (-1.0) ** n * (2.0 * np.pi * root))
    return xp.conj(col) * ((-1.0) ** n * root)


@bounded_cache(256)
def gamma_dft(ns, Nj, *, reality, inverse=False, qu=False):
    """The orientation DFT of a scale with ``2 Nj - 1`` orientations, as a NumPy matrix.

    ``gamma_k = 2 pi k / K``, ``K = 2 Nj - 1``; modes ``ns``.  Synthesis (``K x R``)
    gives ``f(gamma_k) = sum_n e^{i n gamma_k} f_n``; ``inverse`` (``R x K``) gives
    ``f_n = (1/K) sum_k e^{-i n gamma_k} f(gamma_k)``.

    * complex (``reality=False``): one column (row) per mode, complex128.
    * real (``reality=True``, ``ns >= 0``): on real components, ``f_0`` then, per
      ``n > 0``, the pair ``(Re f_n, Im f_n)``:
      ``f(gamma_k) = f_0 + sum_{n>0} 2 cos(n gamma_k) Re f_n - 2 sin(n gamma_k) Im f_n``.
    * ``qu`` (real only): the pairs as ducc0's real components on the host: synthesis
      columns act on ``(Q_n, U_n) = (-Re f_n, Im f_n)`` (the spin ``-n`` mode is
      ``f_n = -Q_n + i U_n``); inverse rows give ``(Re f_n, -Im f_n)``, the (Q, U)
      input of the spin ``n`` forward transform.  Each is the plain matrix with one
      sign flipped per pair.

    ``ns``: a tuple (the result is cached, read-only).
    """
    K = 2 * Nj - 1
    g = 2 * np.pi * np.arange(K) / K
    if not reality:
        if inverse:
            E = np.array([np.exp(-1j * n * g) / K for n in ns])
        else:
            E = np.array([np.exp(1j * n * g) for n in ns]).T
        E.flags.writeable = False
        return E
    u = -1.0 if qu else 1.0
    rows = []
    for n in ns:
        if n == 0:
            rows.append(np.full(K, 1.0 / K) if inverse else np.ones(K))
        elif inverse:
            rows += [np.cos(n * g) / K, -u * np.sin(n * g) / K]
        else:
            rows += [u * 2 * np.cos(n * g), -2 * np.sin(n * g)]
    M = np.array(rows)  # (R, K)
    M = M if inverse else np.ascontiguousarray(M.T)
    M.flags.writeable = False
    return M
