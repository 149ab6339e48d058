"""Exact rotation of band-limited signals in harmonic space.

Convention (pyssht ``rotate_flms``, s2fft ``rotate_flms``): ZYZ Euler angles
``(alpha, beta, gamma)``; the rotated signal is ``f'(w) = f(R^{-1} w)`` with

    f'_lm = sum_n D^l_{mn}(alpha, beta, gamma) f_ln,
    D^l_{mn} = e^{-i m alpha} d^l_{mn}(beta) e^{-i n gamma}.

Rotation acts on each degree ``l`` separately, so it is the same for spin
signals.  Methods:

* ``"jax"``: ``d(beta) = i^{n-m} Delta^T diag(e^{i k beta}) Delta`` with the
  precomputed ``Delta = d(pi/2)`` (Trapani-Navaza factorisation): two
  matrix-vector products per degree, O(L^3) flops, ``4 L^3`` bytes of Delta;
  differentiable in the coefficients *and* the angles, traced angles allowed.
* ``"ducc"``: ``ducc0.sht.rotate_alm`` (compiled, O(L^3), O(L^2) memory) for
  concrete angles; differentiable in the coefficients (the transpose is the
  inverse rotation).
* ``"auto"``: ``"ducc"`` on CPU with concrete angles, else ``"jax"``.

:func:`wigner_D` returns the matrices ``D^l(alpha, beta, gamma)`` themselves, for
code that rotates other objects that transform like ``flm`` (the fragments of a
generalised signal in :mod:`s2scatter.nn`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._config import bounded_cache
from .._dtypes import complex_dtype, real_dtype
from ..sampling import validate_choice
from . import _ducc, _primitive, _validate
from ._spherical import METHODS
from ._wigner_d import delta_halfpi, wigner_d_all

__all__ = ["rotate", "wigner_D"]


@bounded_cache(4)
def _delta(L, dtype):
    with jax.ensure_compile_time_eval():  # concrete even when first called under jit
        return jnp.asarray(delta_halfpi(L), dtype=dtype)


def _rotate_jax(flm, L, alpha, beta, gamma):
    D = _delta(L, real_dtype(flm.dtype))  # (L, 2L-1 [k], 2L-1 [m])
    m = jnp.arange(-(L - 1), L)
    im = jnp.asarray(1j ** np.arange(-(L - 1), L), dtype=flm.dtype)  # i^m
    pg = jnp.exp(-1j * m * gamma).astype(flm.dtype) * im
    pb = jnp.exp(1j * m * beta).astype(flm.dtype)
    pa = jnp.exp(-1j * m * alpha).astype(flm.dtype) * jnp.conj(im)
    x = flm * pg
    x = jnp.einsum("lkn,...ln->...lk", D.astype(flm.dtype), x) * pb
    x = jnp.einsum("lkm,...lk->...lm", D.astype(flm.dtype), x) * pa
    return x


@dataclasses.dataclass(frozen=True)
class _RotSpec:
    L: int
    angles: tuple


def _host_rotate(flm, spec: _RotSpec):
    import ducc0

    L = spec.L
    a, b, g = spec.angles
    batch = flm.shape[:-2]
    fb = flm.reshape((-1, L, 2 * L - 1))
    out = np.empty(fb.shape, dtype=complex_dtype(fb.dtype))
    nt = _ducc.get_num_threads()
    for i, fi in enumerate(fb):
        GC = _ducc._gc_of(fi.astype(out.dtype), 0)
        for c in range(2):
            GC[c] = ducc0.sht.rotate_alm(GC[c], L - 1, g, b, a, nthreads=nt)
        _ducc._flm_from_alm(GC, 0, out[i])
    return out.reshape(batch + (L, 2 * L - 1))


def _host_rotate_T(ct, spec: _RotSpec):
    a, b, g = spec.angles
    inv = _RotSpec(spec.L, (-g, -b, -a))
    return np.conj(_host_rotate(np.conj(ct), inv))


def _register():
    def cplx(dt, spec):
        return complex_dtype(dt)

    def shape(core, spec):
        return (spec.L, 2 * spec.L - 1)

    two = lambda spec: 2  # noqa: E731
    _primitive.register("ducc_rotate", _primitive.HostOp(_host_rotate, shape, two, cplx, "ducc_rotate_T"))
    _primitive.register("ducc_rotate_T", _primitive.HostOp(_host_rotate_T, shape, two, cplx, "ducc_rotate"))


_register()


def _concrete_angles(**angles):
    """Each angle as a float, or None where it is traced (or not a scalar): concrete angles
    must be finite real numbers (traced ones cannot be checked)."""
    out = []
    for name, x in angles.items():
        if isinstance(x, jax.core.Tracer):
            out.append(None)
            continue
        try:
            a = np.asarray(x)
        except Exception:  # noqa: BLE001 - anything that is not array-like
            a = None
        if a is None or a.dtype.kind not in "biuf":
            raise ValueError(f"rotation angle {name} must be a real number (radians), got {name}={x!r}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"rotation angle {name} must be finite, got {name}={x!r}")
        out.append(float(a) if a.size == 1 else None)
    return tuple(out)


def rotate(flm, L, rotation, *, method="auto"):
    """Rotate band-limited coefficients by ZYZ Euler angles.

    Args:
        flm: coefficients ``(..., L, 2L-1)`` (any spin; rotation acts per ``l``).
        L: band-limit.
        rotation: ``(alpha, beta, gamma)`` in radians, ZYZ; finite real scalars
            (may be traced with ``method="jax"``; traced angles are not checked).
        method: ``"auto"``, ``"ducc"`` or ``"jax"``.

    Returns:
        rotated coefficients, same shape, complex.

    Raises:
        ValueError: naming the angle when a concrete angle is NaN, infinite or not
            a real number.

    Cost: O(L^3) per signal.

    Example:
        >>> import numpy as np, s2scatter
        >>> L = 4
        >>> flm = np.zeros((L, 2 * L - 1), complex); flm[1, L - 1] = 1.0
        >>> out = s2scatter.rotate(flm, L, (0.0, np.pi, 0.0))
        >>> bool(np.isclose(out[1, L - 1], -1.0))
        True
    """
    L = _validate.check_L(L)
    flm = _validate.as_float_array(flm, "flm")
    _validate.check_flm(flm, L)
    _validate.check_finite(flm, "flm")
    try:
        alpha, beta, gamma = rotation
    except (TypeError, ValueError):
        raise ValueError(
            f"rotation must be a tuple (alpha, beta, gamma) of ZYZ Euler angles, got {rotation!r}"
        ) from None
    method = validate_choice(method, METHODS, "method")
    angles = _concrete_angles(alpha=alpha, beta=beta, gamma=gamma)
    concrete = all(a is not None for a in angles)
    if method == "auto":
        method = "ducc" if (jax.default_backend() == "cpu" and concrete) else "jax"
    if method == "ducc":
        if not concrete:
            raise ValueError("method='ducc' needs concrete rotation angles; use method='jax' under jit/grad in the angles")
        return _primitive.apply("ducc_rotate", flm, _RotSpec(L, angles))
    cdt = complex_dtype(flm.dtype)
    return _rotate_jax(jnp.asarray(flm).astype(cdt), L, alpha, beta, gamma)


def _euler_angles(rotation):
    try:
        alpha, beta, gamma = (float(np.asarray(x)) for x in rotation)
    except (TypeError, ValueError):
        raise ValueError(
            f"rotation must be a tuple (alpha, beta, gamma) of concrete ZYZ Euler angles, got {rotation!r}"
        ) from None
    if not all(np.isfinite((alpha, beta, gamma))):
        raise ValueError(f"rotation angles must be finite, got {rotation!r}")
    beta = float(np.mod(beta, 2 * np.pi))
    if beta > np.pi:  # R(a, b, g) = R(a + pi, 2 pi - b, g + pi)
        alpha, beta, gamma = alpha + np.pi, 2 * np.pi - beta, gamma + np.pi
    return alpha, beta, gamma


def wigner_D(L, rotation):
    """Wigner-D matrices ``D^l(alpha, beta, gamma)`` for every degree ``l < L``.

    ``D^l_{mn}(alpha, beta, gamma) = e^{-i m alpha} d^l_{mn}(beta) e^{-i n gamma}``
    (ZYZ Euler angles, Condon-Shortley phase; :mod:`s2scatter.harmonic._wigner_d`),
    the matrices that :func:`rotate` applies: ``rotate(flm, L, R)[l, L-1+m] =
    sum_n D[l, L-1+m, L-1+n] flm[l, L-1+n]``.  They form a representation:
    ``D^l(R1 R2) = D^l(R1) D^l(R2)`` with ``R = R_z(alpha) R_y(beta) R_z(gamma)``.

    Args:
        L: band-limit (``0 <= l < L``).
        rotation: ``(alpha, beta, gamma)`` in radians, concrete numbers (any
            real ``beta``: ``beta`` outside ``[0, pi]`` is folded back with
            ``R(a, b, g) = R(a + pi, 2 pi - b, g + pi)``).

    Returns:
        complex128 NumPy array ``(L, 2L-1, 2L-1)``, entry ``[l, L-1+m, L-1+n]``,
        zero where ``|m| > l`` or ``|n| > l``; each block ``D[l]`` is unitary.

    Cost: O(L^3) (Risbo's recursion for ``d(beta)``); accuracy ~1e-15 at small L,
    ~1e-14 at L = 256.

    Example:
        >>> import numpy as np
        >>> from s2scatter.harmonic import wigner_D
        >>> D = wigner_D(2, (0.3, 0.0, 0.0))    # a rotation about z multiplies by e^{-i m alpha}
        >>> bool(np.isclose(D[1, 2, 2], np.exp(-0.3j)))
        True
    """
    L = _validate.check_L(L)
    alpha, beta, gamma = _euler_angles(rotation)
    d = wigner_d_all(L, min(max(beta, 0.0), np.pi))
    m = np.arange(-(L - 1), L)
    return np.exp(-1j * m * alpha)[None, :, None] * d * np.exp(-1j * m * gamma)[None, None, :]
