"""Input checks shared by the transforms: clear errors that name the parameter."""

from __future__ import annotations

import cmath
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ..sampling import f_shape, validate_L, validate_sampling

__all__ = [
    "warn_x64_once",
    "check_L",
    "check_sampling",
    "check_map",
    "check_flm",
    "check_finite",
    "check_finite_after",
    "as_float_array",
]


_WARNED = {"x64": False}


def warn_x64_once(stacklevel=None):
    """Warn (once per process) when JAX runs without 64-bit support."""
    if _WARNED["x64"] or jax.config.jax_enable_x64:
        return
    _WARNED["x64"] = True
    warnings.warn(
        "JAX runs in 32-bit mode (jax_enable_x64 is off): float64 inputs are computed "
        "in float32. Call jax.config.update('jax_enable_x64', True) at start-up for "
        "double precision.",
        stacklevel=external_stacklevel() if stacklevel is None else stacklevel,
    )


def check_L(L) -> int:
    warn_x64_once()
    return validate_L(L)


def external_stacklevel() -> int:
    """``stacklevel`` that points a warning at the first frame outside s2scatter."""
    import os
    import sys

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(pkg):
        frame, level = frame.f_back, level + 1
    return level


def check_sampling(sampling, L, nside, *, stacklevel=None):
    """Validate ``sampling``/``nside`` (see :func:`s2scatter.sampling.validate_sampling`);
    warn when ``L > 3 nside`` (HEALPix cannot resolve those modes)."""
    sampling = validate_sampling(sampling, nside)
    if sampling != "healpix":
        return sampling, None
    nside = int(nside)
    if L > 3 * nside:
        warnings.warn(
            f"L = {L} > 3*nside = {3 * nside}: HEALPix cannot resolve these modes; "
            "the forward transform will be badly conditioned",
            stacklevel=external_stacklevel() if stacklevel is None else stacklevel,
        )
    return sampling, nside


def as_float_array(x, name):
    """Convert to a JAX-compatible array; ints become the default float type."""
    if type(x) is np.ndarray and x.dtype.kind in "fc":  # the common eager case, at no cost
        return x
    if isinstance(x, jax.core.Tracer):
        arr = x
    else:
        arr = jnp.asarray(x) if isinstance(x, jax.Array) else np.asarray(x)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.complexfloating)):
        if jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == bool:
            arr = arr.astype(jnp.zeros((), dtype=float).dtype)
        else:
            raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def check_finite(x, name):
    """Raise on NaN/inf for concrete inputs (skipped under jit tracing)."""
    if isinstance(x, jax.core.Tracer):
        return
    x = np.asarray(x)
    # One reduction first (NaN/inf propagate through a sum); only when the sum
    # is not finite -- a non-finite entry, or an overflow of finite ones -- do
    # the exact element-wise check.  3x cheaper than isfinite on clean input.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(x)):
            return
    if not bool(np.all(np.isfinite(x))):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")


def check_finite_after(probe, x, name):
    """Post-hoc finiteness check of a transform's input ``x`` through ``probe``.

    ``probe`` is a small slice of the transform's *output* that every
    non-finite input value reaches: a NaN or inf anywhere in a map enters the
    ring sums behind every m = 0 coefficient, and one in any coefficient the
    transform reads spreads over a whole (equatorial) ring of the map.  Only
    when the probe is not finite is the input checked exactly (and named in
    the error); a finite input whose output overflows passes, as with
    :func:`check_finite`.  Cost: O(L) on finite input instead of the O(L^2) pass
    over the input (``docs/performance.md``, Finiteness checks).
    """
    # one reduction: a NaN or inf in the probe makes its sum non-finite (an overflowing
    # sum of finite values only costs the exact check below)
    if isinstance(x, jax.core.Tracer) or cmath.isfinite(probe.sum()):
        return
    check_finite(x, name)


def check_map(f, L, sampling, nside, *, name="f"):
    expected = f_shape(L, sampling=sampling, nside=nside)
    k = len(expected)
    if f.ndim < k or tuple(f.shape[f.ndim - k :]) != tuple(expected):
        raise ValueError(
            f"{name} has shape {tuple(f.shape)}; expected (..., {', '.join(map(str, expected))}) "
            f"for L={L}, sampling={sampling!r}" + (f", nside={nside}" if nside else "")
        )


def check_flm(flm, L, *, name="flm"):
    if flm.ndim < 2 or tuple(flm.shape[-2:]) != (L, 2 * L - 1):
        raise ValueError(
            f"{name} has shape {tuple(flm.shape)}; expected (..., {L}, {2 * L - 1}) for L={L}"
        )
