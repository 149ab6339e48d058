"""The harmonic layer's interface for compiled ``jax``-method programs, for the floors above.

Run eagerly, a pipeline built on this layer's transforms (wavelets, the scattering
cascade) should be one compiled program whose Legendre kernels are *arguments*, not
constants (about 10 ms of host compile time per MB).  The floors above use these names
only, never the private module behind them (``tests/test_architecture.py`` checks that);
an internal interface, not user API, and the very functions the transforms use:

* :func:`run_with_kernels` ``(core, *args, **static)`` -- ``core(*args, **static)`` as
  one program per input shapes receiving its kernels (:func:`._jax._call`);
* :func:`kernels_for` -- the ``(keys, arrays)`` a call reads, for an owner to hold;
* :func:`using_kernels` -- context manager: transforms read these arrays instead.
"""

from ._jax import _call as run_with_kernels
from ._jax import kernels_for, using_kernels

__all__ = ["kernels_for", "run_with_kernels", "using_kernels"]
