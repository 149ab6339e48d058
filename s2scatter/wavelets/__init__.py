"""L2 wavelet layer: scale-discretised directional wavelets on the sphere.

Multiresolution analysis and synthesis with the wavelets of McEwen et al.
(s2let / s2wav definitions, ``docs/maths/wavelets.md``), built on the transform core
so that every method (``"ducc"``, ``"jax"``), batching, ``jit``, ``vmap`` and
``grad`` carry over::

    fb = filters(L, N=3)                       # built once, cached, read-only
    f_wav, f_scal = analysis(f, L, N=3, reality=True, filters=fb)
    f = synthesis(f_wav, f_scal, L, N=3, reality=True, filters=fb)
    flmn_list, flm_scal = analysis_harmonic(flm, fb, L=L, N=3)  # no SHTs

* :func:`scales` / :class:`Scales`: ``J_max``, per-scale band-limits ``L_j``,
  orientations ``N_j`` and the scaling band-limit (s2wav's integer rules).
* :func:`filters` / :class:`WaveletFilters`: ``Psi^j_lm`` and ``Phi_l``
  (admissible to ~1e-16 for any ``lam > 1``, ``N >= 1``, ``J_min``, spin).
* :func:`k_lam`, :func:`kappa_lam`, :func:`nu_lam`, :func:`directional_weights`:
  the generating functions, exact to a few ulps.
* :func:`analysis` / :func:`synthesis`: pixel space; scale ``j`` lives on the
  SO(3) grid of band-limit ``L_j`` with ``2 N_j - 1`` orientations.
* :func:`analysis_harmonic` / :func:`synthesis_harmonic`: the same maps on
  Wigner coefficients (what the scattering layer composes).

HEALPix: every scale keeps the input ``nside``; reconstruction is limited by
HEALPix's inexact quadrature, like the transform core's own round trip
(~5e-5 relative at ``L = 2 nside``, ~5e-7 at ``L = nside`` with ``iter=3``),
see :mod:`._transforms`.

s2wav: filters and coefficients agree with s2wav 1.0.4 to ~1e-14 when built
with ``filters(..., quadrature="s2wav")`` (s2wav's 300-step trapezoidal
``k_lam``); the default exact kernels differ from s2wav's by ~1e-5.

Example:
    >>> import numpy as np, s2scatter
    >>> from s2scatter import wavelets
    >>> L = 16; rng = np.random.default_rng(1)
    >>> f = np.asarray(s2scatter.inverse(rng.standard_normal((L, 2 * L - 1)) + 0j, L, reality=True))
    >>> f_wav, f_scal = wavelets.analysis(f, L, N=2, reality=True)
    >>> len(f_wav), f_wav[-1].shape
    (5, (3, 16, 31))
"""

from .._config import register_cache
from . import _host
from ._filters import Scales, WaveletFilters, directional_weights, filters, scales
from ._kernels import k_lam, kappa_lam, nu_lam
from ._transforms import analysis, analysis_harmonic, synthesis, synthesis_harmonic

__all__ = ["Scales", "WaveletFilters", "analysis", "analysis_harmonic", "directional_weights", "filters",
           "k_lam", "kappa_lam", "nu_lam", "scales", "synthesis", "synthesis_harmonic"]

# per-thread scratch arrays of the host path (one per slot and dtype, the largest seen):
# clear_caches() drops the calling thread's
register_cache("s2scatter.wavelets._host._SCRATCH",
               lambda: _host._SCRATCH.__dict__.pop("arrays", None),
               lambda: len(_host._SCRATCH.__dict__.get("arrays", ())), None)
