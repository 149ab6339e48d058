"""Spherical-harmonic transforms on S^2: one API, several methods.

Convention (pyssht / s2fft, Condon-Shortley phase included)::

    f(theta, phi) = sum_{l<L} sum_{|m|<=l} flm sY_lm(theta, phi)
    sY_lm(theta, phi) = (-1)^s sqrt((2l+1)/4pi) e^{i m phi} d^l_{m,-s}(theta)

Methods (registry ``METHODS``):

* ``"ducc"``: ducc0's compiled kernels on the host, wrapped as a JAX primitive
  (jit/vmap/grad/jvp all work; the VJP is the hand-written adjoint transform).
* ``"jax"``: pure JAX (runs on GPU/TPU); precomputed Wigner-d kernels where
  they fit in memory, an on-the-fly recursion beyond.
* ``"auto"``: ``"ducc"`` on CPU, ``"jax"`` on accelerators (logged at DEBUG).
"""

from __future__ import annotations

import logging
import math

import jax

from .._config import BoundedDict
from ..sampling import validate_bool, validate_choice, validate_spin
from . import _ducc_op, _validate

__all__ = ["forward", "inverse", "METHODS", "resolve_method", "gl_grid_shape", "inverse_to_gl_grid",
           "forward_from_gl_grid"]

log = logging.getLogger("s2scatter")

METHODS = ("auto", "ducc", "jax")
"""Values of ``method=``: ``"auto"`` picks ``"ducc"`` on CPU, ``"jax"`` on accelerators."""


def resolve_method(method: str, L: int, sampling: str) -> str:
    """Check ``method`` (case-insensitive); pick the implementation for ``"auto"`` (``"ducc"`` on CPU)."""
    method = validate_choice(method, METHODS, "method")
    if method != "auto":
        return method
    platform = jax.default_backend()
    chosen = "ducc" if platform == "cpu" else "jax"
    log.debug("method='auto' -> %r (platform=%s, L=%d, sampling=%s)", chosen, platform, L, sampling)
    return chosen


def _prepare(L, spin, sampling, nside, reality, iter):
    L = _validate.check_L(L)
    spin = validate_spin(spin, L)
    sampling, nside = _validate.check_sampling(sampling, L, nside)
    reality = validate_bool(reality, "reality")
    if reality and spin != 0:
        raise ValueError(f"reality=True requires spin=0 (a spin-{spin} field is not real)")
    if isinstance(iter, bool) or not isinstance(iter, int) or iter < 0:
        raise ValueError(f"iter must be a non-negative integer, got {iter!r}")
    return L, spin, sampling, nside, bool(reality), (iter if sampling == "healpix" else 0)


_PLANS = BoundedDict("s2scatter.harmonic._spherical._PLANS", 256)


def _plan(kind, x, L, spin, sampling, nside, reality, iter, method):
    """Validate one call: ``(L, spin, sampling, nside, reality, iter, method, spec)``.

    Memoised on the arguments (with their types, so ``L=4.0`` still fails),
    the array's shape and dtype: a repeated eager call skips the checks, which
    cost ~50 us on the caches a transform has just evicted (~2% of an
    L = 256 transform), the oldest out first beyond 256 of them.  Calls
    that warn (L > 3 nside) are never memoised.
    """
    try:
        key = (kind, x.shape, x.dtype, method, L, spin, sampling, nside, reality, iter,
               type(L), type(spin), type(nside), type(reality), type(iter))
        hit = _PLANS.get(key)
    except TypeError:  # unhashable argument: the checks below name it
        key, hit = None, None
    if hit is not None:
        return hit
    L, spin, sampling, nside, reality, iter = _prepare(L, spin, sampling, nside, reality, iter)
    if kind == "forward":
        _validate.check_map(x, L, sampling, nside)
        if reality and jax.numpy.iscomplexobj(x):
            raise ValueError("f must be real when reality=True, got a complex array")
    else:
        _validate.check_flm(x, L)
    method = resolve_method(method, L, sampling)
    spec = _ducc_op.DuccSpec(L, spin, sampling, nside, reality, iter) if method == "ducc" else None
    plan = (L, spin, sampling, nside, reality, iter, method, spec)
    if key is not None and not (sampling == "healpix" and L > 3 * nside):
        _PLANS[key] = plan
    return plan


def forward(f, L, *, spin=0, sampling="mw", nside=None, reality=False, method="auto", iter=3):
    """Forward spherical-harmonic transform: map -> flm.

    Args:
        f: map, shape ``(..., *f_shape(L, sampling))``; leading axes are batch
            axes. Real or complex; float32 gives complex64, float64 complex128.
        L: band-limit (exclusive), ``L >= 1``.
        spin: spin weight ``s``, ``|s| < L``.
        sampling: ``"mw"``, ``"mwss"``, ``"dh"``, ``"gl"`` or ``"healpix"``.
        nside: HEALPix resolution, required iff ``sampling="healpix"``.
        reality: the map is real; exploit conjugate symmetry (``spin=0`` only).
        method: ``"auto"``, ``"ducc"`` or ``"jax"``.
        iter: Jacobi refinement steps for HEALPix (ignored elsewhere). HEALPix
            has no exact quadrature; the residual for a band-limited map with
            ``L <= 2 nside`` falls roughly geometrically with ``iter``
            (see ``docs/conventions.md``).

    Returns:
        flm of shape ``(..., L, 2L-1)``, entry ``[l, L-1+m]``, zero for
        ``|m| > l`` and ``l < |spin|``.

    Cost: O(L^3) per map on equiangular grids (one or two compiled SHTs for
    ``"ducc"``); HEALPix costs ``2*iter + 1`` SHTs.

    Example:
        >>> import numpy as np, s2scatter
        >>> L = 8
        >>> f = np.ones((L, 2 * L - 1))
        >>> flm = s2scatter.forward(f, L, reality=True)
        >>> bool(abs(flm[0, L - 1] - np.sqrt(4 * np.pi)) < 1e-6)
        True
    """
    f = _validate.as_float_array(f, "f")
    L, spin, sampling, nside, reality, iter, method, spec = _plan(
        "forward", f, L, spin, sampling, nside, reality, iter, method)
    if method == "ducc":
        # every non-finite sample reaches the m = 0 column: check there, not the whole map
        return _ducc_op.forward(f, spec, host_check=lambda out: _validate.check_finite_after(out[..., L - 1], f, "f"))
    _validate.check_finite(f, "f")
    from . import _jax

    return _jax.forward(f, L, spin=spin, sampling=sampling, nside=nside, reality=reality, iter=iter)


