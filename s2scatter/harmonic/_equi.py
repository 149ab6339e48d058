"""The forward operator on the equiangular samplings ``mw``, ``mwss`` and ``dh``, for any samples.

A map that is not band-limited (every real map) has no "true" coefficients: the
forward transform is a choice of linear operator on samples, and every method
must make the same one.  Ours is pyssht's (and s2fft's), per sampling.  With
``F_m(theta_t) = (2 pi / nphi) sum_p f(theta_t, phi_p) e^{-i m phi_p}`` the
ring Fourier coefficients and ``Y_lm = sY_lm`` (phi part removed)::

    mw:    flm = int_0^pi  F~_m(theta) Y_lm(theta) sin(theta) dtheta
    mwss:  the same, Nyquist term of F~_m dropped
    dh:    flm = sum_t w_t F_m(theta_t) Y_lm(theta_t)      (w: Driscoll-Healy
                                                            = Fejer's first rule)
    gl:    flm = sum_t w_t F_m(theta_t) Y_lm(theta_t)      (w: Gauss-Legendre)

where ``F~_m`` is the trigonometric interpolant of the ring data extended to
``[0, 2 pi)`` by ``F_m(2 pi - theta) = (-1)^(m+s) F_m(theta)`` (each pole ring
used once): degree ``< L`` for ``mw`` (2L-1 samples), and for ``mwss`` (2L
samples) with the ambiguous ``|k| = L`` term left out.

On band-limited samples all four are exact.  Elsewhere the methods used to
part ways in three places, all fixed here:

1. **Pole rings, ``m + s`` odd.**  The extension of a pole sample should be
   zero there (a band-limited field has none), but a real map has one.
   pyssht keeps it, as a spike ``x_p D(theta - theta_p)`` in ``F~`` (``D`` the
   Dirichlet kernel); ducc0 drops it; a Gauss-Legendre quadrature of the spike
   (the old ``"jax"`` path) is inexact, because spike times ``Y_lm`` is not a
   polynomial in ``cos theta``.  The spike's integral against odd ``Y`` is
   non-zero on ``sin((L-1) theta)`` only (``kappa_p``, :func:`_pole_fix`), and
   the same functional is produced by data ``v`` on the other rings, a fixed
   vector (``v(theta) = sin(theta) P'_{L-1}(cos theta)``, normalised): adding
   ``kappa_p x_p v`` to the other rings of an odd column turns the "drop the
   pole" operator into pyssht's.
2. **The mwss Nyquist term.**  ducc0's ``CC`` analysis keeps it (split between
   ``+-L``); pyssht drops it.  Removing the ``(-1)^t`` component of even columns
   first makes them agree (odd columns have none).
3. **dh.**  ducc0's ``F1`` analysis integrates a truncated interpolant, not the
   quadrature.  Here the quadrature is computed exactly on ``L`` Chebyshev
   (Fejer) rings ``theta_r = pi (2r+1) / (2L)``: an even (odd) column's weighted
   data enter only through their moments against ``cos(k theta)``
   (``sin(k theta)``), ``k < L``, which an orthonormal DCT-II (DST-II) of length
   ``2L`` gives and an inverse one of length ``L`` hands to ring data with the
   same moments; ducc0's ``leg2alm`` on those ``L`` rings then gives the exact
   quadrature, at the cost of a Gauss-Legendre analysis plus two real
   transforms along theta, O(L^2 log L) (faster than ducc0's own ``F1`` analysis:
   ``docs/performance.md``).

Users: the ``"ducc"`` method (:func:`fix_input` / :func:`fix_input_T` before
ducc0's ``MW``/``CC`` analysis and after its adjoint, :func:`dh_analysis_into`,
:func:`dh_adjoint_analysis_into`), its MW path through Gauss-Legendre
(:mod:`._mw_gl`) and the ``"jax"`` method (:func:`gl_resampler`, the same
operator as two dense matrices onto Gauss-Legendre nodes).
"""

from __future__ import annotations

import math

import numpy as np

from .._config import bounded_cache
from .._dtypes import complex_dtype
from ..sampling import quadrature_weights, thetas

__all__ = ["cheb_thetas", "fix_input", "fix_input_T", "gl_resampler", "dh_analysis_into",
           "dh_adjoint_analysis_into"]


