#!/usr/bin/env python
"""Benchmark: generalised spherical CNN layers, tensor products against e3nn-jax, the hybrid model.

Sections (each can be skipped):

1. ``layers``: time (first call = compile + run, then the median of the next
   calls) and peak RSS increase of every layer of :mod:`s2scatter.nn` against
   the band-limit L and the number of channels C (``tau = 1``, batch 1,
   float32/complex64), with ``jit``.  A configuration is skipped when the
   previous band-limit predicts more than ``--limit`` seconds for one call
   (growth per doubling of L: 2^5 full product, 2^4 MST, 10 log, 2^3 others),
   more than ``--compile-limit`` for the first call (4x per doubling), or when
   the tensor product's Clebsch-Gordan blocks would exceed ``--max-plan-gb``;
   the JSON says which and why.
2. ``exponents``: least-squares slopes of log(time) against log(L) for the three
   degree-mixing sets (the paper's O(L^5), O(L^4), O(L^3 log L); the exponent of
   our own flop count is printed next to it), and the MST against the full
   product at L = 32 (paired ratio, calls interleaved).
3. ``e3nn``: ours against e3nn-jax's ``tensor_square`` (the same non-redundant
   pairs ``l1 <= l2``, all outputs) and ``tensor_product(x, x)`` (both orders) at
   equal degrees and multiplicity, full channel mixing and channel-wise, calls
   interleaved, on real fields.  Basis: ours is complex (fragments of ``flm``),
   e3nn's real; the two are related by a unitary change of basis per degree, so
   the work is the same bilinear map.  A real field's fragments are
   conjugate-symmetric: ours computes ``m >= 0`` only (``reality=True``); a
   complex multiply-add is still four real ones.  The complex product
   (``reality=False``), our full product with ``method="outer"`` (the path
   before ``"matmul"``) and forward + backward of the full product (the
   gradient of the sum of squared outputs, against ``tensor_square``'s) are
   timed too.
4. ``model``: ``HybridModel(HybridConfig(L=32, num_classes=10))`` forward +
   backward (``nnx.value_and_grad`` of a cross-entropy, ``nnx.jit``) on a batch
   of 32 maps: first call (compilation) and steady time.  Target: first call
   under 30 s on the 2-core development machine.
5. ``aliasing``: equivariance error of the sampling-based activations (S^2 and
   SO(3); relu, gelu, tanh) against oversampling, max over 20 rotations of
   red-spectrum real fields, float64.

Usage::

    python scripts/bench_nn.py                          # everything (~20-40 min on 2 cores)
    python scripts/bench_nn.py --sections layers --L 8 16 --channels 4
    python scripts/bench_nn.py --sections e3nn model --out bench_out/bench_nn.json
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import PeakRSS, machine, paired_ratio, time_interleaved, versions, write_json_atomic  # noqa: E402

SECTIONS = ("layers", "exponents", "e3nn", "model", "aliasing")
LAYERS = ("linear", "tp_full", "tp_mst", "tp_log", "conv_mst", "s2_activation", "norm", "readout")
GROWTH = {"tp_full": 32.0, "tp_mst": 16.0, "tp_log": 10.0, "conv_mst": 16.0}  # per doubling of L; others 8


def random_signal(L, C, batch, seed=0):
    from s2scatter import nn

    rng = np.random.default_rng(seed)
    frags = []
    for l in range(L):
        shape = (batch, C, 1, 2 * l + 1)
        frags.append((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64))
    return nn.Signal(frags)


def real_signal(L, C, batch, seed=0):
    """Fragments of real fields (conjugate-symmetric), as e3nn's real irreps hold."""
    import s2scatter
    from s2scatter import nn

    rng = np.random.default_rng(seed)
    flm = np.stack([s2scatter.sampling.random_flm(L, reality=True, rng=rng) for _ in range(batch * C)])
    return nn.from_flm(flm.reshape(batch, C, L, 2 * L - 1).astype(np.complex64))


def build_layer(name, spec):
    from flax import nnx

    from s2scatter import nn

    rngs = nnx.Rngs(0)
    if name == "linear":
        return nn.Linear(spec, spec.channels, param_dtype="float32", rngs=rngs)
    if name.startswith("tp_"):
        return nn.TensorProduct(spec, L_out=spec.L, degrees=name[3:])
    if name == "conv_mst":
        return nn.ConstrainedConvolution(spec, spec.channels, L_out=spec.L, param_dtype="float32", rngs=rngs)
    if name == "s2_activation":
        return nn.S2Activation(spec, oversampling=2.0)
    if name == "norm":
        return nn.EquivariantNorm(spec, param_dtype="float32")
    if name == "readout":
        return nn.InvariantReadout(spec)
    raise ValueError(name)


