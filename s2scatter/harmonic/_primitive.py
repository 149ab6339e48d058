"""A JAX primitive for linear operators evaluated on the host (compiled kernels).

Compiled spherical-harmonic kernels (ducc0) are plain NumPy functions.  To make
them first-class JAX citizens -- jit-able, vmap-able and differentiable in both
forward and reverse mode -- each *linear* operator is registered here together
with the name of its transpose.  One primitive, ``host_linear_p``, then carries:

* evaluation through :func:`jax.pure_callback` (the host function receives a
  NumPy array with arbitrary leading batch axes);
* a JVP that is the operator itself applied to the tangent (it is linear);
* a transpose rule that dispatches to the registered transpose operator, so
  ``jax.grad`` never differentiates through the callback;
* a batching rule that moves the batch axis to the front (host functions accept
  leading batch axes) -- no Python loop over vmapped calls.

Transposes follow JAX's convention for complex numbers: for a C-linear operator
``A`` the transpose is ``conj(A^H conj(ct))``; for a real-to-complex operator it
is the real part of that.  Each host transpose implements exactly that.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from . import _buffers

__all__ = ["HostOp", "register", "apply"]


@dataclasses.dataclass(frozen=True)
class HostOp:
    """A registered linear host operator.

    Attributes:
        fn: ``fn(x: np.ndarray, spec) -> np.ndarray``; accepts leading batch axes.
        out_shape: ``out_shape(core_in_shape, spec) -> core_out_shape`` (trailing axes).
        in_ndim: ``in_ndim(spec) -> int``, number of trailing (core) axes of the input.
        out_dtype: ``out_dtype(in_dtype, spec) -> dtype``.
        transpose: name of the registered transpose operator.
        jax_native: ``fn`` is itself a JAX function (lowered directly, no
            host callback): used for pure-JAX operators that need an explicit
            transpose, e.g. scans whose autodiff would store every step.
    """

    fn: Callable
    out_shape: Callable
    in_ndim: Callable
    out_dtype: Callable
    transpose: str
    jax_native: bool = False


_REGISTRY: dict[str, HostOp] = {}


def register(name: str, op: HostOp) -> None:
    """Register a host operator under ``name`` (idempotent)."""
    _REGISTRY[name] = op


host_linear_p = Primitive("s2scatter_host_linear")


@functools.lru_cache(maxsize=1024)
def _out_aval(x_shape, x_dtype, name, spec):
    op = _REGISTRY[name]
    nd = op.in_ndim(spec)
    batch = tuple(x_shape[: len(x_shape) - nd])
    core = tuple(x_shape[len(x_shape) - nd :])
    shape = batch + tuple(op.out_shape(core, spec))
    dtype = np.dtype(op.out_dtype(np.dtype(x_dtype), spec))
    return shape, dtype


def _abstract_eval(x, *, name, spec):
    shape, dtype = _out_aval(x.shape, x.dtype, name, spec)
    return jax.core.ShapedArray(shape, dtype)


def _callback_impl(x, *, name, spec):
    shape, dtype = _out_aval(x.shape, x.dtype, name, spec)
    op = _REGISTRY[name]
    fn = op.fn
    if op.jax_native:
        return fn(x, spec).astype(dtype)

    def host(xh):
        out = fn(np.asarray(xh), spec)
        return np.ascontiguousarray(out, dtype=dtype)

    return jax.pure_callback(
        host, jax.ShapeDtypeStruct(shape, dtype), x, vmap_method="expand_dims"
    )


def _transpose_rule(ct, x, *, name, spec):
    in_aval = x.aval
    if type(ct) is ad.Zero:
        return [ad.Zero(in_aval)]
    tname = _REGISTRY[name].transpose
    out = host_linear_p.bind(ct, name=tname, spec=spec)
    return [out.astype(in_aval.dtype)]


def _batch_rule(args, dims, *, name, spec):
    (x,), (d,) = args, dims
    x = jnp.moveaxis(x, d, 0)
    return host_linear_p.bind(x, name=name, spec=spec), 0


host_linear_p.def_impl(
    lambda x, *, name, spec: jax.jit(_callback_impl, static_argnames=("name", "spec"))(
        x, name=name, spec=spec
    )
)
host_linear_p.def_abstract_eval(_abstract_eval)
mlir.register_lowering(host_linear_p, mlir.lower_fun(_callback_impl, multiple_results=False))
ad.deflinear2(host_linear_p, _transpose_rule)
batching.primitive_batchers[host_linear_p] = _batch_rule


def _adopt(out: np.ndarray):
    """NumPy result -> JAX array, zero-copy when the buffer is 64-byte aligned.

    Through the public ``jax.dlpack.from_dlpack`` (25-100 us per call on a CPU,
    docs/performance.md, DLPack hand-over); an unaligned or strided result is copied.
    """
    if out.flags.c_contiguous and _buffers._address(out) % 64 == 0 and out.size:
        try:
            return jax.dlpack.from_dlpack(out, copy=False)  # JAX holds ``out`` (see _buffers)
        except (BufferError, RuntimeError, TypeError, ValueError):  # pragma: no cover
            pass
    return jnp.asarray(out)


_BACKEND: list = []


def _on_cpu() -> bool:
    """JAX's default backend is the CPU (looked up once: it is fixed once JAX has started)."""
    if not _BACKEND:
        _BACKEND.append(jax.default_backend() == "cpu")
    return _BACKEND[0]


def apply(name: str, x, spec, *, host_check=None):
    """Apply the registered linear host operator ``name`` to ``x``.

    ``spec`` must be hashable (a frozen dataclass); it is passed to the host
    function unchanged and identifies the compiled callback.  Concrete inputs
    (no tracing) skip the callback machinery: the host function runs directly
    and its aligned output is adopted by JAX without a copy -- on large maps
    the callback's copies would cost as much as the transform.  There,
    ``host_check(out)`` (if given) sees the NumPy result before JAX does and
    may raise (e.g. a finiteness probe); it is not called under tracing.
    """
    if name not in _REGISTRY:  # pragma: no cover - programming error
        raise KeyError(f"unknown host operator {name!r}")
    op = _REGISTRY[name]
    if not op.jax_native and not isinstance(x, jax.core.Tracer) and _on_cpu():
        xh = np.asarray(x)
        shape, dtype = _out_aval(xh.shape, xh.dtype, name, spec)
        if host_check is None:
            out = op.fn(xh, spec)
        else:  # the input is checked through the output: non-finite values may pass through
            with np.errstate(invalid="ignore", over="ignore"):
                out = op.fn(xh, spec)
                host_check(out)
        if out.dtype != dtype:
            out = out.astype(dtype)
        assert out.shape == shape, (out.shape, shape)
        return _adopt(out)
    return host_linear_p.bind(jnp.asarray(x), name=name, spec=spec)
