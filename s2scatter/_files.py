"""Files, shared by every layer that writes or fingerprints them (package-level internals).

* :func:`atomic_path` -- a temporary path next to the target, moved into place on
  success and removed on error: readers never see a half-written file;
* :func:`save_figure` -- a Matplotlib figure saved through :func:`atomic_path`;
* :func:`file_sha256` -- the SHA-256 digest of a file's bytes (provenance of inputs).

Not part of the user API (``tests/test_architecture.py`` lists this module among the
shared utilities every unit may import).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid

__all__ = ["atomic_path", "file_sha256", "save_figure"]


@contextlib.contextmanager
def atomic_path(path, *, fsync=False):
    """Yield a temporary path next to ``path``; move it into place on success.

    The temporary name keeps the extension, so writers that infer the format
    from it (``savefig``) behave as for the final name; the file gets the mode
    of any new file (the umask's).  With ``fsync`` its bytes reach the disk
    before the rename (a crash then leaves the old file or the whole new one).
    On error the temporary file is removed and ``path`` is left untouched.
    """
    path = os.fspath(path)
    directory, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(directory, f".{stem}.{uuid.uuid4().hex[:12]}.tmp{ext}")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def save_figure(fig, path, dpi=120):
    """Save the Matplotlib figure ``fig`` to ``path`` (format from its extension), atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", pad_inches=0.1)


def file_sha256(path) -> str:
    """Hex SHA-256 digest of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