def plan_bytes(name, L):
    """Bytes of the Clebsch-Gordan blocks a tensor product at band-limit L would hold (~3x the useful count)."""
    from s2scatter import nn

    if name not in ("tp_full", "tp_mst", "tp_log", "conv_mst"):
        return 0
    deg = {"tp_full": "full", "tp_mst": "mst", "tp_log": "log", "conv_mst": "mst"}[name]
    return 3 * 8 * nn.tensor_product_cost(nn.degree_mixing_set(L, L, deg))


def jitted(layer):
    """A ``jax.jit`` pure function of the layer's state and input (no per-call graph traversal)."""
    import jax
    from flax import nnx

    graph, state = nnx.split(layer)
    f = jax.jit(lambda st, s: nnx.merge(graph, st)(s))
    return lambda s: f(state, s)


def time_calls(fn, repeats, limit):
    import jax

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        first = time.perf_counter() - t0
        ts = []
        for _ in range(repeats if first < limit / 4 else 1):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            ts.append(time.perf_counter() - t0)
    return {"first_s": first, "median_s": statistics.median(ts), "peak_rss_gb": mem.delta / 2**30}


def section_layers(args, out):
    from flax import nnx

    rows = []
    for name in LAYERS:
        for C in args.channels:
            prev = None
            for L in args.L:
                row = {"layer": name, "L": L, "channels": C, "batch": args.batch}
                d = math.log2(L / prev["L"]) if prev else 0
                g = GROWTH.get(name, 8.0) ** d
                if prev is not None and "skipped" in prev:
                    row["skipped"] = prev["skipped"]
                elif prev is not None and prev["median_s"] * g > args.limit:
                    row["skipped"] = f"predicted {prev['median_s'] * g:.0f} s > {args.limit:g} s per call"
                elif prev is not None and prev["first_s"] * 4.0 ** d > args.compile_limit:
                    row["skipped"] = (f"predicted first call (compilation) {prev['first_s'] * 4.0 ** d:.0f} s > "
                                      f"{args.compile_limit:g} s")
                elif plan_bytes(name, L) > args.max_plan_gb * 2**30:
                    row["skipped"] = (f"Clebsch-Gordan blocks ~{plan_bytes(name, L) / 2**30:.1f} GB > "
                                      f"{args.max_plan_gb:g} GB")
                if "skipped" in row:
                    rows.append(row)
                    print(f"{name:14s} L={L:3d} C={C:3d}  skipped: {row['skipped']}", flush=True)
                    prev = row
                    continue
                x = random_signal(L, C, args.batch)
                t0 = time.perf_counter()
                layer = build_layer(name, x.spec)
                row["build_s"] = time.perf_counter() - t0
                fwd = jitted(layer)
                row.update(time_calls(lambda: fwd(x), args.repeats, args.limit))
                if hasattr(layer, "plan"):
                    row["cost_cmac"] = layer.plan.cost
                    row["groups"] = len(layer.plan.groups)
                elif hasattr(layer, "tensor_product"):
                    row["cost_cmac"] = layer.tensor_product.plan.cost
                rows.append(row)
                prev = row
                print(f"{name:14s} L={L:3d} C={C:3d}  median {row['median_s'] * 1e3:10.2f} ms  first "
                      f"{row['first_s']:7.2f} s  build {row['build_s']:6.2f} s  peak +{row['peak_rss_gb']:.2f} GB",
                      flush=True)
    out["layers"] = rows


def fit_exponent(Ls, ts):
    x, y = np.log(np.asarray(Ls, float)), np.log(np.asarray(ts, float))
    return float(np.polyfit(x, y, 1)[0])


