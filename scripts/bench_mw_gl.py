#!/usr/bin/env python
"""Paired A/B of the MW analysis route of eager ``"ducc"`` forward transforms (``harmonic/_mw_gl.py``).

The cell: ``s2scatter.forward(f, L, sampling="mw", reality=True, method="ducc")`` of a
real float64 map (the ``mw forward ours-ducc`` cell of ``scripts/bench_transforms.py``),
eager, in one process.  Variants, each selected by patching ``harmonic._mw_gl`` and timed
in alternation (the order rotated each round), ``--rounds`` rounds of a block of calls:

* ``gl``       -- the Gauss-Legendre route as shipped: the interpolation matrices applied
  in turn by numpy's BLAS limited to one thread (``threadpoolctl``), then ducc0's
  Legendre stage;
* ``gl+blas-threads`` -- the same with BLAS's thread count untouched (its own threads);
* ``gl+pool``  -- BLAS on one thread, the products spread over a two-thread pool of ours
  (what ``_mw_gl`` did before, with ctypes into OpenBLAS instead of threadpoolctl);
* ``ducc``     -- no route: ducc0's own MW analysis (``analysis_2d(geometry="MW")`` of
  the corrected samples).

The route is forced on at every ``L`` (below the shipped ``MIN_L`` too).  Prints, per ``L``, the median time of each variant and the median of the
per-round ratios variant / the first variant named; writes ``--out`` (JSON).  Figures:
``docs/performance.md`` (MW analysis through Gauss-Legendre quadrature).

Usage::

    python scripts/bench_mw_gl.py --L 64 128 256 512 --rounds 15
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import machine, random_real_flm, versions, write_json_atomic  # noqa: E402


def _variants():
    """name -> (route on?, BLAS on one thread?, products on a two-thread pool?)."""
    return {"gl": (True, True, False), "gl+blas-threads": (True, False, False), "gl+pool": (True, True, True),
            "ducc": (False, True, False)}


@contextlib.contextmanager
def _configured(route, one_blas, pool, _pool=[]):  # noqa: B006 - one pool per process
    """Patch ``harmonic._mw_gl`` for one variant (restored on exit)."""
    from s2scatter.harmonic import _mw_gl

    saved = {k: getattr(_mw_gl, k) for k in ("available", "_single_blas_thread", "_products")}
    _mw_gl.available = lambda L, dtype=np.float64: route and np.dtype(dtype) == np.float64
    if not one_blas:
        _mw_gl._single_blas_thread = contextlib.nullcontext
    if pool:
        if not _pool:
            _pool.append(concurrent.futures.ThreadPoolExecutor(max_workers=2))

        def products(jobs):
            with _mw_gl._BLAS_LOCK, _mw_gl._single_blas_thread():
                for fut in [_pool[0].submit(job) for job in jobs]:
                    fut.result()

        _mw_gl._products = products
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(_mw_gl, k, v)


def bench_L(L, rounds, rng, names):
    import s2scatter

    kw = dict(sampling="mw", reality=True, method="ducc")
    flm = random_real_flm(L, rng)
    f = np.asarray(s2scatter.inverse(flm, L, **kw))
    calls = int(min(200, max(2, 0.1 / (2e-9 * L**3))))  # ~0.1 s per block
    variants = {k: _variants()[k] for k in names}
    ref = None
    for name, cfg in variants.items():  # warm-up, and every variant gives the same numbers
        with _configured(*cfg):
            out = np.asarray(s2scatter.forward(f, L, **kw))
        ref = out if ref is None else ref
        assert np.allclose(out, ref, rtol=0, atol=1e-11 * np.abs(ref).max()), name
    times = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        if r % 2:
            order = order[::-1]
        for name in order:
            with _configured(*variants[name]):
                s2scatter.forward(f, L, **kw).block_until_ready()
                t0 = time.perf_counter()
                for _ in range(calls):
                    s2scatter.forward(f, L, **kw).block_until_ready()
                times[name].append((time.perf_counter() - t0) / calls)
    row = {"L": L, "calls_per_block": calls}
    for name in names:
        row[f"{name}_s"] = statistics.median(times[name])
        row[f"{name}_over_{names[0]}"] = statistics.median(a / b for a, b in zip(times[name], times[names[0]]))
    print(f"L={L:5d} " + "  ".join(f"{n} {row[n + '_s'] * 1e3:8.3f} ms ({row[f'{n}_over_{names[0]}']:.3f})"
                                   for n in names), flush=True)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, nargs="+", default=[64, 128, 256, 512])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--variants", nargs="+", default=list(_variants()), choices=list(_variants()),
                   help="the first is the denominator of the ratios")
    p.add_argument("--out", default="bench_out/bench_mw_gl.json")
    args = p.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    rows = [bench_L(L, args.rounds, rng, args.variants) for L in args.L]
    write_json_atomic(args.out, {"script": "scripts/bench_mw_gl.py", "argv": sys.argv[1:], "versions": versions(),
                                 "machine": machine(), "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
