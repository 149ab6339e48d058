"""The store on disk: names, layout, atomic writers and the checks before a run writes.

Only the process that calls :func:`~s2scatter.batch.run_batch` uses the writers,
with the store's lock held (:mod:`._lock`); temporary entries are made in the
writer's :class:`~._lock.Workspace`, outside the store, and renamed into it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re

import numpy as np

from ._job import _json_default, _jsonable, _one_line, versions
from ._lock import BatchError, Workspace, _rmtree

STORE_VERSION = 2  # 2: CRC-32C on every chunk, every chunk written, groups list their arrays
"""Layout version written into every feature store (checked when a store is opened again)."""
_TMP = ".tmp-"  # temporary entries inside the store, made by s2scatter before the workspace
_NPZ_MARKER = "store.json"
_PLOTS_MARKER = ".s2scatter-plots"  # in <OUT>_plots: the directory is s2scatter's


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


def resolve_out(out) -> str:
    """The store path a run works on: ``out`` absolute, symbolic links resolved.

    Raises :class:`BatchError` for an empty path (which would otherwise mean
    the current directory).
    """
    text = os.fspath(out)
    if not isinstance(text, str) or not text.strip():
        raise BatchError(f"out must name the store directory, got {text!r}")
    return os.path.realpath(text)


def plots_dir(out) -> str:
    """Directory of the PNGs for store ``out``: ``<out without .zarr/.npz>_plots``.

    Next to the store's real path (symbolic links in ``out`` resolved).
    """
    out = os.path.realpath(os.fspath(out)).rstrip(os.sep)
    root, ext = os.path.splitext(out)
    return (root if ext.lower() in (".zarr", ".npz") else out) + "_plots"


def _write_json(path, obj, workspace: Workspace):
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file renamed over it)."""
    with workspace.temp("json") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, default=_json_default)
        os.replace(tmp, path)


