"""Resource limits: refuse work that cannot finish, before allocating it.

Process-wide settings of :func:`s2scatter.config` (also :func:`get_limits`, :func:`set_limits`,
:func:`reset_limits`); the table of what each refuses, and why: ``docs/performance.md``.

* ``max_scales`` (100): wavelet scales ``J_max - J_min + 1`` of one filter bank.
* ``max_paths`` (10,000): scattering paths (output channels) of one network.
* ``max_decoded_bytes`` (2 GiB): one input file decoded to float64 by
  :func:`s2scatter.io.read_map`, computed from its header before decoding.
* ``max_memory_bytes`` (``"available"``: the smaller of the system's available memory and
  a cgroup limit's headroom, when checked; or a number of bytes): up-front estimates.

Each can also be set by an environment variable (``S2SCATTER_MAX_SCALES``, ...,
``S2SCATTER_MAX_MEMORY_BYTES``; numbers like ``8e9``), which also reaches Dask workers.
Precedence: :func:`set_limits`, the environment, the default; ``inf`` turns a limit off.
Memory estimates are lower bounds (float64): a refusal means the work cannot fit, passing
does not promise it will.  Against ``"available"``, estimates below 64 MiB are not checked.
"""

from __future__ import annotations

import math
import os

from ._config import register_setting

__all__ = ["get_limits", "set_limits", "reset_limits", "available_memory", "check_count", "check_memory",
           "format_bytes"]

_DEFAULTS = {
    "max_scales": 100,
    "max_paths": 10_000,
    "max_decoded_bytes": 2**31,
    "max_memory_bytes": "available",
}
_ENV = {name: "S2SCATTER_" + name.upper() for name in _DEFAULTS}
_QUERY_FLOOR = 64 << 20  # estimates below 64 MiB are not compared with the available memory
_SET: dict = {}


def _parse(name, value, source):
    """A limit's value: a number >= 0 (``inf`` disables), or ``"available"`` for memory."""
    if name == "max_memory_bytes" and isinstance(value, str) and value.strip().lower() == "available":
        return "available"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        extra = ', or "available"' if name == "max_memory_bytes" else ""
        raise ValueError(f"{source}: {name} must be a number >= 0 (inf: no limit){extra}, got {value!r}")
    if math.isinf(value):
        return math.inf
    return int(value)


def _limit(name):
    if name in _SET:
        return _SET[name]
    env = os.environ.get(_ENV[name])
    if env is not None and env.strip():
        return _parse(name, env, f"environment variable {_ENV[name]}")
    return _DEFAULTS[name]


def get_limits() -> dict:
    """The limits in force: ``{name: value}`` (see the module docstring).

    >>> get_limits()["max_scales"]
    100
    """
    return {name: _limit(name) for name in _DEFAULTS}


def set_limits(**limits) -> dict:
    """Set limits for this process; returns the previous settings, for :func:`set_limits` ``(**old)``.

    ``None`` returns a limit to its environment variable or default; ``math.inf``
    (or ``float("inf")``) turns it off.  Unknown names raise ``ValueError``.

    Example:
        >>> old = set_limits(max_decoded_bytes=8 * 2**30)   # read inputs up to 8 GiB
        >>> get_limits()["max_decoded_bytes"]
        8589934592
        >>> _ = set_limits(**old)
    """
    unknown = sorted(set(limits) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown limit(s) {unknown}; expected some of {sorted(_DEFAULTS)}")
    parsed = {k: (None if v is None else _parse(k, v, "set_limits")) for k, v in limits.items()}
    old = {k: _SET.get(k) for k in limits}
    for k, v in parsed.items():
        if v is None:
            _SET.pop(k, None)
        else:
            _SET[k] = v
    return old


def reset_limits() -> None:
    """Forget every :func:`set_limits` setting (environment variables and defaults apply)."""
    _SET.clear()


for _name in _DEFAULTS:  # the limits are settings of s2scatter.config too
    register_setting(_name, get=lambda name=_name: _limit(name),
                     set=lambda value, name=_name: set_limits(**{name: value}),
                     state=lambda name=_name: _SET.get(name),
                     expected="a number >= 0 (inf: no limit), "
                              + ('"available", ' if _name == "max_memory_bytes" else "")
                              + "or None (the environment variable or the default)")


def _read_int(path):
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int | None:
    """Bytes of memory available to this process now, or ``None`` when unknown.

    The system's available memory (psutil, a dependency of ``dask.distributed``), capped
    by the headroom of a cgroup memory limit (containers).
    """
    try:
        import psutil

        avail = int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - no support on this system
        avail = None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        cap, used = _read_int(limit_file), _read_int(usage_file)
        if cap is not None and used is not None and cap < 1 << 60:  # "max" / huge: no limit
            room = max(cap - used, 0)
            avail = room if avail is None else min(avail, room)
            break
    return avail


def format_bytes(n) -> str:
    """``1.5 GiB``-style size."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def _how(name):
    return f"s2scatter.set_limits({name}=...) or the environment variable {_ENV[name]} (inf: no limit)"


def check_count(name, value, what, *, error=ValueError) -> None:
    """Raise ``error`` when ``value`` exceeds the limit ``name`` (``max_scales``, ``max_paths``)."""
    limit = _limit(name)
    if value > limit:
        raise error(f"{what}: above the limit {name} = {limit}; raise it with {_how(name)}")


def check_memory(nbytes, what, *, error=ValueError) -> None:
    """Raise ``error`` when an estimate of ``nbytes`` exceeds ``max_memory_bytes``.

    ``what`` says what needs the memory (and why, ideally with the parameters).
    """
    limit = _limit("max_memory_bytes")
    if limit == "available":
        if nbytes < _QUERY_FLOOR:  # asking the system costs ~0.2 ms: not for small work
            return
        budget = available_memory()
        if budget is None:
            return
        against = f"the {format_bytes(budget)} of memory available"
    else:
        budget = limit
        against = f"max_memory_bytes = {format_bytes(budget)}"
    if nbytes > budget:
        raise error(f"{what} needs at least {format_bytes(nbytes)} of memory, more than {against}; "
                    f"lower the resolution, or set the memory limit with {_how('max_memory_bytes')}")
