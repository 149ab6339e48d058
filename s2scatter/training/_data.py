"""Labelled data for training: ``.npz`` map sets, or feature stores with a labels file, checked whole.

A :class:`LabelledData` holds either maps (from an ``.npz`` written by
:func:`s2scatter.datasets.save_npz`, or arrays) or precomputed scattering maps
(from a store written by ``s2scatter features``), with integer labels and the
sampling.  Every problem is a ``ValueError`` naming the file (or ``what``) and
the problem, raised before anything is written.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os

import numpy as np

__all__ = ["LabelledData", "as_data"]


@dataclasses.dataclass(frozen=True, eq=False)
class LabelledData:
    """A labelled set of maps, or of a feature store's scattering maps.

    Attributes:
        what: a name for messages (the file, or ``"train"``).
        labels: ``int64 (n,)``.
        L, sampling, nside: the maps' sampling (of the inputs, for a store).
        maps: ``(n, *f_shape(L, sampling, nside))`` float, or None for a store.
        store: the feature store's path (None for maps); ``groups`` its groups
            in label order; ``scattering`` its :class:`~s2scatter.ScatteringConfig`.
        fingerprint: SHA-256 of the maps (``array_sha256``) or of the store's
            group checksums, with the labels: what a run records and resumes against.
    """

    what: str
    labels: np.ndarray
    L: int
    sampling: str
    nside: int | None
    maps: np.ndarray | None = None
    store: str | None = None
    groups: tuple = ()
    scattering: object = None
    fingerprint: str = ""

    def __len__(self):
        return len(self.labels)

    def describe(self) -> dict:
        """JSON-able description (recorded in ``run.json``)."""
        return {"source": self.what, "kind": "store" if self.store else "maps", "n": len(self),
                "L": self.L, "sampling": self.sampling, "nside": self.nside, "sha256": self.fingerprint}


def _fingerprint(*parts) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def as_data(obj, *, what, L=None, sampling=None, nside=None, labels=None) -> LabelledData:
    """A :class:`LabelledData` from a path (``.npz`` file or feature store), a ``MapSet`` or ``(maps, labels)``.

    ``L``, ``sampling``, ``nside`` supply what a file lacks and must agree with
    what it says; ``labels`` is the labels file of a store (required there,
    refused otherwise).

    Raises:
        ValueError: naming ``what`` (or the file) and the problem.
    """
    from ..batch import array_sha256
    from ..datasets import MapSet, load_npz

    if isinstance(obj, LabelledData):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        if os.path.isdir(path):
            if labels is None:
                raise ValueError(f"{path} is a feature store: give its labels file too "
                                 f"(--{what}-labels, a CSV of input file and label)")
            return load_store(path, labels, what=what, L=L, sampling=sampling, nside=nside)
        if labels is not None:
            raise ValueError(f"a labels file ({labels}) goes with a feature store, but {path} is not a "
                             "directory (an .npz holds its own labels)")
        if not os.path.exists(path):
            raise ValueError(f"{what} data {path!r}: no such file")
        try:
            ms = load_npz(path, L=L, sampling=sampling, nside=nside)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: cannot read as .npz ({exc})") from None
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(msg if path in msg else f"{path}: {msg}") from None
        src = path
    elif isinstance(obj, MapSet):
        if labels is not None:
            raise ValueError(f"{what}: labels are given twice (a MapSet holds its labels)")
        for key, given in (("L", L), ("sampling", sampling), ("nside", nside)):
            if given is not None and getattr(obj, key) != given:
                raise ValueError(f"{what}: {key}={given!r} was given but the maps have {key}={getattr(obj, key)!r}")
        ms = MapSet.checked(obj.maps, obj.labels, L=obj.L, sampling=obj.sampling, nside=obj.nside, where=f"{what}: ")
        src = what
    elif isinstance(obj, tuple) and len(obj) == 2:
        if L is None:
            raise ValueError(f"{what}: pass L (and sampling) with an array of maps")
        maps, labs = obj
        ms, src = MapSet.checked(maps, labs, L=L, sampling=sampling or "mw", nside=nside, where=f"{what}: "), what
    else:
        raise ValueError(f"{what} must be an .npz path, a feature store directory, a MapSet or "
                         f"(maps, labels), got {type(obj).__name__}")
    if len(ms.labels) == 0:
        raise ValueError(f"{src}: no maps")
    if ms.labels.min() < 0:
        raise ValueError(f"{src}: labels must be non-negative class indices, found {int(ms.labels.min())}")
    fp = _fingerprint(array_sha256(ms.maps), array_sha256(ms.labels))
    return LabelledData(what=src, labels=ms.labels, L=ms.L, sampling=ms.sampling, nside=ms.nside,
                        maps=ms.maps, fingerprint=fp)


def _read_labels(path) -> dict:
    """``{name: label}`` from a CSV/TSV (two columns: input file or group name, integer label) or JSON object."""
    if not os.path.isfile(path):
        raise ValueError(f"labels file {path!r}: no such file")
    if path.lower().endswith(".json"):
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except ValueError as exc:
            raise ValueError(f"labels file {path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"labels file {path}: expected a JSON object {{input: label}}")
        rows = list(data.items())
    else:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
        dialect = "excel-tab" if "\t" in text else "excel"
        rows = [r for r in csv.reader(text.splitlines(), dialect=dialect) if r and any(c.strip() for c in r)]
        if rows and len(rows[0]) == 2 and not rows[0][1].strip().lstrip("-").isdigit():
            rows = rows[1:]  # a header line
    out = {}
    for i, row in enumerate(rows, 1):
        if len(row) != 2:
            raise ValueError(f"labels file {path}, line {i}: expected two columns (input, label), got {row!r}")
        name, value = str(row[0]).strip(), row[1]
        try:
            label = int(str(value).strip())
        except ValueError:
            raise ValueError(f"labels file {path}, line {i}: label {value!r} is not an integer") from None
        if label < 0:
            raise ValueError(f"labels file {path}, line {i}: label {label} is negative")
        if name in out:
            raise ValueError(f"labels file {path}: {name!r} appears twice")
        out[name] = label
    if not out:
        raise ValueError(f"labels file {path}: no labels")
    return out


def load_store(path, labels_path, *, what, L=None, sampling=None, nside=None) -> LabelledData:
    """A feature store written by ``s2scatter features`` (``output="maps"``) and its labels file.

    Each sound group (one input file, one channel) is one sample; the labels
    file names each input by its path as given to ``features``, its file
    name, or its group name.  Damaged groups, groups without a label, labels
    for inputs the store does not hold, stores of invariants and groups with
    several channels are errors.
    """
    from ..batch import BatchError, store_info
    from ..scattering import ScatteringConfig

    try:
        info = store_info(path)
    except BatchError as exc:
        raise ValueError(str(exc)) from None
    if info["damaged"]:
        raise ValueError(f"{path}: damaged group(s) {', '.join(sorted(info['damaged']))}; rerun "
                         "`s2scatter features ... --resume` to recompute them")
    if info["format"] != "zarr":
        raise ValueError(f"{path}: a store of format {info['format']!r}; training reads Zarr stores")
    cfg = dict(info["config"] or {})
    if cfg.get("output") != "maps":
        raise ValueError(f"{path}: the store holds output={cfg.get('output')!r}; training needs "
                         "output='maps' (equivariant scattering maps)")
    try:
        scat = ScatteringConfig(**cfg)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the store's config cannot be used ({exc})") from None
    for key, given in (("L", L), ("sampling", sampling), ("nside", nside)):
        if given is not None and getattr(scat, key) != given:
            raise ValueError(f"{path}: {key}={given!r} was given but the store has {key}={getattr(scat, key)!r}")
    table = _read_labels(os.fspath(labels_path))
    used, names, labs = set(), [], []
    for name, g in info["groups"].items():
        channels = g.get("channels") or []
        if len(channels) != 1:
            raise ValueError(f"{path}: group {name!r} holds {len(channels)} channels; training takes one "
                             "map per input (write the features with --field to pick one)")
        src = g.get("source") or ""
        keys = [k for k in (src, os.path.basename(src), name) if k in table]
        if not keys:
            raise ValueError(f"labels file {labels_path}: no label for {src or name!r} (group {name!r}); "
                             "name each input by its path, file name or group name")
        used.update(keys)
        names.append(name)
        labs.append(table[keys[0]])
    if not names:
        raise ValueError(f"{path}: the store holds no groups")
    extra = sorted(set(table) - used)
    if extra:
        raise ValueError(f"labels file {labels_path}: {len(extra)} label(s) for inputs the store does not "
                         f"hold: {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}")
    labels = np.asarray(labs, dtype=np.int64)
    fp = _fingerprint(*(info["groups"][n]["sha256"] or n for n in names), labels.tobytes())
    return LabelledData(what=os.fspath(path), labels=labels, L=scat.L, sampling=scat.sampling,
                        nside=scat.nside, store=info["store"], groups=tuple(names), scattering=scat,
                        fingerprint=fp)
