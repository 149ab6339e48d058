"""The feature cache: the fixed front end's output, computed once per data set and configuration.

The scattering front end of a :class:`~s2scatter.nn.HybridModel` has no
parameters, so its output is computed once, with the batch machinery
(:func:`s2scatter.batch.run_batch_arrays`: a Zarr feature store, one writer,
finished groups only, resumable), and the learnable layers train on it.  The
store is named after a key that hashes the front end's configuration, the
data's fingerprint, the chunking and the s2scatter version, so changing any
of them uses a new store (the old one is never read again), and an
interrupted computation resumes where it stopped.

The store holds the scattering *maps* (float64, the same arrays as
``s2scatter features`` writes); the model's input is their forward transform
at ``L_scal`` (exact on the equiangular samplings, where the maps are
band-limited samples; on HEALPix the forward transform is approximate, see
``docs/training.md``), cast to the model's complex dtype.  Without a
scattering front end the model's input is the map's own truncated
coefficients: one transform per map, computed in memory, not cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np

__all__ = ["front_end_features", "cache_key", "CHUNK_BYTES"]

CHUNK_BYTES = 64 << 20  # maps per cache group: about this many bytes of float64 input (at most 2,000 maps)


def _chunk_size(map_size: int) -> int:
    return int(max(1, min(2000, CHUNK_BYTES // (8 * map_size))))


def cache_key(scattering, data_fingerprint: str, chunk: int) -> str:
    """The cache store's key: SHA-256 of the front end's config, the data, the chunking and the version."""
    import dataclasses

    from .._version import __version__

    ident = {"front_end": dataclasses.asdict(scattering), "data": data_fingerprint, "chunk": chunk,
             "s2scatter": __version__, "layout": 1}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def _maps_to_flm(maps, scattering, dtype):
    """Forward transform of scattering maps ``(n, P, *out_grid)`` at ``L_scal`` -> ``(n, P, Ls, 2Ls-1)``."""
    from ..harmonic import forward
    from ..scattering import output_grid

    sampling, nside, _ = output_grid(scattering)
    flm = forward(np.asarray(maps, dtype=np.float64), scattering.L_scal, sampling=sampling, nside=nside,
                  reality=True, method="auto")
    return np.asarray(flm).astype(dtype)


def _store_flm(store, groups, scattering, dtype, *, channels_are_samples):
    """Read the ``maps`` of ``groups`` of a store in order and transform them."""
    import zarr

    parts = []
    for name in groups:
        maps = zarr.open_array(os.path.join(store, name, "maps"), mode="r")[...]  # (C, P, *grid)
        if not channels_are_samples:
            maps = maps[:1]
        parts.append(_maps_to_flm(maps, scattering, dtype))
    return np.concatenate(parts, axis=0)


def front_end_features(data, model_cfg, *, cache_dir, progress=False, log=None):
    """The model's input for every map of ``data``: ``(n, P, L_in, 2 L_in - 1)`` complex.

    Args:
        data: :class:`~._data.LabelledData` (maps, or a feature store).
        model_cfg: the :class:`~s2scatter.nn.HybridConfig`.
        cache_dir: directory of the cache stores (created if missing).
        progress: a progress bar for the scattering (on a terminal).
        log: ``callable(str)`` for one-line notes (cache hit / computed).

    Returns:
        ``(flm, info)``: the coefficients in the model's complex dtype, and a
        dict ``{"store", "key", "seconds", "computed", "reused"}`` (``store``
        None without scattering or for a feature store given as data).
    """
    from ..batch import BatchError, FeatureJob, run_batch_arrays

    log = log or (lambda msg: None)
    cdt = np.complex64 if model_cfg.dtype in (None, "float32") else np.complex128
    start = time.perf_counter()
    scat = model_cfg.scattering
    if data.store is not None:  # precomputed by `s2scatter features`
        flm = _store_flm(data.store, data.groups, data.scattering, cdt, channels_are_samples=False)
        return flm, {"store": data.store, "key": None, "seconds": time.perf_counter() - start,
                     "computed": 0, "reused": len(data.groups)}
    maps = data.maps
    if scat is None:
        return _truncated_flm(maps, model_cfg, cdt), {"store": None, "key": None, "computed": 0, "reused": 0,
                                                       "seconds": time.perf_counter() - start}
    n = len(maps)
    chunk = _chunk_size(int(np.prod(maps.shape[1:])))
    key = cache_key(scat, data.fingerprint, chunk)
    store = os.path.join(os.fspath(cache_dir), f"features-{key[:16]}.zarr")
    parts = {f"maps-{i:06d}": maps[i:i + chunk] for i in range(0, n, chunk)}
    job = FeatureJob(scat, format="zarr")
    os.makedirs(cache_dir, exist_ok=True)
    try:
        report = run_batch_arrays(parts, store, job, resume=True, progress=progress)
    except BatchError as exc:
        raise BatchError(f"feature cache {store}: {exc}") from None
    if report.failed:
        raise ValueError(f"feature cache {store}: {next(iter(report.failed.values()))}")
    names = [report.groups[f"array:{k}"] for k in parts]
    flm = _store_flm(store, names, scat, cdt, channels_are_samples=True)
    assert flm.shape[0] == n
    info = {"store": store, "key": key, "seconds": time.perf_counter() - start,
            "computed": len(report.done), "reused": len(report.skipped)}
    log(f"features {data.what}: {n} maps, {len(report.skipped)} of {len(parts)} cache group(s) reused, "
        f"{len(report.done)} computed, {info['seconds']:.1f} s ({store})")
    return flm, info


def _truncated_flm(maps, model_cfg, cdt):
    """The no-scattering front end: the maps' coefficients ``l < L_in``, ``(n, 1, L_in, 2 L_in - 1)``."""
    from ..harmonic import forward

    L, Lin = model_cfg.L, model_cfg.input_band_limit
    chunk = _chunk_size(int(np.prod(maps.shape[1:])))
    out = np.empty((len(maps), 1, Lin, 2 * Lin - 1), dtype=cdt)
    for i in range(0, len(maps), chunk):
        flm = np.asarray(forward(np.asarray(maps[i:i + chunk], dtype=np.float64), L, sampling=model_cfg.sampling,
                                 nside=model_cfg.nside, reality=True, method="auto"))
        out[i:i + chunk, 0] = flm[:, :Lin, L - Lin: L + Lin - 1]
    return out


def features_in_memory(maps, model_cfg):
    """The same coefficients as :func:`front_end_features`, without a store (``evaluate``)."""
    from ..batch import FeatureJob, compute_array_features

    cdt = np.complex64 if model_cfg.dtype in (None, "float32") else np.complex128
    scat = model_cfg.scattering
    if scat is None:
        return _truncated_flm(maps, model_cfg, cdt)
    chunk = _chunk_size(int(np.prod(maps.shape[1:])))
    job = FeatureJob(scat, format="zarr")
    parts = []
    for i in range(0, len(maps), chunk):
        res = compute_array_features(maps[i:i + chunk], job, source=f"array[{i}:{i + chunk}]", sha256="-")
        parts.append(_maps_to_flm(res["arrays"]["maps"], scat, cdt))
    Lin = model_cfg.input_band_limit
    return np.concatenate(parts, axis=0) if parts else np.empty((0, model_cfg.input_channels, Lin, 2 * Lin - 1), cdt)
