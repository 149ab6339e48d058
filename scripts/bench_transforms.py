#!/usr/bin/env python
"""Benchmark: spherical-harmonic transforms, ours against the peers, in one process.

For each sampling (mw, gl, healpix) and band-limit L, times forward and inverse
transforms of a real, band-limited random map in float64 for:

* ours, ``method="ducc"`` and ``method="jax"`` (jit-compiled, kernels built once),
* raw ducc0 (``ducc0.sht.experimental`` / healpix geometry, same thread count),
* pyssht (C backend, mw and gl), healpy (healpix, ``iter=0``),
* s2fft's pure-JAX method (``method="jax"``).

Reports the median of ``--repeats`` runs after a warm-up, first-call (compile)
time for the JAX paths, the one-off kernel precompute of our ``jax`` method,
the peak RSS increase during the timed calls, the max abs error against the
reference coefficients, and the ratios that the targets are stated in:

* ``ducc/raw``: our ducc method over raw ducc0 (target <= 1.25 at L >= 256),
  the ratio of the medians, and ``paired``: the median of the per-round
  ratios (ours and raw run back to back each round, so load drifts cancel);
  raw ducc0 returns healpy-ordered ``alm`` (m >= 0), a quarter of our
  ``(L, 2L-1)`` array, so ``/raw+flm`` (paired) also times raw ducc0 followed
  by ducc0's own conversion to that layout (``alm2flm``; ``flm2alm`` before
  an inverse): what the JAX wrapping alone costs,
* ``s2fft/jax``: s2fft's jax method over ours (target >= 10 at L = 128, 256),
  timed in alternation, with its ``paired`` median of per-round ratios.

Writes ``--out`` (JSON) with versions, machine and every row.

Usage::

    python scripts/bench_transforms.py                       # full grid (minutes)
    python scripts/bench_transforms.py --L 64 128 256 --samplings mw --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import (  # noqa: E402
    PeakRSS, machine, paired_ratio, random_real_flm, time_interleaved, versions, write_json_atomic)


def timeit(fn, repeats):
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    ts = []
    with PeakRSS() as mem:
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            ts.append(time.perf_counter() - t0)
    return {"first_s": first, "median_s": statistics.median(ts), "peak_rss_mb": mem.delta / 2**20}


def timeit_interleaved(fns, repeats):
    """:func:`time_interleaved` plus each callable's peak RSS increase on one extra call."""
    import jax

    out = time_interleaved(fns, repeats)
    for k, fn in fns.items():
        with PeakRSS() as mem:
            jax.block_until_ready(fn())
        out[k]["peak_rss_mb"] = mem.delta / 2**20
    return out


