"""The ``"ducc"`` method as JAX operations: :mod:`._ducc`'s four host kernels (``_host_fwd``,
``_host_inv`` and their JAX transposes) registered with :mod:`._primitive` as ``ducc_fwd``,
``ducc_inv``, ``ducc_fwd_T``, ``ducc_inv_T``, which makes them jit-able, vmap-able and
differentiable.  Shapes: maps ``(..., *map_shape)``, flm ``(..., L, 2L-1)``, leading axes
batch axes.  Cost: the kernels' (see :mod:`._ducc`) plus one host callback per call under ``jit``.
"""

from __future__ import annotations

from .._dtypes import complex_dtype, real_dtype
from . import _primitive
from ._ducc import DuccSpec, _host_fwd, _host_fwd_T, _host_inv, _host_inv_T, _map_core_shape

__all__ = ["DuccSpec", "forward", "inverse"]


def _flm_shape(core, spec):
    return (spec.L, 2 * spec.L - 1)


def _map_shape(core, spec):
    return _map_core_shape(spec)


def _flm_dtype(dtype, spec):
    return complex_dtype(dtype)


def _map_dtype(dtype, spec):
    return real_dtype(dtype) if spec.reality else complex_dtype(dtype)


def _map_ndim(spec):
    return 1 if spec.sampling == "healpix" else 2


def _flm_ndim(spec):
    return 2


_primitive.register("ducc_fwd", _primitive.HostOp(_host_fwd, _flm_shape, _map_ndim, _flm_dtype, "ducc_fwd_T"))
_primitive.register("ducc_fwd_T", _primitive.HostOp(_host_fwd_T, _map_shape, _flm_ndim, _map_dtype, "ducc_fwd"))
_primitive.register("ducc_inv", _primitive.HostOp(_host_inv, _map_shape, _flm_ndim, _map_dtype, "ducc_inv_T"))
_primitive.register("ducc_inv_T", _primitive.HostOp(_host_inv_T, _flm_shape, _map_ndim, _flm_dtype, "ducc_inv"))


def forward(f, spec: DuccSpec, *, host_check=None):
    """map ``(..., *map_shape)`` -> flm ``(..., L, 2L-1)`` via ducc0 (JAX-traceable).

    ``host_check(flm)`` runs on the NumPy result of eager calls (see ``_primitive.apply``)."""
    return _primitive.apply("ducc_fwd", f, spec, host_check=host_check)


def inverse(flm, spec: DuccSpec, *, host_check=None):
    """flm ``(..., L, 2L-1)`` -> map ``(..., *map_shape)`` via ducc0 (JAX-traceable)."""
    return _primitive.apply("ducc_inv", flm, spec, host_check=host_check)
