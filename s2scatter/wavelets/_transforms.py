"""Wavelet analysis and synthesis: a harmonic core and pixel-space transforms.

Harmonic formulas (s2wav 1.0.4 ``transforms/base.py``; McEwen et al. 2015, eqs. 20-27)::

    W^j_lmn   = (8 pi^2 / (2l+1)) f_lm conj(Psi^j_ln)        l < L_j, |m| <= l, |n| < N_j
    f^scal_lm = sqrt(4 pi / (2l+1)) f_lm Phi_l                l < L_scal
    f_lm      = sum_j sum_n Psi^j_ln W^j_lmn + sqrt(4 pi / (2l+1)) Phi_l f^scal_lm

``W^j`` are Wigner coefficients (s2fft ``so3`` convention, see
:mod:`s2scatter.harmonic._wigner`) of the scale-``j`` coefficients on SO(3),
``f^scal`` are spherical-harmonic coefficients of the scaling map; the spin of
the signal enters only through the filters (zero for ``l < |spin|``) and the
spin of the scaling map.  Admissibility of the filters makes synthesis the
exact inverse of analysis.

Pixel space.  The wavelet coefficients at scale ``j`` are sampled on the SO(3)
grid of band-limit ``L_j`` with ``2 N_j - 1`` orientations (see
:class:`~s2scatter.wavelets.Scales`); their orientation modes are
``f_n = (-1)^n sqrt(4 pi/(2l+1)) f_lm conj(Psi^j_ln)`` taken to the sphere by a
spin ``-n`` inverse SHT, combined over ``gamma`` by a length ``2 N_j - 1`` DFT.
Only the ``n`` with ``n = N-1 (mod 2)`` and ``|n| < L_j`` are non-zero
(``n >= 0`` suffices for real signals), so a scale costs ``ceil(N/2)`` spin
SHTs for real input, about half of a general Wigner transform.  The JAX cores
go through :func:`s2scatter.forward` / :func:`s2scatter.inverse`, so every
method, batching, ``jit``, ``vmap`` and ``grad`` carry over; maps of scale ``j``
satisfy ``s2scatter.wigner.forward(f_wav[j - J_min], L_j, N_j) == W^j`` (for
``N_j <= L_j``).  Eager real signals on the ``"ducc"`` method on CPU take the
host path of :mod:`._host` (same maths, same :mod:`._steps`).

HEALPix.  Every scale keeps the input ``nside`` (s2wav does the same: its
HEALPix shapes depend on ``nside`` only); multiresolution lowers the harmonic
band-limit of each scale but not its pixel count.  HEALPix has no exact
quadrature, so ``synthesis(analysis(f))`` is exact only up to the residual of
the iterated forward SHT (``iter``, default 3), dominated by the input map's
own forward transform: measured within 1-2x the transform core's round-trip
residual, i.e. ~5e-5 relative (max-norm) for ``L = 2 nside`` and ~5e-7 for
``L = nside`` on random band-limited maps (``tests/test_wavelets.py`` asserts
3x the core's residual and 2e-4 / 2e-6).  Raise ``iter`` or lower ``L`` for
more.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._limits import check_memory
from .. import harmonic
from .._dtypes import complex_dtype, real_dtype
from ..harmonic import checks
from ..harmonic.host import adopt as _adopt
from ..sampling import f_shape, validate_bool, validate_spin
from . import _filters as _F
from . import _host
from ._steps import ell_factor as _ell_factor
from ._steps import gamma_dft, mode_filter, scaling_filter


# validation
def _resolve_filters(filters, L, N, J_min, lam, spin):
    """Build the filter bank, or check that a given one matches the arguments
    (``J_min = lam = None``, the harmonic core: the filters are required)."""
    if filters is None:
        if J_min is None:
            raise ValueError("filters is required by the harmonic transforms: build it once with "
                             "s2scatter.wavelets.filters(L, N=..., J_min=..., lam=..., spin=...)")
        return _F.filters(L, N=N, J_min=J_min, lam=lam, spin=spin)
    if not isinstance(filters, _F.WaveletFilters):
        raise ValueError(f"filters must be a WaveletFilters (from s2scatter.wavelets.filters) or None, "
                         f"got {type(filters).__name__}")
    for key, want in (("L", L), ("N", N), ("J_min", J_min), ("lam", lam), ("spin", spin)):
        have = getattr(filters, key)
        if want is not None and not (want == have):
            raise ValueError(f"filters were built for {key}={have!r} but the transform got {key}={want!r}")
    return filters


def _check_common(L, N, spin, reality, multiresolution):
    L, N = _F._check_LN(L, N)
    spin = validate_spin(spin, L)
    reality = validate_bool(reality, "reality")
    if reality and spin != 0:
        raise ValueError(f"reality=True requires spin=0 (a spin-{spin} field is not real)")
    multiresolution = validate_bool(multiresolution, "multiresolution")
    return L, N, spin, reality, multiresolution


def _plan(fb, N, multiresolution):
    """Per scale: (j, L_j, N_j); and the scaling band-limit."""
    sc = fb.scales
    out = tuple((j, sc.bandlimit(j, multiresolution), sc.orientations(j, N, multiresolution)) for j in sc.js)
    return out, sc.scal_bandlimit(multiresolution)


def _ns(N, Nj, Lj, reality, psi_j=None):
    """Orientation modes that can be non-zero: n = N-1 (mod 2), |n| < min(N_j, L_j); with
    concrete filters ``psi_j`` (``(L, 2N-1)``), also not identically zero at this scale."""
    ns = [n for n in range(-(Nj - 1), Nj) if (n - (N - 1)) % 2 == 0 and abs(n) < Lj]
    if isinstance(psi_j, np.ndarray):
        ns = [n for n in ns if np.any(psi_j[:Lj, N - 1 + n])]
    return tuple(n for n in ns if n >= 0) if reality else tuple(ns)


def _cut(flm, L, Lj):
    """flm (..., L, 2L-1) -> (..., Lj, 2Lj-1)."""
    return flm[..., :Lj, L - Lj : L - 1 + Lj]


# harmonic core
def analysis_harmonic(flm, filters, *, L, N, multiresolution=True, spin=0, reality=False):
    """Wavelet analysis in harmonic space: flm -> (Wigner coefficients per scale, scaling flm).

    Args:
        flm: coefficients ``(..., L, 2L-1)``, entry ``[l, L-1+m]``.
        filters: a :class:`~s2scatter.wavelets.WaveletFilters` for ``(L, N, spin)``
            (its ``J_min`` and ``lam`` are used); may be a traced pytree.
        L, N: band-limit and azimuthal band-limit (checked against ``filters``).
        multiresolution: scale ``j`` at band-limit ``L_j`` with ``N_j``
            orientations (else ``L`` and ``N``).
        spin: spin of the signal (checked against ``filters``).
        reality: the signal is real (checked only; the full ``n`` range is returned).

    Returns:
        ``(flmn_list, flm_scal)``: ``flmn_list[j - J_min]`` of shape
        ``(..., 2N_j-1, L_j, 2L_j-1)`` indexed ``[N_j-1+n, l, L_j-1+m]``,
        ``W^j_lmn = (8 pi^2/(2l+1)) f_lm conj(Psi^j_ln)``; ``flm_scal`` of shape
        ``(..., L_scal, 2L_scal-1)``, ``sqrt(4 pi/(2l+1)) f_lm Phi_l``.

    Cost: O(N L^2) per scale, no transforms.

    Example:
        >>> import numpy as np
        >>> from s2scatter.wavelets import analysis_harmonic, filters
        >>> L = 8; fb = filters(L, N=3)
        >>> flm = np.zeros((L, 2 * L - 1), complex); flm[5, L - 1 + 2] = 1.0
        >>> flmn, fs = analysis_harmonic(flm, fb, L=L, N=3)
        >>> [w.shape for w in flmn], fs.shape
        ([(5, 4, 7), (5, 4, 7), (5, 8, 15), (5, 8, 15)], (1, 1))
    """
    L, N, spin, reality, multiresolution = _check_common(L, N, spin, reality, multiresolution)
    fb = _resolve_filters(filters, L, N, None, None, spin)
    flm = jnp.asarray(flm)
    if flm.ndim < 2 or tuple(flm.shape[-2:]) != (L, 2 * L - 1):
        raise ValueError(f"flm has shape {tuple(flm.shape)}; expected (..., {L}, {2 * L - 1}) for L={L}")
    flm = flm.astype(complex_dtype(flm.dtype))
    plan, Ls = _plan(fb, N, multiresolution)
    psi = jnp.asarray(fb.psi_n)
    out = []
    for j, Lj, Nj in plan:
        c = jnp.conj(psi[j, :Lj, N - Nj : N - 1 + Nj]) * (2.0 * np.pi * _ell_factor(Lj, 1.0))[:, None]
        c = c.T.astype(flm.dtype)  # (2Nj-1, Lj): 8 pi^2/(2l+1) conj(Psi)
        out.append(c[..., None] * _cut(flm, L, Lj)[..., None, :, :])
    phi = scaling_filter(fb.phi, Ls, jnp).astype(flm.real.dtype)
    return out, _cut(flm, L, Ls) * phi[:, None]


def _check_flmn_list(flmn_list, plan, name="flmn_list"):
    if not isinstance(flmn_list, (list, tuple)) or len(flmn_list) != len(plan):
        n = len(flmn_list) if isinstance(flmn_list, (list, tuple)) else type(flmn_list).__name__
        raise ValueError(f"{name} must be a list of {len(plan)} arrays (one per scale j = "
                         f"{plan[0][0]}..{plan[-1][0]}), got {n}")


def synthesis_harmonic(flmn_list, flm_scal, filters, *, L, N, multiresolution=True, spin=0, reality=False):
    """Wavelet synthesis in harmonic space, the inverse of :func:`analysis_harmonic`.

    Args:
        flmn_list: per-scale Wigner coefficients, shapes as returned by
            :func:`analysis_harmonic`.
        flm_scal: scaling coefficients ``(..., L_scal, 2L_scal-1)``.
        filters, L, N, multiresolution, spin: as :func:`analysis_harmonic`.
        reality: the signal is real: the result is projected onto
            conjugate-symmetric coefficients ``f_l,-m = (-1)^m conj(f_lm)``.

    Returns:
        flm ``(..., L, 2L-1)``: ``sum_j sum_n Psi^j_ln W^j_lmn + sqrt(4 pi/(2l+1)) Phi_l f^scal_lm``.

    Cost: O(N L^2) per scale.

    Example:
        >>> import numpy as np
        >>> from s2scatter.wavelets import analysis_harmonic, synthesis_harmonic, filters
        >>> L = 8; fb = filters(L, N=3)
        >>> flm = np.zeros((L, 2 * L - 1), complex); flm[5, L - 1 + 2] = 1.0
        >>> out = synthesis_harmonic(*analysis_harmonic(flm, fb, L=L, N=3), fb, L=L, N=3)
        >>> bool(np.allclose(out, flm, atol=1e-14))
        True
    """
    L, N, spin, reality, multiresolution = _check_common(L, N, spin, reality, multiresolution)
    fb = _resolve_filters(filters, L, N, None, None, spin)
    plan, Ls = _plan(fb, N, multiresolution)
    _check_flmn_list(flmn_list, plan)
    flm_scal = jnp.asarray(flm_scal)
    if flm_scal.ndim < 2 or tuple(flm_scal.shape[-2:]) != (Ls, 2 * Ls - 1):
        raise ValueError(f"flm_scal has shape {tuple(flm_scal.shape)}; expected (..., {Ls}, {2 * Ls - 1}) "
                         f"(scaling band-limit L_scal={Ls})")
    batch = flm_scal.shape[:-2]
    cdt = complex_dtype(flm_scal.dtype)
    psi = jnp.asarray(fb.psi_n)
    out = jnp.zeros(batch + (L, 2 * L - 1), dtype=cdt)
    for (j, Lj, Nj), w in zip(plan, flmn_list):
        w = jnp.asarray(w)
        if w.shape[-3:] != (2 * Nj - 1, Lj, 2 * Lj - 1) or w.shape[:-3] != batch:
            raise ValueError(f"flmn_list[{j - fb.J_min}] (scale j={j}) has shape {tuple(w.shape)}; expected "
                             f"{batch + (2 * Nj - 1, Lj, 2 * Lj - 1)}")
        c = psi[j, :Lj, N - Nj : N - 1 + Nj].astype(cdt)  # (Lj, 2Nj-1)
        out = out.at[..., :Lj, L - Lj : L - 1 + Lj].add(jnp.einsum("ln,...nlm->...lm", c, w.astype(cdt)))
    phi = scaling_filter(fb.phi, Ls, jnp).astype(jnp.zeros((), cdt).real.dtype)
    out = out.at[..., :Ls, L - Ls : L - 1 + Ls].add(flm_scal.astype(cdt) * phi[:, None])
    if reality:
        sgn = jnp.asarray((-1.0) ** np.arange(-(L - 1), L), dtype=phi.dtype)
        out = 0.5 * (out + sgn * jnp.conj(out[..., ::-1]))
    return out


# orientation (gamma) DFTs, jitted so XLA fuses them into one pass over memory
@functools.partial(jax.jit, static_argnames=("ns", "Nj", "reality", "nfs"))
def _gamma_synthesis(maps, *, ns, Nj, reality, nfs):
    """f(gamma_k) = sum_n e^{i n gamma_k} f_n, gamma_k = 2 pi k/(2Nj-1); real: f_0 + 2 Re sum_{n>0}.
    The columns of :func:`._steps.gamma_dft` as broadcasts: one fused loop, fast to compile."""
    K = 2 * Nj - 1
    bshape = (K,) + (1,) * nfs  # the orientation axis, broadcast over the map axes
    M = gamma_dft(ns, Nj, reality=reality)  # (K, R)
    ax = maps[0].ndim - nfs
    out, r = None, 0
    for n, m in zip(ns, maps):
        m = jnp.expand_dims(m, ax)
        if reality and n == 0:  # a column of ones
            term, r = m, r + 1
        elif reality:
            c, s = (jnp.asarray(M[:, r + i].reshape(bshape), dtype=m.real.dtype) for i in (0, 1))
            term, r = c * m.real + s * m.imag, r + 2
        else:
            term, r = jnp.asarray(M[:, r].reshape(bshape), dtype=m.dtype) * m, r + 1
        out = term if out is None else out + term
    if out.shape[ax] != K:  # a single n = 0 term
        out = jnp.broadcast_to(out, out.shape[:ax] + (K,) + out.shape[ax + 1 :])
    return out


@functools.partial(jax.jit, static_argnames=("ns", "Nj", "reality", "nfs"))
def _gamma_analysis(f, *, ns, Nj, reality, nfs):
    """f_n = (1/(2Nj-1)) sum_k e^{-i n gamma_k} f(gamma_k) for each n in ns: one small dot
    over the orientation axis (XLA's CPU reductions along a leading axis are ~30x slower)."""
    ax = f.ndim - 1 - nfs
    E = gamma_dft(ns, Nj, reality=reality, inverse=True)  # real: rows (Re f_n, Im f_n), n = 0 only Re
    y = jnp.tensordot(jnp.asarray(E, dtype=f.dtype), jnp.moveaxis(f, ax, 0), axes=1)
    if reality:
        out, r = [], 0
        for n in ns:
            out.append(y[r] if n == 0 else jax.lax.complex(y[r], y[r + 1]))
            r += 1 if n == 0 else 2
        return tuple(out)
    return tuple(y[i] for i in range(len(ns)))


# pixel space
def _check_f_wav(f_wav, plan, N, sampling, nside):
    _check_flmn_list(f_wav, plan, name="f_wav")
    batch = None
    for (j, Lj, Nj), fj in zip(plan, f_wav):
        fs = f_shape(Lj, sampling=sampling, nside=nside)
        shp = tuple(jnp.shape(fj))
        k = len(fs) + 1
        if len(shp) < k or shp[-k:] != (2 * Nj - 1,) + tuple(fs) or (batch is not None and shp[:-k] != batch):
            exp = (batch if batch is not None else ("...",)) + (2 * Nj - 1,) + tuple(fs)
            raise ValueError(f"f_wav[{j - plan[0][0]}] (scale j={j}) has shape {shp}; expected {exp} "
                             f"(L_j={Lj}, N_j={Nj}, sampling={sampling!r})")
        batch = shp[:-k]
    return batch


def analysis(f, L, *, N=1, J_min=0, lam=2.0, spin=0, sampling="mw", nside=None, reality=False,
             multiresolution=True, method="auto", filters=None, iter=3):
    """Directional wavelet analysis of a map: f -> (wavelet maps per scale, scaling map).

    Args:
        f: map ``(..., *f_shape(L, sampling))``; leading axes are batch axes.
        L: band-limit, ``L >= 2``.
        N: azimuthal band-limit of the wavelets (``N=1``: axisymmetric).
        J_min: first wavelet scale, ``0 <= J_min <= J_max = ceil(log_lam L)``.
        lam: scale factor ``> 1``.
        spin: spin of ``f``.
        sampling, nside: as :func:`s2scatter.forward`; HEALPix keeps ``nside``
            at every scale (module docstring).
        reality: ``f`` is real: real wavelet maps, about half the cost.  A
            complex ``f`` then raises ``ValueError`` (on every method).
        multiresolution: scale ``j`` on the grid of band-limit ``L_j`` with
            ``2 N_j - 1`` orientations (else ``L`` and ``2N-1``).
        method: ``"auto"``, ``"ducc"`` or ``"jax"`` (of the transform core).
        filters: a prebuilt :func:`~s2scatter.wavelets.filters` bank, or ``None``
            to build (and cache) it from ``(L, N, J_min, lam, spin)``.
        iter: HEALPix Jacobi iterations of the forward SHT (ignored elsewhere).

    Returns:
        ``(f_wav, f_scal)``: ``f_wav[j - J_min]`` of shape
        ``(..., 2N_j-1, *f_shape(L_j, sampling))`` (axes ``[gamma, beta, alpha]``;
        ``N=1`` gives one orientation, i.e. maps on the sphere), real iff
        ``reality``; ``f_scal`` of shape ``(..., *f_shape(L_scal, sampling))``.

    Raises:
        ValueError: naming the parameter; before any transform, when the
            bank has more than ``max_scales`` scales (``lam`` too close to 1)
            or the outputs cannot fit in the available memory (limits:
            :func:`s2scatter.set_limits`).

    Cost: one forward SHT at ``L`` plus, per scale, ``ceil(N/2)`` (real) or
    ``N`` (complex) spin SHTs at ``L_j``: dominated by the two or three scales
    with ``L_j = L``.

    Example:
        >>> import numpy as np, s2scatter
        >>> from s2scatter.wavelets import analysis, synthesis
        >>> L = 16; rng = np.random.default_rng(0)
        >>> f = np.asarray(s2scatter.inverse(rng.standard_normal((L, 2 * L - 1)) + 0j, L, reality=True))
        >>> f_wav, f_scal = analysis(f, L, N=3, reality=True)
        >>> [w.shape for w in f_wav][-2:], f_scal.shape
        ([(5, 16, 31), (5, 16, 31)], (1, 1))
        >>> bool(np.allclose(synthesis(f_wav, f_scal, L, N=3, reality=True), f, atol=1e-12))
        True
    """
    L, N, spin, reality, multiresolution = _check_common(L, N, spin, reality, multiresolution)
    fb = _resolve_filters(filters, L, N, J_min, lam, spin)
    spec = _spec(fb, L, N, spin, sampling, nside, reality, multiresolution, method, iter)
    f = checks.as_float_array(f, "f")
    checks.check_map(f, L, spec.sampling, spec.nside)
    if reality and jnp.iscomplexobj(f):  # before any method: the host path would drop Im f
        raise ValueError("f must be real when reality=True, got a complex array; pass reality=False "
                         "to analyse a complex signal")
    _check_output_memory(spec, f)
    checks.check_finite(f, "f")
    if spec.reality and _host.use_host(spec, f, fb):
        return _host.analysis(np.asarray(f), np.asarray(fb.psi_n), np.asarray(fb.phi), spec)
    return _run(_analysis_core, spec, f, fb)


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Everything static about one pixel-space transform (hashable: a jit static argument)."""

    L: int
    N: int
    plan: tuple  # ((j, L_j, N_j, active n), ...)
    Ls: int
    spin: int
    sampling: str
    nside: int | None
    reality: bool
    method: str
    iter: int

    @property
    def kw(self):
        return dict(sampling=self.sampling, nside=self.nside, method=self.method)

    @property
    def nfs(self):
        return len(f_shape(self.L, sampling=self.sampling, nside=self.nside))


def _spec(fb, L, N, spin, sampling, nside, reality, multiresolution, method, iter):
    sampling, nside = checks.check_sampling(sampling, L, nside, stacklevel=5)
    if isinstance(iter, bool) or not isinstance(iter, (int, np.integer)) or iter < 0:
        raise ValueError(f"iter must be a non-negative integer, got {iter!r}")
    method = harmonic.resolve_method(method, L, sampling)
    plan, Ls = _plan(fb, N, multiresolution)
    psi = fb.psi_n if isinstance(fb.psi_n, np.ndarray) else None
    plan = tuple((j, Lj, Nj, _ns(N, Nj, Lj, reality, None if psi is None else psi[j])) for j, Lj, Nj in plan)
    return _Spec(L, N, plan, Ls, spin, sampling, nside, reality, method, int(iter))


def _check_output_memory(spec, f):
    """Refuse an analysis whose outputs cannot fit in memory, before computing any scale."""
    batch = math.prod(f.shape[: f.ndim - spec.nfs])
    real = np.dtype(real_dtype(f.dtype)).itemsize
    item = real * (1 if spec.reality else 2)
    grid = dict(sampling=spec.sampling, nside=spec.nside)
    per_map = sum((2 * Nj - 1) * math.prod(f_shape(Lj, **grid)) for _, Lj, Nj, _ in spec.plan)
    per_map = (per_map + math.prod(f_shape(spec.Ls, **grid))) * item
    per_map += spec.L * (2 * spec.L - 1) * 2 * real  # the input's flm (complex)
    check_memory(batch * per_map, f"wavelet analysis at L={spec.L}, N={spec.N} of {batch} map(s) "
                                  f"({len(spec.plan)} scales, sampling={spec.sampling!r})")


def _run(core, spec, *args):
    """Run the whole transform as one compiled program per spec and input shape, the
    filters (and the ``"jax"`` method's kernels, :mod:`s2scatter.harmonic.programs`)
    passed as arguments, not baked in."""
    *data, fb = args
    if spec.method == "ducc":
        return _JIT[core](*data, fb.psi_n, fb.phi, spec=spec)
    from ..harmonic.programs import run_with_kernels

    return run_with_kernels(core, *data, fb.psi_n, fb.phi, spec=spec)


def _analysis_core(f, psi_n, phi, *, spec):
    L, N = spec.L, spec.N
    flm = harmonic.forward(f, L, spin=spec.spin, reality=spec.reality, iter=spec.iter, **spec.kw)
    psi = jnp.asarray(psi_n)
    f_wav = []
    for j, Lj, Nj, ns in spec.plan:
        flm_j = _cut(flm, L, Lj)
        maps = []
        for n in ns:
            c = mode_filter(psi, j, Lj, N, n, jnp).astype(flm.dtype)
            maps.append(harmonic.inverse(flm_j * c[:, None], Lj, spin=-n,
                                         reality=spec.reality and n == 0, **spec.kw))
        if maps:
            f_wav.append(_gamma_synthesis(tuple(maps), ns=ns, Nj=Nj, reality=spec.reality, nfs=spec.nfs))
        else:  # every wavelet of this scale vanishes (e.g. l < |spin| on its whole support)
            shape = flm.shape[:-2] + (2 * Nj - 1,) + f_shape(Lj, sampling=spec.sampling, nside=spec.nside)
            f_wav.append(jnp.zeros(shape, dtype=flm.real.dtype if spec.reality else flm.dtype))
        del maps, flm_j
    Ls = spec.Ls
    if Ls <= abs(spec.spin):  # Phi_l = 0 for l < |spin|: the scaling map vanishes
        shape = flm.shape[:-2] + f_shape(Ls, sampling=spec.sampling, nside=spec.nside)
        f_scal = jnp.zeros(shape, dtype=flm.dtype)
    else:
        ph = scaling_filter(phi, Ls, jnp).astype(flm.real.dtype)
        f_scal = harmonic.inverse(_cut(flm, L, Ls) * ph[:, None], Ls, spin=spec.spin,
                                  reality=spec.reality, **spec.kw)
    return f_wav, f_scal


def synthesis(f_wav, f_scal, L, *, N=1, J_min=0, lam=2.0, spin=0, sampling="mw", nside=None, reality=False,
              multiresolution=True, method="auto", filters=None, iter=3):
    """Directional wavelet synthesis, the inverse of :func:`analysis`: (f_wav, f_scal) -> f.

    Args:
        f_wav: list over ``j = J_min .. J_max`` of ``(..., 2N_j-1, *f_shape(L_j, sampling))``.
        f_scal: scaling map ``(..., *f_shape(L_scal, sampling))``.
        L, N, J_min, lam, spin, sampling, nside: as :func:`analysis` (must be the same).
        multiresolution, method, filters, iter: as :func:`analysis` (must be the same).
        reality: the signal is real: only ``n >= 0`` modes are transformed and
            the output is the real part; complex ``f_wav`` or ``f_scal`` raise
            ``ValueError`` (on every method).

    Returns:
        f of shape ``(..., *f_shape(L, sampling))``, real iff ``reality``.
        Exact (to rounding) for coefficients of a band-limited signal on
        equiangular and Gauss-Legendre grids; HEALPix: see the module docstring.

    Cost: as :func:`analysis`.
    """
    L, N, spin, reality, multiresolution = _check_common(L, N, spin, reality, multiresolution)
    fb = _resolve_filters(filters, L, N, J_min, lam, spin)
    spec = _spec(fb, L, N, spin, sampling, nside, reality, multiresolution, method, iter)
    batch = _check_f_wav(f_wav, [p[:3] for p in spec.plan], N, spec.sampling, spec.nside)
    fs = f_shape(spec.Ls, sampling=spec.sampling, nside=spec.nside)
    f_scal = checks.as_float_array(f_scal, "f_scal")
    if tuple(f_scal.shape) != tuple(batch) + tuple(fs):
        raise ValueError(f"f_scal has shape {tuple(f_scal.shape)}; expected {tuple(batch) + tuple(fs)} "
                         f"(scaling band-limit L_scal={spec.Ls}, sampling={spec.sampling!r})")
    f_wav = [checks.as_float_array(w, f"f_wav[{k}]") for k, w in enumerate(f_wav)]
    # before any method: the host path would drop the imaginary parts
    for name, w in [(f"f_wav[{k}]", w) for k, w in enumerate(f_wav)] + [("f_scal", f_scal)]:
        if reality and jnp.iscomplexobj(w):
            raise ValueError(f"{name} must be real when reality=True, got a complex array; pass "
                             "reality=False to synthesise a complex signal")

    def check_all():
        for k, w in enumerate(f_wav):
            checks.check_finite(w, f"f_wav[{k}]")
        checks.check_finite(f_scal, "f_scal")

    if spec.reality and _host.use_host(spec, f_scal, fb, *f_wav):
        args = ([np.asarray(w) for w in f_wav], np.asarray(f_scal), np.asarray(fb.psi_n), np.asarray(fb.phi), spec)
        for k, (p, w) in enumerate(zip(spec.plan, f_wav)):
            if not p[3]:  # not read by the transform: check it here
                checks.check_finite(w, f"f_wav[{k}]")
        try:
            return _adopt(_host.synthesis(*args))
        except _host.NonFinite:
            check_all()  # names the offending input; passes only if finite inputs overflowed
            return _adopt(_host.synthesis(*args, check=False))
    check_all()
    return _run(_synthesis_core, spec, tuple(f_wav), f_scal, fb)


def _synthesis_core(f_wav, f_scal, psi_n, phi, *, spec):
    L, N, Ls = spec.L, spec.N, spec.Ls
    cdt = complex_dtype(f_scal.dtype)
    rdt = jnp.zeros((), cdt).real.dtype
    psi = jnp.asarray(psi_n)
    flm = jnp.zeros(f_scal.shape[: f_scal.ndim - spec.nfs] + (L, 2 * L - 1), dtype=cdt)
    if Ls > abs(spec.spin):  # else Phi_l = 0 on l < L_scal: the scaling map carries nothing
        flm_s = harmonic.forward(f_scal, Ls, spin=spec.spin, reality=spec.reality, iter=spec.iter,
                                 **spec.kw)
        ph = scaling_filter(phi, Ls, jnp).astype(rdt)
        flm = flm.at[..., :Ls, L - Ls : L - 1 + Ls].add(flm_s.astype(cdt) * ph[:, None])
    for (j, Lj, Nj, ns), fj in zip(spec.plan, f_wav):
        if not ns:
            continue
        modes = _gamma_analysis(fj, ns=ns, Nj=Nj, reality=spec.reality, nfs=spec.nfs)
        acc = None
        for n, fn in zip(ns, modes):
            g = harmonic.forward(fn, Lj, spin=-n, reality=spec.reality and n == 0, iter=spec.iter, **spec.kw)
            wt = 2.0 if spec.reality and n > 0 else 1.0  # real: n > 0 stands for +-n
            c = mode_filter(psi, j, Lj, N, n, jnp, synthesis=True, weight=wt).astype(cdt)
            acc = g * c[:, None] if acc is None else acc + g * c[:, None]
        flm = flm.at[..., :Lj, L - Lj : L - 1 + Lj].add(acc)
        del modes, acc
    if spec.reality:
        # The n > 0 modes stand for +-n (weight 2); the sum over all n is the
        # conjugate-symmetric part of flm, whose m >= 0 half the real inverse reads.
        sgn = jnp.asarray((-1.0) ** np.arange(L), dtype=rdt)
        flm = flm.at[..., L - 1 :].set(0.5 * (flm[..., L - 1 :] + sgn * jnp.conj(flm[..., L - 1 :: -1])))
    return harmonic.inverse(flm, L, spin=spec.spin, reality=spec.reality, **spec.kw)


_JIT = {
    _analysis_core: jax.jit(_analysis_core, static_argnames=("spec",)),
    _synthesis_core: jax.jit(_synthesis_core, static_argnames=("spec",)),
}
