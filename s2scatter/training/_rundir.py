"""The run directory: atomic writes of ``run.json``, ``metrics.csv``, ``metrics.json`` and ``curves.png``.

Every file is written to a temporary name in the same directory and renamed
into place, so a reader (or a run killed at any moment) sees either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os

from .._files import atomic_path

__all__ = ["METRIC_COLUMNS", "write_atomic", "write_json", "read_json", "write_metrics", "plot_curves"]

# Columns of metrics.csv, in order; "seconds" is the epoch's wall time (the one column that
# is not reproduced by a seeded rerun).
METRIC_COLUMNS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "learning_rate",
                  "seconds")
"""Columns of ``metrics.csv`` (and keys of each epoch in ``metrics.json``), in order; ``seconds``
is the epoch's wall time, the one column a seeded rerun does not reproduce."""


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, flushed
    to disk, and a rename (:func:`s2scatter._files.atomic_path`)."""
    with atomic_path(path, fsync=True) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path, obj) -> None:
    """``obj`` as indented JSON (non-finite floats as ``null``), atomically."""
    write_atomic(path, (json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n").encode())


def read_json(path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_metrics(run_dir, history, summary) -> None:
    """``metrics.csv`` (one row per epoch, :data:`METRIC_COLUMNS`) and ``metrics.json``
    (``summary`` with ``"epochs": history``), both atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (repr(float(row[k])) if k != "epoch" else int(row[k])) for k in METRIC_COLUMNS})
    write_atomic(os.path.join(run_dir, "metrics.csv"), buf.getvalue().encode())
    write_json(os.path.join(run_dir, "metrics.json"), {**summary, "epochs": list(history)})


def plot_curves(path, history, *, title="") -> None:
    """Loss and accuracy against epoch, train and test, as a PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 3.6), dpi=100)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for split, style in (("train", "-o"), ("test", "-s")):
        ax_loss.plot(epochs, [r[f"{split}_loss"] for r in history], style, ms=3, label=split)
        ax_acc.plot(epochs, [100 * r[f"{split}_accuracy"] for r in history], style, ms=3, label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue())
