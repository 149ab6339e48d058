"""Shared helpers of the ``scripts/bench_*.py`` benchmarks: peak memory and versions."""

from __future__ import annotations

import importlib.metadata as md
import os
import threading
import time

__all__ = ["PeakRSS", "versions"]


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
