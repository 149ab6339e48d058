"""Sampling schemes on the sphere: validation, shapes, nodes and quadrature.

Conventions (shared with pyssht / s2fft / healpy):

* ``L`` is the exclusive band-limit, ``0 <= l < L``.
* Equiangular / Gauss-Legendre maps are ``(ntheta, nphi)`` arrays, theta
  increasing from the north pole, phi increasing from 0:

  ========== ============= ============================ ====================
  sampling   map shape     theta_t                      phi_p
  ========== ============= ============================ ====================
  ``mw``     (L, 2L-1)     pi (2t+1) / (2L-1), t < L    2 pi p / (2L-1)
  ``mwss``   (L+1, 2L)     pi t / L, t <= L             2 pi p / (2L)
  ``dh``     (2L, 2L-1)    pi (2t+1) / (4L), t < 2L     2 pi p / (2L-1)
  ``gl``     (L, 2L-1)     arccos of the L Gauss-       2 pi p / (2L-1)
                           Legendre nodes, north first
  ========== ============= ============================ ====================

  The last MW ring is the south pole; MWSS has both poles.
* ``healpix`` maps are 1-D ``(12 nside**2,)`` arrays in RING order; the
  ``4 nside - 1`` rings are described by :func:`ring_info_healpix`.

Quadrature convention (:func:`quadrature_weights`): per-ring weights ``w_t``
with

    integral_{S^2} f dOmega  ~=  sum_t w_t * (2 pi / nphi_t) * sum_p f(theta_t, phi_p),

so ``sum_t w_t == 2`` (the length of ``[-1, 1]`` in ``cos theta``).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .._config import bounded_cache

SAMPLINGS = ("mw", "mwss", "dh", "gl", "healpix")
"""Supported sampling schemes; ``"mw"`` is the default everywhere."""


# ----------------------------------------------------------------- validation
def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def validate_bool(value, name) -> bool:
    """Check that a flag is a real boolean (``True``/``False`` or ``numpy.bool_``).

    Strings and numbers are refused: ``reality="no"`` is truthy in Python and
    would silently mean ``True``.

    Raises:
        ValueError: naming the parameter.

    >>> validate_bool(True, "reality")
    True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {name}={value!r}")
    return bool(value)


def validate_choice(value, choices, name) -> str:
    """Check an option name against ``choices`` (lower-case); return it in lower case.

    The one rule for names across s2scatter (``sampling``, ``method``,
    ``output``, ...): case-insensitive, normalised to lower case.

    Raises:
        ValueError: naming the parameter and listing the choices.

    >>> validate_choice("DUCC", ("auto", "ducc", "jax"), "method")
    'ducc'
    """
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {name}={value!r}")
    return value.lower()


