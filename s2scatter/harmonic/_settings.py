"""The harmonic layer's process-wide settings and caches, registered with
:func:`s2scatter.config` and :func:`s2scatter.clear_caches`.

========================  =================================================
``config`` setting        the same as (kept, not deprecated)
========================  =================================================
``num_threads``           :func:`set_num_threads` / :func:`get_num_threads`
``kernel_budget``         :func:`set_kernel_budget` / :func:`get_kernel_budget` (a new budget
                          applies to shapes already called too)
``output_cache``          :func:`set_output_cache` / :func:`get_output_cache`
``heap_trim_limit``       :func:`set_heap_trim_limit`
========================  =================================================
"""

from __future__ import annotations

import numbers

from .._config import register_cache, register_lru, register_setting
from . import _buffers, _ducc, _jax, _mw_gl, _primitive

__all__: list = []

_GLIBC_TRIM_GB = 128 / 2**20  # glibc's default M_TRIM_THRESHOLD (128 KiB), in GiB


def _set_heap_trim(gigabytes) -> None:
    if gigabytes is not None:
        _ducc.set_heap_trim_limit(gigabytes)
    elif _ducc._HEAP_TRIM["gigabytes"] is not None:  # no way back to the allocator's own state:
        _ducc.set_heap_trim_limit(_GLIBC_TRIM_GB)  # its default threshold
        _ducc._HEAP_TRIM["gigabytes"] = None


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


register_setting("num_threads", get=_ducc.get_num_threads,
                 set=lambda n: _ducc.set_num_threads(_check_count(n, "num_threads")),
                 state=lambda: _ducc._THREADS["n"], restore=_ducc.set_num_threads,
                 expected="an integer >= 0 (0: all cores)")
register_setting("kernel_budget", get=_jax.get_kernel_budget,
                 set=lambda n: _jax.set_kernel_budget(_check_count(n, "kernel_budget")),
                 expected="an integer number of bytes >= 0 (0: always the recursion)")
register_setting("output_cache", get=lambda: _buffers.get_output_cache()["limit_bytes"] / 2**30,
                 set=_buffers.set_output_cache, expected="a number of GiB >= 0 (0 disables the pool)")
register_setting("heap_trim_limit", get=lambda: _ducc._HEAP_TRIM["gigabytes"], set=_set_heap_trim,
                 expected="a number of GiB >= 0, or None (the allocator's default)")

# the kernels of the "jax" method: bounded in bytes (twice the kernel budget)
register_cache("s2scatter.harmonic._jax._KERNELS", _jax._kernel.cache_clear, _jax._KERNELS.__len__, None)
register_cache("s2scatter.harmonic._jax._KEYS_CACHE", _jax._KEYS_CACHE.clear, _jax._KEYS_CACHE.__len__,
               _jax._KEYS_CACHE_SIZE)
register_lru(_jax._resampler, _jax._hp_index, _jax._hp_tables, _mw_gl._plan, _primitive._out_aval)
# pooled output buffers: bounded in bytes (set_output_cache)
register_cache("s2scatter.harmonic._buffers", _buffers.clear, lambda: _buffers.get_output_cache()["buffers"],
               None)
