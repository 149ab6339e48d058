"""The harmonic layer's interface for compiled programs of the ``jax`` method.

Pipelines above :mod:`s2scatter.harmonic` (the wavelet transforms, the scattering
cascade) build their ``jax``-method computations from the transforms of this layer.
Run eagerly, such a computation should be one compiled program whose Legendre kernels
are *arguments*, not constants baked into it (constants cost host compile time,
about 10 ms per MB, on every device).  :func:`run_with_kernels` does that; the floors
above use this name only, never the private module behind it
(``tests/test_architecture.py`` checks that).

This is an internal interface between the package's layers, not part of the user
API.  The name is the very function the transforms use (no wrapper).

* :func:`run_with_kernels` ``(core, *args, **static)`` -- ``core(*args, **static)``;
  on concrete inputs as one program per (core, static options, input shapes), compiled
  once, receiving every kernel it reads as an argument (bounded caches); under a
  caller's trace, ``core`` is simply called and the caller's program captures the
  kernels.  ``core`` must be a module-level function and ``static`` hashable.
* :func:`kernels_for` ``(core, *args, **static)`` -- ``(keys, arrays)``, the kernels
  that call reads (``args`` may be :class:`jax.ShapeDtypeStruct`), so that an owner
  (e.g. :class:`s2scatter.Scattering`) can hold them and pass them into a ``jit`` as
  arguments;
* :func:`using_kernels` ``(keys, arrays)`` -- context manager: transforms called in
  the block read these (concrete or traced) arrays instead of the cached kernels.
"""

from ._jax import _call as run_with_kernels
from ._jax import kernels_for, using_kernels

__all__ = ["kernels_for", "run_with_kernels", "using_kernels"]
