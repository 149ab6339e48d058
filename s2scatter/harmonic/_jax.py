"""The ``"jax"`` method: spherical-harmonic transforms in pure JAX (GPU/TPU ready).

Every sampling is handled by the same three stages:

1. **Ring Fourier transform** in phi (``jnp.fft``; HEALPix rings are grouped by
   length, phases ``e^{-i m phi0}`` applied per ring):
   ``f(theta_t, phi) -> f_m(theta_t)``.
2. **Exact resampling in theta** (forward only, equiangular grids): the
   periodic extension ``f_m(2 pi - theta) = (-1)^{m+s} f_m(theta)`` is a
   trigonometric polynomial of degree ``< L``, so Dirichlet-kernel
   interpolation maps the native rings *exactly* onto the ``L`` Gauss-Legendre
   nodes (two real ``L x T`` matrices, one per parity of ``m + s``).
3. **Legendre stage** with ``P[m, l, t] = (-1)^s sqrt((2l+1)/4pi) d^l_{m,-s}(theta_t)``:
   synthesis ``f_m(theta_t) = sum_l flm P``; analysis on Gauss-Legendre nodes
   ``flm = sum_t w_t f_m(theta_t) P``, exact for every spin because the
   product of two parity-matched extensions is an even trigonometric
   polynomial, i.e. a polynomial of degree ``<= 2L-2`` in ``cos theta``.

The Legendre stage uses a precomputed kernel (``(2L-1) x L x T`` reals) when it
fits in :func:`set_kernel_budget` bytes, else an on-the-fly three-term
recursion in ``l`` inside ``lax.scan`` (memory ``O(L T)``) wrapped as a linear
primitive with an explicit transpose, so reverse mode never stores the
recursion.  HEALPix forward uses ``iter`` Jacobi steps as in healpy.

Cost: O(L^3) per equiangular map (kernel: memory-bound reads of the kernel;
recursion: ~10 flops per (l, m, t)).  Kernels are built once per
(L, spin, sampling, dtype) in float64 NumPy and cached on the device.
"""

from __future__ import annotations

import dataclasses
import functools
import threading

import jax
import jax.numpy as jnp
import numpy as np

from ..sampling import f_shape, quadrature_weights, ring_info_healpix, thetas
from . import _primitive
from ._wigner_d import wigner_d_fixed_n

__all__ = ["forward", "inverse", "set_kernel_budget", "get_kernel_budget"]

_BUDGET = {"bytes": 1 << 30}


def set_kernel_budget(nbytes: int) -> None:
    """Largest precomputed Legendre kernel (bytes) before switching to recursion."""
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
    _BUDGET["bytes"] = int(nbytes)


def get_kernel_budget() -> int:
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


def _ms(L, half):
    return np.arange(0, L) if half else np.arange(-(L - 1), L)


def _leg_thetas(leg: _Leg):
    return np.clip(thetas(leg.L, sampling=leg.sampling, nside=leg.nside), 0.0, np.pi)


def _norms(L, spin):
    ell = np.arange(L)
    return (-1.0) ** spin * np.sqrt((2 * ell + 1) / (4 * np.pi))


def _kernel_bytes(leg: _Leg):
    T = len(_leg_thetas(leg))
    M = leg.L if leg.half else 2 * leg.L - 1
    return M * leg.L * T * np.dtype(leg.dtype).itemsize


@functools.lru_cache(maxsize=8)
def _kernel(leg: _Leg, layout: str):
    """Device array P (weights folded in when ``leg.weighted``), real.

    ``layout="mlt"`` (analysis) or ``"mtl"`` (synthesis): the layouts XLA's
    batched matmul consumes without a transpose (no copy, no constant folding).
    """
    th = _leg_thetas(leg)
    d = wigner_d_fixed_n(leg.L, -leg.spin, th)  # (L, 2L-1, T), float64 NumPy
    P = d * _norms(leg.L, leg.spin)[:, None, None]
    ell = np.arange(leg.L)
    P[ell < abs(leg.spin)] = 0.0
    if leg.weighted:
        P = P * quadrature_weights(leg.L, sampling="gl")[None, None, :]
    P = np.transpose(P, (1, 0, 2) if layout == "mlt" else (1, 2, 0))
    if leg.half:
        P = P[leg.L - 1 :]
    with jax.ensure_compile_time_eval():  # a concrete device array even when called under jit
        return jnp.asarray(np.ascontiguousarray(P), dtype=leg.dtype)


