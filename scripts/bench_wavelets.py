#!/usr/bin/env python
"""Benchmark: directional wavelet analysis / synthesis, ours against s2wav, in one process.

For each band-limit L and azimuthal band-limit N, times the multiresolution
wavelet transform of a real, band-limited random map (MW sampling, float64,
``lam = 2``, ``J_min = 0``) for:

* ours: ``s2scatter.wavelets.analysis`` / ``synthesis`` with ``method="ducc"``,
  ``reality=True``, filters prebuilt (their build time is reported separately);
* s2wav 1.0.4's fastest CPU method, ``s2wav.analysis_c`` / ``synthesis_c``
  (SSHT C backend for the SHTs, s2fft's ``jax_ssht`` Wigner transforms; measured
  faster than its JAX-recursive and precomputed-JAX methods on this CPU:
  0.12 s vs 0.68 s and 0.25 s at L=128, N=3), same filters convention,
  ``reality=True``.

Reports the median of the timed calls after a first (compile) call, the
first-call time, the peak RSS of the process and its increase during the
timed calls (5 ms polling), our reconstruction error, and the agreement of
our coefficients with s2wav's (computed with ``quadrature="s2wav"`` filters,
i.e. s2wav's trapezoidal ``k_lam``; the default exact filters differ from
s2wav's by ~1e-5).  The ratio column is s2wav's median over ours.

s2wav needs torch at import and is not part of the main environment; run::

    /tmp/s2wav-venv/bin/python scripts/bench_wavelets.py          # side by side
    python scripts/bench_wavelets.py                               # ours only (s2wav missing)
    python scripts/bench_wavelets.py --L 2048 --N 3 --no-s2wav     # clean peak RSS for ours

(see ``scripts/make_s2wav_fixtures.py`` for the venv).  s2wav is skipped at
band-limits where its previous call, scaled by 8 (O(L^3)), would exceed
``--s2wav-max-s`` seconds.  Writes ``--out`` (JSON) with versions, machine
and every row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import PeakRSS, machine, random_real_flm, time_interleaved, versions, write_json_atomic  # noqa: E402

# measure this working tree, not whatever copy of s2scatter is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timeit(fn, repeats):
    """First call (compile + run) and the median of ``repeats`` further calls."""
    import jax

    with PeakRSS() as mem_first:
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        first = time.perf_counter() - t0
    ts = []
    with PeakRSS() as mem:
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            ts.append(time.perf_counter() - t0)
    res = {"first_s": first, "median_s": statistics.median(ts) if ts else first, "repeats": repeats,
           "peak_rss_mb": max(mem.peak, mem_first.peak) / 2**20,
           "peak_delta_mb": (max(mem.peak, mem_first.peak) - mem_first.base) / 2**20}
    return res, out


def interleaved(fns, repeats):
    """Medians of callables timed in alternation (their ratio is what to trust under load)."""
    return {k: v["median_s"] for k, v in time_interleaved(fns, repeats).items()}


def _maxrel(a_list, b_list, scale):
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(a_list, b_list)) / scale


def bench_case(L, N, args, rng, state):
    import s2scatter
    from s2scatter import wavelets as W

    rows = []
    flm = random_real_flm(L, rng)
    f = np.asarray(s2scatter.inverse(flm, L, reality=True, method="ducc"))
    del flm
    scale = float(np.max(np.abs(f)))
    reps = args.repeats if L <= 512 else max(1, args.repeats_large)

    def row(direction, impl, res, **extra):
        r = {"L": L, "N": N, "direction": direction, "impl": impl, **res, **extra}
        rows.append(r)
        err = extra.get("recon_rel_err")
        print(f"  L={L:5d} N={N} {direction:9s} {impl:7s} median {res['median_s']:8.4f}s first "
              f"{res['first_s']:7.2f}s peak {res['peak_rss_mb']:6.0f}MB (+{res['peak_delta_mb']:.0f})"
              + (f" recon {err:.1e}" if err is not None else ""), flush=True)

    # ---- ours
    t0 = time.perf_counter()
    fb = W.filters(L, N=N)
    t_filters = time.perf_counter() - t0
    kw = dict(N=N, reality=True, method="ducc", filters=fb)
    res, (f_wav, f_scal) = timeit(lambda: W.analysis(f, L, **kw), reps)
    row("analysis", "ours", res, filters_s=t_filters)
    res, g = timeit(lambda: W.synthesis(f_wav, f_scal, L, **kw), reps)
    row("synthesis", "ours", res, recon_rel_err=float(np.max(np.abs(np.asarray(g) - f)) / scale))
    del g

    # ---- s2wav C backend
    s2wav = state.get("s2wav")
    est = state.get(("s2wav_est", N), 0.0) * 8
    if s2wav is None or L > args.s2wav_max_L or est > args.s2wav_max_s:
        why = "missing" if s2wav is None else f"skipped (L > {args.s2wav_max_L} or est {est:.0f}s)"
        print(f"  L={L:5d} N={N} s2wav {why}", flush=True)
        del f_wav, f_scal
        return rows
    t0 = time.perf_counter()
    filt = s2wav.filters.filters_directional_vectorised(L, N)
    t_filt = time.perf_counter() - t0
    sres, (s_wav, s_scal) = timeit(lambda: s2wav.analysis_c(f, L, N, filters=filt, reality=True), reps)
    # agreement: ours with s2wav's trapezoidal k_lam vs s2wav
    fb2 = W.filters(L, N=N, quadrature="s2wav")
    o_wav, o_scal = W.analysis(f, L, N=N, reality=True, method="ducc", filters=fb2)
    agree = max(_maxrel(o_wav, s_wav, scale), _maxrel([o_scal], [s_scal], scale))
    agree_exact = max(_maxrel(f_wav, s_wav, scale), _maxrel([f_scal], [s_scal], scale))
    del o_wav, o_scal, f_wav, f_scal
    pa = interleaved({"ours": lambda: W.analysis(f, L, **kw),
                      "s2wav": lambda: s2wav.analysis_c(f, L, N, filters=filt, reality=True)}, reps)
    row("analysis", "s2wav-c", sres, filters_s=t_filt, agree_s2wav_filters=agree, agree_exact_filters=agree_exact,
        paired_ours_s=pa["ours"], paired_s2wav_s=pa["s2wav"], paired_ratio=pa["s2wav"] / pa["ours"])
    print(f"    coefficients: ours(s2wav filters) vs s2wav {agree:.1e}, ours(exact filters) vs s2wav "
          f"{agree_exact:.1e}", flush=True)
    state[("s2wav_est", N)] = sres["median_s"]
    sres, g = timeit(lambda: s2wav.synthesis_c(s_wav, s_scal, L, N, filters=filt, reality=True), reps)
    o_wav, o_scal = W.analysis(f, L, **kw)
    ps = interleaved({"ours": lambda: W.synthesis(o_wav, o_scal, L, **kw),
                      "s2wav": lambda: s2wav.synthesis_c(s_wav, s_scal, L, N, filters=filt, reality=True)}, reps)
    del o_wav, o_scal
    row("synthesis", "s2wav-c", sres, recon_rel_err=float(np.max(np.abs(np.asarray(g) - f)) / scale),
        paired_ours_s=ps["ours"], paired_s2wav_s=ps["s2wav"], paired_ratio=ps["s2wav"] / ps["ours"])
    state[("s2wav_est", N)] = max(state[("s2wav_est", N)], sres["median_s"])
    return rows


def summarise(rows):
    by = {(r["L"], r["N"], r["direction"], r["impl"]): r for r in rows}
    keys = sorted({(r["L"], r["N"], r["direction"]) for r in rows}, key=lambda k: (k[1], k[2], k[0]))
    hdr = (f"{'N':>2s} {'dir':9s} {'L':>5s} {'ours med':>9s} {'ours 1st':>8s} {'ours peak':>10s} "
           f"{'s2wav med':>9s} {'s2wav 1st':>9s} {'s2wav peak':>10s} {'s2wav/ours':>10s} {'paired':>7s} {'recon':>8s}")
    print("\n" + hdr)
    print("-" * len(hdr))
    out = []
    fmt = lambda x, w=9, p=4: (f"{x:{w}.{p}f}" if x is not None else " " * (w - 1) + "-")  # noqa: E731
    for k in keys:
        o, s = by.get(k + ("ours",), {}), by.get(k + ("s2wav-c",), {})
        om, sm = o.get("median_s"), s.get("median_s")
        rec = {"L": k[0], "N": k[1], "direction": k[2], "ours_median_s": om, "s2wav_median_s": sm,
               "ratio": sm / om if om and sm else None, "paired_ratio": s.get("paired_ratio"),
               "ours_peak_rss_mb": o.get("peak_rss_mb"), "ours_peak_delta_mb": o.get("peak_delta_mb"),
               "s2wav_peak_rss_mb": s.get("peak_rss_mb"), "s2wav_peak_delta_mb": s.get("peak_delta_mb")}
        out.append(rec)
        pk = lambda r: (f"{r['peak_rss_mb']:5.0f}+{r['peak_delta_mb']:<4.0f}" if r else " " * 9 + "-")  # noqa: E731
        print(f"{k[1]:2d} {k[2]:9s} {k[0]:5d} {fmt(om)} {fmt(o.get('first_s'), 8, 2)} {pk(o):>10s} "
              f"{fmt(sm)} {fmt(s.get('first_s'), 9, 2)} {pk(s):>10s} {fmt(rec['ratio'], 10, 1)} "
              f"{fmt(rec['paired_ratio'], 7, 1)} "
              + (f"{o['recon_rel_err']:8.1e}" if o.get("recon_rel_err") is not None else f"{'-':>8s}"))
    print("(peak: process peak RSS MB + increase during the calls; s2wav/ours: ratio of medians; "
          "paired: the same ratio with the two timed in alternation, the figure to trust under load)")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    p.add_argument("--N", type=int, nargs="+", default=[1, 3])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--repeats-large", type=int, default=2, help="timed repeats for L > 512")
    p.add_argument("--s2wav-max-L", type=int, default=2048)
    p.add_argument("--s2wav-max-s", type=float, default=60.0, help="skip s2wav when a call would exceed this")
    p.add_argument("--no-s2wav", action="store_true", help="ours only (clean peak RSS: no torch import)")
    p.add_argument("--threads", type=int, default=0, help="ducc threads for ours (0: all cores)")
    p.add_argument("--heap-trim-gb", type=float, default=None,
                   help="s2scatter.config(heap_trim_limit=GB) first (process-wide: "
                        "affects ours and s2wav alike); default: the allocator's own behaviour")
    p.add_argument("--out", default="bench_out/bench_wavelets.json")
    args = p.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import s2scatter

    print(f"s2scatter from {os.path.dirname(s2scatter.__file__)}", flush=True)
    s2scatter.config(num_threads=args.threads, heap_trim_limit=args.heap_trim_gb)
    state = {"s2wav": None}
    if not args.no_s2wav:
        try:  # import up front so that torch's import never lands inside a measurement
            import s2wav

            state["s2wav"] = s2wav
        except ImportError as exc:
            print(f"s2wav not importable ({exc}); timing ours only", flush=True)
    rng = np.random.default_rng(0)
    rows = []
    for N in args.N:
        for L in args.L:
            print(f"[L={L} N={N}]", flush=True)
            rows.extend(bench_case(L, N, args, rng, state))
    summary = summarise(rows)
    meta = {
        "script": "scripts/bench_wavelets.py",
        "argv": sys.argv[1:],
        "versions": versions(),
        "machine": machine(ducc_threads=s2scatter.harmonic.get_num_threads(), heap_trim_gb=args.heap_trim_gb,
                           loadavg_end=os.getloadavg()),
        "dtype": "float64", "reality": True, "sampling": "mw", "lam": 2.0, "J_min": 0, "multiresolution": True,
        "rows": rows, "summary": summary,
    }
    write_json_atomic(args.out, meta)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
