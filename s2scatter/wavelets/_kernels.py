"""Scale-discretised tiling kernels k_lambda, kappa_lambda, nu_lambda (NumPy only).

Definitions (McEwen et al.; ``docs/maths/wavelets.md``; s2wav ``filters.k_lam``)::

    s(x)          = exp(-1 / (1 - x^2))  for |x| < 1, else 0
    s_lam(t)      = s(2 lam / (lam - 1) * (t - 1/lam) - 1)
    k_lam(t)      = int_t^1 s_lam(t')^2 / t' dt'  /  int_{1/lam}^1 s_lam(t')^2 / t' dt'
    kappa_lam(t)  = sqrt(k_lam(t / lam) - k_lam(t))
    nu_lam(t)     = sqrt(k_lam(t))

so ``k_lam = 1`` for ``t <= 1/lam`` and ``0`` for ``t >= 1``, ``kappa_lam``
is supported on ``(1/lam, lam)`` and ``nu_lam`` on ``[0, 1)``.

Quadrature.  With ``x = tanh(u)`` the integrand becomes

    exp(-2 cosh(u)^2) sech(u)^2 / (a t(u)),   a = 2 lam / (lam - 1),

an entire function of ``u`` that decays double-exponentially, analytic in the
strip ``|Im u| < pi/4`` where it is bounded by one.  Outside ``|u| <= 3`` it is
below ``e^-200``; on ``[u0, 3]`` a 100-point Gauss-Legendre rule (weights
correctly rounded, sums in extended precision) converges like ``1.29^-200``,
far below double precision.  The values agree with
30-digit ``mpmath.quad`` to a few ulps (``tests/test_wavelets.py``).

s2wav 1.0.4 instead integrates ``s_lam^2 / t`` in ``t`` with a 300-step
trapezoidal rule (first-order in the step at the lower limit), so its ``k``
differs from the exact one by up to ~6e-6 (lam=2, measured).  :func:`k_table`
reproduces either; ``quadrature="s2wav"`` exists only for bit-level
comparison with s2wav.

Cost: O(n_t * 100) flops for ``n_t`` arguments.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._config import bounded_cache
from ..sampling import validate_number

QUADRATURES = ("exact", "s2wav")

_U_MAX = 3.0  # integrand < exp(-1 - cosh 6) ~ 1e-88 beyond |u| = 3
_N_GL = 100


def check_lam(lam) -> float:
    """The wavelet scale factor ``lam`` as a float, > 1; raises naming ``lam``."""
    return validate_number(lam, "lam", minimum=1, strict=True)


@functools.cache
def _gl_nodes():
    """Gauss-Legendre nodes/weights polished by Newton steps in extended precision.

    NumPy's ``leggauss`` weights carry relative errors of ~1e-14 at n ~ 100,
    which would dominate the error of ``k``; recomputing them from the
    three-term recurrence in ``longdouble`` makes them correctly rounded.
    """
    x = np.polynomial.legendre.leggauss(_N_GL)[0].astype(np.longdouble)
    n = _N_GL
    for step in range(4):  # three Newton steps, then P_n' at the final nodes
        p0, p1 = np.ones_like(x), x.copy()
        for k in range(2, n + 1):
            p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
        dp = n * (x * p1 - p0) / (x * x - 1)
        if step < 3:
            x = x - p1 / dp
    w = 2 / ((1 - x * x) * dp * dp)
    return x.astype(np.float64), w


def _integral_u(lo, hi, lam):
    """int_lo^hi exp(-2 cosh^2 u) sech^2 u / (a t(u)) du, elementwise over ``lo``, ``hi``."""
    a = 2.0 * lam / (lam - 1.0)
    x, w = _gl_nodes()
    half = 0.5 * (hi - lo)[..., None]
    u = lo[..., None] + half * (x + 1.0)
    # 1 + tanh(u) = 2 / (1 + exp(-2u)) without cancellation for u << 0
    one_plus_x = 2.0 / (1.0 + np.exp(-2.0 * u))
    t = 1.0 / lam + one_plus_x / a
    ch = np.cosh(u)
    g = np.exp(-2.0 * ch * ch) / (ch * ch) / (a * t)
    return (np.sum(g * w, axis=-1, dtype=np.longdouble) * half[..., 0]).astype(np.float64)


@bounded_cache(64)
def _norm(lam):
    return float(_integral_u(np.array([-_U_MAX]), np.array([_U_MAX]), lam)[0])


def _k_pair(t, lam):
    """(k_lam(t), 1 - k_lam(t)), each with small *relative* error (no cancellation)."""
    t = np.asarray(t, dtype=np.float64)
    a = 2.0 * lam / (lam - 1.0)
    x = (t - 1.0 / lam) * a - 1.0
    k = np.atleast_1d(np.where(x <= -1.0, 1.0, 0.0))
    kc = 1.0 - k
    x = np.atleast_1d(x)
    inside = (x > -1.0) & (x < 1.0)
    if np.any(inside):
        u0 = np.clip(np.arctanh(np.clip(x[inside], -1.0 + 1e-16, 1.0 - 1e-16)), -_U_MAX, _U_MAX)
        lo, hi = np.full_like(u0, -_U_MAX), np.full_like(u0, _U_MAX)
        norm = _norm(lam)
        k[inside] = np.clip(_integral_u(u0, hi, lam) / norm, 0.0, 1.0)
        kc[inside] = np.clip(_integral_u(lo, u0, lam) / norm, 0.0, 1.0)
    return k.reshape(t.shape), kc.reshape(t.shape)


def k_lam(t, lam):
    """Tiling function ``k_lambda(t)`` (vectorised, exact to a few ulps).

    Args:
        t: non-negative real array (any shape).
        lam: scale factor ``lambda > 1``.

    Returns:
        float64 array of ``t``'s shape: 1 for ``t <= 1/lam``, 0 for ``t >= 1``,
        smooth and decreasing in between.

    Example:
        >>> import numpy as np
        >>> from s2scatter.wavelets import k_lam
        >>> k_lam(np.array([0.0, 0.5, 1.0]), 2.0).tolist()
        [1.0, 1.0, 0.0]
    """
    return _k_pair(t, check_lam(lam))[0]


def kappa_lam(t, lam):
    """Wavelet generating function ``kappa_lambda(t) = sqrt(k(t/lam) - k(t))``.

    Supported on ``(1/lam, lam)``.  Evaluated without cancellation: for
    ``t < 1`` it is ``sqrt(1 - k(t))`` with ``1 - k`` integrated directly, for
    ``t >= 1`` it is ``sqrt(k(t/lam))``; so it is accurate to a few ulps
    *relative*, also where it is tiny near the edges of its support.

    Example:
        >>> import numpy as np
        >>> from s2scatter.wavelets import kappa_lam
        >>> kappa_lam(np.array([0.4, 1.0, 2.0]), 2.0).tolist()
        [0.0, 1.0, 0.0]
    """
    lam = check_lam(lam)
    t = np.asarray(t, dtype=np.float64)
    _, kc = _k_pair(t, lam)
    k_lo, _ = _k_pair(t / lam, lam)
    return np.sqrt(np.where(t < 1.0, np.where(t <= 1.0 / lam, 0.0, kc), k_lo))


def nu_lam(t, lam):
    """Scaling generating function ``nu_lambda(t) = sqrt(k(t))`` (supported on ``[0, 1)``).

    Example:
        >>> import numpy as np
        >>> from s2scatter.wavelets import nu_lam
        >>> nu_lam(np.array([0.0, 1.0]), 2.0).tolist()
        [1.0, 0.0]
    """
    lam = check_lam(lam)
    return np.sqrt(k_lam(t, lam))


# s2wav's trapezoidal twin (reference/compatibility only)
def _s2wav_integrand(t, lam):
    s_arg = (t - (1.0 / lam)) * (2.0 * lam / (lam - 1.0)) - 1.0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.exp(-2.0 / (1.0 - s_arg**2.0)) / t


def _s2wav_part(a, lam, n=300):
    """s2wav ``part_scaling_fn(a, 1, n, lam)``: trapezoid rule skipping the nodes 1/lam and 1."""
    a = np.asarray(a, dtype=np.float64)
    h = (1.0 - a) / n
    i = np.arange(n + 1)
    x = a[..., None] + i * h[..., None]
    f = _s2wav_integrand(x, lam)
    bad = (x == 1.0 / lam) | (x == 1.0)
    skip = bad[..., :-1] | bad[..., 1:]
    terms = np.where(skip, 0.0, ((f[..., :-1] + f[..., 1:]) * h[..., None]) / 2)
    return np.where(a == 1.0, 0.0, np.cumsum(terms, axis=-1)[..., -1])


def k_table(L, lam, J, quadrature="exact"):
    """``k[j, l] = k_lam(l / lam^j)`` for ``j = 0 .. J+1``, ``l < L`` (s2wav ``k_lam`` layout).

    ``quadrature="s2wav"`` reproduces s2wav 1.0.4's trapezoidal rule and its
    branch conditions (``l < lam^(j-1) -> 1``, ``l > lam^j -> 0``) exactly.
    """
    lam = check_lam(lam)
    if quadrature not in QUADRATURES:
        raise ValueError(f"quadrature must be one of {QUADRATURES}, got {quadrature!r}")
    ell = np.arange(L, dtype=np.float64)
    k = np.zeros((J + 2, L))
    if quadrature == "exact":
        for j in range(J + 2):
            k[j] = k_lam(ell / lam**j, lam)
        return k
    norm = float(_s2wav_part(np.array(1.0 / lam), lam))
    for j in range(J + 2):
        lo, hi = lam ** (j - 1), lam**j
        mid = (ell >= lo) & (ell <= hi)
        k[j, ell < lo] = 1.0
        if np.any(mid):
            k[j, mid] = _s2wav_part(ell[mid] / hi, lam) / norm
    return k


def binomial_weight(gamma: int, m: int) -> float:
    """``sqrt(C(gamma, (gamma - m)/2) / 2^gamma)`` (exact integer binomial)."""
    return math.sqrt(math.comb(gamma, (gamma - m) // 2) / 2.0**gamma)
