"""One writer per store: an exclusive lock on the store and the writer's workspace.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on the store directory itself, held
for the whole run.  The kernel releases it when the process ends, however it
ends (``kill -9`` included), so a lock is never stale and there is no lock file
to clean up.  A second writer is refused at once (:class:`BatchError`).

Temporary entries live in the *workspace*, a hidden sibling of the store
(``<parent>/.<name>.s2scatter-tmp/``), never inside it: Zarr lists every entry
of a group's directory, so a temporary group inside the store would show up in
``zarr.open_group(OUT).groups()`` after a kill.  Each writer works in its own
subdirectory ``<pid>-<random>/`` (with an ``owner.json``); a writer that holds
the lock knows every other writer is gone, so it removes their subdirectories
when it starts.  The workspace carries a marker file and is never used (or
emptied) without it; it is removed at the end of each run.

POSIX only (``fcntl``).  On file systems without ``flock`` on directories
(some network file systems) the run is refused with a message saying so.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import shutil
import socket
import uuid

_WORK_SUFFIX = ".s2scatter-tmp"
_WORK_MARKER = "S2SCATTER_WORKSPACE"
_OWNER = "owner.json"


class BatchError(ValueError):
    """A batch cannot start (output exists, store written with another job, bad scheduler)."""


def _rmtree(path):
    """Remove a file, a symbolic link (not its target) or a directory tree; missing is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def workspace_dir(out: str) -> str:
    """The hidden sibling of store ``out`` that holds temporary entries: ``<parent>/.<name>.s2scatter-tmp``."""
    parent, name = os.path.split(out.rstrip(os.sep))
    return os.path.join(parent, f".{name}{_WORK_SUFFIX}")


def _owners(out: str) -> list[dict]:
    """The ``owner.json`` records found in the workspace of ``out`` (best effort, for messages)."""
    work = workspace_dir(out)
    found = []
    with contextlib.suppress(OSError):
        for entry in sorted(os.listdir(work)):
            with contextlib.suppress(OSError, ValueError):
                with open(os.path.join(work, entry, _OWNER), encoding="utf-8") as fh:
                    found.append(json.load(fh))
    return found


class StoreLock:
    """Exclusive lock of the store directory ``out`` for one writer (a context manager).

    Entering creates ``out`` (and missing parents) if needed and takes the
    lock; ``created`` tells whether this writer created the directory.  Raises
    :class:`BatchError` when another process holds the lock (naming its pid
    when it can) or when the file system cannot lock a directory; other
    ``OSError`` (read-only parent, disk full, ...) propagate.
    """

    def __init__(self, out: str):
        self.out = out
        self.created = False
        self._fd = None

    def __enter__(self) -> StoreLock:
        import fcntl

        if os.path.lexists(self.out) and not os.path.isdir(self.out):
            raise BatchError(f"output {self.out!r} exists and is not a directory")
        if not os.path.isdir(self.out):
            os.makedirs(os.path.dirname(self.out), exist_ok=True)
            try:
                os.mkdir(self.out)
                self.created = True
            except FileExistsError:  # another writer created it first: the lock decides
                pass
        self._fd = os.open(self.out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = ", ".join(f"pid {o.get('pid')} on {o.get('host')} since {o.get('started')}"
                                for o in _owners(self.out))
                raise BatchError(f"store {self.out!r} is being written by another s2scatter run"
                                 f"{f' ({who})' if who else ''}; a store has one writer at a time: "
                                 "wait for that run to finish, or use another output") from None
            raise BatchError(f"cannot lock the store {self.out!r} ({os.strerror(exc.errno)}): its file "
                             "system does not support flock on directories; use a local "
                             "directory") from None
        return self

    def __exit__(self, *exc_info):
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None


class Workspace:
    """The running writer's directory for temporary entries, in the store's workspace.

    :meth:`open` (called with the lock held) creates the workspace and its
    marker, removes the subdirectories of writers that are gone, and creates
    this writer's ``<pid>-<random>/`` with an ``owner.json``; :meth:`path`
    names a fresh temporary entry in it (:meth:`temp`: removed on error); :meth:`close` removes this writer's
    subdirectory and the workspace when nothing else is in it.
    """

    def __init__(self, out: str):
        self.out = out
        self.root = workspace_dir(out)
        self.own = None

    def open(self) -> Workspace:
        root = self.root
        if os.path.lexists(root) and not os.path.isfile(os.path.join(root, _WORK_MARKER)):
            raise BatchError(f"{root!r} exists but is not an s2scatter workspace (no {_WORK_MARKER} "
                             "file); s2scatter keeps its temporary entries there: move it away")
        parent = os.path.dirname(self.out)
        if os.stat(parent).st_dev != os.stat(self.out).st_dev:
            raise BatchError(f"store {self.out!r} is a mount point: its temporary entries are written "
                             f"next to it, in {root!r}, and cannot be renamed across file systems; "
                             "use a directory inside the mounted file system")
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, _WORK_MARKER), "w", encoding="utf-8") as fh:
            fh.write(f"temporary entries of the s2scatter store {self.out}\n")
        for entry in os.listdir(root):  # the lock is ours: every other writer is gone
            if entry != _WORK_MARKER:
                _rmtree(os.path.join(root, entry))
        self.own = os.path.join(root, f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.mkdir(self.own)
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        with open(os.path.join(self.own, _OWNER), "w", encoding="utf-8") as fh:
            json.dump(owner, fh)
        return self

    def path(self, label: str) -> str:
        """A fresh path ``<own>/<label>-<random>`` for a temporary entry (not created)."""
        return os.path.join(self.own, f"{label}-{uuid.uuid4().hex[:8]}")

    @contextlib.contextmanager
    def temp(self, label: str):
        """A fresh :meth:`path` for the ``with`` block; what it names is removed if the block raises."""
        path = self.path(label)
        try:
            yield path
        except BaseException:
            _rmtree(path)
            raise

    def close(self) -> None:
        if self.own is not None:
            _rmtree(self.own)
            self.own = None
        with contextlib.suppress(OSError):
            if os.listdir(self.root) == [_WORK_MARKER]:
                os.remove(os.path.join(self.root, _WORK_MARKER))
                os.rmdir(self.root)
