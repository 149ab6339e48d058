"""Flax NNX modules: thin wrappers that create parameters and call the functional core.

Each module is built from the :class:`SignalSpec` of its input (like
``nnx.Linear(in_features, out_features)``), exposes ``out_spec`` for the next
layer, and its ``__call__`` is a pure function of the parameters and the input
(:class:`EquivariantNorm` also updates its running statistics in training mode,
as ``nnx.BatchNorm`` does).  Parameters are real, ``param_dtype`` defaults to
JAX's default float type (float32, or float64 with ``jax_enable_x64``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..sampling import validate_int
from . import _functional as F
from ._signal import Signal, SignalSpec

__all__ = [
    "ConstrainedConvolution",
    "EquivariantNorm",
    "InvariantReadout",
    "Linear",
    "S2Activation",
    "SO3Activation",
    "TensorProduct",
    "default_float",
    "host_normal",
    "lecun_normal_host",
]


def default_float(dtype=None):
    """``dtype`` as a NumPy float dtype; None: float64 when ``jax_enable_x64`` is on, else float32."""
    if dtype is None:
        return np.dtype(np.float64) if jax.config.jax_enable_x64 else np.dtype(np.float32)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"param_dtype must be float32 or float64, got {dtype!r}")
    return dt


def host_normal(key, shape, dtype, std=1.0):
    """``std * N(0, 1)`` samples drawn on the host from a NumPy generator seeded by the JAX ``key``.

    Deterministic in ``key`` like ``jax.random.normal``, but without compiling a
    sampler for every parameter shape (dozens of shapes per model: seconds of
    compilation at construction).
    """
    bits = np.asarray(jax.random.key_data(key)).ravel().astype(np.uint32)
    return jnp.asarray(np.random.default_rng(bits).standard_normal(shape) * std, dtype=dtype)


def lecun_normal_host(key, shape, dtype=jnp.float32):
    """``nnx.Linear`` kernel initialiser: ``N(0, 1 / fan_in)``, drawn by :func:`host_normal`."""
    return host_normal(key, shape, dtype, 1.0 / math.sqrt(max(shape[0], 1)))


def _check_spec(spec, name="in_spec"):
    if not isinstance(spec, SignalSpec):
        raise ValueError(f"{name} must be a SignalSpec (e.g. Signal.spec or SignalSpec.s2(L, C)), "
                         f"got {type(spec).__name__}")
    return spec


def _taus(out_taus, L_out):
    if isinstance(out_taus, (int, np.integer)) and not isinstance(out_taus, bool):
        return (validate_int(out_taus, "out_taus"),) * L_out
    t = tuple(int(v) for v in out_taus)
    if len(t) != L_out or min(t) < 0:
        raise ValueError(f"out_taus must be an int or {L_out} non-negative ints, got {out_taus!r}")
    return t


class Linear(nnx.Module):
    """Generalised linear layer (:func:`s2scatter.nn.linear`) with learnable ``W^l``.

    ``g^l_{c',t'} = sum_{c,t} W^l_{c' t', c t} f^l_{c,t}``: mixes fragments of
    equal degree only, so it commutes with rotations.  Covers the S^2 -> SO(3)
    (``out_taus = SignalSpec.so3(L, N).taus`` from ``tau = 1``) and SO(3) -> SO(3)
    convolutions of Cobb et al. in harmonic space.

    Args:
        in_spec: :class:`SignalSpec` of the input.
        out_channels: ``C_out``.
        out_taus: fragments per output channel, an int (every degree) or one per degree.
        L_out: output band-limit ``<= in_spec.L`` (default ``in_spec.L``): keeps ``l < L_out``.
        use_bias: learnable bias on the ``l = 0`` fragments.
        complex_weights: complex ``W^l`` (two real parameters each).
        param_dtype: float32/float64 (default: JAX's default float).
        rngs: ``nnx.Rngs``; weights ``~ N(0, 1 / (C tau_l))`` per degree.

    Shapes: ``fragments[l] (*b, C, tau_l, 2l+1) -> (*b, C_out, tau_out_l, 2l+1)``.
    Cost: ``sum_l C_out tau_out_l C tau_l (2l+1)`` per batch element; as many
    parameters as ``sum_l C_out tau_out_l C tau_l`` (doubled if complex).

    Example:
        >>> import numpy as np
        >>> from flax import nnx
        >>> from s2scatter import nn
        >>> x = nn.from_flm(np.zeros((2, 3, 4, 7)))        # batch 2, 3 channels, L = 4
        >>> layer = nn.Linear(x.spec, 8, rngs=nnx.Rngs(0))
        >>> layer(x).spec
        SignalSpec(L=4, channels=8, taus=(1, 1, 1, 1))
    """

    def __init__(self, in_spec, out_channels, *, out_taus=1, L_out=None, use_bias=False, complex_weights=False,
                 param_dtype=None, rngs: nnx.Rngs):
        self.in_spec = _check_spec(in_spec)
        out_channels = validate_int(out_channels, "out_channels", minimum=1)
        L_out = in_spec.L if L_out is None else L_out
        if isinstance(L_out, bool) or not isinstance(L_out, (int, np.integer)) or not 1 <= L_out <= in_spec.L:
            raise ValueError(f"L_out must be an integer in [1, L = {in_spec.L}] (a linear layer cannot raise "
                             f"the band-limit), got {L_out!r}")
        taus = _taus(out_taus, int(L_out))
        self.out_spec = SignalSpec(int(L_out), out_channels, taus)
        self.complex_weights = bool(complex_weights)
        dt = default_float(param_dtype)
        ws = []
        for l in range(int(L_out)):
            fan_in = in_spec.channels * in_spec.taus[l]
            shape = (out_channels, taus[l], in_spec.channels, in_spec.taus[l])
            if self.complex_weights:
                shape = shape + (2,)
            std = 1.0 / math.sqrt(max(fan_in, 1) * (2 if self.complex_weights else 1))
            ws.append(nnx.Param(host_normal(rngs.params(), shape, dt, std)))
        self.weights = nnx.List(ws)
        self.bias = nnx.Param(jnp.zeros((out_channels, taus[0]), dt)) if use_bias else None

    def _weights(self):
        ws = [w[...] for w in self.weights]
        if self.complex_weights:
            ws = [jax.lax.complex(w[..., 0], w[..., 1]) for w in ws]
        return ws

    def __call__(self, x: Signal) -> Signal:
        if x.spec != self.in_spec:
            raise ValueError(f"x has spec {x.spec}; this layer expects {self.in_spec}")
        return F.linear(x, self._weights(), bias=None if self.bias is None else self.bias[...])


class TensorProduct(nnx.Module):
    """Clebsch-Gordan tensor product non-linearity (:func:`s2scatter.nn.tensor_product`); no parameters.

    Args:
        in_spec: :class:`SignalSpec` of the input.
        L_out: output band-limit (``<= 2L - 1``).
        degrees: ``"full"``, ``"mst"`` (default), ``"log"`` or explicit pairs.
        channels: ``"channelwise"`` (default) or ``"full"``.
        reality: the inputs are real signals (conjugate-symmetric fragments): half the work
            (:func:`s2scatter.nn.tensor_product_plan`).
        method: evaluation strategy, ``"auto"`` (default), ``"outer"`` or ``"matmul"``
            (:func:`s2scatter.nn.tensor_product_plan`); the same numbers to rounding.

    ``out_spec`` and ``plan.cost`` (multiply-adds per batch element) describe the output.
    """

    def __init__(self, in_spec, *, L_out, degrees="mst", channels="channelwise", reality=False, method="auto"):
        self.plan = F.tensor_product_plan(_check_spec(in_spec), L_out=L_out, degrees=degrees, channels=channels,
                                          reality=reality, method=method)
        self.in_spec = self.plan.spec_in
        self.out_spec = self.plan.spec_out

    def __call__(self, x: Signal) -> Signal:
        return F.tensor_product(x, self.plan)


class ConstrainedConvolution(nnx.Module):
    """Constrained generalised convolution (Cobb et al. 2021): channel-wise tensor product, then linear mixing.

    ``g^l_{c'} = sum_c sum_{(l1,l2) in P_l} sum_{t1,t2} W^l_{c', c (l1 l2 t1 t2)}
    [f^{l1}_{c,t1} (x) f^{l2}_{c,t2}]^l``: the product stays inside each channel
    (cost ``O(C L^4)`` with the ``"mst"`` set instead of ``O(C^2 L^5)``) and the
    learnable linear layer mixes channels and products.

    Args:
        in_spec: :class:`SignalSpec` of the input.
        out_channels: ``C_out``.
        L_out: output band-limit (``<= 2L - 1``).
        degrees: degree-mixing set (default ``"mst"``).
        channels: ``"channelwise"`` (default; the constrained layer) or ``"full"``.
        out_taus: fragments per output channel (default 1).
        use_bias, complex_weights, param_dtype, rngs: as :class:`Linear`.

    Cost: the product (``tensor_product.plan.cost``) plus the linear layer.
    """

    def __init__(self, in_spec, out_channels, *, L_out, degrees="mst", channels="channelwise", out_taus=1,
                 use_bias=False, complex_weights=False, param_dtype=None, rngs: nnx.Rngs):
        self.tensor_product = TensorProduct(in_spec, L_out=L_out, degrees=degrees, channels=channels)
        self.linear = Linear(self.tensor_product.out_spec, out_channels, out_taus=out_taus, use_bias=use_bias,
                             complex_weights=complex_weights, param_dtype=param_dtype, rngs=rngs)
        self.in_spec = self.tensor_product.in_spec
        self.out_spec = self.linear.out_spec

    def __call__(self, x: Signal) -> Signal:
        return self.linear(self.tensor_product(x))


class S2Activation(nnx.Module):
    """Sampling-based pointwise activation on S^2 (:func:`s2scatter.nn.s2_activation`); no parameters.

    Args:
        in_spec: :class:`SignalSpec` with ``tau_l = 1``.
        fn, oversampling, L_out, reality, method: as :func:`s2scatter.nn.s2_activation`.
    """

    def __init__(self, in_spec, *, fn="gelu", oversampling=2.0, L_out=None, reality=False, method="auto"):
        in_spec = _check_spec(in_spec)
        if any(t != 1 for t in in_spec.taus):
            raise ValueError(f"S2Activation needs tau_l = 1 (an S^2 signal per channel), got taus={in_spec.taus}")
        L_out = F._activation_setup(in_spec.L, fn, oversampling, L_out)[1]
        self.in_spec = in_spec
        self.out_spec = SignalSpec.s2(L_out, in_spec.channels)
        self.fn, self.oversampling, self.reality, self.method = fn, oversampling, bool(reality), method

    def __call__(self, x: Signal) -> Signal:
        return F.s2_activation(x, fn=self.fn, oversampling=self.oversampling, L_out=self.out_spec.L,
                               reality=self.reality, method=self.method)


class SO3Activation(nnx.Module):
    """Sampling-based pointwise activation on SO(3) (:func:`s2scatter.nn.so3_activation`); no parameters.

    Args:
        in_spec: :class:`SignalSpec` equal to ``SignalSpec.so3(L, N, C)``.
        N: azimuthal band-limit.
        fn, oversampling, L_out, method: as :func:`s2scatter.nn.so3_activation`.
    """

    def __init__(self, in_spec, N, *, fn="gelu", oversampling=2.0, L_out=None, method="auto"):
        in_spec = _check_spec(in_spec)
        if in_spec != SignalSpec.so3(in_spec.L, N, in_spec.channels):
            raise ValueError(f"SO3Activation(N={N}) needs taus={SignalSpec.so3(in_spec.L, N).taus}, "
                             f"got {in_spec.taus}")
        L_out = F._activation_setup(in_spec.L, fn, oversampling, L_out, N)[1]
        self.in_spec = in_spec
        self.out_spec = SignalSpec.so3(L_out, N, in_spec.channels)
        self.N, self.fn, self.oversampling, self.method = int(N), fn, oversampling, method

    def __call__(self, x: Signal) -> Signal:
        return F.so3_activation(x, self.N, fn=self.fn, oversampling=self.oversampling, L_out=self.out_spec.L,
                                method=self.method)


class EquivariantNorm(nnx.Module):
    """Equivariant normalisation of fragment norms (:func:`s2scatter.nn.equivariant_norm`).

    ``mode="batch"`` (default): statistics over the batch in training
    (``use_running_average=False``), running averages (``momentum``) in
    evaluation -- ``model.eval()`` / ``model.train()`` switch, as for
    ``nnx.BatchNorm``; the running statistics are ``nnx.BatchStat`` variables,
    the only state a call changes.  ``mode="layer"``: statistics of each batch
    element, no state.

    Args:
        in_spec: :class:`SignalSpec`.
        mode: ``"batch"`` or ``"layer"``.
        momentum: running-average decay.
        eps: added to the power.
        use_running_average: evaluation mode (``"batch"`` only).
        param_dtype: as :class:`Linear`.
        rngs: unused (accepted for a uniform constructor).

    Parameters: ``scale (L, C)`` (ones) and ``bias (C,)`` (zeros, ``l = 0`` only).
    """

    def __init__(self, in_spec, *, mode="layer", momentum=0.99, eps=1e-5, use_running_average=False,
                 param_dtype=None, rngs: nnx.Rngs | None = None):
        in_spec = _check_spec(in_spec)
        if mode not in ("batch", "layer"):
            raise ValueError(f"mode must be 'batch' or 'layer', got {mode!r}")
        dt = default_float(param_dtype)
        cdt = np.result_type(dt, np.complex64)
        self.in_spec = self.out_spec = in_spec
        self.mode, self.momentum, self.eps = mode, float(momentum), float(eps)
        self.use_running_average = bool(use_running_average)
        self.scale = nnx.Param(jnp.ones((in_spec.L, in_spec.channels), dt))
        self.bias = nnx.Param(jnp.zeros((in_spec.channels,), dt))
        if mode == "batch":
            self.mean = nnx.BatchStat(jnp.zeros((in_spec.channels,), cdt))
            self.power = nnx.BatchStat(jnp.ones((in_spec.L, in_spec.channels), dt))

    def __call__(self, x: Signal) -> Signal:
        if x.spec != self.in_spec:
            raise ValueError(f"x has spec {x.spec}; this layer expects {self.in_spec}")
        stats = None
        if self.mode == "batch":
            if self.use_running_average:
                stats = {"mean": self.mean[...], "power": self.power[...]}
            else:
                stats = F.batch_statistics(x)
                mom = self.momentum
                for run, new in ((self.mean, stats["mean"]), (self.power, stats["power"])):
                    run[...] = mom * run[...] + (1 - mom) * jax.lax.stop_gradient(new).astype(run[...].dtype)
        return F.equivariant_norm(x, scale=self.scale[...], bias=self.bias[...], stats=stats, mode=self.mode,
                                  eps=self.eps)


class InvariantReadout(nnx.Module):
    """Rotation-invariant features (:func:`s2scatter.nn.invariants`); no parameters.

    ``out_features`` features per batch element: real and imaginary parts of the
    ``l = 0`` fragments, norms of the others.
    """

    def __init__(self, in_spec):
        self.in_spec = _check_spec(in_spec)
        self.out_features = F.invariants_size(in_spec)

    def __call__(self, x: Signal):
        if x.spec != self.in_spec:
            raise ValueError(f"x has spec {x.spec}; this layer expects {self.in_spec}")
        return F.invariants(x)
