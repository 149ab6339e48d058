"""Shared helpers of the ``scripts/bench_*.py`` benchmarks: peak memory, versions,
interleaved timing, test data and atomic JSON output."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import statistics
import threading
import time

__all__ = ["PeakRSS", "versions", "machine", "time_interleaved", "random_real_flm", "write_json_atomic"]


def _rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident-set size (``peak``) and its increase (``delta``), in bytes, while
    the block runs (5 ms polling)."""

    def __enter__(self):
        self.base = _rss_bytes()
        self.peak = self.base
        self._stop = False
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self):
        while not self._stop:
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self.peak = max(self.peak, _rss_bytes())
        self.delta = self.peak - self.base


def versions(packages=("s2scatter", "jax", "jaxlib", "ducc0", "numpy", "pyssht", "healpy", "s2fft",
                       "s2wav", "torch")):
    """Installed versions of ``packages`` (``None`` where absent), for the JSON records."""
    out = {}
    for p in packages:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = None
    return out


def time_interleaved(fns, repeats):
    """Time callables in alternation after one first call each, the order reversed
    every other round (a, b, b, a, a, b, ...).

    Returns ``{name: {"first_s": ..., "median_s": ..., "times_s": [...]}}``.
    On a shared, noisy machine a burst of load then hits every contender
    alike, so the ratio of the medians is far steadier than when each one is
    timed in its own block; :func:`paired_ratio` goes one step further.  The
    reversal cancels what running first or second in a round does to a call
    (caches the other one left warm or cold, memory it left to reclaim).
    """
    import jax

    out = {}
    for k, fn in fns.items():
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        out[k] = {"first_s": time.perf_counter() - t0}
    ts = {k: [] for k in fns}
    order = list(fns.items())
    for i in range(repeats):
        for k, fn in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            ts[k].append(time.perf_counter() - t0)
    for k in fns:
        out[k]["median_s"] = statistics.median(ts[k])
        out[k]["times_s"] = ts[k]
    return out


def paired_ratio(a, b):
    """Median over rounds of ``a[i] / b[i]`` for two :func:`time_interleaved` results.

    The estimator of a paired design: each round's two calls ran back to back,
    so slow drifts of the machine's load cancel in the per-round ratio.
    """
    return statistics.median(x / y for x, y in zip(a["times_s"], b["times_s"]))


def random_real_flm(L, rng):
    """Real band-limited coefficients with a red spectrum (amplitude ~ 1/(1+l))."""
    from s2scatter.sampling import random_flm

    return random_flm(L, reality=True, slope=1.0, rng=rng)


def write_json_atomic(path, obj):
    """Write ``obj`` as JSON to ``path`` through the package's atomic writer
    (``s2scatter._files.atomic_path``: a temporary file next to it, renamed over it)."""
    from s2scatter._files import atomic_path

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)


def machine(**extra):
    """Platform, CPU count, Python and JAX backend of this run, plus ``extra`` entries."""
    import platform

    import jax

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "jax_backend": jax.default_backend(), **extra}
