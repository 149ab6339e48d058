"""L4 nn layer: learnable generalised spherical CNN layers and the hybrid model.

Generalised signals (:class:`Signal`: fragments ``f^l_t`` that rotate by the
Wigner-D matrix ``D^l``) and the layers of Cobb et al., "Efficient Generalised
Spherical CNNs" (ICLR 2021), under the scattering front end of McEwen, Wallis &
Mavor-Parker (ICLR 2022):

* Clebsch-Gordan coefficients: :func:`clebsch_gordan`, :func:`cg_pair_table`.
* Signals: :class:`Signal`, :class:`SignalSpec`, :func:`from_flm` / :func:`to_flm`,
  :func:`from_flmn` / :func:`to_flmn`, :func:`rotate_signal`.

Check any of them with :func:`s2scatter.assert_equivariant`.
"""

from ._clebsch_gordan import cg_pair_table, clebsch_gordan
from ._signal import Signal, SignalSpec, from_flm, from_flmn, rotate_signal, to_flm, to_flmn

__all__ = [
    "Signal",
    "SignalSpec",
    "cg_pair_table",
    "clebsch_gordan",
    "from_flm",
    "from_flmn",
    "rotate_signal",
    "to_flm",
    "to_flmn",
]
