"""Wigner small-d functions d^l_{mn}(beta), computed stably.

Convention (same as pyssht / s2fft, Condon-Shortley phase included)::

    D^l_{mn}(alpha, beta, gamma) = exp(-i m alpha) d^l_{mn}(beta) exp(-i n gamma)
    sY_lm(theta, phi) = (-1)^s sqrt((2l+1)/4pi) exp(i m phi) d^l_{m,-s}(theta)

so that d^1_{10}(beta) = -sin(beta)/sqrt(2), d^l_{mn}(0) = delta_{mn} and
d^l_{mn}(pi) = (-1)^{l-n} delta_{m,-n}.  Arrays are indexed ``[l, L-1+m, L-1+n]``
(or ``[l, L-1+m, t]`` for a fixed ``n``), with zeros wherever ``|m| > l`` or ``|n| > l``.

Methods
-------
*All (l, m, n) at one angle* (:func:`wigner_d_all`, :func:`delta_halfpi`): Risbo's
recursion (T. Risbo, J. Geodesy 70, 383 (1996)), which builds d^j from d^{j-1/2} in
half-integer steps by coupling with spin 1/2.  O(L^3), every step a contraction with
positive weights, so errors stay at a few ulp times sqrt(L): ~1e-14 at L = 256.

*All (l, m) at a fixed n and many angles* (:func:`wigner_d_fixed_n` and the JAX
scan): the three-term recursion in ``l`` at fixed ``(m, n)``::

    d^l = alpha_l(theta) d^{l-1} - B_l d^{l-2},
    alpha_l = A_l (cos(theta) - m n / (l (l-1))),
    A_l = l (2l-1) / sqrt((l^2-m^2)(l^2-n^2)),
    B_l = l sqrt(((l-1)^2-m^2)((l-1)^2-n^2)) / ((l-1) sqrt((l^2-m^2)(l^2-n^2))),

run upwards from ``l0 = max(|m|, |n|)``, where the closed form is::

    d^{l0}_{mn}(theta) = (-1)^{max(m-n, 0)} sqrt(C(2 l0, |m+n|))
                         cos(theta/2)^{|m+n|} sin(theta/2)^{|m-n|}.

Upward recursion in ``l`` is stable: below the turning point d grows with l (the
dominant solution), beyond it the recursion oscillates.  Near the poles, though, the two
characteristic roots exp(+-i theta) merge, and in this plain form rounding errors grow
like ~l^2 eps (3e-13 at L = 256, ~5e-12 at L = 2048; 5e-4 in float32 at L = 256).  So
the recursion is run in Reinsch's modified form: carry d^l and
e^l = d^l - sigma d^{l-1} (sigma = +1 for theta <= pi/2, -1 beyond), with::

    e^l = gamma_l d^{l-1} + sigma B_l e^{l-1},    d^l = sigma d^{l-1} + e^l,
    gamma_l = alpha_l - sigma (1 + B_l) = g_l - 2 A_l sin^2(theta/2)    (theta <= pi/2)
                                        = g_l + 2 A_l cos^2(theta/2)    (theta >  pi/2)

where g_l has a cancellation-free closed form (``_recursion_coefficients``) that
vanishes for m = n (resp. m = -n).  Near a pole gamma and e are small, so rounding
errors no longer accumulate: ~3e-14 at L = 2048 in float64, ~3e-6 in float32.

Starting values can be far below the float range (e.g. ``sin(theta/2)^4000``), so they
are evaluated in log space (extended precision, when theta is known on the host) and
carried as ``mantissa * 2^(k B)`` with an int16 scale index ``k <= 0`` (``B`` = 480
bits in float64, 60 in float32); whenever a scaled mantissa exceeds 1 (JAX, checked
every degree) or 2 (NumPy, every 4 degrees) it is multiplied by ``2^-B`` and ``k``
incremented.
Values below ~1e-289 (float64) / ~1e-36 (float32) may come out as 0.

Accuracy (float64; measured in ``tests/test_wigner_d.py``): :func:`wigner_d_all` and
:func:`wigner_d_fixed_n` agree with pyssht to ~2e-14 at L = 256 (the size of pyssht's
own error there: against mpmath we are exact where pyssht is off by 2.5e-14), and
``sum_m d^l_{mn}^2 = 1`` holds to < 1e-13 up to L = 2048.

Nothing here is cached: callers that reuse results cache them.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from .._config import bounded_cache
from ..sampling import validate_L

__all__ = [
    "WignerDFixedNState",
    "delta_halfpi",
    "wigner_d_all",
    "wigner_d_fixed_n",
    "wigner_d_fixed_n_iter",
    "wigner_d_fixed_n_jax",
    "wigner_d_fixed_n_scan_init",
    "wigner_d_fixed_n_step",
]

# Bits per scale step (value = mantissa * 2**(k * B)), by float dtype.  z = 2**(k B) is
# exactly representable for k in {0, -1, -2} and underflows to 0 (correctly: |value| <
# 2**(-3B + 1)) for k <= -3, so the output is mant * z.  Mantissas stay above 2**-B, so
# neither d nor the small differences e become subnormal (slow on x86, flushed on GPUs).
_SCALE_BITS = {np.dtype(np.float64): 480, np.dtype(np.float32): 60}
_K_MIN = -30000  # scale indices are int16


# Shared helpers (numpy, float64)
def _check_n(L: int, n: int) -> int:
    if int(n) != n or abs(int(n)) >= L:
        raise ValueError(f"need an integer |n| < L, got n={n!r}, L={L}")
    return int(n)


def _check_theta(theta) -> np.ndarray:
    theta = np.atleast_1d(np.asarray(theta, dtype=np.float64))
    if theta.ndim != 1:
        raise ValueError("theta must be a scalar or a 1-D array")
    if not np.all((theta >= 0.0) & (theta <= np.pi)):  # also rejects nan
        raise ValueError("angles must lie in [0, pi]")
    return theta


def _half_angles(theta: np.ndarray, dtype=np.float64):
    """cos(theta/2), sin(theta/2) for float64 theta in [0, pi], evaluated in ``dtype``.

    Beyond pi/2 they are evaluated from the (exact) float64 difference
    ``np.pi - theta``, so theta = np.pi is the pole exactly (cos(theta/2) = 0, as theta = 0
    gives sin(theta/2) = 0) and both are relatively accurate near their pole; this reads
    theta near pi as pi - (np.pi - theta), a shift of 1.2e-16.
    """
    upper = theta > 0.5 * np.pi
    h = (0.5 * theta).astype(dtype)
    g = (0.5 * (np.pi - theta)).astype(dtype)  # np.pi - theta is exact here
    c = np.where(upper, np.sin(g), np.cos(h))
    s = np.where(upper, np.cos(g), np.sin(h))
    return c, s


def _start_constants(L: int, m: np.ndarray, n: int):
    """Theta-independent parts of the starting values d^{l0}_{mn}, one per m.

    Returns ``l0 = max(|m|,|n|)``, ``a = |m+n|``, ``b = |m-n|``,
    ``0.5 log2 C(2 l0, a)`` (in extended precision, ``np.longdouble``) and
    ``(-1)^max(m-n, 0)``.
    """
    m = m.astype(np.int64)
    l0 = np.maximum(np.abs(m), abs(n))
    a = np.abs(m + n)
    b = np.abs(m - n)
    kk = np.arange(1, max(2 * (L - 1), 1) + 1, dtype=np.longdouble)
    lf = np.concatenate([np.zeros(1, np.longdouble), np.cumsum(np.log(kk))])  # log k!
    logc = lf[2 * l0] - lf[a] - lf[b]
    half_log2_binom = 0.5 * logc / np.log(np.longdouble(2))
    sign = np.where((np.maximum(m - n, 0) % 2) == 1, -1.0, 1.0)
    return l0, a, b, half_log2_binom, sign


def _start_scaled(a, b, half_log2_binom, sign, theta, bits):
    """Starting values as (mantissa (M, T), int16 k (M, T)) with value = mant * 2^(k bits).

    ``|mant|`` lies in (2^-bits, 1]; exact zeros (a pole) have ``mant = 0, k = 0``.
    The log-space sum is formed in extended precision: its terms reach ~2L bits, so in
    float64 their rounding alone would cost ~L eps of relative accuracy.
    """
    c, s = _half_angles(theta, np.longdouble)
    with np.errstate(divide="ignore", invalid="ignore"):
        log2c = np.log2(c)  # (T,): the only transcendental work in extended precision
        log2s = np.log2(s)
        ta = np.where(a[:, None] == 0, 0.0, a[:, None] * log2c)
        tb = np.where(b[:, None] == 0, 0.0, b[:, None] * log2s)
        x = half_log2_binom[:, None] + ta + tb  # extended precision
        # Rounding, comparisons and exp2 are done in float64 (extended-precision ufuncs
        # are ~10x slower): k from x rounded to float64 (at worst off by one where
        # x / bits is within ~1e-11 of an integer, leaving |mant| a hair outside
        # (2^-bits, 1], harmless), then 2^(x - k bits) = 2^i 2^r with i = floor(.) and
        # the extended-precision remainder r in [0, 1) (up to rounding): exp2 of r in
        # float64 is as accurate as in extended precision.
        x64 = x.astype(np.float64)
        finite = np.isfinite(x64)
        k = np.minimum(np.ceil(np.where(finite, x64, 0.0) / bits), 0.0)
        y = x - k * bits
        i = np.floor(np.where(finite, y.astype(np.float64), 0.0))
        r = (y - i).astype(np.float64)
    mant = np.where(finite, sign[:, None] * np.ldexp(np.exp2(np.where(finite, r, 0.0)), i.astype(np.int64)), 0.0)
    # k is clipped to the int16 range: an entry that deep can never grow back into range
    # (at most ~log2(4L) bits per degree), so only its (zero) output matters.
    return mant, np.maximum(k, _K_MIN).astype(np.int16)


@bounded_cache(8)
def _start_cached(L: int, n: int, nonneg_m: bool, bits: int, theta_bytes: bytes):
    """:func:`_start_scaled` of the rows of :func:`wigner_d_fixed_n_scan_init`, cached (a
    transform and its adjoint on the same rings start alike; read-only arrays, at most
    8 sets of ``(M, T)`` values)."""
    theta = np.frombuffer(theta_bytes, np.float64)
    m_rows = np.arange(0 if nonneg_m else -(L - 1), L)
    _, a, b, hlb, sign = _start_constants(L, m_rows, n)
    out = _start_scaled(a, b, hlb, sign, theta, bits)
    for x in out:
        x.flags.writeable = False
    return out


def _recursion_coefficients(xp, l, m, n, recur):
    """Coefficients of the modified recursion taking d^{l-1}, e^{l-1} to d^l, e^l.

    ``xp`` is ``numpy`` or ``jax.numpy``; ``l`` a scalar, ``m`` a vector of floats, ``n``
    a float scalar, all of one float dtype; ``recur`` marks rows with max(|m|,|n|) < l
    (others get zeros).  Returns ``(g_lo, g_hi, two_a, b)``::

        g_lo = A (1 - p) - 1 - B = (m-n)^2 l [(l-1)/(U_{l-1} + R_{l-1}) + l/(U_l + R_l)] / R_l
        g_hi = 1 + B - A (1 + p) = -(m+n)^2 l [(l-1)/(V_{l-1} + R_{l-1}) + l/(V_l + R_l)] / R_l

    with p = mn/(l(l-1)), R_j = sqrt((j^2-m^2)(j^2-n^2)), U_j = j^2 - mn, V_j = j^2 + mn
    (the closed forms use R_j^2 = U_j^2 - j^2 (m-n)^2 = V_j^2 - j^2 (m+n)^2 and are free
    of cancellation: both vanish for m = +-n, where the recursion is most delicate).
    """
    one = xp.ones((), m.dtype)
    lm1 = l - 1
    r2 = (l * l - m * m) * (l * l - n * n)
    R = xp.sqrt(xp.where(recur, r2, one))
    R1 = xp.sqrt(xp.maximum((lm1 * lm1 - m * m) * (lm1 * lm1 - n * n), 0.0))
    mn = m * n
    u1 = lm1 * lm1 - mn + R1
    v1 = lm1 * lm1 + mn + R1
    u0 = l * l - mn + R
    v0 = l * l + mn + R
    # u1 (v1) vanishes only where m = n (m = -n), where its term has a zero factor.
    t_lo = lm1 / xp.where(u1 > 0, u1, one) + l / xp.where(u0 > 0, u0, one)
    t_hi = lm1 / xp.where(v1 > 0, v1, one) + l / xp.where(v0 > 0, v0, one)
    g_lo = xp.where(recur, (m - n) ** 2 * l * t_lo / R, 0.0)
    g_hi = xp.where(recur, -((m + n) ** 2) * l * t_hi / R, 0.0)
    two_a = xp.where(recur, 2 * l * (2 * l - 1) / R, 0.0)
    b = xp.where(recur & (l > 1), l * R1 / (xp.where(l > 1, lm1, one) * R), 0.0)
    return g_lo, g_hi, two_a, b


# NumPy: three-term recursion in l at fixed n
_NP_CHECK_EVERY = 4  # rescale check cadence; growth over 4 steps < (4L)^4 << 2^60
_NP_CHUNK_ELEMS = 32768  # rows x theta per chunk (256 kB per array)


def _fixed_n_blocks(L: int, n: int, theta: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(l, blk)`` for l = 0..L-1, ``blk[l+m, t] = d^l_{m,n}(theta_t)``, |m| <= l.

    ``blk`` (shape ``(2l+1, T)``) is a fresh array; it is all zero when ``l < |n|``.
    """
    bits = _SCALE_BITS[np.dtype(np.float64)]
    down = np.exp2(-float(bits))
    M = 2 * L - 1
    T = theta.size
    # Put the theta <= pi/2 columns first (identity for sorted theta).
    lo_mask = theta <= 0.5 * np.pi
    perm = np.concatenate([np.nonzero(lo_mask)[0], np.nonzero(~lo_mask)[0]])
    permuted = not np.array_equal(perm, np.arange(T))
    if permuted:
        inv = np.empty_like(perm)
        inv[perm] = np.arange(T)
        theta = theta[perm]
    nlo = int(lo_mask.sum())
    c, s = _half_angles(theta, np.longdouble)
    s2_lo = (s[:nlo] * s[:nlo]).astype(np.float64)
    c2_hi = (c[nlo:] * c[nlo:]).astype(np.float64)

    m_all = np.arange(-(L - 1), L)
    l0, a, b, hlb, sign = _start_constants(L, m_all, n)
    start_mant, start_k = _start_scaled(a, b, hlb, sign, theta, bits)
    del a, b, hlb, sign

    # Modified (Reinsch) form: carry d^l and e^l = d^l - sigma d^{l-1}, sigma = +1 for
    # theta <= pi/2 and -1 beyond; then e^l = gamma d^{l-1} + sigma B e^{l-1} and
    # d^l = sigma d^{l-1} + e^l with gamma = g_lo - 2A sin^2 (resp. g_hi + 2A cos^2).
    d = np.zeros((M, T))
    e = np.zeros((M, T))
    k = np.zeros((M, T), dtype=np.int16)  # scale index, only meaningful where scaled
    z = np.ones((M, T))  # 2^(k B)
    nscaled = np.zeros(M, dtype=np.int64)  # per row: entries with k < 0
    an = abs(n)
    nf = float(n)

    # Work on chunks of rows small enough to stay in cache across the ~12 passes of a
    # step (the step is memory-bound otherwise).
    chunk = max(1, _NP_CHUNK_ELEMS // max(T, 1))
    t_buf = np.empty(chunk * T)
    mf_all = m_all.astype(np.float64)

    for l in range(L):
        if l < an:
            yield l, np.zeros((2 * l + 1, T))
            continue
        r0, r1 = L - 1 - l, L + l  # rows |m| <= l
        if l > an:  # rows |m| < l recurse; rows |m| = l start
            q0, q1 = r0 + 1, r1 - 1
            g_lo, g_hi, two_a, bb = _recursion_coefficients(
                np, float(l), mf_all[q0:q1], nf, np.ones(q1 - q0, bool)
            )
            start_rows = np.array([r0, r1 - 1])
        else:  # l == |n|: every row |m| <= l starts here
            q0 = q1 = r0
            start_rows = np.arange(r0, r1)
        d[start_rows] = start_mant[start_rows]
        e[start_rows] = start_mant[start_rows]  # d^{l0-1} = 0
        ks = start_k[start_rows]
        k[start_rows] = ks
        z[start_rows] = np.exp2(ks.astype(np.float64) * bits)
        nscaled[start_rows] = np.count_nonzero(ks < 0, axis=1)
        check = l % _NP_CHECK_EVERY == 0 or l == L - 1
        out = np.empty((2 * l + 1, T))
        for u in range(r0, r1, chunk):
            v = min(u + chunk, r1)
            a0, a1 = max(u, q0), min(v, q1)  # recurring rows of this chunk
            if a1 > a0:
                cs = slice(a0 - q0, a1 - q0)
                dq = d[a0:a1]
                eq = e[a0:a1]
                t = t_buf[: (a1 - a0) * T].reshape(a1 - a0, T)
                # gamma = g_lo - 2A sin^2 | g_hi + 2A cos^2 ; e = gamma d + sigma B e
                np.multiply(two_a[cs, None], s2_lo, out=t[:, :nlo])
                np.subtract(g_lo[cs, None], t[:, :nlo], out=t[:, :nlo])
                np.multiply(two_a[cs, None], c2_hi, out=t[:, nlo:])
                t[:, nlo:] += g_hi[cs, None]
                t *= dq
                eq *= bb[cs, None]
                np.add(t[:, :nlo], eq[:, :nlo], out=eq[:, :nlo])
                np.subtract(t[:, nlo:], eq[:, nlo:], out=eq[:, nlo:])
                # d = sigma d + e
                dq[:, :nlo] += eq[:, :nlo]
                np.subtract(eq[:, nlo:], dq[:, nlo:], out=dq[:, nlo:])
            oc = out[u - r0 : v - r0]
            sc = nscaled[u:v]
            if sc.any():
                if check:
                    ri, ti = np.nonzero(np.abs(d[u:v]) > 2.0)
                    if ri.size:  # scaled entries that grew out of their range
                        ri += u
                        d[ri, ti] *= down
                        e[ri, ti] *= down
                        kk = k[ri, ti] + 1
                        k[ri, ti] = kk
                        z[ri, ti] = np.exp2(kk.astype(np.float64) * bits)
                        nscaled -= np.bincount(ri[kk == 0], minlength=M)
                np.multiply(d[u:v], z[u:v], out=oc)
            else:
                oc[...] = d[u:v]
        if permuted:
            out = out[:, inv]
        yield l, out


def wigner_d_fixed_n_iter(L: int, n: int, theta) -> Iterator[tuple[int, np.ndarray]]:
    """Iterate ``(l, d_l)`` over ``l = 0..L-1`` with ``d_l[L-1+m, t] = d^l_{m,n}(theta_t)``.

    Same values as :func:`wigner_d_fixed_n` but one degree at a time (memory O(L T)),
    for accumulations whose full ``(L, 2L-1, T)`` table would not fit.

    Args:
        L: band-limit (``0 <= l < L``).
        n: the fixed second order, ``|n| < L``.
        theta: angles in ``[0, pi]``, shape ``(T,)`` (a scalar is treated as ``(1,)``).

    Yields:
        ``(l, d_l)``, ``d_l`` a fresh float64 array of shape ``(2L-1, T)``, zero for
        ``|m| > l`` and everywhere when ``l < |n|``.

    Cost: as :func:`wigner_d_fixed_n`, without the O(L^2 T) output.

    >>> import numpy as np
    >>> ds = [d for _, d in wigner_d_fixed_n_iter(3, 0, np.array([0.3]))]
    >>> bool(np.isclose(ds[1][2, 0], np.cos(0.3)))  # d^1_00 = cos
    True
    """
    L = validate_L(L)
    n = _check_n(L, n)
    theta = _check_theta(theta)
    for l, blk in _fixed_n_blocks(L, n, theta):
        d = np.zeros((2 * L - 1, theta.size))
        d[L - 1 - l : L + l] = blk
        yield l, d


def wigner_d_fixed_n(L: int, n: int, theta) -> np.ndarray:
    """Wigner d^l_{m,n}(theta_t) for all ``l < L``, all ``|m| <= l``, one fixed ``n``.

    Args:
        L: band-limit (``0 <= l < L``); stable to at least L = 2048.
        n: fixed second order, ``|n| < L``.  For spin-s harmonics use ``n = -s``:
            ``sY_lm(theta, phi) = (-1)^s sqrt((2l+1)/4pi) e^{i m phi} d^l_{m,-s}(theta)``.
        theta: angles in ``[0, pi]`` (poles included), shape ``(T,)``.

    Returns:
        float64 array of shape ``(L, 2L-1, T)``, entry ``[l, L-1+m, t]``; zero for
        ``|m| > l`` and for ``l < |n|``.  Values of magnitude below ~1e-289 may be 0.
        Accuracy: ~2e-14 absolute at L = 256; ``sum_m d^l_{mn}^2 = 1`` to < 1e-13 at
        L = 2048, poles included.

    Cost: O(L^2 T) time (modified three-term recursion in ``l``, vectorised over m and
    theta in cache-sized chunks, ~7 passes per degree; timings in ``docs/performance.md``)
    and 8 L (2L-1) T bytes of output
    (0.5 GB at L = 256, T = 512; 17 GB at L = T = 1024 -- use
    :func:`wigner_d_fixed_n_iter` or :func:`wigner_d_fixed_n_jax` to avoid holding it).

    >>> import numpy as np
    >>> d = wigner_d_fixed_n(2, 0, np.array([0.0, np.pi / 2]))
    >>> d.shape
    (2, 3, 2)
    >>> np.round(d[1, :, 1], 6).tolist()  # d^1_{m0}(pi/2) = (1, 0, -1) / sqrt(2)
    [0.707107, 0.0, -0.707107]
    """
    L = validate_L(L)
    n = _check_n(L, n)
    theta = _check_theta(theta)
    out = np.zeros((L, 2 * L - 1, theta.size))
    for l, blk in _fixed_n_blocks(L, n, theta):
        out[l, L - 1 - l : L + l] = blk
    return out


# NumPy: Risbo recursion, all (m, n) at one angle.  Magnitudes below _FLUSH are flushed to
# zero, keeping subnormal arithmetic (very slow on x86) out of the loop, far below the
# ~1e-300 resolution promised for the results.
_FLUSH = 1e-290


def _risbo_iter(L: int, c: float, s: float) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(l, d^l)`` for l < L, ``d^l`` of shape (2l+1, 2l+1) indexed [l+m, l+n], at
    the angle with cos(beta/2) = c, sin(beta/2) = s.  ``d^l`` is a view of a work buffer,
    valid until the next iteration."""
    sq = np.sqrt(np.arange(2 * L, dtype=np.float64))
    size = (2 * L) ** 2
    bufs = [np.empty(size) for _ in range(5)]  # no per-step allocations (page faults)
    d = bufs[0][:1].reshape(1, 1)
    d[0, 0] = 1.0
    yield 0, d
    for l in range(1, L):
        for J in (2 * l - 1, 2 * l):  # half steps: j = J/2 from j - 1/2
            # d is (J, J), indexed [j-1/2 + m, j-1/2 + n]; build e (J+1, J+1):
            # e[i, k] collects d[i', k'] for i' in {i-1, i}, k' in {k-1, k}.
            free = [b for b in bufs if not np.shares_memory(b, d)]
            e, da, db, tmp = (b[: (J + 1) ** 2].reshape(J + 1, J + 1) for b in free[:4])
            da, db, tmp = da[:J, :J], db[:J, :J], tmp[:J, :J]
            wa = sq[J:0:-1] / J  # sqrt(J - i) / J, i = 0..J-1
            wb = sq[1 : J + 1] / J  # sqrt(i + 1) / J
            np.multiply(d, sq[J:0:-1, None], out=da)
            np.multiply(d, sq[1 : J + 1, None], out=db)
            e[J, :] = 0.0
            e[:J, J] = 0.0
            np.multiply(da, c * wa, out=e[:J, :J])
            np.multiply(da, s * wb, out=tmp)
            e[:J, 1:] += tmp
            np.multiply(db, s * wa, out=tmp)
            e[1:, :J] -= tmp
            np.multiply(db, c * wb, out=tmp)
            e[1:, 1:] += tmp
            d = e
        if l % 8 == 0 and 0.0 < s < 1.0:
            tiny = np.abs(d) < _FLUSH
            if tiny.any():
                d[tiny] = 0.0
        yield l, d


def _risbo(L: int, c: float, s: float) -> np.ndarray:
    out = np.zeros((L, 2 * L - 1, 2 * L - 1))
    for l, d in _risbo_iter(L, c, s):
        out[l, L - 1 - l : L + l, L - 1 - l : L + l] = d
    return out


def wigner_d_all(L: int, beta: float) -> np.ndarray:
    """Wigner d^l_{mn}(beta) for all ``l < L`` and ``|m|, |n| <= l`` at one angle.

    Args:
        L: band-limit (``0 <= l < L``).
        beta: angle in ``[0, pi]``.

    Returns:
        float64 array of shape ``(L, 2L-1, 2L-1)``, entry ``[l, L-1+m, L-1+n]`` (the
        layout of ``pyssht.generate_dl(beta, L)``), zero for ``|m| > l`` or ``|n| > l``.
        Each ``d[l]`` block is orthogonal.  Magnitudes below ~1e-290 are returned as 0.

    Cost: O(L^3) time (Risbo recursion, ~18 passes over a (2l+1)^2 block per degree;
    timings in ``docs/performance.md``), O(L^3) output memory
    (8 L (2L-1)^2 bytes: 0.53 GB at L = 256).  Accuracy ~1e-14 absolute at L = 256
    (the same as pyssht's Risbo implementation; each block is orthogonal to ~5e-14).

    >>> import numpy as np
    >>> d = wigner_d_all(2, 0.5)
    >>> bool(np.isclose(d[1, 1, 2], np.sin(0.5) / np.sqrt(2)))  # d^1_{01} = sin / sqrt2
    True
    """
    L = validate_L(L)
    beta = _check_theta(beta)
    if beta.size != 1:
        raise ValueError("beta must be a single angle")
    c, s = _half_angles(beta)
    return _risbo(L, float(c[0]), float(s[0]))


def delta_halfpi(L: int) -> np.ndarray:
    """Trapani-Navaza Delta^l_{mn} = d^l_{mn}(pi/2), shape ``(L, 2L-1, 2L-1)``.

    Evaluated at the exact angle pi/2 (``cos(pi/4) = sin(pi/4) = sqrt(1/2)``), not at the
    float ``np.pi / 2``.  Layout, cost and accuracy as :func:`wigner_d_all`.  It factors
    d at any angle (McEwen & Wiaux 2011)::

        d^l_{mn}(beta) = i^{n-m} sum_{k=-l}^{l} Delta^l_{km} Delta^l_{kn} e^{i k beta}.

    >>> import numpy as np
    >>> D = delta_halfpi(2)
    >>> bool(np.isclose(D[1, 2, 2], 0.5))  # d^1_{11}(pi/2) = (1 + cos)/2
    True
    """
    L = validate_L(L)
    h = float(np.sqrt(0.5))
    return _risbo(L, h, h)


# JAX: the fixed-n recursion as a lax.scan body
@functools.partial(jax.tree_util.register_dataclass, meta_fields=("L", "nonneg_m"),
                   data_fields=("d", "e", "k", "start_mant", "start_k", "w", "lo", "m", "n"))
@dataclasses.dataclass(frozen=True)
class WignerDFixedNState:
    """Carry of the fixed-n recursion, from :func:`wigner_d_fixed_n_scan_init`.

    A pytree whose leaves are arrays with ``R`` rows (``R = 2L-1`` for m = -(L-1)..L-1,
    or ``R = L`` for m = 0..L-1 with ``nonneg_m``) and ``T`` columns; ``L`` and
    ``nonneg_m`` are static (pytree aux data).  ``d``/``e`` are the scaled mantissas of
    d^{l-1} and e^{l-1} = d^{l-1} -+ d^{l-2} (see :func:`wigner_d_fixed_n_step`); values
    are ``mantissa * 2**(k * B)`` with int16 ``k <= 0`` (``B`` = 480 bits in float64, 60
    in float32).  The other leaves are loop constants.
    """

    d: Any  # (R, T)
    e: Any  # (R, T)
    k: Any  # (R, T) int16
    start_mant: Any  # (R, T) scaled mantissa of d^{l0}_{mn}(theta_t), l0 = max(|m|, |n|)
    start_k: Any  # (R, T) int16 scale index of the starting values
    w: Any  # (T,) -sin^2(theta/2) where theta <= pi/2, +cos^2(theta/2) beyond
    lo: Any  # (T,) bool, theta <= pi/2
    m: Any  # (R,) the m of each row, float
    n: Any  # () float
    L: int = dataclasses.field(default=1, metadata={"static": True})
    nonneg_m: bool = dataclasses.field(default=False, metadata={"static": True})


def _jax_dtype(dtype):
    if dtype is None:
        return jnp.dtype(jnp.float64) if jax.config.jax_enable_x64 else jnp.dtype(jnp.float32)
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError("float64 requested but jax_enable_x64 is off")
    return dtype


def wigner_d_fixed_n_scan_init(
    L: int, n: int, theta, *, dtype=None, nonneg_m: bool = False
) -> WignerDFixedNState:
    """Initial carry for :func:`wigner_d_fixed_n_step` (degree ``l = 0`` comes first).

    Args:
        L: band-limit (static Python int).
        n: fixed second order, ``|n| < L`` (static Python int).
        theta: angles in ``[0, pi]``, shape ``(T,)``.  A concrete array (numpy, or a
            non-traced jax array) gets its starting values on the host in extended
            precision, then cast; a traced one (inside ``jit``) gets them with
            ``jax.numpy`` in ``dtype``, which loses ~L eps of relative accuracy (and, if
            theta is out of range, is not checked).
        dtype: ``jnp.float64`` or ``jnp.float32``; default float64 when x64 is enabled,
            else float32.
        nonneg_m: compute only the rows m = 0..L-1 (half the work, e.g. for real
            signals, where d^l_{-m,n} is not needed); the steps then yield ``(L, T)``
            arrays indexed ``[m, t]``.

    Returns:
        :class:`WignerDFixedNState`.  Cost O(L T) time and memory.
    """
    L = validate_L(L)
    n = _check_n(L, n)
    dtype = _jax_dtype(dtype)
    bits = _SCALE_BITS[np.dtype(dtype)]
    m_rows = np.arange(0 if nonneg_m else -(L - 1), L)
    _, a, b, hlb, sign = _start_constants(L, m_rows, n)
    if isinstance(theta, jax.core.Tracer):
        th = jnp.atleast_1d(jnp.asarray(theta, dtype=dtype))
        lo = th <= 0.5 * np.pi
        c = jnp.where(lo, jnp.cos(0.5 * th), jnp.sin(0.5 * (np.pi - th)))
        s = jnp.where(lo, jnp.sin(0.5 * th), jnp.cos(0.5 * (np.pi - th)))
        log2c, log2s = jnp.log2(c), jnp.log2(s)
        a_j = jnp.asarray(a, dtype)[:, None]
        b_j = jnp.asarray(b, dtype)[:, None]
        x = (
            jnp.asarray(hlb.astype(np.float64), dtype)[:, None]
            + jnp.where(a_j == 0, 0.0, a_j * log2c)
            + jnp.where(b_j == 0, 0.0, b_j * log2s)
        )
        finite = jnp.isfinite(x)
        x = jnp.where(finite, x, 0.0)
        kf = jnp.minimum(jnp.ceil(x / bits), 0.0)
        start_mant = jnp.where(finite, jnp.asarray(sign, dtype)[:, None] * jnp.exp2(x - kf * bits), 0.0)
        start_k = jnp.maximum(kf, _K_MIN).astype(jnp.int16)
        w = jnp.where(lo, -s * s, c * c)
    else:
        th = _check_theta(np.asarray(theta))
        mant, kk = _start_cached(L, n, bool(nonneg_m), bits, th.tobytes())
        c, s = _half_angles(th, np.longdouble)
        lo_np = th <= 0.5 * np.pi
        start_mant = jnp.asarray(mant, dtype)
        start_k = jnp.asarray(kk, jnp.int16)
        w = jnp.asarray(np.where(lo_np, -s * s, c * c).astype(np.float64), dtype)
        lo = jnp.asarray(lo_np)
    zeros = jnp.zeros(start_mant.shape, dtype)
    return WignerDFixedNState(
        d=zeros,
        e=zeros,
        k=jnp.zeros(start_mant.shape, jnp.int16),
        start_mant=start_mant,
        start_k=start_k,
        w=w,
        lo=lo,
        m=jnp.asarray(m_rows, dtype),
        n=jnp.asarray(n, dtype),
        L=L,
        nonneg_m=bool(nonneg_m),
    )


def wigner_d_fixed_n_step(state: WignerDFixedNState, l):
    """One step of the fixed-n recursion: degree ``l`` from degree ``l-1``.

    Call with ``l = 0, 1, ..., L-1`` in order, starting from
    :func:`wigner_d_fixed_n_scan_init`; ``l`` may be a traced integer scalar, so this
    is a ready ``jax.lax.scan`` body::

        state, d = jax.lax.scan(wigner_d_fixed_n_step, state, jnp.arange(L))  # d: (L, 2L-1, T)

    The carry holds d^{l-1} and e^{l-1} = d^{l-1} - sigma d^{l-2} (sigma = +1 where
    theta <= pi/2, -1 beyond), updated as e^l = gamma d^{l-1} + sigma B e^{l-1},
    d^l = sigma d^{l-1} + e^l; ``gamma = alpha - sigma (1 + B)`` is small near the poles
    and formed without cancellation (see ``_recursion_coefficients``), which keeps the
    near-pole error growth at ~sqrt(l) eps instead of ~l^2 eps.

    Returns:
        ``(new_state, d_l)``, ``d_l[L-1+m, t] = d^l_{m,n}(theta_t)`` of shape ``(2L-1, T)``
        (``d_l[m, t]``, shape ``(L, T)``, with ``nonneg_m``) in the state's dtype; zero
        for ``|m| > l`` or ``l < |n|``; magnitudes below ~1e-289 (float64) / ~1e-36
        (float32) may come out as 0.

    Cost: O(L T) per step: one fused elementwise pass over all rows (masked), reading
    d, e, k and writing them and d_l; the starting values are read only for the rows
    m = +-l (all rows once, at l = |n|).
    """
    dt = state.d.dtype
    bits = _SCALE_BITS[np.dtype(dt)]
    m, n, L = state.m, state.n, state.L
    l = jnp.asarray(l, jnp.int32)
    lf = l.astype(dt)
    an = jnp.abs(n)
    # rows where the starting values of m = +-l sit
    start_rows = (l,) if state.nonneg_m else (L - 1 - l, L - 1 + l)

    def start_all(st):  # l <= |n|: zeros, except every row |m| <= |n| starts at l = |n|
        mask = ((jnp.abs(m) <= an) & (lf == an))[:, None]
        d = jnp.where(mask, st.start_mant, 0.0)
        return d, d, jnp.where(mask, st.start_k, 0).astype(st.k.dtype)

    def recur(st):  # l > |n|: rows |m| < l recurse, rows m = +-l start
        g_lo, g_hi, two_a, bb = _recursion_coefficients(jnp, lf, m, n, jnp.maximum(jnp.abs(m), an) < lf)
        lo = st.lo[None, :]
        gamma = jnp.where(lo, g_lo[:, None], g_hi[:, None]) + two_a[:, None] * st.w[None, :]
        be = bb[:, None] * st.e
        e = gamma * st.d + jnp.where(lo, be, -be)
        d = jnp.where(lo, st.d + e, e - st.d)
        k = st.k
        for row in start_rows:
            sm = jax.lax.dynamic_slice_in_dim(st.start_mant, row, 1)
            sk = jax.lax.dynamic_slice_in_dim(st.start_k, row, 1)
            d = jax.lax.dynamic_update_slice_in_dim(d, sm, row, 0)
            e = jax.lax.dynamic_update_slice_in_dim(e, sm, row, 0)
            k = jax.lax.dynamic_update_slice_in_dim(k, sk, row, 0)
        return d, e, k

    d, e, k = jax.lax.cond(lf <= an, start_all, recur, state)
    big = (k < 0) & (jnp.abs(d) > 1)
    down = jnp.asarray(2.0**-bits, dt)
    d = jnp.where(big, d * down, d)
    e = jnp.where(big, e * down, e)
    k = k + big.astype(k.dtype)
    z = jnp.where(k == 0, 1.0, jnp.where(k == -1, 2.0**-bits, jnp.where(k == -2, 2.0 ** (-2 * bits), 0.0)))
    return dataclasses.replace(state, d=d, e=e, k=k), d * z.astype(dt)


def wigner_d_fixed_n_jax(
    L: int,
    n: int,
    theta,
    body: Callable[[Any, Any, Any], tuple[Any, Any]],
    init: Any,
    *,
    dtype=None,
    nonneg_m: bool = False,
    unroll: int = 1,
):
    """Scan the fixed-n recursion over ``l = 0..L-1``, handing each degree to ``body``.

    Never holds more than two degrees: ``body(acc, l, d_l) -> (acc, y)`` receives
    ``d_l[L-1+m, t] = d^l_{m,n}(theta_t)`` (shape ``(2L-1, T)``, zero for ``|m| > l``;
    with ``nonneg_m``, ``d_l[m, t]`` for m = 0..L-1, shape ``(L, T)``) and a traced
    int32 ``l``; ``acc`` is any pytree carried along from ``init``, and the ``y`` (any
    pytree, or ``None``) are stacked along a new leading axis of length ``L`` exactly as
    by ``jax.lax.scan``.  Pure ``jax.numpy``; jit-able with ``L``, ``n``, ``body``
    static (``theta``, and whatever ``body`` closes over, may be traced).

    ``theta`` may also be a :class:`WignerDFixedNState` from
    :func:`wigner_d_fixed_n_scan_init` (then ``dtype``/``nonneg_m`` are taken from it).
    Building it once outside ``jit`` and passing it in as an argument gives the
    host-accurate starting values without baking ``(2L-1, T)`` constants into the
    compiled program (a concrete numpy ``theta`` closed over inside ``jit`` does that).

    Typical uses in a spin-s SHT (``n = -s``, ``lam[l] = (-1)^s sqrt((2l+1)/4pi)``)::

        # inverse: f_m(theta_t) = sum_l lam_l flm[l, m] d^l_{m,-s}(theta_t)
        def body(fm, l, d):                                   # fm: (2L-1, T)
            return fm + d * (lam[l] * flm[l])[:, None], None
        fm, _ = wigner_d_fixed_n_jax(L, -s, theta, body, jnp.zeros((2*L-1, T), flm.dtype))

        # forward: flm[l, m] = lam_l sum_t q_t d^l_{m,-s}(theta_t) g_m(theta_t)
        qg = q[None, :] * gm                                  # (2L-1, T)
        def body(acc, l, d):
            return acc, lam[l] * jnp.sum(d * qg, axis=1)
        _, flm = wigner_d_fixed_n_jax(L, -s, theta, body, None)   # flm: (L, 2L-1)

    Args:
        L, n, theta, dtype, nonneg_m: as :func:`wigner_d_fixed_n_scan_init`.
        body: ``(acc, l, d_l) -> (acc, y)``.
        init: initial ``acc``.
        unroll: passed to ``jax.lax.scan``.

    Returns:
        ``(acc, ys)``.

    Cost: O(L^2 T) flops, O(L T) memory besides ``acc`` and ``ys``.  Accuracy: float64
    agrees with :func:`wigner_d_fixed_n` to ~1e-15 (concrete theta); float32 has
    absolute errors ~4e-7 at L = 64 and ~3e-6 at L = 2048 with concrete theta, ~3e-5
    with theta traced (its starting values are then computed in float32, and theta itself
    is rounded to float32), and flushes magnitudes below ~1e-36 to 0.
    """
    if isinstance(theta, WignerDFixedNState):
        state = theta
        if state.L != L or state.m.shape[0] != (L if state.nonneg_m else 2 * L - 1):
            raise ValueError(f"state was built for L={state.L}, not L={L}")
    else:
        state = wigner_d_fixed_n_scan_init(L, n, theta, dtype=dtype, nonneg_m=nonneg_m)

    def f(carry, l):
        st, acc = carry
        st, d = wigner_d_fixed_n_step(st, l)
        acc, y = body(acc, l, d)
        return (st, acc), y

    (_, acc), ys = jax.lax.scan(f, (state, init), jnp.arange(L, dtype=jnp.int32), unroll=unroll)
    return acc, ys
