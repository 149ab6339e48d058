"""Batch feature extraction: many map files -> one feature store, serially or on Dask.

The scale-out layer above :mod:`s2scatter.io` and :mod:`s2scatter.scattering`:

* :class:`FeatureJob` -- frozen description of a batch: the
  :class:`~s2scatter.ScatteringConfig`, how to read the inputs
  (:class:`ReadOptions`), the output format and plots.
* :func:`compute_features` -- pure function ``(path, job) -> result``: reads one
  file with :func:`s2scatter.io.read_map` and runs the scattering network on all
  of its channels as one batch.  This is what Dask workers run.
* :func:`run_batch` -- reads, computes and writes every input; skips finished
  ones with ``resume=True``; records failures and carries on; returns a
  :class:`BatchReport`.
* :func:`store_info` -- what a store holds (used by ``s2scatter info``).

Store layout (``format="zarr"``, the default): ``OUT`` is a Zarr v3 directory
store; its root group's attributes hold the job (``config``, ``read``) and one
child group per input, named after the file (``unique, safe``; the source path
is in the group's attributes)::

    OUT/zarr.json                 root: {"s2scatter_store": 1, "config", "read", "format", ...}
    OUT/<group>/zarr.json         attrs: source, sha256, channels, reader meta, paths, versions, ...
    OUT/<group>/maps              (C, P, *output grid)        output="maps"
    OUT/<group>/mean, power       (C, P), (C, P, L_scal)      output="invariants"
    OUT/<group>/path_order        (P,)  int, order of each path
    OUT/<group>/path_scales       (P, max(max_order, 1)) int, scales j1, j2, ... (-1 padded)

With ``format="npz"``: ``OUT/store.json`` (the job) and ``OUT/<group>.npz``
holding the same arrays plus ``metadata`` (the group attributes as a JSON
string).  Plots (``plot=True``) go to ``<OUT without .zarr>_plots/<group>/``,
outside the Zarr hierarchy.

Atomicity: each group is written into ``OUT/.tmp-<group>-<random>`` and moved
into place with one ``os.replace`` (a directory rename on one file system),
its completion attribute written last; ``.npz`` files are written to a
temporary name and renamed.  A killed run therefore leaves finished groups and
nothing else; stale ``.tmp-*`` entries are removed when a run starts.  Only the
process that calls :func:`run_batch` writes (Dask workers only compute).

Example::

    >>> from s2scatter import ScatteringConfig
    >>> from s2scatter.batch import FeatureJob, run_batch
    >>> job = FeatureJob(ScatteringConfig(L=32, output="invariants"))
    >>> report = run_batch(["a.fits", "b.png"], "features.zarr", job)  # doctest: +SKIP
    >>> report.exit_code  # doctest: +SKIP
    0
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.metadata as _md
import json
import os
import re
import shutil
import sys
import time
import uuid

import numpy as np

from .io._base import file_sha256
from .scattering import Scattering, ScatteringConfig, output_grid

__all__ = [
    "FeatureJob",
    "ReadOptions",
    "BatchReport",
    "BatchError",
    "compute_features",
    "run_batch",
    "store_info",
    "plots_dir",
    "FORMATS",
    "STORE_VERSION",
]

FORMATS = ("zarr", "npz")
STORE_VERSION = 1
_TMP = ".tmp-"
_NPZ_MARKER = "store.json"
_MAX_INPUT_PLOTS = 8
_CONNECT_TIMEOUT = "10s"  # to reach a Dask scheduler


class BatchError(ValueError):
    """A batch cannot start (output exists, store written with another job, bad scheduler)."""


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


# --------------------------------------------------------------------------
# Small helpers.
# --------------------------------------------------------------------------
def _jsonable(obj):
    """A JSON round trip (tuples -> lists, numpy scalars -> Python)."""
    return json.loads(json.dumps(obj, default=_json_default))


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
    from ._version import __version__

    out = {"s2scatter": __version__}
    for name in ("jax", "jaxlib", "ducc0", "numpy", "healpy", "zarr"):
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = None
    return out


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_EXTENSIONS = (".gz", ".bz2", ".xz", ".zip")


def _base_name(path) -> str:
    """Group name stem from a file name: extension(s) dropped, unsafe characters -> '_'."""
    name = os.path.basename(os.fspath(path))
    stem, ext = os.path.splitext(name)
    if ext.lower() in _EXTENSIONS:
        stem = os.path.splitext(stem)[0]
    stem = _SAFE.sub("_", stem).lstrip("._-")
    if not stem or stem.lower() in ("zarr.json", "store", "zarr"):
        stem = "input" if not stem else f"{stem}_"
    return stem[:100]


def _unique(base: str, taken: set) -> str:
    name, k = base, 2
    while name in taken or name.lower() in {t.lower() for t in taken}:  # case-insensitive file systems
        name, k = f"{base}-{k}", k + 1
    return name


def plots_dir(out) -> str:
    """Directory of the PNGs for store ``out``: ``<out without .zarr/.npz>_plots``."""
    out = os.path.abspath(os.fspath(out)).rstrip(os.sep)
    root, ext = os.path.splitext(out)
    return (root if ext.lower() in (".zarr", ".npz") else out) + "_plots"


def _rmtree(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _write_json_atomic(path, obj):
    tmp = os.path.join(os.path.dirname(path), f"{_TMP}{uuid.uuid4().hex[:12]}.json")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


# --------------------------------------------------------------------------
# The pure computation (runs in Dask workers).
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _network(config: ScatteringConfig) -> Scattering:
    """One Scattering per config and process (filters built and jit-compiled once)."""
    return Scattering(config)


def _path_arrays(net: Scattering):
    K = max(net.config.max_order, 1)
    order = np.array([len(p) for p in net.paths], dtype=np.int64)
    scales = np.full((len(net.paths), K), -1, dtype=np.int64)
    for i, p in enumerate(net.paths):
        scales[i, : len(p)] = p
    return order, scales


def compute_features(path, job: FeatureJob) -> dict:
    """Scattering features of one map file.

    Reads ``path`` with :func:`s2scatter.io.read_map` at the job's band-limit
    and sampling, and runs ``Scattering(job.config)`` on all channels at once
    (the network is built once per process and configuration).  Switches on
    JAX's 64-bit mode (process-wide), so results are float64 and identical in
    every process.

    Returns a dict:
        ``"arrays"``: ``{"maps": (C, P, *out_grid)}`` or ``{"mean": (C, P),
        "power": (C, P, L_scal)}``, plus ``"path_order"`` ``(P,)`` and
        ``"path_scales"`` ``(P, max(max_order, 1))`` (``-1`` padded);
        ``"attrs"``: JSON-able metadata (source, sha256, channels, reader meta,
        paths, config, versions, input and output grids);
        ``"input"``: the map data ``(C, *f_shape)`` when ``job.plot`` else ``None``;
        ``"seconds"``: read + compute time.

    Raises :class:`s2scatter.io.ReadError` (names the file) for unreadable inputs.
    """
    import jax

    jax.config.update("jax_enable_x64", True)
    if job.num_threads is not None:
        from .harmonic import set_num_threads

        set_num_threads(job.num_threads)
    from .io import read_map

    start = time.perf_counter()
    c = job.config
    smap = read_map(path, L=c.L, sampling=c.sampling, nside=c.nside, **job.read.kwargs())
    data = np.asarray(smap.data, dtype=np.float64)
    net = _network(c)
    try:
        out = net(data)
    except ValueError as exc:
        raise ValueError(f"{smap.source}: {exc}") from None
    if c.output == "maps":
        arrays = {"maps": np.asarray(out)}
    else:
        arrays = {"mean": np.asarray(out["mean"]), "power": np.asarray(out["power"])}
    arrays["path_order"], arrays["path_scales"] = _path_arrays(net)
    out_sampling, out_nside, out_shape = output_grid(c)
    attrs = _jsonable({
        "complete": True,
        "source": smap.source,
        "sha256": smap.sha256,
        "channels": list(smap.channels),
        "reader_meta": smap.meta,
        "input": {"L": c.L, "sampling": c.sampling, "nside": c.nside, "shape": list(data.shape)},
        "output": {"kind": c.output, "L_scal": c.L_scal, "sampling": out_sampling,
                   "nside": out_nside, "map_shape": list(out_shape)},
        "paths": net.path_table(),
        "config": dataclasses.asdict(c),
        "read": job.read.kwargs(),
        "versions": versions(),
        "s2scatter_store": STORE_VERSION,
    })
    return {"arrays": arrays, "attrs": attrs, "input": data if job.plot else None,
            "seconds": time.perf_counter() - start}


# --------------------------------------------------------------------------
# Writers (the client process only).
# --------------------------------------------------------------------------
def _write_zarr_group(out, name, result):
    import zarr

    final = os.path.join(out, name)
    tmp = os.path.join(out, f"{_TMP}{name}-{uuid.uuid4().hex[:8]}")
    try:
        group = zarr.open_group(tmp, mode="w")
        for key, arr in result["arrays"].items():
            chunks = (1,) + arr.shape[1:] if arr.ndim >= 3 else arr.shape  # one chunk per channel
            group.create_array(key, data=arr, chunks=chunks)
        group.attrs.update(result["attrs"])  # completion marker ("complete": True) last
        _replace_dir(tmp, final)
    except BaseException:
        _rmtree(tmp)
        raise


def _write_npz(out, name, result):
    final = os.path.join(out, f"{name}.npz")
    tmp = os.path.join(out, f"{_TMP}{name}-{uuid.uuid4().hex[:8]}.npz")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, metadata=np.array(json.dumps(result["attrs"])), **result["arrays"])
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _replace_dir(src, dst):
    """Move directory ``src`` to ``dst`` atomically, replacing an existing ``dst``."""
    if os.path.exists(dst):
        old = os.path.join(os.path.dirname(dst), f"{_TMP}old-{uuid.uuid4().hex[:8]}")
        os.replace(dst, old)
        os.replace(src, dst)
        _rmtree(old)
    else:
        os.replace(src, dst)


def _write_plots(directory, name, result, job):
    """Mollweide PNGs of the input channels and of chosen feature paths (channel 0)."""
    from matplotlib.figure import Figure

    from .plotting import _save, plot_mollweide

    attrs = result["attrs"]
    final = os.path.join(directory, name)
    tmp = os.path.join(directory, f"{_TMP}{name}-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    try:
        src = os.path.basename(attrs["source"])
        inp = attrs["input"]
        for c, ch in enumerate(attrs["channels"][:_MAX_INPUT_PLOTS]):
            plot_mollweide(result["input"][c], inp["L"], sampling=inp["sampling"], nside=inp["nside"],
                           title=f"{src} [{ch}], L = {inp['L']}",
                           path=os.path.join(tmp, f"input_c{c}.png"))
        paths = attrs["paths"]
        wanted = job.plot_paths if job.plot_paths is not None else tuple(range(min(4, len(paths))))
        o = attrs["output"]
        for p in (p for p in wanted if p < len(paths)):
            label = f"path {p}: scales {tuple(paths[p]['scales'])}"
            fname = os.path.join(tmp, f"features_c0_p{p:03d}.png")
            if o["kind"] == "maps":
                plot_mollweide(result["arrays"]["maps"][0, p], o["L_scal"], sampling=o["sampling"],
                               nside=o["nside"], title=f"{src} [{attrs['channels'][0]}] {label}", path=fname)
            else:
                power = result["arrays"]["power"][0, p]
                ell = np.arange(power.size)
                shown = power > 0
                ax = Figure(figsize=(6.0, 4.0), layout="constrained").add_subplot()
                ax.semilogy(ell[shown], power[shown], marker=".")
                ax.set_xlabel(r"$\ell$")
                ax.set_ylabel("power per degree")
                ax.set_title(f"{src} [{attrs['channels'][0]}] {label}\nmean = "
                             f"{result['arrays']['mean'][0, p]:.4g}")
                ax.grid(True, which="both", alpha=0.3)
                _save(ax.figure, fname)
        _replace_dir(tmp, final)
    except BaseException:
        _rmtree(tmp)
        raise


# --------------------------------------------------------------------------
# Store bookkeeping.
# --------------------------------------------------------------------------
def _store_attrs(job):
    return {"s2scatter_store": STORE_VERSION, **job.identity(), "versions": versions()}


def _is_store(out) -> str | None:
    """``"zarr"`` / ``"npz"`` when ``out`` is an s2scatter feature store, else None."""
    for fmt, marker in (("zarr", "zarr.json"), ("npz", _NPZ_MARKER)):
        path = os.path.join(out, marker)
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as fh:
                    meta = json.load(fh)
            except (OSError, ValueError):
                continue
            attrs = meta.get("attributes", {}) if fmt == "zarr" else meta
            if isinstance(attrs, dict) and "s2scatter_store" in attrs:
                return fmt
    return None


def _read_store_attrs(out, fmt) -> dict:
    path = os.path.join(out, "zarr.json" if fmt == "zarr" else _NPZ_MARKER)
    with open(path, encoding="utf-8") as fh:
        meta = json.load(fh)
    return meta["attributes"] if fmt == "zarr" else meta


def _clean_tmp(directory):
    if os.path.isdir(directory):
        for entry in os.listdir(directory):
            if entry.startswith(_TMP):
                _rmtree(os.path.join(directory, entry))


def _create_store(out, job):
    os.makedirs(out, exist_ok=True)
    attrs = _store_attrs(job)
    if job.format == "npz":
        _write_json_atomic(os.path.join(out, _NPZ_MARKER), attrs)
        return
    import zarr

    tmp = os.path.join(out, f"{_TMP}root-{uuid.uuid4().hex[:8]}")
    try:
        zarr.open_group(tmp, mode="w", attributes=_jsonable(attrs))
        os.replace(os.path.join(tmp, "zarr.json"), os.path.join(out, "zarr.json"))
    finally:
        _rmtree(tmp)


def _existing_groups(out, fmt) -> dict:
    """``{group name: attrs}`` of the complete groups in a store."""
    groups = {}
    if not os.path.isdir(out):
        return groups
    for entry in sorted(os.listdir(out)):
        if entry.startswith(_TMP):
            continue
        path = os.path.join(out, entry)
        try:
            if fmt == "zarr" and os.path.isfile(os.path.join(path, "zarr.json")):
                with open(os.path.join(path, "zarr.json"), encoding="utf-8") as fh:
                    attrs = json.load(fh).get("attributes", {})
                name = entry
            elif fmt == "npz" and entry.endswith(".npz") and os.path.isfile(path):
                with np.load(path) as z:
                    attrs = json.loads(str(z["metadata"]))
                name = entry[: -len(".npz")]
            else:
                continue
        except (OSError, ValueError, KeyError):
            continue
        if attrs.get("complete") is True:
            groups[name] = attrs
    return groups


def _prepare_store(out, job, *, resume, overwrite):
    """Create or check the store; returns the existing complete groups."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise BatchError(f"output {out!r} exists and is not a directory")
    fmt = _is_store(out) if os.path.isdir(out) else None
    _clean_tmp(out)
    _clean_tmp(plots_dir(out))
    contents = os.listdir(out) if os.path.isdir(out) else []
    if contents and overwrite:
        if fmt is None:
            raise BatchError(f"output {out!r} is a non-empty directory that is not an s2scatter "
                             "feature store; refusing to overwrite it")
        shutil.rmtree(out)
        _rmtree(plots_dir(out))
        contents, fmt = [], None
    if contents:
        if fmt is None:
            raise BatchError(f"output {out!r} is a non-empty directory that is not an s2scatter feature store")
        if not resume:
            raise BatchError(f"output {out!r} already exists; pass resume=True (--resume) to add the "
                             "missing inputs or overwrite=True (--overwrite) to replace it")
        if fmt != job.format:
            raise BatchError(f"store {out!r} has format {fmt!r}, but format={job.format!r} was requested")
        stored = _read_store_attrs(out, fmt)
        want = job.identity()
        diffs = [f"{sect}.{k}: {stored.get(sect, {}).get(k)!r} (store) vs {v!r}"
                 for sect in ("config", "read") for k, v in want[sect].items()
                 if stored.get(sect, {}).get(k) != v]
        if diffs:
            raise BatchError(f"store {out!r} was written with a different job ({'; '.join(diffs)}); "
                             "use another output or --overwrite")
        return _existing_groups(out, fmt)
    _create_store(out, job)
    return {}


