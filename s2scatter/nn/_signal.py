"""Generalised signals: sets of fragments ``f^l_t`` that rotate by ``D^l``.

A generalised signal (Cobb et al., ICLR 2021, arXiv:2010.11661) holds, for each
degree ``l < L``, ``tau_l`` fragments ``f^l_t`` in ``C^{2l+1}`` (entries
``m = -l..l``); a rotation ``R`` acts on each fragment by the Wigner-D matrix,
``f^l_t -> D^l(R) f^l_t``, exactly as :func:`s2scatter.rotate` acts on the
degree-``l`` row of ``flm`` (``rotate(flm)[l, L-1+m] = sum_n D^l_{mn} flm[l, L-1+n]``).

Storage: :class:`Signal` is a pytree whose leaves are the ``L`` arrays::

    fragments[l].shape == (*batch, C, tau_l, 2l + 1)    entry [..., c, t, l + m]

``C`` channels (what a channel-wise operation pairs), ``tau_l`` fragments per
channel and degree.  Conversions:

* an S^2 signal with ``C`` channels, ``flm (*batch, C, L, 2L-1)``: ``tau_l = 1``
  (:func:`from_flm`, :func:`to_flm`);
* an SO(3) signal, ``flmn (*batch, C, 2N-1, L, 2L-1)``: the columns
  ``f^l_{., n}`` rotate by ``D^l`` (``f(R^{-1} g)`` has coefficients
  ``D^l(R) f^l``), so ``tau_l = 2 min(l, N-1) + 1`` fragments, ``t = n + min(l, N-1)``
  (:func:`from_flmn`, :func:`to_flmn`).

Fragments are complex (complex64 for float32 inputs, complex128 for float64).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..harmonic import wigner_D
from ..harmonic.checks import as_float_array, check_finite
from ..sampling import validate_int

__all__ = ["Signal", "SignalSpec", "from_flm", "to_flm", "from_flmn", "to_flmn", "rotate_signal"]


@dataclasses.dataclass(frozen=True)
class SignalSpec:
    """Static description of a generalised signal: degrees, channels, multiplicities.

    Attributes:
        L: number of degrees (``0 <= l < L``).
        channels: ``C``.
        taus: ``tau_l`` per degree (length ``L``; zeros allowed).
    """

    L: int
    channels: int
    taus: tuple

    def __post_init__(self):
        object.__setattr__(self, "L", validate_int(self.L, "L", minimum=1))
        object.__setattr__(self, "channels", validate_int(self.channels, "channels", minimum=1))
        taus = tuple(int(t) for t in self.taus)
        if len(taus) != self.L or any(t < 0 for t in taus):
            raise ValueError(f"taus must be {self.L} non-negative integers, got {self.taus!r}")
        object.__setattr__(self, "taus", taus)

    @classmethod
    def s2(cls, L: int, channels: int = 1) -> "SignalSpec":
        """Spec of an S^2 signal: ``tau_l = 1``."""
        return cls(L, channels, (1,) * L)

    @classmethod
    def so3(cls, L: int, N: int, channels: int = 1) -> "SignalSpec":
        """Spec of an SO(3) signal of azimuthal band-limit ``N``: ``tau_l = 2 min(l, N-1) + 1``."""
        return cls(L, channels, tuple(2 * min(l, N - 1) + 1 for l in range(L)))

    @property
    def size(self) -> int:
        """Complex numbers per batch element: ``C sum_l tau_l (2l+1)``."""
        return self.channels * sum(t * (2 * l + 1) for l, t in enumerate(self.taus))

    def __repr__(self):
        return f"SignalSpec(L={self.L}, channels={self.channels}, taus={self.taus})"


@jax.tree_util.register_pytree_node_class
class Signal:
    """A batch of generalised signals: ``fragments[l]`` of shape ``(*batch, C, tau_l, 2l+1)``.

    A pytree (leaves: the ``L`` fragment arrays), so it passes through ``jit``,
    ``vmap``, ``grad`` and ``tree_map``.  See the module docstring for the maths.

    Example:
        >>> import numpy as np
        >>> from s2scatter.nn import Signal
        >>> x = Signal([np.ones((2, 3, 1, 2 * l + 1), complex) for l in range(4)])
        >>> x.spec, x.batch_shape
        (SignalSpec(L=4, channels=3, taus=(1, 1, 1, 1)), (2,))
    """

    __slots__ = ("fragments",)

    def __init__(self, fragments):
        frags = tuple(fragments)
        if not frags:
            raise ValueError("a Signal needs at least one degree (fragments is empty)")
        frags = tuple(_as_complex(f, l) for l, f in enumerate(frags))
        f0 = frags[0]
        batch, C = f0.shape[:-3], f0.shape[-3]
        for l, f in enumerate(frags):
            if f.ndim != f0.ndim or f.shape[:-3] != batch or f.shape[-3] != C or f.shape[-1] != 2 * l + 1:
                raise ValueError(
                    f"fragments[{l}] has shape {tuple(f.shape)}; expected (*batch, C, tau_l, {2 * l + 1}) "
                    f"with batch={tuple(batch)}, C={C} (from fragments[0])"
                )
            if f.dtype != f0.dtype:
                raise ValueError(f"fragments[{l}] has dtype {f.dtype}, fragments[0] has {f0.dtype}")
        self.fragments = frags

    # -- pytree ---------------------------------------------------------------
    def tree_flatten(self):
        """JAX pytree protocol: the fragments are the leaves."""
        return self.fragments, None

    @classmethod
    def tree_unflatten(cls, aux, children):
        """JAX pytree protocol: the inverse of :meth:`tree_flatten` (no checks)."""
        obj = object.__new__(cls)
        obj.fragments = tuple(children)  # no checks: JAX may pass placeholders
        return obj

    # -- metadata -------------------------------------------------------------
    @property
    def L(self) -> int:
        """Band-limit: the number of degrees ``l = 0 .. L-1``."""
        return len(self.fragments)

    @property
    def channels(self) -> int:
        """Number of channels ``C``."""
        return int(self.fragments[0].shape[-3])

    @property
    def taus(self) -> tuple:
        """Multiplicities ``tau_l``, one per degree."""
        return tuple(int(f.shape[-2]) for f in self.fragments)

    @property
    def spec(self) -> SignalSpec:
        """The static description ``SignalSpec(L, channels, taus)``."""
        return SignalSpec(self.L, self.channels, self.taus)

    @property
    def batch_shape(self) -> tuple:
        """Leading batch axes of every fragment."""
        return tuple(self.fragments[0].shape[:-3])

    @property
    def dtype(self):
        """Dtype of the fragments (all equal)."""
        return self.fragments[0].dtype

    def __getitem__(self, l):
        return self.fragments[l]

    def __len__(self):
        return self.L

    def __repr__(self):
        return f"Signal(L={self.L}, channels={self.channels}, taus={self.taus}, batch={self.batch_shape}, dtype={self.dtype})"

    # -- algebra --------------------------------------------------------------
    def map(self, fn) -> "Signal":
        """Apply ``fn`` to every fragment array (must keep the trailing axes)."""
        return Signal.tree_unflatten(None, [fn(f) for f in self.fragments])

    def __add__(self, other):
        return jax.tree_util.tree_map(jnp.add, self, other)

    def __sub__(self, other):
        return jax.tree_util.tree_map(jnp.subtract, self, other)

    def __mul__(self, scalar):
        return self.map(lambda f: f * scalar)

    __rmul__ = __mul__

    def norm(self):
        """L2 norm over all fragments (per batch element): ``(*batch,)``."""
        s = sum(jnp.sum(jnp.abs(f) ** 2, axis=(-3, -2, -1)) for f in self.fragments)
        return jnp.sqrt(s)

    def rotate(self, rotation) -> "Signal":
        """:func:`rotate_signal` of this signal."""
        return rotate_signal(self, rotation)

    def astype(self, dtype) -> "Signal":
        """Cast the fragments to a complex dtype (``float32`` -> ``complex64`` etc.)."""
        cdt = jnp.result_type(dtype, jnp.complex64)
        return self.map(lambda f: f.astype(cdt))


def _check_signal(x):
    if not isinstance(x, Signal):
        raise ValueError(f"x must be an s2scatter.nn.Signal, got {type(x).__name__}")


def _as_complex(f, l):
    arr = f if isinstance(f, jax.core.Tracer) else jnp.asarray(f)
    if arr.ndim < 3:
        raise ValueError(f"fragments[{l}] has shape {tuple(arr.shape)}; expected (*batch, C, tau_l, {2 * l + 1})")
    if not jnp.issubdtype(arr.dtype, jnp.complexfloating):
        if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
            raise ValueError(f"fragments[{l}] must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(jnp.result_type(arr.dtype, jnp.complex64) if jnp.issubdtype(arr.dtype, jnp.floating)
                         else jnp.result_type(float, jnp.complex64))
    return arr


def from_flm(flm) -> Signal:
    """S^2 signals with ``C`` channels -> generalised signal with ``tau_l = 1``.

    Args:
        flm: ``(*batch, C, L, 2L-1)`` harmonic coefficients, entry ``[..., c, l, L-1+m]``
            (add a channel axis for one channel: ``flm[..., None, :, :]``).

    Returns:
        :class:`Signal` with ``fragments[l] = flm[..., :, l, None, L-1-l : L+l]``.

    Raises:
        ValueError: wrong shape, or NaN/inf in a concrete ``flm`` (not checked under ``jit``).

    Cost: copies, O(C L^2) per batch element.
    """
    flm = as_float_array(flm, "flm")
    if flm.ndim < 3 or flm.shape[-1] != 2 * flm.shape[-2] - 1:
        raise ValueError(f"flm has shape {tuple(flm.shape)}; expected (*batch, C, L, 2L-1)")
    check_finite(flm, "flm")
    L = flm.shape[-2]
    flm = jnp.asarray(flm).astype(jnp.result_type(flm.dtype, jnp.complex64))
    return Signal.tree_unflatten(None, [flm[..., :, l, None, L - 1 - l : L + l] for l in range(L)])


def to_flm(x: Signal):
    """Generalised signal with ``tau_l = 1`` -> ``flm (*batch, C, L, 2L-1)`` (inverse of :func:`from_flm`)."""
    if any(t != 1 for t in x.taus):
        raise ValueError(f"to_flm needs tau_l = 1 for every degree (an S^2 signal); got taus={x.taus}")
    L = x.L
    rows = [jnp.pad(f[..., 0, :], [(0, 0)] * (f.ndim - 2) + [(L - 1 - l, L - 1 - l)]) for l, f in enumerate(x.fragments)]
    return jnp.stack(rows, axis=-2)


def from_flmn(flmn, N: int) -> Signal:
    """SO(3) signals -> generalised signal with ``tau_l = 2 min(l, N-1) + 1``.

    Args:
        flmn: ``(*batch, C, 2N-1, L, 2L-1)`` Wigner coefficients, entry
            ``[..., c, N-1+n, l, L-1+m]`` (:func:`s2scatter.wigner.forward` layout
            with a channel axis in front).
        N: azimuthal band-limit.

    Returns:
        :class:`Signal`, ``fragments[l][..., c, t, l+m] = flmn[..., c, N-1+n, l, L-1+m]``
        with ``n = t - min(l, N-1)``: the columns ``f^l_{., n}``, which rotate by ``D^l``.
    """
    flmn = as_float_array(flmn, "flmn")
    N = validate_int(N, "N", minimum=1)
    if flmn.ndim < 4 or flmn.shape[-3] != 2 * N - 1 or flmn.shape[-1] != 2 * flmn.shape[-2] - 1:
        raise ValueError(f"flmn has shape {tuple(flmn.shape)}; expected (*batch, C, {2 * N - 1}, L, 2L-1) for N={N}")
    L = flmn.shape[-2]
    if N > L:
        raise ValueError(f"N must satisfy N <= L = {L}, got N={N}")
    check_finite(flmn, "flmn")
    flmn = jnp.asarray(flmn).astype(jnp.result_type(flmn.dtype, jnp.complex64))
    frags = []
    for l in range(L):
        k = min(l, N - 1)
        frags.append(flmn[..., N - 1 - k : N + k, l, L - 1 - l : L + l])
    return Signal.tree_unflatten(None, frags)


def to_flmn(x: Signal, N: int):
    """Inverse of :func:`from_flmn`: ``(*batch, C, 2N-1, L, 2L-1)``."""
    N = validate_int(N, "N", minimum=1)
    want = SignalSpec.so3(x.L, N, x.channels).taus
    if x.taus != want:
        raise ValueError(f"to_flmn(N={N}) needs taus={want} (an SO(3) signal); got taus={x.taus}")
    L = x.L
    rows = []
    for l, f in enumerate(x.fragments):
        k = min(l, N - 1)
        pad = [(0, 0)] * (f.ndim - 2) + [(N - 1 - k, N - 1 - k), (L - 1 - l, L - 1 - l)]
        rows.append(jnp.pad(f, pad))
    return jnp.stack(rows, axis=-2)


def rotate_signal(x: Signal, rotation) -> Signal:
    """Rotate a generalised signal: ``f^l_t -> D^l(R) f^l_t`` for every fragment.

    Args:
        x: :class:`Signal`.
        rotation: ``(alpha, beta, gamma)`` ZYZ Euler angles (concrete numbers), the
            convention of :func:`s2scatter.rotate`: for an S^2 signal,
            ``to_flm(rotate_signal(from_flm(flm), R)) == rotate(flm, L, R)``.

    Returns:
        the rotated :class:`Signal` (same spec and dtype).

    Cost: ``O(L^3)`` for the matrices (:func:`s2scatter.harmonic.wigner_D`) plus
    ``sum_l C tau_l (2l+1)^2`` per batch element.
    """
    _check_signal(x)
    L = x.L
    D = wigner_D(L, rotation)
    blocks = [np.asarray(D[l, L - 1 - l : L + l, L - 1 - l : L + l]) for l in range(L)]
    return _apply_D(x, blocks)


@jax.jit
def _apply_D(x, blocks):
    out = [jnp.einsum("mn,...n->...m", Dl.astype(f.dtype), f) for Dl, f in zip(blocks, x.fragments)]
    return Signal.tree_unflatten(None, out)