def section_exponents(args, out):
    from flax import nnx

    from s2scatter import nn

    res = {}
    rows = out.get("layers", [])
    for name in ("tp_full", "tp_mst", "tp_log"):
        deg = name[3:]
        for C in args.channels:
            pts = [(r["L"], r["median_s"]) for r in rows if r["layer"] == name and r["channels"] == C
                   and "median_s" in r]
            if len(pts) < 2:
                continue
            Ls, ts = zip(*pts)
            costs = [nn.tensor_product_cost(nn.degree_mixing_set(L, L, deg)) for L in Ls]
            fit = {"L": list(Ls), "time_exponent": fit_exponent(Ls, ts), "flop_exponent": fit_exponent(Ls, costs)}
            if len(pts) >= 3:
                fit["time_exponent_upper_half"] = fit_exponent(Ls[-2:], ts[-2:])
            res[f"{name}_C{C}"] = fit
            print(f"{name:8s} C={C:3d} L={list(Ls)}: time ~ L^{fit['time_exponent']:.2f} "
                  f"(last doubling L^{fit.get('time_exponent_upper_half', float('nan')):.2f}); "
                  f"flop count ~ L^{fit['flop_exponent']:.2f}", flush=True)
    # MST against full at L = 32, interleaved
    L, C = 32, args.ratio_channels
    x = random_signal(L, C, args.batch)
    full = jitted(nn.TensorProduct(x.spec, L_out=L, degrees="full"))
    mst = jitted(nn.TensorProduct(x.spec, L_out=L, degrees="mst"))
    log = jitted(nn.TensorProduct(x.spec, L_out=L, degrees="log"))
    t = time_interleaved({"full": lambda: full(x), "mst": lambda: mst(x), "log": lambda: log(x)},
                         args.ratio_repeats)
    res["mst_vs_full_L32"] = {"channels": C, "batch": args.batch, "full_median_s": t["full"]["median_s"],
                              "mst_median_s": t["mst"]["median_s"], "log_median_s": t["log"]["median_s"],
                              "full_over_mst": paired_ratio(t["full"], t["mst"]),
                              "full_over_log": paired_ratio(t["full"], t["log"])}
    r = res["mst_vs_full_L32"]
    print(f"L=32 C={C}: full {r['full_median_s'] * 1e3:.1f} ms, MST {r['mst_median_s'] * 1e3:.1f} ms "
          f"(full/MST {r['full_over_mst']:.2f}x, target >= 5), log {r['log_median_s'] * 1e3:.1f} ms "
          f"(full/log {r['full_over_log']:.2f}x)", flush=True)
    out["exponents"] = res


