"""Clebsch-Gordan coefficients in s2scatter's complex basis (NumPy only).

``C^{l m}_{l1 m1, l2 m2} = <l1 m1 l2 m2 | l m>``, Condon-Shortley phase: real,
zero unless ``m = m1 + m2`` and ``|l1 - l2| <= l <= l1 + l2``, and
``<l1 l1, l2 (l - l1) | l l> > 0``.  They couple our Wigner-D matrices
(:func:`s2scatter.harmonic.wigner_D`, ``D^l_{mn} = e^{-i m alpha} d^l_{mn}(beta)
e^{-i n gamma}``)::

    D^{l1}_{m1 n1} D^{l2}_{m2 n2} = sum_l sum_{m, n} C^{l m}_{l1 m1, l2 m2} D^l_{m n} C^{l n}_{l1 n1, l2 n2}

so ``[f (x) g]^l_m = sum_{m1} C^{l m}_{l1 m1, l2 (m - m1)} f_{m1} g_{m - m1}`` maps
fragments that rotate by ``D^{l1}``, ``D^{l2}`` to a fragment that rotates by ``D^l``.

Algorithm
---------
For fixed ``(l1, l2, l, m)`` the coefficients ``c(m1)`` form the eigenvector of
``J^2`` (eigenvalue ``l(l+1)``) in the basis ``|l1 m1> |l2 m - m1>``, a
three-term recursion in ``m1``::

    a-(m1) c(m1 - 1) + a+(m1) c(m1 + 1) = (l(l+1) - l1(l1+1) - l2(l2+1) - 2 m1 m2) c(m1)
    a+(m1) = sqrt((l1 - m1)(l1 + m1 + 1)(l2 + m2)(l2 - m2 + 1)),  a-(m1) = a+(m1 - 1) shifted

(Schulten & Gordon, J. Math. Phys. 16, 1961 (1975); Luscombe & Luban, Phys. Rev. E
57, 7274 (1998)).  Near the ends of the ``m1`` range the solution may decay
(classically forbidden regions), where a recursion is stable only towards the
middle.  So it is run downwards from the largest ``m1`` until ``|c|`` has its
first local maximum ``m1*`` (there, both directions are stable), upwards from
the smallest ``m1`` to ``m1*``, the two pieces matched at ``m1*``, normalised
(``sum_{m1} c^2 = 1``) and signed (the coefficient with the largest ``m1`` is
positive in the Condon-Shortley convention: Racah's sum has a single, positive
term there).  No factorials, no cancelling sums: every coefficient is accurate
to a few ulp times the length of the recursion (measured in
``tests/test_nn_clebsch_gordan.py``: ~1e-15 against exact rationals for
``l <= 10``, orthonormality ~1e-14 at ``l1 = l2 = 64``).  All ``(l, m)`` of one
``(l1, l2)`` are computed together (vectorised over ``(l, m)``):
``O(l1 l2 min(l1, l2))`` flops.

Tables are cached per ``(l1, l2)`` (least recently used out first, 256 MiB in
all) and handed out read-only.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from .._config import register_cache
from ..sampling import validate_int

__all__ = ["clebsch_gordan", "cg_pair_table", "cg_rows"]

_RESCALE = 1e100  # unnormalised recursions are rescaled beyond this (no overflow for any l)


def _recursion(l1, l2, ls, ms):
    """c[k, i] = C^{ls[k] ms[k]}_{l1 (lo[k] + i), l2 (ms[k] - lo[k] - i)}, plus lo, n (per entry)."""
    ls = ls.astype(np.float64)
    m = ms.astype(np.int64)
    lo = np.maximum(-l1, m - l2)
    hi = np.minimum(l1, m + l2)
    n = hi - lo + 1
    K, nmax = len(m), int(n.max())
    lam = ls * (ls + 1) - l1 * (l1 + 1) - l2 * (l2 + 1)

    def diag(m1):
        return lam - 2.0 * m1 * (m - m1)

    def a_plus(m1):  # coupling of m1 to m1 + 1 (zero at m1 = hi)
        m2 = m - m1
        v = (l1 - m1) * (l1 + m1 + 1.0) * (l2 + m2) * (l2 - m2 + 1.0)
        return np.sqrt(np.maximum(v, 0.0))

    def sweep(first, step, stop):
        """``c(first + step t) / c(first)`` for ``t < nmax`` (zero beyond ``t = stop``), rows rescaled
        beyond _RESCALE; and, downwards, ``t - 1`` at the first ``t`` where ``|c|`` decreases (-1: none)."""
        out = np.zeros((K, nmax))
        out[:, 0] = 1.0
        prev, cur = np.zeros(K), np.ones(K)
        peak = np.full(K, -1)
        for t in range(1, nmax):
            m1 = first + step * (t - 1)  # current m1; compute c(m1 + step)
            fwd, back = a_plus(m1 - (step < 0)), a_plus(m1 - (step > 0))  # couplings to m1 + step, m1 - step
            live = t <= stop
            with np.errstate(divide="ignore", invalid="ignore"):
                nxt = np.where(live & (fwd > 0), (diag(m1) * cur - back * prev) / np.where(fwd > 0, fwd, 1.0), 0.0)
            if step < 0:
                peak[live & (peak < 0) & (np.abs(nxt) < np.abs(cur))] = t - 1
            out[:, t] = nxt
            prev, cur = cur, nxt
            big = np.abs(cur) > _RESCALE
            if big.any():
                s = np.where(big, 1.0 / np.abs(cur), 1.0)
                out *= s[:, None]
                prev, cur = prev * s, cur * s
        return out, peak

    d, peak = sweep(hi, -1, n - 1)  # downward from hi: d[t] = c(hi - t)
    peak = np.where(peak < 0, n - 1, peak)  # monotone: |c| grows all the way down
    stop = n - 1 - peak  # index i of the peak counted from lo
    u, _ = sweep(lo, 1, stop)  # upward from lo to the peak: u[i] = c(lo + i)
    # assemble in m1 order: entries i <= stop from u (scaled to match d at the peak), the rest from d
    i_all = np.arange(nmax)[None, :]
    t_of_i = (n - 1)[:, None] - i_all  # d index of m1 = lo + i
    d_rev = np.take_along_axis(d, np.clip(t_of_i, 0, nmax - 1), axis=1)
    scale = d[np.arange(K), peak] / u[np.arange(K), stop]
    c = np.where(i_all < stop[:, None], u * scale[:, None], d_rev)
    c = np.where(i_all < n[:, None], c, 0.0)
    c /= np.sqrt(np.sum(c * c, axis=1, keepdims=True))
    return c, lo, n


_CACHE_BYTES = 256 * 2**20
_cache: "collections.OrderedDict[tuple[int, int], np.ndarray]" = collections.OrderedDict()
_cache_lock = threading.Lock()
_cache_total = [0]  # bytes held


def _clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _cache_total[0] = 0


register_cache("s2scatter.nn._clebsch_gordan._cache", _clear_cache, _cache.__len__, None)  # bytes: _CACHE_BYTES


def _pair_table(l1: int, l2: int) -> np.ndarray:
    key = (l1, l2)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    out = _cg_rows(l1, l2, range(abs(l1 - l2), l1 + l2 + 1))
    out.flags.writeable = False
    with _cache_lock:
        if key not in _cache:
            _cache[key] = out
            _cache_total[0] += out.nbytes
        while _cache_total[0] > _CACHE_BYTES and len(_cache) > 1:
            _, old = _cache.popitem(last=False)
            _cache_total[0] -= old.nbytes
        return _cache[key]


def _cg_rows(l1: int, l2: int, degrees) -> np.ndarray:
    """``T[i, (l1+l2) + m, l1 + m1] = C^{l m}_{l1 m1, l2 (m - m1)}`` for ``l = degrees[i]`` (not cached)."""
    degrees = [int(l) for l in degrees]
    lmax = l1 + l2
    ls = np.concatenate([np.full(2 * l + 1, l) for l in degrees])
    ms = np.concatenate([np.arange(-l, l + 1) for l in degrees])
    row = np.concatenate([np.full(2 * l + 1, i) for i, l in enumerate(degrees)])
    c, lo, n = _recursion(l1, l2, ls, ms)
    out = np.zeros((len(degrees), 2 * lmax + 1, 2 * l1 + 1))
    i = np.arange(c.shape[1])[None, :]
    k, ii = np.nonzero(i < n[:, None])
    out[row[k], ms[k] + lmax, lo[k] + ii + l1] = c[k, ii]
    return out


def cg_rows(l1: int, l2: int, degrees) -> np.ndarray:
    """The rows of :func:`cg_pair_table` for the output degrees ``degrees`` only (computed, not cached).

    Returns ``(len(degrees), 2 (l1 + l2) + 1, 2 l1 + 1)``; the same recursion,
    with a cost proportional to the rows asked for: what a sparse degree-mixing
    set needs (a few output degrees per pair).
    """
    l1, l2 = validate_int(l1, "l1"), validate_int(l2, "l2")
    degrees = [validate_int(l, "l") for l in degrees]
    if any(not abs(l1 - l2) <= l <= l1 + l2 for l in degrees):
        raise ValueError(f"degrees must lie in [|l1 - l2|, l1 + l2] = [{abs(l1 - l2)}, {l1 + l2}], got {degrees}")
    key = (l1, l2)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit[[l - abs(l1 - l2) for l in degrees]]
    return _cg_rows(l1, l2, degrees)


def cg_pair_table(l1: int, l2: int) -> np.ndarray:
    """All Clebsch-Gordan coefficients of one ``(l1, l2)``, in the layout of the tensor product.

    Returns a read-only float64 array ``T`` of shape
    ``(l1 + l2 - |l1 - l2| + 1, 2 (l1 + l2) + 1, 2 l1 + 1)`` with
    ``T[l - |l1 - l2|, (l1 + l2) + m, l1 + m1] = C^{l m}_{l1 m1, l2 (m - m1)}``
    (zero where ``|m| > l`` or ``|m - m1| > l2``), so that
    ``[f (x) g]^l_m = sum_{m1} T[l, m, m1] f_{m1} g_{m - m1}``.
    Cached (least recently used out first, 256 MiB in all); cost ``O(l1 l2 min(l1, l2))`` on the first call.
    """
    return _pair_table(validate_int(l1, "l1"), validate_int(l2, "l2"))


def clebsch_gordan(l1: int, l2: int, l: int) -> np.ndarray:
    """Clebsch-Gordan coefficients ``C^{l m}_{l1 m1, l2 m2} = <l1 m1 l2 m2 | l m>`` as a dense array.

    Args:
        l1, l2, l: degrees (non-negative integers); ``l`` outside
            ``[|l1 - l2|, l1 + l2]`` gives all zeros.

    Returns:
        float64 array of shape ``(2 l1 + 1, 2 l2 + 1, 2 l + 1)``, entry
        ``[l1 + m1, l2 + m2, l + m]`` (a fresh copy).  Condon-Shortley phase,
        the convention of :func:`s2scatter.rotate` and the Wigner transforms:
        ``D^{l1} (x) D^{l2} = C^T (+)_l D^l C`` with
        :func:`s2scatter.harmonic.wigner_D`.

    Cost: the first call for a pair ``(l1, l2)`` computes all its ``l``
    (``O(l1 l2 min(l1, l2))``); later calls read the cache.

    Example:
        >>> import numpy as np
        >>> from s2scatter.nn import clebsch_gordan
        >>> C = clebsch_gordan(1, 1, 0)   # <1 m1 1 m2 | 0 0> = (-1)^(1-m1) / sqrt(3) for m2 = -m1
        >>> bool(np.isclose(C[2, 0, 0], 1 / np.sqrt(3)) and np.isclose(C[1, 1, 0], -1 / np.sqrt(3)))
        True
    """
    l1, l2, l = validate_int(l1, "l1"), validate_int(l2, "l2"), validate_int(l, "l")
    out = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l + 1))
    if not abs(l1 - l2) <= l <= l1 + l2:
        return out
    T = _pair_table(l1, l2)[l - abs(l1 - l2)]  # (2(l1+l2)+1 [m], 2l1+1 [m1])
    m, m1 = np.meshgrid(np.arange(-l, l + 1), np.arange(-l1, l1 + 1), indexing="ij")
    m, m1 = m[np.abs(m - m1) <= l2], m1[np.abs(m - m1) <= l2]
    out[l1 + m1, l2 + m - m1, l + m] = T[l1 + l2 + m, l1 + m1]
    return out
