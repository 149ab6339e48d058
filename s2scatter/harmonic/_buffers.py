"""Aligned host buffers for eager outputs, recycled once JAX releases them.

Eager ``"ducc"`` calls write their results into 64-byte aligned NumPy buffers
that JAX adopts without a copy (:func:`s2scatter.harmonic._primitive._adopt`).
A fresh multi-megabyte buffer costs page faults on first touch -- and, for
the hundreds of megabytes of an L = 2048 ``flm``, transparent-huge-page
compaction stalls once memory is fragmented -- often 10-40% of a transform.
This module keeps a bounded cache of such buffers:

* :func:`output_empty` returns an aligned array, reusing a cached buffer of
  the same size when there is one (its pages are already mapped);
* :func:`recycle_when_released` (called by ``_adopt`` after a zero-copy
  hand-over) returns the buffer to the cache when JAX drops its last
  reference to it (a weak reference to the exported array, which the
  DLPack capsule keeps alive exactly as long as JAX needs the memory).

A buffer is recycled only when one array covering all of it was handed to
JAX; anything else (a copy fallback, a partial view, an internal temporary)
is freed as usual.  The cache holds at most :func:`set_output_cache` bytes
of *unused* buffers (default 1 GiB; ``0`` disables it) -- memory the process
keeps instead of returning to the operating system; when full, the least
recently released buffers make room (sizes in use now are the likely next).
"""

from __future__ import annotations

import collections
import math
import os
import threading
import weakref

import numpy as np

__all__ = ["output_empty", "recycle_when_released", "set_output_cache", "get_output_cache"]

_ALIGN = 64
_LOCK = threading.Lock()
_STATE = {"limit": 1 << 30, "held": 0}
_FREE: dict[int, list[np.ndarray]] = {}  # nbytes -> unused owner buffers (uint8)
_AGE: collections.OrderedDict = collections.OrderedDict()  # id(unused owner) -> nbytes, oldest first
_LENT: dict[int, weakref.ref] = {}  # id(owner) -> weak reference to the lent owner
_WATCH: dict[int, tuple] = {}  # id(weakref to an exported array) -> (that weakref, owner, nbytes)


def _after_fork_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def set_output_cache(gigabytes: float) -> None:
    """Keep up to ``gigabytes`` of released eager-output buffers for reuse (0 disables).

    Repeated eager transforms of the same size then write into memory whose
    pages are already mapped.  The price is resident memory that the process
    keeps after the arrays are gone; lowering the limit frees the excess now.
    """
    if isinstance(gigabytes, bool) or not isinstance(gigabytes, (int, float)) or not gigabytes >= 0:
        raise ValueError(f"gigabytes must be a number >= 0, got {gigabytes!r}")
    with _LOCK:
        _STATE["limit"] = int(gigabytes * (1 << 30))
        _evict()


def _evict() -> None:
    """Drop the least recently released buffers until the cache fits its limit (lock held)."""
    while _STATE["held"] > _STATE["limit"] and _AGE:
        key, nbytes = _AGE.popitem(last=False)
        free = _FREE[nbytes]
        free[:] = [b for b in free if id(b) != key]
        if not free:
            del _FREE[nbytes]
        _STATE["held"] -= nbytes


def get_output_cache() -> dict:
    """``{"limit_bytes", "held_bytes", "buffers"}`` of the eager-output buffer cache."""
    with _LOCK:
        return {"limit_bytes": _STATE["limit"], "held_bytes": _STATE["held"],
                "buffers": sum(len(v) for v in _FREE.values())}


def aligned_view(owner: np.ndarray, nbytes: int, shape, dtype, align: int = _ALIGN) -> np.ndarray:
    """The ``align``-byte aligned ``(shape, dtype)`` array inside the uint8 buffer ``owner``."""
    off = (-owner.ctypes.data) % align
    return owner[off : off + nbytes].view(dtype).reshape(shape)


def output_empty(shape, dtype) -> np.ndarray:
    """Uninitialised 64-byte aligned array, from the cache when one of its size is free."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    owner = None
    if nbytes:
        with _LOCK:
            free = _FREE.get(nbytes)
            if free:
                owner = free.pop()
                del _AGE[id(owner)]
                _STATE["held"] -= nbytes
                if not free:
                    del _FREE[nbytes]
    if owner is None:
        owner = np.empty(nbytes + _ALIGN, np.uint8)
    key = id(owner)
    _LENT[key] = weakref.ref(owner, lambda _, k=key: _LENT.pop(k, None))
    return aligned_view(owner, nbytes, shape, dtype)


def _owner(arr: np.ndarray):
    base = arr
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return base


def recycle_when_released(arr: np.ndarray) -> None:
    """Return ``arr``'s buffer to the cache once ``arr`` is garbage (after a zero-copy
    hand-over to JAX, whose DLPack capsule holds ``arr`` while it uses the memory).

    Only for a buffer from :func:`output_empty` that ``arr`` covers entirely,
    and only once per buffer; otherwise nothing happens.
    """
    owner = _owner(arr)
    ref = _LENT.pop(id(owner), None)  # at most one array may hand this buffer back
    if ref is None or ref() is not owner:
        return
    nbytes = owner.nbytes - _ALIGN
    if arr.nbytes != nbytes or arr.ctypes.data != owner.ctypes.data + (-owner.ctypes.data) % _ALIGN:
        return  # a partial view: other parts may live on elsewhere; let it be freed normally
    watch = weakref.ref(arr, _on_release)
    _WATCH[id(watch)] = (watch, owner, nbytes)


def _on_release(watch):
    _, owner, nbytes = _WATCH.pop(id(watch))
    _release(owner, nbytes)


def _release(owner: np.ndarray, nbytes: int) -> None:
    """Cache a released buffer; the least recently released ones make room for it."""
    with _LOCK:
        if nbytes > _STATE["limit"]:
            return
        _FREE.setdefault(nbytes, []).append(owner)
        _AGE[id(owner)] = nbytes
        _STATE["held"] += nbytes
        _evict()
