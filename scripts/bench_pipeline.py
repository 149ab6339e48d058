#!/usr/bin/env python
"""Benchmark: batch feature extraction, serial against a local Dask cluster.

Generates ``--n-maps`` random band-limited maps with a red spectrum
(``C_l ~ (1+l)^-2``) at band-limit ``--L`` on MW sampling, saved as ``.npy``
files in a temporary directory, and runs :func:`s2scatter.batch.run_batch` on
them (read + resample, scattering ``max_order=2`` maps, atomic Zarr writes)
in three modes:

* ``serial 1 thread``: in this process, ducc0 and XLA on one thread;
* ``serial 2 threads``: in this process, ducc0 on all cores (XLA one thread);
* ``dask 2x1``: a ``distributed.LocalCluster`` of ``--workers`` processes with
  one thread each, ducc0 and XLA pinned to one thread per worker
  (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``,
  ``FeatureJob(num_threads=1)``); this process writes.  Dask's default
  ``MALLOC_TRIM_THRESHOLD_=65536`` for workers is unset (``--dask-malloc-trim``
  keeps it): it made each map ~1.6x slower.

Warm-up (filters + JIT compilation; for Dask also cluster start) is timed
separately and excluded from maps per minute.  The Dask store is checked to be
bit-for-bit identical to the serial one.  Prints a table and writes JSON with
versions and the machine.

Usage::

    python scripts/bench_pipeline.py                       # 100 maps at L = 256
    python scripts/bench_pipeline.py --n-maps 8 --L 64     # quick check
"""

from __future__ import annotations

import os

# One XLA thread in this process and in the workers: set before JAX is imported.
_XLA_1THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _XLA_1THREAD).strip()

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import machine, versions, write_json_atomic  # noqa: E402


def make_inputs(directory, n, L, seed=0):
    """``n`` real red-spectrum maps on MW sampling at band-limit ``L`` as .npy files."""
    import s2scatter

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        flm = s2scatter.sampling.random_flm(L, reality=True, slope=1.0, rng=rng)
        f = np.asarray(s2scatter.inverse(flm, L, reality=True, method="ducc"))
        path = os.path.join(directory, f"map{i:04d}.npy")
        np.save(path, f)
        paths.append(path)
    return paths


def _arrays(out):
    import zarr

    root = zarr.open_group(out, mode="r")
    return {name: {k: a[...] for k, a in g.arrays()} for name, g in root.groups()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-maps", type=int, default=100)
    p.add_argument("--L", type=int, default=256)
    p.add_argument("--J-min", type=int, default=2)
    p.add_argument("--output", choices=("maps", "invariants"), default="maps")
    p.add_argument("--workers", type=int, default=2, help="Dask worker processes (1 thread each)")
    p.add_argument("--dask-malloc-trim", action="store_true",
                   help="keep Dask's MALLOC_TRIM_THRESHOLD_=65536 in the workers (default: unset)")
    p.add_argument("--out", default="bench_out/bench_pipeline.json")
    args = p.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import dask
    from distributed import Client, LocalCluster

    import s2scatter
    from s2scatter.batch import FeatureJob, ReadOptions, compute_features, run_batch

    work = tempfile.mkdtemp(prefix="bench_pipeline_")
    rows = []
    try:
        t0 = time.perf_counter()
        os.makedirs(os.path.join(work, "maps"))
        paths = make_inputs(os.path.join(work, "maps"), args.n_maps, args.L)
        gen_s = time.perf_counter() - t0
        size_mb = sum(os.path.getsize(q) for q in paths) / 1e6
        print(f"{args.n_maps} maps at L = {args.L} (MW {args.L} x {2 * args.L - 1}, {size_mb:.0f} MB of .npy) "
              f"generated in {gen_s:.1f} s", flush=True)
        cfg = s2scatter.ScatteringConfig(L=args.L, J_min=args.J_min, max_order=2, output=args.output)
        read = ReadOptions(input_sampling="mw")
        n_paths = len(s2scatter.scattering.scattering_paths(cfg))

        def record(mode, procs, threads, warm_s, report):
            assert not report.failed, report.failed
            rate = len(report.done) / report.seconds * 60
            rows.append({"mode": mode, "processes": procs, "threads_per_process": threads,
                         "warmup_s": warm_s, "batch_s": report.seconds, "maps": len(report.done),
                         "maps_per_min": rate,
                         "median_compute_s": float(np.median(list(report.compute_seconds.values())))})
            print(f"  {mode:18s} warm-up {warm_s:6.2f} s   batch {report.seconds:7.2f} s   "
                  f"{rate:7.1f} maps/min", flush=True)

        for threads in (1, 0):
            job = FeatureJob(cfg, read=read, num_threads=threads)
            t0 = time.perf_counter()
            compute_features(paths[0], job)  # filters + compilation, excluded
            warm = time.perf_counter() - t0
            store = os.path.join(work, f"serial{threads}.zarr")
            report = run_batch(paths, store, job, progress=False)
            nt = s2scatter.harmonic.get_num_threads()
            record(f"serial {nt} thread{'s' if nt > 1 else ''}", 1, nt, warm, report)

        job = FeatureJob(cfg, read=read, num_threads=1)
        t0 = time.perf_counter()
        env = {"XLA_FLAGS": _XLA_1THREAD, "JAX_ENABLE_X64": "1", "OMP_NUM_THREADS": "1"}
        if not args.dask_malloc_trim:
            # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which makes glibc
            # mmap every large temporary: the scattering ran ~1.6x slower per map (measured).
            dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, env=env) as cluster, Client(cluster) as client:
            client.run(lambda: compute_features(paths[0], job) and None)  # warm every worker
            warm = time.perf_counter() - t0
            store = os.path.join(work, "dask.zarr")
            report = run_batch(paths, store, job, scheduler=client, progress=False)
            record(f"dask {args.workers}x1", args.workers, 1, warm, report)

        a, b = _arrays(os.path.join(work, "serial1.zarr")), _arrays(os.path.join(work, "dask.zarr"))
        identical = a.keys() == b.keys() and all(
            np.array_equal(a[g][k], b[g][k]) for g in a for k in a[g])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = rows[0]["maps_per_min"]
    print()
    print(f"L = {args.L}, {args.n_maps} maps, output = {args.output}, {n_paths} paths, J_min = {args.J_min}")
    print(f"{'mode':18s} {'warm-up s':>10s} {'batch s':>9s} {'maps/min':>9s} {'vs serial 1 thr':>16s}")
    for r in rows:
        print(f"{r['mode']:18s} {r['warmup_s']:10.2f} {r['batch_s']:9.2f} {r['maps_per_min']:9.1f} "
              f"{r['maps_per_min'] / base:15.2f}x")
    print(f"dask store identical to serial (bit for bit): {identical}")

    meta = {"script": "scripts/bench_pipeline.py", "argv": sys.argv[1:] if argv is None else list(argv),
            "L": args.L, "n_maps": args.n_maps, "output": args.output, "J_min": args.J_min,
            "n_paths": n_paths, "generate_s": gen_s, "identical": identical,
            "dask_malloc_trim_threshold": "65536 (Dask default)" if args.dask_malloc_trim else "unset",
            "versions": versions(("s2scatter", "jax", "jaxlib", "ducc0", "numpy", "healpy", "zarr", "dask",
                                  "distributed")),
            "machine": machine(xla_flags=_XLA_1THREAD),
            "rows": rows}
    write_json_atomic(args.out, meta)
    print(f"wrote {args.out}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
