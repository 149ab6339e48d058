"""The pure computation: one map file, or an array of maps -> scattering features (runs in Dask workers)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .._config import bounded_cache, config
from ..sampling import f_shape
from ..scattering import Scattering, ScatteringConfig, output_grid
from ._job import FeatureJob, _jsonable, versions
from ._store import STORE_VERSION


@bounded_cache(4)
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
    (the network is built once per process and configuration).  Runs in
    JAX's 64-bit mode (:func:`jax.enable_x64`, scoped to this call and its
    thread: the caller's setting is left as it was), so results are float64
    and identical in every process, Dask workers included.

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
    from ..io import read_map

    _setup(job)
    start = time.perf_counter()
    c = job.config
    with _float64():
        smap = read_map(path, L=c.L, sampling=c.sampling, nside=c.nside, **job.read.kwargs())
        data = np.asarray(smap.data, dtype=np.float64)
        return _features(data, job, start=start, source=smap.source, sha256=smap.sha256,
                         channels=list(smap.channels), reader_meta=smap.meta)


def array_sha256(data) -> str:
    """SHA-256 of an array's dtype, shape and bytes (C order): the fingerprint of in-memory inputs."""
    import hashlib

    data = np.ascontiguousarray(data)
    h = hashlib.sha256(f"{data.dtype.str}{data.shape}".encode())
    h.update(memoryview(data).cast("B"))
    return h.hexdigest()


def compute_array_features(data, job: FeatureJob, *, source: str, sha256: str | None = None) -> dict:
    """Scattering features of an in-memory array of maps: :func:`compute_features` without the file.

    Args:
        data: maps ``(C, *f_shape(L, sampling, nside))`` of the job's band-limit
            and sampling (one map: ``f_shape`` alone, ``C = 1``); each leading
            entry is a channel of the group, e.g. one map of a data set.
        job: :class:`FeatureJob` (its read options do not apply).
        source: the name recorded as the group's ``source`` (e.g. ``"array:train[0:1000]"``).
        sha256: fingerprint recorded with the group (default: :func:`array_sha256` of ``data``).

    Returns:
        The same dict as :func:`compute_features` (``reader_meta`` empty,
        channels named ``"0"``, ``"1"``, ...), computed in float64 by the
        same network and code, so a map gives the same features either way.

    Raises:
        ValueError: ``data`` does not match the job's grid, or is not finite (naming ``source``).
    """
    _setup(job)
    start = time.perf_counter()
    c = job.config
    data = np.asarray(data)
    if not np.issubdtype(data.dtype, np.floating) and not np.issubdtype(data.dtype, np.integer):
        raise ValueError(f"{source}: maps must be a real array, got dtype {data.dtype}")
    shape = tuple(f_shape(c.L, sampling=c.sampling, nside=c.nside))
    if data.shape == shape:
        data = data[None]
    if data.ndim != 1 + len(shape) or data.shape[1:] != shape:
        raise ValueError(f"{source}: maps must have shape (C, {', '.join(map(str, shape))}) for L={c.L}, "
                         f"sampling={c.sampling!r}, got {data.shape}")
    data = np.asarray(data, dtype=np.float64)
    sha = array_sha256(data) if sha256 is None else sha256
    with _float64():
        return _features(data, job, start=start, source=source, sha256=sha,
                         channels=[str(i) for i in range(len(data))], reader_meta={})


def _float64():
    """JAX's 64-bit mode for the ``with`` block (this thread only; the caller's setting is
    restored after it): features are float64 whatever the process chose, and a library
    call never flips process-wide state (the CLI turns x64 on for its whole process)."""
    import jax

    return jax.enable_x64(True)


def _setup(job):
    if job.num_threads is not None:
        config(num_threads=job.num_threads)


def _features(data, job, *, start, source, sha256, channels, reader_meta) -> dict:
    """The network on ``data (C, *f_shape)`` (float64) and the group's arrays and attributes."""
    c = job.config
    net = _network(c)
    try:
        out = net(data)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    if c.output == "maps":
        arrays = {"maps": np.asarray(out)}
    else:
        arrays = {"mean": np.asarray(out["mean"]), "power": np.asarray(out["power"])}
    arrays["path_order"], arrays["path_scales"] = _path_arrays(net)
    out_sampling, out_nside, out_shape = output_grid(c)
    attrs = _jsonable({
        "complete": True,
        "arrays": sorted(arrays),
        "source": source,
        "sha256": sha256,
        "channels": channels,
        "reader_meta": reader_meta,
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
