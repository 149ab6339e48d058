"""L4 nn layer: learnable generalised spherical CNN layers and the hybrid model.

Generalised signals (:class:`Signal`: fragments ``f^l_t`` that rotate by the
Wigner-D matrix ``D^l``) and the layers of Cobb et al., "Efficient Generalised
Spherical CNNs" (ICLR 2021), under the scattering front end of McEwen, Wallis &
Mavor-Parker (ICLR 2022):

* Clebsch-Gordan coefficients: :func:`clebsch_gordan`, :func:`cg_pair_table`.
"""

from ._clebsch_gordan import cg_pair_table, clebsch_gordan

__all__ = [
    "cg_pair_table",
    "clebsch_gordan",
]
