"""Wigner transforms on SO(3), built on spin spherical-harmonic transforms.

Convention (s2fft ``so3``)::

    f(alpha, beta, gamma) = sum_n sum_l sum_m (2l+1)/(8 pi^2) flmn D^{l*}_{mn}(alpha, beta, gamma)
    D^l_{mn}(alpha, beta, gamma) = e^{-i m alpha} d^l_{mn}(beta) e^{-i n gamma}

Layout: maps ``(..., 2N-1, *f_shape(L, sampling))`` stored ``[gamma, beta, alpha]``
with ``gamma_k = 2 pi k / (2N-1)``; coefficients ``flmn`` of shape
``(..., 2N-1, L, 2L-1)`` indexed ``[N-1+n, l, L-1+m]``.

Since ``e^{i m alpha} d^l_{mn}(beta) = (-1)^n sqrt(4pi/(2l+1)) _{-n}Y_lm(beta, alpha)``,
each orientation mode ``n`` is a spin ``-n`` transform of
``flmn (-1)^n sqrt(4pi (2l+1)) / (8 pi^2)``, combined over ``gamma`` by a length
``2N-1`` DFT.  Cost: ``2N-1`` spin SHTs (``N`` with ``reality``) plus the DFT.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..sampling import f_shape, validate_bool, validate_N, validate_sampling
from . import _spherical, _validate

__all__ = ["forward", "inverse"]


def _check_N(N, L):
    N = validate_N(N)
    if N > L:
        raise ValueError(f"N must satisfy N <= L = {L}, got N={N}")
    return int(N)


def _scale(L, n):
    ell = np.arange(L)
    return (-1.0) ** n * np.sqrt(4 * np.pi * (2 * ell + 1)) / (8 * np.pi**2)


def _flip_conj(x_n, L, n):
    """f^l_{-m,-n} = (-1)^{m+n} conj(f^l_{mn}) for real signals on SO(3)."""
    m = np.arange(-(L - 1), L)
    return jnp.conj(x_n[..., ::-1]) * jnp.asarray((-1.0) ** (m + n), dtype=x_n.real.dtype)


def inverse(flmn, L, N, *, sampling="mw", nside=None, reality=False, method="auto"):
    """Inverse Wigner transform: flmn ``(..., 2N-1, L, 2L-1)`` -> f on SO(3).

    Args:
        flmn: Wigner coefficients indexed ``[..., N-1+n, l, L-1+m]``.
        L: harmonic band-limit; N: azimuthal band-limit (``N <= L``).
        sampling, nside, method: as :func:`s2scatter.inverse`.
        reality: f is real: only ``n >= 0`` is read, the output is real.

    Returns:
        f of shape ``(..., 2N-1, *f_shape(L, sampling))``, axes ``[gamma, beta, alpha]``.

    Cost: ``2N-1`` spin SHTs (``N`` with ``reality``).

    Example:
        >>> import numpy as np, s2scatter
        >>> L, N = 4, 2
        >>> flmn = np.zeros((2 * N - 1, L, 2 * L - 1), complex); flmn[N - 1, 0, L - 1] = 8 * np.pi**2
        >>> f = s2scatter.wigner.inverse(flmn, L, N, reality=True)
        >>> bool(np.allclose(f, 1.0))
        True
    """
    L = _validate.check_L(L)
    N = _check_N(N, L)
    flmn = _validate.as_float_array(flmn, "flmn")
    if flmn.ndim < 3 or tuple(flmn.shape[-3:]) != (2 * N - 1, L, 2 * L - 1):
        raise ValueError(
            f"flmn has shape {tuple(flmn.shape)}; expected (..., {2 * N - 1}, {L}, {2 * L - 1}) "
            f"for L={L}, N={N}"
        )
    reality = validate_bool(reality, "reality")
    _validate.check_finite(flmn, "flmn")
    ns = range(0, N) if reality else range(-(N - 1), N)
    fn = {}
    for n in ns:
        x = flmn[..., N - 1 + n, :, :]
        g = x * jnp.asarray(_scale(L, n), dtype=x.real.dtype)[:, None]
        fn[n] = _spherical.inverse(g, L, spin=-n, sampling=sampling, nside=nside, method=method)
    if reality:
        for n in range(1, N):
            fn[-n] = jnp.conj(fn[n])
    stack = jnp.stack([fn[n] for n in range(-(N - 1), N)], axis=-1 - len(f_shape(L, sampling=sampling, nside=nside)))
    # f(gamma_k) = sum_n e^{i n gamma_k} f_n  (inverse DFT over the n axis)
    nax = stack.ndim - 1 - len(f_shape(L, sampling=sampling, nside=nside))
    shifted = jnp.fft.ifftshift(stack, axes=nax)
    out = jnp.fft.ifft(shifted, axis=nax) * (2 * N - 1)
    return out.real if reality else out


def forward(f, L, N, *, sampling="mw", nside=None, reality=False, method="auto"):
    """Forward Wigner transform: f on SO(3) -> flmn ``(..., 2N-1, L, 2L-1)``.

    Args:
        f: samples ``(..., 2N-1, *f_shape(L, sampling))``, axes ``[gamma, beta, alpha]``.
        L, N, sampling, nside, method: as :func:`inverse`.
        reality: f is real; ``n < 0`` coefficients follow by conjugate symmetry.

    Returns:
        flmn ``(..., 2N-1, L, 2L-1)`` indexed ``[N-1+n, l, L-1+m]``.

    Cost: ``2N-1`` spin SHTs (``N`` with ``reality``) and a length ``2N-1`` FFT.
    """
    L = _validate.check_L(L)
    N = _check_N(N, L)
    f = _validate.as_float_array(f, "f")
    sampling = validate_sampling(sampling, nside)
    reality = validate_bool(reality, "reality")
    fs = f_shape(L, sampling=sampling, nside=nside)
    k = len(fs)
    if f.ndim < k + 1 or tuple(f.shape[-k - 1 :]) != (2 * N - 1,) + tuple(fs):
        raise ValueError(
            f"f has shape {tuple(f.shape)}; expected (..., {2 * N - 1}, {', '.join(map(str, fs))}) "
            f"for L={L}, N={N}, sampling={sampling!r}"
        )
    if reality and jnp.iscomplexobj(f):
        raise ValueError("f must be real when reality=True, got a complex array")
    _validate.check_finite(f, "f")
    nax = f.ndim - 1 - k
    # f_n = (1/(2N-1)) sum_k f(gamma_k) e^{-i n gamma_k}
    fhat = jnp.fft.fftshift(jnp.fft.fft(f, axis=nax), axes=nax) / (2 * N - 1)
    ns = range(0, N) if reality else range(-(N - 1), N)
    out = {}
    for n in ns:
        fn_ = jnp.take(fhat, N - 1 + n, axis=nax)
        g = _spherical.forward(fn_, L, spin=-n, sampling=sampling, nside=nside, method=method)
        out[n] = g / jnp.asarray(np.where(np.arange(L) >= abs(n), _scale(L, n), 1.0), dtype=g.real.dtype)[:, None]
    if reality:
        for n in range(1, N):
            out[-n] = _flip_conj(out[n], L, n)
    return jnp.stack([out[n] for n in range(-(N - 1), N)], axis=-3)
