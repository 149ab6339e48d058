"""Scattering configuration and scattering paths (pure Python, no arrays)."""

from __future__ import annotations

import dataclasses
import functools
import math

from .._limits import check_count, check_memory, get_limits
from ..harmonic import METHODS
from ..sampling import (check_nside, f_shape, validate_bool, validate_choice, validate_int, validate_number,
                        validate_sampling)


PATH_RULES = ("coarser", "one_step")
OUTPUTS = ("maps", "invariants")
NORMALISATIONS = ("energy",)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScatteringConfig:
    """Everything that defines a scattering network (frozen, hashable).

    Attributes:
        L: band-limit of the input (exclusive).
        N: azimuthal band-limit of the wavelets (1: axisymmetric; ``2N-1``
            orientations, pooled over orientations, see :mod:`s2scatter.scattering`).
        J_min: first wavelet scale; the outputs live at the scaling band-limit
            ``L_scal = min(ceil(lam**J_min), L)``.
        lam: wavelet scale factor, ``> 1``.
        max_order: depth of the cascade (0, 1, 2, ...).
        sampling, nside: sampling of the input maps (and of the output maps).
        reality: the input maps are real (halves the work).
        oversampling: the modulus of a scale-``j`` field (band-limit ``L_j``)
            is evaluated on a Gauss-Legendre grid of band-limit
            ``ceil(oversampling * L_j)``; its aliasing sets the equivariance
            error (see ``docs/scattering.md``).
        normalisation: ``"energy"``: filters scaled so that
            ``sum_j ||U_j f||^2 + ||phi * f||^2 = ||f||^2`` (each layer is
            non-expansive, hence so is the network).
        output: ``"maps"`` (equivariant maps at ``L_scal``, one channel per
            path) or ``"invariants"`` (per path: the mean and the power per
            ``l < L_scal`` of its map; rotation invariant).
        paths: ``"coarser"`` (every path with ``j_{k+1} < j_k``) or
            ``"one_step"`` (``j_{k+1} = j_k - 1``).
        method: transform method (``"auto"``, ``"ducc"``, ``"jax"``).
        multiresolution: each intermediate at its own band-limit (default);
            ``False`` keeps every scale at the full ``L`` (for comparison).
        grid_floor: no modulus grid is coarser than ``min(grid_floor, 4 L)``:
            coarse scales alias as much as fine ones in relative terms and
            their grids are cheap (``0`` disables the floor).

    Raises:
        ValueError: naming the parameter, at construction.  Also for networks
            that cannot be run (:func:`estimate_resources`): more than
            ``max_scales`` wavelet scales (default 100: ``lam`` too close to 1),
            more than ``max_paths`` paths (default 10,000), or a memory estimate
            per input channel above the memory available now.  The limits are
            set with :func:`s2scatter.set_limits` or ``S2SCATTER_*`` environment
            variables.
    """

    L: int
    N: int = 1
    J_min: int = 2
    lam: float = 2.0
    max_order: int = 2
    sampling: str = "mw"
    nside: int | None = None
    reality: bool = True
    oversampling: float = 2.0
    normalisation: str = "energy"
    output: str = "maps"
    paths: str = "coarser"
    method: str = "auto"
    multiresolution: bool = True
    grid_floor: int = 256

    def __post_init__(self):
        set_ = functools.partial(object.__setattr__, self)
        for name, minimum in (("L", 2), ("N", 1), ("J_min", 0), ("max_order", 0), ("grid_floor", 0)):
            set_(name, validate_int(getattr(self, name), name, minimum=minimum))
        if self.N > self.L:
            raise ValueError(f"N must satisfy N <= L = {self.L}, got N={self.N}")
        validate_number(self.lam, "lam", minimum=1, strict=True)
        if self.J_min > self.J_max:
            raise ValueError(f"J_min = {self.J_min} exceeds J_max = {self.J_max} for L={self.L}, lam={self.lam}")
        # names are case-insensitive everywhere (one rule: sampling.validate_choice)
        set_("sampling", validate_sampling(self.sampling, self.nside))
        if self.nside is not None:
            set_("nside", check_nside(self.nside))
        set_("reality", validate_bool(self.reality, "reality"))
        set_("multiresolution", validate_bool(self.multiresolution, "multiresolution"))
        validate_number(self.oversampling, "oversampling", minimum=1)
        set_("normalisation", validate_choice(self.normalisation, NORMALISATIONS, "normalisation"))
        set_("output", validate_choice(self.output, OUTPUTS, "output"))
        set_("paths", validate_choice(self.paths, PATH_RULES, "paths"))
        set_("method", validate_choice(self.method, METHODS, "method"))
        # what it would cost, before anything is built (scales first: they bound the paths)
        what = f"ScatteringConfig(L={self.L}, lam={self.lam}, J_min={self.J_min}"
        n_scales = self.J_max - self.J_min + 1
        check_count("max_scales", n_scales, f"{what}) has {n_scales} wavelet scales (lam too close to 1?)")
        max_paths = get_limits()["max_paths"]
        n_paths = _count_paths(n_scales, self.max_order, self.paths, _limit=max_paths)
        check_count("max_paths", n_paths, f"{what}, max_order={self.max_order}, paths={self.paths!r}) has "
                                          f"{'at least ' if n_paths > max_paths else ''}{n_paths} paths")
        est = estimate_resources(self)
        check_memory(est["bytes_per_channel"], f"{what}, N={self.N}, oversampling={self.oversampling}, "
                                               f"sampling={self.sampling!r}) (per input channel)")

    @property
    def J_max(self) -> int:
        """Finest scale, ``ceil(log_lam L)`` (s2wav's convention)."""
        return max(int(math.ceil(math.log(self.L) / math.log(self.lam) - 1e-12)), 0)

    @property
    def L_scal(self) -> int:
        """Band-limit of the scaling function and of every output map."""
        return min(int(math.ceil(self.lam**self.J_min - 1e-12)), self.L)

    def L_j(self, j: int) -> int:
        """Band-limit of wavelet scale ``j``: ``min(ceil(lam**(j+1)), L)`` (``L`` without multiresolution)."""
        if not self.multiresolution:
            return self.L
        return min(int(math.ceil(self.lam ** (j + 1) - 1e-12)), self.L)


