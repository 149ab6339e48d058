"""The ``"ducc"`` method's host kernels: ducc0's compiled SHTs on NumPy arrays (no JAX).

ducc0 transforms *real* fields with healpy-ordered ``alm`` (m >= 0 only) and
handles spin ``s > 0`` through the pair (Q, U) = (Re f, Im f) with gradient and
curl coefficients (G, C).  This module maps between that representation and our
``flm`` layout ``(..., L, 2L-1)`` (entry ``[l, L-1+m]``, pyssht/s2fft
convention, Condon-Shortley phase) for any spin sign and complex signals, and
holds the four linear operators (NumPy in, NumPy out, leading batch axes) that
:mod:`._ducc_op` registers as JAX operations:

=================  ==========================  ==================================
kernel             maps                        ducc0 / own kernel
=================  ==========================  ==================================
``_host_fwd``      f -> flm                    the operator of :mod:`._equi` / iterated healpix
``_host_fwd_T``    JAX transpose of ``fwd``    its adjoint
``_host_inv``      flm -> f                    ``synthesis_2d`` / ``synthesis``
``_host_inv_T``    JAX transpose of ``inv``    ``adjoint_synthesis_2d``
=================  ==========================  ==================================

and the real-field entry points of :mod:`.host`.  Cost: one ducc0 transform per real
component (two for complex spin-0 signals, one spin pair otherwise), O(L^3) for
equiangular grids, with :func:`set_num_threads` threads.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from .._config import bounded_cache
from .._dtypes import complex_dtype as _cplx_dtype
from .._dtypes import real_dtype as _real_dtype
from . import _buffers, _equi, _mw_gl

__all__ = ["DuccSpec", "alm_ell", "alm_index", "aligned_empty", "get_num_threads", "host_analysis_into",
           "host_real_alm", "host_synthesis_from_alm", "set_heap_trim_limit", "set_num_threads", "spin_pair_power"]

_GEOMETRY = {"mw": "MW", "mwss": "CC", "dh": "F1", "gl": "GL"}

_THREADS = {"n": 0}


def set_num_threads(n: int) -> None:
    """Set the number of threads ducc0 kernels use (0 = all hardware threads)."""
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    _THREADS["n"] = int(n)


_CPU_COUNT = os.cpu_count() or 1


def get_num_threads() -> int:
    """Threads ducc0 kernels use (resolved: never 0)."""
    return _THREADS["n"] or _CPU_COUNT


_HEAP_TRIM = {"gigabytes": None}  # None: never set in this process (the allocator's default)


def set_heap_trim_limit(gigabytes: float) -> bool:
    """Keep up to ``gigabytes`` of freed memory in the process heap (opt-in, process-wide).

    By default the C allocator returns large freed blocks to the system, so each fresh
    multi-megabyte output is faulted in again (at L = 256, 10-15% of a wavelet analysis).
    Through ducc0's ``misc.set_heap_trim_limit`` freed memory up to the limit is reused
    instead, at the price of a resident size that does not shrink below it (``0``
    returns freed memory at once).  Returns ducc0's status (``False`` where the
    allocator does not support it).  Same as ``s2scatter.config(heap_trim_limit=...)``.
    """
    if isinstance(gigabytes, bool) or not isinstance(gigabytes, (int, float)) or not gigabytes >= 0:
        raise ValueError(f"gigabytes must be a number >= 0, got {gigabytes!r}")
    import ducc0

    _HEAP_TRIM["gigabytes"] = float(gigabytes)
    return bool(ducc0.misc.set_heap_trim_limit(float(gigabytes)))


@dataclasses.dataclass(frozen=True)
class DuccSpec:
    """Static description of one transform (hashable; identifies the callback)."""

    L: int
    spin: int
    sampling: str
    nside: int | None
    reality: bool
    iter: int = 0
    grid: tuple | None = None  # (ntheta, nphi) override of the ring grid (band-limit L <= ntheta)


# flm <-> (G, C) healpy-ordered alm
@bounded_cache(64)
def _alm_lm(L: int):
    """(l, m) of each healpy alm index for lmax = mmax = L-1 (m-major)."""
    m = np.concatenate([np.full(L - mm, mm) for mm in range(L)])
    l = np.concatenate([np.arange(mm, L) for mm in range(L)])
    return l, m


def _gc_of(flm, spin):
    """flm (L, 2L-1) -> (G, C) alm (2, nalm) of a spin-``|s|`` pair (ducc0's compiled
    conversion; its NumPy twin is tested in ``tests/test_harmonic_properties.py``)."""
    import ducc0

    return ducc0.sht.experimental.flm2alm(np.ascontiguousarray(flm), spin)


def _flm_from_alm(alm, spin, out):
    """The inverse of :func:`_gc_of` (``alm`` (2, nalm)), or for spin 0 and ``alm`` (1, nalm)
    the flm of the real field, written into ``out`` (L, 2L-1); rows ``l < |s|`` zero.
    At m = 0 a pair gives ``G + iC`` (``(-1)^s (G - iC)`` for ``s < 0``) exactly, where
    ducc0 writes the conjugate of the m < 0 side (equal but for rounding)."""
    import ducc0

    L = out.shape[0]
    ducc0.sht.experimental.alm2flm(alm, spin, out)
    if alm.shape[0] == 2:  # the m = 0 entries lead the alm (healpy order)
        G, C = alm[0, :L], alm[1, :L]
        out[:, L - 1] = G + 1j * C if spin >= 0 else (-1.0) ** abs(spin) * (G - 1j * C)
    out[: abs(spin)] = 0
    return out


@bounded_cache(64)
def _flm_mstart(L: int):
    """ducc0 ``mstart`` that reads the m >= 0 half of an ``(L, 2L-1)`` flm array in
    place: coefficient (l, m) sits at ``mstart[m] + l * lstride`` with
    ``lstride = 2L-1``.  ducc0 reads it as fast as its own contiguous layout."""
    return (L - 1 + np.arange(L, dtype=np.int64)).astype(np.uintp)


def _synthesis_of_half(flm, spec, out):
    """Real map ``(1, *map_shape)`` of the conjugate-symmetric field whose m >= 0
    coefficients are ``flm[:, L-1:]`` (read in place; m < 0 and Im f_l0 unread)."""
    L = spec.L
    return _synthesis_into(np.ascontiguousarray(flm).reshape(1, -1), L, 0, spec.sampling, spec.nside, out,
                           get_num_threads(), mstart=_flm_mstart(L), lstride=2 * L - 1)


def _synthesis_into(alm, L, spin, sampling, nside, out, nthreads, *, mstart=None, lstride=1):
    """Synthesis at band-limit ``L`` into real components ``out`` ``(ncomp, *map_shape)``,
    ``alm`` read through ``mstart``/``lstride`` (healpy order when ``mstart`` is None):
    mw/gl from their two stages (:func:`_ring_synthesis`), ducc0 otherwise."""
    import ducc0

    sht = ducc0.sht.experimental
    if sampling in ("mw", "gl"):
        return _ring_synthesis(alm, spin, L, sampling, out, nthreads, mstart=mstart, lstride=lstride)
    kw = dict(alm=alm, spin=spin, lmax=L - 1, nthreads=nthreads)
    if mstart is not None:
        kw.update(mmax=L - 1, mstart=mstart, lstride=lstride)
    if sampling == "healpix":
        return sht.synthesis(map=out.reshape(out.shape[0], -1), **kw, **_healpix_geom(nside)).reshape(out.shape)
    ntheta, nphi = out.shape[-2:]
    return sht.synthesis_2d(map=out, geometry=_GEOMETRY[sampling], ntheta=ntheta, nphi=nphi, **kw)


# Real-field kernels: (ncomp, map...) <-> (ncomp, nalm)
@bounded_cache(256)
def _ring_shape(spec):
    from ..sampling import f_shape

    if spec.grid is not None:
        return tuple(spec.grid)
    return f_shape(spec.L, sampling=spec.sampling, nside=spec.nside)


@bounded_cache(32)
def _healpix_geom(nside):
    import ducc0

    info = ducc0.healpix.Healpix_Base(nside, "RING").sht_info()
    return {k: np.ascontiguousarray(v) for k, v in info.items()}


def _map2alm(kind, maps, spin, spec, out=None):
    """Real maps (ncomp, *mapshape) -> alm (ncomp, nalm), written into ``out`` when given.

    kind: "analysis" (exact quadrature; HEALPix: :func:`_hp_forward`) or "adjoint_synthesis".
    """
    import ducc0

    sht = ducc0.sht.experimental
    nt = get_num_threads()
    lmax = spec.L - 1
    if spec.sampling == "healpix":
        if kind == "analysis":
            return _hp_forward(maps, spin, spec, out)
        return sht.adjoint_synthesis(map=maps, spin=spin, lmax=lmax, nthreads=nt, alm=out,
                                     **_healpix_geom(spec.nside))
    if kind == "analysis":
        if out is None:
            out = np.empty((maps.shape[0], spec.L * (spec.L + 1) // 2), _cplx_dtype(maps.dtype))
        return _analysis_into(maps, spec.L, spec.L, spin, spec.sampling, out, nt)
    return sht.adjoint_synthesis_2d(map=maps, spin=spin, lmax=lmax, geometry=_GEOMETRY[spec.sampling],
                                    nthreads=nt, alm=out)


def _analysis_into(maps, L_alm, L, spin, sampling, out, nthreads):
    """The forward operator (:mod:`._equi`) at band-limit ``L`` of real components
    ``(ncomp, ntheta, nphi)`` on an equiangular grid, written into ``out``
    ``(ncomp, nalm(L_alm))`` (healpy order, ``l < L`` entries only): Gauss-Legendre
    from its two stages, dh on Chebyshev rings (:func:`._equi.dh_analysis_into`), MW
    through the GL path where it serves (:mod:`._mw_gl`), otherwise ducc0
    ``analysis_2d`` of the input corrected by :func:`._equi.fix_input` (ducc0 drops
    the pole samples of odd columns and keeps the mwss Nyquist term)."""
    import ducc0

    mstart = _alm_mstart(L_alm, L)
    if sampling == "gl":
        return _gl_analysis(maps, spin, L, nthreads, alm=out, mstart=mstart)
    if sampling == "dh":
        return _equi.dh_analysis_into(maps, L_alm, L, spin=spin, out=out, mstart=mstart, nthreads=nthreads)
    if sampling == "mw" and maps.shape[-2:] == (L, 2 * L - 1) and _mw_gl.available(L, maps.dtype):
        return _mw_gl.analysis_into(maps, L_alm, L, spin=spin, out=out, nthreads=nthreads)
    return ducc0.sht.experimental.analysis_2d(
        map=_equi.fix_input(maps, L, spin, sampling), spin=spin, lmax=L - 1, mmax=L - 1,
        geometry=_GEOMETRY[sampling], alm=out, mstart=mstart, lstride=1, nthreads=nthreads)


@bounded_cache(64)
def _gl_quadrature(ntheta: int, nphi: int):
    """ducc0's Gauss-Legendre colatitudes and weights (times 2 pi / nphi) of a grid."""
    import ducc0

    return ducc0.misc.GL_thetas(ntheta), ducc0.misc.GL_weights(ntheta, nphi)[:, None]


