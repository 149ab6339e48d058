"""Scattering configuration and scattering paths (pure Python, no arrays)."""

from __future__ import annotations

import dataclasses
import functools
import math

from ..sampling import check_nside, validate_bool, validate_choice, validate_sampling

__all__ = ["ScatteringConfig", "scattering_paths", "PATH_RULES", "OUTPUTS", "NORMALISATIONS"]

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
        if isinstance(self.L, bool) or not isinstance(self.L, int) or self.L < 2:
            raise ValueError(f"L must be an integer >= 2, got {self.L!r}")
        if isinstance(self.N, bool) or not isinstance(self.N, int) or self.N < 1:
            raise ValueError(f"N must be a positive integer, got {self.N!r}")
        if self.N > self.L:
            raise ValueError(f"N must satisfy N <= L = {self.L}, got N={self.N}")
        if not (isinstance(self.lam, (int, float)) and not isinstance(self.lam, bool)
                and math.isfinite(self.lam) and self.lam > 1):
            raise ValueError(f"lam must be a finite number > 1, got lam={self.lam!r}")
        if isinstance(self.J_min, bool) or not isinstance(self.J_min, int) or self.J_min < 0:
            raise ValueError(f"J_min must be a non-negative integer, got {self.J_min!r}")
        if self.J_min > self.J_max:
            raise ValueError(f"J_min = {self.J_min} exceeds J_max = {self.J_max} for L={self.L}, lam={self.lam}")
        if isinstance(self.max_order, bool) or not isinstance(self.max_order, int) or self.max_order < 0:
            raise ValueError(f"max_order must be a non-negative integer, got {self.max_order!r}")
        # names are case-insensitive everywhere (one rule: sampling.validate_choice)
        set_ = functools.partial(object.__setattr__, self)
        set_("sampling", validate_sampling(self.sampling, self.nside))
        if self.nside is not None:
            set_("nside", check_nside(self.nside))
        set_("reality", validate_bool(self.reality, "reality"))
        set_("multiresolution", validate_bool(self.multiresolution, "multiresolution"))
        if not (isinstance(self.oversampling, (int, float)) and not isinstance(self.oversampling, bool)
                and math.isfinite(self.oversampling) and self.oversampling >= 1):
            raise ValueError(f"oversampling must be a finite number >= 1, got oversampling={self.oversampling!r}")
        if isinstance(self.grid_floor, bool) or not isinstance(self.grid_floor, int) or self.grid_floor < 0:
            raise ValueError(f"grid_floor must be a non-negative integer, got {self.grid_floor!r}")
        set_("normalisation", validate_choice(self.normalisation, NORMALISATIONS, "normalisation"))
        set_("output", validate_choice(self.output, OUTPUTS, "output"))
        set_("paths", validate_choice(self.paths, PATH_RULES, "paths"))
        set_("method", validate_choice(self.method, ("auto", "ducc", "jax"), "method"))

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
