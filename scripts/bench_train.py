#!/usr/bin/env python
"""Benchmark: training hybrid spherical CNNs end to end (issue 13).

Sections (``--only`` picks some; every finished item is stored in the JSON at
once, and a rerun skips the items already there, so an interrupted run keeps
its results and continues: ``--force`` recomputes):

1. ``cli``: ``s2scatter train`` with default options on ``--n-train`` (10,000)
   spherical Fashion-MNIST maps at L = 32 (NR), test on ``--n-test`` NR maps,
   timed as a subprocess from a cold feature cache (features included).  This
   run is also the hybrid model's NR row of section 2.
2. ``fmnist``: spherical Fashion-MNIST at L = 32, a random subset (seed 0) of
   ``--n-train`` / ``--n-test`` maps of the standard splits: NR/NR, R/R and NR/R
   accuracy (R: one uniform random rotation per map), trainable parameters and
   wall time (training incl. features, excluding evaluation) of
   * ``hybrid``: :class:`s2scatter.training.TrainConfig` defaults (scattering
     front end, generalised layers (16, 32, 32) at band-limits (8, 8, 4));
   * ``generalised``: the same generalised layers, band-limits and head on the
     map's own coefficients, without scattering (``scattering=False``,
     ``band_limits=(8, 8, 4)``: about the same parameter count and step cost);
   * ``planar``: a Flax CNN on the MW grid as an image (three 3x3 conv + 2x2
     max-pool layers, dense 64, ~72k parameters), the same optimiser, schedule,
     epochs and batch size.
3. ``gng``: Gaussian against non-Gaussian fields with identical power spectra
   at L = ``--gng-L`` (256), for each level of ``--gng-level`` (0.01, 0.05,
   0.1; the mean map skewness of each class is recorded): the hybrid model
   (defaults), a power-spectrum baseline (logistic regression on log C_l,
   l >= 1; at chance by construction), and the generalised model without
   scattering (it reads only l < 16 of each map), with wall times.  Scattering
   coefficients of order >= 1 are moduli, hence unchanged under f -> -f: they
   cannot see the skewness the quadratic term adds (odd in f), only its even
   cumulants, which grow as level^2; so the level at which the hybrid separates
   the classes is much higher than the one at which the map skewness alone
   would.

Usage::

    python scripts/fetch_fashion_mnist.py
    nohup python scripts/bench_train.py > bench_out/bench_train.log 2>&1 &   # everything
    python scripts/bench_train.py --only gng --gng-L 256 512
    python scripts/bench_train.py --table            # print the table of the stored results

Writes ``--out`` (``bench_out/bench_train.json``) with machine, package
versions and every figure; data, runs and caches go to ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import machine, versions, write_json_atomic  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("cli", "fmnist", "gng")
PACKAGES = ("s2scatter", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "ducc0", "numpy", "scikit-learn",
            "zarr")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Results:
    """The JSON record: ``results[key]`` per finished item, written atomically after each."""

    def __init__(self, path, args):
        self.path = path
        self.data = {"results": {}}
        if os.path.isfile(path):
            with open(path) as fh:
                self.data = json.load(fh)
        self.data.update(machine=machine(), versions=versions(PACKAGES),
                         settings={k: v for k, v in vars(args).items() if k not in ("only", "force", "table")})
        self.force = args.force

    def has(self, key):
        return not self.force and key in self.data["results"]

    def get(self, key):
        return self.data["results"].get(key)

    def put(self, key, value):
        self.data["results"][key] = value
        self.data["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
        write_json_atomic(self.path, self.data)
        log(f"{key}: {json.dumps(value)}")


# --------------------------------------------------------------------------- Fashion-MNIST data


def fmnist_data(args):
    """Paths of the four .npz sets (train/test x NR/R), made once in --work."""
    from s2scatter.datasets import load_fashion_mnist, project_images, save_npz

    paths = {(split, regime): os.path.join(args.work, f"fmnist_L{args.L}_{split}{n}_{regime}.npz")
             for split, n in (("train", args.n_train), ("test", args.n_test)) for regime in ("NR", "R")}
    if all(os.path.isfile(p) for p in paths.values()):
        return paths
    rng = np.random.default_rng(0)
    for split, n, total, seed in (("train", args.n_train, 60000, 1), ("test", args.n_test, 10000, 2)):
        images, labels = load_fashion_mnist(split=split)
        idx = np.sort(rng.choice(total, n, replace=False)) if n < total else np.arange(total)
        for regime in ("NR", "R"):
            if os.path.isfile(paths[split, regime]):
                continue
            t = time.perf_counter()
            maps = project_images(images[idx], args.L, rotation=regime, seed=seed)
            save_npz(paths[split, regime], maps, labels[idx], L=args.L)
            log(f"projected {split} {regime}: {n} maps in {time.perf_counter() - t:.1f} s")
    return paths


# --------------------------------------------------------------------------- spherical models


def run_cli_defaults(res, args, paths):
    key = "cli_defaults"
    if res.has(key):
        return
    run = os.path.join(args.work, "runs", "hybrid_NR")
    cache = os.path.join(args.work, "cache_cli")
    resumed = os.path.isfile(os.path.join(run, "run.json"))
    if not resumed:
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)  # cold cache: the features are part of the figure
    cmd = [sys.executable, "-m", "s2scatter", "train", "--train", paths["train", "NR"], "--test",
           paths["test", "NR"], "-o", run, "--cache-dir", cache] + (["--resume"] if resumed else [])
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log("running: " + " ".join(cmd))
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - t
    with open(os.path.join(run, "metrics.json")) as fh:
        m = json.load(fh)
    res.put(key, {"command": " ".join(["s2scatter", *cmd[3:]]), "n_train": args.n_train, "n_test": args.n_test,
                  "L": args.L, "wall_seconds": wall, "feature_seconds": m["feature_seconds"],
                  "test_accuracy": m["test_accuracy"], "epochs": m["epochs_done"], "num_params": m["num_params"],
                  "history": m["epochs"],
                  "resumed": resumed, "target_seconds": 900})


def _spherical(res, args, paths, model, regime):
    """Train ``model`` ("hybrid" / "generalised") on ``regime`` maps; test on NR and R."""
    from s2scatter.training import TrainConfig, evaluate, train

    key = f"fmnist_{model}_{regime}"
    if res.has(key):
        return
    run = os.path.join(args.work, "runs", f"{model}_{regime}")
    if model == "hybrid" and regime == "NR":  # the `s2scatter train` defaults run of section 1
        cli = res.get("cli_defaults")
        if cli is None:
            run_cli_defaults(res, args, paths)
            cli = res.get("cli_defaults")
        wall, params = cli["wall_seconds"], cli["num_params"]
    else:
        cfg = TrainConfig(cache_dir=os.path.join(args.work, "cache"),
                          **({} if model == "hybrid" else {"scattering": False, "band_limits": (8, 8, 4)}))
        resume = os.path.isfile(os.path.join(run, "run.json"))
        if not resume:
            shutil.rmtree(run, ignore_errors=True)
        t = time.perf_counter()
        r = train(cfg, train=paths["train", regime], test=paths["test", regime], output=run, resume=resume,
                  progress=False, log=log)
        wall, params = time.perf_counter() - t, r.num_params
    acc = {}
    for test_regime in ("NR", "R"):
        acc[test_regime] = evaluate(run, paths["test", test_regime]).accuracy
    res.put(key, {"model": model, "train": regime, "num_params": params, "wall_seconds": wall,
                  "accuracy": acc})


# --------------------------------------------------------------------------- planar baseline


def _planar_model(shape, num_classes, seed):
    from flax import nnx

    class PlanarCNN(nnx.Module):
        """Three 3x3 convolutions (16, 32, 32 channels) with ReLU and 2x2 max-pooling, dense 64, logits."""

        def __init__(self, rngs):
            H, W = shape
            self.convs = nnx.List([nnx.Conv(a, b, (3, 3), rngs=rngs) for a, b in ((1, 16), (16, 32), (32, 32))])
            self.dense = nnx.Linear((H // 8) * (W // 8) * 32, 64, rngs=rngs)
            self.out = nnx.Linear(64, num_classes, rngs=rngs)

        def __call__(self, x):
            import flax.linen as nn
            import jax

            x = x[..., None]
            for conv in self.convs:
                x = nn.max_pool(jax.nn.relu(conv(x)), (2, 2), strides=(2, 2))
            x = x.reshape(x.shape[0], -1)
            return self.out(jax.nn.gelu(self.dense(x)))

    return PlanarCNN(nnx.Rngs(seed))


def _planar(res, args, paths, regime):
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from s2scatter.datasets import load_npz
    from s2scatter.training import TrainConfig, make_optimizer

    key = f"fmnist_planar_{regime}"
    if res.has(key):
        return
    t0 = time.perf_counter()
    cfg = TrainConfig()
    tr = load_npz(paths["train", regime])
    x, y = tr.maps.astype(np.float32), tr.labels.astype(np.int32)
    model = _planar_model(x.shape[1:], 10, cfg.seed)
    graph, params = nnx.split(model, nnx.Param)
    nparams = int(sum(np.size(v) for v in jax.tree_util.tree_leaves(params)))
    steps = len(x) // cfg.batch_size
    tx, schedule = make_optimizer(cfg, steps)
    opt = tx.init(params)

    def loss_fn(p, xb, yb):
        logits = nnx.merge(graph, p)(xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def step(p, o, xb, yb, lr):
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        d, o = tx.update(g, o, p)
        return optax.apply_updates(p, jax.tree_util.tree_map(lambda u: -lr * u, d)), o, loss

    @jax.jit
    def predict(p, xb):
        return jnp.argmax(nnx.merge(graph, p)(xb), axis=-1)

    for epoch in range(1, cfg.epochs + 1):
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(x))
        lrs = np.asarray(schedule(np.arange((epoch - 1) * steps, epoch * steps)), np.float32)
        for s in range(steps):
            idx = np.sort(order[s * cfg.batch_size:(s + 1) * cfg.batch_size])
            params, opt, loss = step(params, opt, x[idx], y[idx], lrs[s])
        log(f"planar {regime} epoch {epoch}: loss {float(loss):.4f}")
    wall = time.perf_counter() - t0
    acc = {}
    for test_regime in ("NR", "R"):
        te = load_npz(paths["test", test_regime])
        pred = np.concatenate([np.asarray(predict(params, te.maps[i:i + 500].astype(np.float32)))
                               for i in range(0, len(te.labels), 500)])
        acc[test_regime] = float(np.mean(pred == te.labels))
    res.put(key, {"model": "planar", "train": regime, "num_params": nparams, "wall_seconds": wall,
                  "accuracy": acc})


# --------------------------------------------------------------------------- Gaussian / non-Gaussian


def run_gng(res, args, L, level):
    from s2scatter.datasets import gaussian_vs_nongaussian, load_npz, power_spectrum, save_npz
    from s2scatter.training import TrainConfig, train

    paths = {s: os.path.join(args.work, f"gng_L{L}_level{level}_{s}{n}.npz")
             for s, n in (("train", args.gng_n_train), ("test", args.gng_n_test))}
    gen_seconds = {}
    for (split, n), seed in zip((("train", args.gng_n_train), ("test", args.gng_n_test)), (10, 11)):
        if not os.path.isfile(paths[split]):
            t = time.perf_counter()
            maps, labels = gaussian_vs_nongaussian(n, L, level=level, seed=seed)
            save_npz(paths[split], maps, labels, L=L)
            gen_seconds[split] = time.perf_counter() - t
            log(f"gng L={L} {split}: {n} maps in {gen_seconds[split]:.1f} s")
    base = {"L": L, "level": level, "n_train": args.gng_n_train, "n_test": args.gng_n_test}

    tag = f"gng_L{L}_level{level:g}"
    key = f"{tag}_power_spectrum"
    if not res.has(key):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        t = time.perf_counter()
        tr, te = load_npz(paths["train"]), load_npz(paths["test"])
        feats = [np.log(power_spectrum(d.maps, L)[:, 1:]) for d in (tr, te)]
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(feats[0], tr.labels)
        acc = float(clf.score(feats[1], te.labels))
        # skewness of the maps, per class: the size of the non-Gaussianity
        skew = {}
        for c in (0, 1):
            m = te.maps[te.labels == c].reshape((te.labels == c).sum(), -1).astype(np.float64)
            m = m - m.mean(axis=1, keepdims=True)
            skew[str(c)] = float(np.mean((m ** 3).mean(axis=1) / (m ** 2).mean(axis=1) ** 1.5))
        res.put(key, {**base, "model": "power spectrum + logistic regression", "accuracy": acc,
                      "wall_seconds": time.perf_counter() - t, "mean_skewness": skew,
                      "generate_seconds": gen_seconds})
    for model in ("hybrid", "generalised"):
        key = f"{tag}_{model}"
        if res.has(key):
            continue
        run = os.path.join(args.work, "runs", f"{tag}_{model}")
        shutil.rmtree(run, ignore_errors=True)
        cfg = TrainConfig(cache_dir=os.path.join(args.work, "cache"),
                          **({} if model == "hybrid" else {"scattering": False, "band_limits": (8, 8, 4)}))
        t = time.perf_counter()
        try:
            r = train(cfg, train=paths["train"], test=paths["test"], output=run, progress=False, log=log)
        except MemoryError as exc:
            res.put(key, {**base, "model": model, "error": f"MemoryError: {exc}",
                          "wall_seconds": time.perf_counter() - t})
            continue
        res.put(key, {**base, "model": model, "accuracy": r.test_accuracy, "num_params": r.num_params,
                      "wall_seconds": time.perf_counter() - t, "feature_seconds": r.feature_seconds,
                      "note": None if model == "hybrid" else
                      "without a front end the model reads only l < min(L, 16) of each map "
                      "(HybridConfig.input_band_limit), so the small scales of an L = %d map never reach it" % L})


# --------------------------------------------------------------------------- table


def table(data):
    r = data["results"]
    lines = []
    cli = r.get("cli_defaults")
    if cli:
        epochs = cli["epochs"] if isinstance(cli["epochs"], int) else len(cli["epochs"])
        lines.append(f"`{cli['command']}`: {cli['wall_seconds'] / 60:.1f} min wall "
                     f"(features {cli['feature_seconds']:.0f} s), test accuracy {100 * cli['test_accuracy']:.2f}% "
                     f"({cli['n_train']} maps, L = {cli['L']}, {epochs} epochs; target < 15 min)")
    lines.append("")
    lines.append("| spherical Fashion-MNIST, L = 32 | params | NR/NR | R/R | NR/R | wall NR train | wall R train |")
    lines.append("|---|---|---|---|---|---|---|")
    for model in ("hybrid", "generalised", "planar"):
        nr, rr = r.get(f"fmnist_{model}_NR"), r.get(f"fmnist_{model}_R")
        if not (nr or rr):
            continue

        def pct(x):
            return f"{100 * x:.2f}" if x is not None else "-"

        params = (nr or rr)["num_params"]
        lines.append(f"| {model} | {params:,} | {pct(nr and nr['accuracy']['NR'])} | "
                     f"{pct(rr and rr['accuracy']['R'])} | {pct(nr and nr['accuracy']['R'])} | "
                     f"{(nr['wall_seconds'] / 60 if nr else float('nan')):.1f} min | "
                     f"{(rr['wall_seconds'] / 60 if rr else float('nan')):.1f} min |")
    for key in sorted(k for k in r if k.startswith("gng_L") and k.endswith("power_spectrum")):
        tag = key[:-len("_power_spectrum")]
        L = r[key]["L"]
        lines.append("")
        lines.append(f"| Gaussian vs non-Gaussian, L = {L}, level {r[key]['level']} "
                     f"(mean skewness {r[key]['mean_skewness']['0']:.4f} / {r[key]['mean_skewness']['1']:.4f}), "
                     f"{r[key]['n_train']}/{r[key]['n_test']} maps | accuracy | params | wall |")
        lines.append("|---|---|---|---|")
        for name in ("hybrid", "power_spectrum", "generalised"):
            e = r.get(f"{tag}_{name}")
            if e is None:
                continue
            acc = f"{100 * e['accuracy']:.2f}%" if "accuracy" in e else e.get("error", "-")
            lines.append(f"| {e['model']} | {acc} | {e.get('num_params', '-')} | {e['wall_seconds']:.0f} s |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--out", default=os.path.join("bench_out", "bench_train.json"))
    p.add_argument("--work", default=os.path.join("bench_out", "train_work"))
    p.add_argument("--L", type=int, default=32)
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--models", nargs="+", default=["hybrid", "planar", "generalised"],
                   choices=("hybrid", "generalised", "planar"))
    p.add_argument("--gng-L", type=int, nargs="+", default=[256])
    p.add_argument("--gng-level", type=float, nargs="+", default=[0.01, 0.05, 0.1],
                   help="non-Gaussianity levels (one run of the three models per level)")
    p.add_argument("--gng-n-train", type=int, default=2000)
    p.add_argument("--gng-n-test", type=int, default=500)
    p.add_argument("--force", action="store_true", help="recompute items already in --out")
    p.add_argument("--table", action="store_true", help="print the table of --out and exit")
    args = p.parse_args(argv)
    if args.table:
        with open(args.out) as fh:
            print(table(json.load(fh)))
        return 0
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    args.work = os.path.abspath(args.work)
    res = Results(args.out, args)
    paths = fmnist_data(args) if {"cli", "fmnist"} & set(args.only) else None
    if "cli" in args.only:
        run_cli_defaults(res, args, paths)
    if "gng" in args.only:
        for L in args.gng_L:
            for level in args.gng_level:
                run_gng(res, args, L, level)
    if "fmnist" in args.only:
        for model in args.models:
            for regime in ("NR", "R"):
                if model == "planar":
                    _planar(res, args, paths, regime)
                else:
                    _spherical(res, args, paths, model, regime)
    print(table(res.data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
