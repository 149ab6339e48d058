"""The harmonic layer's argument checks, for the floors above.

The wavelet, scattering and ``nn`` layers use these names (the transforms' own checks),
not the private module behind them; an internal interface, not user API.

* :func:`as_float_array` -- to an array of a float/complex dtype (ints become the
  default float type), the common eager case at no cost;
* :func:`check_finite` -- raise on NaN/inf in a concrete input (skipped under tracing);
* :func:`check_map` -- the trailing axes match the map shape of ``(L, sampling, nside)``;
* :func:`check_sampling` -- validate ``sampling``/``nside``, warn when ``L > 3 nside``.
"""

from __future__ import annotations

from ._validate import as_float_array, check_finite, check_map, check_sampling

__all__ = ["as_float_array", "check_finite", "check_map", "check_sampling"]
