"""s2scatter: deep learning on the sphere with JAX.

Layers, bottom up: :mod:`s2scatter.sampling` (grids, NumPy only) ->
:mod:`s2scatter.harmonic` (spherical-harmonic, Wigner and rotation transforms) ->
:mod:`s2scatter.wavelets` (scale-discretised wavelets) ->
:mod:`s2scatter.scattering` (the equivariant scattering front end) ->
:mod:`s2scatter.nn` (learnable generalised layers and the hybrid model, Flax NNX;
imported on first use);
:mod:`s2scatter.io` reads maps from files (FITS, images, netCDF, arrays) onto a sampling.
The most used functions are re-exported here::

    import s2scatter
    flm = s2scatter.forward(f, L)          # map -> harmonic coefficients
    f = s2scatter.inverse(flm, L)          # and back
    flmn = s2scatter.wigner.forward(g, L, N)
    flm_rot = s2scatter.rotate(flm, L, (alpha, beta, gamma))
    errs = s2scatter.assert_equivariant(model_or_layer, x)   # rotate-then-apply checks

Process-wide settings (ducc0 threads, the ``"jax"`` kernel budget, the output
buffer pool, the heap trim limit, the resource limits) are read and set with
:func:`config`, also as a context manager; :func:`clear_caches` empties every
cache the package holds.  Work that cannot fit is refused before it allocates
(scales, paths, decoded inputs, memory estimates): :func:`get_limits` /
:func:`set_limits` hold the limits (defaults, environment variables:
``help(s2scatter.set_limits)``).

JAX's 64-bit mode is the caller's choice: the first transform warns once when
``jax_enable_x64`` is off, and float32 inputs always stay float32/complex64.
"""

from . import _interrupt

_interrupt.install_for_cli()  # before the slow imports: a Ctrl-C while they run is not lost

from . import harmonic, io, sampling, scattering, wavelets, wigner  # noqa: E402
from ._config import clear_caches, config  # noqa: E402
from ._equivariance import assert_equivariant  # noqa: E402
from ._limits import get_limits, reset_limits, set_limits  # noqa: E402
from ._version import __version__  # noqa: E402
from .harmonic import forward, inverse, jit, rotate  # noqa: E402
from .scattering import Scattering, ScatteringConfig  # noqa: E402

__all__ = [
    "Scattering",
    "assert_equivariant",
    "ScatteringConfig",
    "__version__",
    "clear_caches",
    "config",
    "datasets",
    "forward",
    "get_limits",
    "harmonic",
    "inverse",
    "io",
    "jit",
    "reset_limits",
    "nn",
    "rotate",
    "sampling",
    "scattering",
    "set_limits",
    "training",
    "wavelets",
    "wigner",
]


def __getattr__(name):
    # s2scatter.nn imports Flax (~1-3 s), datasets builds on the transforms only when used:
    # both are loaded on first access, not with the package (training too: it builds on nn)
    if name in ("nn", "datasets", "training"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