# Kernels reach the compiled code as *arguments* on eager calls (fast compile,
# no multi-MB constants in the HLO); under a caller's jit they are captured
# constants.  ``_ACTIVE.table`` is a list while recording which kernels a call
# needs, and a dict key -> traced argument while compiling the eager wrapper.
_ACTIVE = threading.local()


def _lookup(key, build):
    tab = getattr(_ACTIVE, "table", None)
    if isinstance(tab, list):
        tab.append(key)
    elif tab is not None and key in tab:
        return tab[key]
    return build()


def _build(key):
    if key[0] == "P":
        return _kernel(key[1], key[2])
    return _resampler(*key[1:])[key[0] == "Ro"]


def _with_tables(x, arrays, *, core, keys, static):
    _ACTIVE.table = dict(zip(keys, arrays))
    try:
        return core(x, **dict(static))
    finally:
        _ACTIVE.table = None


_with_tables_jit = jax.jit(_with_tables, static_argnames=("core", "keys", "static"))
_KEYS_CACHE: dict = {}


def _call(core, x, **static):
    """Run ``core(x, **static)``; on concrete input, compile it with kernels as arguments."""
    if isinstance(x, jax.core.Tracer):
        return core(x, **static)
    x = jnp.asarray(x)
    st = tuple(sorted(static.items()))
    ck = (core, st, x.shape, x.dtype)
    keys = _KEYS_CACHE.get(ck)
    if keys is None:
        rec = []
        _ACTIVE.table = rec
        try:
            jax.eval_shape(lambda y: core(y, **static), x)
        finally:
            _ACTIVE.table = None
        keys = _KEYS_CACHE[ck] = tuple(dict.fromkeys(rec))
    arrays = [_build(k) for k in keys]
    return _with_tables_jit(x, arrays, core=core, keys=keys, static=st)


def _split(x):
    """complex (...) -> real (2, ...) so real kernels are never promoted to complex."""
    if jnp.iscomplexobj(x):
        return jnp.stack([x.real, x.imag]), True
    return x[None], False


def _join(y, was_complex):
    return y[0] + 1j * y[1] if was_complex else y[0]


# --------------------------------------------------------------------------
# Legendre stage: kernel (einsum) or recursion (scan primitive)
# --------------------------------------------------------------------------


def _use_kernel(leg):
    return _kernel_bytes(leg) <= _BUDGET["bytes"]


def _leg_synth(flm_ms, leg: _Leg):
    """(..., L, M) -> (..., T, M): f_m(theta_t) = sum_l P[m,l,t] flm[l,m]."""
    if _use_kernel(leg):
        xr, c = _split(flm_ms)
        P = _lookup(("P", leg, "mtl"), lambda: _kernel(leg, "mtl"))
        return _join(jnp.einsum("...lm,mtl->...tm", xr, P), c)
    return _primitive.apply("jax_leg_synth", flm_ms, leg)


def _leg_adj(fm, leg: _Leg):
    """(..., T, M) -> (..., L, M): flm[l,m] = sum_t P[m,l,t] f_m(theta_t)."""
    if _use_kernel(leg):
        xr, c = _split(fm)
        P = _lookup(("P", leg, "mlt"), lambda: _kernel(leg, "mlt"))
        return _join(jnp.einsum("...tm,mlt->...lm", xr, P), c)
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
            xw = x * jnp.asarray(quadrature_weights(L, sampling="gl"), dtype=rdt)[:, None]

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
        acc = acc * jnp.asarray(quadrature_weights(L, sampling="gl"), dtype=rdt)[:, None]
    return acc


