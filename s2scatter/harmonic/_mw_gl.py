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
(~1e-13 relative at L = 256, tested).  The products run
in this module's worker threads with single-threaded OpenBLAS: OpenBLAS's own
worker threads keep spinning after a call and would halve the speed of the
ducc0 transform that follows.  Where numpy's BLAS is not an OpenBLAS whose
thread count can be set, :func:`available` is False and callers use ducc0's
MW analysis (with :func:`._equi.fix_input`).

Cost: O(L^3) flops in BLAS (``4 L^3`` per real component) plus one GL
Legendre stage; faster than ducc0's MW analysis for ``MIN_L <= L <= MAX_L``
on a 2-core CPU (measured by ``scripts/bench_wavelets.py``); memory
``2 L^2`` doubles of cached matrices per band-limit.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import os
import threading

import numpy as np

__all__ = ["available", "analysis_into"]

MIN_L = 160  # below this ducc0's MW analysis is as fast (Python and copy overheads)
MAX_L = 1024  # above this the O(L^3) BLAS products cost more than ducc0's resampling


@functools.cache
def _openblas():
    """(get_num_threads, set_num_threads) of the OpenBLAS numpy uses, or None."""
    try:
        with open("/proc/self/maps") as fh:
            paths = {ln.split()[-1] for ln in fh if "openblas" in ln.lower() and ln.split()[-1].startswith("/")}
    except OSError:  # pragma: no cover - not Linux
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:  # pragma: no cover
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"),
                               ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype = ctypes.c_int
                set_.argtypes = [ctypes.c_int]
                return get, set_
    return None


def available(L: int, dtype=np.float64) -> bool:
    """Whether :func:`analysis_into` serves band-limit ``L`` for ``dtype`` maps here."""
    if os.environ.get("S2SCATTER_MW_GL", "1") == "0":
        return False
    return np.dtype(dtype) == np.float64 and MIN_L <= L <= MAX_L and _openblas() is not None


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


_BLAS_LOCK = threading.Lock()
_BLAS_STATE = {"users": 0, "before": 1}


@contextlib.contextmanager
def _single_threaded_blas():
    """OpenBLAS on one thread while any caller is inside; the first one in saves the
    user's setting and the last one out restores it (safe under concurrent calls)."""
    get, set_ = _openblas()
    with _BLAS_LOCK:
        if _BLAS_STATE["users"] == 0:
            _BLAS_STATE["before"] = get()
            set_(1)
        _BLAS_STATE["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["users"] -= 1
            if _BLAS_STATE["users"] == 0:
                set_(_BLAS_STATE["before"])


@functools.cache
def _pool():
    return concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="s2scatter-mwgl")


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's worker threads
    os.register_at_fork(after_in_child=_pool.cache_clear)


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

    with _single_threaded_blas():
        jobs = [_pool().submit(product, c, first) for c in range(ncomp) for first in (0, 1)]
        for j in jobs:
            j.result()
    mstart = (mval * (2 * L_alm - 1 - mval) // 2).astype(np.uintp)
    return ducc0.sht.experimental.leg2alm(leg=interp, lmax=L - 1, theta=theta, spin=spin, mval=mval,
                                          mstart=mstart, lstride=1, nthreads=nthreads, alm=out)
