"""Scales and filter banks of scale-discretised directional wavelets.

Conventions (confirmed against s2wav 1.0.4, ``s2wav/samples.py`` and
``s2wav/filters.py::filters_directional_vectorised``, read from the source):

* ``J_max = ceil(log(L) / log(lam))`` (evaluated exactly as s2wav does, in
  float64 logs); wavelet scales ``j = J_min .. J_max``.
* Scale ``j`` is supported on ``lam^(j-1) < l < lam^(j+1)``.  Its
  multiresolution band-limit is ``L_j = min(ceil(lam^(j'+1)), L)`` and its
  lowest degree ``ceil(lam^(j'-1))``, with ``j' = max(j, 1)`` (s2wav treats
  ``j = 0`` as ``j = 1`` for both; ``L_0`` is therefore generous, never short).
* Scaling band-limit ``L_scal = min(ceil(lam^J_min), L)``.
* Orientations at scale ``j`` (multiresolution): ``N_j = min(N, L_j)``, raised
  by one when ``N_j + N`` is odd so that ``N_j - 1`` has the parity of the
  non-zero ``n``; without multiresolution ``L_j = L_scal = L`` and ``N_j = N``.
* ``s_lm`` (:func:`directional_weights`): zero for ``l = 0``; for ``l >= 1``
  non-zero only for ``|m| < N`` with ``N + m`` odd, where
  ``s_lm = nu sqrt(C(g, (g - m)/2) / 2^g)``, ``g = min(N-1, l)`` if ``N + l``
  is odd else ``min(N-1, l-1)``, ``nu = 1`` (N odd) or ``i`` (N even).  Hence
  ``sum_m |s_lm|^2 = 1`` for ``l >= 1`` and ``conj(s_l,-m) = (-1)^m s_lm``
  (the wavelets are real on the sphere).
* ``Psi^j_lm = sqrt((2l+1)/(8 pi^2)) kappa_lam(l/lam^j) s_lm`` for
  ``j >= J_min`` (rows ``j < J_min`` are zero), ``Phi_l = sqrt((2l+1)/(4 pi))
  nu_lam(l/lam^J_min)``; both are zero for ``l < |spin|``.  No further spin
  factor: s2wav's ``spin0`` (spin-lowered wavelets) is not supported.
* Admissibility: ``(4 pi/(2l+1)) Phi_l^2 + (8 pi^2/(2l+1)) sum_jm |Psi^j_lm|^2 = 1``
  for every ``|spin| <= l < L`` (to rounding: the sum telescopes).

``quadrature="exact"`` (default) evaluates ``k_lam`` to a few ulps;
``quadrature="s2wav"`` reproduces s2wav's 300-step trapezoidal ``k_lam`` so
that filters agree with s2wav to ~1e-16 (the exact kernels differ from s2wav's
by up to ~6e-6 in ``k`` and ~4e-5 in filter values, which are O(1)).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from .._config import bounded_cache
from .._limits import check_count
from ..sampling import validate_choice, validate_int, validate_L, validate_N, validate_spin
from . import _kernels


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_L(L):
    if validate_L(L) < 2:
        raise ValueError(f"L must be an integer >= 2 (exclusive band-limit), got L={L!r}")
    return int(L)


def _check_LN(L, N):
    """``(L, N)`` as ints, ``L >= 2`` and ``1 <= N <= L``; raises naming the parameter."""
    L, N = _check_L(L), validate_N(N)
    if N > L:
        raise ValueError(f"N must satisfy N <= L = {L}, got N={N}")
    return L, N


def j_max(L: int, lam: float) -> int:
    """``ceil(log L / log lam)`` exactly as s2wav's ``samples.j_max``."""
    return int(np.ceil(np.log(L) / np.log(lam)))


@dataclasses.dataclass(frozen=True)
class Scales:
    """Scale bookkeeping for band-limit ``L``, factor ``lam`` and first scale ``J_min``.

    Attributes:
        L, lam, J_min: as given.
        J_max: last scale ``ceil(log_lam L)``.
        L_j: multiresolution band-limit of each scale, a tuple indexed
            ``j - J_min`` for ``j = J_min .. J_max``.
        ell_min_j: lowest degree each scale can touch (same indexing); the
            wavelet is exactly zero below it.
        L_scal: multiresolution band-limit of the scaling coefficients.
    """

    L: int
    lam: float
    J_min: int
    J_max: int
    L_j: tuple
    ell_min_j: tuple
    L_scal: int

    @property
    def js(self) -> tuple:
        """The scale indices ``(J_min, ..., J_max)``."""
        return tuple(range(self.J_min, self.J_max + 1))

    @property
    def n_scales(self) -> int:
        """Number of wavelet scales ``J_max - J_min + 1``."""
        return self.J_max - self.J_min + 1

    def bandlimit(self, j: int, multiresolution: bool = True) -> int:
        """Band-limit of scale ``j`` (``L`` without multiresolution)."""
        self._check_j(j)
        return self.L_j[j - self.J_min] if multiresolution else self.L

    def scal_bandlimit(self, multiresolution: bool = True) -> int:
        """Band-limit of the scaling coefficients (``L`` without multiresolution)."""
        return self.L_scal if multiresolution else self.L

    def orientations(self, j: int, N: int, multiresolution: bool = True) -> int:
        """Number ``N_j`` of the scale's SO(3) grid: ``2 N_j - 1`` orientations (s2wav ``LN_j``)."""
        N = validate_N(N)
        if not multiresolution:
            return N
        Nj = min(N, self.bandlimit(j))
        return Nj + (Nj + N) % 2

    def _check_j(self, j):
        if not _is_int(j) or not (self.J_min <= j <= self.J_max):
            raise ValueError(f"j must be an integer in [{self.J_min}, {self.J_max}], got j={j!r}")


