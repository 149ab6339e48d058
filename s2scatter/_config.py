"""One process-wide settings surface, :func:`config`, and one way to empty every cache.

Settings are registered by the module that owns them (:mod:`s2scatter.harmonic`,
:mod:`s2scatter._limits`) with :func:`register_setting`; caches register their clear
function with :func:`register_cache` (or :func:`bounded_cache`, a registered
``functools.lru_cache``), so :func:`clear_caches` empties them all and a test can check
that each is bounded.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import threading
from typing import Any, Callable

__all__ = ["config", "clear_caches", "register_setting", "register_cache", "register_lru", "bounded_cache",
           "BoundedDict", "cache_sizes"]


@dataclasses.dataclass(frozen=True)
class _Setting:
    get: Callable[[], Any]  # the value in force
    set: Callable[[Any], Any]  # validates (raising ValueError / TypeError) before it changes anything
    expected: str  # what a value must be, for error messages
    state: Callable[[], Any]  # what restore() needs to put the setting back exactly
    restore: Callable[[Any], Any]


_SETTINGS: dict[str, _Setting] = {}
_CACHES: dict[str, tuple[Callable[[], Any], Callable[[], int], "int | None"]] = {}
_LOCK = threading.RLock()


def register_setting(name: str, *, get, set, expected: str, state=None, restore=None) -> None:
    """Make ``name`` a key of :func:`config` (fields: :class:`_Setting`).  ``state`` / ``restore``
    (default ``get`` / ``set``) put a derived value back exactly (``0`` threads meaning all cores,
    a limit taken from the environment)."""
    _SETTINGS[name] = _Setting(get, set, expected, state or get, restore or set)


def register_cache(name: str, clear: Callable[[], Any], size: Callable[[], int], maxsize: "int | None") -> None:
    """Have :func:`clear_caches` call ``clear()``; ``size()`` counts the entries held now
    and ``maxsize`` bounds them (``None``: bounded some other way, e.g. in bytes, as
    the cache's docstring says)."""
    _CACHES[name] = (clear, size, maxsize)


def register_lru(*functions) -> None:
    """Register existing ``functools.lru_cache`` functions (bounded ones) with :func:`clear_caches`."""
    for fn in functions:
        maxsize = fn.cache_parameters()["maxsize"]
        if maxsize is None:
            raise ValueError(f"{fn.__qualname__}: an unbounded lru_cache; give it a maxsize")
        register_cache(f"{fn.__module__}.{fn.__qualname__}", fn.cache_clear,
                       lambda fn=fn: fn.cache_info().currsize, maxsize)


def bounded_cache(maxsize: int):
    """``functools.lru_cache(maxsize=maxsize)``, registered with :func:`clear_caches`."""
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(f"maxsize must be an integer >= 1, got {maxsize!r}")

    def wrap(fn):
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        register_lru(cached)
        return cached

    return wrap


class BoundedDict(dict):
    """A memo dict of at most ``maxsize`` entries, the oldest out first, registered with
    :func:`clear_caches` under ``name`` (for memos that ``functools.lru_cache`` cannot
    express: unhashable arguments, entries not always kept).  A lookup is a plain
    ``dict`` lookup; an insertion takes a lock."""

    def __init__(self, name: str, maxsize: int):
        super().__init__()
        self.maxsize = maxsize
        self._lock = threading.Lock()
        register_cache(name, self.clear, self.__len__, maxsize)

    def __setitem__(self, key, value):
        with self._lock:
            super().__setitem__(key, value)
            while len(self) > self.maxsize:
                del self[next(iter(self))]


def clear_caches() -> None:
    """Empty every cache s2scatter holds (kernels, filter banks, plans, pooled buffers, ...).

    The next call rebuilds what it needs (slower once); arrays a caller holds stay
    valid.  JAX's compiled programs are JAX's: ``jax.clear_caches()``.

    >>> import s2scatter
    >>> s2scatter.clear_caches()
    """
    with _LOCK:
        for clear, _, _ in list(_CACHES.values()):
            clear()


def cache_sizes() -> dict:
    """``{name: (entries held, maxsize)}`` of every registered cache (for tests and debugging)."""
    return {name: (size(), maxsize) for name, (_, size, maxsize) in sorted(_CACHES.items())}


class Settings(collections.abc.Mapping):
    """The settings in force after a :func:`config` call (a read-only mapping); as a
    context manager, restores on exit every setting as it was before that call."""

    def __init__(self, values: dict, saved: dict):
        self._values = values
        self._saved = saved

    def __getitem__(self, name):
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"config({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _restore(self._saved)
        return False


def _restore(saved: dict) -> None:
    with _LOCK:
        for name, old in reversed(list(saved.items())):
            setting = _SETTINGS[name]
            if setting.state() != old:
                setting.restore(old)


def config(**settings) -> Settings:
    """Read or set the process-wide settings; a context manager that restores them.

    ``config()`` returns the settings in force, a read-only mapping (``dict(config())``
    for a copy); ``config(name=value, ...)`` sets some and returns them all.  Used as
    ``with config(...):``, every setting is put back on exit as it was before the call
    (also after an exception, and whatever was changed inside the block, e.g. through
    :func:`set_limits`).  Settings are process-wide, not per thread.

    Settings (defaults and costs: ``docs/performance.md``): ``num_threads`` of every ducc0
    kernel (``0``: all cores); ``kernel_budget``, bytes of the largest precomputed Legendre
    kernel of the ``"jax"`` method (larger: the recursion; ``0``: always); ``output_cache``,
    GiB of pooled outputs of the ``"ducc"`` method (``0`` disables); ``heap_trim_limit``, GiB
    of freed memory the C allocator keeps (``None``: its default); ``max_scales``,
    ``max_paths``, ``max_decoded_bytes``, ``max_memory_bytes``: :func:`s2scatter.set_limits`.

    Unknown names and bad values raise ``ValueError`` naming the setting and what it
    must be; nothing is changed then.

    Example:
        >>> import s2scatter
        >>> with s2scatter.config(kernel_budget=0, num_threads=1) as settings:
        ...     settings["kernel_budget"], s2scatter.harmonic.get_kernel_budget()
        (0, 0)
        >>> s2scatter.config()["kernel_budget"]
        1073741824
    """
    with _LOCK:
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise ValueError(f"s2scatter.config: unknown setting(s) {unknown}; "
                             f"valid ones are {sorted(_SETTINGS)}")
        saved = {name: s.state() for name, s in _SETTINGS.items()}
        try:
            for name, value in settings.items():
                setting = _SETTINGS[name]
                try:
                    setting.set(value)
                except (ValueError, TypeError) as err:
                    raise ValueError(f"s2scatter.config: {name} must be {setting.expected}, "
                                     f"got {value!r}") from err
        except BaseException:
            _restore(saved)  # all or nothing
            raise
        return Settings({name: s.get() for name, s in _SETTINGS.items()}, saved)
