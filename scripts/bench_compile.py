#!/usr/bin/env python
"""Benchmark: time to the first result of the pure-JAX path (``method="jax"``).

Issue 14, item 6.  For each band-limit L and each cell it starts a fresh
Python process (so no cache of a previous cell helps) and times

* ``scattering-jit``: ``jax.jit(Scattering(ScatteringConfig(L, N=1, J_min=2,
  max_order=2, output="invariants", method="jax")))(f)``, split with
  :mod:`jax.stages` into trace (``jit(fn).trace``), lowering (``.lower()``),
  XLA compilation (``.compile()``) and the first run; then the median of
  further calls of the compiled function (the steady state);
* ``scattering-apply``: ``jax.jit(net.apply)(net.kernels, f)``, the network's
  Legendre kernels passed in as arguments instead of compiled in as constants;
* ``scattering-eager``: the same network called without a ``jit``;
* ``*-sjit``: the cell's function under :func:`s2scatter.jit` (kernels passed to
  the compiled program as arguments; first call = abstract trace, kernel building,
  trace, compile, run);
* ``analysis-{eager,jit}``, ``synthesis-{eager,jit}``:
  :func:`s2scatter.wavelets.analysis` / ``synthesis`` (``N=1, J_min=2,
  reality=True``, filters prebuilt) with ``method="jax"``.

A real band-limited random map on the MW grid, float64 (``jax_enable_x64``).
For traced cells it also reports what the program embeds: the bytes of the
constants captured by the traced program (walking the jaxpr and its
sub-jaxprs) and, up to ``--hlo-max-L``, the length of the lowered StableHLO
text.  Building the network (filters; with the ``"jax"`` method also the Legendre
kernels it owns) or the wavelet filters is timed apart (``setup_s``) and is not part
of ``first_s``.  A cell that runs past ``--timeout`` seconds is stopped
and reported as such.

Usage::

    python scripts/bench_compile.py                              # L = 64, 128, 256
    python scripts/bench_compile.py --L 512 1024 --timeout 600 --cells scattering-jit analysis-eager

Writes ``--out`` (JSON) with versions, machine and every cell.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import machine, random_real_flm, versions, write_json_atomic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # measure this working tree

CELLS = ("scattering-jit", "scattering-apply", "scattering-sjit", "scattering-eager", "analysis-eager", "analysis-jit",
         "analysis-sjit", "synthesis-eager", "synthesis-jit", "synthesis-sjit")


def _const_bytes(closed):
    """Bytes of the array constants captured by a closed jaxpr and its sub-jaxprs."""
    import jax

    seen, total = set(), 0

    def walk(cj):
        nonlocal total
        for c in getattr(cj, "consts", ()):
            if id(c) not in seen and hasattr(c, "nbytes"):
                seen.add(id(c))
                total += int(c.nbytes)
        jaxpr = getattr(cj, "jaxpr", cj)
        for eqn in jaxpr.eqns:
            for v in eqn.invars:
                if isinstance(v, jax.extend.core.Literal) and hasattr(v.val, "nbytes") and id(v.val) not in seen:
                    seen.add(id(v.val))
                    total += int(v.val.nbytes)
            for p in eqn.params.values():
                for q in (p if isinstance(p, (list, tuple)) else (p,)):
                    if hasattr(q, "eqns") or hasattr(q, "jaxpr"):
                        walk(q)

    walk(closed)
    return total


def run_cell(cell, L, repeats, hlo_max_L, compile_only=False):
    """One cell, in this process: returns a dict of timings (seconds)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    import s2scatter
    from s2scatter import wavelets

    rng = np.random.default_rng(0)
    f = np.asarray(s2scatter.inverse(random_real_flm(L, rng), L, reality=True, method="ducc"))
    t0 = time.perf_counter()
    kind, mode = cell.split("-")
    if kind == "scattering":
        net = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, N=1, J_min=2, max_order=2,
                                                              output="invariants", method="jax"))
        fn, args = (net, (f,)) if mode != "apply" else (net.apply, (net.kernels, f))
    else:
        fb = wavelets.filters(L, N=1, J_min=2, lam=2.0)
        kw = dict(N=1, J_min=2, lam=2.0, reality=True, method="jax", filters=fb)
        if kind == "analysis":
            fn, args = (lambda f: wavelets.analysis(f, L, **kw)), (f,)
        else:
            kw_d = dict(kw, method="ducc")
            f_wav, f_scal = wavelets.analysis(f, L, **kw_d)
            args = ([np.asarray(w) for w in f_wav], np.asarray(f_scal))
            fn = lambda f_wav, f_scal: wavelets.synthesis(f_wav, f_scal, L, **kw)  # noqa: E731
    res = {"cell": cell, "L": L, "setup_s": time.perf_counter() - t0}
    if mode in ("jit", "apply"):
        t0 = time.perf_counter()
        traced = jax.jit(fn).trace(*args)
        t1 = time.perf_counter()
        lowered = traced.lower()
        t2 = time.perf_counter()
        compiled = lowered.compile()
        t3 = time.perf_counter()
        if compile_only:
            res.update(trace_s=t1 - t0, lower_s=t2 - t1, compile_s=t3 - t2, first_s=t3 - t0,
                       const_mb=_const_bytes(traced.jaxpr) / 2**20, compile_only=True)
            return res
        out = jax.block_until_ready(compiled(*args))
        t4 = time.perf_counter()
        res.update(trace_s=t1 - t0, lower_s=t2 - t1, compile_s=t3 - t2, run1_s=t4 - t3, first_s=t4 - t0,
                   const_mb=_const_bytes(traced.jaxpr) / 2**20)
        if L <= hlo_max_L:
            res["hlo_mchars"] = len(lowered.as_text()) / 1e6
        call = lambda: compiled(*args)  # noqa: E731
    else:
        if mode == "sjit":
            fn = s2scatter.jit(fn)
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        res["first_s"] = time.perf_counter() - t0
        call = lambda: fn(*args)  # noqa: E731
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(call())
        ts.append(time.perf_counter() - t0)
    res["second_s"] = statistics.median(ts) if ts else None
    leaves = jax.tree_util.tree_leaves(out)
    res["checksum"] = float(sum(float(np.sum(np.abs(np.asarray(x)))) for x in leaves))
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    p.add_argument("--repeats", type=int, default=3, help="timed calls after the first")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per cell before it is stopped")
    p.add_argument("--hlo-max-L", type=int, default=64, help="print the HLO text length up to this L")
    p.add_argument("--out", default="bench_out/bench_compile.json")
    p.add_argument("--compile-only", action="store_true",
                   help="jit/apply cells: stop after XLA compilation (trace + lower + compile; no run)")
    p.add_argument("--cell", help=argparse.SUPPRESS)  # child mode: one cell, JSON on stdout
    args = p.parse_args()
    if args.cell:
        print("RESULT " + json.dumps(run_cell(args.cell, args.L[0], args.repeats, args.hlo_max_L, args.compile_only)), flush=True)
        return

    rows = []
    hdr = (f"{'cell':<17} {'L':>5} {'setup s':>8} {'first s':>8} {'trace':>7} {'lower':>7} {'compile':>8} {'run1':>7} "
           f"{'second s':>9} {'const MB':>9} {'HLO Mch':>8}")
    print(hdr)
    for L in args.L:
        for cell in args.cells:
            cmd = [sys.executable, os.path.abspath(__file__), "--cell", cell, "--L", str(L),
                   "--repeats", str(args.repeats), "--hlo-max-L", str(args.hlo_max_L)]
            cmd += ["--compile-only"] if args.compile_only else []
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if lines:
                    row = json.loads(lines[-1][7:])
                else:
                    row = {"cell": cell, "L": L, "error": proc.stderr[-2000:]}
            except subprocess.TimeoutExpired:
                row = {"cell": cell, "L": L, "stopped": f"stopped after {args.timeout:.0f} s (--timeout)"}
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)

            def fmt(k, w, d=2):
                v = row.get(k)
                return f"{v:>{w}.{d}f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"

            note = row.get("stopped") or ("error" if "error" in row else "")
            print(f"{cell:<17} {L:>5} {fmt('setup_s', 8)} {fmt('first_s', 8)} {fmt('trace_s', 7)} {fmt('lower_s', 7)} "
                  f"{fmt('compile_s', 8)} {fmt('run1_s', 7)} {fmt('second_s', 9, 3)} {fmt('const_mb', 9, 1)} "
                  f"{fmt('hlo_mchars', 8, 1)} {note}", flush=True)
            write_json_atomic(args.out, {"versions": versions(), "machine": machine(), "args": vars(args),
                                         "rows": rows})


if __name__ == "__main__":
    main()