def scales(L, *, lam=2.0, J_min=0) -> Scales:
    """Wavelet scales for band-limit ``L`` (s2wav's integer conventions).

    Args:
        L: band-limit, ``L >= 2``.
        lam: scale factor ``> 1``.
        J_min: first wavelet scale, ``0 <= J_min <= J_max``.

    Returns:
        :class:`Scales`.

    Raises:
        ValueError: naming the parameter; also when the bank would have more
            than ``max_scales`` scales (default 100, see :func:`s2scatter.set_limits`),
            i.e. ``lam`` very close to 1.

    Example:
        >>> from s2scatter.wavelets import scales
        >>> s = scales(64)
        >>> s.J_max, s.L_j, s.L_scal
        (6, (4, 4, 8, 16, 32, 64, 64), 1)
    """
    L = _check_L(L)
    lam = _kernels.check_lam(lam)
    J = j_max(L, lam)
    J_min = validate_int(J_min, "J_min")
    if J_min > J:
        raise ValueError(f"J_min must satisfy J_min <= J_max = {J} for L={L}, lam={lam}; got J_min={J_min}")
    check_count("max_scales", J - J_min + 1,
                f"L={L}, lam={lam}, J_min={J_min} give {J - J_min + 1} wavelet scales (lam too close to 1?)")
    jj = [max(j, 1) for j in range(J_min, J + 1)]  # s2wav treats j = 0 as j = 1
    L_j = tuple(min(math.ceil(lam ** (j + 1)), L) for j in jj)
    return Scales(L, lam, J_min, J, L_j, tuple(math.ceil(lam ** (j - 1)) for j in jj), min(math.ceil(lam**J_min), L))


@bounded_cache(64)
def _directional_weights(L, N):
    nu = 1.0 if N % 2 else 1j
    s = np.zeros((L, 2 * L - 1), dtype=np.complex128)
    for el in range(1, L):
        g = min(N - 1, el) if (N + el) % 2 else min(N - 1, el - 1)
        for m in range(-min(el, N - 1), min(el, N - 1) + 1):
            if (N + m) % 2:
                s[el, L - 1 + m] = nu * _kernels.binomial_weight(g, m)
    s.flags.writeable = False
    return s


def directional_weights(L, N):
    """Directional weights ``s_lm``, shape ``(L, 2L-1)`` complex, entry ``[l, L-1+m]``.

    Binomial weights with ``sum_m |s_lm|^2 = 1`` for ``l >= 1`` (``s_00 = 0``);
    ``N = 1`` gives ``s_l0 = 1`` (axisymmetric).  Read-only, cached.

    Example:
        >>> from s2scatter.wavelets import directional_weights
        >>> s = directional_weights(4, 3)
        >>> (abs(s[3, 1:6]) ** 2).round(3).tolist()
        [0.25, 0.0, 0.5, 0.0, 0.25]
    """
    L, N = _check_LN(L, N)
    return _directional_weights(L, N)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class WaveletFilters:
    """A filter bank in harmonic space; a JAX pytree whose leaves are ``psi_n`` and ``phi``.

    The wavelets vanish for ``|m| >= N``, so they are stored compactly; the
    full ``(J_max+1, L, 2L-1)`` array (s2wav's layout) is the :attr:`psi`
    property, a new array on each access (1.6 GB at L=2048; the transforms
    never build it).

    Attributes:
        psi_n: ``Psi^j_ln`` for ``|n| < N``: ``(J_max+1, L, 2N-1)`` complex,
            entry ``[j, l, N-1+n]``; rows ``j < J_min`` are zero.
        phi: scaling function ``Phi_l``, ``(L,)`` real.
        scales: the :class:`Scales`.
        N: azimuthal band-limit; spin: spin the filters were built for;
        quadrature: ``"exact"`` or ``"s2wav"`` (see :mod:`._kernels`).
    """

    psi_n: object
    phi: object
    scales: Scales
    N: int
    spin: int = 0
    quadrature: str = "exact"

    @property
    def psi(self):
        """Wavelets ``Psi^j_lm`` in s2wav's layout ``(J_max+1, L, 2L-1)``, entry ``[j, l, L-1+m]`` (a new array)."""
        xp = np if isinstance(self.psi_n, np.ndarray) else jax.numpy
        pad = self.L - self.N  # |m| >= N is zero
        return xp.pad(self.psi_n, [(0, 0)] * (self.psi_n.ndim - 1) + [(pad, pad)])

    @property
    def L(self) -> int:
        """Band-limit ``L`` (exclusive) of the bank."""
        return self.scales.L

    @property
    def lam(self) -> float:
        """Scale factor ``lam``."""
        return self.scales.lam

    @property
    def J_min(self) -> int:
        """First wavelet scale."""
        return self.scales.J_min

    @property
    def J_max(self) -> int:
        """Last wavelet scale, ``ceil(log_lam L)``."""
        return self.scales.J_max

    def tree_flatten(self):
        """JAX pytree protocol: the filter arrays are the leaves, the settings static."""
        return (self.psi_n, self.phi), (self.scales, self.N, self.spin, self.quadrature)

    @classmethod
    def tree_unflatten(cls, aux, children):
        """JAX pytree protocol: the inverse of :meth:`tree_flatten`."""
        return cls(children[0], children[1], *aux)


