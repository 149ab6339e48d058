"""Gaussian against non-Gaussian random fields with the same angular power spectrum.

The high-resolution classification task of the scattering paper (McEwen, Wallis,
Mavor-Parker, ICLR 2022).  Per pair (its own stream ``SeedSequence(seed, spawn_key=(offset + i,))``):
a Gaussian field with spectrum ``C_l``; an independent one ``g`` made non-Gaussian,
``f = g + level (g^2 - sigma^2) / sigma``, projected exactly onto ``l < L`` (``g^2`` on a
Gauss-Legendre grid at ``ceil((3L - 1)/2)``, no aliasing); then each degree of ``f`` rescaled
to the power of the pair's Gaussian map (``paired=True``) or of an independent
``C_l chi^2_{2l+1}`` draw, so a power-spectrum classifier is at chance and what remains
is in the phases.  In full, with the skewness per ``level``: ``docs/datasets.md``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import harmonic
from ..sampling import f_shape, validate_bool, validate_int, validate_L, validate_number, validate_sampling
from ._project import _batch_starts, _float_dtype


def default_spectrum(L):
    """The default ``C_l``: ``C_0 = 0`` and ``C_l ∝ 1 / (l + 1)`` for ``l >= 1``, unit map variance.

    No monopole, and ``(2l + 1) C_l`` nearly flat: every degree carries about
    the same share of the map's variance, ``sum_l (2l+1) C_l / 4 pi = 1``.

    >>> c = default_spectrum(8)
    >>> c.shape, float(c[0]), bool(np.isclose(((2 * np.arange(8) + 1) * c).sum() / (4 * np.pi), 1.0))
    ((8,), 0.0, True)
    """
    L = validate_L(L)
    ell = np.arange(L)
    cl = np.where(ell > 0, 1.0 / (ell + 1.0), 0.0)
    total = ((2 * ell + 1) * cl).sum() / (4 * np.pi)
    return cl / total if total > 0 else cl


def _spectrum(spectrum, L):
    if spectrum is None:
        return default_spectrum(L)
    if callable(spectrum):
        cl = np.asarray(spectrum(np.arange(L)), dtype=np.float64)
    else:
        cl = np.asarray(spectrum, dtype=np.float64)
    if cl.ndim != 1 or cl.shape[0] < L:
        raise ValueError(f"spectrum must give C_l for l = 0..L-1 (at least {L} values), got shape {cl.shape}")
    cl = cl[:L]
    if not np.all(np.isfinite(cl)) or np.any(cl < 0):
        raise ValueError("spectrum must be finite and non-negative")
    if not np.any(cl > 0):
        raise ValueError("spectrum must have some C_l > 0")
    return cl


def _gaussian_flm(z, sqrt_cl, out):
    """Write coefficients of real isotropic Gaussian fields into ``out`` ``(k, L', 2L'-1)``.

    ``z``: standard normals ``(k, 2, L, L)`` (real/imaginary part, ``l``,
    ``m >= 0``); ``f_l0 = sqrt(C_l) z_re`` is real and ``Re f_lm, Im f_lm ~
    N(0, C_l / 2)`` for ``0 < m <= l``; ``f_l,-m = (-1)^m conj(f_lm)``.
    Coefficients go to ``out[:, :L, c - L + 1 : c + L]`` with ``c`` its
    ``m = 0`` column; the rest of ``out`` is left alone.
    """
    L = sqrt_cl.shape[0]
    c = (out.shape[-1] - 1) // 2
    tri = np.tri(L, dtype=bool)  # m <= l
    amp = np.where(tri, sqrt_cl[:, None] * np.sqrt(0.5), 0.0)
    amp[:, 0] = sqrt_cl
    im = z[:, 1] * amp
    im[:, :, 0] = 0.0
    pos = out[:, :L, c: c + L]
    pos.real = z[:, 0] * amp
    pos.imag = im
    sign = (-1.0) ** np.arange(1, L)
    neg = pos[:, :, 1:] * sign
    out[:, :L, c - L + 1: c] = np.conj(neg[:, :, ::-1])


def _degree_power(flm):
    return np.sum(np.abs(flm) ** 2, axis=-1)


def gaussian_vs_nongaussian(n, L, *, level, seed=0, spectrum=None, sampling="mw", nside=None,
                            paired=True, offset=0, dtype=np.float32, batch_size=None,
                            method="auto", progress=False):
    """Gaussian and non-Gaussian random fields with the same angular power spectrum, with labels.

    Construction and why a power-spectrum classifier is at chance: module
    docstring, ``docs/datasets.md``.  Maps come in pairs: ``maps[2i]`` Gaussian (label 0),
    ``maps[2i + 1]`` non-Gaussian (label 1).  Pair ``i`` depends only on
    ``(seed, offset + i)``, so a large set can be made in pieces
    (``offset=0, 1000, ...``) identical to one call, and a shorter set is a
    prefix of a longer one.  Use different seeds for training and test sets.

    Args:
        n: number of maps, even (``n / 2`` pairs).
        L: band-limit of the maps.
        level: non-Gaussianity, ``>= 0``: ``f = g + level (g^2 - sigma^2) / sigma``
            before re-normalisation (0: both classes Gaussian).
        seed: non-negative integer.
        spectrum: ``C_l`` for ``l = 0..L-1``, as an array (at least ``L``
            values) or a function of the array of degrees; default
            :func:`default_spectrum`.
        sampling, nside: output sampling (``nside`` iff ``"healpix"``).
        paired: rescale each non-Gaussian map to the per-degree power of its
            pair's Gaussian map (default) or of an independent draw.
        offset: index of the first pair (a call makes pairs ``offset`` to
            ``offset + n/2 - 1``).
        dtype: output type (default ``float32``; computed in float64 when
            JAX's x64 mode is on, see :func:`s2scatter.forward`).
        batch_size: pairs per transform call; default: about 256 MB of work arrays.
        method: transform method, see :func:`s2scatter.forward`.
        progress: show a tqdm progress bar.

    Returns:
        ``(maps, labels)``: ``(n, *f_shape(L, sampling=sampling, nside=nside))``
        of ``dtype`` and ``int64`` ``(n,)``, band-limited at ``L``.

    Cost: per pair one inverse and one forward real SHT at ``1.5 L`` on
    Gauss-Legendre nodes and two inverse SHTs at ``L``, O(L^3) each (timings in
    ``docs/datasets.md``).  Memory: the output,
    ``n * npix * 4`` bytes for float32 (10,000 MW maps at L = 256: 5.2 GB).

    Raises:
        ValueError: naming the offending parameter.

    Example:
        >>> maps, labels = gaussian_vs_nongaussian(4, 16, level=0.5, seed=0, dtype=np.float64)
        >>> maps.shape, labels.tolist()
        ((4, 16, 31), [0, 1, 0, 1])
        >>> p = power_spectrum(maps, 16)
        >>> bool(np.allclose(p[0], p[1]))   # a pair shares its power spectrum
        True
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0 or n % 2:
        raise ValueError(f"n must be a non-negative even integer (pairs of maps), got n={n!r}")
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    validate_number(level, "level", minimum=0)
    validate_int(seed, "seed")
    validate_int(offset, "offset")
    validate_bool(paired, "paired")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be None or an integer >= 1, got batch_size={batch_size!r}")
    dtype = _float_dtype(dtype)
    cl = _spectrum(spectrum, L)
    sqrt_cl = np.sqrt(cl)
    sigma = np.sqrt(((2 * np.arange(L) + 1) * cl).sum() / (4 * np.pi))
    a = float(level) / sigma
    Lq = max((3 * L) // 2, L)  # = ceil((3L - 1) / 2): exact Gauss-Legendre projection of g^2 onto l < L
    dof = 2 * np.arange(L) + 1

    npairs = n // 2
    shape = f_shape(L, sampling=sampling, nside=nside)
    if batch_size is None:  # about 256 MB of work arrays (~96 bytes per Gauss-Legendre sample)
        batch_size = max(1, min(256, (256 << 20) // (96 * Lq * (2 * Lq - 1))))
    maps = np.empty((n,) + shape, dtype=dtype)
    for s in _batch_starts(npairs, batch_size, progress, "fields"):
        k = min(int(batch_size), npairs - s)
        z = np.empty((k, 2, 2, L, L))  # (pair, Gaussian map / field g, re/im, l, m)
        ref = np.empty((k, L))
        for i in range(k):
            rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(offset) + s + i,)))
            z[i] = rng.standard_normal((2, 2, L, L))
            if not paired:
                ref[i] = cl * rng.chisquare(dof)
        both = np.zeros((k, 2, L, 2 * L - 1), dtype=np.complex128)  # (pair, class, l, m)
        _gaussian_flm(z[:, 0], sqrt_cl, both[:, 0])
        flm_g = np.zeros((k, Lq, 2 * Lq - 1), dtype=np.complex128)
        _gaussian_flm(z[:, 1], sqrt_cl, flm_g)
        del z
        if paired:
            ref = _degree_power(both[:, 0])
        f = np.asarray(harmonic.inverse(flm_g, Lq, sampling="gl", reality=True, method=method))
        del flm_g
        f = f + a * (f * f - sigma ** 2)
        flm_ng = np.asarray(harmonic.forward(f, Lq, sampling="gl", reality=True, method=method))
        del f
        flm_ng = flm_ng[:, :L, Lq - L: Lq + L - 1]
        power = _degree_power(flm_ng)
        scale = np.sqrt(np.divide(ref, power, out=np.zeros_like(ref), where=power > 0))
        both[:, 1] = flm_ng * scale[..., None]
        maps[2 * s: 2 * (s + k)] = np.asarray(harmonic.inverse(
            both.reshape((2 * k, L, 2 * L - 1)), L, sampling=sampling, nside=nside, reality=True,
            method=method))
    labels = np.tile(np.array([0, 1], dtype=np.int64), npairs)
    return maps, labels


def power_spectrum(maps, L, *, sampling="mw", nside=None, method="auto"):
    """Estimated angular power spectrum of each real map, ``C_l = sum_m |f_lm|^2 / (2l + 1)``.

    Args:
        maps: ``(..., *f_shape(L, sampling=sampling, nside=nside))``.
        L, sampling, nside, method: as in :func:`s2scatter.forward`.

    Returns:
        float64 array ``(..., L)``.

    Cost: one forward real SHT per map.

    >>> import numpy as np
    >>> power_spectrum(np.ones((2, 4, 7)), 4).round(6).tolist()[0]
    [12.566371, 0.0, 0.0, 0.0]
    """
    flm = np.asarray(harmonic.forward(np.asarray(maps, dtype=np.float64), L, sampling=sampling,
                                      nside=nside, reality=True, method=method))
    return _degree_power(flm) / (2 * np.arange(L) + 1)
