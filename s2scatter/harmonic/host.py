"""The harmonic layer's host interface: ducc0 kernels on NumPy arrays, for the floors above.

Host pipelines above :mod:`s2scatter.harmonic` (real-signal wavelets, the fused scattering
step) use these names only, never the private modules behind them
(``tests/test_architecture.py`` checks that): ducc0's layout and sign conventions stay in
:mod:`s2scatter.harmonic._ducc`.  An internal interface between the layers, not user API;
the names are the very functions the transforms run (no wrappers).

Conventions (derived in :mod:`s2scatter.harmonic._ducc`):

* ``alm``: ducc0/healpy-ordered coefficients of a *real* field, ``m >= 0`` only,
  ``(ncomp, L (L+1) / 2)``, m-major; :func:`alm_ell` gives each entry's degree and
  :func:`alm_index` the positions of a smaller band-limit's entries in a larger layout.
* spin pairs: a spin-``s`` field ``f`` (``s != 0``) is carried as real components
  ``(Q, U)`` with gradient/curl coefficients ``(G, C)``; :func:`flm_to_gc` converts our
  ``flm`` ``(L, 2L-1)`` to ``(G, C)``.
* ``flm``: our layout ``(..., L, 2L-1)``, entry ``[l, L-1+m]`` (Condon-Shortley phase).
* ``spec``: a :class:`DuccSpec` ``(L, spin, sampling, nside, reality, iter, grid)``.

Real alm in, real components out (and back):

* :func:`real_alm` -- real maps ``(B, *map_shape)`` -> ``alm`` ``(B, nalm)``;
* :func:`synthesis_from_alm` -- ``alm`` (1 component, or a (G, C) pair) -> real maps
  (one field, or the (Q, U) pair), reading ``l < Lj`` in place;
* :func:`analysis_into` -- the way back: real components -> ``alm`` written into a
  larger layout (exact quadrature, or iterated HEALPix);
* :func:`alm_to_maps` -- ducc0's real-field kernel ``kind`` (``"synthesis"``, or its
  adjoint ``"adjoint_analysis"``) on (G, C) ``alm``;
* :func:`spin_pair_power` -- ``|f|^2 = Q^2 + U^2`` on the grid of a spin field given
  by its ``flm``.

The four operators on our ``flm`` layout and their JAX transposes (leading batch
axes; the very kernels the ``"ducc"`` method registers with JAX):

* :func:`forward` ``f -> flm`` and :func:`forward_transpose`;
* :func:`inverse` ``flm -> f`` and :func:`inverse_transpose`.

Buffers: :func:`output_empty` (a pooled 64-byte aligned array) and :func:`adopt`
(a NumPy result handed to JAX, zero-copy when aligned).

Cost: one ducc0 transform per real component, O(L^3) on equiangular grids, with the
threads of :func:`s2scatter.harmonic.set_num_threads`.
"""

from __future__ import annotations

from ._buffers import output_empty
from ._ducc import DuccSpec
from ._ducc import _alm2map as alm_to_maps
from ._ducc import _gc_of as flm_to_gc
from ._ducc import _host_fwd as forward
from ._ducc import _host_fwd_T as forward_transpose
from ._ducc import _host_inv as inverse
from ._ducc import _host_inv_T as inverse_transpose
from ._ducc import alm_ell, alm_index
from ._ducc import host_analysis_into as analysis_into
from ._ducc import host_real_alm as real_alm
from ._ducc import host_synthesis_from_alm as synthesis_from_alm
from ._ducc import spin_pair_power
from ._primitive import _adopt as adopt

__all__ = ["DuccSpec", "adopt", "alm_ell", "alm_index", "alm_to_maps", "analysis_into", "flm_to_gc",
           "forward", "forward_transpose", "inverse", "inverse_transpose", "output_empty", "real_alm",
           "spin_pair_power", "synthesis_from_alm"]
