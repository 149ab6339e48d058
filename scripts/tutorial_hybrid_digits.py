"""Tutorial 2: train a hybrid spherical CNN on spherical digits, evaluate it on rotated data.

scikit-learn's 1,797 handwritten digits are projected onto the sphere, all at the same
place ("NR") for training; the test digits are evaluated both at that place and rotated
at random ("R"). The hybrid model (fixed scattering front end under learnable generalised
layers, ``s2scatter.nn.HybridModel``) is trained with a plain optax loop next to a
non-equivariant baseline (a dense network on the pixels): the baseline collapses on
rotated digits, the hybrid model does not. Every figure of
``docs/tutorials/hybrid_digits.md`` is written by this script:

    python scripts/tutorial_hybrid_digits.py                        # L = 32: the committed figures
    python scripts/tutorial_hybrid_digits.py --small --out /tmp/t2  # L = 16, a tiny model (CI)

Needs scikit-learn (in the ``test`` extra) for the digits. The page shows the code between
the ``--8<--`` markers, so what you read is what runs.
"""

import argparse
import pathlib
import time

from _tutorial_common import shrink_pngs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "tutorials" / "figures" / "hybrid_digits",
                   help="folder for the figures (default: the docs' figure folder)")
    p.add_argument("--small", action="store_true", help="L = 16, one generalised layer, 2 epochs: the CI size")
    p.add_argument("--epochs", type=int, default=None, help="default: 2 with --small, else 12")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    # --8<-- [start:data]
    import jax

    jax.config.update("jax_enable_x64", True)   # transforms in float64; the models below run in float32

    import numpy as np
    import optax
    from flax import nnx
    from matplotlib.figure import Figure

    import s2scatter
    from s2scatter import datasets, nn, plotting

    L = 16 if args.small else 32
    maps_nr, labels = datasets.load_digits_sphere(L)                    # (1797, L, 2L-1), all at one place
    maps_r, _ = datasets.load_digits_sphere(L, rotation="R", seed=1)    # the same digits, randomly rotated
    order = np.random.default_rng(0).permutation(len(labels))
    n_train, n_test = (512, 256) if args.small else (1400, 397)
    train, test = order[:n_train], order[n_train:n_train + n_test]
    print(f"maps {maps_nr.shape} {maps_nr.dtype}; {len(train)} training digits (NR), {len(test)} test digits (NR and R)")
    # --8<-- [end:data]

    # --8<-- [start:examples]
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    for k, i in enumerate(test[:4]):
        for row, (maps, name) in enumerate(((maps_nr, "NR"), (maps_r, "R"))):
            ax = fig.add_subplot(2, 4, 4 * row + k + 1, projection="mollweide")
            plotting.plot_mollweide(maps[i], L, ax=ax, cmap="gray_r", colorbar=False,
                                    title=f"digit {labels[i]}, {name}")
    fig.savefig(args.out / "examples.png", dpi=80)
    # --8<-- [end:examples]

    # --8<-- [start:models]
    if args.small:   # CI: one generalised layer, so that compilation takes seconds
        config = nn.HybridConfig(L=L, num_classes=10, channels=(16,), hidden=32, dtype="float32")
    else:            # the default hybrid model: 3 generalised layers, 71k parameters at L = 32
        config = nn.HybridConfig(L=L, num_classes=10, dtype="float32")
    hybrid = nn.HybridModel(config, rngs=nnx.Rngs(0))
    print(hybrid)

    class PixelMLP(nnx.Module):
        """The baseline: a dense network on the map's pixels; knows nothing about rotations."""

        def __init__(self, n_in, hidden, n_out, *, rngs):
            self.hidden = nnx.Linear(n_in, hidden, rngs=rngs)
            self.out = nnx.Linear(hidden, n_out, rngs=rngs)

        def __call__(self, f):
            return self.out(jax.nn.gelu(self.hidden(f.reshape(f.shape[0], -1))))

    baseline = PixelMLP(maps_nr[0].size, 64, 10, rngs=nnx.Rngs(0))
    # --8<-- [end:models]

    # --8<-- [start:training]
    predict = nnx.jit(lambda m, f: jax.numpy.argmax(m(f), axis=-1))   # class labels

    def accuracy(model, maps):
        return float(np.mean(np.asarray(predict(model, maps[test])) == labels[test]))

    def fit(model, learning_rate, epochs, batch=32):
        opt = nnx.Optimizer(model, optax.adam(learning_rate), wrt=nnx.Param)

        @nnx.jit
        def step(model, opt, f, y):
            def loss_fn(m):
                return optax.softmax_cross_entropy_with_integer_labels(m(f), y).mean()

            loss, grads = nnx.value_and_grad(loss_fn)(model)
            opt.update(model, grads)
            return loss

        history = {"loss": [], "nr": [], "r": []}
        rng = np.random.default_rng(1)
        for epoch in range(epochs):
            idx = rng.permutation(train)
            for b in range(len(idx) // batch):           # whole batches only: one compiled shape
                sel = idx[b * batch:(b + 1) * batch]
                history["loss"].append(float(step(model, opt, maps_nr[sel], labels[sel])))
            history["nr"].append(accuracy(model, maps_nr))
            history["r"].append(accuracy(model, maps_r))
            print(f"  epoch {epoch + 1:2d}: loss {np.mean(history['loss'][-(len(idx) // batch):]):.3f}  "
                  f"test accuracy NR {history['nr'][-1]:.3f}  R {history['r'][-1]:.3f}")
        return history

    epochs = args.epochs or (2 if args.small else 12)
    print("hybrid model:")
    hist_hybrid = fit(hybrid, 3e-3, epochs)
    print("pixel MLP:")
    hist_mlp = fit(baseline, 1e-3, epochs)
    # --8<-- [end:training]

    # --8<-- [start:curves]
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    for hist, name in ((hist_hybrid, "hybrid"), (hist_mlp, "pixel MLP")):
        steps_per_epoch = len(hist["loss"]) // epochs
        ax.plot(np.arange(len(hist["loss"])) / steps_per_epoch, hist["loss"], lw=0.6, alpha=0.8, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy, NR digits)")
    ax.legend()
    ax = fig.add_subplot(1, 2, 2)
    for hist, name, colour in ((hist_hybrid, "hybrid", "C0"), (hist_mlp, "pixel MLP", "C1")):
        ax.plot(range(1, epochs + 1), hist["nr"], "-o", color=colour, label=f"{name}, NR test")
        ax.plot(range(1, epochs + 1), hist["r"], "--s", color=colour, label=f"{name}, R test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.savefig(args.out / "training.png", dpi=80)
    # --8<-- [end:curves]

    # --8<-- [start:rotated]
    pred_hybrid = np.asarray(predict(hybrid, maps_r[test]))   # the whole rotated test set
    pred_mlp = np.asarray(predict(baseline, maps_r[test]))
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    for k in range(8):
        ax = fig.add_subplot(2, 4, k + 1, projection="mollweide")
        plotting.plot_mollweide(maps_r[test[k]], L, ax=ax, cmap="gray_r", colorbar=False,
                                title=f"{labels[test[k]]}: hybrid {pred_hybrid[k]}, MLP {pred_mlp[k]}")
    fig.savefig(args.out / "rotated_predictions.png", dpi=80)

    # the hybrid model's logits barely move when its input is rotated
    errs = s2scatter.assert_equivariant(hybrid, maps_nr[test[:4]], rotations=5, rtol=1e-2)
    print(f"logits under 5 random rotations: max relative change {float(np.max(errs)):.1e}")
    # --8<-- [end:rotated]

    shrink_pngs(args.out)
    print(f"figures in {args.out} ({time.perf_counter() - t0:.1f} s)")
    return {"L": L, "epochs": epochs, "hybrid": hist_hybrid, "mlp": hist_mlp,
            "logit_rotation_error": float(np.max(errs))}


if __name__ == "__main__":
    main()
