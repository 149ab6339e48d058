"""The store on disk: names, layout, atomic writers and the checks before a run writes.

Only the process that calls :func:`~s2scatter.batch.run_batch` uses the writers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid

import numpy as np

from ._job import _json_default, _jsonable, versions

STORE_VERSION = 1
_TMP = ".tmp-"
_NPZ_MARKER = "store.json"


class BatchError(ValueError):
    """A batch cannot start (output exists, store written with another job, bad scheduler)."""


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