def inverse(flm, L, *, spin=0, sampling="mw", nside=None, reality=False, method="auto"):
    """Inverse spherical-harmonic transform: flm -> map.

    Args:
        flm: coefficients ``(..., L, 2L-1)``, entry ``[l, L-1+m]``; entries
            outside the band (``|m| > l`` or ``l < |spin|``) are not read,
            nor ``m < 0`` when ``reality=True``.  Non-finite coefficients raise ``ValueError`` (eager calls).
        L, spin, sampling, nside, method: as in :func:`forward`.
        reality: the signal is real, i.e. ``flm`` is conjugate-symmetric,
            ``f_l,-m = (-1)^m conj(f_lm)``: only ``m >= 0`` is read (``m < 0``
            follows by symmetry, ``Im f_l0`` is taken as zero), as in s2fft
            and healpy, at half the cost of the complex transform.

    Returns:
        map of shape ``(..., *f_shape(L, sampling))``; real iff ``reality``.

    Cost: O(L^3) per map on equiangular grids, O(L^2 nside) on HEALPix.

    Example:
        >>> import numpy as np, s2scatter
        >>> L = 8
        >>> flm = np.zeros((L, 2 * L - 1), complex); flm[0, L - 1] = np.sqrt(4 * np.pi)
        >>> f = s2scatter.inverse(flm, L, reality=True)
        >>> bool(np.allclose(f, 1.0))
        True
    """
    flm = _validate.as_float_array(flm, "flm")
    L, spin, sampling, nside, reality, _, method, spec = _plan(
        "inverse", flm, L, spin, sampling, nside, reality, 0, method)
    if method == "ducc":
        # a non-finite coefficient spreads over every equatorial ring: check one, not all flm
        return _ducc_op.inverse(flm, spec, host_check=lambda out: _validate.check_finite_after(
            _equator(out, sampling), flm, "flm"))
    _validate.check_finite(flm, "flm")
    from . import _jax

    return _jax.inverse(flm, L, spin=spin, sampling=sampling, nside=nside, reality=reality)


def _equator(f, sampling):
    """The ring nearest the equator of NumPy maps ``f`` ``(..., 2L-1 or 4 nside)``."""
    if sampling != "healpix":
        return f[..., f.shape[-2] // 2, :]
    nside = math.isqrt(f.shape[-1] // 12)
    start = 2 * nside * (nside - 1) + 4 * nside * nside  # polar cap, then nside rings of 4 nside
    return f[..., start : start + 4 * nside]


# transforms between band-limit L and a finer Gauss-Legendre grid
def gl_grid_shape(L_grid: int) -> tuple[int, int]:
    """``(ntheta, nphi)`` of the Gauss-Legendre grid used for band-limit ``L_grid``.

    ``ntheta = L_grid`` rings and an FFT-friendly ``nphi >= 2 L_grid - 1``
    (``ducc0.fft.good_size``); exact quadrature for products of fields whose
    band-limits add up to at most ``2 L_grid - 1``.
    """
    import ducc0

    return (int(L_grid), int(ducc0.fft.good_size(2 * int(L_grid) - 1, True)))


def inverse_to_gl_grid(flm, L, L_grid, *, spin=0, reality=False, method="auto"):
    """Synthesise band-limit-``L`` coefficients on the GL grid of band-limit ``L_grid >= L``.

    Cheaper than zero-padding to ``L_grid``: cost scales with ``L * L_grid``,
    not ``L_grid**2``. Returns maps of shape ``(..., *gl_grid_shape(L_grid))``.
    Differentiable, jit-able; internal building block of the scattering layer.
    """
    shape = gl_grid_shape(L_grid)
    method = resolve_method(method, L, "gl")
    if method == "ducc":
        return _ducc_op.inverse(flm, _ducc_op.DuccSpec(L, spin, "gl", None, bool(reality), 0, shape))
    from . import _jax

    return _jax.inverse_to_gl(flm, L, int(L_grid), shape[1], spin=spin, reality=bool(reality))


def forward_from_gl_grid(f, L, L_grid, *, spin=0, reality=False, method="auto"):
    """Analyse maps on the GL grid of band-limit ``L_grid`` up to band-limit ``L <= L_grid``.

    Exact for fields of band-limit ``<= 2 L_grid - L``; the adjoint-matched
    partner of :func:`inverse_to_gl_grid`. Returns ``(..., L, 2L-1)``.
    """
    shape = gl_grid_shape(L_grid)
    method = resolve_method(method, L, "gl")
    if method == "ducc":
        return _ducc_op.forward(f, _ducc_op.DuccSpec(L, spin, "gl", None, bool(reality), 0, shape))
    from . import _jax

    return _jax.forward_from_gl(f, L, int(L_grid), spin=spin, reality=bool(reality))
