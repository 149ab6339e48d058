"""The batch driver: reads, computes (serially or on Dask) and writes every input."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
import time

from .._interrupt import INTERRUPTS
from .._files import file_sha256
from ._compute import array_sha256, compute_array_features, compute_features
from ._job import FeatureJob, _jsonable, _one_line
from ._inspect import scan_groups
from ._lock import BatchError, StoreLock, Workspace
from ._plots import _write_plots
from ._store import (_base_name, _check_store, _open_plots_dir, _prepare_store, _unique, _write_npz,
                     _write_zarr_group, plots_dir, resolve_out)

_CONNECT_TIMEOUT = 10.0  # seconds to reach a Dask scheduler and complete its handshake


@dataclasses.dataclass
class BatchReport:
    """What :func:`run_batch` did.

    Attributes:
        out: the store (absolute path, symbolic links resolved); format:
            ``"zarr"`` or ``"npz"``.
        groups: ``{input path: group name}`` for every input given (the mapping
            from files to groups; also recorded as ``source`` in each group).
        done: inputs written in this run (damaged groups of given inputs
            included); skipped: inputs already complete (``resume``); failed:
            ``{input path: message}``.
        damaged: ``{group name: reason}`` of damaged groups in the store that
            this run left as they were (no input given maps to them); see
            :func:`store_info`.
        seconds: wall time of the run; compute_seconds: per written input.
    """

    out: str
    format: str
    groups: dict = dataclasses.field(default_factory=dict)
    done: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    failed: dict = dataclasses.field(default_factory=dict)
    damaged: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    compute_seconds: dict = dataclasses.field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 all inputs ok (written or skipped), 1 some failed, 3 none could be done."""
        if not self.failed:
            return 0
        return 1 if (self.done or self.skipped) else 3

    def summary(self) -> str:
        """Human-readable report: counts, time, store, and one line per failure."""
        lines = [f"{len(self.done)} written, {len(self.skipped)} skipped (already complete), "
                 f"{len(self.failed)} failed, in {self.seconds:.1f} s -> {self.out} ({self.format})"]
        lines += [f"  failed: {msg}" for msg in self.failed.values()]
        if self.damaged:
            lines.append(f"{len(self.damaged)} damaged group(s) left as they were (no input given for "
                         f"them): {', '.join(sorted(self.damaged))}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as JSON-serialisable values."""
        return _jsonable(dataclasses.asdict(self))


def _failure_message(path, exc) -> str:
    from ..io import ReadError

    msg = str(exc) if isinstance(exc, ReadError) else f"{type(exc).__name__}: {exc}"
    return msg if os.path.basename(path) in msg else f"{path}: {msg}"


def _resolve_client(scheduler):
    """(client or None, whether we own it); an address is connected by :func:`_connect`."""
    if scheduler is None:
        return None, False
    if isinstance(scheduler, str):
        return _connect(scheduler), True
    if hasattr(scheduler, "submit") and hasattr(scheduler, "gather"):
        return scheduler, False
    raise BatchError(f"scheduler must be None, an address string or a distributed.Client, "
                     f"got {type(scheduler).__name__}")


def _connect(address):
    """A ``distributed.Client`` on the scheduler at ``address``; every failure to reach it (malformed
    address, nothing listening, not a Dask scheduler, ``tls://`` without TLS settings) is a one-line
    :class:`BatchError` within about ``_CONNECT_TIMEOUT`` seconds."""
    from distributed import Client
    from distributed.comm.addressing import get_address_host_port, parse_address
    from distributed.security import Security

    try:  # a malformed address fails here, before a Client exists
        scheme = parse_address(address)[0]
        if scheme != "inproc":
            get_address_host_port(address)
    except ValueError as exc:
        raise BatchError(f"bad Dask scheduler address {address!r}: {exc}") from None
    deadline = time.monotonic() + _CONNECT_TIMEOUT
    if scheme != "inproc":
        args = Security().get_connection_args("client")  # the Dask configuration, as Client uses it
        if scheme in ("tls", "wss") and args.get("ssl_context") is None:
            raise BatchError(f"Dask scheduler address {address!r} needs TLS settings and none are "
                             "configured (set distributed.comm.tls.ca-file, .client.cert and "
                             ".client.key in the Dask configuration)")
        _handshake(address, args, timeout=_CONNECT_TIMEOUT)
    try:
        return Client(address, timeout=max(deadline - time.monotonic(), 1.0))
    except Exception as exc:  # noqa: BLE001 - whatever distributed raises, one line
        raise BatchError(f"cannot connect to the Dask scheduler {address!r}: {_one_line(exc)}") from None


def _handshake(address, connection_args, *, timeout: float) -> None:
    """Complete a Dask handshake with ``address`` within ``timeout`` seconds, or raise :class:`BatchError`.

    ``distributed.Client`` waits for it without a limit (a silent TCP service hangs it) and lets a junk
    answer surface as ``MemoryError``; hence ``asyncio.wait_for`` in a private loop on a helper thread.
    """
    import asyncio
    import threading

    from distributed.comm import connect

    outcome = {}

    async def attempt():
        comm = await asyncio.wait_for(connect(address, timeout=timeout, **connection_args), timeout)
        await comm.close()

    def run():
        try:
            asyncio.run(attempt())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="s2scatter-dask-handshake", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    exc = outcome.get("error")
    if thread.is_alive() or isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        raise BatchError(f"cannot connect to the Dask scheduler {address!r}: no Dask handshake within "
                         f"{timeout:g} s (is a Dask scheduler listening there?)")
    if isinstance(exc, OSError):
        raise BatchError(f"cannot connect to the Dask scheduler {address!r}: {_one_line(exc)}")
    if exc is not None:
        raise BatchError(f"cannot connect to the Dask scheduler {address!r}: the service there does "
                         f"not speak the Dask protocol ({_one_line(exc)})")


def run_batch(inputs, out, job: FeatureJob, *, resume=False, overwrite=False, scheduler=None,
              progress=True, verify=False) -> BatchReport:
    """Compute scattering features of every input file and write them to the store ``out``.

    Args:
        inputs: map files (anything :func:`s2scatter.io.read_map` reads);
            duplicates are processed once.
        out: the store: a directory (Zarr v3 store, or ``.npz`` files), see the
            module docstring for the layout; symbolic links are resolved, an
            empty path is refused.
        job: :class:`FeatureJob`.
        resume: keep the sound groups of an existing store written with the
            same job and skip the inputs they hold (same source path and SHA-256);
            inputs whose file changed, and inputs whose group is damaged (see
            :func:`store_info`), are recomputed and their group replaced.
            Without it an existing non-empty ``out`` is an error.
        overwrite: empty an existing s2scatter store at ``out`` and delete its
            plots directory first.  Deletes only what s2scatter writes: a
            directory that is not a store, a store holding other entries, or a
            plots directory without s2scatter's marker is refused or left alone.
        scheduler: ``None`` (serial, in this process), a Dask scheduler address
            (``"tcp://host:8786"``) or a ``distributed.Client``.  Workers compute
            (:func:`compute_features`); this process writes each result as it
            arrives.  Workers must be able to import s2scatter and read the input
            paths (use absolute paths or a shared file system).
        progress: tqdm bar on stderr (only when stderr is a terminal).
        verify: with ``resume``, read every existing group in full before
            deciding what to skip, so a group whose data no longer passes its
            checksum is recomputed too (costs reading the whole store).

    Returns:
        :class:`BatchReport`; inputs that fail (unreadable, bad shape, NaN, ...)
        are listed in ``failed`` with their message and the others are written.

    Raises:
        BatchError: the batch cannot start (see ``resume`` / ``overwrite``), the
            store cannot be created, another run is writing it, or the
            scheduler cannot be reached (one-line message naming the cause).
        KeyboardInterrupt: on Ctrl-C (SIGINT), after removing this run's
            temporary entries; finished groups stay (rerun with ``resume``).
            A write in progress finishes first; a computation in this process
            on the second Ctrl-C (details: ``docs/pipeline.md``, "Ctrl-C").
    """
    entries = []
    for raw in inputs:
        path = os.path.abspath(os.fspath(raw))
        entries.append(_Entry(key=path, base=_base_name(path), fingerprint=functools.partial(_file_fingerprint, path),
                              compute=functools.partial(_compute_file, path), remote=(path,)))
    return _run(entries, out, job, resume=resume, overwrite=overwrite, scheduler=scheduler,
                progress=progress, verify=verify, unit="map")


def run_batch_arrays(arrays, out, job: FeatureJob, *, resume=False, overwrite=False, progress=True,
                     verify=False) -> BatchReport:
    """Compute scattering features of in-memory arrays of maps and write them to the store ``out``.

    The entry point for data that is not in files (a training set, say): each
    item of ``arrays`` becomes one group, written, locked and resumed exactly
    as :func:`run_batch` does for files (same store, same guarantees).

    Args:
        arrays: ``{name: maps}`` (or ``(name, maps)`` pairs), ``maps`` of shape
            ``(C, *f_shape(L, sampling, nside))`` (or one map); the group is
            named after ``name`` (made safe and unique) and its ``source`` is
            ``"array:<name>"``, its ``sha256`` :func:`~s2scatter.batch.array_sha256`
            of the maps as given (dtype included), and each leading entry is a channel.
        out, job, resume, overwrite, progress, verify: as for :func:`run_batch`;
            with ``resume`` a group is skipped when its source and SHA-256
            match, so changed data is recomputed.  Serial, in this process.

    Returns:
        :class:`BatchReport` keyed by ``"array:<name>"``.

    Raises:
        BatchError, KeyboardInterrupt: as :func:`run_batch`.

    Example:
        >>> import numpy as np
        >>> from s2scatter import ScatteringConfig
        >>> from s2scatter.batch import FeatureJob, run_batch_arrays
        >>> maps = np.random.default_rng(0).standard_normal((10, 16, 31))
        >>> job = FeatureJob(ScatteringConfig(L=16, J_min=2))
        >>> report = run_batch_arrays({"part0": maps[:5], "part1": maps[5:]}, "f.zarr", job)  # doctest: +SKIP
        >>> report.groups  # doctest: +SKIP
        {'array:part0': 'part0', 'array:part1': 'part1'}
    """
    items = arrays.items() if hasattr(arrays, "items") else arrays
    entries, seen = [], set()
    for name, data in items:
        name = str(name)
        key = f"array:{name}"
        if key in seen:
            raise ValueError(f"arrays: the name {name!r} is given twice")
        seen.add(key)
        fp = functools.cache(functools.partial(array_sha256, data))  # computed on first use, kept
        entries.append(_Entry(key=key, base=_base_name(name), fingerprint=fp,
                              compute=functools.partial(_compute_array, data, key, fp), remote=None))
    return _run(entries, out, job, resume=resume, overwrite=overwrite, scheduler=None, progress=progress,
                verify=verify, unit="group")


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One input of a batch: its report key (also the group's ``source``), group name stem,
    fingerprint (SHA-256, computed only when a group exists), and how to compute it."""

    key: str
    base: str
    fingerprint: object  # () -> str; OSError: unknown
    compute: object  # (job) -> result, in this process
    remote: tuple | None  # arguments of compute_features for a Dask worker; None: this process only


def _file_fingerprint(path) -> str:
    if not os.path.isfile(path):
        raise OSError(f"{path!r} is not a file")
    return file_sha256(path)


def _compute_file(path, job):
    return compute_features(path, job)  # looked up when called (tests replace it)


def _compute_array(data, key, fingerprint, job):
    return compute_array_features(data, job, source=key, sha256=fingerprint())


def _run(entries, out, job, *, resume, overwrite, scheduler, progress, verify, unit) -> BatchReport:
    """The batch loop shared by :func:`run_batch` and :func:`run_batch_arrays`."""
    from tqdm import tqdm

    start = time.perf_counter()
    out = resolve_out(out)
    if not isinstance(job, FeatureJob):
        raise ValueError(f"job must be a FeatureJob, got {type(job).__name__}")
    installed = INTERRUPTS.install()  # Ctrl-C recorded, never lost; deferred during writes
    client = owned = bar = None
    try:
        client, owned = _resolve_client(scheduler)  # before touching the output
        with _open_store(out, job, resume=resume, overwrite=overwrite) as (workspace, fmt):
            INTERRUPTS.check()
            report = BatchReport(out=out, format=job.format)
            states = scan_groups(out, fmt, verify=verify)[0]
            todo = _plan(entries, states, report)
            bar = tqdm(total=len(report.groups), initial=len(report.skipped), unit=unit,
                       desc="features", disable=not (progress and sys.stderr.isatty()), file=sys.stderr)
            writer = _write_zarr_group if job.format == "zarr" else _write_npz
            pdir = plots_dir(out)

            def commit(key, result):
                name = report.groups[key]
                if job.plot:
                    _open_plots_dir(pdir, out)
                    _write_plots(pdir, name, result, job, workspace)
                with INTERRUPTS.deferred():  # zarr writes on its own thread: let the write finish
                    writer(out, name, result, workspace)
                report.done.append(key)
                report.compute_seconds[key] = result["seconds"]

            def handle(key, get_result):
                try:
                    result = get_result()
                    INTERRUPTS.check()  # a Ctrl-C swallowed by a callback while computing
                    commit(key, result)
                except Exception as exc:  # noqa: BLE001 - reported per input, the batch goes on
                    INTERRUPTS.check()  # an error caused by a Ctrl-C is not the input's failure
                    report.failed[key] = _failure_message(key, exc)
                bar.update(1)

            def compute_here(entry):
                # a KeyboardInterrupt raised inside JAX's callbacks into Python would be lost
                with INTERRUPTS.deferred(second_cuts=True):
                    return entry.compute(job)

            if client is None:
                for entry in todo:
                    handle(entry.key, functools.partial(compute_here, entry))
            else:
                from distributed import as_completed

                futures = {client.submit(compute_features, *entry.remote, job, pure=False): entry.key
                           for entry in todo}
                try:
                    for fut in as_completed(futures):
                        handle(futures[fut], fut.result)
                        fut.release()
                except BaseException:
                    client.cancel(list(futures))
                    raise
            INTERRUPTS.check()
    finally:
        if bar is not None:
            bar.close()
        if owned:
            client.close()
        if installed:
            INTERRUPTS.uninstall()
    report.seconds = time.perf_counter() - start
    return report


@contextlib.contextmanager
def _open_store(out, job, *, resume, overwrite):
    """Lock ``out``, check it, open this writer's workspace and prepare the store; yield
    ``(workspace, format)``.  On exit remove the workspace (and ``out`` if this run created it
    and never marked it) and unlock.  ``OSError`` while preparing becomes :class:`BatchError`."""
    lock = StoreLock(out)
    workspace = Workspace(out)
    marked = False
    try:
        with lock:
            try:
                fmt = _check_store(out, job, resume=resume, overwrite=overwrite)
                workspace.open()
                _prepare_store(out, job, workspace, fmt=fmt, overwrite=overwrite)
                marked = True
                yield workspace, job.format
            finally:
                with INTERRUPTS.deferred():  # a second Ctrl-C does not cut the clean-up short
                    workspace.close()
                    if lock.created and not marked:
                        with contextlib.suppress(OSError):
                            os.rmdir(out)
    except OSError as exc:
        if marked:  # raised by the run itself, not by the preparation
            raise
        raise BatchError(f"cannot prepare the output store {out!r}: {_os_error_text(exc)}") from None


def _os_error_text(exc: OSError) -> str:
    """``strerror`` and the file an ``OSError`` is about, on one line."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text}: {exc.filename!r}" if exc.filename is not None else text


def _plan(entries, states, report) -> list:
    """Name every entry's group in ``report.groups`` and return the entries to compute.

    ``states`` are the store's groups (:func:`scan_groups`).  An entry already
    in the store (same source: absolute path, or ``array:<name>``) keeps its
    group, and is skipped (``report.skipped``) when the group is sound and its
    SHA-256 is unchanged.  A new entry gets a unique name among the groups whose
    source is known, so it may replace a damaged group of unknown source with
    its name.  Damaged groups no entry maps to are listed in ``report.damaged``.
    Duplicates are planned once.
    """
    by_source = {}
    for name, state in states.items():  # sound groups win over damaged ones of the same source
        if state.source and (state.source not in by_source or state.problem is None):
            by_source[state.source] = name
    taken = {name for name, state in states.items() if state.source}
    todo = []
    for entry in entries:
        key = entry.key
        if key in report.groups:
            continue
        if key in by_source:
            name = by_source[key]
            state = states[name]
            try:
                same = state.problem is None and entry.fingerprint() == state.attrs.get("sha256")
            except OSError:
                same = False
            report.groups[key] = name
            if same:
                report.skipped.append(key)
                continue
        else:
            name = _unique(entry.base, taken)
            taken.add(name)
            report.groups[key] = name
        todo.append(entry)
    planned = set(report.groups.values())
    report.damaged = {name: state.problem for name, state in states.items()
                      if state.problem is not None and name not in planned}
    return todo
