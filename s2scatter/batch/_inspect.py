"""Inspection of a store (``s2scatter info``)."""

from __future__ import annotations

import os

import numpy as np

from ._store import _NPZ_MARKER, BatchError, _existing_groups, _is_store, _read_store_attrs


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