@bounded_cache(8)
def _build(L, N, J_min, lam, spin, quadrature):
    sc = scales(L, lam=lam, J_min=J_min)
    J = sc.J_max
    ell = np.arange(L)
    if quadrature == "exact":  # direct evaluation: small values keep their relative accuracy
        kappa = np.stack([_kernels.kappa_lam(ell / lam**j, lam) for j in range(J + 1)])
        nu = _kernels.nu_lam(ell / lam**J_min, lam)
    else:  # s2wav's table and differences, bit for bit
        k = _kernels.k_table(L, lam, J, quadrature)
        kappa = np.sqrt(np.maximum(k[1:] - k[:-1], 0.0))  # (J+1, L): kappa_lam(l / lam^j)
        nu = np.sqrt(k[J_min])
    kappa[:J_min] = 0.0
    s = _directional_weights(L, N)[:, L - N : L - 1 + N]  # |m| < N
    psi = (kappa * (np.sqrt((2 * ell + 1) / 8.0) / np.pi))[:, :, None] * s[None]
    phi = nu * np.sqrt((2 * ell + 1) / (4.0 * np.pi))
    psi[:, : abs(spin)] = 0.0
    phi[: abs(spin)] = 0.0
    for j in range(J_min, J + 1):  # the scale bookkeeping must cover the support
        lo, hi = sc.ell_min_j[j - J_min], sc.L_j[j - J_min]
        assert not np.any(psi[j, :lo]) and (hi == L or not np.any(psi[j, hi:])), (L, lam, j)
    assert sc.L_scal == L or not np.any(phi[sc.L_scal :])
    psi.flags.writeable = False
    phi.flags.writeable = False
    return WaveletFilters(psi, phi, sc, N, spin, quadrature)


def filters(L, *, N=1, J_min=0, lam=2.0, spin=0, quadrature="exact") -> WaveletFilters:
    """Directional wavelet and scaling filters in harmonic space, built once and cached.

    Args:
        L: band-limit, ``L >= 2``.
        N: azimuthal band-limit of the wavelets, ``1 <= N <= L`` (N=1: axisymmetric).
        J_min: first wavelet scale, ``0 <= J_min <= J_max = ceil(log_lam L)``.
        lam: scale factor ``> 1``.
        spin: spin of the signals to analyse (filters vanish for ``l < |spin|``).
        quadrature: ``"exact"`` (default) or ``"s2wav"`` (s2wav 1.0.4's trapezoidal
            ``k_lam``, for bit-level comparisons only).

    Returns:
        :class:`WaveletFilters` with read-only NumPy arrays ``psi_n``
        ``(J_max+1, L, 2N-1)`` complex128 (``.psi`` expands it to
        ``(J_max+1, L, 2L-1)``) and ``phi`` ``(L,)`` float64.

    Cost: O(J L N) once per argument set (then cached).

    Example:
        >>> import numpy as np
        >>> from s2scatter.wavelets import filters
        >>> fb = filters(16, N=3)
        >>> fb.psi.shape, fb.psi_n.shape, fb.phi.shape, fb.scales.J_max
        ((5, 16, 31), (5, 16, 5), (16,), 4)
        >>> ell = np.arange(16)
        >>> adm = (4 * np.pi * fb.phi**2 + 8 * np.pi**2 * (abs(fb.psi_n) ** 2).sum((0, 2))) / (2 * ell + 1)
        >>> bool(np.allclose(adm, 1.0, atol=1e-14))
        True
    """
    L, N = _check_LN(L, N)
    lam = _kernels.check_lam(lam)
    spin = validate_spin(spin, L)
    quadrature = validate_choice(quadrature, _kernels.QUADRATURES, "quadrature")
    scales(L, lam=lam, J_min=J_min)  # validates J_min with a clear message
    return _build(L, N, int(J_min), lam, spin, quadrature)