@bounded_cache(64)
def _ring_thetas(sampling: str, ntheta: int, nphi: int):
    """Ring colatitudes of the equiangular grids whose synthesis runs as its two stages."""
    if sampling == "gl":
        return _gl_quadrature(ntheta, nphi)[0]
    return np.pi * (2 * np.arange(ntheta) + 1) / (2 * ntheta - 1)  # mw


def _ring_synthesis(alm, spin, L, sampling, out, nthreads, *, mstart=None, lstride=1):
    """Synthesis onto an ``mw`` or ``gl`` grid ``out`` ``(ncomp, ntheta, nphi)`` from its
    two stages: ducc0 ``alm2leg`` at the ring colatitudes, then one real inverse FFT per
    ring (``c2r``).  The same values as ``synthesis_2d`` to rounding in 0.75-0.85x its
    time at L ~ 256 (its fixed costs).  ``alm``: ``(ncomp, *)`` read through
    ``mstart``/``lstride`` (healpy layout by default)."""
    import ducc0

    ntheta, nphi = out.shape[-2:]
    theta = _ring_thetas(sampling, ntheta, nphi)
    kw = {} if mstart is None else dict(mval=_mval(L), mstart=mstart, lstride=lstride)
    nm = nphi // 2 + 1
    if nm == L:
        leg = ducc0.sht.experimental.alm2leg(alm=alm, lmax=L - 1, theta=theta, spin=spin, nthreads=nthreads, **kw)
    else:  # a wider ring than 2L-1: zero modes L <= m <= nphi/2
        leg = np.zeros(out.shape[:-1] + (nm,), np.result_type(alm.dtype, np.complex64))
        ducc0.sht.experimental.alm2leg(alm=alm, lmax=L - 1, theta=theta, spin=spin, nthreads=nthreads,
                                       leg=leg[..., :L], **kw)
    return ducc0.fft.c2r(leg, axes=(leg.ndim - 1,), lastsize=nphi, forward=False, inorm=0, nthreads=nthreads,
                         out=out)


