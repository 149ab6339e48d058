"""L3 scattering layer: the non-learned, rotationally equivariant front end.

McEwen, Wallis & Mavor-Parker, "Scattering Networks on the Sphere for Scalable
and Rotationally Equivariant Spherical CNNs" (ICLR 2022): cascades of
scale-discretised wavelet transforms and a modulus, projected onto the scaling
function, give stable multiscale representations at low resolution.

* :class:`ScatteringConfig` -- frozen description of a network.
* :class:`Scattering` -- ``Scattering(config)(f)``: maps or invariants.
* :func:`scattering_paths` -- the output channels (same code as the cascade).
* :func:`estimate_resources` -- scales, paths and memory of a config, before building it.
* :func:`scattering_harmonic` / :func:`filter_bank` -- the pure core and its filters.
* :func:`assert_equivariant` -- rotate-then-apply against apply-then-rotate.
"""

from ._config import ScatteringConfig, estimate_resources, scattering_paths
from ._core import FilterBank, filter_bank, grid_L, safe_modulus, scattering_harmonic
from ._scattering import Scattering, assert_equivariant, invariants_from_harmonic, output_grid, scattering

__all__ = ["FilterBank", "Scattering", "ScatteringConfig", "assert_equivariant", "estimate_resources",
           "filter_bank", "grid_L", "invariants_from_harmonic", "output_grid", "safe_modulus", "scattering",
           "scattering_harmonic", "scattering_paths"]
