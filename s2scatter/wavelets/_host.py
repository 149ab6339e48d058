"""Eager wavelet transforms of real signals on the host: NumPy and ducc0, only the outputs go to JAX.

The same maths as the JAX cores of :mod:`._transforms` (factors and orientation DFT from
:mod:`._steps`), run straight from ducc0's real-field alm through
:mod:`s2scatter.harmonic.host`, with no callback copies and no per-op dispatch; for
concrete real inputs with the ``"ducc"`` method on CPU (:func:`use_host`).  Tests hold
both paths equal to rounding.  Intermediates live in per-thread scratch arrays
(:func:`_scratch`), outputs in pooled aligned buffers, products written in place.
"""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np

from .._dtypes import complex_dtype, real_dtype
from ..harmonic import host
from ..sampling import f_shape
from ._steps import gamma_dft, mode_filter, scaling_filter


def use_host(spec, *arrays):
    """Whether a transform runs here: the ducc method on CPU and concrete (untraced) inputs
    ``arrays`` (pytrees) of ``spec`` (``._transforms._Spec``); the caller checks ``spec.reality``."""
    if spec.method != "ducc" or jax.default_backend() != "cpu":
        return False
    leaves = [x for a in arrays for x in jax.tree_util.tree_leaves(a)]
    return not any(isinstance(x, jax.core.Tracer) for x in leaves)


class NonFinite(Exception):
    """Raised by :func:`synthesis` when its accumulated coefficients are not finite."""


def _rows(M, x, out=None):
    """``out[b, i] = sum_r M[i, r] x[b, r]`` in one pass, without BLAS (OpenBLAS's threads
    keep spinning after a call and slow the next ducc0 transforms down by half)."""
    return np.einsum("kr,brp->bkp", M, x, out=out, optimize=False)


_SCRATCH = threading.local()


def _scratch(shape, dtype, slot):
    """A per-thread work array reused across calls, for intermediates that never leave the
    function (first-touch page faults on fresh large buffers cost as much as the arithmetic)."""
    size = int(np.prod(shape))
    cache = _SCRATCH.__dict__.setdefault("arrays", {})
    key = (slot, np.dtype(dtype).str)
    buf = cache.get(key)
    if buf is None or buf.size < size:
        buf = cache[key] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


def _n_components(ns):
    """Real components of the modes ``ns >= 0``: ``f_0``, then a (Q, U) pair per ``n > 0``."""
    return sum(1 if n == 0 else 2 for n in ns)


def analysis(f, psi, phi, spec):
    """Wavelet analysis of real maps ``f`` ``(..., *f_shape(L))``: ``(f_wav, f_scal)`` as JAX arrays.

    For real ``f`` the spin ``-n`` mode of scale ``j`` has coefficients
    ``c_l f_lm`` (``c``: :func:`._steps.mode_filter`) with
    ``f_l,-m = (-1)^m conj(f_lm)``, so its ducc0 gradient and curl parts are
    ``G = (-1)^n Re(c_l) a_lm`` and ``C = -(-1)^n Im(c_l) a_lm``, with ``a_lm``
    the forward transform's real-field alm (``m >= 0``): each scale rescales
    that one array per ``l`` and ducc0 reads its ``l < L_j`` part in place
    (``mstart``), writing its real components into one buffer per scale; the
    orientation sum is then one product with :func:`._steps.gamma_dft`
    (``qu=True``).  No ``(L, 2L-1)`` layouts and no complex maps.

    ``psi``, ``phi``: the bank's NumPy filters; shapes as :func:`._transforms.analysis`.
    Cost: one forward SHT at ``L``, then ``ceil(N_j/2)`` real syntheses per scale.
    """
    L, N = spec.L, spec.N
    grid = dict(sampling=spec.sampling, nside=spec.nside)
    nfs = spec.nfs
    batch = f.shape[: f.ndim - nfs]
    fb = f.reshape((-1,) + f.shape[f.ndim - nfs :])
    B = fb.shape[0]
    alm = host.real_alm(fb, L, iter=spec.iter, **grid)  # (B, nalm)
    ell = host.alm_ell(L)
    rdt = alm.real.dtype
    scaled = np.empty((2, alm.shape[1]), alm.dtype)
    f_wav = []
    for j, Lj, Nj, ns in spec.plan:
        mshape = f_shape(Lj, **grid)
        K = 2 * Nj - 1
        if not ns:
            f_wav.append(jnp.zeros(batch + (K,) + mshape, dtype=rdt))
            continue
        R = _n_components(ns)
        comps = host.output_empty((B, R) + mshape, rdt) if K == 1 else _scratch((B, R) + mshape, rdt, "comps")
        for b in range(B):
            r = 0
            for n in ns:
                c = np.zeros(L, complex)
                c[:Lj] = mode_filter(psi, j, Lj, N, n, np)
                k, sf = (1 if n == 0 else 2), (-1.0) ** n
                np.multiply(alm[b], (sf * c.real).astype(rdt)[ell], out=scaled[0])  # G (n = 0: a_0)
                if n:
                    np.multiply(alm[b], (-sf * c.imag).astype(rdt)[ell], out=scaled[1])  # C
                host.synthesis_from_alm(scaled[:k], L, Lj, spin=n, out=comps[b, r : r + k], **grid)
                r += k
        if K == 1:
            res = comps
        else:
            res = host.output_empty((B, K) + mshape, rdt)
            M = gamma_dft(ns, Nj, reality=True, qu=True).astype(rdt)
            _rows(M, comps.reshape(B, R, -1), out=res.reshape(B, K, -1))
        f_wav.append(host.adopt(res.reshape(batch + (K,) + mshape)))  # NumPy reshape: a view
        del comps, res
    Ls = spec.Ls
    ph = np.zeros(L)
    ph[:Ls] = scaling_filter(phi, Ls, np)
    ms = f_shape(Ls, **grid)
    scal = host.output_empty((B,) + ms, rdt)
    for b in range(B):
        np.multiply(alm[b], ph.astype(rdt)[ell], out=scaled[0])
        host.synthesis_from_alm(scaled[:1], L, Ls, spin=0, out=scal[b][None], **grid)
    return f_wav, host.adopt(scal.reshape(batch + ms))