def bench_case(sampling, L, args, rng):
    import ducc0

    import s2scatter
    from s2scatter.sampling import flm_to_alm

    nside = L // 2 if sampling == "healpix" else None
    kw = dict(sampling=sampling, nside=nside, reality=True)
    flm = random_real_flm(L, rng)
    f = np.asarray(s2scatter.inverse(flm, L, method="ducc", **kw))
    nt = s2scatter.harmonic.get_num_threads()
    rows = []

    def row(direction, impl, res, err=None, **extra):
        r = {"sampling": sampling, "L": L, "nside": nside, "direction": direction, "impl": impl,
             **res, "max_abs_err": err, **extra}
        rows.append(r)
        print(f"  {sampling:8s} L={L:5d} {direction:7s} {impl:12s} median {res['median_s']:.5f}s "
              f"first {res['first_s']:.3f}s  peak+{res['peak_rss_mb']:.0f}MB"
              + (f"  err {err:.1e}" if err is not None else ""), flush=True)

    def err_flm(out):
        return float(np.max(np.abs(np.asarray(out) - flm)))

    fkw = dict(kw, iter=0) if sampling == "healpix" else kw
    # ---- ours (ducc) and raw ducc0, timed interleaved so that their ratio is fair
    fwd = lambda: s2scatter.forward(f, L, method="ducc", **fkw)  # noqa: E731
    inv = lambda: s2scatter.inverse(flm, L, method="ducc", **kw)  # noqa: E731
    alm = np.ascontiguousarray(flm_to_alm(flm, L))[None]
    sht = ducc0.sht.experimental
    if sampling == "healpix":
        geom = ducc0.healpix.Healpix_Base(nside, "RING").sht_info()
        w = 4 * np.pi / f.size
        raw_f = lambda: sht.adjoint_synthesis(map=f[None], spin=0, lmax=L - 1, nthreads=nt, **geom) * w  # noqa: E731
        raw_i = lambda: sht.synthesis(alm=alm, spin=0, lmax=L - 1, nthreads=nt, **geom)  # noqa: E731
    else:
        g = {"mw": "MW", "gl": "GL", "mwss": "CC", "dh": "F1"}[sampling]
        raw_f = lambda: sht.analysis_2d(map=f[None], spin=0, lmax=L - 1, geometry=g, nthreads=nt)  # noqa: E731
        raw_i = lambda: sht.synthesis_2d(alm=alm, spin=0, lmax=L - 1, geometry=g, ntheta=f.shape[0],  # noqa: E731
                                         nphi=f.shape[1], nthreads=nt)
    # raw ducc0 in our coefficient layout: its own (L, 2L-1) <-> alm conversions
    # (alm2flm / flm2alm), so that ours over this is what the JAX wrapping costs
    raw_f_flm = lambda: sht.alm2flm(raw_f(), 0)  # noqa: E731
    if sampling == "healpix":
        raw_i_flm = lambda: sht.synthesis(alm=sht.flm2alm(flm, 0, real=True), spin=0, lmax=L - 1,  # noqa: E731
                                          nthreads=nt, **geom)
    else:
        raw_i_flm = lambda: sht.synthesis_2d(alm=sht.flm2alm(flm, 0, real=True), spin=0, lmax=L - 1,  # noqa: E731
                                             geometry=g, ntheta=f.shape[0], nphi=f.shape[1], nthreads=nt)
    tf = timeit_interleaved({"ours": fwd, "raw": raw_f, "raw_flm": raw_f_flm}, args.repeats)
    ti = timeit_interleaved({"ours": inv, "raw": raw_i, "raw_flm": raw_i_flm}, args.repeats)
    row("forward", "ours-ducc", tf["ours"], err_flm(fwd()) if sampling != "healpix" else None,
        paired_over_raw=paired_ratio(tf["ours"], tf["raw"]),
        paired_over_raw_flm=paired_ratio(tf["ours"], tf["raw_flm"]))
    row("inverse", "ours-ducc", ti["ours"], paired_over_raw=paired_ratio(ti["ours"], ti["raw"]),
        paired_over_raw_flm=paired_ratio(ti["ours"], ti["raw_flm"]))
    row("forward", "raw-ducc0", tf["raw"])
    row("inverse", "raw-ducc0", ti["raw"])
    row("forward", "raw-ducc0-flm", tf["raw_flm"], err_flm(raw_f_flm()) if sampling != "healpix" else None)
    row("inverse", "raw-ducc0-flm", ti["raw_flm"])

    # ---- pyssht / healpy
    if sampling in ("mw", "gl") and L <= args.pyssht_max_L:
        import pyssht

        from s2scatter.sampling import flm_to_1d

        M = sampling.upper()
        flm1d = flm_to_1d(flm, L)
        pf = lambda: pyssht.forward(f, L, Method=M, Reality=True)  # noqa: E731
        pi = lambda: pyssht.inverse(flm1d, L, Method=M, Reality=True)  # noqa: E731
        row("forward", "pyssht", timeit(pf, max(1, args.repeats // 2)))
        row("inverse", "pyssht", timeit(pi, max(1, args.repeats // 2)))
    if sampling == "healpix":
        import healpy

        hf = lambda: healpy.map2alm(f, lmax=L - 1, iter=0, use_weights=False)  # noqa: E731
        hi = lambda: healpy.alm2map(alm[0], nside, lmax=L - 1)  # noqa: E731
        row("forward", "healpy", timeit(hf, args.repeats))
        row("inverse", "healpy", timeit(hi, args.repeats))

    # ---- ours: jax
    if L <= args.jax_max_L:
        from s2scatter.harmonic import _jax as J

        t0 = time.perf_counter()
        # build (and cache) the kernels outside the timed compile
        if s2scatter.harmonic.get_kernel_budget():
            if sampling == "healpix":  # analysis is the adjoint synthesis on the rings themselves
                leg_f = leg_i = J._Leg(L, 0, "healpix", nside, True, False, "float64")
            else:  # analysis on Gauss-Legendre nodes after exact resampling
                leg_f = J._Leg(L, 0, "gl", None, True, True, "float64")
                leg_i = J._Leg(L, 0, sampling, None, True, False, "float64")
            if J._use_kernel(leg_f):
                J._kernel(leg_f)
            if J._use_kernel(leg_i):
                J._kernel(leg_i)
        precompute = time.perf_counter() - t0
        # eager calls: our jax method compiles internally with kernels as arguments
        jf = lambda x: s2scatter.forward(x, L, method="jax", **fkw)  # noqa: E731
        ji = lambda x: s2scatter.inverse(x, L, method="jax", **kw)  # noqa: E731
        if L <= args.s2fft_max_L:
            # ---- with s2fft's jax method, timed in alternation (first calls = compile)
            import s2fft

            skw = dict(sampling=sampling, nside=nside, method="jax", reality=True)
            sf = lambda: s2fft.forward(f, L, **skw, **({"iter": 0} if sampling == "healpix" else {}))  # noqa: E731
            si = lambda: s2fft.inverse(flm, L, **skw)  # noqa: E731
            tf = timeit_interleaved({"ours": lambda: jf(f), "s2fft": sf}, args.repeats)
            ti = timeit_interleaved({"ours": lambda: ji(flm), "s2fft": si}, args.repeats)
            row("forward", "ours-jax", tf["ours"], err_flm(jf(f)), precompute_s=precompute,
                paired_s2fft_over_jax=paired_ratio(tf["s2fft"], tf["ours"]))
            row("inverse", "ours-jax", ti["ours"], precompute_s=precompute,
                paired_s2fft_over_jax=paired_ratio(ti["s2fft"], ti["ours"]))
            row("forward", "s2fft-jax", tf["s2fft"], err_flm(sf()))
            row("inverse", "s2fft-jax", ti["s2fft"])
        else:
            rf = timeit(lambda: jf(f), args.repeats)
            ri = timeit(lambda: ji(flm), args.repeats)
            row("forward", "ours-jax", rf, err_flm(jf(f)) if sampling != "healpix" else None,
                precompute_s=precompute)
            row("inverse", "ours-jax", ri, precompute_s=precompute)
    return rows


def summarise(rows):
    by = {}
    for r in rows:
        by[(r["sampling"], r["L"], r["direction"], r["impl"])] = r
    out = []
    keys = sorted({(r["sampling"], r["L"], r["direction"]) for r in rows})
    hdr = (f"{'sampling':8s} {'L':>5s} {'dir':7s} {'ours-ducc':>10s} {'raw-ducc0':>10s} {'ducc/raw':>8s} "
           f"{'paired':>6s} {'/raw+flm':>8s} "
           f"{'ours-jax':>9s} {'s2fft-jax':>9s} {'s2fft/jax':>9s} {'paired':>6s} {'jax 1st':>8s} {'s2fft 1st':>9s} "
           f"{'pyssht':>8s} {'healpy':>8s}")
    print("\n" + hdr)
    print("-" * len(hdr))
    for k in keys:
        g = lambda impl, fld="median_s": by.get(k + (impl,), {}).get(fld)  # noqa: E731
        od, rd, oj, sj = g("ours-ducc"), g("raw-ducc0"), g("ours-jax"), g("s2fft-jax")
        rec = {
            "sampling": k[0], "L": k[1], "direction": k[2],
            "ducc_over_raw": od / rd if od and rd else None,
            "ducc_over_raw_paired": g("ours-ducc", "paired_over_raw"),
            "ducc_over_raw_flm_paired": g("ours-ducc", "paired_over_raw_flm"),
            "s2fft_over_jax": sj / oj if sj and oj else None,
            "s2fft_over_jax_paired": g("ours-jax", "paired_s2fft_over_jax"),
            "jax_first_s": g("ours-jax", "first_s"), "s2fft_first_s": g("s2fft-jax", "first_s"),
        }
        out.append(rec)
        fmt = lambda x, w=9, p=4: (f"{x:{w}.{p}f}" if x is not None else " " * (w - 1) + "-")  # noqa: E731
        print(f"{k[0]:8s} {k[1]:5d} {k[2]:7s} {fmt(od, 10)} {fmt(rd, 10)} {fmt(rec['ducc_over_raw'], 8, 2)} "
              f"{fmt(rec['ducc_over_raw_paired'], 6, 2)} {fmt(rec['ducc_over_raw_flm_paired'], 8, 2)} "
              f"{fmt(oj)} {fmt(sj)} {fmt(rec['s2fft_over_jax'], 9, 1)} {fmt(rec['s2fft_over_jax_paired'], 6, 1)} {fmt(rec['jax_first_s'], 8, 2)} "
              f"{fmt(rec['s2fft_first_s'], 9, 2)} {fmt(g('pyssht'), 8)} {fmt(g('healpy'), 8)}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048])
    p.add_argument("--samplings", nargs="+", default=["mw", "gl", "healpix"])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--jax-max-L", type=int, default=512, help="largest L for our jax method on CPU")
    p.add_argument("--s2fft-max-L", type=int, default=256, help="largest L for s2fft's jax method")
    p.add_argument("--pyssht-max-L", type=int, default=1024)
    p.add_argument("--quick", action="store_true", help="3 repeats")
    p.add_argument("--out", default="bench_out/bench_transforms.json")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = 3

    import jax

    jax.config.update("jax_enable_x64", True)
    import s2scatter  # noqa: F401

    rng = np.random.default_rng(0)
    rows = []
    for sampling in args.samplings:
        for L in args.L:
            print(f"[{sampling} L={L}]", flush=True)
            rows.extend(bench_case(sampling, L, args, rng))
    summary = summarise(rows)
    meta = {
        "script": "scripts/bench_transforms.py",
        "argv": sys.argv[1:],
        "versions": versions(),
        "machine": machine(devices=[str(d) for d in jax.devices()]),
        "dtype": "float64", "reality": True,
        "rows": rows, "summary": summary,
    }
    write_json_atomic(args.out, meta)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
