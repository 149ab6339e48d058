"""Aligned host buffers for eager outputs and transform temporaries, reused once free.

Eager ``"ducc"`` calls write their results into 64-byte aligned NumPy buffers
that JAX adopts without a copy (:func:`s2scatter.harmonic._primitive._adopt`).
A fresh multi-megabyte buffer costs page faults on first touch -- and, for
the hundreds of megabytes of an L = 2048 ``flm``, transparent-huge-page
compaction stalls once memory is fragmented: O(size) work per call that reuse
avoids (measured in ``docs/performance.md``, Output cache).
This module keeps a bounded pool of such buffers:

* :func:`output_empty` returns an aligned array of the requested shape and
  dtype, reusing a pooled one that nothing refers to any more (its pages are
  already mapped), else a new one that joins the pool;
* a pooled buffer is *free* when the pool holds the only references to it
  and to its memory: JAX keeps an adopted array alive through its DLPack
  capsule exactly as long as it uses the memory, and every NumPy view of a
  buffer refers to its owner, so a buffer still in use anywhere (a JAX array,
  a NumPy view of one, a temporary a caller still holds) is never handed out.

No release hook is needed: intermediates (ring Fourier coefficients, alm) and
outputs share the pool, and a buffer becomes reusable the moment its last
user lets go.  The pool refers to at most :func:`set_output_cache` bytes
(default 1 GiB; ``0`` disables it) -- memory the process keeps instead of
returning it to the operating system; when full, the buffers handed out
longest ago are dropped from it (one still in use lives on with its user).
"""

from __future__ import annotations

import collections
import os
import sys
import threading

import numpy as np

__all__ = ["output_empty", "set_output_cache", "get_output_cache", "clear"]

_ALIGN = 64
_LOCK = threading.Lock()
_STATE = {"limit": 1 << 30, "held": 0}
_POOL: dict[tuple, list] = {}  # (shape, dtype) -> entries [owner, view, nbytes]
_ORDER: collections.OrderedDict = collections.OrderedDict()  # id(entry) -> (key, entry), least recent first


def _after_fork_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _refs_when_free():
    """``sys.getrefcount`` of (view, owner) inside :func:`_is_free` for an unused entry
    (measured, not assumed: the count of a call argument differs between Pythons)."""
    owner = np.empty(_ALIGN, np.uint8)
    view = owner[:8]
    entry = [owner, view, 8]
    del owner, view
    return _counts(entry)


def _counts(entry):
    owner, view, _ = entry
    return sys.getrefcount(view), sys.getrefcount(owner)


_FREE_REFS = _refs_when_free()


def _is_free(entry) -> bool:
    """Nothing outside the pool refers to the entry's array or to its memory."""
    return _counts(entry) == _FREE_REFS


def set_output_cache(gigabytes: float) -> None:
    """Keep up to ``gigabytes`` of eager-output and temporary buffers for reuse (0 disables).

    Repeated eager transforms of the same size then write into memory whose
    pages are already mapped.  The price is resident memory that the process
    keeps after the arrays are gone; lowering the limit drops the excess now.
    """
    if isinstance(gigabytes, bool) or not isinstance(gigabytes, (int, float)) or not gigabytes >= 0:
        raise ValueError(f"gigabytes must be a number >= 0, got {gigabytes!r}")
    with _LOCK:
        _STATE["limit"] = int(gigabytes * (1 << 30))
        _evict(0)


def _evict(incoming: int) -> None:
    """Drop the entries handed out longest ago until ``incoming`` more bytes fit (lock held)."""
    while _ORDER and _STATE["held"] + incoming > _STATE["limit"]:
        _, (key, entry) = _ORDER.popitem(last=False)
        entries = [e for e in _POOL[key] if e is not entry]  # by identity: entries hold arrays
        if entries:
            _POOL[key] = entries
        else:
            del _POOL[key]
        _STATE["held"] -= entry[2]


def clear() -> None:
    """Drop every buffer from the pool (those still in use live on with their users)."""
    with _LOCK:
        _POOL.clear()
        _ORDER.clear()
        _STATE["held"] = 0


def get_output_cache() -> dict:
    """``{"limit_bytes", "held_bytes", "free_bytes", "buffers"}`` of the buffer pool
    (``held``: all pooled buffers; ``free``: those nothing else uses now)."""
    with _LOCK:
        entries = [e for _, e in _ORDER.values()]
        free = sum(e[2] for e in entries if _is_free(e))
        return {"limit_bytes": _STATE["limit"], "held_bytes": _STATE["held"], "free_bytes": free,
                "buffers": len(entries)}


def aligned_view(owner: np.ndarray, nbytes: int, shape, dtype, align: int = _ALIGN) -> np.ndarray:
    """The ``align``-byte aligned ``(shape, dtype)`` array inside the uint8 buffer ``owner``."""
    off = (-_address(owner)) % align
    return owner[off : off + nbytes].view(dtype).reshape(shape)


def _address(arr: np.ndarray) -> int:
    """Address of ``arr``'s first element (``arr.ctypes.data`` without building a ctypes object)."""
    return arr.__array_interface__["data"][0]


def output_empty(shape, dtype) -> np.ndarray:
    """Uninitialised 64-byte aligned C-contiguous ``(shape, dtype)`` array; a pooled
    one that is free when there is one (its contents are whatever was last written).

    The array joins the pool: once the caller, JAX and every view have let go
    of it, a later call may hand it out again.  Cost: a dictionary lookup and a
    reference-count check per pooled array of that shape.
    """
    dtype = np.dtype(dtype)
    key = (tuple(shape), dtype)
    with _LOCK:
        for entry in _POOL.get(key, ()):
            if _is_free(entry):
                _ORDER.move_to_end(id(entry))
                return entry[1]
    nbytes = int(np.prod(key[0], dtype=np.int64)) * dtype.itemsize
    owner = np.empty(nbytes + _ALIGN, np.uint8)
    view = aligned_view(owner, nbytes, key[0], dtype)
    if 0 < nbytes <= _STATE["limit"]:
        with _LOCK:
            _evict(nbytes)
            entry = [owner, view, nbytes]
            _POOL.setdefault(key, []).append(entry)
            _ORDER[id(entry)] = (key, entry)
            _STATE["held"] += nbytes
    return view