def _register():
    def out_T(core, leg):
        return (len(_leg_thetas(leg)), core[-1])

    def out_L(core, leg):
        return (leg.L, core[-1])

    same = lambda dt, leg: dt  # noqa: E731
    two = lambda leg: 2  # noqa: E731
    _primitive.register(
        "jax_leg_synth",
        _primitive.HostOp(
            lambda x, leg: _scan_leg(x, leg, adjoint=False), out_T, two, same, "jax_leg_adj",
            jax_native=True,
        ),
    )
    _primitive.register(
        "jax_leg_adj",
        _primitive.HostOp(
            lambda x, leg: _scan_leg(x, leg, adjoint=True), out_L, two, same, "jax_leg_synth",
            jax_native=True,
        ),
    )


_register()


# --------------------------------------------------------------------------
# exact theta resampling onto Gauss-Legendre nodes
# --------------------------------------------------------------------------


def _dirichlet(x, L, N):
    """(1/N) sum_{|j|<L} e^{ijx} (real), stable at x = 0 mod 2pi."""
    s = np.sin(x / 2)
    num = np.sin((2 * L - 1) * x / 2)
    small = np.abs(s) < 1e-14
    return np.where(small, (2 * L - 1) / N * np.cos((2 * L - 1) * x / 2) / np.where(small, np.cos(x / 2), 1.0),
                    num / (N * np.where(small, 1.0, s)))


@functools.lru_cache(maxsize=8)
def _resampler(L, sampling, dtype):
    """(R_even, R_odd), each (L_gl, T): native rings -> GL nodes for parity of m+s."""
    th = thetas(L, sampling=sampling)
    tgl = thetas(L, sampling="gl")
    if sampling == "mw":
        N = 2 * L - 1
    elif sampling == "mwss":
        N = 2 * L
    elif sampling == "dh":
        N = 4 * L
    else:  # pragma: no cover
        raise AssertionError(sampling)
    diff = tgl[:, None] - th[None, :]
    refl = tgl[:, None] - (2 * np.pi - th[None, :])
    direct = _dirichlet(diff, L, N)
    mirror = _dirichlet(refl, L, N)
    # rings on the poles (theta = 0 or pi) are their own mirror images
    self_mirror = np.isclose(th, np.pi) | np.isclose(th, 0.0)
    mirror = np.where(self_mirror[None, :], 0.0, mirror)
    out = (direct + mirror, direct - mirror)
    with jax.ensure_compile_time_eval():
        return tuple(jnp.asarray(r, dtype=dtype) for r in out)


def _resample(fm, L, spin, sampling, ms, dtype):
    Re = _lookup(("Re", L, sampling, dtype), lambda: _resampler(L, sampling, dtype)[0])
    Ro = _lookup(("Ro", L, sampling, dtype), lambda: _resampler(L, sampling, dtype)[1])
    ge = jnp.einsum("it,...tm->...im", Re, fm)
    go = jnp.einsum("it,...tm->...im", Ro, fm)
    even = jnp.asarray((ms + spin) % 2 == 0)
    return jnp.where(even, ge, go)


# --------------------------------------------------------------------------
# ring Fourier transforms
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _hp_groups(nside):
    """Rings grouped by length: list of (ring_ids, nphi, pix (nr, n), phi0 (nr,))."""
    r = ring_info_healpix(nside)
    groups = []
    for n in np.unique(r.nphi):
        ids = np.nonzero(r.nphi == n)[0]
        pix = r.ringstart[ids][:, None] + np.arange(n)[None, :]
        groups.append((ids, int(n), pix, r.phi0[ids]))
    order = np.concatenate([g[0] for g in groups])
    ring_perm = np.argsort(order)
    pix_all = np.concatenate([g[2].ravel() for g in groups])
    pix_perm = np.argsort(pix_all)
    return groups, ring_perm, pix_perm