# --------------------------------------------------------------------------
# The batch driver.
# --------------------------------------------------------------------------
@dataclasses.dataclass
class BatchReport:
    """What :func:`run_batch` did.

    Attributes:
        out: the store (absolute path); format: ``"zarr"`` or ``"npz"``.
        groups: ``{input path: group name}`` for every input given (the mapping
            from files to groups; also recorded as ``source`` in each group).
        done: inputs written in this run; skipped: inputs already complete
            (``resume``); failed: ``{input path: message}``.
        seconds: wall time of the run; compute_seconds: per written input.
    """

    out: str
    format: str
    groups: dict = dataclasses.field(default_factory=dict)
    done: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    failed: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    compute_seconds: dict = dataclasses.field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 all inputs ok (written or skipped), 1 some failed, 3 none could be done."""
        if not self.failed:
            return 0
        return 1 if (self.done or self.skipped) else 3

    def summary(self) -> str:
        lines = [f"{len(self.done)} written, {len(self.skipped)} skipped (already complete), "
                 f"{len(self.failed)} failed, in {self.seconds:.1f} s -> {self.out} ({self.format})"]
        lines += [f"  failed: {msg}" for msg in self.failed.values()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return _jsonable(dataclasses.asdict(self))


def _failure_message(path, exc) -> str:
    from .io import ReadError

    msg = str(exc) if isinstance(exc, ReadError) else f"{type(exc).__name__}: {exc}"
    return msg if os.path.basename(path) in msg else f"{path}: {msg}"


def _resolve_client(scheduler):
    """(client or None, whether we own it)."""
    if scheduler is None:
        return None, False
    if isinstance(scheduler, str):
        from distributed import Client
        from distributed.comm.addressing import get_address_host_port, parse_address

        try:  # a malformed address fails here, before a Client exists
            if parse_address(scheduler)[0] != "inproc":
                get_address_host_port(scheduler)
        except ValueError as exc:
            raise BatchError(f"bad Dask scheduler address {scheduler!r}: {exc}") from None
        try:
            return Client(scheduler, timeout=_CONNECT_TIMEOUT), True
        except (OSError, TimeoutError, ValueError) as exc:
            raise BatchError(f"cannot connect to the Dask scheduler {scheduler!r}: {exc}") from None
    if hasattr(scheduler, "submit") and hasattr(scheduler, "gather"):
        return scheduler, False
    raise BatchError(f"scheduler must be None, an address string or a distributed.Client, "
                     f"got {type(scheduler).__name__}")


def run_batch(inputs, out, job: FeatureJob, *, resume=False, overwrite=False, scheduler=None,
              progress=True) -> BatchReport:
    """Compute scattering features of every input file and write them to the store ``out``.

    Args:
        inputs: map files (anything :func:`s2scatter.io.read_map` reads);
            duplicates are processed once.
        out: the store: a directory (Zarr v3 store, or ``.npz`` files), see the
            module docstring for the layout.
        job: :class:`FeatureJob`.
        resume: keep the complete groups of an existing store written with the
            same job and skip the inputs they hold (same source path and SHA-256);
            inputs whose file changed are recomputed and replaced.  Without it an
            existing non-empty ``out`` is an error.
        overwrite: delete an existing s2scatter store at ``out`` (and its plots)
            first.  Never deletes a directory that is not a feature store.
        scheduler: ``None`` (serial, in this process), a Dask scheduler address
            (``"tcp://host:8786"``) or a ``distributed.Client``.  Workers compute
            (:func:`compute_features`); this process writes each result as it
            arrives.  Workers must be able to import s2scatter and read the input
            paths (use absolute paths or a shared file system).
        progress: tqdm bar on stderr (only when stderr is a terminal).

    Returns:
        :class:`BatchReport`; inputs that fail (unreadable, bad shape, NaN, ...)
        are listed in ``failed`` with their message and the others are written.

    Raises:
        BatchError: the batch cannot start (see ``resume`` / ``overwrite``).
        KeyboardInterrupt: propagated after removing the partial output of the
            input being written; finished outputs stay (rerun with ``resume``).
    """
    from tqdm import tqdm

    start = time.perf_counter()
    out = os.path.abspath(os.fspath(out))
    if not isinstance(job, FeatureJob):
        raise ValueError(f"job must be a FeatureJob, got {type(job).__name__}")
    client, owned = _resolve_client(scheduler)  # before touching the output
    bar = None
    try:
        existing = _prepare_store(out, job, resume=resume, overwrite=overwrite)
        report = BatchReport(out=out, format=job.format)

        # Names: an input already in the store keeps its group; new ones get unique names.
        by_source = {a.get("source"): (name, a) for name, a in existing.items()}
        taken = set(existing)
        todo = []
        for raw in inputs:
            path = os.path.abspath(os.fspath(raw))
            if path in report.groups:
                continue
            if path in by_source:
                name, attrs = by_source[path]
                try:
                    same = os.path.isfile(path) and file_sha256(path) == attrs.get("sha256")
                except OSError:
                    same = False
                report.groups[path] = name
                if same:
                    report.skipped.append(path)
                    continue
            else:
                name = _unique(_base_name(path), taken)
                taken.add(name)
                report.groups[path] = name
            todo.append(path)

        bar = tqdm(total=len(report.groups), initial=len(report.skipped), unit="map", desc="features",
                   disable=not (progress and sys.stderr.isatty()), file=sys.stderr)
        writer = _write_zarr_group if job.format == "zarr" else _write_npz
        pdir = plots_dir(out)

        def commit(path, result):
            name = report.groups[path]
            if job.plot:
                os.makedirs(pdir, exist_ok=True)
                _write_plots(pdir, name, result, job)
            writer(out, name, result)
            report.done.append(path)
            report.compute_seconds[path] = result["seconds"]

        def handle(path, get_result):
            try:
                commit(path, get_result())
            except Exception as exc:  # noqa: BLE001 - reported per input, the batch goes on
                report.failed[path] = _failure_message(path, exc)
            bar.update(1)

        if client is None:
            for path in todo:
                handle(path, functools.partial(compute_features, path, job))
        else:
            from distributed import as_completed

            futures = {client.submit(compute_features, path, job, pure=False): path for path in todo}
            try:
                for fut in as_completed(futures):
                    handle(futures[fut], fut.result)
                    fut.release()
            except BaseException:
                client.cancel(list(futures))
                raise
    finally:
        if bar is not None:
            bar.close()
        if owned:
            client.close()
    report.seconds = time.perf_counter() - start
    return report


# --------------------------------------------------------------------------
# Inspection.
# --------------------------------------------------------------------------
def store_info(out) -> dict:
    """What a feature store holds: the job, versions and, per group, arrays and provenance.

    Returns ``{"store", "format", "config", "read", "versions", "groups":
    {name: {"source", "sha256", "channels", "arrays": {name: {"shape", "dtype"}},
    "output", "n_paths"}}}``.  Raises :class:`BatchError` when ``out`` is not a store.
    """
    out = os.path.abspath(os.fspath(out))
    fmt = _is_store(out) if os.path.isdir(out) else None
    if fmt is None:
        raise BatchError(f"{out!r} is not an s2scatter feature store (no zarr.json or {_NPZ_MARKER} "
                         "with s2scatter attributes)")
    attrs = _read_store_attrs(out, fmt)
    groups = {}
    for name, g in _existing_groups(out, fmt).items():
        if fmt == "zarr":
            import zarr

            grp = zarr.open_group(os.path.join(out, name), mode="r")
            arrays = {k: {"shape": list(a.shape), "dtype": str(a.dtype)} for k, a in sorted(grp.arrays())}
        else:
            with np.load(os.path.join(out, f"{name}.npz")) as z:
                arrays = {k: {"shape": list(z[k].shape), "dtype": str(z[k].dtype)}
                          for k in sorted(z.files) if k != "metadata"}
        groups[name] = {"source": g.get("source"), "sha256": g.get("sha256"),
                        "channels": g.get("channels"), "arrays": arrays, "output": g.get("output"),
                        "n_paths": len(g.get("paths", [])), "versions": g.get("versions")}
    return {"store": out, "format": fmt, "config": attrs.get("config"), "read": attrs.get("read"),
            "versions": attrs.get("versions"), "groups": groups}