def synthesis(f_wav, f_scal, psi, phi, spec, *, check=True):
    """Inverse of :func:`analysis`, accumulated in one real-field alm: a NumPy map ``(..., *f_shape(L))``.

    Per scale the orientation modes come out of one product with the inverse
    :func:`._steps.gamma_dft` (``qu=True``) as ducc0's real inputs (``f_0`` and
    the (Q, U) pairs); each forward transform writes its ``l < L_j``
    coefficients in place into an ``L``-layout buffer, and the real part of
    ``sum_n c_ln g_n,lm`` (``c``: :func:`._steps.mode_filter`) is accumulated
    directly as ``Re(c) a`` (``n = 0``) or ``-(-1)^n (Re(c) G + Im(c) C)``: the
    conjugate-symmetric projection of the complex core, without its
    ``(L, 2L-1)`` arrays.  One real synthesis at ``L`` ends it.

    Raises :class:`NonFinite` (when ``check``) if the accumulated coefficients are
    not finite; the caller names the offending input.  Cost: as :func:`analysis`.
    """
    L, N, Ls = spec.L, spec.N, spec.Ls
    grid = dict(sampling=spec.sampling, nside=spec.nside)
    nfs = spec.nfs
    batch = f_scal.shape[: f_scal.ndim - nfs]
    B = int(np.prod(batch, dtype=int))
    rdt, cdt = real_dtype(f_scal.dtype), complex_dtype(f_scal.dtype)
    acc = np.zeros((B, L * (L + 1) // 2), cdt)

    def add(b, Lj, comps, weights):
        """acc[b] += sum_i weights[i][l] * comps[i] for alm ``comps`` of band-limit ``Lj``."""
        idx = slice(None) if Lj == L else host.alm_index(L, Lj)
        ell_j = host.alm_ell(Lj)
        total = None
        for x, wt in zip(comps, weights):
            if np.any(wt[:Lj]):
                term = x * wt[:Lj].astype(rdt)[ell_j]
                total = term if total is None else total + term
        if total is not None:
            acc[b, idx] += total

    if Ls > abs(spec.spin):
        fs = f_scal.reshape((B,) + f_scal.shape[f_scal.ndim - nfs :]).astype(rdt, copy=False)
        ph = scaling_filter(phi, Ls, np)
        for b in range(B):
            alm_s = np.empty((1, Ls * (Ls + 1) // 2), cdt)
            host.analysis_into(np.ascontiguousarray(fs[b])[None], Ls, Ls, spin=0, iter=spec.iter,
                               out=alm_s, **grid)
            add(b, Ls, alm_s, [ph])
    for (j, Lj, Nj, ns), fj in zip(spec.plan, f_wav):
        if not ns:
            continue
        mshape = f_shape(Lj, **grid)
        K = 2 * Nj - 1
        R = _n_components(ns)
        fj = fj.reshape((B, K, -1)).astype(rdt, copy=False)
        modes = _rows(gamma_dft(ns, Nj, reality=True, inverse=True, qu=True).astype(rdt), fj,
                      out=_scratch((B, R, fj.shape[-1]), rdt, "modes")).reshape((B, R) + mshape)
        gc = _scratch((2, Lj * (Lj + 1) // 2), cdt, "gc")
        for b in range(B):
            r = 0
            for n in ns:
                c = mode_filter(psi, j, Lj, N, n, np, synthesis=True, weight=2.0 if n > 0 else 1.0)
                k = 1 if n == 0 else 2
                host.analysis_into(modes[b, r : r + k], Lj, Lj, spin=n, iter=spec.iter, out=gc[:k], **grid)
                sf = (-1.0) ** n
                # a += Re(c) a_0 (n = 0) | -sf (Re(c) G + Im(c) C) (n > 0)
                add(b, Lj, gc[:k], [c.real] if n == 0 else [-sf * c.real, -sf * c.imag])
                r += k
        del modes
    # A NaN or inf anywhere in the inputs reaches every m = 0 coefficient (each ring's
    # phi-average enters every degree), so checking those L entries replaces a full
    # pass over the inputs; the caller then finds and names the offending input.
    if check and not np.isfinite(acc[:, :L]).all():
        raise NonFinite
    out = host.output_empty((B,) + f_shape(L, **grid), rdt)
    for b in range(B):
        host.synthesis_from_alm(acc[b : b + 1], L, L, spin=0, out=out[b][None], **grid)
    return out.reshape(batch + f_shape(L, **grid))