def _read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _chunk_keys(meta) -> list | None:
    """Every chunk key of a Zarr v3 array (``c/0/1`` ...), or None for a layout not checked here."""
    grid, enc = meta.get("chunk_grid", {}), meta.get("chunk_key_encoding", {})
    if grid.get("name") != "regular" or enc.get("name") != "default":
        return None
    sep = (enc.get("configuration") or {}).get("separator", "/")
    shape, chunks = meta["shape"], grid["configuration"]["chunk_shape"]
    ranges = [range(-(-s // c)) for s, c in zip(shape, chunks)]
    return [sep.join(["c", *map(str, idx)]) for idx in itertools.product(*ranges)]


def _zarr_array_problem(path, *, all_chunks: bool, verify: bool) -> tuple[dict | None, str | None]:
    """(array metadata, problem) of the Zarr array at ``path``."""
    try:
        meta = _read_json(os.path.join(path, "zarr.json"))
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError) as exc:
        return None, f"unreadable zarr.json ({_one_line(exc)})"
    if not isinstance(meta, dict) or meta.get("node_type") != "array" or not isinstance(
            meta.get("shape"), list):
        return None, "zarr.json does not describe an array"
    if all_chunks:
        try:
            keys = _chunk_keys(meta)
        except (KeyError, TypeError, ValueError) as exc:
            return None, f"bad metadata ({_one_line(exc)})"
        for key in keys or ():
            if not os.path.isfile(os.path.join(path, *key.split("/"))):
                return meta, f"chunk {key} missing"
    if verify:
        import zarr

        try:
            zarr.open_array(path, mode="r")[...]
        except Exception as exc:  # noqa: BLE001 - any failure to read is damage
            return meta, f"unreadable data ({_one_line(exc)})"
    return meta, None


def _check_zarr_written(path, arrays):
    """Raise ``OSError`` unless every array of ``arrays`` is in the group at ``path``, whole.

    Metadata readable with the expected shape and every chunk file present:
    the same test :func:`~s2scatter.batch.store_info` applies to a sound group.
    """
    for key, arr in arrays.items():
        meta, problem = _zarr_array_problem(os.path.join(path, key), all_chunks=True, verify=False)
        if problem is None and tuple(meta["shape"]) != arr.shape:
            problem = f"shape {tuple(meta['shape'])}, expected {arr.shape}"
        if problem is not None:
            raise OSError(f"array {key!r} was not written whole ({problem}); the group is not marked "
                          "complete")


def _check_npz_readback(path, arrays, attrs):
    """Raise ``OSError`` unless the ``.npz`` at ``path`` holds ``arrays`` and ``attrs`` exactly."""
    with open(path, "rb") as fh, np.load(fh) as z:
        if "metadata" not in z.files or json.loads(str(z["metadata"])) != attrs:
            raise OSError(f"metadata did not read back as written in {path!r}")
        for key, arr in arrays.items():
            if key not in z.files or z[key].shape != arr.shape or not np.array_equal(z[key], arr,
                                                                                       equal_nan=True):
                raise OSError(f"array {key!r} did not read back as written in {path!r}")


def _dimension_names(key, attrs) -> tuple:
    """Names of the axes of array ``key`` (Zarr v3 ``dimension_names``, read by xarray)."""
    grid = ("pixel",) if attrs["output"]["sampling"] == "healpix" else ("theta", "phi")
    return {"maps": ("channel", "path", *grid), "mean": ("channel", "path"),
            "power": ("channel", "path", "ell"), "path_order": ("path",),
            "path_scales": ("path", "level")}[key]


def _input_units(attrs) -> str | None:
    """The input's units when its reader knows them, one for all channels (FITS TUNITn, netCDF units)."""
    units = ((attrs.get("reader_meta") or {}).get("input") or {}).get("units")
    if isinstance(units, list):
        units = units[0] if len(set(units)) == 1 else None
    return units or None


def _array_attributes(key, attrs) -> dict:
    """CF-style attributes of array ``key``: ``long_name``, ``description`` and, where known, ``units``."""
    out = attrs["output"]
    grid = {"sampling": out["sampling"], "L": out["L_scal"],
            **({"nside": out["nside"]} if out["nside"] is not None else {})}
    units = _input_units(attrs)
    squared = None if units is None else (f"{units}^2" if units.isalnum() else f"({units})^2")
    table = {
        "maps": ({"long_name": "scattering coefficients",
                  "description": "S[p] f = (U[p] f) * Phi per channel and path: a map on the output "
                                 "grid (sampling, band-limit L, HEALPix nside)", **grid}, units),
        "mean": ({"long_name": "mean of the scattering coefficients",
                  "description": "mean over the sphere of S[p] f per channel and path (rotation "
                                 "invariant)"}, units),
        "power": ({"long_name": "power per degree of the scattering coefficients",
                   "description": "C_l = sum_m |S_lm|^2 / (2l+1) of S[p] f per channel and path "
                                  "(rotation invariant); ell = 0 .. L_scal-1"}, squared),
        "path_order": ({"long_name": "scattering order of each path",
                        "description": "number of wavelet moduli on the path (0, 1, 2, ...)"}, None),
        "path_scales": ({"long_name": "wavelet scales of each path",
                         "description": "j1, j2, ... along the path; -1 pads paths shorter than "
                                        "max_order"}, None),
    }
    base, unit = table[key]
    return {**base, **({"units": unit} if unit else {})}


def _compressors():
    """Zstandard, then a CRC-32C checksum of the compressed chunk: a changed byte fails the read."""
    from zarr.codecs import Crc32cCodec, ZstdCodec

    return (ZstdCodec(), Crc32cCodec())


def _write_zarr_group(out, name, result, workspace: Workspace):
    """Write one group: arrays into a temporary group, checked, then ``"complete": true``, renamed in.

    Every array carries its ``dimension_names`` and CF-style attributes (so
    ``xarray.open_datatree`` opens the store as a tree of datasets), and every
    chunk is written (also chunks of zeros, so a missing chunk file means
    damage) with a CRC-32C checksum.  The completion marker is written
    only after every array was checked whole (metadata and every chunk); the group appears in ``out`` with one
    rename (an existing group of that name is replaced, see
    :func:`_replace_dir`).  On any error, or an interrupt, the temporary group
    is removed and ``out`` is unchanged.
    """
    import zarr

    with workspace.temp(name) as tmp:
        group = zarr.open_group(tmp, mode="w")
        for key, arr in result["arrays"].items():
            chunks = (1,) + arr.shape[1:] if arr.ndim >= 3 else arr.shape  # one chunk per channel
            group.create_array(key, data=arr, chunks=chunks, compressors=_compressors(),
                               config={"write_empty_chunks": True},
                               dimension_names=_dimension_names(key, result["attrs"]),
                               attributes=_array_attributes(key, result["attrs"]))
        _check_zarr_written(tmp, result["arrays"])
        group.attrs.update(result["attrs"])  # completion marker ("complete": True) last
        _replace_dir(tmp, os.path.join(out, name), workspace)


def _write_npz(out, name, result, workspace: Workspace):
    """Write ``<name>.npz`` to a temporary file, read it back, and rename it into ``out``."""
    with workspace.temp(f"{name}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, metadata=np.array(json.dumps(result["attrs"])), **result["arrays"])
        _check_npz_readback(tmp, result["arrays"], result["attrs"])
        os.replace(tmp, os.path.join(out, f"{name}.npz"))


def _replace_dir(src, dst, workspace: Workspace):
    """Move directory ``src`` to ``dst``, replacing an existing ``dst``.

    Two renames when ``dst`` exists (the old one into the workspace, then
    ``src`` into place): a kill between them leaves ``dst`` missing, never
    half-written, and ``--resume`` recomputes it.
    """
    if os.path.lexists(dst):
        old = workspace.path("old")
        os.replace(dst, old)
        os.replace(src, dst)
        _rmtree(old)
    else:
        os.replace(src, dst)


# --------------------------------------------------------- Store bookkeeping.
def _store_attrs(job):
    return {"s2scatter_store": STORE_VERSION, **job.identity(), "versions": versions()}


def _is_store(out) -> str | None:
    """``"zarr"`` / ``"npz"`` when ``out`` is an s2scatter feature store, else None."""
    for fmt in ("zarr", "npz"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # no marker, or not ours
            attrs = _read_store_attrs(out, fmt)
            if isinstance(attrs, dict) and "s2scatter_store" in attrs:
                return fmt
    return None


def _read_store_attrs(out, fmt) -> dict:
    meta = _read_json(os.path.join(out, "zarr.json" if fmt == "zarr" else _NPZ_MARKER))
    return meta["attributes"] if fmt == "zarr" else meta


def _clean_tmp(directory):
    """Remove the ``.tmp-*`` entries that s2scatter made inside a store before it had a workspace."""
    if os.path.isdir(directory):
        for entry in os.listdir(directory):
            if entry.startswith(_TMP):
                _rmtree(os.path.join(directory, entry))


def _create_store(out, job, workspace: Workspace):
    """Write the store's marker (root ``zarr.json`` or ``store.json``) into the empty directory ``out``."""
    attrs = _store_attrs(job)
    if job.format == "npz":
        _write_json(os.path.join(out, _NPZ_MARKER), attrs, workspace)
        return
    import zarr

    tmp = workspace.path("root")
    try:
        zarr.open_group(tmp, mode="w", attributes=_jsonable(attrs))
        os.replace(os.path.join(tmp, "zarr.json"), os.path.join(out, "zarr.json"))
    finally:
        _rmtree(tmp)


def _is_ours(directory, entry, kind) -> bool:
    """Whether ``directory/entry`` is something s2scatter writes in a store or plots directory.

    ``kind`` ``"zarr"``: the root ``zarr.json`` and directories holding a
    ``zarr.json`` (groups, damaged or not); ``"npz"``: ``store.json`` and
    ``*.npz`` files; ``"plots"``: the marker and directories of PNGs.  In all
    three, ``.tmp-*`` entries of older s2scatter versions.
    """
    path = os.path.join(directory, entry)
    if entry.startswith(_TMP):
        return True
    if os.path.islink(path):
        return False
    if kind == "zarr":
        return entry == "zarr.json" or os.path.isfile(os.path.join(path, "zarr.json"))
    if kind == "npz":
        return entry == _NPZ_MARKER or (entry.endswith(".npz") and os.path.isfile(path))
    if entry == _PLOTS_MARKER:
        return True
    return os.path.isdir(path) and all(f.endswith(".png") for f in os.listdir(path))


def _refuse_foreign(directory, kind, what) -> None:
    """Refuse ``--overwrite`` when ``directory`` holds entries s2scatter does not write (:func:`_is_ours`)."""
    foreign = sorted(e for e in os.listdir(directory) if not _is_ours(directory, e, kind))
    if foreign:
        raise BatchError(f"--overwrite: {what} {directory!r} holds entries s2scatter did not write "
                         f"({', '.join(foreign[:5])}); nothing was deleted")


def _plots_dir_is_ours(pdir) -> bool:
    return (os.path.isdir(pdir) and not os.path.islink(pdir)
            and os.path.isfile(os.path.join(pdir, _PLOTS_MARKER)))


def _open_plots_dir(pdir, out) -> None:
    """Create the plots directory with its marker, or check that an existing one is s2scatter's."""
    try:
        os.mkdir(pdir)
    except FileExistsError:
        if not _plots_dir_is_ours(pdir):
            raise BatchError(f"plots directory {pdir!r} was not written by s2scatter") from None
        return
    with open(os.path.join(pdir, _PLOTS_MARKER), "w", encoding="utf-8") as fh:
        json.dump({"s2scatter_plots_of": out}, fh)


def _check_plots_dir(out, job, *, overwrite) -> None:
    """Refuse a run that would write into, or delete, a plots directory s2scatter did not write."""
    pdir = plots_dir(out)
    if not os.path.lexists(pdir):
        return
    if not _plots_dir_is_ours(pdir):
        if job.plot:
            raise BatchError(f"plots directory {pdir!r} exists and was not written by s2scatter (no "
                             f"{_PLOTS_MARKER} marker in it); move it away or use another output")
        return  # not ours and not needed: left alone, --overwrite included
    if overwrite:
        _refuse_foreign(pdir, "plots", "plots directory")


def _check_store(out, job, *, resume, overwrite) -> str | None:
    """Decide, reading only, whether a run may write to the (locked) directory ``out``.

    Returns the existing store's format (``None`` when ``out`` is empty).
    Raises :class:`BatchError` when ``out`` holds something that is not an
    s2scatter store, a store without ``resume`` / ``overwrite``, or (with
    ``resume``) a store written with another job or format.
    """
    fmt = _is_store(out)
    if os.listdir(out) and fmt is None:
        raise BatchError(f"output {out!r} is a non-empty directory that is not an s2scatter feature "
                         "store; nothing in it was changed")
    _check_plots_dir(out, job, overwrite=overwrite and fmt is not None)
    if fmt is None:
        return None
    if overwrite:
        _refuse_foreign(out, fmt, "store")
        return fmt
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
    return fmt


def _prepare_store(out, job, workspace: Workspace, *, fmt, overwrite) -> None:
    """Make the checked, locked ``out`` ready to write.

    ``fmt`` is what :func:`_check_store` returned: everything deleted here
    was checked there to be s2scatter's.  Removes the ``.tmp-*`` entries an
    older s2scatter left in a store (and in its marked plots directory); with
    ``overwrite``, empties the store (the directory itself stays: it carries
    the lock) and deletes its marked plots directory; creates the store's
    marker when there is no store yet.
    """
    pdir = plots_dir(out)
    ours = _plots_dir_is_ours(pdir)
    if fmt is not None:
        _clean_tmp(out)
        if ours:
            _clean_tmp(pdir)
    if fmt is not None and overwrite:
        for entry in os.listdir(out):
            _rmtree(os.path.join(out, entry))
        if ours:
            _rmtree(pdir)
        fmt = None
    if fmt is None:
        _create_store(out, job, workspace)
