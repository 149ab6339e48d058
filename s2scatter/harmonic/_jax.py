"""The ``"jax"`` method: spherical-harmonic transforms in pure JAX (GPU/TPU ready).

Every sampling is handled by the same three stages:

1. **Ring Fourier transform** in phi (``jnp.fft``; on HEALPix one batched FFT
   for the equatorial belt and one chirp-z convolution of common length for
   all polar-cap rings, whatever their lengths, so the graph stays small;
   phases ``e^{-i m phi0}`` applied per ring): ``f(theta_t, phi) -> f_m(theta_t)``.
2. **Exact resampling in theta** (forward only, mw/mwss/dh): two real
   ``L x T`` matrices, one per parity of ``m + s``, map the native rings onto
   values at the ``L`` Gauss-Legendre nodes whose quadrature is the forward
   operator of the sampling (:mod:`._equi`, the same operator as the
   ``"ducc"`` method's, for any samples): the trigonometric interpolant of the
   periodic extension ``f_m(2 pi - theta) = (-1)^{m+s} f_m(theta)`` on mw/mwss
   (pole samples included), the Driscoll-Healy quadrature's representer on dh.
3. **Legendre stage** with ``P[m, l, t] = (-1)^s sqrt((2l+1)/4pi) d^l_{m,-s}(theta_t)``:
   synthesis ``f_m(theta_t) = sum_l flm P``; analysis on Gauss-Legendre nodes
   ``flm = sum_t w_t f_m(theta_t) P``, exact for every spin because the
   product of two parity-matched extensions is an even trigonometric
   polynomial, i.e. a polynomial of degree ``<= 2L-2`` in ``cos theta``.

The Legendre stage reads a precomputed kernel (``(2L-1) x L x T`` reals, cached)
within :func:`set_kernel_budget`, else runs the three-term recursion in ``l`` in
``lax.scan`` (memory ``O(L T)``) as a linear primitive with an explicit transpose.
HEALPix forward uses ``iter`` Jacobi steps as in healpy.  Cost: O(L^3) per
equiangular map (kernel: memory-bound reads; recursion: ~10 flops per (l, m, t)).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import threading
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from .._dtypes import complex_dtype, real_dtype
from ..sampling import f_shape, quadrature_weights, ring_info_healpix, thetas
from . import _primitive

__all__ = ["forward", "inverse", "jit", "set_kernel_budget", "get_kernel_budget"]

_BUDGET = {"bytes": 1 << 30}


def set_kernel_budget(nbytes: int) -> None:
    """Largest precomputed Legendre kernel (bytes) before switching to recursion.

    Built kernels are cached up to twice this many bytes in all (a forward and
    an inverse kernel at the budget); the least recently used go first.
    Eager calls, :func:`jit` and ``Scattering.apply`` pass the kernels to their
    compiled program as arguments; under a plain ``jax.jit`` of the caller they
    become constants of the caller's program (about 10 ms of host compile time
    per MB).  Same as ``s2scatter.config(kernel_budget=nbytes)``; a new budget
    applies to every later call, also of shapes already called.
    """
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
    _BUDGET["bytes"] = int(nbytes)
    with _KERNELS_LOCK:
        _KEYS_CACHE.clear()  # the kernels each program reads were chosen under the old budget


def get_kernel_budget() -> int:
    """The current kernel budget in bytes (see :func:`set_kernel_budget`; default 1 GiB)."""
    return _BUDGET["bytes"]


@dataclasses.dataclass(frozen=True)
class _Leg:
    """Static description of one Legendre stage (hashable)."""

    L: int
    spin: int
    sampling: str  # whose theta nodes: a sampling name, or "gl" for analysis
    nside: int | None
    half: bool  # m >= 0 only
    weighted: bool  # multiply by GL weights (analysis kernel)
    dtype: str  # "float32" | "float64"
    grid: int = 0  # "gl" nodes of this band-limit (0: L), for degrees l < L <= grid


def _gl_weights(leg: _Leg):
    return quadrature_weights(leg.grid or leg.L, sampling="gl")


def _ms(L, half):
    return np.arange(0, L) if half else np.arange(-(L - 1), L)


def _leg_thetas(leg: _Leg):
    return np.clip(thetas(leg.grid or leg.L, sampling=leg.sampling, nside=leg.nside), 0.0, np.pi)


def _norms(L, spin):
    ell = np.arange(L)
    return (-1.0) ** spin * np.sqrt((2 * ell + 1) / (4 * np.pi))


def _symmetric(leg: _Leg) -> bool:
    """Rings mirror-symmetric about the equator and spin 0: the kernel then needs only
    the northern rings, since ``d^l_{m,0}(pi - theta) = (-1)^(l+m) d^l_{m,0}(theta)``."""
    return leg.spin == 0 and leg.sampling in ("gl", "healpix")


def _kernel_rings(leg: _Leg) -> int:
    """Rings the kernel holds: all of them, or the northern half (equator included)."""
    T = len(_leg_thetas(leg))
    return (T + 1) // 2 if _symmetric(leg) else T


def _kernel_bytes(leg: _Leg):
    M = leg.L if leg.half else 2 * leg.L - 1
    return M * leg.L * _kernel_rings(leg) * np.dtype(leg.dtype).itemsize


def _parity(leg: _Leg):
    """(L, M) mask of even l + m."""
    ms = _ms(leg.L, leg.half)
    return jnp.asarray((np.arange(leg.L)[:, None] + ms[None, :]) % 2 == 0)


_KERNELS: collections.OrderedDict = collections.OrderedDict()  # (leg, layout) -> P, least recent first
_KERNELS_LOCK = threading.Lock()


def _unweighted(leg: _Leg) -> _Leg:
    """The key of ``leg``'s kernel: synthesis and analysis of a stage share one."""
    return dataclasses.replace(leg, weighted=False)


