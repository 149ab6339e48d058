"""The scattering cascade: a pure function of coefficients and a filter bank.

Notation: ``kappa_j(l)`` and ``nu(l)`` are the scale-discretised kernels, and
``s_ln`` the directional weights (``sum_n |s_ln|^2 = 1``), so that the wavelet
``Psi^j_ln = sqrt((2l+1)/8pi^2) kappa_j(l) s_ln`` and the scaling function
``Phi_l = sqrt((2l+1)/4pi) nu(l)``.

**One layer.** For a field with coefficients ``u_lm`` the wavelet coefficients
on SO(3) are ``W_j(a, b, g) = sum_n e^{i n g} w_n(a, b)`` with ``w_n`` the spin
``-n`` field of coefficients ``(-1)^n kappa_j(l) conj(s_ln) u_lm / sqrt(2 pi)``.
The propagator pools the modulus over orientations,

    U_j u (w) = sqrt( (1/2pi) int |W_j(w, g)|^2 dg * 2pi ) = sqrt( sum_n |h_n(w)|^2 ),

with ``h_n = sqrt(2pi) w_n`` ("energy" normalisation: ``||U_j u||^2 =
sum_lm kappa_j(l)^2 |u_lm|^2``).  A modulus of a spin field is a scalar, so ``U_j``
is exactly rotation equivariant on S^2 for every N.  For real inputs
``h_{-n} = conj(h_n)`` and only ``n >= 0`` is computed.

**Cascade.** ``U[p] = U_{j_k} ... U_{j_1} f`` and ``S[p] = nu * U[p]`` (band-limit
``L_scal``), each ``U[p]`` kept at the band-limit its children need
(``docs/scattering.md``).  ``|.|`` is not band-limited: it is evaluated on the
Gauss-Legendre grid of :func:`grid_L` and projected back; what leaks is the
equivariance error measured in ``docs/scattering.md``.

**One step, two backends.** :func:`propagate` is ``U_j`` written once against a few
array operations, run with ``jnp`` (:class:`JaxOps`, ``method="jax"``) or NumPy in one
host callback (:class:`s2scatter.scattering._fused.HostOps`, ``method="ducc"``).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from ..harmonic import forward_from_gl_grid, inverse_to_gl_grid, resolve_method
from ._config import ScatteringConfig, scattering_paths


@dataclasses.dataclass(frozen=True)
class FilterBank:
    """Harmonic filters of a scattering network (arrays, plus static metadata).

    Attributes:
        h: dict j -> ``(n_count, L_j)`` real/complex array ``(-1)^n kappa_j(l) conj(s_ln)``.
        ns: dict j -> tuple of orientation modes ``n`` in ``h[j]`` (``n >= 0``
            only when ``config.reality``; weights in ``weights``).
        weights: dict j -> tuple of multiplicities (2 for ``n > 0`` folded with ``-n``).
        nu: ``(L_scal,)`` scaling kernel ``nu(l)``.
        config: the :class:`ScatteringConfig`.
    """

    h: dict
    ns: dict
    weights: dict
    nu: np.ndarray
    config: ScatteringConfig


def filter_bank(config: ScatteringConfig) -> FilterBank:
    """Build the filter bank of ``config`` from the wavelet layer's filters."""
    from ..wavelets import filters as wavelet_filters

    L = config.L
    wf = wavelet_filters(L, N=config.N, J_min=config.J_min, lam=config.lam, spin=0)
    ell = np.arange(L)
    psi = np.asarray(wf.psi_n)  # (J_max+1, L, 2N-1), [j, l, N-1+n]: not the (J_max+1, L, 2L-1) layout
    phi = np.asarray(wf.phi)  # (L,)
    to_kappa = np.sqrt(8 * np.pi**2 / (2 * ell + 1))
    nu = phi * np.sqrt(4 * np.pi / (2 * ell + 1))
    h, ns, weights = {}, {}, {}
    for j in range(config.J_min, config.J_max + 1):
        Lj = config.L_j(j)
        modes, wts, rows = [], [], []
        nrange = range(0, config.N) if config.reality else range(-(config.N - 1), config.N)
        for n in nrange:
            col = psi[j, :Lj, config.N - 1 + n]
            if not np.any(col):
                continue
            modes.append(n)
            wts.append(2.0 if (config.reality and n > 0) else 1.0)
            rows.append((-1.0) ** n * np.conj(col) * to_kappa[:Lj])
        h[j] = np.stack(rows)
        ns[j] = tuple(modes)
        weights[j] = tuple(wts)
    return FilterBank(h=h, ns=ns, weights=weights, nu=nu[: config.L_scal].real.copy(), config=config)


@jax.custom_jvp
def safe_modulus(x2):
    """sqrt(x2) for x2 >= 0 with a zero (not infinite) derivative at 0."""
    return jnp.sqrt(jnp.maximum(x2, 0.0))