# the pole correction (mw, mwss) and the mwss Nyquist term
def _poles(L: int, sampling: str) -> tuple[int, ...]:
    """Ring indices on a pole."""
    return (L - 1,) if sampling == "mw" else (0, L)


@bounded_cache(32)
def _pole_fix(L: int, sampling: str):
    """``(v, kappa)``: ``v`` (T,) float64, zero on the poles, and ``kappa`` per pole.

    For ``m + s`` odd, pyssht's operator on data ``x`` equals the pole-dropping one
    on ``x + sum_p kappa_p x_p v``.  Derivation: the pole spike's interpolant is
    ``D(theta - theta_p)``, ``D`` the (Nyquist-free) Dirichlet kernel of ``N``
    samples, even about 0; against ``sin(k theta) sin(theta)`` on ``[0, pi]`` it
    gives ``(pi / 2N) [cos((k-1) theta_p) - cos((k+1) theta_p) [k+1 < L]]``, i.e.
    ``kappa_p = (pi / 2N) cos((L-2) theta_p)`` at ``k = L-1`` and zero below.  An odd
    interpolant ``B`` of the other rings' data reproduces that iff
    ``int_0^pi B sin(k theta) sin(theta) dtheta = delta_{k, L-1}``, i.e.
    ``B = sin(theta) b(cos theta)`` with ``b`` of degree ``L-2`` orthogonal to lower
    degrees for the weight ``1 - x^2``: ``b ~ P'_{L-1}`` (Gegenbauer ``C^{3/2}``).
    The normalisation ``int (1-x^2) P'_{L-1} U_{L-2} dx`` is a polynomial of degree
    ``2L-2``, exact with ``L`` Gauss-Legendre nodes.  Computed in extended precision.
    """
    th = thetas(L, sampling=sampling)
    n = L - 1
    v = np.zeros(th.size)
    kappa = {}
    if n < 1:  # L = 1: no odd column has an interpolant to carry the spike (and none is needed)
        return v, kappa
    N = 2 * L - 1 if sampling == "mw" else 2 * L
    ld = np.longdouble
    pi = np.arccos(ld(-1))
    for p in _poles(L, sampling):
        south = p > 0  # theta_p = pi: cos((L-2) pi) = (-1)^L; theta_p = 0: 1
        kappa[p] = float(pi / (2 * N)) * (-1.0 if south and L % 2 else 1.0)
    inner = np.ones(th.size, bool)
    inner[list(_poles(L, sampling))] = False
    tgl = thetas(L, sampling="gl").astype(ld)
    wgl = quadrature_weights(L, sampling="gl").astype(ld)
    norm = np.sum(wgl * _sin_dp(n, tgl) * np.sin(n * tgl) / np.sin(tgl))
    t_in = th[inner].astype(ld)
    v[inner] = (_sin_dp(n, t_in) / np.sin(t_in) / norm).astype(np.float64)
    return v, kappa


def _sin_dp(n: int, theta):
    """``(1 - x^2) P_n'(x)`` at ``x = cos(theta)`` (extended precision), from the
    upward recurrence ``(1-x^2) P_n' = n (P_{n-1} - x P_n)``; in ``longdouble`` its
    cancellation near the poles costs ~``n^2`` ulps (5e-13 at n = 2048)."""
    x = np.cos(theta)
    p0, p1 = np.ones_like(x), x
    for k in range(1, n):
        p0, p1 = p1, ((2 * k + 1) * x * p1 - k * p0) / (k + 1)
    if n == 1:
        return 1 - x * x  # (1 - x^2) P_1'
    return n * (p0 - x * p1)


