"""The pure-JAX core of the generalised layers: functions of a :class:`Signal`,
weights and precomputed constants.  The Flax NNX modules in
:mod:`s2scatter.nn._layers` only create parameters and call these.

Notation: a signal has fragments ``f^l_{c,t}`` (``l < L``, channel ``c < C``,
``t < tau_l``), each a vector over ``m = -l..l`` that rotates by ``D^l(R)``.
Every layer here commutes with that action (tested in
``tests/test_nn_layers.py`` to ~1e-14 in float64).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from ..harmonic import forward_from_gl_grid, inverse_to_gl_grid, wigner_forward, wigner_inverse
from ..sampling import validate_int, validate_number
from ..scattering import safe_modulus
from ._clebsch_gordan import cg_pair_table, cg_rows
from ._degree_sets import degree_mixing_set, tensor_product_cost
from ._signal import Signal, SignalSpec, _check_signal, from_flm, from_flmn, to_flm, to_flmn

__all__ = [
    "ACTIVATIONS",
    "TENSOR_PRODUCT_METHODS",
    "TensorProductPlan",
    "batch_statistics",
    "equivariant_norm",
    "invariants",
    "invariants_size",
    "linear",
    "s2_activation",
    "so3_activation",
    "tensor_product",
    "tensor_product_plan",
]


# --------------------------------------------------------------------------- linear
def linear(x: Signal, weights, *, bias=None) -> Signal:
    """Generalised linear layer: mixes fragments of equal degree only.

    ``g^l_{c',t'} = sum_{c,t} W^l_{c' t', c t} f^l_{c,t}`` (+ ``b_{c',t'}`` for ``l = 0``).

    Args:
        x: :class:`Signal` with spec ``(L, C, tau)``.
        weights: one array per output degree ``l < L_out <= L``, of shape
            ``(C_out, tau_out_l, C, tau_l)`` (real or complex).  ``L_out < L``
            drops the degrees ``l >= L_out`` (a low-pass).  With ``tau_l = 1`` and
            ``tau_out_l = 2l + 1`` this is the S^2 -> SO(3) convolution of Cobb et
            al.; with both ``2l + 1``, the SO(3) -> SO(3) one.
        bias: optional ``(C_out, tau_out_0)`` added to the ``l = 0`` fragments
            (rotation-invariant, so equivariance is kept).

    Returns:
        :class:`Signal` with spec ``(L_out, C_out, tau_out)``.

    Cost: ``sum_l C_out tau_out_l C tau_l (2l + 1)`` complex multiply-adds per
    batch element; parameters ``sum_l C_out tau_out_l C tau_l``.
    """
    _check_signal(x)
    weights = [jnp.asarray(w) for w in weights]
    if not 1 <= len(weights) <= x.L:
        raise ValueError(f"weights: need one array per output degree, 1..L = {x.L} of them; got {len(weights)}")
    for l, w in enumerate(weights):
        f = x.fragments[l]
        if w.ndim != 4 or w.shape[2:] != f.shape[-3:-1]:
            raise ValueError(f"weights[{l}] has shape {tuple(w.shape)}; expected (C_out, tau_out, "
                             f"{f.shape[-3]}, {f.shape[-2]}) for this input")
    if bias is not None:
        bias = jnp.asarray(bias)
        want = (weights[0].shape[0], weights[0].shape[1])
        if bias.shape != want:
            raise ValueError(f"bias has shape {tuple(bias.shape)}; expected {want}")
    return _linear(x, weights, bias)


@jax.jit
def _linear(x, weights, bias):
    out = [jnp.einsum("oqct,...ctm->...oqm", w.astype(f.dtype), f) for w, f in zip(weights, x.fragments)]
    if bias is not None:
        out[0] = out[0] + bias.astype(out[0].dtype)[..., None]
    return Signal.tree_unflatten(None, out)


# --------------------------------------------------------------------------- tensor product
@dataclasses.dataclass(frozen=True)
class _Group:
    """Triples with the same smaller degree ``l1`` (and output degrees in one range):
    one outer product, one band extraction, one batched contraction."""

    l1: int
    l2s: np.ndarray  # (J,) second degrees
    Mg: int  # largest output degree: m runs over -Mg..Mg
    C: np.ndarray  # (J, K, 2Mg+1, 2l1+1) Clebsch-Gordan blocks (zero-padded), float64
    Mb: int  # multiplicity rows read for the second factor
    bw: int  # half-width of the second factor's window, max(max l2s, Mg + 1)


@dataclasses.dataclass(frozen=True)
class _MatmulGroup:
    """All triples with the smaller degree ``l1`` for the ``"matmul"`` method: the
    Clebsch-Gordan coefficients applied to the second factor (a gather and a
    product, ``O(tau C)``), then one matrix product over ``m1`` with the first."""

    l1: int
    Mb: int  # multiplicity rows read for the second factor
    index: np.ndarray  # (ncol, 2l1+1): flat index of f^{l2}_{m - m1} in the padded (L, 2H+1) rows
    C: np.ndarray  # (ncol, 2l1+1) Clebsch-Gordan coefficients, float64 (zero where |m - m1| > l2)


TENSOR_PRODUCT_METHODS = ("auto", "outer", "matmul")
"""Evaluation strategies of :func:`tensor_product` (``method=`` of :func:`tensor_product_plan`):
``"outer"`` (outer products, then the Clebsch-Gordan contraction), ``"matmul"`` (the
coefficients applied to one factor, then one matrix product per smaller degree) and
``"auto"``."""


@dataclasses.dataclass(frozen=True, eq=False)
class TensorProductPlan:
    """Precomputed constants of one Clebsch-Gordan tensor product (from :func:`tensor_product_plan`).

    Attributes:
        spec_in, spec_out: :class:`SignalSpec` of input and output.
        L_out: output band-limit.
        triples: the degree-mixing set, ``(l1, l2, l)`` with ``l1 <= l2``.
        channels: ``"channelwise"`` or ``"full"``.
        cost: complex multiply-adds per batch element (useful work, no padding;
            half of it is done with ``reality``).
        reality: the inputs are fragments of real signals (see :func:`tensor_product_plan`).
        method: the evaluation strategy, ``"outer"`` or ``"matmul"`` (``"auto"`` resolved;
            see :func:`tensor_product_plan`).

    Output layout: for each output degree ``l``, the fragments are ordered by
    ``(l1, l2, t1, t2)`` over the triples ``(l1, l2, l)`` and the pairs of input
    fragments ``t1 < tau_l1``, ``t2 < tau_l2`` (``t1 <= t2`` when ``l1 = l2``; the
    other order gives the same fragment up to the sign ``(-1)^{l1+l2-l}``).
    Compared by identity (it holds arrays): build it once per layer.
    """

    spec_in: SignalSpec
    spec_out: SignalSpec
    L_out: int
    triples: tuple
    channels: str
    cost: int
    groups: tuple
    out_index: tuple  # per output l: (tau_l, 2l+1) indices into the flattened, concatenated group outputs
    # (reality: (tau_l, l+1), m >= 0 only); no entry twice
    out_sign: tuple  # reality: per output l, (tau_l, l) factor of conj(g_|m|) for m = -l..-1
    mult: tuple  # per input degree: fragments per group-channel (tau, or C tau for "full")
    reality: bool = False
    method: str = "outer"

    def __repr__(self):
        return (f"TensorProductPlan(L_in={self.spec_in.L}, L_out={self.L_out}, channels={self.channels!r}, "
                f"method={self.method!r}, triples={len(self.triples)}, taus_out={self.spec_out.taus}, "
                f"cost={self.cost})")


_GROUP_OVERHEAD = 500  # elements: the cost of one more group (ops to compile and dispatch)
_SMALL_K = 4  # at most this many outputs per pair: multiply-reduce instead of a matrix product


def _split_group(a, items):
    """Split the triples ``(a, b, l)`` of one smaller degree ``a`` into groups.

    One group shares the outer products ``f^a (x) f^b`` across all its outputs
    (the contraction is a matrix product with ``K`` outputs per pair), but pads
    every pair to the group's largest output degree; groups by output degree
    (powers of two) compute only the band ``|m| <= l`` each output needs.  The
    cheaper of the two, by a count of elements built and multiply-adds.
    """
    def cost(groups):
        total = 0
        for g in groups:
            bs = {b for b, _ in g}
            J, Mg = len(bs), max(l for _, l in g)
            K = max(sum(1 for bb, _ in g if bb == b) for b in bs)
            band = J * (2 * a + 1) * (2 * Mg + 1)
            total += 4 * band + J * K * (2 * Mg + 1) * (2 * a + 1) + _GROUP_OVERHEAD
        return total

    whole = [list(items)]
    buckets = {}
    for b, l in items:
        buckets.setdefault(l.bit_length(), []).append((b, l))
    split = [buckets[k] for k in sorted(buckets)]
    return split if cost(split) < cost(whole) else whole


def tensor_product_plan(spec: SignalSpec, *, L_out: int, degrees="mst", channels="channelwise",
                        reality=False, method="auto") -> TensorProductPlan:
    """Precompute a Clebsch-Gordan tensor product of a signal of spec ``spec`` with itself.

    Args:
        spec: input :class:`SignalSpec` (``Signal.spec``).
        L_out: output band-limit, ``1 <= L_out <= 2L - 1``.
        degrees: degree-mixing set: ``"full"``, ``"mst"``, ``"log"`` or explicit
            pairs/triples (:func:`s2scatter.nn.degree_mixing_set`).
        channels: ``"channelwise"`` (products of fragments of the same channel;
            ``C`` output channels) or ``"full"`` (products of every pair of
            fragments across channels; one output channel).
        reality: the input fragments are those of real signals,
            ``f_{-m} = (-1)^m conj(f_m)`` (e.g. ``from_flm`` of real maps).  The
            outputs then obey ``g_{-m} = (-1)^{l1+l2-l} (-1)^m conj(g_m)``: only
            ``m >= 0`` is computed (half the work), ``m < 0`` follows.  Inputs
            that are not conjugate-symmetric give wrong results, as with
            ``reality=True`` in the transforms.
        method: evaluation strategy (:data:`TENSOR_PRODUCT_METHODS`; the same
            numbers to rounding either way).  ``"outer"``: per smaller degree
            ``l1``, the outer products of the two factors' fragments, then a
            contraction with the Clebsch-Gordan blocks.  ``"matmul"``: per
            ``l1``, the coefficients applied to the second factor alone, then
            one matrix product over ``m1`` with the first factor for every pair
            of fragments at once.  ``"auto"`` (default): ``"matmul"`` when a
            degree has several fragments per channel group (``channels="full"``
            with ``C >= 2``, SO(3) signals), ``"outer"`` otherwise.

    Returns:
        :class:`TensorProductPlan` (Clebsch-Gordan blocks, output rows,
        output spec); pass it to :func:`tensor_product`.  Cost of the build: the
        Clebsch-Gordan tables of every pair (cached, built once; timed in
        ``docs/performance.md``) and NumPy bookkeeping.
    """
    if not isinstance(spec, SignalSpec):
        raise ValueError(f"spec must be a SignalSpec (Signal.spec), got {type(spec).__name__}")
    if channels not in ("channelwise", "full"):
        raise ValueError(f"channels must be 'channelwise' or 'full', got {channels!r}")
    if method not in TENSOR_PRODUCT_METHODS:
        raise ValueError(f"method must be one of {TENSOR_PRODUCT_METHODS}, got {method!r}")
    L = spec.L
    triples = degree_mixing_set(L, L_out, degrees)  # checks L_out
    L_out = int(L_out)
    mult = tuple(t * (spec.channels if channels == "full" else 1) for t in spec.taus)
    triples = tuple(t for t in triples if mult[t[0]] > 0 and mult[t[1]] > 0)
    if not triples:
        raise ValueError(f"degrees: no triple of {degrees!r} has fragments in the input (taus={spec.taus})")
    by_l1 = _by_first((a, (b, l)) for a, b, l in triples)
    method = _resolve_method(method, mult)
    groups, rows_per_l = [], {l: [] for l in range(L_out)}
    base = 0
    H = max(L, L_out)  # half-width of the padded m axis in _tensor_product
    for a in sorted(by_l1):
        if method == "matmul":
            base = _matmul_group(a, by_l1[a], mult, H, reality, groups, rows_per_l, base)
            continue
        for items in _split_group(a, by_l1[a]):
            pairs = _by_first(items)
            l2s = sorted(pairs)
            J, K, Mg = len(l2s), max(len(v) for v in pairs.values()), max(l for _, l in items)
            Mb = max(mult[b] for b in l2s)
            width = Mg + 1 if reality else 2 * Mg + 1  # each output row: m = -Mg..Mg, or m = 0..Mg with reality
            C = np.zeros((J, K, 2 * Mg + 1, 2 * a + 1))
            for j, b in enumerate(l2s):
                T = _pair_rows(a, b, pairs[b])
                for k, l in enumerate(pairs[b]):  # T[k, (a+b) + m, a + m1]
                    C[j, k, Mg - l : Mg + l + 1, :] = T[k, (a + b) - l : (a + b) + l + 1, :]
                    # the group's output is flattened as (Ma, Mb, J, K, width)
                    _out_rows(rows_per_l, a, b, l, mult, Mb, base + (j * K + k) * width + (0 if reality else Mg),
                              J * K * width)
            groups.append(_Group(a, np.array(l2s), Mg, C, Mb, max(l2s[-1], Mg + 1)))
            base += mult[a] * Mb * J * K * width
    out_index, out_sign = [], []
    for l in range(L_out):
        if not rows_per_l[l]:
            out_index.append(np.zeros((0, (l + 1) if reality else (2 * l + 1)), np.int32))
            out_sign.append(np.zeros((0, l)))
            continue
        a_, b_, t1_, t2_, zero, sg = (np.concatenate(v) for v in zip(*rows_per_l[l]))
        order = np.lexsort((t2_, t1_, b_, a_))
        zero, sg = zero[order], sg[order]
        m = np.arange(0 if reality else -l, l + 1)[None, :]  # reality: m >= 0 only
        idx = zero[:, None] + m  # every entry of the flat outputs read at most once
        out_index.append(idx.astype(np.int64 if base >= 2**31 else np.int32))
        # reality: g_{-m} = (-1)^(l1+l2-l) (-1)^m conj(g_m), here for m = -l..-1
        m_neg = np.arange(-l, 0)[None, :]
        out_sign.append(sg[:, None] * (-1.0) ** m_neg if reality else np.zeros((0, l)))
    out_index = tuple(out_index)
    G = spec.channels if channels == "channelwise" else 1
    spec_out = SignalSpec(L_out, G, tuple(len(r) for r in out_index))
    cost = G * sum(tensor_product_cost([(a, b, l)]) * (mult[a] * (mult[b] + 1) // 2 if a == b else mult[a] * mult[b])
                   for a, b, l in triples)
    return TensorProductPlan(spec, spec_out, L_out, triples, channels, int(cost), tuple(groups), out_index,
                             tuple(out_sign), mult, bool(reality), method)


def _resolve_method(method, mult):
    if method != "auto":
        return method
    # the matrix product has one row per fragment of the first factor (per group-channel): with
    # several of them (full channel mixing, SO(3) signals) it is 1.3-8x faster than the outer
    # product; with one (channel-wise S^2 signals) it is a matrix-vector product and no faster
    # (0.7-1.4x, measured at L = 4..10, docs/nn.md)
    return "matmul" if max(mult) >= 2 else "outer"


def _by_first(items):
    """``{x: [y, ...]}`` of the pairs ``(x, y)``, in order of appearance."""
    out = {}
    for x, y in items:
        out.setdefault(x, []).append(y)
    return out


def _out_rows(rows_per_l, a, b, l, mult, Mb, first, stride):
    """Append the output rows of the triple ``(a, b, l)``: one per pair of fragments ``t1 < mult[a]``,
    ``t2 < mult[b]`` (``t1 <= t2`` when ``a = b``), its ``m = 0`` at ``first + (t1 Mb + t2) stride`` of the
    flattened, concatenated group outputs, with the sign ``(-1)^(a+b-l)`` of the swapped pair."""
    t1, t2 = np.meshgrid(np.arange(mult[a]), np.arange(mult[b]), indexing="ij")
    keep = (t1 <= t2) | (a != b)
    t1, t2 = t1[keep], t2[keep]
    rows_per_l[l].append((np.full(t1.shape, a), np.full(t1.shape, b), t1, t2, first + (t1 * Mb + t2) * stride,
                          np.full(t1.shape, (-1.0) ** (a + b - l))))


def _pair_rows(a, b, ls):
    """``T[k, (a+b) + m, a + m1] = C^{l m}_{a m1, b (m - m1)}`` for ``l = ls[k]``."""
    if 2 * len(ls) > 2 * a + 1:  # most of the pair's outputs: the cached table
        return cg_pair_table(a, b)[[l - (b - a) for l in ls]]
    return cg_rows(a, b, ls)  # a few outputs (sparse sets): only their rows


def _matmul_group(a, items, mult, H, reality, groups, rows_per_l, base):
    """One :class:`_MatmulGroup` for the triples ``(a, b, l)``; appends the rows of its outputs.

    Output layout of the group: ``(Ma, Mb, ncol)`` flattened, a column per ``(b, l, m)`` of
    the triples (``m = -l..l``, or ``0..l`` with ``reality``), ordered by ``b``, ``l``, ``m``.
    Returns the new base offset.
    """
    pairs = _by_first(items)
    m1 = np.arange(-a, a + 1)
    Ma = mult[a]
    Mb = max(mult[b] for b in pairs)
    index, coef, starts = [], [], []
    ncol = 0
    for b in sorted(pairs):
        T = _pair_rows(a, b, pairs[b])
        for k, l in enumerate(pairs[b]):
            ms = np.arange(0 if reality else -l, l + 1)
            d = ms[:, None] - m1[None, :]  # m2 = m - m1
            index.append(b * (2 * H + 1) + H + np.clip(d, -H, H))
            coef.append(np.where(np.abs(d) <= b, T[k][(a + b) + ms][:, a + m1], 0.0))
            starts.append((b, l, ncol))
            ncol += len(ms)
    index = np.concatenate(index)
    groups.append(_MatmulGroup(a, Mb, index.astype(np.int64 if index.max() >= 2**31 else np.int32),
                               np.concatenate(coef)))
    for b, l, c0 in starts:
        _out_rows(rows_per_l, a, b, l, mult, Mb, base + c0 + (0 if reality else l), ncol)
    return base + Ma * Mb * ncol


def tensor_product(x: Signal, plan: TensorProductPlan) -> Signal:
    """Clebsch-Gordan tensor product of a generalised signal with itself.

    ``[f_{c,t1}^{l1} (x) f_{c,t2}^{l2}]^l_m = sum_{m1} C^{l m}_{l1 m1, l2 (m-m1)}
    f^{l1}_{c,t1,m1} f^{l2}_{c,t2,m-m1}`` for every triple ``(l1, l2, l)`` of the
    plan's degree-mixing set (channel-wise: the same ``c`` in both factors; full:
    every pair of fragments across channels).  Equivariant because the
    Clebsch-Gordan coefficients intertwine ``D^{l1} (x) D^{l2}`` and ``D^l``
    (:func:`clebsch_gordan`); the non-linearity of Cobb et al. (ICLR 2021).

    Args:
        x: :class:`Signal` of spec ``plan.spec_in`` (any batch shape).
        plan: :func:`tensor_product_plan`.

    Returns:
        :class:`Signal` of spec ``plan.spec_out``.

    Cost: ``plan.cost`` complex multiply-adds per batch element:
    ``O(C tau^2 L^5)`` for ``"full"`` degrees, ``O(C tau^2 L^4)`` for ``"mst"``,
    ``O(C tau^2 L^3 log L)`` for ``"log"`` (``C^2`` instead of ``C`` for
    ``channels="full"``).  The two evaluation methods: :func:`tensor_product_plan`.
    """
    _check_signal(x)
    if not isinstance(plan, TensorProductPlan):
        raise ValueError(f"plan must be a TensorProductPlan (tensor_product_plan(...)), got {type(plan).__name__}")
    if x.spec != plan.spec_in:
        raise ValueError(f"x has spec {x.spec}; the plan was built for {plan.spec_in}")
    return _tensor_product(x, plan)


@functools.partial(jax.jit, static_argnames=("plan",))
def _tensor_product(x, plan):
    spec, L, L_out = plan.spec_in, plan.spec_in.L, plan.L_out
    batch = x.batch_shape
    Mmax = max(plan.mult)
    G = plan.spec_out.channels
    H = max(L, L_out)  # half-width of the padded m axis (>= every group's window)
    # padded input X (*batch, G, Mmax, L, 2H+1): the flm layout, zero outside |m| <= l, t < tau_l
    rows = []
    for l, f in enumerate(x.fragments):
        if plan.channels == "full":
            f = f.reshape(batch + (1, spec.channels * f.shape[-2], 2 * l + 1))
        pad = [(0, 0)] * (len(batch) + 1) + [(0, Mmax - f.shape[-2]), (H - l, H - l)]
        rows.append(jnp.pad(f, pad))
    X = jnp.stack(rows, axis=-2)
    rdt = X.real.dtype
    outs = []
    for g in plan.groups:
        if isinstance(g, _MatmulGroup):
            a, I = g.l1, 2 * g.l1 + 1
            A = X[..., : plan.mult[a], a, H - a : H + a + 1]  # (*b, G, Ma, I)
            Xf = X[..., : g.Mb, :, :].reshape(batch + (G, g.Mb, -1))  # (*b, G, Mb, L (2H+1))
            # T[t2, (l2, l, m), m1] = C^{l m}_{l1 m1, l2 (m - m1)} f^{l2}_{t2, m - m1}: O(Mb) work
            T = jnp.take(Xf, jnp.asarray(g.index.T), axis=-1) * jnp.asarray(g.C.T, dtype=rdt)  # (*b, G, Mb, I, ncol)
            T = jnp.moveaxis(T, -2, -3)  # (*b, G, I, Mb, ncol): no transposes of the product in reverse mode
            # then every pair of fragments at once: one matrix product (Ma, I) x (I, Mb ncol)
            y = jnp.einsum("...ti,...isc->...tsc", A, T)  # (*b, G, Ma, Mb, ncol)
            outs.append(y.reshape(batch + (G, -1)))
            continue
        a, Mg, bw = g.l1, g.Mg, g.bw
        Ma, I, n = plan.mult[a], 2 * a + 1, 2 * g.bw + 1
        A = X[..., :Ma, a, H - a : H + a + 1]  # (*b, G, Ma, I)
        Xb = X[..., : g.Mb, :, H - bw : H + bw + 1]
        lo, hi = int(g.l2s[0]), int(g.l2s[-1])
        if np.array_equal(g.l2s, np.arange(lo, hi + 1)):
            B = Xb[..., lo : hi + 1, :]
        else:
            B = jnp.take(Xb, jnp.asarray(g.l2s), axis=-2)  # (*b, G, Mb, J, n)
        prod = A[..., :, None, None, :, None] * B[..., None, :, :, None, :]  # (*b, G, Ma, Mb, J, I, n)
        # band: band[..., i, q] = prod[..., i, q + off - i], i.e. m1 = i - a and m = q - Mg.  Read
        # through a flat view with row stride n - 1 (a slice and a reshape: fused, no gather).
        # Entries with |m - m1| > l2 wrap into the neighbouring row, where the Clebsch-Gordan
        # block is zero.
        off = a + bw - Mg  # <= I (the triangle rule gives Mg >= max l2 - a): the view stays in range
        flat = prod.reshape(prod.shape[:-2] + (I * n,))[..., off : off + I * (n - 1)]
        m0 = Mg if plan.reality else 0  # reality: m >= 0 only
        band = flat.reshape(prod.shape[:-2] + (I, n - 1))[..., m0 : 2 * Mg + 1]  # (*b, G, Ma, Mb, J, I, M)
        Cb = g.C[:, :, m0:, :]
        K = Cb.shape[1]
        if K <= _SMALL_K:  # few outputs per pair: a fused multiply-reduce, no matrix product
            Ct = jnp.asarray(np.swapaxes(Cb, -1, -2), dtype=rdt)  # (J, K, I, M)
            y = jnp.sum(Ct * band[..., :, None, :, :], axis=-2)
        else:
            C = jnp.asarray(Cb, dtype=rdt)  # (J, K, M, I)
            re = jnp.einsum("jkmi,...jim->...jkm", C, band.real)
            im = jnp.einsum("jkmi,...jim->...jkm", C, band.imag)
            y = jax.lax.complex(re, im)  # (*b, G, Ma, Mb, J, K, M)
        outs.append(y.reshape(batch + (G, -1)))
    Y = jnp.concatenate(outs, axis=-1) if len(outs) > 1 else outs[0]  # (*b, G, all outputs flat)
    frags = []
    for l, idx in enumerate(plan.out_index):
        if not idx.size:
            frags.append(jnp.zeros(batch + (G, 0, 2 * l + 1), Y.dtype))
            continue
        # no index twice: the transpose (reverse mode) is a scatter without collisions
        v = Y.at[..., jnp.asarray(idx.reshape(-1))].get(unique_indices=True, mode="promise_in_bounds")
        v = v.reshape(batch + (G,) + idx.shape)
        if plan.reality:  # m < 0 from m > 0: g_{-m} = (-1)^(l1+l2-l) (-1)^m conj(g_m)
            neg = jnp.asarray(plan.out_sign[l], dtype=rdt) * jnp.conj(v[..., :0:-1])
            v = jnp.concatenate([neg, v], axis=-1)
        frags.append(v)
    return Signal.tree_unflatten(None, frags)


# --------------------------------------------------------------------------- sampling activations

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
    "abs": jnp.abs,
}
"""Pointwise non-linearities the sampling activations accept by name (``fn=``); any callable works too."""


def _activation_setup(L, fn, oversampling, L_out, N=1):
    """The checked ``(sigma, L_out, L_grid)`` of a sampling activation of input band-limit ``L``."""
    if not callable(fn) and fn not in ACTIVATIONS:
        raise ValueError(f"fn must be a callable or one of {tuple(ACTIVATIONS)}, got {fn!r}")
    L_out = L if L_out is None else validate_int(L_out, "L_out", minimum=1)
    if N > L_out:
        raise ValueError(f"N = {N} must be <= L_out = {L_out}")
    Lg = max(int(math.ceil(validate_number(oversampling, "oversampling", minimum=1) * L - 1e-9)), L, L_out)
    return (fn if callable(fn) else ACTIVATIONS[fn]), L_out, Lg


def _pointwise(fn, y):
    return jax.lax.complex(fn(y.real), fn(y.imag)) if jnp.iscomplexobj(y) else fn(y)


def s2_activation(x: Signal, *, fn="gelu", oversampling=2.0, L_out=None, reality=False, method="auto") -> Signal:
    """Pointwise non-linearity of S^2 signals, through the sphere.

    ``g = F_{L_out}[ sigma(F^{-1} f) ]``: each channel's fragments (``tau_l = 1``)
    are synthesised on a Gauss-Legendre grid of band-limit
    ``L_grid = max(ceil(oversampling L), L_out)``, ``sigma`` is applied pointwise
    (to the real and imaginary parts of a complex field), and the result is
    analysed back to ``l < L_out``.  Rotation commutes with each step, so the
    layer is equivariant up to the aliasing of ``sigma(F^{-1} f)``, whose
    degrees are not band-limited: the analysis is exact up to degree
    ``2 L_grid - L_out``; what lies beyond folds back.  The measured error
    against ``oversampling`` is in ``docs/nn.md``.

    Args:
        x: :class:`Signal` with ``tau_l = 1`` (an S^2 signal per channel).
        fn: callable or one of :data:`ACTIVATIONS` (default ``"gelu"``).
        oversampling: grid band-limit over ``L`` (``>= 1``).
        L_out: output band-limit (default ``L``); any positive integer.
        reality: the fields are real (conjugate-symmetric fragments): only their
            real part is used, at half the transform cost.
        method: transform method (``"auto"``, ``"ducc"``, ``"jax"``).

    Returns:
        :class:`Signal` with ``tau_l = 1`` and ``L_out`` degrees.

    Cost: ``C`` inverse and forward SHTs at band-limit ``L_grid``, ``O(C L L_grid^2)``.
    """
    _check_signal(x)
    L = x.L
    sigma, L_out, Lg = _activation_setup(L, fn, oversampling, L_out)
    f = inverse_to_gl_grid(to_flm(x), L, Lg, reality=reality, method=method)
    g = _pointwise(sigma, f)
    return from_flm(forward_from_gl_grid(g, L_out, Lg, reality=reality, method=method))


def so3_activation(x: Signal, N: int, *, fn="gelu", oversampling=2.0, L_out=None, method="auto") -> Signal:
    """Pointwise non-linearity of SO(3) signals, through the rotation group.

    ``g = W_{L_out, N}[ sigma(W^{-1} f) ]`` with Wigner transforms on a
    Gauss-Legendre grid of band-limits ``L_grid = max(ceil(oversampling L), L_out)``
    and ``N_grid = min(L_grid, max(N, ceil(oversampling N)))``; ``sigma`` acts on the
    real and imaginary parts.  Equivariant up to aliasing, as :func:`s2_activation`.

    Args:
        x: :class:`Signal` of an SO(3) signal, ``tau_l = 2 min(l, N-1) + 1``.
        N: azimuthal band-limit of ``x`` (and of the output).
        fn, oversampling, L_out, method: as :func:`s2_activation`.

    Returns:
        :class:`Signal` of spec ``SignalSpec.so3(L_out, N, C)``.

    Cost: ``2 N_grid - 1`` spin SHT pairs per channel at band-limit ``L_grid``.
    """
    _check_signal(x)
    L = x.L
    sigma, L_out, Lg = _activation_setup(L, fn, oversampling, L_out, N)
    Ng = min(Lg, max(N, int(math.ceil(oversampling * N - 1e-9))))
    flmn = to_flmn(x, N)  # (*b, C, 2N-1, L, 2L-1)
    pad = [(0, 0)] * (flmn.ndim - 3) + [(Ng - N, Ng - N), (0, Lg - L), (Lg - L, Lg - L)]
    f = wigner_inverse(jnp.pad(flmn, pad), Lg, Ng, sampling="gl", method=method)
    g = wigner_forward(_pointwise(sigma, f), Lg, Ng, sampling="gl", method=method)
    g = g[..., Ng - N : Ng + N - 1, :L_out, Lg - L_out : Lg + L_out - 1]
    return from_flmn(g, N)


# --------------------------------------------------------------------------- normalisation, read-out
def batch_statistics(x: Signal):
    """Statistics of :func:`equivariant_norm` over the batch axes and fragments.

    Returns ``{"mean": (C,) complex mean of the l = 0 fragments, "power": (L, C)``
    mean of ``|f^l_{c,t}|^2 / (2l+1)`` (for ``l = 0``: the variance about the mean)``}``.
    Both are rotation-invariant.
    """
    _check_signal(x)
    return _batch_statistics(x)


@jax.jit
def _batch_statistics(x):
    nb = len(x.batch_shape)
    axes = tuple(range(nb)) + (nb + 1,)  # batch axes and tau
    f0 = x.fragments[0]
    C = x.channels
    mean = jnp.mean(f0[..., 0], axis=axes) if f0.shape[-2] else jnp.zeros((C,), f0.dtype)
    power = []
    for l, f in enumerate(x.fragments):
        if f.shape[-2] == 0:
            power.append(jnp.ones((C,), f.real.dtype))
            continue
        if l == 0:
            f = f - mean[:, None, None]
        power.append(jnp.mean(jnp.mean(jnp.abs(f) ** 2, axis=-1), axis=axes))  # over m, then batch and tau
    return {"mean": mean, "power": jnp.stack(power)}


def equivariant_norm(x: Signal, *, scale, bias=None, stats=None, mode="batch", eps=1e-5) -> Signal:
    """Equivariant normalisation of fragment norms (the batch/layer norm of e3nn, per degree).

    ``l >= 1``: ``f^l_{c,t} * scale_{l,c} / sqrt(p_{l,c} + eps)`` with ``p`` the mean
    of ``|f^l|^2 / (2l+1)``; ``l = 0`` (rotation-invariant): ``(f^0 - mu_c) *
    scale_{0,c} / sqrt(p_{0,c} + eps) + bias_c``.  Only norms are rescaled, never
    directions, so the layer commutes with rotations.

    Args:
        x: :class:`Signal`.
        scale: ``(L, C)`` real.
        bias: ``(C,)`` real (added to the real part of the ``l = 0`` fragments), or None.
        stats: ``{"mean", "power"}`` as :func:`batch_statistics` (e.g. running
            averages, for evaluation); None computes them: ``mode="batch"`` over the
            batch axes (as :func:`batch_statistics`); ``mode="layer"`` uses one
            power per batch element, the mean ``|f|^2`` over every component of
            every fragment (no centring, no state, no batch coupling; relative
            weights of degrees and channels are kept, only the scale goes).
        mode: ``"batch"`` or ``"layer"``.
        eps: added to the power.

    Returns:
        the normalised :class:`Signal` (same spec).
    """
    _check_signal(x)
    if mode not in ("batch", "layer"):
        raise ValueError(f"mode must be 'batch' or 'layer', got {mode!r}")
    rdt = x.fragments[0].real.dtype
    scale = jnp.asarray(scale, dtype=rdt)
    if scale.shape != (x.L, x.channels):
        raise ValueError(f"scale has shape {tuple(scale.shape)}; expected ({x.L}, {x.channels})")
    if stats is None and mode == "batch":
        stats = batch_statistics(x)
    return _equivariant_norm(x, scale, None if bias is None else jnp.asarray(bias, dtype=rdt), stats, mode, eps)


@functools.partial(jax.jit, static_argnames=("mode", "eps"))
def _equivariant_norm(x, scale, bias, stats, mode, eps):
    out = []
    rdt = x.fragments[0].real.dtype
    if stats is None:  # layer: one power per batch element, over every component of every fragment
        tot = sum(jnp.sum(jnp.abs(f) ** 2, axis=(-3, -2, -1)) for f in x.fragments)
        p_all = (tot / max(sum(f.shape[-3] * f.shape[-2] * f.shape[-1] for f in x.fragments), 1))[..., None, None, None]
    for l, f in enumerate(x.fragments):
        if stats is not None:
            mu = stats["mean"][:, None, None] if l == 0 else 0.0
            p = stats["power"][l][:, None, None]
        else:
            mu, p = 0.0, p_all
        y = (f - mu) * (scale[l][:, None, None] * jax.lax.rsqrt(jnp.asarray(p, rdt) + eps))
        if l == 0 and bias is not None:
            y = y + bias[:, None, None]
        out.append(y.astype(f.dtype))
    return Signal.tree_unflatten(None, out)


def invariants_size(spec: SignalSpec) -> int:
    """Number of features of :func:`invariants` for a signal of spec ``spec``."""
    return spec.channels * (2 * spec.taus[0] + sum(spec.taus[1:]))


def invariants(x: Signal):
    """Rotation-invariant read-out: ``l = 0`` fragments and the norms of the others.

    Returns a real array ``(*batch, F)`` (``F = invariants_size(x.spec)``): the real
    and imaginary parts of every ``f^0_{c,t}``, then ``||f^l_{c,t}||`` for
    ``l >= 1`` (ordered by ``l``, then ``c``, then ``t``).  Norms use a modulus
    with a zero derivative at zero.
    """
    _check_signal(x)
    return _invariants(x)


@jax.jit
def _invariants(x):
    batch = x.batch_shape
    f0 = x.fragments[0][..., 0]
    parts = [f0.real.reshape(batch + (-1,)), f0.imag.reshape(batch + (-1,))]
    for f in x.fragments[1:]:
        parts.append(safe_modulus(jnp.sum(jnp.abs(f) ** 2, axis=-1)).reshape(batch + (-1,)))
    return jnp.concatenate(parts, axis=-1)
