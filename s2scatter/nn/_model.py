"""The hybrid model: a fixed scattering front end under learnable generalised layers.

McEwen, Wallis & Mavor-Parker (ICLR 2022, arXiv:2102.02828) put the scattering
network (:class:`s2scatter.Scattering`, not trained) in front of the efficient
generalised layers of Cobb et al. (ICLR 2021): scattering takes the map from
band-limit ``L`` down to ``L_scal`` cheaply and stably; the generalised layers
then learn at that low band-limit; an invariant read-out feeds a dense head::

    f (*batch, *f_shape(L))
      -> scattering coefficients (*batch, P, L_scal, 2L_scal-1)  [fixed]
      -> Signal (P channels, tau = 1) -> EquivariantNorm -> Linear (C_0 channels, L_0)
      -> [ConstrainedConvolution (C_i, L_i) -> EquivariantNorm] for i = 1..n-1
      -> invariants -> Dense(hidden) -> gelu -> Dense(num_classes) -> logits

With ``scattering=None`` the front end is the forward transform of the map
itself (one channel at band-limit ``L``): the pure generalised CNN to compare
against.  Everything up to the invariants is rotation-equivariant (exactly in
the generalised layers, up to the scattering's aliasing in the front end), so
the logits are rotation-invariant.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..harmonic import METHODS
from ..harmonic import forward as sht_forward
from ..harmonic.checks import as_float_array, check_finite
from ..sampling import SAMPLINGS, f_shape, validate_int
from ..scattering import Scattering, ScatteringConfig, scattering_paths
from . import _functional as F
from ._degree_sets import DEGREE_SETS
from ._layers import ConstrainedConvolution, EquivariantNorm, Linear, default_float, lecun_normal_host
from ._signal import SignalSpec, from_flm

__all__ = ["HybridConfig", "HybridModel"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HybridConfig:
    """Everything that defines a :class:`HybridModel` (frozen, hashable).

    Attributes:
        L: band-limit of the input maps.
        num_classes: number of logits.
        sampling, nside: sampling of the input maps (``f_shape(L, sampling, nside)``).
        scattering: the front end: ``"default"`` (``ScatteringConfig(L=L,
            J_min=min(3, J_max), N=1, max_order=2, output="maps")``: 7 paths at
            ``L_scal = 8`` for ``L = 32``), a :class:`ScatteringConfig` (same ``L``,
            ``sampling``, ``nside``; ``output="maps"``, ``reality=True``), or None
            (no front end: the pure generalised CNN on the map's coefficients).
        channels: channels of the generalised layers: the first is a linear layer
            (from the front end's channels), each further one a constrained
            convolution followed by an equivariant normalisation.
        band_limits: band-limit of each of those layers (same length as
            ``channels``, non-increasing, the first at most the front end's).
            Default: ``L_0 = L_scal`` (``min(L, 16)`` without front end), then
            ``L_0`` for all but the last, which halves it.
        degrees: degree-mixing set of the tensor products (``"mst"``).
        tensor_product: ``"channelwise"`` (the constrained convolution) or ``"full"``.
        norm: ``"layer"`` (default: per-sample scale, no state) , ``"batch"``
            (batch statistics with running averages) or None (see :class:`EquivariantNorm`).
        hidden: width of the dense head's hidden layer (0: a single dense layer).
        dtype: ``"float32"``/``"float64"``; None: float64 when ``jax_enable_x64``
            is on, else float32 (parameters and computation).
        method: transform method of the front end (``"auto"``, ``"ducc"``, ``"jax"``).
    """

    L: int
    num_classes: int
    sampling: str = "mw"
    nside: int | None = None
    scattering: object = "default"
    channels: tuple = (16, 32, 32)
    band_limits: tuple | None = None
    degrees: object = "mst"
    tensor_product: str = "channelwise"
    norm: str | None = "layer"
    hidden: int = 64
    dtype: str | None = None
    method: str = "auto"

    def __post_init__(self):
        validate_int(self.L, "L", minimum=2)
        validate_int(self.num_classes, "num_classes", minimum=1)
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if (self.sampling == "healpix") != (self.nside is not None):
            raise ValueError("nside is required iff sampling='healpix'")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        scat = self.scattering
        if isinstance(scat, str):
            if scat != "default":
                raise ValueError(f"scattering must be 'default', a ScatteringConfig or None, got {scat!r}")
            probe = ScatteringConfig(L=self.L, J_min=0, sampling=self.sampling, nside=self.nside)
            scat = ScatteringConfig(L=self.L, J_min=min(3, probe.J_max), N=1, max_order=2, sampling=self.sampling,
                                    nside=self.nside, reality=True, output="maps", method=self.method)
        elif scat is not None:
            if not isinstance(scat, ScatteringConfig):
                raise ValueError(f"scattering must be 'default', a ScatteringConfig or None, got {type(scat).__name__}")
            if (scat.L, scat.sampling, scat.nside) != (self.L, self.sampling, self.nside):
                raise ValueError(f"scattering config has L={scat.L}, sampling={scat.sampling!r}, nside={scat.nside}; "
                                 f"the model has L={self.L}, sampling={self.sampling!r}, nside={self.nside}")
            if scat.output != "maps" or not scat.reality:
                raise ValueError("scattering config must have output='maps' and reality=True")
        object.__setattr__(self, "scattering", scat)
        chans = tuple(validate_int(c, "channels", minimum=1) for c in self.channels) if not isinstance(self.channels, int) else None
        if not chans:
            raise ValueError(f"channels must be a non-empty tuple of positive integers, got {self.channels!r}")
        object.__setattr__(self, "channels", chans)
        L0 = self.input_band_limit
        if self.band_limits is None:
            bl = (L0,) * (len(chans) - 1) + (max(1, math.ceil(L0 / 2)) if len(chans) > 1 else L0,)
        else:
            bl = tuple(validate_int(b, "band_limits", minimum=1) for b in self.band_limits)
            if len(bl) != len(chans):
                raise ValueError(f"band_limits must have one entry per channels entry ({len(chans)}), got {bl!r}")
        if bl[0] > L0:
            raise ValueError(f"band_limits[0] = {bl[0]} exceeds the front end's band-limit {L0}")
        for i in range(1, len(bl)):
            if bl[i] > 2 * bl[i - 1] - 1:
                raise ValueError(f"band_limits[{i}] = {bl[i]} is too large: a tensor product of band-limit "
                                 f"{bl[i - 1]} reaches 2L-1 = {2 * bl[i - 1] - 1}")
        object.__setattr__(self, "band_limits", bl)
        if not isinstance(self.degrees, str):
            object.__setattr__(self, "degrees", tuple(tuple(int(v) for v in t) for t in self.degrees))
        elif self.degrees not in DEGREE_SETS:
            raise ValueError(f"degrees must be one of {DEGREE_SETS} or explicit pairs, got {self.degrees!r}")
        if self.tensor_product not in ("channelwise", "full"):
            raise ValueError(f"tensor_product must be 'channelwise' or 'full', got {self.tensor_product!r}")
        if self.norm not in ("batch", "layer", None):
            raise ValueError(f"norm must be 'batch', 'layer' or None, got {self.norm!r}")
        validate_int(self.hidden, "hidden")
        object.__setattr__(self, "dtype", None if self.dtype is None else str(default_float(self.dtype)))

    @property
    def input_band_limit(self) -> int:
        """Band-limit of the front end's output: ``L_scal``, or ``min(L, 16)`` without scattering."""
        return self.scattering.L_scal if self.scattering is not None else min(self.L, 16)

    @property
    def input_channels(self) -> int:
        """Channels of the front end's output: scattering paths, or 1."""
        return 1 if self.scattering is None else len(scattering_paths(self.scattering))


class _Block(nnx.Module):
    def __init__(self, in_spec, out_channels, L_out, config, dt, rngs):
        self.conv = ConstrainedConvolution(in_spec, out_channels, L_out=L_out, degrees=config.degrees,
                                           channels=config.tensor_product, param_dtype=dt, rngs=rngs)
        self.norm = (EquivariantNorm(self.conv.out_spec, mode=config.norm, param_dtype=dt)
                     if config.norm else None)
        self.out_spec = self.conv.out_spec

    def __call__(self, x):
        x = self.conv(x)
        return self.norm(x) if self.norm is not None else x


class HybridModel(nnx.Module):
    """Scattering front end (fixed) -> generalised layers -> invariants -> dense head -> logits.

    ``HybridModel(config, rngs=nnx.Rngs(seed))(f)`` maps real maps ``f`` of shape
    ``(*batch, *f_shape(L, sampling, nside))`` to logits ``(*batch, num_classes)``.
    The front end is computed with :class:`s2scatter.Scattering` (its harmonic
    coefficients, i.e. the forward transform of its output maps, without the
    round trip through the grid) and never trained; all parameters are in the
    generalised layers and the head.  ``__call__`` is pure apart from the
    running statistics of ``norm="batch"`` layers (``model.eval()`` freezes
    them, ``model.train()`` resumes), so it works under ``nnx.jit``,
    ``nnx.grad`` and ``nnx.vmap`` like any Flax NNX model.

    Args:
        config: :class:`HybridConfig`.
        rngs: ``nnx.Rngs`` for the parameters.

    The model splits into its fixed and learnable parts:
    ``model(f) == model.apply_flm(model.front_end_flm(f))``, so the front end
    can be computed once per map and the learnable part trained on the stored
    coefficients (``s2scatter.training`` does this with a feature cache).

    Attributes:
        scattering: the :class:`Scattering` front end (None without one).
        flm_shape: ``(P, L_in, 2 L_in - 1)``, one map's front-end coefficients.
        num_params: trainable parameters (also in ``repr``).

    Example:
        >>> import numpy as np
        >>> from flax import nnx
        >>> from s2scatter.nn import HybridConfig, HybridModel
        >>> model = HybridModel(HybridConfig(L=16, num_classes=10), rngs=nnx.Rngs(0))
        >>> model(np.zeros((2, 16, 31), np.float32)).shape
        (2, 10)
    """

    def __init__(self, config: HybridConfig, *, rngs: nnx.Rngs):
        if not isinstance(config, HybridConfig):
            raise ValueError(f"config must be a HybridConfig, got {type(config).__name__}")
        self.config = config
        dt = default_float(config.dtype)
        self.dtype = dt
        self.scattering = Scattering(config.scattering) if config.scattering is not None else None
        spec = SignalSpec.s2(config.input_band_limit, config.input_channels)
        self.norm_in = EquivariantNorm(spec, mode=config.norm, param_dtype=dt) if config.norm else None
        self.linear_in = Linear(spec, config.channels[0], L_out=config.band_limits[0], param_dtype=dt, rngs=rngs)
        spec = self.linear_in.out_spec
        blocks = []
        for c, Lb in zip(config.channels[1:], config.band_limits[1:]):
            blocks.append(_Block(spec, c, Lb, config, dt, rngs))
            spec = blocks[-1].out_spec
        self.blocks = nnx.List(blocks)
        self.out_spec = spec
        n_inv = F.invariants_size(spec)
        dense = dict(param_dtype=dt, dtype=dt, kernel_init=lecun_normal_host, rngs=rngs)
        self.dense_hidden = nnx.Linear(n_inv, config.hidden, **dense) if config.hidden else None
        self.dense_out = nnx.Linear(config.hidden or n_inv, config.num_classes, **dense)

    # ------------------------------------------------------------------ pieces
    def _check_input(self, f):
        c = self.config
        f = as_float_array(f, "f")
        fs = tuple(f_shape(c.L, sampling=c.sampling, nside=c.nside))
        k = len(fs)
        if f.ndim < k or tuple(f.shape[f.ndim - k:]) != fs:
            raise ValueError(f"f has shape {tuple(f.shape)}; expected (batch, {', '.join(map(str, fs))}) for "
                             f"L={c.L}, sampling={c.sampling!r}" + (f", nside={c.nside}" if c.nside else ""))
        if jnp.iscomplexobj(f):
            raise ValueError("f must be real maps (got a complex array)")
        check_finite(f, "f")
        return jnp.asarray(f, dtype=self.dtype)

    def front_end_flm(self, f):
        """Coefficients of the fixed front end: ``(*batch, P, L_in, 2 L_in - 1)`` complex.

        With scattering, the harmonic coefficients of its output maps
        (``Scattering.harmonic``: ``P`` paths at ``L_in = L_scal``); without,
        the map's own coefficients truncated to ``L_in = min(L, 16)``
        (``P = 1``).  Nothing in it is learned: compute it once per map (a
        feature cache, ``s2scatter.training``) and train :meth:`apply_flm`.
        Computed in the model's dtype (``complex64`` for float32).
        """
        c = self.config
        f = self._check_input(f) if not isinstance(f, jax.core.Tracer) else jnp.asarray(f, dtype=self.dtype)
        if self.scattering is not None:
            return self.scattering.harmonic(f)
        flm = sht_forward(f, c.L, sampling=c.sampling, nside=c.nside, reality=True, method=c.method)
        Lin = c.input_band_limit
        return flm[..., None, :Lin, c.L - Lin: c.L + Lin - 1]

    def front_end(self, f):
        """The fixed front end: a :class:`Signal` (P channels, ``tau = 1``) of the maps ``f``."""
        return from_flm(self.front_end_flm(f))

    @property
    def flm_shape(self) -> tuple:
        """Shape ``(P, L_in, 2 L_in - 1)`` of one map's front-end coefficients (:meth:`front_end_flm`)."""
        Lin = self.config.input_band_limit
        return (self.config.input_channels, Lin, 2 * Lin - 1)

    def apply_flm(self, flm):
        """The learnable part: logits ``(*batch, num_classes)`` from front-end coefficients.

        ``model.apply_flm(model.front_end_flm(f))`` is ``model(f)``.  ``flm``
        has shape ``(*batch, *model.flm_shape)`` (complex; cast to the model's
        complex dtype).  Pure like ``__call__`` (see the class docstring), and
        compiled as one program for eager calls.

        Example:
            >>> import numpy as np
            >>> from flax import nnx
            >>> from s2scatter.nn import HybridConfig, HybridModel
            >>> model = HybridModel(HybridConfig(L=16, num_classes=3), rngs=nnx.Rngs(0))
            >>> f = np.random.default_rng(0).standard_normal((2, 16, 31))
            >>> S = model.front_end_flm(f)
            >>> S.shape == (2, *model.flm_shape)
            True
            >>> bool(np.allclose(model.apply_flm(S), model(f)))
            True
        """
        flm = self._check_flm(flm)
        return self._apply_flm(flm) if isinstance(flm, jax.core.Tracer) else _apply_flm_jit(self, flm)

    def _check_flm(self, flm):
        cdt = jnp.result_type(self.dtype, jnp.complex64)
        if isinstance(flm, jax.core.Tracer):
            return flm.astype(cdt)
        flm = jnp.asarray(flm)
        shape = self.flm_shape
        if flm.ndim < 3 or tuple(flm.shape[-3:]) != shape:
            raise ValueError(f"flm has shape {tuple(flm.shape)}; expected (batch, {', '.join(map(str, shape))}) "
                             f"(front-end coefficients: paths, L_in, 2 L_in - 1)")
        check_finite(flm, "flm")
        return flm.astype(cdt)

    def _apply_flm(self, flm):
        return self.head(self.features(from_flm(flm)))

    def features(self, x):
        """Generalised layers on the front end's signal ``x`` -> the last :class:`Signal`."""
        if self.norm_in is not None:
            x = self.norm_in(x)
        x = self.linear_in(x)
        for blk in self.blocks:
            x = blk(x)
        return x

    def head(self, x):
        """Invariant read-out and dense head: :class:`Signal` -> logits."""
        h = F.invariants(x)
        if self.dense_hidden is not None:
            h = jax.nn.gelu(self.dense_hidden(h))
        return self.dense_out(h)

    def __call__(self, f):
        f = self._check_input(f)  # a tracer: inside the caller's jit / vmap / grad; else one compiled program
        return self._forward(f) if isinstance(f, jax.core.Tracer) else _forward_jit(self, f)

    def _forward(self, f):
        return self._apply_flm(self.front_end_flm(f))

    # ------------------------------------------------------------------ summary
    @property
    def num_params(self) -> int:
        """Number of trainable parameters (``nnx.Param`` entries)."""
        return int(sum(np.size(v) for v in jax.tree_util.tree_leaves(nnx.state(self, nnx.Param))))

    def __repr__(self):
        c = self.config
        front = (f"scattering({len(self.scattering.paths)} paths, J_min={c.scattering.J_min}, "
                 f"N={c.scattering.N}, max_order={c.scattering.max_order}) -> L_scal={c.scattering.L_scal}"
                 if self.scattering is not None else f"forward transform -> L={c.input_band_limit}")
        layers = " -> ".join(f"{ch}x(L={b})" for ch, b in zip(c.channels, c.band_limits))
        return (f"HybridModel(L={c.L}, sampling={c.sampling!r}, {front}; layers {layers}, degrees={c.degrees!r}, "
                f"tensor_product={c.tensor_product!r}, norm={c.norm!r}; head {F.invariants_size(self.out_spec)}"
                f"->{c.hidden or ''}{'->' if c.hidden else ''}{c.num_classes}; dtype={self.dtype.name}; "
                f"params={self.num_params:,})")

    __str__ = __repr__


@nnx.jit
def _forward_jit(model, f):
    return model._forward(f)


@nnx.jit
def _apply_flm_jit(model, flm):
    return model._apply_flm(flm)