def _kernel(leg: _Leg):
    """:func:`_build_kernel`, in a cache of at most twice the kernel budget (least recently
    used out first); synthesis and analysis share one kernel (key :func:`_unweighted`)."""
    key = _unweighted(leg)
    with _KERNELS_LOCK:
        hit = _KERNELS.get(key)
        if hit is not None:
            _KERNELS.move_to_end(key)
            return hit
    P = _build_kernel(key)
    with _KERNELS_LOCK:
        _KERNELS[key] = P
        total = sum(k.nbytes for k in _KERNELS.values())
        while total > 2 * _BUDGET["bytes"] and len(_KERNELS) > 1:
            _, old = _KERNELS.popitem(last=False)
            total -= old.nbytes
    return P


_kernel.cache_clear = _KERNELS.clear


def _build_kernel(leg: _Leg):
    """Device array ``P[m, l, t] = (-1)^s sqrt((2l+1)/4pi) d^l_{m,-s}(theta_t)``, real,
    shape ``(M, L, T)`` (``M = L`` for ``leg.half``, else ``2L-1``; ``T`` the kernel's
    rings, see :func:`_kernel_rings`): the layout XLA's batched matmul reads for both
    the synthesis (contract ``l``) and the analysis (contract ``t``).  No quadrature
    weights (the analysis applies them to its data).

    Built on the host in one pass of the Wigner-d recursion straight into this layout,
    adopted by JAX without a copy on the CPU.  Cost O(L^2 T) plus writing the kernel.
    """
    from ._buffers import aligned_view
    from ._wigner_d import _fixed_n_blocks

    th = _leg_thetas(leg)[: _kernel_rings(leg)]
    L, T = leg.L, th.size
    m_lo = 0 if leg.half else -(L - 1)
    M = L - m_lo
    norms = _norms(L, leg.spin)
    nbytes = L * M * T * 8
    P = aligned_view(np.zeros(nbytes + 64, np.uint8), nbytes, (M, L, T), np.float64)  # zero pages
    for l, blk in _fixed_n_blocks(L, -leg.spin, th):  # blk[l + m] = d^l_{m,-s}, |m| <= l
        if l < abs(leg.spin):
            continue
        lo = max(-l, m_lo)
        np.multiply(blk[lo + l :], norms[l], out=P[lo - m_lo : l + 1 - m_lo, l])
    with jax.ensure_compile_time_eval():  # a concrete device array even when called under jit
        if leg.dtype == "float64" and _primitive._on_cpu():
            return _primitive._adopt(P)  # zero-copy
        return jnp.asarray(P, dtype=leg.dtype)


# ``_ACTIVE.table``: a list while recording which kernels a call reads (:func:`_kernel_keys`),
# a dict key -> array while a program that receives them as arguments is traced (:func:`_call`).
_ACTIVE = threading.local()
# Kernels an owner holds (from kernels_for), weakly: no call rebuilds them while it lives.
_OWNED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _lookup(key):
    """The kernel ``key`` names: a table's (see ``_ACTIVE``), an owner's, else the cached one."""
    tab = getattr(_ACTIVE, "table", None)
    if isinstance(tab, list):
        tab.append(key)
    elif tab is not None and key in tab:
        return tab[key]
    return _build(key)


def _build(key):
    owned = _OWNED.get(key)
    if owned is not None:
        return owned
    if key[0] == "P":
        return _kernel(key[1])
    if key[0] == "HP":
        return _hp_tables(key[1], key[2])[key[3]]
    return _resampler(*key[1:])[key[0] == "Ro"]


def _with_tables(args, arrays, *, core, keys, static):
    with using_kernels(keys, arrays):
        return core(*args, **dict(static))


_with_tables_jit = jax.jit(_with_tables, static_argnames=("core", "keys", "static"))
_KEYS_CACHE: collections.OrderedDict = collections.OrderedDict()  # least recent first
_KEYS_CACHE_SIZE = 256


