"""The user-facing scattering network: ``Scattering(config)(f)``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._config import bounded_cache
from ..harmonic import forward as sht_forward
from ..harmonic import inverse as sht_inverse
from ..harmonic import resolve_method, rotate
from ..harmonic.checks import as_float_array, check_finite, check_map
from ..harmonic.programs import kernels_for, run_with_kernels, using_kernels
from ..sampling import f_shape
from ._config import ScatteringConfig, scattering_paths
from ._core import filter_bank, scattering_harmonic


def _validate_input(f, c):
    """Shape, dtype and finiteness checks with messages naming ``f`` (eager inputs only)."""
    f = as_float_array(f, "f")
    check_map(f, c.L, c.sampling, c.nside)
    if c.reality and jnp.iscomplexobj(f):
        raise ValueError("f must be real for a ScatteringConfig with reality=True (got a complex array)")
    check_finite(f, "f")
    return f


def output_grid(config: ScatteringConfig):
    """(sampling, nside, shape) of the output maps at band-limit ``L_scal``.

    Equiangular inputs give outputs on the same scheme at ``L_scal``; HEALPix
    inputs give HEALPix outputs with the smallest ``nside`` (power of two)
    such that ``L_scal <= 2 nside``.
    """
    Ls = config.L_scal
    if config.sampling == "healpix":
        nside = 1 << max(0, math.ceil(math.log2(max(1, math.ceil(Ls / 2)))))
        return "healpix", nside, f_shape(Ls, sampling="healpix", nside=nside)
    return config.sampling, None, f_shape(Ls, sampling=config.sampling)


def invariants_from_harmonic(S):
    """Rotation invariants of scattering coefficients ``S (..., P, L_scal, 2L_scal-1)``.

    Returns ``{"mean": (..., P), "power": (..., P, L_scal)}``: the mean of each
    path's map over the sphere and its power per degree
    ``C_l = sum_m |S_lm|^2 / (2l+1)``.
    """
    Ls = S.shape[-2]
    ell = jnp.arange(Ls)
    mean = S[..., 0, Ls - 1].real / jnp.sqrt(4 * jnp.pi)
    power = jnp.sum(jnp.abs(S) ** 2, axis=-1) / (2 * ell + 1)
    return {"mean": mean, "power": power}


class Scattering:
    """A rotationally equivariant scattering network on the sphere.

    ``Scattering(config)(f)`` maps ``f`` of shape ``(..., *f_shape(L, sampling))``
    to either maps ``(..., n_paths, *output_grid(config)[2])`` (``output="maps"``)
    or invariants ``{"mean": (..., n_paths), "power": (..., n_paths, L_scal)}``.
    ``paths`` (and :meth:`path_table`) describe the channels in the same order.

    Orientations (N > 1) are pooled exactly on their Fourier modes, so the outputs
    stay rotation-equivariant on S^2 up to the modulus aliasing set by
    ``oversampling`` (maths: :mod:`s2scatter.scattering._core`, ``docs/scattering.md``).

    Batched (leading axes), jit-able and differentiable in ``f`` on every method.  The
    filter bank is built once, here; with the ``"jax"`` method so are the Legendre
    kernels (:attr:`kernels`, for the default float dtype), passed as arguments to
    one compiled program per input shape.  Under your own ``jax.jit``, pass them in
    with :meth:`apply`, so they are not compiled in as constants (~10 ms per MB)::

        step = jax.jit(net.apply)       # net.apply(kernels, f)
        out = step(net.kernels, f)      # == net(f)

    Example:
        >>> import numpy as np, s2scatter
        >>> cfg = s2scatter.ScatteringConfig(L=16, J_min=2, max_order=2, output="invariants")
        >>> net = s2scatter.Scattering(cfg)
        >>> f = np.random.default_rng(0).standard_normal((16, 31))
        >>> feats = net(f)
        >>> feats["power"].shape == (len(net.paths), cfg.L_scal)
        True
    """

    def __init__(self, config: ScatteringConfig):
        if not isinstance(config, ScatteringConfig):
            raise ValueError(f"config must be a ScatteringConfig, got {type(config).__name__}")
        self.config = config
        self.bank = _bank(config)
        self.paths = scattering_paths(config)
        self._harmonic_jit = jax.jit(self._harmonic)
        self._kernel_keys, self.kernels = (), ()
        if resolve_method(config.method, config.L, config.sampling) == "jax":
            dtype = jnp.zeros(()).dtype if config.reality else jnp.zeros((), complex).dtype
            example = jax.ShapeDtypeStruct(f_shape(config.L, sampling=config.sampling, nside=config.nside), dtype)
            self._kernel_keys, self.kernels = kernels_for(_forward_of, example, config=config)

    def path_table(self):
        """One dict per output channel: ``index``, ``order``, ``scales``."""
        return [{"index": i, "order": len(p), "scales": tuple(int(j) for j in p)}
                for i, p in enumerate(self.paths)]

    def harmonic(self, f):
        """Scattering coefficients ``(..., n_paths, L_scal, 2L_scal-1)`` of maps ``f``."""
        c = self.config
        f = _validate_input(f, c)
        if isinstance(f, jax.core.Tracer):
            return self._harmonic(f)
        if resolve_method(c.method, c.L, c.sampling) == "jax":  # one program per input shape,
            return run_with_kernels(_harmonic_of, f, config=c)  # the kernels passed as its arguments
        return self._harmonic_jit(f)  # compiled once per input shape

    def _harmonic(self, f):
        with using_kernels(self._kernel_keys, self.kernels):
            return _harmonic_of(f, config=self.config)

    def apply(self, kernels, f):
        """``self(f)`` reading the Legendre kernels ``kernels`` (a tuple of arrays like
        :attr:`kernels`, e.g. traced arguments of a caller's ``jit``); see the class
        docstring.  ``kernels=()`` (other methods than ``"jax"``) reads none."""
        if len(kernels) != len(self._kernel_keys):
            raise ValueError(f"kernels must be this network's {len(self._kernel_keys)} kernel arrays "
                             f"(net.kernels), got {len(kernels)}")
        f = _validate_input(f, self.config)
        with using_kernels(self._kernel_keys, tuple(kernels)):
            return _forward_of(f, config=self.config)

    def __call__(self, f):
        c = self.config
        if self._kernel_keys:  # the jax method, eager: the whole network as one program, the
            f = _validate_input(f, c)  # kernels (those recorded at construction) as its arguments
            if not isinstance(f, jax.core.Tracer):
                return run_with_kernels(_forward_of, f, config=c)
        return _output(self.harmonic(f), c)


def _output(S, c: ScatteringConfig):
    """The network's output from its harmonic coefficients ``S``: invariants or maps."""
    if c.output == "invariants":
        return invariants_from_harmonic(S)
    sampling, nside, _ = output_grid(c)
    return sht_inverse(S, c.L_scal, sampling=sampling, nside=nside, reality=c.reality, method=c.method)


@bounded_cache(8)
def _bank(config: ScatteringConfig):
    return filter_bank(config)


def _harmonic_of(f, *, config: ScatteringConfig):
    """``Scattering(config).harmonic`` as a module-level function of ``f`` and the (hashable)
    config, for :func:`s2scatter.harmonic.programs.run_with_kernels` (any kernels in force)."""
    c = config
    flm = sht_forward(f, c.L, sampling=c.sampling, nside=c.nside, reality=c.reality, method=c.method)
    return scattering_harmonic(flm, _bank(c))[1]


def _forward_of(f, *, config: ScatteringConfig):
    """The whole network (harmonic coefficients and output), e.g. of the pure-JAX method whose
    kernels a :class:`Scattering` owns."""
    return _output(_harmonic_of(f, config=config), config)


def scattering(f, config: ScatteringConfig):
    """Functional form: ``Scattering(config)(f)`` (builds the filters each call)."""
    return Scattering(config)(f)


def assert_equivariant(net: Scattering, f, *, rotation=None, rtol=1e-3, seed=0):
    """Check ``net(R f) == R net(f)`` for a rotation ``R`` (random if None).

    Rotates the band-limited input exactly in harmonic space and compares the harmonic
    coefficients of ``net(R f)`` with the rotated ones of ``net(f)``.  Returns the
    relative L2 error; raises ``AssertionError`` when it exceeds ``rtol``.
    """
    c = net.config
    if rotation is None:
        rng = np.random.default_rng(seed)
        rotation = tuple(rng.uniform(0, 2 * np.pi, 3) * np.array([1, 0.5, 1]))
    flm = sht_forward(f, c.L, sampling=c.sampling, nside=c.nside, reality=c.reality, method=c.method)
    f_rot = sht_inverse(rotate(flm, c.L, rotation), c.L, sampling=c.sampling, nside=c.nside,
                        reality=c.reality, method=c.method)
    S_rot = net.harmonic(f_rot)
    expected = rotate(net.harmonic(f), c.L_scal, rotation)
    err = float(jnp.linalg.norm(S_rot - expected) / jnp.linalg.norm(expected))
    if err > rtol:
        raise AssertionError(f"scattering is not equivariant to rtol={rtol}: relative error {err:.3e}")
    return err
