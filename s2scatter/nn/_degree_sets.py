"""Degree-mixing sets of the Clebsch-Gordan tensor product (NumPy only).

The tensor product of a generalised signal with itself produces an output
fragment of degree ``l`` from every pair of input degrees ``(l1, l2)`` with
``|l1 - l2| <= l <= l1 + l2`` (here ``l1 <= l2``; the swapped pair gives the same
fragment up to a sign).  Computing the output ``l`` from ``(l1, l2)`` costs about
``(2l + 1)(2 min(l1, l2) + 1)`` multiply-adds per pair of fragments, so the
*degree-mixing set* -- which triples ``(l1, l2, l)`` are computed -- sets the cost
(Cobb et al., ICLR 2021, arXiv:2010.11661, section 4):

* ``"full"``: every admissible triple with ``l1 <= l2 < L``, ``l < L_out``:
  ``O(L^2)`` pairs per output degree, ``O(L^5)`` in all.
* ``"mst"``: for each output degree ``l``, the pairs of a minimum spanning
  tree of the graph ``G_l`` whose nodes are the input degrees and whose edges are
  the admissible pairs ``(l1 < l2)``, weighted by their cost.  Every input degree
  then reaches every output degree (the tree connects them all) at the least
  cost: ``O(L)`` pairs per output degree, ``O(L^4)`` in all.  A degree that has no
  edge in ``G_l`` (all of them for ``l = 0``, where only ``l1 = l2`` couples) keeps
  its self-pair ``(l1, l1)`` when admissible, so ``l = 0`` receives every
  ``|f^{l1}|^2``-type invariant.
* ``"log"`` (the reduced set): the same spanning tree restricted to a logarithmic
  set of nodes around each output degree, ``{0, l} U {l +- 2^k}``:
  ``O(log L)`` pairs per output degree, ``O(L^3 log L)`` in all.  Every input
  degree still enters some output (each ``l1`` lies at a power-of-two distance of
  some ``l``), though not every one.

Ties in the tree are broken towards smaller ``l1 + l2`` and then smaller ``l1``,
so the sets are deterministic.
"""

from __future__ import annotations

from .._config import bounded_cache
from ..sampling import validate_int

__all__ = ["degree_mixing_set", "DEGREE_SETS", "tensor_product_cost"]

DEGREE_SETS = ("full", "mst", "log")
"""Degree-mixing sets of the tensor products (:func:`degree_mixing_set`): all pairs, minimum spanning tree, logarithmic."""


def _admissible(l1, l2, l):
    return abs(l1 - l2) <= l <= l1 + l2


def _pair_cost(l1, l2, l):
    return (2 * l + 1) * (2 * min(l1, l2) + 1)


def _spanning_tree(nodes, l):
    """Kruskal on the admissible pairs among ``nodes`` for output ``l``; isolated nodes keep (a, a)."""
    nodes = sorted(set(nodes))
    edges = [(_pair_cost(a, b, l), a + b, a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:]
             if _admissible(a, b, l)]
    edges.sort()
    parent = {a: a for a in nodes}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    chosen, touched = [], set()
    for _, _, a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
            chosen.append((a, b, l))
            touched.update((a, b))
    for a in nodes:
        if a not in touched and _admissible(a, a, l):
            chosen.append((a, a, l))
    return chosen


def _log_nodes(L, l):
    out = {0, l} if l < L else {0}
    k = 1
    while k < 2 * L:
        for a in (l - k, l + k):
            if 0 <= a < L:
                out.add(a)
        k *= 2
    return out


@bounded_cache(64)
def _degree_set(L, L_out, kind):
    triples = []
    for l in range(L_out):
        if kind == "full":
            triples += [(a, b, l) for a in range(L) for b in range(a, L) if _admissible(a, b, l)]
        elif kind == "mst":
            triples += _spanning_tree(range(L), l)
        else:
            triples += _spanning_tree(_log_nodes(L, l), l)
    return tuple(sorted(triples))


def degree_mixing_set(L: int, L_out: int, kind="mst") -> tuple:
    """The triples ``(l1, l2, l)`` a tensor product computes.

    Args:
        L: band-limit of the input (``l1, l2 < L``).
        L_out: band-limit of the output (``l < L_out``), at most ``2L - 1``.
        kind: ``"full"``, ``"mst"`` or ``"log"`` (module docstring), or an explicit
            collection of pairs ``(l1, l2)`` (used for every output degree they can
            produce) or triples ``(l1, l2, l)``.

    Returns:
        sorted tuple of triples with ``l1 <= l2 < L``, ``l < L_out`` and
        ``|l1 - l2| <= l <= l1 + l2``.

    Example:
        >>> from s2scatter.nn import degree_mixing_set
        >>> degree_mixing_set(3, 2, "full")
        ((0, 0, 0), (0, 1, 1), (1, 1, 0), (1, 1, 1), (1, 2, 1), (2, 2, 0), (2, 2, 1))
    """
    L, L_out = validate_int(L, "L", minimum=1), validate_int(L_out, "L_out", minimum=1)
    if L_out > 2 * L - 1:
        raise ValueError(f"L_out = {L_out} is too large for an input of band-limit L = {L}: "
                         f"products reach degree 2L-2, so L_out <= 2L-1 = {2 * L - 1}")
    if isinstance(kind, str):
        if kind not in DEGREE_SETS:
            raise ValueError(f"degrees must be one of {DEGREE_SETS} or a collection of (l1, l2) pairs, got {kind!r}")
        out = _degree_set(L, L_out, kind)
    else:
        try:
            items = [tuple(int(v) for v in t) for t in kind]
        except (TypeError, ValueError):
            raise ValueError(f"degrees must be one of {DEGREE_SETS} or a collection of (l1, l2) pairs "
                             f"or (l1, l2, l) triples, got {kind!r}") from None
        triples = set()
        for t in items:
            if len(t) not in (2, 3) or min(t) < 0:
                raise ValueError(f"degrees: each entry must be (l1, l2) or (l1, l2, l) with non-negative "
                                 f"degrees, got {t!r}")
            a, b = sorted(t[:2])
            if b >= L:
                raise ValueError(f"degrees: pair {t!r} uses degree {b} >= L = {L}")
            ls = range(L_out) if len(t) == 2 else [t[2]]
            triples.update((a, b, l) for l in ls if l < L_out and _admissible(a, b, l))
        out = tuple(sorted(triples))
    if not out:
        raise ValueError(f"degrees: the degree-mixing set {kind!r} is empty for L={L}, L_out={L_out} "
                         "(no admissible (l1, l2, l) triple)")
    return out


def tensor_product_cost(triples) -> int:
    """Multiply-adds of one channel's product (one fragment per degree): ``sum (2l+1) n_m1``.

    ``n_m1`` is the number of ``m1`` terms of ``[f (x) g]^l_m`` summed over ``m``;
    the figure to compare sets by (``O(L^5)``, ``O(L^4)``, ``O(L^3 log L)``).
    """
    return sum(min(a, m + b) - max(-a, m - b) + 1 for a, b, l in triples for m in range(-l, l + 1))