def _call(core, *args, **static):
    """Run ``core(*args, **static)`` (``core`` module-level, ``static`` hashable); on
    concrete inputs as one program per (core, static, input shapes), compiled once,
    that receives every kernel it reads (:func:`_kernel_keys`) as an argument.  Under
    a caller's trace, ``core`` is simply called and the caller's program captures them."""
    if any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(args)):
        return core(*args, **static)
    args = jax.tree_util.tree_map(jnp.asarray, args)
    keys = _kernel_keys(core, args, static)
    arrays = [_build(k) for k in keys]
    return _with_tables_jit(args, arrays, core=core, keys=keys, static=tuple(sorted(static.items())))


def jit(fn):
    """``jax.jit(fn)`` for a function of arrays built on this package's ``"jax"``-method
    transforms (wavelets, scattering, your own pipeline), with the transforms' Legendre
    kernels passed to the compiled program as *arguments* instead of compiled in.

    Under ``jax.jit`` every kernel a function reads is a constant of the program, and
    XLA's host compile time grows with the bytes of constants (about 10 ms per MB, on
    every device: 0.5-4 GB for a scattering network at L = 256-512).  Here the kernels
    ``fn`` reads are found once per input shapes and dtypes by an abstract trace, built
    (cached), and passed in; the program is compiled once per input shapes (bounded
    caches).  ``fn`` takes positional array arguments (pytrees of arrays); bind other
    options with :func:`functools.partial` or a closure.  Inside another trace,
    ``fn`` is simply called.  The ``"ducc"`` method has no kernels: then this is
    ``jax.jit``.

    >>> import jax.numpy as jnp
    >>> from s2scatter import harmonic
    >>> roundtrip = harmonic.jit(lambda f: harmonic.inverse(harmonic.forward(f, 8, method="jax"), 8, method="jax"))
    >>> f = jnp.ones((8, 15))
    >>> bool(jnp.allclose(roundtrip(f), f, atol=1e-5))
    True
    """
    if not callable(fn):
        raise TypeError(f"s2scatter.jit: fn must be callable, got {type(fn).__name__}")

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if kwargs:
            raise TypeError(f"s2scatter.jit: the compiled function takes positional array arguments only, "
                            f"got keyword arguments {sorted(kwargs)}; bind options with functools.partial")
        return _call(fn, *args)

    return run


