"""Exact McEwen-Wiaux (MW) analysis through Gauss-Legendre quadrature (host, float64).

ducc0 analyses MW maps exactly by resampling them onto a finer grid, at about
2.6 times the cost of a Gauss-Legendre (GL) analysis.  This module takes a
cheaper road to the same coefficients:

1. FFT along phi (ducc0 ``r2c``): the ring Fourier modes ``G_m(theta_t)`` on
   the L MW rings ``theta_t = pi (2t+1) / (2L-1)``;
2. ``G_m`` extended to the whole circle by
   ``G_m(2 pi - theta) = (-1)^(m+s) G_m(theta)`` has a trigonometric
   interpolant of degree < L (its 2L-1 equispaced samples), whose values at
   the L GL nodes are one fixed real matrix (one per parity of m + s, GL
   weights folded in, :func:`._equi.gl_resampler`) times the MW samples: two
   dense products per component (BLAS);
3. the Legendre stage of GL analysis (ducc0 ``leg2alm``) at the GL nodes:
   the exact integral of that interpolant against ``Y_lm``, the MW forward
   operator (:mod:`._equi`) for any samples.

The matrices are built once per L in extended precision (``np.longdouble``),
so the result matches the other implementations of the operator to rounding
(~1e-13 relative at L = 256, tested).  The products run with numpy's BLAS
limited to one thread (through ``threadpoolctl``'s public API): OpenBLAS's
own worker threads keep spinning after a call and slow the ducc0 stage that
follows (measured in ``docs/performance.md``).  Where
``threadpoolctl`` is not installed or finds no BLAS it controls,
:func:`available` is False and callers use ducc0's MW analysis (with
:func:`._equi.fix_input`).

Cost: O(L^3) flops in BLAS (``4 L^3`` per real component) plus one GL
Legendre stage; faster than ducc0's MW analysis for ``MIN_L <= L <= MAX_L``
(paired A/B: ``scripts/bench_mw_gl.py``, figures in ``docs/performance.md``);
memory ``2 L^2`` doubles of cached matrices per band-limit.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading

import numpy as np

__all__ = ["available", "analysis_into"]

MIN_L = 160  # the route serves L >= MIN_L (it is faster below too: docs/performance.md)
MAX_L = 1024  # above this the O(L^3) BLAS products are not measured against ducc0's resampling


@functools.cache
def _blas():
    """``threadpoolctl``'s controller of the BLAS libraries loaded here, or None."""
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - an optional dependency
        return None
    ctl = threadpoolctl.ThreadpoolController().select(user_api="blas")
    return ctl if ctl.lib_controllers else None


def available(L: int, dtype=np.float64) -> bool:
    """Whether :func:`analysis_into` serves band-limit ``L`` for ``dtype`` maps here."""
    if os.environ.get("S2SCATTER_MW_GL", "1") == "0":
        return False
    return np.dtype(dtype) == np.float64 and MIN_L <= L <= MAX_L and _blas() is not None


@functools.lru_cache(maxsize=8)
def _plan(L: int):
    """GL nodes, the two interpolation matrices (weights folded in) and the m order."""
    from ..sampling import quadrature_weights, thetas
    from ._equi import gl_resampler

    theta = thetas(L, sampling="gl")  # ascending, as leg2alm gets them
    weights = quadrature_weights(L, sampling="gl") * (2 * np.pi / (2 * L - 1))  # times 2 pi / nphi
    even, odd = gl_resampler(L, "mw")
    mats = {par: np.ascontiguousarray(R * weights[:, None]) for par, R in ((1, even), (-1, odd))}
    even_m, odd_m = np.arange(0, L, 2), np.arange(1, L, 2)
    mval = np.concatenate([even_m, odd_m]).astype(np.uintp)
    return theta, mats, len(even_m), mval


_BLAS_LOCK = threading.Lock()  # one caller at a time changes (and restores) the BLAS thread count


def _single_blas_thread():
    """Context: BLAS on one thread inside, the caller's setting restored on exit."""
    return _blas().limit(limits=1)


@functools.cache
def _pool():
    """Worker threads for the products: the 2 (4 for a spin pair) products of one
    transform run side by side, each on a single-threaded BLAS (on a 2-core machine,
    1.4x faster at L = 512 than in turn, and several times faster than one
    multi-threaded BLAS per product: docs/performance.md)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="s2scatter-mwgl")


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's worker threads
    os.register_at_fork(after_in_child=_pool.cache_clear)


def _products(jobs, nthreads: int) -> None:
    """Run the BLAS products ``jobs`` (callables), BLAS on one thread, up to ``nthreads``
    of them at a time."""
    with _BLAS_LOCK, _single_blas_thread():
        if nthreads <= 1:
            for job in jobs:
                job()
            return
        for start in range(0, len(jobs), nthreads):
            for fut in [_pool().submit(job) for job in jobs[start : start + nthreads]]:
                fut.result()


def analysis_into(maps, L_alm, L, *, spin, out, nthreads):
    """Exact MW analysis of real components ``(ncomp, L, 2L-1)`` (float64) at band-limit
    ``L``, written into ``out`` ``(ncomp, nalm(L_alm))`` (healpy order for ``L_alm >= L``;
    entries with ``l >= L`` untouched); ``ncomp = 1`` for spin 0, 2 for a spin pair (Q, U).
    The MW forward operator of :mod:`._equi` (ducc0 ``analysis_2d(geometry="MW")`` of
    :func:`._equi.fix_input`'s output, to rounding).
    """
    import ducc0

    spin = abs(int(spin))
    ncomp = maps.shape[0]
    theta, mats, ne, mval = _plan(L)
    leg = ducc0.fft.r2c(maps, axes=(2,), nthreads=nthreads)  # (ncomp, L, L): m = 0 .. L-1
    src = leg.view(np.float64).reshape(ncomp, L, L, 2)
    interp = np.empty((ncomp, L, L), leg.dtype)  # m ordered as mval: even m, then odd m
    dst = interp.view(np.float64).reshape(ncomp, L, L, 2)

    def product(c, first):
        block = slice(0, ne) if first == 0 else slice(ne, L)
        x = src[c, :, first::2, :].reshape(L, -1)  # a copy: BLAS wants unit stride
        np.matmul(mats[(-1) ** (first + spin)], x, out=dst[c, :, block, :].reshape(L, -1))

    _products([functools.partial(product, c, first) for c in range(ncomp) for first in (0, 1)], nthreads)
    mstart = (mval * (2 * L_alm - 1 - mval) // 2).astype(np.uintp)
    return ducc0.sht.experimental.leg2alm(leg=interp, lmax=L - 1, theta=theta, spin=spin, mval=mval,
                                          mstart=mstart, lstride=1, nthreads=nthreads, alm=out)