@safe_modulus.defjvp
def _safe_modulus_jvp(primals, tangents):
    (x2,), (t,) = primals, tangents
    y = safe_modulus(x2)
    pos = y > 0
    return y, jnp.where(pos, t / (2 * jnp.where(pos, y, 1.0)), 0.0)


def _truncate(ulm, L_from, L_to):
    """(..., L_from, 2L_from-1) -> (..., L_to, 2L_to-1), L_to <= L_from."""
    return ulm[..., :L_to, L_from - L_to : L_from + L_to - 1]


def grid_L(config: ScatteringConfig, Lj: int, L_out: int | None = None) -> int:
    """Band-limit of the Gauss-Legendre grid on which the scale-``Lj`` modulus is taken.

    The analysis of the modulus onto ``l < L_out`` is exact for content up to
    degree ``2 L_grid - L_out``; we ask for ``(2 oversampling - 1) Lj``, i.e.
    ``L_grid = ceil(((2 os - 1) Lj + L_out) / 2)`` (``= os * Lj`` when
    ``L_out = Lj``; cheaper for the last order, whose ``L_out`` is tiny).  Never
    below ``min(config.grid_floor, 4 L)`` nor ``min(4 Lj, L)``: coarse scales
    alias as much as fine ones in relative terms, and grids no finer than the
    input's are cheap next to the two finest scales (``grid_floor=0`` turns
    both floors off, leaving the bare ``oversampling`` rule).
    """
    L_out = Lj if L_out is None else L_out
    base = int(math.ceil(((2 * config.oversampling - 1) * Lj + L_out) / 2 - 1e-9))
    if config.grid_floor == 0:
        return max(base, Lj)
    return max(base, min(config.grid_floor, 4 * config.L), min(4 * Lj, config.L), Lj)


class Filters:
    """The filters of scale ``j`` of ``bank``, as ``(row, n, weight)`` triples; hashable by
    value (so a step is a static argument, never keyed by the ``id`` of a bank).

    ``rows``: ``(n_count, L_j)`` read-only copy of ``bank.h[j]``; ``ns``, ``weights``:
    the modes and multiplicities.
    """

    __slots__ = ("rows", "ns", "weights", "_key")

    def __init__(self, bank: FilterBank, j: int):
        rows = np.array(bank.h[j])
        rows.flags.writeable = False
        self.rows, self.ns, self.weights = rows, tuple(bank.ns[j]), tuple(bank.weights[j])
        self._key = (rows.dtype.str, rows.shape, rows.tobytes(), self.ns, self.weights)

    def __iter__(self):
        return zip(self.rows, self.ns, self.weights)

    def __eq__(self, other):
        return isinstance(other, Filters) and self._key == other._key

    def __hash__(self):
        return hash(self._key)


def pooled_modulus(x, filters: Filters, ops):
    """``U = sqrt(sum_n wt_n |B_n(h_n x)|^2)`` on the modulus grid: the orientation
    modes' syntheses pooled, written once for every backend.

    ``x``: ``(..., L_j, 2L_j-1)`` coefficients (NumPy or JAX), filtered by each
    ``row`` (a NumPy ``(L_j,)`` kernel on ``l``).  ``ops`` supplies the array
    operations (kymatio's core/backend split): ``power(c, n)`` = ``|B_n c|^2``,
    ``B_n`` the spin ``-n`` synthesis onto the grid (a real field for ``n = 0``
    of a real input); ``accumulate(P, p, wt)`` = ``P + wt p`` (``wt p`` when
    ``P`` is None; a host backend may do it in place); ``modulus(P)`` =
    ``sqrt(P)``.  Cost: one synthesis per mode ``n``.
    """
    P = None
    for row, n, wt in filters:
        P = ops.accumulate(P, ops.power(x * row.astype(x.dtype)[:, None], n), wt)
    return ops.modulus(P)


def propagate(x, filters: Filters, ops):
    """``U_j x``: coefficients ``(..., L_j, 2L_j-1)`` -> ``(..., L_out, 2L_out-1)``,
    :func:`pooled_modulus` then ``ops.analysis`` (the forward transform from the grid)."""
    return ops.analysis(pooled_modulus(x, filters, ops))


@dataclasses.dataclass(frozen=True)
class JaxOps:
    """The step's array operations with ``jnp`` and the harmonic layer's transforms
    (see :func:`pooled_modulus`); ``method`` the transform method of the grids."""

    Lj: int
    Lg: int
    L_out: int
    reality: bool
    method: str

    def power(self, c, n):
        w = inverse_to_gl_grid(c, self.Lj, self.Lg, spin=-n, reality=(self.reality and n == 0), method=self.method)
        return jnp.abs(w) ** 2 if jnp.iscomplexobj(w) else w * w

    @staticmethod
    def accumulate(P, p, wt):
        p = p * wt if wt != 1.0 else p
        return p if P is None else P + p

    modulus = staticmethod(safe_modulus)

    def analysis(self, U):
        return forward_from_gl_grid(U, self.L_out, self.Lg, reality=True, method=self.method)


