#!/usr/bin/env python
"""Paired A/B of the output buffer pool (``harmonic.set_output_cache``) on the eager cells
of ``scripts/bench_transforms.py``.

For each sampling and ``L``: ``s2scatter.forward`` / ``inverse`` (float64, real fields,
``method="ducc"``, eager) with the pool at each limit of ``--limits`` (GiB; 0 disables
it), timed in one process in alternation (the order reversed every other round),
``--rounds`` rounds of a block of calls; prints the median times and the median of the
per-round ratios against the first limit, and writes ``--out`` (JSON).  Figures:
``docs/performance.md`` (Output cache).

Usage::

    python scripts/bench_output_cache.py --L 256 1024 2048 --limits 0 1 --rounds 9
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import machine, random_real_flm, versions, write_json_atomic  # noqa: E402


def bench_cell(sampling, L, direction, limits, rounds, rng):
    import s2scatter
    from s2scatter.harmonic import set_output_cache

    nside = L // 2 if sampling == "healpix" else None
    kw = dict(sampling=sampling, nside=nside, reality=True, method="ducc")
    flm = random_real_flm(L, rng)
    f = np.asarray(s2scatter.inverse(flm, L, **kw))
    if direction == "forward":
        call = lambda: s2scatter.forward(f, L, **kw, **({"iter": 0} if sampling == "healpix" else {}))  # noqa: E731
    else:
        call = lambda: s2scatter.inverse(flm, L, **kw)  # noqa: E731
    calls = int(min(100, max(1, 0.2 / (3e-9 * L**3))))
    times = {g: [] for g in limits}
    for r in range(rounds):
        for g in limits if r % 2 == 0 else limits[::-1]:
            set_output_cache(g)
            gc.collect()
            call().block_until_ready()  # the pool (if any) now holds this shape
            t0 = time.perf_counter()
            for _ in range(calls):
                call().block_until_ready()
            times[g].append((time.perf_counter() - t0) / calls)
    row = {"sampling": sampling, "L": L, "direction": direction, "calls_per_block": calls}
    for g in limits:
        row[f"{g}GiB_s"] = statistics.median(times[g])
        row[f"{g}GiB_over_{limits[0]}GiB"] = statistics.median(a / b for a, b in zip(times[g], times[limits[0]]))
    print(f"{sampling:8s} L={L:5d} {direction:7s} " + "  ".join(
        f"{g} GiB {row[f'{g}GiB_s'] * 1e3:9.3f} ms ({row[f'{g}GiB_over_{limits[0]}GiB']:.3f})" for g in limits),
        flush=True)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, nargs="+", default=[256, 1024, 2048])
    p.add_argument("--samplings", nargs="+", default=["mw", "gl", "healpix"])
    p.add_argument("--limits", type=float, nargs="+", default=[0.0, 1.0], help="GiB; the first is the denominator")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--out", default="bench_out/bench_output_cache.json")
    args = p.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    rows = [bench_cell(s, L, d, args.limits, args.rounds, rng)
            for s in args.samplings for L in args.L for d in ("forward", "inverse")]
    write_json_atomic(args.out, {"script": "scripts/bench_output_cache.py", "argv": sys.argv[1:],
                                 "versions": versions(), "machine": machine(), "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