def _phi_project(g, spin: int, odd: bool):
    """Keep the phi modes ``m`` of rings ``g`` (..., nphi) with ``m + spin`` odd (even)."""
    import ducc0

    nphi = g.shape[-1]
    if nphi % 2 == 0:  # e^{i m (phi + pi)} = (-1)^m e^{i m phi}: a half-turn shift separates them
        sign = -((-1.0) ** spin) if odd else (-1.0) ** spin
        h = g.reshape(g.shape[:-1] + (2, nphi // 2))
        out = np.empty(h.shape, g.dtype)
        np.multiply(h[..., 1, :], 0.5 * sign, out=out[..., 0, :])
        out[..., 0, :] += 0.5 * h[..., 0, :]  # (g(phi) + sign g(phi + pi)) / 2 ...
        np.multiply(out[..., 0, :], sign, out=out[..., 1, :])  # ... and sign times it half a turn on
        return out.reshape(g.shape)
    G = ducc0.fft.r2c(g, axes=(g.ndim - 1,))
    G[..., (spin % 2 if odd else 1 - spin % 2) :: 2] = 0  # drop the other parity
    return ducc0.fft.c2r(G, axes=(g.ndim - 1,), lastsize=nphi, forward=False, inorm=2)


def fix_input(maps, L: int, spin: int, sampling: str):
    """Real components ``(ncomp, ntheta, nphi)`` -> the maps on which ducc0's ``MW``
    (``sampling="mw"``) or ``CC`` (``"mwss"``) analysis gives this module's operator
    (a pooled buffer; ``spin`` is ducc0's ``|s|``): ``maps + v (x) odd`` (the pole
    correction of the odd columns) ``- (-1)^t (x) even`` (mwss: the Nyquist term of the
    even ones).  Cost: two passes over the map, O(L^2) (its share of the analysis:
    ``docs/performance.md``)."""
    from ._buffers import output_empty

    _, kappa = _pole_fix(L, sampling)
    if not kappa and sampling == "mw":  # L = 1: nothing to correct
        return maps
    U = _correction_rows(L, sampling, maps.dtype.str)  # (T, K)
    W = np.empty((maps.shape[0], U.shape[1], maps.shape[2]), maps.dtype)  # the correction: U W[c]
    k = 0
    if kappa:
        pole = sum(kp * maps[:, p] for p, kp in kappa.items())
        W[:, 0] = _phi_project(pole, spin, True)
        k = 1
    if sampling == "mwss":
        W[:, k] = _phi_project(_nyquist_coefficient(maps, L), spin, False)
    out = output_empty(maps.shape, maps.dtype)
    for c in range(maps.shape[0]):
        np.einsum("tk,kp->tp", U, W[c], out=out[c])  # einsum's own loop: no BLAS threads (see _ring_sum)
    out += maps
    return out


@bounded_cache(64)
def _correction_rows(L: int, sampling: str, dtype: str):
    """``(T, K)``: the ring profiles of :func:`fix_input`'s rank-``K`` correction."""
    v, kappa = _pole_fix(L, sampling)
    rows = ([v] if kappa else []) + ([-((-1.0) ** np.arange(L + 1))] if sampling == "mwss" else [])
    U = np.ascontiguousarray(np.stack(rows, axis=1), dtype=dtype)
    U.setflags(write=False)
    return U


def _nyquist_coefficient(maps, L: int):
    """The Nyquist coefficient ``sum_t a_t maps[:, t]`` of even columns' 2L-periodic
    extension, ``a = (1, 2 (-1)^t, (-1)^L) / 2L`` (interior rings appear twice in the
    extension, the poles once), as slice sums."""
    interior = maps[:, 2:L:2].sum(axis=1) - maps[:, 1:L:2].sum(axis=1)
    pole = maps[:, 0] + maps[:, L] if L % 2 == 0 else maps[:, 0] - maps[:, L]
    return (interior + 0.5 * pole) / L


def fix_input_T(ct, L: int, spin: int, sampling: str):
    """Transpose of :func:`fix_input` (plain sums over samples), in place on ``ct``."""
    v, kappa = _pole_fix(L, sampling)
    dt = ct.dtype
    odd = _phi_project(_ring_sum(ct, v), spin, True).astype(dt) if kappa else None
    even = None
    if sampling == "mwss":
        even = _phi_project(ct[:, 0::2].sum(axis=1) - ct[:, 1::2].sum(axis=1), spin, False).astype(dt)
    for p, k in kappa.items():
        ct[:, p] += k * odd
    if even is not None:  # ct[:, t] -= a_t even (a: _nyquist_coefficient)
        e = even / L
        ct[:, 1:L:2] += e[:, None]
        ct[:, 2:L:2] -= e[:, None]
        ct[:, 0] -= e / 2
        ct[:, L] -= e / 2 if L % 2 == 0 else -e / 2
    return ct


def _ring_sum(maps, weights):
    """``sum_t weights[t] maps[:, t]`` -> ``(ncomp, nphi)``: one O(L^2) pass in einsum's own
    loop (a BLAS vector-matrix product here waits on OpenBLAS's worker threads:
    ``docs/performance.md``)."""
    return np.einsum("ctp,t->cp", maps, weights.astype(maps.dtype))


# the same operator as matrices onto Gauss-Legendre nodes (jax method, _mw_gl)
@bounded_cache(8)
def gl_resampler(L: int, sampling: str):
    """``(R_even, R_odd)``, float64 ``(L, T)``: native ring data -> values at the ``L``
    Gauss-Legendre nodes (:func:`s2scatter.sampling.thetas` ``"gl"``) whose GL quadrature
    against ``Y_lm`` is this module's operator, for columns with ``m + s`` even / odd.

    ``mw``/``mwss``: the interpolant ``F~`` at the nodes (built in extended precision;
    exact, as ``F~ Y`` is a polynomial of degree ``<= 2L-2`` in ``cos theta``), the pole
    columns of ``R_odd`` replaced by :func:`_pole_fix`.  ``dh``: the representer of the
    quadrature in the polynomials of degree ``< L`` (``sin(theta)`` times degree ``< L-1``
    for odd columns), ``sum_k phi_k(x_g) w_t phi_k(x_t)`` with orthonormal Legendre
    ``phi_k``.  Read-only arrays, cached.
    """
    tgl = thetas(L, sampling="gl")
    th = thetas(L, sampling=sampling)
    if sampling == "dh":
        R = _dh_representers(L, tgl, th)
    else:
        N = 2 * L - 1 if sampling == "mw" else 2 * L
        direct, mirror = _dirichlet_pair(tgl, th, L, N)  # the mirror sample sits at 2 pi - theta_t
        poles = list(_poles(L, sampling))
        even, odd = direct + mirror, direct - mirror
        even[:, poles] = direct[:, poles]  # a pole ring is its own mirror image: used once
        odd[:, poles] = 0
        v, kappa = _pole_fix(L, sampling)
        if kappa:
            carry = odd @ v.astype(odd.dtype)
            for p, k in kappa.items():
                odd[:, p] = k * carry
        R = (even.astype(np.float64), odd.astype(np.float64))
    for r in R:
        r.setflags(write=False)
    return R


def _dirichlet_pair(tgl, th, L: int, N: int):
    """``D(T - t)`` and ``D(T + t)`` for nodes ``T`` (rows) and rings ``t`` (columns) in
    extended precision, ``D(x) = (1/N) sum_{|j|<L} e^{ijx} = sin(Kx/2) / (N sin(x/2))``,
    ``K = 2L-1``.  The numerators by angle addition (one sine and cosine per node and
    ring; absolute error ~eps, fine where they are small because the denominators are
    computed from the differences themselves); ``D(0) = K/N``."""
    ld = np.longdouble
    T, t = tgl.astype(ld), th.astype(ld)
    K = 2 * L - 1
    sa, ca = np.sin(K * T / 2)[:, None], np.cos(K * T / 2)[:, None]
    sb, cb = np.sin(K * t / 2)[None, :], np.cos(K * t / 2)[None, :]
    out = []
    for sign in (-1, 1):
        num = sa * cb + sign * (ca * sb)
        den = N * np.sin((T[:, None] + sign * t[None, :]) / 2)
        out.append(np.divide(num, den, out=np.full(num.shape, ld(K) / N), where=den != 0))
    return out


def _orthonormal_legendre_top(n: int, x):
    """``(phi_{n-2}, phi_{n-1}, phi_n)`` at ``x`` (``n >= 2``), ``phi_k = sqrt(k + 1/2) P_k``,
    from ``x phi_k = a_{k+1} phi_{k+1} + a_k phi_{k-1}``, in the precision of ``x``."""
    one = x.dtype.type
    a = [one(0)] + [k / np.sqrt(one((2 * k - 1) * (2 * k + 1))) for k in range(1, n + 1)]
    pm2, pm1, p = None, np.full_like(x, np.sqrt(one(0.5))), np.sqrt(one(1.5)) * x
    for k in range(1, n):
        pm2, pm1, p = pm1, p, (x * p - a[k] * pm1) / a[k + 1]
    return pm2, pm1, p


def _dh_representers(L, tgl, th):
    """Christoffel-Darboux: ``sum_{k<n} phi_k(x) phi_k(y) = a_n (phi_n(x) phi_{n-1}(y)
    - phi_{n-1}(x) phi_n(y)) / (x - y)``, ``n = L`` (even) and ``L-1`` (odd), in extended
    precision with ``x - y = -2 sin((a+b)/2) sin((a-b)/2)`` (GL and dh nodes come within
    ~1e-9 of each other near the poles at L = 2048; the kernel is ~L^2 there, so the
    cancellation costs less than 1e-14 of it)."""
    ld = np.longdouble
    tg, tt = tgl.astype(ld)[:, None], th.astype(ld)[None, :]
    diff = -2 * np.sin((tg + tt) / 2) * np.sin((tg - tt) / 2)
    w = quadrature_weights(L, sampling="dh").astype(ld)
    if L == 1:  # phi_0 only
        even = np.full((1, th.size), ld(0.5)) * w[None, :]
        return even.astype(np.float64), np.zeros((1, th.size))
    xg, xt = np.cos(tgl.astype(ld)), np.cos(th.astype(ld))
    gm2, gm1, g0 = _orthonormal_legendre_top(L, xg)
    tm2, tm1, t0 = _orthonormal_legendre_top(L, xt)

    def cd(n, gn, gn1, tn, tn1):
        a = n / np.sqrt(ld((2 * n - 1) * (2 * n + 1)))
        return a * (gn[:, None] * tn1[None, :] - gn1[:, None] * tn[None, :]) / diff

    even = cd(L, g0, gm1, t0, tm1) * w[None, :]
    odd = cd(L - 1, gm1, gm2, tm1, tm2) * (w * np.sin(th.astype(ld)))[None, :] / np.sin(tgl.astype(ld))[:, None]
    return even.astype(np.float64), odd.astype(np.float64)


# dh on the host: weights, DCT/DST along theta, ducc0's Legendre stage on L rings
@bounded_cache(64)
def cheb_thetas(L: int) -> np.ndarray:
    """The ``L`` Chebyshev (Fejer) colatitudes ``pi (2r+1) / (2L)`` of the dh Legendre stage."""
    th = np.pi * (2 * np.arange(L) + 1) / (2 * L)
    th.setflags(write=False)
    return th


@bounded_cache(128)
def _dh_layout(L: int, spin: int):
    """``(mval, split)``: the orders ``m < L`` as ducc0's ``mval``, those with ``m + spin``
    even first (``split`` of them), then the odd ones."""
    m = np.arange(L)
    mval = np.concatenate([m[spin % 2 :: 2], m[1 - spin % 2 :: 2]]).astype(np.uintp)
    return mval, (L - spin % 2 + 1) // 2


def _theta_stage(x, L: int, ne: int, out, nthreads: int):
    """Weighted dh ring data ``x`` (ncomp, 2L, L, 2) real, columns in ``_dh_layout`` order
    -> Chebyshev-ring data ``out`` (ncomp, L, L, 2) with the same moments."""
    import ducc0

    F = ducc0.fft
    r2 = math.sqrt(2.0)
    if ne:
        y = F.dct(x[:, :, :ne], type=2, axes=(1,), inorm=1, nthreads=nthreads)[:, :L]
        y *= r2
        F.dct(y, type=3, axes=(1,), inorm=1, nthreads=nthreads, out=out[:, :, :ne])
    if ne < L:
        y = F.dst(x[:, :, ne:], type=2, axes=(1,), inorm=1, nthreads=nthreads)[:, :L]
        y *= r2
        y[:, L - 1] = 0  # the sin(L theta) moment is not one of Y's: set it to zero
        F.dst(y, type=3, axes=(1,), inorm=1, nthreads=nthreads, out=out[:, :, ne:])
    return out


def _theta_stage_T(z, L: int, ne: int, out, nthreads: int):
    """Transpose of :func:`_theta_stage`: ``z`` (ncomp, L, L, 2) -> ``out`` (ncomp, 2L, L, 2)."""
    import ducc0

    F = ducc0.fft
    r2 = math.sqrt(2.0)
    pad = np.zeros((z.shape[0], 2 * L, max(ne, L - ne), 2), z.dtype)
    if ne:
        F.dct(z[:, :, :ne], type=2, axes=(1,), inorm=1, nthreads=nthreads, out=pad[:, :L, :ne])
        pad[:, :L, :ne] *= r2
        F.dct(pad[:, :, :ne], type=3, axes=(1,), inorm=1, nthreads=nthreads, out=out[:, :, :ne])
    if ne < L:
        no = L - ne
        pad[:, :, :no] = 0
        F.dst(z[:, :, ne:], type=2, axes=(1,), inorm=1, nthreads=nthreads, out=pad[:, :L, :no])
        pad[:, :L, :no] *= r2
        pad[:, L - 1 :, :no] = 0
        F.dst(pad[:, :, :no], type=3, axes=(1,), inorm=1, nthreads=nthreads, out=out[:, :, ne:])
    return out


@bounded_cache(64)
def _dh_ring_weights(L: int, nphi: int):
    return quadrature_weights(L, sampling="dh") * (2 * np.pi / nphi)


def dh_analysis_into(maps, L_alm: int, L: int, *, spin: int, out, mstart, nthreads: int):
    """Exact dh quadrature of real components ``(ncomp, 2L, nphi)`` at band-limit ``L``,
    into ``out`` ``(ncomp, nalm(L_alm))`` through ducc0 ``mstart`` (healpy order; entries
    ``l >= L`` untouched); ``spin``: ducc0's ``|s|`` (``ncomp = 2`` for a spin pair)."""
    import ducc0

    ncomp, _, nphi = maps.shape
    rdt = maps.dtype
    cdt = complex_dtype(rdt)
    mval, ne = _dh_layout(L, spin)
    leg = np.take(ducc0.fft.r2c(maps, axes=(2,), nthreads=nthreads), mval.astype(np.intp), axis=2)  # layout order
    x = leg.view(rdt).reshape(leg.shape + (2,))
    x *= _dh_ring_weights(L, nphi).astype(rdt)[:, None, None]
    g = np.empty((ncomp, L, L), cdt)
    _theta_stage(x, L, ne, g.view(rdt).reshape(g.shape + (2,)), nthreads)
    return ducc0.sht.experimental.leg2alm(leg=g, lmax=L - 1, theta=cheb_thetas(L), spin=spin, mval=mval,
                                          mstart=np.asarray(mstart)[mval], lstride=1, nthreads=nthreads,
                                          alm=out)


def dh_adjoint_analysis_into(alm, L: int, *, spin: int, out, nthreads: int):
    """Adjoint of :func:`dh_analysis_into` (``L_alm = L``), in ducc0's pairing (the one
    of its ``adjoint_analysis_2d``): alm ``(ncomp, nalm)`` -> real maps ``out``
    ``(ncomp, 2L, nphi)``."""
    import ducc0

    ncomp, _, nphi = out.shape
    rdt = out.dtype
    cdt = complex_dtype(rdt)
    mval, ne = _dh_layout(L, spin)
    m = mval.astype(np.int64)
    mstart = (m * (2 * L - 1 - m) // 2).astype(np.uintp)
    g = ducc0.sht.experimental.alm2leg(alm=alm, lmax=L - 1, theta=cheb_thetas(L), spin=spin, mval=mval,
                                       mstart=mstart, lstride=1, nthreads=nthreads)
    g = np.ascontiguousarray(g, dtype=cdt)
    y = np.empty((ncomp, 2 * L, L), cdt)
    _theta_stage_T(g.view(rdt).reshape(g.shape + (2,)), L, ne, y.view(rdt).reshape(y.shape + (2,)), nthreads)
    y *= _dh_ring_weights(L, nphi).astype(rdt)[:, None]
    leg = np.zeros((ncomp, 2 * L, nphi // 2 + 1), cdt)
    leg[..., m] = y
    return ducc0.fft.c2r(leg, axes=(2,), lastsize=nphi, forward=False, inorm=0, nthreads=nthreads, out=out)