def _propagate(ulm, Lu, j, bank: FilterBank, L_next):
    """U_j applied to a field with coefficients ``ulm`` (band-limit Lu) -> coefficients at L_next."""
    cfg = bank.config
    Lj = cfg.L_j(j)
    x = _truncate(ulm, Lu, Lj)
    Lg = grid_L(cfg, Lj, L_next)
    filters = Filters(bank, j)
    if resolve_method(cfg.method, Lj, "gl") == "ducc":
        from . import _fused  # the host backend, fused into one callback

        return _fused.modulus_step(x, _fused.Step(Lj, Lg, L_next, cfg.reality, filters))
    return propagate(x, filters, JaxOps(Lj, Lg, L_next, cfg.reality, cfg.method))


def _needed_L(cfg: ScatteringConfig, path) -> int:
    """Band-limit that U[path] must keep for its children and its projection."""
    if len(path) >= cfg.max_order:
        return cfg.L_scal
    if not cfg.multiresolution or not path:
        return cfg.L
    child_js = [p[-1] for p in scattering_paths(cfg) if len(p) == len(path) + 1 and p[:-1] == path]
    if not child_js:
        return cfg.L_scal
    return max(cfg.L_scal, max(cfg.L_j(jc) for jc in child_js))


def scattering_harmonic(flm, bank: FilterBank, *, progress=None):
    """Scattering coefficients of one field (or a batch), in harmonic space.

    Args:
        flm: ``(..., L, 2L-1)`` coefficients of the input (real field if
            ``bank.config.reality``).
        bank: :func:`filter_bank` output (receives the filters explicitly).
        progress: optional callable ``progress(path)`` called after each path.

    Returns:
        ``(paths, coeffs)``: ``paths`` as :func:`scattering_paths`, ``coeffs``
        of shape ``(..., n_paths, L_scal, 2L_scal-1)``: the harmonic
        coefficients of ``S[p] f = nu * U[p] f``.

    Cost: dominated by the order-1 and order-2 modulus steps at the two finest
    scales, each ``N_modes`` spin inverse SHTs and one forward SHT on a
    Gauss-Legendre grid of band-limit ``oversampling * L_j``.
    """
    cfg = bank.config
    paths = scattering_paths(cfg)
    Ls = cfg.L_scal
    nu = jnp.asarray(bank.nu)
    out = {}

    def emit(path, ulm, Lu):  # S[path] = nu * U[path]: the projection, for both cascades
        out[path] = _truncate(ulm, Lu, Ls) * nu.astype(ulm.real.dtype)[:, None]
        if progress is not None:
            progress(path)

    def visit(path, ulm, Lu):  # depth first: one chain of U's alive at a time
        emit(path, ulm, Lu)
        for child in (p for p in paths if len(p) == len(path) + 1 and p[:-1] == path):
            L_next = _needed_L(cfg, child)
            visit(child, _propagate(ulm, Lu, child[-1], bank, L_next), L_next)

    if resolve_method(cfg.method, cfg.L, "gl") == "jax":
        _by_level(flm, bank, paths, emit)
    else:
        visit((), flm, cfg.L)  # U[()] = f: S[()] = nu * f
    return paths, jnp.stack([out[p] for p in paths], axis=-3)


def _by_level(flm, bank: FilterBank, paths, emit):
    """The cascade of the pure-JAX method, one order at a time: the children sharing a
    scale ``j`` and an output band-limit go through one :func:`_propagate`, their
    parents stacked on a batch axis, so the program (and its compile time) holds one
    propagator per scale and order, not per path.  Every ``U`` of one order is kept at
    once.  ``emit(path, ulm, Lu)`` records ``S[path]``.
    """
    cfg = bank.config
    level = {(): (flm, cfg.L)}
    while level:
        for path, (ulm, Lu) in level.items():
            emit(path, ulm, Lu)
        groups = {}
        for child in paths:
            if len(child) >= 1 and child[:-1] in level:
                groups.setdefault((child[-1], _needed_L(cfg, child)), []).append(child)
        nxt = {}
        for (j, L_next), children in groups.items():
            Lj = cfg.L_j(j)
            x = jnp.stack([_truncate(*level[c[:-1]], Lj) for c in children], axis=-3)
            u = _propagate(x, Lj, j, bank, L_next)
            for k, c in enumerate(children):
                nxt[c] = (u[..., k, :, :], L_next)
        level = nxt
