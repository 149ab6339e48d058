"""Ctrl-C that is never lost: SIGINT recorded as well as raised, and deferrable over short sections.

Python's default SIGINT handler raises ``KeyboardInterrupt`` wherever the main thread is;
inside a garbage-collection or weakref callback (JAX runs one at every collection) it is
printed as "Exception ignored in ..." and lost.  :class:`Interrupts` installs a handler that
also records the signal, so a swallowed one is raised at the next :meth:`Interrupts.check`.
:meth:`Interrupts.deferred` only records, and raises when the section ends: around writes
whose I/O runs on another thread, and (``second_cuts=True``, a second Ctrl-C raises at once)
around JAX host callbacks, where an exception becomes a logged runtime error.

Only Python's default handler is replaced, and only in the main thread.  The command line
installs it deferred while ``s2scatter`` is imported (:func:`install_for_cli`; raising inside
jaxlib's import aborts the process), :func:`s2scatter.batch.run_batch` for the length of a run
(``docs/pipeline.md``, "Ctrl-C").  Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

__all__ = ["Interrupts", "INTERRUPTS", "install_for_cli"]


class Interrupts:
    """The process's SIGINT state: whether one arrived, and whether raising is deferred."""

    def __init__(self):
        self.pending = False
        self._strict = 0  # sections no SIGINT cuts
        self._soft = 0  # sections a second SIGINT cuts
        self._startup = False  # install_for_cli's section, ended by end_startup()
        self._previous_hook = None

    def _handle(self, signum, frame):
        second = self.pending
        self.pending = True
        if self._strict == 0 and (self._soft == 0 or second):
            raise KeyboardInterrupt

    def _unraisable(self, unraisable):
        """Silence a ``KeyboardInterrupt`` swallowed in a callback: it is recorded, raised at the next check."""
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and self.pending:
            return
        (self._previous_hook or sys.__unraisablehook__)(unraisable)

    def install(self) -> bool:
        """Install the handler in place of Python's default one; returns whether this call did
        (not outside the main thread, nor when SIGINT has another handler or this one)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return False
        self.pending = False
        self._previous_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        signal.signal(signal.SIGINT, self._handle)
        return True

    def uninstall(self) -> None:
        """Put Python's default handler back (after :meth:`install` returned True)."""
        if signal.getsignal(signal.SIGINT) == self._handle and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            if sys.unraisablehook == self._unraisable:
                sys.unraisablehook = self._previous_hook or sys.__unraisablehook__
            self._previous_hook = None
            self.pending = False

    def end_startup(self) -> None:
        """End the deferred section :func:`install_for_cli` opened (the caller then checks)."""
        if self._startup:
            self._startup = False
            self._soft -= 1

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if a SIGINT arrived (also one swallowed by a callback)."""
        if self.pending:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self, *, second_cuts: bool = False):
        """A section that a SIGINT does not cut: recorded, raised when the section ends
        (with ``second_cuts``, a second SIGINT raises at once)."""
        attr = "_soft" if second_cuts else "_strict"
        setattr(self, attr, getattr(self, attr) + 1)
        try:
            yield
        finally:
            setattr(self, attr, getattr(self, attr) - 1)
        if self.pending and self._strict == 0 and self._soft == 0:
            raise KeyboardInterrupt


INTERRUPTS = Interrupts()


_CLI_MODULES = ("s2scatter", "s2scatter.__main__", "s2scatter.cli")  # each calls cli.main()


def _launched_as_cli() -> bool:
    """Whether this process is ``python -m s2scatter ...`` or the ``s2scatter`` console script."""
    argv = sys.argv or [""]
    if argv[0] == "-m":  # `python -m X` while X is being located (and its packages imported)
        orig = getattr(sys, "orig_argv", [])
        if "-m" in orig and orig.index("-m") + 1 < len(orig):
            return orig[orig.index("-m") + 1] in _CLI_MODULES
        return False
    return os.path.splitext(os.path.basename(argv[0]))[0] == "s2scatter"


def install_for_cli() -> None:
    """When this process runs the s2scatter command line, install :data:`INTERRUPTS`, deferred
    (a second Ctrl-C cuts it) until :func:`s2scatter.cli.main` calls :meth:`Interrupts.end_startup`."""
    if _launched_as_cli() and INTERRUPTS.install():
        INTERRUPTS._startup = True
        INTERRUPTS._soft += 1