def _gl_analysis(maps, spin, L, nthreads, *, alm, mstart):
    """Gauss-Legendre analysis of real maps ``(ncomp, ntheta, nphi)`` (``ntheta >= L``,
    ``nphi >= 2L-1``) from its two stages: ring FFTs (ducc0 ``r2c``), the quadrature
    weights, ducc0 ``leg2alm``.  The same values as ``analysis_2d(geometry="GL")`` in
    0.7-0.95x its time (whose fixed costs dominate below L ~ 512)."""
    import ducc0

    theta, w = _gl_quadrature(maps.shape[-2], maps.shape[-1])
    buf = _buffers.output_empty(maps.shape[:-1] + (maps.shape[-1] // 2 + 1,), _cplx_dtype(maps.dtype))
    leg = ducc0.fft.r2c(maps, axes=(maps.ndim - 1,), nthreads=nthreads, out=buf)[..., :L]
    weighted = leg.view(leg.real.dtype)  # (re, im) pairs: a real product, no complex casting
    weighted *= w
    return ducc0.sht.experimental.leg2alm(leg=leg, lmax=L - 1, theta=theta, spin=spin, nthreads=nthreads,
                                          alm=alm, mval=_mval(L), mstart=mstart, lstride=1)


@bounded_cache(64)
def _mval(L: int):
    """ducc0 ``mval`` for all of 0 <= m < L."""
    return np.arange(L, dtype=np.uintp)


def aligned_empty(shape, dtype, align=64):
    """``np.empty`` with a 64-byte aligned buffer (JAX can then adopt it without a copy)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    return _buffers.aligned_view(np.empty(n + align, np.uint8), n, shape, dtype, align)


def _alm2map(kind, alm, spin, spec, real_dtype, out=None):
    """alm (ncomp, nalm) -> real maps (ncomp, *mapshape), written into ``out`` if given.

    kind: "synthesis" or "adjoint_analysis" (HEALPix: :func:`_hp_forward_adjoint`).
    """
    import ducc0

    nt = get_num_threads()
    if kind == "adjoint_analysis" and spec.sampling == "healpix":
        res = _hp_forward_adjoint(alm, spin, spec, real_dtype)
        if out is None:
            return res
        out[...] = res
        return out
    if out is None:
        out = np.empty((alm.shape[0],) + _map_core_shape(spec), dtype=real_dtype)
    if kind == "synthesis":
        return _synthesis_into(alm, spec.L, spin, spec.sampling, spec.nside, out, nt)
    if spec.sampling == "dh":
        return _equi.dh_adjoint_analysis_into(alm, spec.L, spin=spin, out=out, nthreads=nt)
    ntheta, nphi = out.shape[-2:]
    res = ducc0.sht.experimental.adjoint_analysis_2d(
        alm=alm, spin=spin, lmax=spec.L - 1, geometry=_GEOMETRY[spec.sampling],
        ntheta=ntheta, nphi=nphi, nthreads=nt, map=out,
    )
    return res if spec.sampling == "gl" else _equi.fix_input_T(res, spec.L, spin, spec.sampling)


@bounded_cache(32)
def _healpix_quadrature(nside):
    """:func:`_healpix_geom` plus the pixel-area weight ``4 pi / npix`` of every ring as
    ducc0's ``ringfactor`` (applied as the rings are read: no pass over the alm)."""
    g = dict(_healpix_geom(nside))
    g["ringfactor"] = np.full(g["theta"].size, 4 * np.pi / (12 * nside**2))
    return g


def _hp_forward(maps, spin, spec, out=None):
    """healpy-style map2alm: adjoint synthesis * 4pi/npix plus ``iter`` Jacobi steps
    (written into ``out`` when given)."""
    import ducc0

    adjoint = functools.partial(ducc0.sht.experimental.adjoint_synthesis, spin=spin, lmax=spec.L - 1,
                                nthreads=get_num_threads(), **_healpix_quadrature(spec.nside))
    alm = adjoint(map=maps, alm=out)
    for _ in range(spec.iter):
        resid = maps - _alm2map("synthesis", alm, spin, spec, maps.dtype)
        alm += adjoint(map=resid)
    return alm


def _hp_forward_adjoint(alm, spin, spec, real_dtype):
    """Adjoint of :func:`_hp_forward` (same Jacobi structure, roles swapped)."""
    w = 4 * np.pi / (12 * spec.nside**2)
    # W^H = w * synthesis, Y^H = adjoint synthesis; x_{k+1} = x_k + W^H (h - Y^H x_k)
    x = _alm2map("synthesis", alm, spin, spec, real_dtype) * w
    for _ in range(spec.iter):
        resid = alm - _map2alm("adjoint_synthesis", x, spin, spec)
        x = x + _alm2map("synthesis", resid, spin, spec, real_dtype) * w
    return x


# Complex / spin pipelines, looping over leading batch axes
def _map_to_flm(kind, f, spec):
    """Batched map -> flm with real-field kernel ``kind`` (complex pipeline)."""
    L, s = spec.L, spec.spin
    nmap = 1 if spec.sampling == "healpix" else 2
    batch = f.shape[: f.ndim - nmap]
    fb = f.reshape((-1,) + f.shape[f.ndim - nmap :])
    rdt, cdt = _real_dtype(f.dtype), _cplx_dtype(f.dtype)
    out = _buffers.output_empty((fb.shape[0], L, 2 * L - 1), cdt)
    for i, fi in enumerate(fb):
        if np.isrealobj(fi) or s == 0:  # one real field, or spin 0: Re and Im as two
            parts = (fi.real, fi.imag) if np.iscomplexobj(fi) else (fi,)
            alm = _buffers.output_empty((len(parts), L * (L + 1) // 2), cdt)  # pooled: pages stay mapped
            for c, part in enumerate(parts):
                _map2alm(kind, np.ascontiguousarray(part, dtype=rdt)[None], 0, spec, alm[c : c + 1])
            _flm_from_alm(alm, 0, out[i])
        else:
            qu = aligned_empty((2,) + fi.shape, rdt)
            qu[0] = fi.real
            if s > 0:
                qu[1] = fi.imag
            else:
                np.negative(fi.imag, out=qu[1])
            np.negative(_flm_from_alm(_map2alm(kind, qu, abs(s), spec), s, out[i]), out=out[i])
    return out.reshape(batch + (L, 2 * L - 1))


def _flm_to_map(kind, flm, spec, *, real_out):
    """Batched flm -> map with real-field kernel ``kind``."""
    L, s = spec.L, spec.spin
    batch = flm.shape[:-2]
    fb = flm.reshape((-1, L, 2 * L - 1))
    rdt, cdt = _real_dtype(flm.dtype), _cplx_dtype(flm.dtype)
    fb = fb.astype(cdt, copy=False)
    mshape = _map_core_shape(spec)
    out = _buffers.output_empty((fb.shape[0],) + mshape, rdt if real_out else cdt)
    for i, fi in enumerate(fb):
        if real_out:  # only "synthesis" has a real output (the reality=True inverse)
            _synthesis_of_half(fi, spec, out[i][None])
        elif s == 0:
            GC = _gc_of(fi, 0)
            out[i].real = _alm2map(kind, GC[:1], 0, spec, rdt)[0]
            out[i].imag = _alm2map(kind, GC[1:], 0, spec, rdt)[0]
        else:
            t = _alm2map(kind, _gc_of(fi, s), abs(s), spec, rdt)
            np.negative(t[0], out=out[i].real)  # f = -(t0 + i sign(s) t1), no complex temporaries
            if s > 0:
                np.negative(t[1], out=out[i].imag)
            else:
                out[i].imag = t[1]
    return out.reshape(batch + mshape)


# The four operators and their JAX transposes
def _host_fwd(f, spec):
    return _map_to_flm("analysis", f, spec)


def _host_fwd_T(ct, spec):
    # transpose = conj(A^H conj(ct)); real input: real part of that.
    out = np.conj(_flm_to_map("adjoint_analysis", np.conj(ct), spec, real_out=False))
    return out.real if spec.reality else out


def _host_inv(flm, spec):
    return _flm_to_map("synthesis", flm, spec, real_out=spec.reality)


def _host_inv_T(ct, spec):
    out = _map_to_flm("adjoint_synthesis", ct if spec.reality else np.conj(ct), spec)
    if spec.reality:
        # real inverse = Re(B Q flm) with Q = diag(0 for m < 0, 1 for m = 0, 2 for m > 0)
        # (only m >= 0 is read); its JAX transpose on a real ct is Q conj(B^H ct), and
        # B^H ct for real ct is the real-field adjoint synthesis (m >= 0 half).
        out[..., : spec.L - 1] = 0
        out[..., spec.L :] *= 2
    return np.conj(out)


def _map_core_shape(spec):
    """Trailing map axes of a spec's grid: ``(npix,)`` (HEALPix) or ``(ntheta, nphi)``."""
    return (12 * spec.nside**2,) if spec.sampling == "healpix" else tuple(_ring_shape(spec))


# Host-side entry points for trusted internal callers (no JAX, no validation)
@bounded_cache(256)
def _alm_mstart(L_alm: int, Lj: int):
    """ducc0 ``mstart`` that reads band-limit ``Lj`` coefficients in place from an
    alm array laid out for ``L_alm >= Lj`` (healpy order, ``lstride = 1``)."""
    m = np.arange(Lj, dtype=np.int64)
    return (m * (2 * L_alm - 1 - m) // 2).astype(np.uintp)


def host_real_alm(f, L, *, sampling="mw", nside=None, iter=0):
    """Real maps ``(B, *map_shape)`` -> ducc0 alm ``(B, nalm)`` (healpy order, m >= 0).

    For a real field these are ``f_lm`` for ``m >= 0`` (the rest follows by
    conjugate symmetry): the forward transform without the expansion to the
    ``(L, 2L-1)`` layout, for host pipelines that only resynthesise.
    """
    f = np.asarray(f)
    spec = DuccSpec(int(L), 0, sampling, nside, True, int(iter) if sampling == "healpix" else 0)
    rdt = _real_dtype(f.dtype)
    out = np.empty((f.shape[0], int(L) * (int(L) + 1) // 2), _cplx_dtype(rdt))
    for b in range(f.shape[0]):
        out[b] = _map2alm("analysis", np.ascontiguousarray(f[b], dtype=rdt)[None], 0, spec)[0]
    return out


def host_synthesis_from_alm(alm, L_alm, Lj, *, spin, sampling="mw", nside=None, out=None):
    """Synthesise real components from alm laid out for ``L_alm``, at band-limit ``Lj``.

    ``alm``: ``(ncomp, nalm(L_alm))`` with ``ncomp = 1`` (spin 0) or 2 (the
    (G, C) pair of a spin-``|spin|`` field); only ``l < Lj`` is read (ducc0
    ``mstart``, no copy).  Returns ``(ncomp, *f_shape(Lj, sampling, nside))``
    real maps, written into ``out`` when given; a spin pair gives ducc0's
    (Q, U) components.
    """
    if out is None:
        spec = DuccSpec(int(Lj), abs(int(spin)), sampling, nside, False, 0)
        out = aligned_empty((alm.shape[0],) + _map_core_shape(spec), alm.real.dtype)
    return _synthesis_into(alm, Lj, abs(int(spin)), sampling, nside, out, get_num_threads(),
                           mstart=_alm_mstart(L_alm, Lj))


def spin_pair_power(flm, spin, spec):
    """``|f|^2`` on the grid of ``spec`` of the spin-``spin`` field with coefficients ``flm``
    ``(L, 2L-1)``, from ducc0's real pair: ``Q^2 + U^2`` (no complex map is formed).

    Returns a new real array ``(*map_shape)``.  Cost: one spin-pair synthesis.
    """
    t = _alm2map("synthesis", _gc_of(flm, spin), abs(int(spin)), spec, _real_dtype(flm.dtype))
    np.multiply(t, t, out=t)
    return np.add(t[0], t[1], out=t[0])


def alm_ell(L: int) -> np.ndarray:
    """Degree ``l`` of each entry of a healpy-ordered alm array for band-limit ``L``."""
    return _alm_lm(int(L))[0]


@bounded_cache(256)
def alm_index(L_alm: int, Lj: int) -> np.ndarray:
    """Positions of band-limit-``Lj`` alm entries (healpy order) inside an ``L_alm`` layout
    (cached: the array is shared, do not write to it)."""
    l, m = _alm_lm(int(Lj))
    return _alm_mstart(int(L_alm), int(Lj))[m].astype(np.int64) + l


def host_analysis_into(maps, L_alm, Lj, *, spin, sampling="mw", nside=None, iter=0, out):
    """Real components ``(ncomp, *f_shape(Lj))`` -> alm written into ``out`` laid out for ``L_alm``.

    The exact-quadrature (or iterated HEALPix) forward transform at band-limit
    ``Lj`` of one real field (``ncomp = 1``) or of a spin pair (Q, U); only
    the ``l < Lj`` entries of ``out`` ``(ncomp, nalm(L_alm))`` are written
    (ducc0 ``mstart`` on equiangular grids), the others are left as they are.
    """
    spin = abs(int(spin))
    if sampling == "healpix":
        spec = DuccSpec(int(Lj), spin, sampling, nside, False, int(iter))
        out[:, alm_index(L_alm, Lj)] = _hp_forward(maps.reshape(maps.shape[0], -1), spin, spec)
        return out
    return _analysis_into(maps, L_alm, Lj, spin, sampling, out, get_num_threads())
