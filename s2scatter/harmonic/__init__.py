"""L1 harmonic layer: spherical-harmonic and Wigner (SO(3)) transforms, rotations.

Public functions take data first and keyword-only options::

    flm = forward(f, L, spin=0, sampling="mw", nside=None, reality=False, method="auto")
    f = inverse(flm, L, ...)
    flmn = wigner_forward(f, L, N, ...);  f = wigner_inverse(flmn, L, N, ...)
    flm_rot = rotate(flm, L, (alpha, beta, gamma))
    D = wigner_D(L, (alpha, beta, gamma))          # the matrices rotate() applies, per l

Methods: ``"ducc"`` (compiled ducc0 kernels on the host, wrapped as a JAX
primitive with hand-written adjoints), ``"jax"`` (pure JAX, for GPU/TPU) and
``"auto"``.  Everything is jit-able, vmap-able and differentiable in forward
and reverse mode.

The methods' process-wide settings are :func:`s2scatter.config`'s
``num_threads``, ``kernel_budget``, ``output_cache`` and ``heap_trim_limit``;
``set_num_threads(n)`` and the other setters and getters here are the same
(``s2scatter.config(num_threads=n)``), kept under their historical names.
"""

from ._jax import jit
from ._rotate import rotate, wigner_D
from ._spherical import (
    METHODS,
    forward,
    forward_from_gl_grid,
    gl_grid_shape,
    inverse,
    inverse_to_gl_grid,
    resolve_method,
)
from ._wigner import forward as wigner_forward
from ._wigner import inverse as wigner_inverse

# process-wide settings: the same as s2scatter.config(...) (registered there by ._settings)
from ._buffers import get_output_cache, set_output_cache
from . import _settings  # noqa: F401  (registers the settings and caches)
from ._ducc import get_num_threads, set_heap_trim_limit, set_num_threads
from ._jax import get_kernel_budget, set_kernel_budget

__all__ = [
    "METHODS",
    "forward",
    "forward_from_gl_grid",
    "get_kernel_budget",
    "get_num_threads",
    "get_output_cache",
    "gl_grid_shape",
    "inverse",
    "inverse_to_gl_grid",
    "jit",
    "resolve_method",
    "rotate",
    "set_heap_trim_limit",
    "set_kernel_budget",
    "set_num_threads",
    "set_output_cache",
    "wigner_D",
    "wigner_forward",
    "wigner_inverse",
]
