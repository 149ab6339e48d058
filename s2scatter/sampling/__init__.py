"""L0 sampling layer: schemes, shapes, angles, quadrature and index conversions.

NumPy only (no JAX): everything above builds on these grids.  Band-limit
``L`` is exclusive; ``sampling`` is one of :data:`SAMPLINGS`
(``"mw"`` default, ``"mwss"``, ``"dh"``, ``"gl"``, ``"healpix"`` with
``nside``, RING order); harmonic coefficients ``flm`` have shape
``(..., L, 2L-1)`` with entry ``[l, L-1+m]``; Wigner coefficients ``flmn``
have shape ``(..., 2N-1, L, 2L-1)``.  See the private modules' docstrings
for the exact node formulas and the SO(3) layout.
"""

from ._indices import (
    alm_size,
    alm_to_flm,
    flm_from_1d,
    flm_to_1d,
    flm_to_alm,
    index_to_lm,
    lm_to_alm_index,
    lm_to_index,
    random_flm,
)
from ._schemes import (
    SAMPLINGS,
    HealpixRings,
    check_nside,
    f_shape,
    flm_shape,
    grid_angles,
    nphi,
    ntheta,
    phis_equiang,
    quadrature_weights,
    recommended_L,
    ring_info_healpix,
    thetas,
    validate_L,
    validate_bool,
    validate_choice,
    validate_int,
    validate_number,
    validate_sampling,
    validate_spin,
)
from ._so3 import alphas, betas, flmn_shape, gammas, so3_shape, validate_N

__all__ = [
    "SAMPLINGS",
    "HealpixRings",
    "alm_size",
    "alm_to_flm",
    "alphas",
    "betas",
    "check_nside",
    "f_shape",
    "flm_from_1d",
    "flm_shape",
    "flm_to_1d",
    "flm_to_alm",
    "flmn_shape",
    "gammas",
    "grid_angles",
    "index_to_lm",
    "lm_to_alm_index",
    "lm_to_index",
    "nphi",
    "ntheta",
    "random_flm",
    "phis_equiang",
    "quadrature_weights",
    "recommended_L",
    "ring_info_healpix",
    "so3_shape",
    "thetas",
    "validate_L",
    "validate_N",
    "validate_bool",
    "validate_choice",
    "validate_int",
    "validate_number",
    "validate_sampling",
    "validate_spin",
]