def section_e3nn(args, out):
    import jax
    import jax.numpy as jnp

    from s2scatter import nn

    try:
        import e3nn_jax as e3nn
    except ImportError:
        print("e3nn-jax is not installed (pip install e3nn-jax): section skipped")
        out["e3nn"] = {"skipped": "e3nn-jax not installed"}
        return
    rows = []
    for L in args.e3nn_L:
        for C in args.e3nn_channels:
            rng = np.random.default_rng(0)
            irreps_full = e3nn.Irreps("+".join(f"{C}x{l}e" for l in range(L)))
            irreps_one = e3nn.Irreps("+".join(f"1x{l}e" for l in range(L)))
            xe_full = e3nn.IrrepsArray(irreps_full, rng.standard_normal((args.batch, irreps_full.dim)).astype(np.float32))
            xe_cw = e3nn.IrrepsArray(irreps_one, rng.standard_normal((args.batch, C, irreps_one.dim)).astype(np.float32))
            x = real_signal(L, C, args.batch)
            mk = dict(L_out=2 * L - 1, degrees="full")
            tp_full = nn.TensorProduct(x.spec, channels="full", reality=True, **mk)
            f_full = jitted(tp_full)
            f_outer = jitted(nn.TensorProduct(x.spec, channels="full", reality=True, method="outer", **mk))
            f_full_c = jitted(nn.TensorProduct(x.spec, channels="full", **mk))
            ours_cw = nn.TensorProduct(x.spec, channels="channelwise", reality=True, **mk)
            f_cw = jitted(ours_cw)
            sq = jax.jit(lambda a: e3nn.tensor_square(a).array)
            tp = jax.jit(lambda a: e3nn.tensor_product(a, a).array)
            # forward + backward: the gradient of the sum of squared outputs with respect to the input
            g_full = jax.jit(jax.grad(lambda s: sum(jnp.sum(jnp.abs(f) ** 2)
                                                    for f in nn.tensor_product(s, tp_full.plan).fragments)))
            g_sq = jax.jit(jax.grad(lambda a: jnp.sum(e3nn.tensor_square(e3nn.IrrepsArray(irreps_full, a)).array ** 2)))
            fns = {"ours_full": lambda: f_full(x), "ours_full_outer": lambda: f_outer(x),
                   "ours_full_complex": lambda: f_full_c(x),
                   "e3nn_square_full": lambda: sq(xe_full), "e3nn_product_full": lambda: tp(xe_full),
                   "ours_channelwise": lambda: f_cw(x), "e3nn_square_channelwise": lambda: sq(xe_cw),
                   "ours_full_grad": lambda: g_full(x), "e3nn_square_full_grad": lambda: g_sq(xe_full.array)}
            t = time_interleaved(fns, args.e3nn_repeats)
            row = {"L": L, "channels": C, "batch": args.batch, "L_out": 2 * L - 1,
                   **{k + "_median_s": v["median_s"] for k, v in t.items()},
                   **{k + "_first_s": v["first_s"] for k, v in t.items()},
                   "ours_over_e3nn_square_full": paired_ratio(t["ours_full"], t["e3nn_square_full"]),
                   "ours_over_e3nn_product_full": paired_ratio(t["ours_full"], t["e3nn_product_full"]),
                   "method_full": tp_full.plan.method,
                   "ours_over_ours_outer_full": paired_ratio(t["ours_full"], t["ours_full_outer"]),
                   "ours_outer_over_e3nn_square_full": paired_ratio(t["ours_full_outer"], t["e3nn_square_full"]),
                   "ours_over_e3nn_square_full_grad": paired_ratio(t["ours_full_grad"], t["e3nn_square_full_grad"]),
                   "ours_complex_over_e3nn_square_full": paired_ratio(t["ours_full_complex"],
                                                                      t["e3nn_square_full"]),
                   "ours_over_e3nn_square_channelwise": paired_ratio(t["ours_channelwise"],
                                                                     t["e3nn_square_channelwise"])}
            rows.append(row)
            print(f"L={L:3d} C={C:3d}  full: ours {row['ours_full_median_s'] * 1e3:9.2f} ms, e3nn square "
                  f"{row['e3nn_square_full_median_s'] * 1e3:9.2f} ms (ours/e3nn {row['ours_over_e3nn_square_full']:.2f}),"
                  f" e3nn product {row['e3nn_product_full_median_s'] * 1e3:9.2f} ms "
                  f"({row['ours_over_e3nn_product_full']:.2f}), ours {row['method_full']}/outer "
                  f"{row['ours_over_ours_outer_full']:.2f} (outer/square {row['ours_outer_over_e3nn_square_full']:.2f}), "
                  f"fwd+bwd ours {row['ours_full_grad_median_s'] * 1e3:.2f} ms, square "
                  f"{row['e3nn_square_full_grad_median_s'] * 1e3:.2f} ms ({row['ours_over_e3nn_square_full_grad']:.2f}), "
                  f"ours without reality "
                  f"{row['ours_full_complex_median_s'] * 1e3:9.2f} ms;  channel-wise: ours "
                  f"{row['ours_channelwise_median_s'] * 1e3:9.2f} ms, e3nn "
                  f"{row['e3nn_square_channelwise_median_s'] * 1e3:9.2f} ms "
                  f"({row['ours_over_e3nn_square_channelwise']:.2f});  first calls ours "
                  f"{row['ours_full_first_s']:.1f} s, e3nn {row['e3nn_square_full_first_s']:.1f} s", flush=True)
    out["e3nn"] = rows


def section_model(args, out):
    import jax
    import jax.numpy as jnp
    from flax import nnx

    import s2scatter
    from s2scatter import nn

    L, B = 32, args.model_batch
    rng = np.random.default_rng(0)
    flm = np.stack([s2scatter.sampling.random_flm(L, reality=True, slope=1.0, rng=rng) for _ in range(B)])
    f = np.asarray(s2scatter.inverse(flm, L, reality=True)).astype(np.float32)
    labels = jnp.asarray(rng.integers(0, 10, B))
    t0 = time.perf_counter()
    model = nn.HybridModel(nn.HybridConfig(L=L, num_classes=10), rngs=nnx.Rngs(0))
    build = time.perf_counter() - t0

    @nnx.jit
    def train_step(m, x, y):
        def loss_fn(m):
            logits = m(x)
            return jnp.mean(-jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])

        return nnx.value_and_grad(loss_fn)(m)

    @nnx.jit
    def forward(m, x):
        return m(x)

    res = {"L": L, "batch": B, "params": model.num_params, "build_s": build, "repr": repr(model)}
    t = time_calls(lambda: train_step(model, f, labels), args.repeats, 600)
    res.update({"fwd_bwd_first_s": t["first_s"], "fwd_bwd_median_s": t["median_s"],
                "fwd_bwd_peak_rss_gb": t["peak_rss_gb"]})
    t = time_calls(lambda: forward(model, f), args.repeats, 600)
    res.update({"fwd_first_s": t["first_s"], "fwd_median_s": t["median_s"]})
    scat = model.scattering
    t = time_calls(lambda: scat.harmonic(f), args.repeats, 600)
    res.update({"front_end_median_s": t["median_s"]})
    out["model"] = res
    print(f"HybridModel L=32 batch {B}: {res['params']:,} params; forward+backward first call "
          f"{res['fwd_bwd_first_s']:.1f} s (target < 30 s), then {res['fwd_bwd_median_s'] * 1e3:.0f} ms; forward "
          f"{res['fwd_median_s'] * 1e3:.0f} ms (scattering front end {res['front_end_median_s'] * 1e3:.0f} ms); "
          f"peak +{res['fwd_bwd_peak_rss_gb']:.2f} GB", flush=True)