def _fft_rows(x, n, ms, phi0, *, scale):
    """x (..., nr, n) -> (..., nr, M): scale * sum_p x e^{-i m (phi0 + 2 pi p/n)}."""
    X = jnp.fft.fft(x, axis=-1)
    out = X[..., np.mod(ms, n)]
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
    bins = np.mod(ms, n)
    Y = jnp.zeros(fm.shape[:-1] + (n,), dtype=fm.dtype)
    if len(np.unique(bins)) == len(bins):
        Y = Y.at[..., bins].set(fm)
    else:
        Y = Y.at[..., bins].add(fm)
    out = jnp.fft.ifft(Y, axis=-1) * n
    return out.real if real else out


def _ring_analysis(f, L, sampling, nside, ms, *, scaled):
    """map -> (..., T, M) Fourier coefficients per ring."""
    if sampling != "healpix":
        n = f.shape[-1]
        return _fft_rows(f, n, ms, None, scale=(2 * np.pi / n) if scaled else 1.0)
    groups, ring_perm, _ = _hp_groups(nside)
    parts = []
    for ids, n, pix, phi0 in groups:
        x = f[..., pix]
        parts.append(_fft_rows(x, n, ms, phi0, scale=1.0))
    return jnp.concatenate(parts, axis=-2)[..., ring_perm, :]


def _ring_synthesis(fm, L, sampling, nside, ms, *, real):
    """(..., T, M) -> map."""
    if sampling != "healpix":
        n = f_shape(L, sampling=sampling)[-1]
        return _ifft_rows(fm, n, ms, None, real=real)
    groups, _, pix_perm = _hp_groups(nside)
    parts = []
    for ids, n, pix, phi0 in groups:
        out = _ifft_rows(fm[..., ids, :], n, ms, phi0, real=real)
        parts.append(out.reshape(out.shape[:-2] + (-1,)))
    return jnp.concatenate(parts, axis=-1)[..., pix_perm]


# --------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------


def _dtypes(x):
    rdt = jnp.float32 if x.dtype in (jnp.float32, jnp.complex64) else jnp.float64
    cdt = jnp.complex64 if rdt == jnp.float32 else jnp.complex128
    return rdt, cdt


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


def _forward(f, L, *, spin, sampling, nside, reality, iter):
    f = jnp.asarray(f)
    rdt, cdt = _dtypes(f)
    half = bool(reality)
    ms = _ms(L, half)
    if sampling == "healpix":
        w = 4 * np.pi / f.shape[-1]
        x = f.astype(rdt) if half else f.astype(cdt)
        flm = _adj_synth_ms(x, L, spin, nside, half, rdt) * w
        for _ in range(iter):
            resid = x - _synth_ms(flm, L, spin, sampling, nside, half, rdt)
            flm = flm + _adj_synth_ms(resid, L, spin, nside, half, rdt) * w
    else:
        x = f.astype(rdt) if half else f.astype(cdt)
        fm = _ring_analysis(x, L, sampling, nside, ms, scaled=True)
        if sampling != "gl":
            fm = _resample(fm, L, spin, sampling, ms, rdt)
        leg = _Leg(L, spin, "gl", None, half, True, jnp.dtype(rdt).name)
        flm = _leg_adj(fm, leg)
    if half:
        return _expand_half(flm, L).astype(cdt)
    return flm.astype(cdt)


def _inverse(flm, L, *, spin, sampling, nside, reality):
    flm = jnp.asarray(flm)
    rdt, cdt = _dtypes(flm)
    flm = flm.astype(cdt)
    half = bool(reality)
    if half:  # a real field: read m >= 0 only (m < 0 follows by symmetry), Re of m = 0
        flm_ms = flm[..., L - 1 :]
        flm_ms = flm_ms.at[..., 0].set(flm_ms[..., 0].real.astype(cdt))
    else:
        flm_ms = flm
    return _synth_ms(flm_ms, L, spin, sampling, nside, half, rdt)