def validate_int(value, name, *, minimum=0) -> int:
    """Check that ``value`` is an integer ``>= minimum`` (not a bool); return it as ``int``.

    Raises:
        ValueError: naming the parameter.

    >>> validate_int(3, "seed")
    3
    """
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def validate_number(value, name, *, minimum, strict=False) -> float:
    """Check that ``value`` is a finite real number ``>= minimum`` (``> minimum`` with
    ``strict``; not a bool); return it as ``float``.

    Raises:
        ValueError: naming the parameter.

    >>> validate_number(2, "lam", minimum=1, strict=True)
    2.0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum}, got {name}={value!r}")
    return float(value)


def validate_L(L) -> int:
    """Check that ``L`` is an integer band-limit ``>= 1`` and return it as ``int``.

    Raises:
        ValueError: naming ``L`` when it is not an integer ``>= 1``.

    >>> validate_L(8)
    8
    """
    if not _is_int(L) or L < 1:
        raise ValueError(f"L (band-limit) must be an integer >= 1, got L={L!r}")
    return int(L)


def validate_spin(spin, L) -> int:
    """Check that ``spin`` is an integer with ``|spin| < L``; return it as ``int``.

    Raises:
        ValueError: naming ``spin`` (or ``L``) when invalid.

    >>> validate_spin(-2, 4)
    -2
    """
    L = validate_L(L)
    if not _is_int(spin):
        raise ValueError(f"spin must be an integer, got spin={spin!r}")
    if abs(spin) >= L:
        raise ValueError(f"spin must satisfy |spin| < L, got spin={spin} with L={L}")
    return int(spin)


def check_nside(nside) -> int:
    """Check that ``nside`` is a positive power of two; return it as ``int``.

    Raises:
        ValueError: naming ``nside`` when it is not a positive power of two.

    >>> check_nside(16)
    16
    """
    if not _is_int(nside) or nside < 1 or (int(nside) & (int(nside) - 1)) != 0:
        raise ValueError(f"nside must be a positive power of two, got nside={nside!r}")
    return int(nside)


def recommended_L(nside) -> int:
    """Band-limit customarily paired with a HEALPix ``nside``: ``L = 3 nside``.

    This is healpy's default ``lmax = 3 nside - 1``.  HEALPix quadrature is
    not exact at any ``L``; this is a convention, not a guarantee.

    >>> recommended_L(64)
    192
    """
    return 3 * check_nside(nside)


def validate_sampling(sampling, nside=None) -> str:
    """Check a sampling name (and ``nside``); return the lower-case name.

    ``nside`` is required iff ``sampling == "healpix"``, and must then be a
    positive power of two.

    Raises:
        ValueError: naming ``sampling`` for an unknown scheme, or ``nside``
            when it is missing, invalid or given for a non-HEALPix scheme.

    >>> validate_sampling("MW")
    'mw'
    >>> validate_sampling("healpix", nside=4)
    'healpix'
    """
    sampling = validate_choice(sampling, SAMPLINGS, "sampling")
    if sampling == "healpix":
        if nside is None:
            raise ValueError('nside is required when sampling="healpix"')
        check_nside(nside)
    elif nside is not None:
        raise ValueError(
            f'nside is only meaningful for sampling="healpix", got nside={nside!r} '
            f"with sampling={sampling!r}"
        )
    return sampling


# ---------------------------------------------------------- shapes and counts
def flm_shape(L) -> tuple[int, int]:
    """Shape ``(L, 2L-1)`` of harmonic coefficients; entry ``[l, L-1+m]``.

    >>> flm_shape(4)
    (4, 7)
    """
    L = validate_L(L)
    return L, 2 * L - 1


def ntheta(L, *, sampling="mw", nside=None) -> int:
    """Number of iso-latitude rings.

    ``mw``/``gl``: ``L``; ``mwss``: ``L+1``; ``dh``: ``2L``;
    ``healpix``: ``4 nside - 1``.

    >>> ntheta(4, sampling="dh"), ntheta(4, sampling="healpix", nside=2)
    (8, 7)
    """
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    if sampling in ("mw", "gl"):
        return L
    if sampling == "mwss":
        return L + 1
    if sampling == "dh":
        return 2 * L
    return 4 * int(nside) - 1


def nphi(L, *, sampling="mw") -> int:
    """Number of samples per ring for ring-uniform schemes.

    ``mw``/``dh``/``gl``: ``2L-1``; ``mwss``: ``2L``.  HEALPix rings vary in
    length: use :func:`ring_info_healpix`.

    Raises:
        ValueError: naming ``sampling`` for ``"healpix"``.

    >>> nphi(4), nphi(4, sampling="mwss")
    (7, 8)
    """
    L = validate_L(L)
    if isinstance(sampling, str) and sampling.lower() == "healpix":
        raise ValueError('sampling="healpix" has a ring-dependent nphi; use ring_info_healpix(nside)')
    sampling = validate_sampling(sampling)
    return 2 * L if sampling == "mwss" else 2 * L - 1


def f_shape(L, *, sampling="mw", nside=None) -> tuple[int, ...]:
    """Shape of a (single, unbatched) map.

    ``mw``: ``(L, 2L-1)``, ``mwss``: ``(L+1, 2L)``, ``dh``: ``(2L, 2L-1)``,
    ``gl``: ``(L, 2L-1)``, ``healpix``: ``(12 nside**2,)``.

    >>> f_shape(4), f_shape(4, sampling="mwss"), f_shape(4, sampling="healpix", nside=2)
    ((4, 7), (5, 8), (48,))
    """
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    if sampling == "healpix":
        return (12 * int(nside) ** 2,)
    return ntheta(L, sampling=sampling), nphi(L, sampling=sampling)


# --------------- Gauss-Legendre nodes (numpy only; Newton iteration in theta)
def _legendre_pair(L: int, theta: np.ndarray):
    """``P_L(cos theta)`` and ``(1 - x^2) P_L'(x)`` for ``0 < theta <= pi/2``, ``L >= 1``.

    Uses the Reinsch-style recurrence in ``u = 1 - cos(theta) = 2 sin^2(theta/2)``
    on the differences ``D_k = P_k - P_{k-1}``:
    ``(k+1) D_{k+1} = k D_k - (2k+1) u P_k``, which keeps full relative
    precision near the pole where ``cos(theta)`` itself would lose ``1 - x``.
    """
    u = 2.0 * np.sin(0.5 * theta) ** 2
    p = np.ones_like(theta)  # P_0
    d = np.zeros_like(theta)  # D_0 (unused)
    for k in range(L):
        d = (k * d - (2 * k + 1) * u * p) / (k + 1)  # D_{k+1}
        p = p + d  # P_{k+1}
    # (1 - x^2) P_L'(x) = L (P_{L-1} - x P_L) = L (u P_L - D_L)
    return p, L * (u * p - d)


@bounded_cache(64)
def _gl_nodes_weights(L: int):
    """GL colatitudes (increasing) and weights (sum 2); cached, read-only."""
    # Northern half (and the equator for odd L); mirror for the south.
    nhalf = (L + 1) // 2
    k = np.arange(1, nhalf + 1, dtype=np.float64)
    theta = np.pi * (k - 0.25) / (L + 0.5)  # Tricomi initial guess
    # Newton in theta on g(theta) = P_L(cos theta), g' = -sin(theta) P_L'(x).
    # Quadratic convergence: once a step is below 1e-9 one more step reaches
    # rounding level, so stop after that extra step.
    last = False
    for _ in range(30):
        p, dp_s2 = _legendre_pair(L, theta)  # dp_s2 = sin^2(theta) P_L'(x)
        dtheta = p * np.sin(theta) / dp_s2  # = P_L / (sin(theta) P_L'(x))
        theta = theta + dtheta
        if last:
            break
        last = bool(np.max(np.abs(dtheta)) < 1e-9)
    p, dp_s2 = _legendre_pair(L, theta)
    w = 2.0 * np.sin(theta) ** 2 / dp_s2**2  # 2 / ((1 - x^2) P_L'(x)^2)
    if L % 2 == 1:
        theta[-1] = np.pi / 2
    mirror = slice(-2 if L % 2 else None, None, -1)  # the equator (odd L) is not mirrored
    theta_full = np.concatenate([theta, np.pi - theta[mirror]])
    w_full = np.concatenate([w, w[mirror]])
    theta_full.setflags(write=False)
    w_full.setflags(write=False)
    return theta_full, w_full


@bounded_cache(64)
def _dh_weights(L: int) -> np.ndarray:
    """Driscoll-Healy (Fejer first rule) weights on 2L nodes; cached, read-only.

    w_t = (2/L) sin(theta_t) sum_{k<L} sin((2k+1) theta_t) / (2k+1),
    exact for polynomials in cos(theta) of degree <= 2L-1 (same formula as
    ssht's ``ssht_sampling_weight_dh``).
    """
    th = np.pi * (2 * np.arange(2 * L) + 1) / (4 * L)
    acc = np.zeros_like(th)
    block = max(1, (1 << 21) // (2 * L))  # bounded temporary (~16 MB)
    for k0 in range(0, L, block):
        odd = 2 * np.arange(k0, min(L, k0 + block)) + 1.0
        acc += (np.sin(np.outer(th, odd)) / odd).sum(axis=1)
    w = (2.0 / L) * np.sin(th) * acc
    w.setflags(write=False)
    return w


# -------------------------------------------------------------- HEALPix rings
class HealpixRings(NamedTuple):
    """Ring structure of a HEALPix RING-ordered map (``nring = 4 nside - 1``).

    Pixel ``p`` of ring ``r`` (``0 <= p < nphi[r]``) is map index
    ``ringstart[r] + p`` and sits at ``(theta[r], phi0[r] + 2 pi p / nphi[r])``.
    """

    theta: np.ndarray  # (nring,) float64, colatitude, increasing
    phi0: np.ndarray  # (nring,) float64, longitude of the ring's first pixel
    nphi: np.ndarray  # (nring,) int64, pixels in the ring
    ringstart: np.ndarray  # (nring,) int64, RING index of the ring's first pixel


@bounded_cache(64)
def _ring_info_healpix(nside: int) -> HealpixRings:
    i = np.arange(1, 4 * nside, dtype=np.int64)  # 1-based ring number
    north, south = i < nside, i > 3 * nside
    ip = np.where(south, 4 * nside - i, i)  # distance (in rings) from nearest pole
    polar = north | south
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)

    nphi = np.where(polar, 4 * ip, 4 * nside)
    ringstart = np.where(
        north,
        2 * i * (i - 1),
        np.where(south, npix - 2 * ip * (ip + 1), ncap + (i - nside) * 4 * nside),
    )
    # Polar rings: 1 - cos(theta) = ip^2 / (3 nside^2)  =>  sin(theta/2) = ip / (sqrt(6) nside)
    # (the half-angle form keeps full precision near the poles).
    theta_cap = 2.0 * np.arcsin(np.where(polar, ip, 0) / (np.sqrt(6.0) * nside))
    z_eq = (2.0 * (2 * nside - i)) / (3.0 * nside)
    theta = np.where(north, theta_cap, np.where(south, np.pi - theta_cap, np.arccos(np.clip(z_eq, -1, 1))))
    # First pixel sits half a pixel east of phi=0, except on the equatorial
    # rings with (i - nside) odd, which start at phi=0.
    shifted = polar | ((i - nside) % 2 == 0)
    phi0 = np.where(shifted, np.pi / nphi, 0.0)
    out = HealpixRings(
        theta=theta.astype(np.float64),
        phi0=phi0.astype(np.float64),
        nphi=nphi.astype(np.int64),
        ringstart=ringstart.astype(np.int64),
    )
    for a in out:
        a.setflags(write=False)
    return out


def ring_info_healpix(nside) -> HealpixRings:
    """Ring structure of a RING-ordered HEALPix map.

    Returns a :class:`HealpixRings` with arrays of length ``4 nside - 1``:
    ``theta`` (colatitudes, north to south), ``phi0`` (longitude of each
    ring's first pixel: ``pi / nphi`` on the polar-cap rings and on
    equatorial rings ``i`` (1-based) with ``i - nside`` even, else ``0``),
    ``nphi`` (``4i`` in the caps, ``4 nside`` in the equatorial belt) and
    ``ringstart`` (RING index of each ring's first pixel).  Matches
    ``healpy.ringinfo`` and ``ducc0.healpix.Healpix_Base(nside, "RING").sht_info()``.

    >>> r = ring_info_healpix(1)
    >>> r.nphi.tolist(), r.ringstart.tolist()
    ([4, 4, 4], [0, 4, 8])
    """
    nside = check_nside(nside)
    return HealpixRings(*(a.copy() for a in _ring_info_healpix(nside)))


# ---------------------------------------------------------------------- nodes
def thetas(L, *, sampling="mw", nside=None) -> np.ndarray:
    """Ring colatitudes, shape ``(ntheta,)``, increasing from the north pole.

    For ``"healpix"`` these are the ``4 nside - 1`` ring colatitudes.

    >>> np.allclose(thetas(2), [np.pi / 3, np.pi])
    True
    """
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    if sampling == "mw":
        th = np.pi * (2 * np.arange(L) + 1) / (2 * L - 1)
        th[-1] = np.pi  # the last ring is the south pole exactly (rounding can overshoot)
        return th
    if sampling == "mwss":
        return np.pi * np.arange(L + 1) / L
    if sampling == "dh":
        return np.pi * (2 * np.arange(2 * L) + 1) / (4 * L)
    if sampling == "gl":
        return _gl_nodes_weights(L)[0].copy()
    return _ring_info_healpix(int(nside)).theta.copy()


def phis_equiang(L, *, sampling="mw") -> np.ndarray:
    """Ring longitudes ``phi_p``, shape ``(nphi,)``, for ring-uniform schemes.

    ``mw``/``dh``/``gl``: ``2 pi p / (2L-1)``; ``mwss``: ``2 pi p / (2L)``.

    Raises:
        ValueError: naming ``sampling`` for ``"healpix"`` (see
            :func:`ring_info_healpix`).

    >>> np.allclose(phis_equiang(2, sampling="mwss"), [0, np.pi / 2, np.pi, 3 * np.pi / 2])
    True
    """
    n = nphi(L, sampling=sampling)
    return 2 * np.pi * np.arange(n) / n


def grid_angles(L, *, sampling="mw", nside=None) -> tuple[np.ndarray, np.ndarray]:
    """Colatitude and longitude of every sample, each of shape ``f_shape(L, ...)``.

    For ``"healpix"`` the arrays are 1-D in RING order (as ``healpy.pix2ang``).

    >>> th, ph = grid_angles(4, sampling="dh")
    >>> th.shape, ph.shape
    ((8, 7), (8, 7))
    """
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    if sampling != "healpix":
        th, ph = np.meshgrid(thetas(L, sampling=sampling), phis_equiang(L, sampling=sampling), indexing="ij")
        return th, ph
    rings = _ring_info_healpix(int(nside))
    npix = 12 * int(nside) ** 2
    th = np.repeat(rings.theta, rings.nphi)
    p = np.arange(npix) - np.repeat(rings.ringstart, rings.nphi)
    ph = np.repeat(rings.phi0, rings.nphi) + 2 * np.pi * p / np.repeat(rings.nphi, rings.nphi)
    return th, ph


# ----------------------------------------------------------------- quadrature
def quadrature_weights(L, *, sampling, nside=None) -> np.ndarray:
    """Per-ring quadrature weights ``w_t``, shape ``(ntheta,)``.

    Convention::

        integral_{S^2} f dOmega ~= sum_t w_t * (2 pi / nphi_t) * sum_p f(theta_t, phi_p)

    so ``sum(w) == 2``.

    * ``"gl"``: Gauss-Legendre weights in ``cos theta``; exact for band-limit
      ``L`` products (polynomials in ``cos theta`` of degree ``<= 2L-1``).
    * ``"dh"``: Driscoll-Healy weights (ssht's formula), exact for degree
      ``<= 2L-1``.
    * ``"healpix"``: equal area, ``w_t = 2 nphi_t / npix`` so that every pixel
      gets ``4 pi / npix``; approximate only (``L`` is ignored).
    * ``"mw"``/``"mwss"``: no per-ring weights exist; exact MW/MWSS quadrature
      goes through a periodic extension of theta to ``[0, 2 pi)`` (done by the
      harmonic layer), so a ``ValueError`` naming ``sampling`` is raised.

    Cost: GL ``O(L^2)``, DH ``O(L^2)``, both cached after the first call.

    >>> bool(np.isclose(quadrature_weights(8, sampling="gl").sum(), 2.0))
    True
    """
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    if sampling == "gl":
        return _gl_nodes_weights(L)[1].copy()
    if sampling == "dh":
        return _dh_weights(L).copy()
    if sampling == "healpix":
        rings = _ring_info_healpix(int(nside))
        return 2.0 * rings.nphi / (12.0 * int(nside) ** 2)
    raise ValueError(
        f"sampling={sampling!r} has no per-ring quadrature weights: exact MW/MWSS "
        "quadrature goes through a periodic extension in theta; use sampling='gl', "
        "'dh' or 'healpix'"
    )
