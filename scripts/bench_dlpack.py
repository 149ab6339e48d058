"""Paired A/B of the DLPack hand-over of eager ``"ducc"`` results (``harmonic/_primitive.py``).

jaxlib's converter, called directly (the one ``jax._src`` import of the package), against
the public ``jax.dlpack.from_dlpack``: eager ``s2scatter.forward`` / ``inverse`` (float64,
real fields, ``method="ducc"``), both ways in one process, alternating order each of 15
rounds; reports the medians and the median of the per-round ratios public/private.
Figures: ``docs/performance.md`` (DLPack hand-over).

Usage: ``python scripts/bench_dlpack.py OUT.json``
"""
import sys, time, json, numpy as np, jax
jax.config.update("jax_enable_x64", True)
import s2scatter
from s2scatter.harmonic import _primitive
fast = _primitive._dlpack_fast_path
def pub(): return None
rng = np.random.default_rng(0)
rows = []
for sampling in ("mw", "gl", "healpix"):
    for L in (16, 32, 64, 128, 256):
        kw = dict(sampling=sampling, nside=L // 2 if sampling == "healpix" else None, reality=True, method="ducc")
        flm = s2scatter.forward(np.asarray(s2scatter.inverse(
            np.asarray(s2scatter.forward(rng.standard_normal(s2scatter.sampling.f_shape(L, sampling=sampling, nside=kw["nside"])), L, **kw)), L, **kw)), L, **kw)
        f = np.asarray(s2scatter.inverse(np.asarray(flm), L, **kw)); flm = np.asarray(flm)
        for name, fn, x in (("forward", s2scatter.forward, f), ("inverse", s2scatter.inverse, flm)):
            n = max(3, int(0.05 / max(1e-5, 1e-9 * L**3)))  # calls per sample
            n = min(n, 200)
            ratios, ta, tb = [], [], []
            for r in range(15):
                res = {}
                for mode in (("priv", "pub") if r % 2 else ("pub", "priv")):
                    _primitive._dlpack_fast_path = fast if mode == "priv" else pub
                    fn(x, L, **kw).block_until_ready()
                    t0 = time.perf_counter()
                    for _ in range(n):
                        fn(x, L, **kw).block_until_ready()
                    res[mode] = (time.perf_counter() - t0) / n
                ratios.append(res["pub"] / res["priv"]); ta.append(res["priv"]); tb.append(res["pub"])
            row = dict(sampling=sampling, L=L, op=name, private_s=float(np.median(ta)), public_s=float(np.median(tb)),
                       paired_public_over_private=float(np.median(ratios)))
            rows.append(row)
            print(f"{sampling:8} L={L:4} {name:8} private {row['private_s']*1e3:8.3f} ms  public {row['public_s']*1e3:8.3f} ms  paired public/private {row['paired_public_over_private']:.3f}", flush=True)
_primitive._dlpack_fast_path = fast
json.dump(rows, open(sys.argv[1], "w"), indent=1)
