"""One scattering propagator step, fused on the host (the ``"ducc"`` method).

``u_lm -> |W_j u| -> coefficients`` with the modulus on a fine Gauss-Legendre grid (up
to ~1 GB per map at L = 4096), so the whole step runs inside one callback and only
coefficients cross the JAX/host boundary: :func:`s2scatter.scattering._core.propagate`
with :class:`HostOps` (NumPy and the harmonic layer's host kernels, in place).

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

import jax
import numpy as np

from .._config import bounded_cache
from .._dtypes import complex_dtype
from ..harmonic import gl_grid_shape, host
from ._core import Filters, pooled_modulus, propagate


@dataclasses.dataclass(frozen=True)
class Step:
    """Static description of one propagator step, hashable by value (filters included)."""

    Lj: int  # band-limit of the input coefficients
    Lg: int  # Gauss-Legendre grid band-limit
    L_out: int  # band-limit of the output coefficients
    reality: bool  # real input field: n >= 0 only, n = 0 real
    filters: Filters  # the scale's (row, n, weight) triples


def _specs(step: Step, n: int):
    """The spin ``-n`` synthesis onto the step's grid, and whether its field is real."""
    real = step.reality and n == 0
    return host.DuccSpec(step.Lj, -n, "gl", None, real, 0, gl_grid_shape(step.Lg)), real


def _analysis_spec(step: Step):
    return host.DuccSpec(step.L_out, 0, "gl", None, True, 0, gl_grid_shape(step.Lg))


class HostOps:
    """The step's array operations on NumPy arrays (see :func:`~._core.propagate`).

    ``fields``: when a list, :meth:`power` synthesises every complex field
    ``w_n`` and appends it (the backward pass reads them); otherwise spin
    fields are squared from ducc0's real (Q, U) pair without forming ``w_n``.
    """

    def __init__(self, step: Step, fields: list | None = None):
        self.step, self.fields = step, fields

    def power(self, c, n):
        """``|w|^2`` of the spin ``-n`` field ``w`` of coefficients ``c`` on the grid."""
        syn, real = _specs(self.step, n)
        if self.fields is None and not real and n != 0:
            return self._spin_power(c, n, syn)
        w = host.inverse(c, syn)
        keep = self.fields is not None
        if keep:
            self.fields.append(w)
        return np.multiply(w, w, out=None if keep else w) if real else (w.real**2 + w.imag**2)

    @staticmethod
    def _spin_power(c, n, syn):
        # filled item by item: one (Q, U) pair alive at a time (grids reach ~1 GB per map)
        batch, p = c.shape[:-2], None
        for i, ci in enumerate(c.reshape((-1,) + c.shape[-2:])):
            ti = host.spin_pair_power(ci, -n, syn)
            if p is None:
                p = np.empty((int(np.prod(batch, dtype=int)),) + ti.shape, ti.dtype)
            p[i] = ti
        return p.reshape(batch + p.shape[1:])

    @staticmethod
    def accumulate(P, p, wt):
        if wt != 1.0:
            p *= wt
        return p if P is None else np.add(P, p, out=P)

    @staticmethod
    def modulus(P):
        return np.sqrt(P, out=P)

    def analysis(self, U):
        return host.forward(U, _analysis_spec(self.step))


def _host_forward(x, step: Step):
    return propagate(np.asarray(x), step.filters, HostOps(step))


def _host_vjp(x, ct, step: Step):
    x, ct, ws = np.asarray(x), np.asarray(ct), []
    U = pooled_modulus(x, step.filters, HostOps(step, ws))
    Ubar = host.forward_transpose(ct, _analysis_spec(step))  # real, grid
    with np.errstate(divide="ignore", invalid="ignore"):
        Pbar = np.where(U > 0, Ubar / (2 * U), 0.0)
    del Ubar, U
    xbar = np.zeros(x.shape, dtype=np.result_type(x.dtype, np.complex64))
    for w, (row, n, wt) in zip(ws, step.filters):
        syn, real = _specs(step, n)
        wbar = 2 * wt * Pbar * (w if real else np.conj(w))
        cbar = host.inverse_transpose(wbar, syn)
        xbar += cbar * row.astype(xbar.dtype)[:, None]
    return xbar.astype(x.dtype if np.iscomplexobj(x) else xbar.dtype)


def _call_forward(x, step):
    out = jax.ShapeDtypeStruct(x.shape[:-2] + (step.L_out, 2 * step.L_out - 1), complex_dtype(x.dtype))
    return jax.pure_callback(functools.partial(_host_forward, step=step), out, x, vmap_method="expand_dims")


@bounded_cache(64)
def _make(step: Step):
    """The step as a differentiable function of ``x`` (one per step value; bounded cache)."""

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


def modulus_step(x, step: Step):
    """``U_j`` on coefficients ``x (..., Lj, 2Lj-1)`` -> ``(..., L_out, 2L_out-1)`` (host, fused)."""
    return _make(step)(x)