def _count_paths(n_scales: int, max_order: int, rule: str, _limit=math.inf) -> int:
    """Number of paths without listing them (stops counting once above ``_limit``)."""
    total = 1
    for k in range(1, max_order + 1):
        step = math.comb(n_scales, k) if rule == "coarser" else max(n_scales - k + 1, 0)
        if step == 0:
            break
        total += step
        if total > _limit:
            break
    return total


def estimate_resources(config: ScatteringConfig) -> dict:
    """What a network costs, from its config alone (nothing is built).

    Returns:
        ``{"n_scales", "n_paths", "bytes_per_channel"}``: wavelet scales, output
        paths and a lower bound of the peak memory (float64) for one input
        channel: the input map and its coefficients, the modulus grid of the
        finest scale (``oversampling`` times its band-limit, a real modulus and
        one complex spin field) and the outputs.  ``ScatteringConfig`` refuses
        configs whose estimate exceeds the available memory.

    Example:
        >>> est = estimate_resources(ScatteringConfig(L=64))
        >>> est["n_scales"], est["n_paths"], est["bytes_per_channel"] > 64 * 127 * 8
        (5, 16, True)
    """
    c = config
    n_scales = c.J_max - c.J_min + 1
    n_paths = _count_paths(n_scales, c.max_order, c.paths)
    L, Ls = c.L, c.L_scal
    f_in = math.prod(f_shape(L, sampling=c.sampling, nside=c.nside)) * 8
    flm = L * (2 * L - 1) * 16
    top = c.L_j(c.J_max) if c.max_order > 0 else 0
    Lg = max(math.ceil(c.oversampling * top - 1e-9), top)
    grid = Lg * (2 * Lg - 1) * (8 + 16)
    outputs = n_paths * Ls * (2 * Ls - 1) * 16
    return {"n_scales": n_scales, "n_paths": n_paths, "bytes_per_channel": f_in + flm + grid + outputs}


def scattering_paths(config: ScatteringConfig) -> tuple[tuple[int, ...], ...]:
    """All scattering paths, in the order the outputs are stacked.

    Order 0 is the empty path ``()``; order ``k`` paths are tuples
    ``(j_1, ..., j_k)`` of scales in ``[J_min, J_max]`` following the rule in
    ``config.paths``. Depth-first order (a path is followed by its children),
    the order in which :func:`scattering` computes them.
    """
    js = range(config.J_min, config.J_max + 1)
    out: list[tuple[int, ...]] = []

    def children(p):
        if len(p) >= config.max_order:
            return []
        if not p:
            return [(j,) for j in reversed(js)]
        last = p[-1]
        if config.paths == "one_step":
            return [p + (last - 1,)] if last - 1 >= config.J_min else []
        return [p + (j,) for j in reversed(range(config.J_min, last))]

    def visit(p):
        out.append(p)
        for c in children(p):
            visit(c)

    visit(())
    return tuple(out)
