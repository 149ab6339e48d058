"""Sampling of the rotation group SO(3) used by Wigner transforms.

Layout (identical to s2fft 1.5.0, ``s2fft/sampling/so3_samples.py`` and
``s2fft/base_transforms/wigner.py``, read from the installed source):

* Euler angles ``(alpha, beta, gamma)``, zyz convention.  A signal on SO(3)
  is stored ``[gamma, beta, alpha]``: shape ``(2N-1, *f_shape(L, ...))``, i.e.
  ``(2N-1, ntheta, nphi)`` for ring-uniform schemes and ``(2N-1, 12 nside**2)``
  for HEALPix.  For fixed gamma index the slice is a sphere map with
  ``beta = theta`` and ``alpha = phi``.  gamma is the *leading* axis.
* ``gamma_k = 2 pi k / (2N-1)``, ``k = 0 .. 2N-2`` (s2fft takes an FFT over
  that axis, ``fftshift``-ed, with ``2 pi / (2N-1)`` quadrature weight).
* Wigner coefficients ``flmn``: shape ``(2N-1, L, 2L-1)``, entry
  ``[N-1+n, l, L-1+m]`` for ``n = -(N-1) .. N-1`` ascending (n leading, then
  the usual flm layout); zero where ``|m| > l`` or ``|n| > l``.
* Synthesis: ``f(alpha, beta, gamma) = sum (2l+1)/(8 pi^2) flmn D^{l*}_{mn}``
  with ``D^{l*}_{mn} = e^{i m alpha} d^l_{mn}(beta) e^{i n gamma}``; s2fft
  computes the n-th gamma harmonic as ``(-1)^n`` times a spin ``-n`` SHT.
"""

from __future__ import annotations

import numpy as np

from ._schemes import _is_int, f_shape, phis_equiang, thetas, validate_L


def validate_N(N) -> int:
    """Check the directional band-limit ``N`` is an integer ``>= 1``; return ``int``.

    Raises:
        ValueError: naming ``N``.

    >>> validate_N(3)
    3
    """
    if not _is_int(N) or N < 1:
        raise ValueError(f"N (directional band-limit) must be an integer >= 1, got N={N!r}")
    return int(N)


def so3_shape(L, N, *, sampling="mw", nside=None) -> tuple[int, ...]:
    """Shape ``(2N-1, *f_shape(L, sampling, nside))`` of a signal on SO(3), gamma first.

    >>> so3_shape(4, 2), so3_shape(4, 2, sampling="healpix", nside=2)
    ((3, 4, 7), (3, 48))
    """
    N = validate_N(N)
    return (2 * N - 1,) + f_shape(L, sampling=sampling, nside=nside)


def flmn_shape(L, N) -> tuple[int, int, int]:
    """Shape ``(2N-1, L, 2L-1)`` of Wigner coefficients; entry ``[N-1+n, l, L-1+m]``.

    >>> flmn_shape(4, 2)
    (3, 4, 7)
    """
    L, N = validate_L(L), validate_N(N)
    return 2 * N - 1, L, 2 * L - 1


def gammas(N) -> np.ndarray:
    """Third Euler angle samples ``2 pi k / (2N-1)``, ``k = 0 .. 2N-2``.

    >>> gammas(1).tolist()
    [0.0]
    """
    N = validate_N(N)
    return 2 * np.pi * np.arange(2 * N - 1) / (2 * N - 1)


def alphas(L, *, sampling="mw") -> np.ndarray:
    """First Euler angle samples: the ring longitudes :func:`phis_equiang`.

    >>> alphas(2).shape
    (3,)
    """
    return phis_equiang(L, sampling=sampling)


def betas(L, *, sampling="mw", nside=None) -> np.ndarray:
    """Second Euler angle samples: the ring colatitudes :func:`thetas`.

    >>> betas(2, sampling="mwss").shape
    (3,)
    """
    return thetas(L, sampling=sampling, nside=nside)
