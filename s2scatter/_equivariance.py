"""``s2scatter.assert_equivariant``: rotate-then-apply against apply-then-rotate.

One public check for everything that should commute with rotations: the
scattering network, every generalised layer, whole models, or any function a
user writes on top of them.  Inputs are rotated exactly (in harmonic space);
outputs must rotate the same way (generalised signals, scattering maps) or stay
put (arrays: invariants, logits).
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["assert_equivariant", "random_rotations"]


def random_rotations(n, seed=0):
    """``n`` rotations drawn from the Haar measure on SO(3), as ZYZ Euler angles.

    ``alpha, gamma ~ U[0, 2 pi)``, ``cos(beta) ~ U[-1, 1]``.  Returns a list of
    ``(alpha, beta, gamma)`` float tuples.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(n)):
        a, g = rng.uniform(0.0, 2 * np.pi, 2)
        b = float(np.arccos(rng.uniform(-1.0, 1.0)))
        out.append((float(a), b, float(g)))
    return out


def _leaves(tree):
    import jax

    return [np.asarray(v) for v in jax.tree_util.tree_leaves(tree)]


def _rel_err(got, want):
    g, w = _leaves(got), _leaves(want)
    if len(g) != len(w) or any(a.shape != b.shape for a, b in zip(g, w)):
        raise AssertionError("outputs of the rotated and unrotated inputs have different structures or shapes")
    num = sum(float(np.sum(np.abs(a - b) ** 2)) for a, b in zip(g, w))
    den = sum(float(np.sum(np.abs(b) ** 2)) for b in w)
    return float(np.sqrt(num / den if den else num))


def _is_float32(tree):
    return any(a.dtype in (np.float32, np.complex64) for a in _leaves(tree))


def assert_equivariant(fn, x, *, rotations=20, rtol=None, seed=0, L=None, sampling=None, nside=None,
                       method="auto"):
    """Check ``fn(R x) == R fn(x)`` (or ``== fn(x)`` for invariant outputs) over random rotations.

    Args:
        fn: a :class:`s2scatter.Scattering`, a generalised layer or model of
            :mod:`s2scatter.nn`, or any callable.
        x: the input: an :class:`s2scatter.nn.Signal` (rotated fragment-wise by
            ``D^l``), or maps ``(..., *f_shape(L, sampling))`` (rotated exactly in
            harmonic space, so they should be band-limited: ``inverse(flm)`` of some
            ``flm``).
        rotations: number of Haar-random rotations (drawn with ``seed``), or an
            explicit sequence of ``(alpha, beta, gamma)`` ZYZ Euler angles.
        rtol: largest allowed relative error ``||fn(Rx) - R fn(x)|| / ||R fn(x)||``
            (norm over all outputs).  Default: ``1e-3`` for map inputs (sampling
            and the scattering modulus alias), else ``1e-10`` in float64 and
            ``1e-4`` in float32 (harmonic-space layers are exact up to rounding).
        L, sampling, nside: grid of map inputs; default from ``fn.config``
            (:class:`s2scatter.Scattering`, :class:`s2scatter.nn.HybridModel`).
        method: transform method used to rotate map inputs.

    Outputs are compared according to their type: an :class:`s2scatter.nn.Signal`
    must rotate (``rotate_signal``); a :class:`Scattering` with ``output="maps"``
    is compared on its harmonic coefficients (``rotate``); anything else (arrays,
    dicts of arrays: invariants, logits) must not change.

    Returns:
        NumPy array of the relative errors, one per rotation.

    Raises:
        AssertionError: when the largest error exceeds ``rtol`` (the message gives it).

    Example:
        >>> import numpy as np, s2scatter
        >>> from flax import nnx
        >>> from s2scatter import nn
        >>> x = nn.from_flm(s2scatter.sampling.random_flm(6, rng=np.random.default_rng(0))[None])
        >>> layer = nn.ConstrainedConvolution(x.spec, 4, L_out=6, rngs=nnx.Rngs(0))
        >>> errs = s2scatter.assert_equivariant(layer, x, rotations=3, rtol=1e-4)
        >>> errs.shape
        (3,)
    """
    from .harmonic import forward, inverse, rotate
    from .scattering import Scattering

    rots = random_rotations(rotations, seed) if isinstance(rotations, (int, np.integer)) else list(rotations)
    if not rots:
        raise ValueError("rotations must be a positive count or a non-empty sequence of (alpha, beta, gamma)")
    # a Signal (input or output) comes from s2scatter.nn, so that module is loaded then; when
    # it is not, there is no Signal to handle and Flax is not imported for nothing
    nn = sys.modules.get("s2scatter.nn")
    Signal, rotate_signal = (nn.Signal, nn.rotate_signal) if nn is not None else (None, None)

    is_signal = Signal is not None and isinstance(x, Signal)
    if not is_signal:
        cfg = getattr(fn, "config", None)
        L = L if L is not None else getattr(cfg, "L", None)
        sampling = sampling if sampling is not None else getattr(cfg, "sampling", "mw")
        nside = nside if nside is not None else getattr(cfg, "nside", None)
        if L is None:
            raise ValueError("assert_equivariant: pass L (and sampling, nside) for map inputs, or an fn with a "
                             ".config that has them")
        x = np.asarray(x)
        real = not np.iscomplexobj(x)
        flm = forward(x, L, sampling=sampling, nside=nside, reality=real, method=method)

        def rot_in(R):
            return inverse(rotate(flm, L, R), L, sampling=sampling, nside=nside, reality=real, method=method)
    else:
        def rot_in(R):
            return rotate_signal(x, R)

    scattering_maps = isinstance(fn, Scattering) and fn.config.output == "maps"
    apply = fn.harmonic if scattering_maps else fn
    y = apply(x)

    def rot_out(R):
        if Signal is not None and isinstance(y, Signal):
            return rotate_signal(y, R)
        if scattering_maps:
            return rotate(y, fn.config.L_scal, R)
        return y

    errs = np.array([_rel_err(apply(rot_in(R)), rot_out(R)) for R in rots])
    if rtol is None:
        rtol = 1e-3 if not is_signal else (1e-4 if _is_float32(y) else 1e-10)
    worst = float(errs.max())
    if not worst <= rtol:
        raise AssertionError(f"{type(fn).__name__} is not rotation-equivariant to rtol={rtol:g}: relative error "
                             f"{worst:.3e} (median {float(np.median(errs)):.3e} over {len(errs)} rotations)")
    return errs