def section_aliasing(args, out):
    import jax

    import s2scatter
    from s2scatter import nn

    rows = []
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        L, C = 16, 2
        flm = np.stack([s2scatter.sampling.random_flm(L, reality=True, slope=1.0, rng=rng) for _ in range(C)])
        x = nn.from_flm(flm[None])
        Ls, N = 8, 3
        flmn = np.zeros((1, 1, 2 * N - 1, Ls, 2 * Ls - 1), complex)
        for n in range(-(N - 1), N):
            flmn[0, 0, N - 1 + n] = s2scatter.sampling.random_flm(Ls, slope=1.0, rng=rng)
            flmn[0, 0, N - 1 + n, : abs(n)] = 0
        xs = nn.from_flmn(flmn, N)
        for fn in ("relu", "gelu", "tanh"):
            for os_ in (1.0, 1.5, 2.0, 3.0, 4.0):
                for kind, layer, inp in (("s2", nn.S2Activation(x.spec, fn=fn, oversampling=os_), x),
                                         ("so3", nn.SO3Activation(xs.spec, N, fn=fn, oversampling=os_), xs)):
                    errs = s2scatter.assert_equivariant(layer, inp, rotations=20, rtol=np.inf)
                    t0 = time.perf_counter()
                    jax.block_until_ready(layer(inp)[0])
                    rows.append({"domain": kind, "fn": fn, "oversampling": os_, "max_rel_error": float(errs.max()),
                                 "median_rel_error": float(np.median(errs)), "call_s": time.perf_counter() - t0,
                                 "L": inp.L, "N": N if kind == "so3" else None})
        print("sampling activation: max relative equivariance error over 20 rotations (S^2: L=16; SO(3): L=8, N=3)")
        print(f"{'fn':6s} {'domain':6s} " + " ".join(f"os={o:<7g}" for o in (1.0, 1.5, 2.0, 3.0, 4.0)))
        for fn in ("relu", "gelu", "tanh"):
            for kind in ("s2", "so3"):
                vals = [r["max_rel_error"] for r in rows if r["fn"] == fn and r["domain"] == kind]
                print(f"{fn:6s} {kind:6s} " + " ".join(f"{v:<10.2e}" for v in vals))
    out["aliasing"] = rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    p.add_argument("--L", type=int, nargs="+", default=[8, 16, 32, 64])
    p.add_argument("--channels", type=int, nargs="+", default=[4, 16, 64])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--limit", type=float, default=60.0, help="seconds per call beyond which a size is skipped")
    p.add_argument("--compile-limit", type=float, default=300.0,
                   help="seconds for a first call (compilation) beyond which a size is skipped")
    p.add_argument("--max-plan-gb", type=float, default=4.0)
    p.add_argument("--ratio-channels", type=int, default=16)
    p.add_argument("--ratio-repeats", type=int, default=7)
    p.add_argument("--e3nn-L", type=int, nargs="+", default=[4, 6, 8, 10])
    p.add_argument("--e3nn-channels", type=int, nargs="+", default=[4, 16])
    p.add_argument("--e3nn-repeats", type=int, default=7)
    p.add_argument("--model-batch", type=int, default=32)
    p.add_argument("--out", default="bench_out/bench_nn.json")
    args = p.parse_args(argv)

    warnings.filterwarnings("ignore", message="JAX runs in 32-bit mode")
    import jax

    out = {"script": "scripts/bench_nn.py", "argv": sys.argv[1:] if argv is None else list(argv),
           "versions": versions(("s2scatter", "jax", "jaxlib", "flax", "optax", "e3nn-jax", "ducc0", "numpy")),
           "machine": machine(x64=bool(jax.config.jax_enable_x64))}
    t0 = time.perf_counter()
    for s in SECTIONS:
        if s in args.sections:
            print(f"--- {s}", flush=True)
            globals()[f"section_{s}"](args, out)
            write_json_atomic(args.out, out)  # partial results survive an interrupted run
    out["total_s"] = time.perf_counter() - t0
    write_json_atomic(args.out, out)
    print(f"wrote {args.out} ({out['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