def _kernel_keys(core, args, static):
    """The kernels ``core(*args, **static)`` reads, in order: recorded by an abstract
    trace once per (core, static, argument shapes and dtypes) (bounded cache)."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    ck = (core, tuple(sorted(static.items())), tree,
          tuple((tuple(x.shape), jnp.dtype(x.dtype)) for x in leaves))
    with _KERNELS_LOCK:
        keys = _KEYS_CACHE.get(ck)
        if keys is not None:
            _KEYS_CACHE.move_to_end(ck)
            return keys
    rec = []
    prev = getattr(_ACTIVE, "table", None)
    _ACTIVE.table = rec
    try:
        jax.eval_shape(lambda a: core(*a, **static), args)
    finally:
        _ACTIVE.table = prev
    keys = tuple(dict.fromkeys(rec))
    with _KERNELS_LOCK:
        _KEYS_CACHE[ck] = keys
        while len(_KEYS_CACHE) > _KEYS_CACHE_SIZE:
            _KEYS_CACHE.popitem(last=False)
    return keys


def kernels_for(core, *args, **static):
    """``(keys, arrays)``: the kernels ``core(*args, **static)`` reads, built (cached).

    ``args`` may be arrays or :class:`jax.ShapeDtypeStruct`.  An owner (a plan, a
    network) keeps the arrays and hands them back through :func:`using_kernels`,
    e.g. as arguments of a caller's ``jit`` so that they are not compiled in.  They
    are also registered weakly: while the owner holds them, no call rebuilds them,
    even once the bounded kernel cache has let go of them.
    """
    keys = _kernel_keys(core, args, static)
    arrays = tuple(_build(k) for k in keys)
    _OWNED.update(zip(keys, arrays))
    return keys, arrays


@contextlib.contextmanager
def using_kernels(keys, arrays):
    """Within the block, transforms read these kernels (concrete or traced arrays, as
    from :func:`kernels_for`) instead of the cached ones; others are built as usual.
    Nested blocks: a traced kernel (an argument of a program being compiled) is never
    replaced by a concrete one, which would compile it in."""
    prev = getattr(_ACTIVE, "table", None)
    if isinstance(prev, list):  # recording what an enclosing call reads: it reads these too
        yield
        return
    table = dict(prev) if isinstance(prev, dict) else {}
    for k, a in zip(keys, arrays):
        if isinstance(a, jax.core.Tracer) or not isinstance(table.get(k), jax.core.Tracer):
            table[k] = a
    _ACTIVE.table = table
    try:
        yield
    finally:
        _ACTIVE.table = prev


def _split(x):
    """complex (...) -> real (2, ...) so real kernels are never promoted to complex."""
    if jnp.iscomplexobj(x):
        return jnp.stack([x.real, x.imag]), True
    return x[None], False


def _join(y, was_complex):
    return y[0] + 1j * y[1] if was_complex else y[0]


# Legendre stage: kernel (einsum) or recursion (scan primitive)
def _use_kernel(leg):
    """Precomputed kernel (else the recursion): the budget alone decides (capping the
    kernels compiled into a caller's jit made it several times slower from L = 256)."""
    return _kernel_bytes(leg) <= _BUDGET["bytes"]


def _synth_dot(x, P):
    """(..., L, M) data and the (M, L, T) kernel -> (..., T, M): sum over l, batched over m,
    with the data as the left operand so that XLA reads the kernel (an argument) in its
    stored layout instead of transposing it on every call."""
    lead, (nl, nm) = x.shape[:-2], x.shape[-2:]
    xm = jnp.moveaxis(x.reshape((-1, nl, nm)), -1, 0)  # (M, B, L)
    y = jax.lax.dot_general(xm, P, (((2,), (1,)), ((0,), (0,))))  # (M, B, T)
    return jnp.moveaxis(y, 0, -1).reshape(lead + (P.shape[-1], nm))


def _leg_synth(flm_ms, leg: _Leg):
    """(..., L, M) -> (..., T, M): f_m(theta_t) = sum_l P[m,l,t] flm[l,m].

    Symmetric grids: the even and odd ``l + m`` parts go through the northern
    kernel together (one read of it); north = even + odd, mirror = even - odd.
    """
    if _use_kernel(leg):
        xr, c = _split(flm_ms)
        P = _lookup(("P", _unweighted(leg)))
        if not _symmetric(leg):
            return _join(_synth_dot(xr, P), c)
        par = _parity(leg)
        zero = jnp.zeros((), xr.dtype)
        parts = jnp.stack([jnp.where(par, xr, zero), jnp.where(par, zero, xr)], axis=-3)
        y = _synth_dot(parts, P)
        even, odd = y[..., 0, :, :], y[..., 1, :, :]
        nsouth = len(_leg_thetas(leg)) - P.shape[-1]
        south = (even - odd)[..., :nsouth, :][..., ::-1, :]
        return _join(jnp.concatenate([even + odd, south], axis=-2), c)
    return _primitive.apply("jax_leg_synth", flm_ms, leg)


def _leg_adj(fm, leg: _Leg):
    """(..., T, M) -> (..., L, M): flm[l,m] = sum_t P[m,l,t] f_m(theta_t).

    Symmetric grids: sums and differences of mirrored rings (the equator ring,
    its own mirror, counted once) through the northern kernel in one read; even
    ``l + m`` takes the sums, odd the differences.
    """
    if _use_kernel(leg):
        xr, c = _split(fm)
        if leg.weighted:
            xr = xr * jnp.asarray(_gl_weights(leg), dtype=xr.dtype)[:, None]
        P = _lookup(("P", _unweighted(leg)))
        if not _symmetric(leg):
            return _join(jnp.einsum("...tm,mlt->...lm", xr, P), c)
        tn = P.shape[-1]
        north = xr[..., :tn, :]
        south = xr[..., tn:, :][..., ::-1, :]
        pad = [(0, 0)] * (south.ndim - 2) + [(0, tn - south.shape[-2]), (0, 0)]
        south = jnp.pad(south, pad)
        y = jnp.einsum("...ktm,mlt->...klm", jnp.stack([north + south, north - south], axis=-3), P)
        return _join(jnp.where(_parity(leg), y[..., 0, :, :], y[..., 1, :, :]), c)
    return _primitive.apply("jax_leg_adj", fm, leg)


def _scan_leg(x, leg: _Leg, *, adjoint: bool):
    """On-the-fly Legendre stage via the Wigner-d recursion (pure JAX, O(L T) memory)."""
    from ._wigner_d import wigner_d_fixed_n_jax

    L = leg.L
    rdt = jnp.dtype(leg.dtype)
    norms = jnp.asarray(_norms(L, leg.spin), dtype=rdt)
    th = _leg_thetas(leg)
    rows = slice(L - 1, None) if leg.half else slice(None)
    if adjoint:
        xw = x
        if leg.weighted:
            xw = x * jnp.asarray(_gl_weights(leg), dtype=rdt)[:, None]

        def body(acc, ell, d):  # d: (2L-1, T)
            row = jnp.einsum("...tm,mt->...m", xw, d[rows]) * norms[ell]
            return acc, row

        _, ys = wigner_d_fixed_n_jax(L, -leg.spin, th, body, None, dtype=rdt)
        out = jnp.moveaxis(ys, 0, -2)  # (..., L, M)
        ell = jnp.arange(L)
        return jnp.where((ell < abs(leg.spin))[:, None], jnp.zeros((), out.dtype), out)

    def body(acc, ell, d):
        coef = jax.lax.dynamic_index_in_dim(x, ell, axis=x.ndim - 2, keepdims=False)
        return acc + jnp.einsum("...m,mt->...tm", coef * norms[ell], d[rows]), None

    T = len(th)
    init = jnp.zeros(x.shape[:-2] + (T, x.shape[-1]), dtype=x.dtype)
    acc, _ = wigner_d_fixed_n_jax(L, -leg.spin, th, body, init, dtype=rdt)
    if leg.weighted:  # exact transpose of the weighted analysis stage
        acc = acc * jnp.asarray(_gl_weights(leg), dtype=rdt)[:, None]
    return acc


def _register():
    shapes = {"synth": lambda core, leg: (len(_leg_thetas(leg)), core[-1]),
              "adj": lambda core, leg: (leg.L, core[-1])}
    for kind, twin in (("synth", "adj"), ("adj", "synth")):
        fn = functools.partial(_scan_leg, adjoint=kind == "adj")
        _primitive.register(f"jax_leg_{kind}", _primitive.HostOp(
            fn, shapes[kind], lambda leg: 2, lambda dt, leg: dt, f"jax_leg_{twin}", jax_native=True))


_register()


# Exact theta resampling onto Gauss-Legendre nodes
@functools.lru_cache(maxsize=8)
def _resampler(L, sampling, dtype):
    """(R_even, R_odd), each (L_gl, T): native rings -> GL nodes for parity of m+s
    (the forward operator of :mod:`._equi`, shared with the ``"ducc"`` method)."""
    from ._equi import gl_resampler

    with jax.ensure_compile_time_eval():
        return tuple(jnp.asarray(r, dtype=dtype) for r in gl_resampler(L, sampling))


def _resample(fm, L, spin, sampling, ms, dtype):
    Re, Ro = (_lookup((k, L, sampling, dtype)) for k in ("Re", "Ro"))
    ge = jnp.einsum("it,...tm->...im", Re, fm)
    go = jnp.einsum("it,...tm->...im", Ro, fm)
    even = jnp.asarray((ms + spin) % 2 == 0)
    return jnp.where(even, ge, go)


# Ring Fourier transforms
def _chirp(j, n):
    """exp(i pi j^2 / n) for integer arrays ``j`` and ring lengths ``n`` (exact phase:
    j^2 is reduced mod 2n in integers before it becomes an angle)."""
    j = np.asarray(j, np.int64)
    return np.exp(1j * np.pi * ((j * j) % (2 * n)) / n)


@dataclasses.dataclass(frozen=True)
class _HpLayout:
    """Static HEALPix ring layout (hashable): the equatorial belt (``2 nside + 1`` rings
    of ``4 nside`` pixels, one batched FFT) and the polar caps (rings of ``4k < 4 nside``
    pixels), whose DFTs run as one chirp-z (Bluestein) convolution of a common FFT
    length ``N``: ``e^{-2 pi i m p / n} = c_m c_p / c_{m-p}``, ``c_j = e^{-i pi j^2 / n}``.
    """

    nside: int
    L: int
    half: bool


@functools.lru_cache(maxsize=16)
def _hp_index(lay: _HpLayout):
    """Integer index arrays of a layout: cap and belt rings, the cap pixels (padded
    rows, -1 past each ring), the ring order and the pixel order of the outputs."""
    nside = lay.nside
    r = ring_info_healpix(nside)
    npix = 12 * nside * nside
    cap = np.nonzero(r.nphi < 4 * nside)[0]
    belt = np.nonzero(r.nphi == 4 * nside)[0]
    ncap_pix = max(int(r.nphi[cap].max()), 1) if cap.size else 1
    q = np.arange(ncap_pix)[None, :]
    cap_pix = np.where(q < r.nphi[cap][:, None], r.ringstart[cap][:, None] + q, -1)
    belt_pix = r.ringstart[belt][:, None] + np.arange(4 * nside)[None, :]
    ring_perm = np.argsort(np.concatenate([cap, belt]))
    pos = np.empty(npix, np.int64)  # pixel -> position in [cap rows (padded), belt rows], flattened
    valid = cap_pix >= 0
    pos[cap_pix[valid]] = np.nonzero(valid.ravel())[0]
    pos[belt_pix.ravel()] = cap_pix.size + np.arange(belt_pix.size)
    return cap, belt, cap_pix, belt_pix, ring_perm, pos


@functools.lru_cache(maxsize=8)
def _hp_tables(lay: _HpLayout, dtype: str):
    """Chirp tables of the cap rings for analysis ("a") and synthesis ("s"), complex:

    * ``a_in`` (ncap, P): ``e^{-i pi p^2/n}`` (0 past the ring), ``a_ker`` (ncap, N):
      FFT of ``e^{+i pi j^2/n}`` on the lags ``j = m - p``, ``a_out`` (ncap, M):
      ``e^{-i pi m^2/n} e^{-i m phi0}``;
    * ``s_in`` (ncap, M): ``e^{+i pi m^2/n} e^{i m phi0}``, ``s_ker`` (ncap, N): FFT of
      ``e^{-i pi j^2/n}`` on the lags ``j = p - m``, ``s_out`` (ncap, P):
      ``e^{+i pi p^2/n}`` (0 past the ring).
    """
    import ducc0

    cap, _, cap_pix, _, _, _ = _hp_index(lay)
    r = ring_info_healpix(lay.nside)
    ms = _ms(lay.L, lay.half)
    M, P = len(ms), cap_pix.shape[1]
    N = int(ducc0.fft.good_size(M + P - 1))  # a length every FFT backend handles well
    n = r.nphi[cap][:, None].astype(np.int64)
    phi0 = r.phi0[cap][:, None]
    p = np.arange(P)[None, :]
    inside = p < n
    m_lo, m_hi = int(ms[0]), int(ms[-1])
    lag_a = np.arange(m_lo - (P - 1), m_hi + 1)[None, :]  # m - p
    ker_a = np.zeros((cap.size, N), complex)
    ker_a[:, lag_a[0] % N] = _chirp(lag_a, n)
    lag_s = np.arange(-(M - 1), P)[None, :]  # (p - m_lo) - (m - m_lo)
    ker_s = np.zeros((cap.size, N), complex)
    ker_s[:, lag_s[0] % N] = np.conj(_chirp(lag_s - m_lo, n))
    tables = {
        "a_in": np.where(inside, np.conj(_chirp(p, n)), 0),
        "a_ker": np.fft.fft(ker_a, axis=-1),
        "a_out": np.conj(_chirp(ms[None, :], n)) * np.exp(-1j * ms[None, :] * phi0),
        "s_in": _chirp(ms[None, :], n) * np.exp(1j * ms[None, :] * phi0),
        "s_ker": np.fft.fft(ker_s, axis=-1),
        "s_out": np.where(inside, _chirp(p, n), 0),
    }
    cdt = complex_dtype(dtype)
    with jax.ensure_compile_time_eval():
        return {k: jnp.asarray(v, dtype=cdt) for k, v in tables.items()}


def _hp_table(lay, dtype, name):
    return _lookup(("HP", lay, dtype, name))


def _hp_cap_analysis(x, lay, dtype):
    """Cap rings x (..., ncap, P) (zero past each ring) -> (..., ncap, M) DFT at ms."""
    N = _hp_table(lay, dtype, "a_ker").shape[-1]
    a = x * _hp_table(lay, dtype, "a_in")
    y = jnp.fft.ifft(jnp.fft.fft(a, n=N, axis=-1) * _hp_table(lay, dtype, "a_ker"), axis=-1)
    ms = _ms(lay.L, lay.half)
    return y[..., np.mod(ms, N)] * _hp_table(lay, dtype, "a_out")


def _hp_cap_synthesis(fm, lay, dtype):
    """(..., ncap, M) coefficients at ms -> cap rings (..., ncap, P): sum_m fm e^{i m phi}."""
    N = _hp_table(lay, dtype, "s_ker").shape[-1]
    g = fm * _hp_table(lay, dtype, "s_in")
    y = jnp.fft.ifft(jnp.fft.fft(g, n=N, axis=-1) * _hp_table(lay, dtype, "s_ker"), axis=-1)
    P = _hp_table(lay, dtype, "s_out").shape[-1]
    return y[..., :P] * _hp_table(lay, dtype, "s_out")


# The orders ``ms`` of the ring transforms are a run of consecutive integers (``_ms``): they
# fill at most ``n`` bins without wrapping onto themselves iff ``len(ms) <= n``.


def _take_bins(X, ms, n):
    """``X[..., ms mod n]``: slices (no gather) when the orders do not wrap."""
    if len(ms) > n:
        return X[..., np.mod(ms, n)]
    m0, m1 = int(ms[0]), int(ms[-1])
    if m0 >= 0:
        return X[..., m0 : m1 + 1]
    return jnp.concatenate([X[..., n + m0 :], X[..., : m1 + 1]], axis=-1)


def _put_bins(fm, ms, n):
    """Length-``n`` spectra with ``fm[..., k]`` at bin ``ms[k] mod n`` (summed where two
    orders share a bin), zero elsewhere: pads (no scatter) when the orders do not wrap."""
    if len(ms) > n:
        return jnp.zeros(fm.shape[:-1] + (n,), dtype=fm.dtype).at[..., np.mod(ms, n)].add(fm)
    m0, m1 = int(ms[0]), int(ms[-1])
    pad = [(0, 0)] * (fm.ndim - 1)
    if m0 >= 0:
        return jnp.pad(fm, pad + [(m0, n - m1 - 1)])
    neg, pos = fm[..., : -m0], fm[..., -m0:]
    return jnp.concatenate([jnp.pad(pos, pad + [(0, n - len(ms))]), neg], axis=-1)


def _fft_rows(x, n, ms, phi0, *, scale):
    """x (..., nr, n) -> (..., nr, M): scale * sum_p x e^{-i m (phi0 + 2 pi p/n)}."""
    X = jnp.fft.fft(x, axis=-1)
    out = _take_bins(X, ms, n)
    if phi0 is not None and np.any(phi0 != 0):
        out = out * jnp.asarray(np.exp(-1j * np.outer(phi0, ms)), dtype=out.dtype)
    return out * scale


def _ifft_rows(fm, n, ms, phi0, *, real):
    """fm (..., nr, M) -> (..., nr, n): sum_m c_m fm e^{i m (phi0 + 2 pi p / n)}."""
    if phi0 is not None and np.any(phi0 != 0):
        fm = fm * jnp.asarray(np.exp(1j * np.outer(phi0, ms)), dtype=fm.dtype)
    if real:  # m >= 0 only: f = Re(fm_0) + 2 Re sum_{m>0} fm e^{i m phi}
        c = jnp.asarray(np.where(ms == 0, 1.0, 2.0), dtype=fm.real.dtype)
        fm = fm * c
    Y = _put_bins(fm, ms, n)
    out = jnp.fft.ifft(Y, axis=-1) * n
    return out.real if real else out


def _ring_analysis(f, L, sampling, nside, ms, *, scaled):
    """map -> (..., T, M) Fourier coefficients per ring."""
    if sampling != "healpix":
        n = f.shape[-1]
        return _fft_rows(f, n, ms, None, scale=(2 * np.pi / n) if scaled else 1.0)
    lay = _HpLayout(nside, L, bool(ms[0] == 0))
    cap, belt, cap_pix, belt_pix, ring_perm, _ = _hp_index(lay)
    dtype = "float32" if f.dtype in (jnp.float32, jnp.complex64) else "float64"
    xc = jnp.take(f, cap_pix, axis=-1, mode="fill", fill_value=0)
    parts = [_hp_cap_analysis(xc, lay, dtype)] if cap.size else []
    parts.append(_fft_rows(f[..., belt_pix], 4 * nside, ms, ring_info_healpix(nside).phi0[belt], scale=1.0))
    return jnp.concatenate(parts, axis=-2)[..., ring_perm, :]


def _ring_synthesis(fm, L, sampling, nside, ms, *, real):
    """(..., T, M) -> map."""
    if sampling != "healpix":
        n = f_shape(L, sampling=sampling)[-1]
        return _ifft_rows(fm, n, ms, None, real=real)
    lay = _HpLayout(nside, L, bool(ms[0] == 0))
    cap, belt, _, _, _, pos = _hp_index(lay)
    dtype = "float32" if fm.dtype == jnp.complex64 else "float64"
    parts = []
    if cap.size:
        g = fm[..., cap, :]
        if real:  # m >= 0 only: f = Re(g_0) + 2 Re sum_{m>0} g_m e^{i m phi}
            g = g * jnp.asarray(np.where(ms == 0, 1.0, 2.0), dtype=g.real.dtype)
        out = _hp_cap_synthesis(g, lay, dtype)
        out = out.real if real else out
        parts.append(out.reshape(out.shape[:-2] + (-1,)))
    out = _ifft_rows(fm[..., belt, :], 4 * nside, ms, ring_info_healpix(nside).phi0[belt], real=real)
    parts.append(out.reshape(out.shape[:-2] + (-1,)))
    return jnp.concatenate(parts, axis=-1)[..., pos]


# Transforms
def _expand_half(flm_half, L):
    """m >= 0 half (..., L, L) -> full (..., L, 2L-1) by conjugate symmetry."""
    m = np.arange(1, L)
    sgn = jnp.asarray((-1.0) ** m, dtype=flm_half.real.dtype)
    neg = jnp.conj(flm_half[..., :, 1:][..., ::-1]) * sgn[::-1]
    first = flm_half[..., :, :1]
    return jnp.concatenate([neg, first.real.astype(first.dtype), flm_half[..., :, 1:]], axis=-1)


def _synth_ms(flm_ms, L, spin, sampling, nside, half, rdt):
    leg = _Leg(L, spin, sampling, nside, half, False, jnp.dtype(rdt).name)
    fm = _leg_synth(flm_ms, leg)
    return _ring_synthesis(fm, L, sampling, nside, _ms(L, half), real=half)


def _adj_synth_ms(f, L, spin, nside, half, rdt):
    """healpix adjoint synthesis: sum_pix f conj(Y) on the m range."""
    leg = _Leg(L, spin, "healpix", nside, half, False, jnp.dtype(rdt).name)
    fm = _ring_analysis(f, L, "healpix", nside, _ms(L, half), scaled=False)
    return _leg_adj(fm, leg)


def forward(f, L, *, spin, sampling, nside, reality, iter):
    """Pure-JAX forward transform; see :func:`s2scatter.forward`."""
    return _call(_forward, f, L=L, spin=spin, sampling=sampling, nside=nside, reality=reality, iter=iter)


def inverse(flm, L, *, spin, sampling, nside, reality):
    """Pure-JAX inverse transform; see :func:`s2scatter.inverse`."""
    return _call(_inverse, flm, L=L, spin=spin, sampling=sampling, nside=nside, reality=reality)


def _analysis_input(f, half):
    """``(x, rdt, cdt)``: the map as the real (``half``) or complex array analysed."""
    f = jnp.asarray(f)
    rdt, cdt = real_dtype(f.dtype), complex_dtype(f.dtype)
    return (f.astype(rdt) if half else f.astype(cdt)), rdt, cdt


def _forward(f, L, *, spin, sampling, nside, reality, iter):
    half = bool(reality)
    x, rdt, cdt = _analysis_input(f, half)
    ms = _ms(L, half)
    if sampling == "healpix":
        w = 4 * np.pi / f.shape[-1]
        flm = _adj_synth_ms(x, L, spin, nside, half, rdt) * w
        for _ in range(iter):
            resid = x - _synth_ms(flm, L, spin, sampling, nside, half, rdt)
            flm = flm + _adj_synth_ms(resid, L, spin, nside, half, rdt) * w
    else:
        fm = _ring_analysis(x, L, sampling, nside, ms, scaled=True)
        if sampling != "gl":
            fm = _resample(fm, L, spin, sampling, ms, rdt)
        flm = _leg_adj(fm, _Leg(L, spin, "gl", None, half, True, jnp.dtype(rdt).name))
    return (_expand_half(flm, L) if half else flm).astype(cdt)


def _synthesis_input(flm, L, half):
    """``(flm_ms, rdt)``: the coefficients synthesised; for a real field (``half``) m >= 0
    only (m < 0 follows by symmetry), with the real part of m = 0."""
    flm = jnp.asarray(flm)
    rdt, cdt = real_dtype(flm.dtype), complex_dtype(flm.dtype)
    flm = flm.astype(cdt)
    if half:
        flm = flm[..., L - 1 :]
        flm = flm.at[..., 0].set(flm[..., 0].real.astype(cdt))
    return flm, rdt


def _inverse(flm, L, *, spin, sampling, nside, reality):
    half = bool(reality)
    flm_ms, rdt = _synthesis_input(flm, L, half)
    return _synth_ms(flm_ms, L, spin, sampling, nside, half, rdt)


# Band-limit L <-> a finer Gauss-Legendre grid (the scattering modulus grids)
def inverse_to_gl(flm, L, L_grid, nphi, *, spin, reality):
    """Synthesis of band-limit-``L`` coefficients on the GL grid of band-limit
    ``L_grid >= L`` with ``nphi >= 2 L_grid - 1`` points per ring.

    The Legendre stage holds degrees and orders below ``L`` only (no zero
    padding to ``L_grid``), so its kernel has ``L^2 L_grid / 2`` entries, not
    ``L_grid^3 / 2``; the rings are synthesised on ``nphi`` points directly.
    """
    return _call(_inverse_to_gl, flm, L=L, L_grid=L_grid, nphi=nphi, spin=spin, reality=reality)


def forward_from_gl(f, L, L_grid, *, spin, reality):
    """Analysis of maps ``(..., L_grid, nphi)`` on the GL grid of band-limit
    ``L_grid`` up to band-limit ``L <= L_grid`` (the adjoint-matched partner of
    :func:`inverse_to_gl`; exact for fields of band-limit ``<= 2 L_grid - L``)."""
    return _call(_forward_from_gl, f, L=L, L_grid=L_grid, spin=spin, reality=reality)


def _inverse_to_gl(flm, L, *, L_grid, nphi, spin, reality):
    half = bool(reality)
    flm_ms, rdt = _synthesis_input(flm, L, half)
    fm = _leg_synth(flm_ms, _Leg(L, spin, "gl", None, half, False, jnp.dtype(rdt).name, L_grid))
    return _ifft_rows(fm, nphi, _ms(L, half), None, real=half)


def _forward_from_gl(f, L, *, L_grid, spin, reality):
    half = bool(reality)
    x, rdt, cdt = _analysis_input(f, half)
    n = x.shape[-1]
    fm = _fft_rows(x, n, _ms(L, half), None, scale=2 * np.pi / n)
    flm = _leg_adj(fm, _Leg(L, spin, "gl", None, half, True, jnp.dtype(rdt).name, L_grid))
    return (_expand_half(flm, L) if half else flm).astype(cdt)
