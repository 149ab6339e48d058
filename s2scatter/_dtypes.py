"""The real and complex dtypes of the package's arrays: one rule for every layer.

Single precision stays single: ``float32`` and ``complex64`` data have the real type
``float32`` and the complex type ``complex64``; every other dtype (``float64``,
``complex128``, integers, ...) maps to ``float64`` / ``complex128``.  Accepts anything
:func:`numpy.dtype` does, JAX dtypes and array ``.dtype`` included; returns NumPy scalar
types (JAX accepts them wherever it takes a dtype).

Not part of the user API (``tests/test_architecture.py`` lists this module among the
shared utilities every unit may import).

>>> import numpy as np
>>> real_dtype(np.complex64).__name__, complex_dtype("float64").__name__
('float32', 'complex128')
"""

from __future__ import annotations

import numpy as np

__all__ = ["complex_dtype", "real_dtype"]

_SINGLE = (np.dtype(np.float32), np.dtype(np.complex64))


def real_dtype(dtype):
    """``np.float32`` for ``float32`` / ``complex64`` data, ``np.float64`` otherwise."""
    return np.float32 if np.dtype(dtype) in _SINGLE else np.float64


def complex_dtype(dtype):
    """``np.complex64`` for ``float32`` / ``complex64`` data, ``np.complex128`` otherwise."""
    return np.complex64 if np.dtype(dtype) in _SINGLE else np.complex128
