"""L4 nn layer: learnable generalised spherical CNN layers and the hybrid model.

Generalised signals (:class:`Signal`: fragments ``f^l_t`` that rotate by the
Wigner-D matrix ``D^l``) and the layers of Cobb et al., "Efficient Generalised
Spherical CNNs" (ICLR 2021), under the scattering front end of McEwen, Wallis &
Mavor-Parker (ICLR 2022):

* Clebsch-Gordan coefficients: :func:`clebsch_gordan`, :func:`cg_pair_table`, :func:`cg_rows`.
* Signals: :class:`Signal`, :class:`SignalSpec`, :func:`from_flm` / :func:`to_flm`,
  :func:`from_flmn` / :func:`to_flmn`, :func:`rotate_signal`.
* Functional core (pure JAX): :func:`linear`, :func:`tensor_product` with
  :func:`tensor_product_plan` and :func:`degree_mixing_set`,
  :func:`s2_activation`, :func:`so3_activation`, :func:`equivariant_norm`,
  :func:`invariants`.
* Flax NNX modules over that core: :class:`Linear`, :class:`TensorProduct`,
  :class:`ConstrainedConvolution`, :class:`S2Activation`, :class:`SO3Activation`,
  :class:`EquivariantNorm`, :class:`InvariantReadout`.
* The hybrid model: :class:`HybridConfig`, :class:`HybridModel`.

Check any of them with :func:`s2scatter.assert_equivariant`.
"""

from ._clebsch_gordan import cg_pair_table, cg_rows, clebsch_gordan
from ._degree_sets import DEGREE_SETS, degree_mixing_set, tensor_product_cost
from ._functional import (
    ACTIVATIONS,
    TENSOR_PRODUCT_METHODS,
    TensorProductPlan,
    batch_statistics,
    equivariant_norm,
    invariants,
    invariants_size,
    linear,
    s2_activation,
    so3_activation,
    tensor_product,
    tensor_product_plan,
)
from ._layers import (
    ConstrainedConvolution,
    EquivariantNorm,
    InvariantReadout,
    Linear,
    S2Activation,
    SO3Activation,
    TensorProduct,
)
from ._model import HybridConfig, HybridModel
from ._signal import Signal, SignalSpec, from_flm, from_flmn, rotate_signal, to_flm, to_flmn

__all__ = [
    "ACTIVATIONS",
    "ConstrainedConvolution",
    "DEGREE_SETS",
    "EquivariantNorm",
    "HybridConfig",
    "HybridModel",
    "InvariantReadout",
    "Linear",
    "S2Activation",
    "SO3Activation",
    "Signal",
    "SignalSpec",
    "TENSOR_PRODUCT_METHODS",
    "TensorProduct",
    "TensorProductPlan",
    "batch_statistics",
    "cg_pair_table",
    "cg_rows",
    "clebsch_gordan",
    "degree_mixing_set",
    "equivariant_norm",
    "from_flm",
    "from_flmn",
    "invariants",
    "invariants_size",
    "linear",
    "rotate_signal",
    "s2_activation",
    "so3_activation",
    "tensor_product",
    "tensor_product_cost",
    "tensor_product_plan",
    "to_flm",
    "to_flmn",
]
