"""One scattering propagator step, fused on the host (the ``"ducc"`` method).

``u_lm -> |W_j u| -> coefficients`` where the modulus lives on a fine
Gauss-Legendre grid (up to ~1 GB per map at L = 4096).  Crossing the
JAX/host boundary with such grids costs more than the transforms, so the
whole step -- spin syntheses onto the grid, pooled modulus, analysis back to
``L_out`` -- runs inside one callback, and only coefficients cross.

Differentiable in reverse mode through :func:`jax.custom_vjp`: the backward
pass recomputes the grid fields from the saved (small) input coefficients and
applies the transposed transforms (ducc0 adjoint kernels) on the host:

    out = A(U),  U = sqrt(P),  P = sum_n wt_n |w_n|^2,  w_n = B_n(h_n * x)
    xbar = sum_n h_n * B_n^T( 2 wt_n Pbar conj(w_n) ),  Pbar = A^T(ct) / (2U)

(JAX's convention for complex cotangents; ``A^T``, ``B_n^T`` are the host
transposes of :mod:`s2scatter.harmonic.host`).  Forward-mode
differentiation is available through the pure-JAX path (``method="jax"``).
"""

from __future__ import annotations

import dataclasses
import functools
import weakref

import jax
import numpy as np

from .._dtypes import complex_dtype, real_dtype
from ..harmonic import gl_grid_shape, host

__all__ = ["Step", "modulus_step", "BANKS"]

# id(bank) -> FilterBank; weak so that dropping a Scattering frees its filters.
BANKS: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()


@dataclasses.dataclass(frozen=True)
class Step:
    """Static description of one propagator step (hashable)."""

    Lj: int  # band-limit of the input coefficients
    Lg: int  # Gauss-Legendre grid band-limit
    L_out: int  # band-limit of the output coefficients
    j: int  # wavelet scale
    reality: bool  # real input field: n >= 0 only, n = 0 real
    bank: int  # key into BANKS


def _specs(step: Step, n: int):
    shape = gl_grid_shape(step.Lg)
    real = step.reality and n == 0
    syn = host.DuccSpec(step.Lj, -n, "gl", None, real, 0, shape)
    return syn, real


def _analysis_spec(step: Step):
    return host.DuccSpec(step.L_out, 0, "gl", None, True, 0, gl_grid_shape(step.Lg))


def _fields(x, step: Step):
    """The grid fields w_n and the pooled modulus U for input coefficients x."""
    bank = BANKS[step.bank]
    ws, P = [], None
    for row, n, wt in zip(bank.h[step.j], bank.ns[step.j], bank.weights[step.j]):
        syn, real = _specs(step, n)
        c = x * row.astype(x.dtype)[:, None]
        w = host.inverse(c, syn)
        p = w * w if real else (w.real**2 + w.imag**2)
        if wt != 1.0:
            p *= wt
        P = p if P is None else P + p
        ws.append((w, n, wt, row))
    U = np.sqrt(P, out=P)
    return ws, U


def _pooled_modulus(x, step: Step):
    """U on the grid without forming complex fields: |w_n|^2 = t0^2 + t1^2 for the
    (Q, U)-type pair ducc0 returns for spin transforms (forward pass only)."""
    bank = BANKS[step.bank]
    P = None
    for row, n, wt in zip(bank.h[step.j], bank.ns[step.j], bank.weights[step.j]):
        syn, real = _specs(step, n)
        c = x * row.astype(x.dtype)[:, None]
        if real or n == 0:
            w = host.inverse(c, syn)
            p = np.multiply(w, w, out=w) if real else (w.real**2 + w.imag**2)
        else:
            # per batch item: ducc0 returns the two real components of the spin field
            batch = c.shape[:-2]
            cb = c.reshape((-1,) + c.shape[-2:])
            p = None
            for i, ci in enumerate(cb):
                t = host.alm_to_maps("synthesis", host.flm_to_gc(ci, -n), abs(n), syn,
                                     real_dtype(c.dtype))
                np.multiply(t, t, out=t)
                ti = t[0] + t[1]
                if p is None:
                    p = np.empty(cb.shape[:1] + ti.shape, ti.dtype)
                p[i] = ti
            p = p.reshape(batch + p.shape[1:])
        if wt != 1.0:
            p *= wt
        if P is None:
            P = p
        else:
            P += p
    return np.sqrt(P, out=P)


def _host_forward(x, step: Step):
    x = np.asarray(x)
    return host.forward(_pooled_modulus(x, step), _analysis_spec(step))


def _host_vjp(x, ct, step: Step):
    x = np.asarray(x)
    ct = np.asarray(ct)
    ws, U = _fields(x, step)
    Ubar = host.forward_transpose(ct, _analysis_spec(step))  # real, grid
    with np.errstate(divide="ignore", invalid="ignore"):
        Pbar = np.where(U > 0, Ubar / (2 * U), 0.0)
    del Ubar, U
    xbar = np.zeros(x.shape, dtype=np.result_type(x.dtype, np.complex64))
    for w, n, wt, row in ws:
        syn, real = _specs(step, n)
        wbar = 2 * wt * Pbar * (w if real else np.conj(w))
        cbar = host.inverse_transpose(wbar, syn)
        xbar += cbar * row.astype(xbar.dtype)[:, None]
    return xbar.astype(x.dtype if np.iscomplexobj(x) else xbar.dtype)


def _out_struct(x, step):
    cdt = complex_dtype(x.dtype)
    return jax.ShapeDtypeStruct(x.shape[:-2] + (step.L_out, 2 * step.L_out - 1), cdt)


def _call_forward(x, step):
    # a stable callable per step: a fresh lambda would defeat JAX's compilation cache
    return jax.pure_callback(functools.partial(_host_forward, step=step), _out_struct(x, step), x,
                             vmap_method="expand_dims")


def _make(step: Step):
    @jax.custom_vjp
    def f(x):
        return _call_forward(x, step)

    def fwd(x):
        return _call_forward(x, step), x

    def bwd(x, ct):
        xbar = jax.pure_callback(functools.partial(_host_vjp, step=step),
                                 jax.ShapeDtypeStruct(x.shape, x.dtype), x, ct,
                                 vmap_method="expand_dims")
        return (xbar,)

    f.defvjp(fwd, bwd)
    return f


_CACHE: dict = {}


def modulus_step(x, step: Step):
    """``U_j`` on coefficients ``x (..., Lj, 2Lj-1)`` -> ``(..., L_out, 2L_out-1)`` (host, fused)."""
    fn = _CACHE.get(step)
    if fn is None:
        fn = _CACHE[step] = _make(step)
    return fn(x)
