"""The job: what defines a batch (scattering config, read options, format, plots), frozen.

Also the small JSON helpers and the package versions recorded in every output.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata as _md
import json

import numpy as np

from ..scattering import ScatteringConfig

FORMATS = ("zarr", "npz")
"""Store formats of :class:`FeatureJob` (``format=``): a Zarr store or a folder of ``.npz`` files."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReadOptions:
    """How :func:`s2scatter.io.read_map` reads each input (see its docstring).

    The band-limit and output sampling come from the :class:`ScatteringConfig`;
    these are the per-format options: ``field`` (FITS column / HEALPix field),
    ``variable`` (netCDF variable), ``input_sampling`` / ``input_nside``
    (sampling of ``.npy`` arrays), and the NaN policy ``nan`` with
    ``fill_value`` for ``nan="value"``.
    """

    field: int | str | None = None
    variable: str | None = None
    input_sampling: str | None = None
    input_nside: int | None = None
    nan: str = "error"
    fill_value: float | None = None

    def kwargs(self) -> dict:
        """Keyword arguments for ``read_map``."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class FeatureJob:
    """Everything that defines a batch of feature extractions (frozen, picklable).

    Attributes:
        config: the scattering network (band-limit, sampling, output kind, ...).
        read: :class:`ReadOptions` (or a dict of them).
        format: ``"zarr"`` (one Zarr v3 store) or ``"npz"`` (one file per input).
        plot: also write Mollweide PNGs of each input and of chosen features.
        plot_paths: path indices plotted for channel 0 (default: the first 4).
        num_threads: threads for the ducc0 kernels in each process
            (``None``: leave the library setting, all cores by default).
    """

    config: ScatteringConfig
    read: ReadOptions = ReadOptions()
    format: str = "zarr"
    plot: bool = False
    plot_paths: tuple[int, ...] | None = None
    num_threads: int | None = None

    def __post_init__(self):
        if not isinstance(self.config, ScatteringConfig):
            raise ValueError(f"config must be a ScatteringConfig, got {type(self.config).__name__}")
        if isinstance(self.read, dict):
            object.__setattr__(self, "read", ReadOptions(**self.read))
        if not isinstance(self.read, ReadOptions):
            raise ValueError(f"read must be ReadOptions or a dict, got {type(self.read).__name__}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.plot_paths is not None:
            paths = tuple(int(p) for p in self.plot_paths)
            if any(p < 0 for p in paths):
                raise ValueError(f"plot_paths must be non-negative path indices, got {paths}")
            object.__setattr__(self, "plot_paths", paths)
        if self.num_threads is not None and (int(self.num_threads) != self.num_threads or self.num_threads < 0):
            raise ValueError(f"num_threads must be a non-negative integer, got {self.num_threads!r}")

    def identity(self) -> dict:
        """The JSON description a store is tied to (config + read options + format)."""
        return _jsonable({"config": dataclasses.asdict(self.config), "read": self.read.kwargs(),
                          "format": self.format})


# ------------------------------------------------------------- Small helpers.
def _jsonable(obj):
    """A JSON round trip (tuples -> lists, numpy scalars -> Python)."""
    return json.loads(json.dumps(obj, default=_json_default))


def _one_line(exc: BaseException) -> str:
    """``"<type>: <first line of the message>"`` of an exception."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    return str(obj)


@functools.cache
def versions() -> dict:
    """Versions of the packages that determine the features (recorded in every output)."""
    from .._version import __version__

    out = {"s2scatter": __version__}
    for name in ("jax", "jaxlib", "ducc0", "numpy", "healpy", "zarr"):
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = None
    return out
