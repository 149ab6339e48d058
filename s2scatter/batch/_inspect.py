"""Inspection of a store: which groups are sound, which are damaged (``s2scatter info``, ``--resume``).

A group is *sound* when its metadata reads, it carries ``"complete": true``
and every array it should hold is there (metadata and, for stores of layout
version 2, every chunk file).  Anything else makes it *damaged*, with a
one-line reason; nothing here raises for a damaged group.  ``verify=True``
also reads every array in full, so a chunk whose bytes changed fails its
CRC-32C checksum (Zarr) or its ZIP CRC-32 (``.npz``).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from ._job import _one_line
from ._lock import BatchError
from ._store import (_NPZ_MARKER, _TMP, _is_store, _read_json, _read_store_attrs, _zarr_array_problem,
                     resolve_out)

# Arrays of a group by output kind (stores written before groups listed their "arrays").
_ARRAYS = {"maps": ("maps", "path_order", "path_scales"),
           "invariants": ("mean", "power", "path_order", "path_scales")}


@dataclasses.dataclass(frozen=True)
class GroupState:
    """One group of a store: its attributes (``None`` when unreadable) and what is wrong, if anything."""

    attrs: dict | None
    problem: str | None = None

    @property
    def source(self) -> str | None:
        return self.attrs.get("source") if self.attrs else None


def _expected_arrays(attrs, what) -> tuple[tuple, str | None]:
    """The arrays a group marked complete holds, or why it is damaged (``what``: its attributes' name)."""
    if attrs.get("complete") is not True:
        return (), "incomplete (no completion marker)"
    names = attrs.get("arrays")
    if not (isinstance(names, list) and names):  # stores written before groups listed their arrays
        names = _ARRAYS.get((attrs.get("output") or {}).get("kind"), ())
    return tuple(names), None if names else f"{what} does not say which arrays it holds"


def _zarr_group_state(path, *, verify: bool) -> tuple[GroupState, dict]:
    """State of the group directory ``path`` and ``{array: metadata}`` of its sound arrays."""
    try:
        meta = _read_json(os.path.join(path, "zarr.json"))
    except FileNotFoundError:
        return GroupState(None, "no zarr.json"), {}
    except (OSError, ValueError) as exc:
        return GroupState(None, f"unreadable zarr.json ({_one_line(exc)})"), {}
    attrs = meta.get("attributes") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or meta.get("node_type") != "group" or not isinstance(attrs, dict):
        return GroupState(None, "zarr.json does not describe a group"), {}
    expected, problem = _expected_arrays(attrs, "zarr.json")
    if problem:
        return GroupState(attrs, problem), {}
    all_chunks = attrs.get("s2scatter_store", 1) != 1  # version 1 skipped chunks of zeros
    arrays = {}
    for key in expected:
        arr_meta, problem = _zarr_array_problem(os.path.join(path, key), all_chunks=all_chunks, verify=verify)
        if problem:
            return GroupState(attrs, f"array {key!r}: {problem}"), {}
        arrays[key] = {"shape": list(arr_meta["shape"]), "dtype": str(arr_meta.get("data_type"))}
    return GroupState(attrs), arrays


def _npz_group_state(path, *, verify: bool) -> tuple[GroupState, dict]:
    attrs = None
    try:
        with open(path, "rb") as fh, np.load(fh) as z:  # our handle: closed even when np.load fails
            if "metadata" not in z.files:
                return GroupState(None, "no metadata"), {}
            attrs = json.loads(str(z["metadata"]))
            if not isinstance(attrs, dict):
                return GroupState(None, "metadata is not a JSON object"), {}
            expected, problem = _expected_arrays(attrs, "metadata")
            if problem:
                return GroupState(attrs, problem), {}
            missing = [k for k in expected if k not in z.files]
            if missing:
                return GroupState(attrs, f"array {missing[0]!r}: missing"), {}
            arrays = {}
            for k in sorted(z.files):
                if k == "metadata":
                    continue
                header = None if verify else _npz_header(z, k)
                if header is None:
                    a = z[k]  # reading a member in full checks its CRC-32
                    header = a.shape, a.dtype
                arrays[k] = {"shape": list(header[0]), "dtype": str(header[1])}
    except Exception as exc:  # noqa: BLE001 - BadZipFile, EOFError, ValueError, ...: damage
        return GroupState(attrs, f"unreadable ({_one_line(exc)})"), {}
    return GroupState(attrs), arrays


def _npz_header(z, key):
    """(shape, dtype) of member ``key`` of an open ``NpzFile`` from its header alone (None: unknown)."""
    from numpy.lib import format as npformat

    readers = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0}
    with z.zip.open(f"{key}.npy") as fh:
        reader = readers.get(npformat.read_magic(fh))
        if reader is None:
            return None
        shape, _, dtype = reader(fh)
    return shape, dtype


def scan_groups(out, fmt, *, verify: bool = False) -> tuple[dict, dict]:
    """``({name: GroupState}, {name: {array: {"shape", "dtype"}}})`` of every group in a store.

    Zarr: every directory of ``out`` is a group (sound or damaged); ``.npz``:
    every ``*.npz`` file.  Entries named ``.tmp-*`` (left by s2scatter before
    it had a workspace) are not groups.  ``verify`` reads every array in full.
    """
    states, arrays = {}, {}
    for entry in sorted(os.listdir(out)):
        path = os.path.join(out, entry)
        if entry.startswith(_TMP):
            continue
        if fmt == "zarr" and os.path.isdir(path):
            name = entry
            states[name], arrays[name] = _zarr_group_state(path, verify=verify)
        elif fmt == "npz" and entry.endswith(".npz") and os.path.isfile(path):
            name = entry[: -len(".npz")]
            states[name], arrays[name] = _npz_group_state(path, verify=verify)
    return states, arrays


def store_info(out, *, verify: bool = False) -> dict:
    """What a feature store holds: the job, versions, and per group its arrays and provenance.

    Returns ``{"store", "format", "config", "read", "versions", "groups":
    {name: {"source", "sha256", "channels", "arrays": {name: {"shape",
    "dtype"}}, "output", "n_paths", "versions"}}, "damaged": {name: reason}}``.
    ``groups`` holds the sound groups, ``damaged`` the others (unreadable
    metadata, no completion marker, an array or chunk missing, and with
    ``verify=True`` data that does not read back, e.g. a checksum mismatch).
    ``verify`` reads every array in full (as much I/O as the store's size).
    Raises :class:`BatchError` when ``out`` is not a store.
    """
    out = resolve_out(out)
    fmt = _is_store(out) if os.path.isdir(out) else None
    if fmt is None:
        raise BatchError(f"{out!r} is not an s2scatter feature store (no zarr.json or {_NPZ_MARKER} "
                         "with s2scatter attributes)")
    attrs = _read_store_attrs(out, fmt)
    states, arrays = scan_groups(out, fmt, verify=verify)
    groups, damaged = {}, {}
    for name, state in states.items():
        if state.problem is not None:
            damaged[name] = state.problem
            continue
        g = state.attrs
        groups[name] = {"source": g.get("source"), "sha256": g.get("sha256"),
                        "channels": g.get("channels"), "arrays": arrays[name], "output": g.get("output"),
                        "n_paths": len(g.get("paths", [])), "versions": g.get("versions")}
    return {"store": out, "format": fmt, "config": attrs.get("config"), "read": attrs.get("read"),
            "versions": attrs.get("versions"), "groups": groups, "damaged": damaged}
