"""The ``.npz`` layout of labelled map sets, read by ``s2scatter train`` / ``evaluate``.

Keys: ``maps`` ``(n, *f_shape(L, sampling=sampling, nside=nside))`` (float),
``labels`` ``(n,)`` (integer), ``L`` (integer scalar), ``sampling`` (string
scalar) and, for HEALPix only, ``nside`` (integer scalar).  Written without
pickles, read with ``allow_pickle=False``.
"""

from __future__ import annotations

import dataclasses
import numbers
import os

import numpy as np

from .._files import atomic_path
from ..sampling import f_shape, validate_L, validate_sampling


@dataclasses.dataclass(frozen=True)
class MapSet:
    """Labelled maps on one sampling, as stored by :func:`save_npz`.

    Attributes:
        maps: ``(n, *f_shape(L, sampling=sampling, nside=nside))`` float array.
        labels: ``int64`` ``(n,)``.
        L: band-limit; sampling: sampling name; nside: HEALPix resolution or ``None``.
    """

    maps: np.ndarray
    labels: np.ndarray
    L: int
    sampling: str
    nside: int | None = None

    @classmethod
    def checked(cls, maps, labels, *, L, sampling="mw", nside=None, where="") -> "MapSet":
        """A :class:`MapSet` of ``maps`` and ``labels`` after the checks :func:`load_npz` makes.

        ``maps`` must be a float array ``(n, *f_shape(L, sampling=sampling, nside=nside))``
        of finite values and ``labels`` a 1-D integer array of the same length (stored as
        ``int64``).  ``where`` prefixes the error messages (e.g. ``"train: "``).

        Raises:
            ValueError: naming the problem.

        Example:
            >>> import numpy as np
            >>> from s2scatter.datasets import MapSet
            >>> ms = MapSet.checked(np.zeros((2, 4, 7)), [0, 1], L=4)
            >>> ms.maps.shape, ms.labels.dtype.name, ms.sampling
            ((2, 4, 7), 'int64', 'mw')
        """
        return cls(*_check(maps, labels, L, sampling, nside, where))


def _check(maps, labels, L, sampling, nside, where):
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    maps = np.asarray(maps)
    labels = np.asarray(labels)
    if not np.issubdtype(maps.dtype, np.floating):
        raise ValueError(f"{where}maps must be a float array, got dtype {maps.dtype}")
    expect = f_shape(L, sampling=sampling, nside=nside)
    if maps.ndim != 1 + len(expect) or maps.shape[1:] != expect:
        raise ValueError(f"{where}maps must have shape (n, {', '.join(map(str, expect))}) for L={L}, "
                         f"sampling={sampling!r}" + (f", nside={nside}" if nside else "")
                         + f", got {maps.shape}")
    if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"{where}labels must be a 1-D integer array, got shape {labels.shape} "
                         f"and dtype {labels.dtype}")
    if len(labels) != len(maps):
        raise ValueError(f"{where}labels ({len(labels)}) and maps ({len(maps)}) differ in length")
    if not np.all(np.isfinite(maps)):
        raise ValueError(f"{where}maps contain NaN or infinite values")
    return maps, labels.astype(np.int64), L, sampling, (int(nside) if sampling == "healpix" else None)


def save_npz(path, maps, labels, *, L, sampling="mw", nside=None) -> None:
    """Write labelled maps to ``path`` (``.npz``), atomically (a temporary file, then a rename).

    Args:
        path: output file; ``.npz`` is not appended.
        maps: ``(n, *f_shape(L, sampling=sampling, nside=nside))`` float array.
        labels: integer ``(n,)``.
        L, sampling, nside: the maps' sampling, stored as keys of the same names.

    Raises:
        ValueError: naming ``maps``, ``labels``, ``L``, ``sampling`` or ``nside``.

    Example:
        >>> import pathlib, tempfile, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "train.npz"
        >>> save_npz(p, np.zeros((2, 4, 7), np.float32), [0, 1], L=4)
        >>> d = load_npz(p)
        >>> d.maps.shape, d.labels.tolist(), d.L, d.sampling, d.nside
        ((2, 4, 7), [0, 1], 4, 'mw', None)
    """
    maps, labels, L, sampling, nside = _check(maps, labels, L, sampling, nside, "")
    arrays = {"maps": maps, "labels": labels, "L": np.int64(L), "sampling": np.str_(sampling)}
    if nside is not None:
        arrays["nside"] = np.int64(nside)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _scalar(data, key, path, kind):
    value = data[key]
    if value.ndim != 0:
        raise ValueError(f"{path}: key {key!r} must be a scalar, got shape {value.shape}")
    value = value.item()
    if kind is int and not (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
        raise ValueError(f"{path}: key {key!r} must be an integer, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise ValueError(f"{path}: key {key!r} must be a string, got {value!r}")
    return value


def load_npz(path, *, L=None, sampling=None, nside=None) -> MapSet:
    """Read and check a file written by :func:`save_npz` (or any ``.npz`` with ``maps`` and ``labels``).

    ``L``, ``sampling`` and ``nside`` come from the keys of the same names;
    the arguments supply them when a key is absent and must agree when both
    are given.  ``sampling`` defaults to ``"mw"`` when neither gives it.

    Returns:
        :class:`MapSet`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file and the missing key, the mismatched
            parameter, or the bad array (shapes, lengths, NaNs).
    """
    path = os.fspath(path)
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        for key in ("maps", "labels"):
            if key not in keys:
                raise ValueError(f"{path}: missing key {key!r} (keys: {sorted(keys)})")
        stored = {}
        for key, kind in (("L", int), ("sampling", str), ("nside", int)):
            if key in keys:
                stored[key] = _scalar(data, key, path, kind)
        given = {"L": L, "sampling": sampling, "nside": nside}
        for key, value in given.items():
            if value is not None and key in stored and stored[key] != value:
                raise ValueError(f"{path}: {key}={value!r} was given but the file says {key}={stored[key]!r}")
        L = stored.get("L", L)
        if L is None:
            raise ValueError(f"{path}: no key 'L' in the file; pass L")
        sampling = stored.get("sampling", sampling) or "mw"
        nside = stored.get("nside", nside)
        maps, labels, L, sampling, nside = _check(data["maps"], data["labels"], L, sampling, nside,
                                                  f"{path}: ")
    return MapSet(maps=maps, labels=labels, L=L, sampling=sampling, nside=nside)
