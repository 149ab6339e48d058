"""The training loop (:func:`train`) and evaluation of a finished run (:func:`evaluate`).

A run is a directory (``run.json``, ``metrics.csv``, ``metrics.json``, ``curves.png``,
``checkpoints/<epoch>/``), checked before it is created and written atomically; resuming
it reproduces the uninterrupted run's metrics.  Layout and guarantees: ``docs/training.md``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time

import numpy as np

from .._config import bounded_cache
from ._cache import features_in_memory, front_end_features
from ._config import TrainConfig, make_optimizer, model_config
from ._data import as_data
from ._parallel import data_parallel
from ._rundir import METRIC_COLUMNS, plot_curves, read_json, write_json, write_metrics

__all__ = ["TrainResult", "EvalResult", "train", "evaluate", "load_run", "default_cache_dir", "RunError"]

EVAL_BATCH = 256  # samples per evaluation step (padded to a multiple of the devices)
# options that may change on resume (no effect beyond floating-point summation order)
_RESUMABLE_CHANGES = ("devices", "cache_dir")


class RunError(ValueError):
    """A run directory that cannot be used (exists, nothing to resume, options differ)."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        history: one dict per epoch (keys :data:`METRIC_COLUMNS`).
        test_accuracy: the last epoch's test accuracy (``metrics.json["test_accuracy"]``).
        num_params: trainable parameters.
        seconds: wall time of this call; feature_seconds: of which the front end's features.
        resumed_from: the epoch the run resumed after (0: a fresh run).
    """

    run_dir: str
    history: tuple
    test_accuracy: float
    num_params: int
    seconds: float
    feature_seconds: float
    resumed_from: int


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate` returns: ``accuracy``, mean cross-entropy ``loss``, ``n`` maps and
    the ``confusion`` matrix ``(num_classes, num_classes)`` (rows: true class, columns: predicted)."""

    accuracy: float
    loss: float
    n: int
    confusion: np.ndarray

    def to_dict(self) -> dict:
        """``{"accuracy", "loss", "n", "confusion"}`` with plain Python values (JSON-ready)."""
        return {"accuracy": self.accuracy, "loss": self.loss, "n": self.n,
                "confusion": self.confusion.tolist()}


def default_cache_dir() -> str:
    """Where front-end features are cached by default.

    ``$S2SCATTER_CACHE/features`` when set, else ``$XDG_CACHE_HOME/s2scatter/features``
    (``~/.cache/s2scatter/features``).  Shared by runs: a store is keyed by the
    front end's configuration and the data, so runs on the same maps reuse it.
    """
    root = os.environ.get("S2SCATTER_CACHE")
    if root:
        return os.path.join(os.path.expanduser(root), "features")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "s2scatter", "features")


# --------------------------------------------------------------------------- checks
def _load_pair(config, train, test, train_labels, test_labels):
    kw = dict(L=config.L, sampling=config.sampling, nside=config.nside)
    tr = as_data(train, what="train", labels=train_labels, **kw)
    te = as_data(test, what="test", labels=test_labels, **kw)
    for key in ("L", "sampling", "nside"):
        if getattr(tr, key) != getattr(te, key):
            raise ValueError(f"train data ({tr.what}) has {key}={getattr(tr, key)!r} but test data ({te.what}) "
                             f"has {key}={getattr(te, key)!r}")
    stores = [d for d in (tr, te) if d.store is not None]
    if stores and not config.scattering:
        raise ValueError(f"{stores[0].what} is a feature store (scattering maps), but scattering = false")
    if tr.store is not None and te.store is not None and tr.scattering != te.scattering:
        raise ValueError(f"the feature stores {tr.what} and {te.what} were computed with different "
                         "scattering configurations")
    return tr, te


def _num_classes(config, tr, te):
    top = int(max(tr.labels.max(), te.labels.max()))
    k = config.num_classes if config.num_classes is not None else max(2, top + 1)
    for d in (tr, te):
        if int(d.labels.max()) >= k:
            raise ValueError(f"{d.what}: label {int(d.labels.max())} is out of range for num_classes = {k}")
    return k


def _model_config(config, tr, te, num_classes):
    scat = next((d.scattering for d in (tr, te) if d.store is not None), None)
    try:
        return model_config(config, L=tr.L, sampling=tr.sampling, nside=tr.nside, num_classes=num_classes,
                            scattering=scat)
    except ValueError as exc:
        raise ValueError(f"model options: {exc}") from None


def _check_run_dir(run_dir, *, resume, record):
    """Refuse an unusable run directory before anything is written; return the stored run on resume."""
    exists = os.path.exists(run_dir)
    if exists and not os.path.isdir(run_dir):
        raise RunError(f"run directory {run_dir!r} exists and is not a directory")
    if resume:
        meta = os.path.join(run_dir, "run.json")
        if not os.path.isfile(meta):
            raise RunError(f"--resume: {run_dir!r} holds no run (no run.json); start it without --resume")
        stored = read_json(meta)
        old, new = stored.get("config", {}), record["config"]
        diff = sorted(k for k in set(old) | set(new) if k not in _RESUMABLE_CHANGES and old.get(k) != new.get(k))
        if diff:
            raise RunError(f"--resume: option(s) differ from the run in {run_dir}: "
                           + ", ".join(f"{k} (run: {old.get(k)!r}, now: {new.get(k)!r})" for k in diff))
        for split in ("train", "test"):
            if stored.get("data", {}).get(split, {}).get("sha256") != record["data"][split]["sha256"]:
                raise RunError(f"--resume: the {split} data differ from the run in {run_dir} "
                               f"({record['data'][split]['source']})")
        return stored
    if exists and os.listdir(run_dir):
        raise RunError(f"run directory {run_dir!r} exists and is not empty; pass --resume to continue "
                       "its run, or choose a new directory")
    return None


# --------------------------------------------------------------------------- model and steps
class _Program:
    """The model split into graph and state, the optimiser, and the compiled, sharded steps."""

    def __init__(self, model_cfg, config, steps_per_epoch, dp):
        from flax import nnx

        from ..nn import HybridModel

        model = HybridModel(model_cfg, rngs=nnx.Rngs(config.seed))
        self.num_params = model.num_params
        self.summary = repr(model)
        model.eval()
        self.graph_eval = nnx.graphdef(model)
        model.train()
        self.graph_train, params, rest = nnx.split(model, nnx.Param, ...)
        self.tx, self.schedule = make_optimizer(config, steps_per_epoch)
        self.dp = dp
        self.params = dp.replicate(params)
        self.rest = dp.replicate(rest)
        self.opt_state = dp.replicate(self.tx.init(params))
        self._step, self._predict = _compiled(self.graph_train, self.graph_eval, self.tx, dp.replicated, dp.batch)

    def step(self, x, y, lr):
        """One optimiser step of size ``lr`` on the batch ``(x, y)``."""
        x, y = self.dp.shard_batch(x, y)
        lr = self.dp.replicate(np.float32(lr))
        self.params, self.rest, self.opt_state, loss, correct = self._step(self.params, self.rest,
                                                                           self.opt_state, x, y, lr)
        return loss, correct

    def predict(self, flm, labels, batch=EVAL_BATCH):
        """Per-sample losses and predicted classes of ``flm`` (padded to whole sharded batches)."""
        n = len(labels)
        d = self.dp.size
        batch = max(d, (min(batch, n) + d - 1) // d * d)
        losses, preds = np.empty(n, np.float64), np.empty(n, np.int64)
        for i in range(0, n, batch):
            x, y = flm[i:i + batch], labels[i:i + batch]
            k = len(y)
            if k < batch:
                x = np.concatenate([x, np.zeros((batch - k, *x.shape[1:]), x.dtype)])
                y = np.concatenate([y, np.zeros(batch - k, y.dtype)])
            loss, pred = self._predict(self.params, self.rest, *self.dp.shard_batch(x, y))
            losses[i:i + k] = np.asarray(loss)[:k]
            preds[i:i + k] = np.asarray(pred)[:k]
        return losses, preds

    # checkpoints ------------------------------------------------------------
    def state_tree(self):
        return {"params": self.params, "rest": self.rest}

    def load_state(self, tree):
        self.params = self.dp.replicate(tree["params"])
        self.rest = self.dp.replicate(tree["rest"])


@bounded_cache(4)
def _compiled(graph_train, graph_eval, tx, rep, bat):
    """The jitted training step and prediction of a model graph, optimiser and placement.

    Kept for the few most recent combinations, so runs of the same model in one
    process (a run and its evaluation, a test suite) compile once.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    def loss_fn(p, r, x, y):
        m = nnx.merge(graph_train, p, r)
        logits = m.apply_flm(x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y).mean()
        correct = jnp.sum(jnp.argmax(logits, axis=-1) == y)
        return loss, (nnx.state(m, nnx.Not(nnx.Param)), correct)

    def step(p, r, o, x, y, lr):
        (loss, (r, correct)), g = jax.value_and_grad(loss_fn, has_aux=True)(p, r, x, y)
        direction, o = tx.update(g, o, p)
        updates = jax.tree_util.tree_map(lambda u: (-lr * u).astype(u.dtype), direction)
        return optax.apply_updates(p, updates), r, o, loss, correct

    def predict(p, r, x, y):
        logits = nnx.merge(graph_eval, p, r).apply_flm(x).astype(jnp.float32)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y), jnp.argmax(logits, axis=-1)

    return (jax.jit(step, in_shardings=(rep, rep, rep, bat, bat, rep), out_shardings=rep, donate_argnums=(0, 1, 2)),
            jax.jit(predict, in_shardings=(rep, rep, bat, bat), out_shardings=bat))


def _checkpointer(run_dir):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=True, enable_async_checkpointing=False)
    return ocp.CheckpointManager(os.path.join(os.path.abspath(run_dir), "checkpoints"), options=options)


def _save(manager, epoch, prog, history):
    import orbax.checkpoint as ocp

    manager.save(epoch, args=ocp.args.Composite(
        model=ocp.args.StandardSave(prog.state_tree()),
        opt=ocp.args.StandardSave(prog.opt_state),
        meta=ocp.args.JsonSave({"epoch": epoch, "history": list(history)})))
    manager.wait_until_finished()


def _restore(manager, prog, *, with_opt=True):
    """Load the newest checkpoint into ``prog``; returns its metadata (``epoch``, ``history``)."""
    import jax
    import orbax.checkpoint as ocp

    step = manager.latest_step()
    if step is None:
        return None

    def abstract(tree):
        return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)

    items = dict(model=ocp.args.StandardRestore(abstract(prog.state_tree())), meta=ocp.args.JsonRestore())
    if with_opt:
        items["opt"] = ocp.args.StandardRestore(abstract(prog.opt_state))
    restored = manager.restore(step, args=ocp.args.Composite(**items))
    prog.load_state(restored["model"])
    if with_opt:
        prog.opt_state = prog.dp.replicate(restored["opt"])
    return restored["meta"]


# --------------------------------------------------------------------------- train
def train(config: TrainConfig, *, train, test, output, train_labels=None, test_labels=None, resume=False,
          progress=True, log=None) -> TrainResult:
    """Train a :class:`~s2scatter.nn.HybridModel` on labelled maps and write the run to ``output``.

    The scattering front end is computed once per map and cached (a Zarr
    feature store in ``config.cache_dir``, keyed by the front end's
    configuration and the data, resumable; see :func:`front_end_features`);
    the generalised layers and the head are trained on the cached
    coefficients with the Optax optimiser of ``config``, data-parallel over
    ``config.devices`` devices (see :mod:`._parallel`).  After every epoch:
    test metrics, an Orbax checkpoint, ``metrics.csv``, ``metrics.json`` and
    ``curves.png`` (layout in ``docs/training.md``).

    Args:
        config: :class:`TrainConfig`.
        train, test: an ``.npz`` path (:func:`s2scatter.datasets.save_npz`
            layout), a feature store directory (with ``train_labels`` /
            ``test_labels``), a :class:`~s2scatter.datasets.MapSet`, or ``(maps, labels)``.
        output: the run directory (must not exist, or be empty, unless ``resume``).
        resume: continue the run in ``output`` from its newest checkpoint.
        progress: a progress bar on a terminal.
        log: ``callable(str)`` for one line per epoch and notes (default: stderr).

    Returns:
        :class:`TrainResult`.

    Raises:
        ValueError: bad data, options or run directory, naming the file or
            option; raised before anything is written.

    Example::

        from s2scatter.datasets import load_digits_sphere, save_npz
        from s2scatter.training import TrainConfig, train
        maps, labels = load_digits_sphere(16)
        result = train(TrainConfig(L=16, epochs=5), train=(maps[:1500], labels[:1500]),
                       test=(maps[1500:], labels[1500:]), output="runs/digits")  # L: arrays carry no L
    """
    import jax
    from tqdm import tqdm

    from .._version import __version__
    from ..batch import versions

    start = time.perf_counter()
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    run_dir = os.path.abspath(os.fspath(output))
    tr, te = _load_pair(config, train, test, train_labels, test_labels)
    num_classes = _num_classes(config, tr, te)
    model_cfg = _model_config(config, tr, te, num_classes)
    dp = data_parallel(config.devices)
    if config.batch_size % dp.size:
        raise ValueError(f"batch_size = {config.batch_size} is not a multiple of the {dp.size} devices")
    if config.batch_size > len(tr):
        raise ValueError(f"batch_size = {config.batch_size} exceeds the {len(tr)} training maps ({tr.what})")
    steps = len(tr) // config.batch_size
    record = {"config": config.to_dict(), "data": {"train": tr.describe(), "test": te.describe()},
              "num_classes": num_classes, "steps_per_epoch": steps,
              "scattering": (dataclasses.asdict(model_cfg.scattering) if model_cfg.scattering is not None
                             else None)}
    stored = _check_run_dir(run_dir, resume=resume, record=record)
    cache_dir = config.cache_dir or default_cache_dir()

    created = not os.path.exists(run_dir)
    try:
        (xtr, info_tr), (xte, info_te) = (front_end_features(d, model_cfg, cache_dir=cache_dir, progress=progress,
                                                            log=log) for d in (tr, te))
        fsec = info_tr["seconds"] + info_te["seconds"]
        ytr, yte = tr.labels.astype(np.int32), te.labels.astype(np.int32)
        prog = _Program(model_cfg, config, steps, dp)
        os.makedirs(run_dir, exist_ok=True)
        manager = _checkpointer(run_dir)
        history, first = [], 1
        if stored is not None:
            meta = _restore(manager, prog)
            if meta is not None:
                history = [dict(r) for r in meta["history"]]
                first = int(meta["epoch"]) + 1
                log(f"resuming {run_dir} after epoch {first - 1}")
        else:
            write_json(os.path.join(run_dir, "run.json"), {
                **record, "model": {"summary": prog.summary, "num_params": prog.num_params},
                "devices": [str(x) for x in dp.mesh.devices.flat], "s2scatter": __version__,
                "versions": versions()})
        resumed_from = first - 1
        log(f"{prog.summary}; {len(tr)} train / {len(te)} test maps, {steps} steps of {config.batch_size} "
            f"per epoch on {dp.size} device(s)")
        for epoch in range(first, config.epochs + 1):
            t0 = time.perf_counter()
            order = np.random.default_rng([config.seed, epoch]).permutation(len(tr))
            correct = 0
            bar = tqdm(total=steps, desc=f"epoch {epoch}/{config.epochs}", unit="step", leave=False,
                       disable=not (progress and sys.stderr.isatty()), file=sys.stderr)
            losses = []
            lrs = np.asarray(prog.schedule(np.arange((epoch - 1) * steps, epoch * steps)), np.float32)
            for s in range(steps):
                idx = np.sort(order[s * config.batch_size:(s + 1) * config.batch_size])
                loss, corr = prog.step(xtr[idx], ytr[idx], lrs[s])
                losses.append(loss)
                correct += corr
                bar.update(1)
                if s % 20 == 19:
                    bar.set_postfix(loss=f"{float(loss):.3f}")
            bar.close()
            loss_sum = float(np.sum(np.asarray(jax.device_get(losses), dtype=np.float64)))
            te_loss, te_pred = prog.predict(xte, yte)
            row = {"epoch": epoch, "train_loss": loss_sum / steps,
                   "train_accuracy": float(correct) / (steps * config.batch_size),
                   "test_loss": float(te_loss.mean()), "test_accuracy": float(np.mean(te_pred == yte)),
                   "learning_rate": float(lrs[-1]),
                   "seconds": time.perf_counter() - t0}
            history.append(row)
            _save(manager, epoch, prog, history)
            _write_outputs(run_dir, history, prog, config, seconds=time.perf_counter() - start,
                           feature_seconds=fsec)
            log(f"epoch {epoch}/{config.epochs}: train loss {row['train_loss']:.4f} acc "
                f"{100 * row['train_accuracy']:.2f}%, test loss {row['test_loss']:.4f} acc "
                f"{100 * row['test_accuracy']:.2f}% ({row['seconds']:.1f} s)")
        manager.close()
    except BaseException:
        if created and os.path.isdir(run_dir) and not _has_checkpoint(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if not history:
        raise RunError(f"{run_dir}: no epochs were run")
    if first > config.epochs:  # nothing left to do: rewrite the outputs so they are complete
        _write_outputs(run_dir, history, prog, config, seconds=time.perf_counter() - start, feature_seconds=fsec)
    return TrainResult(run_dir=run_dir, history=tuple(history), test_accuracy=history[-1]["test_accuracy"],
                       num_params=prog.num_params, seconds=time.perf_counter() - start, feature_seconds=fsec,
                       resumed_from=resumed_from)


def _has_checkpoint(run_dir) -> bool:
    ck = os.path.join(run_dir, "checkpoints")
    return os.path.isdir(ck) and any(name.isdigit() for name in os.listdir(ck))


def _write_outputs(run_dir, history, prog, config, *, seconds, feature_seconds):
    last = history[-1]
    summary = {"test_accuracy": last["test_accuracy"], "test_loss": last["test_loss"],
               "best_test_accuracy": max(r["test_accuracy"] for r in history),
               "train_accuracy": last["train_accuracy"], "epochs_done": last["epoch"], "epochs": config.epochs,
               "num_params": prog.num_params, "seconds": seconds, "feature_seconds": feature_seconds,
               "columns": list(METRIC_COLUMNS)}
    write_metrics(run_dir, history, summary)
    plot_curves(os.path.join(run_dir, "curves.png"), history,
                title=f"{prog.summary.split(';')[0]}; {prog.num_params:,} parameters")


# --------------------------------------------------------------------------- evaluate
def load_run(run_dir):
    """``(TrainConfig, HybridConfig, run.json dict)`` of a run directory.

    Raises:
        RunError: not a run directory, or one without a checkpoint.
    """
    from ..scattering import ScatteringConfig

    run_dir = os.fspath(run_dir)
    meta = os.path.join(run_dir, "run.json")
    if not os.path.isfile(meta):
        raise RunError(f"{run_dir!r} is not a run directory (no run.json)")
    if not _has_checkpoint(run_dir):
        raise RunError(f"{run_dir!r} holds no checkpoint (the run finished no epoch)")
    stored = read_json(meta)
    config = TrainConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in stored["config"].items()})
    data = stored["data"]["train"]
    scat = ScatteringConfig(**stored["scattering"]) if stored.get("scattering") else None
    model_cfg = model_config(config, L=data["L"], sampling=data["sampling"], nside=data["nside"],
                             num_classes=stored["num_classes"], scattering=scat)
    return config, model_cfg, stored


def evaluate(run_dir, data, *, labels=None, batch_size=EVAL_BATCH, devices=None) -> EvalResult:
    """Accuracy and confusion matrix of a run's newest checkpoint on ``data``.

    Args:
        run_dir: a directory written by :func:`train`.
        data: an ``.npz`` path, a feature store (with ``labels``), a ``MapSet``
            or ``(maps, labels)``, on the run's ``L`` / ``sampling``.
        batch_size: maps per forward call.

    Raises:
        ValueError: not a run directory, or data that do not fit the run (naming them).
    """
    run_dir = os.path.abspath(os.fspath(run_dir))
    config, model_cfg, stored = load_run(run_dir)
    d = stored["data"]["train"]
    grid = {k: d[k] for k in ("L", "sampling", "nside")} if isinstance(data, tuple) else {}
    ds = as_data(data, what="data", labels=labels, **grid)
    for key in ("L", "sampling", "nside"):
        if getattr(ds, key) != d[key]:
            raise ValueError(f"{ds.what}: {key}={getattr(ds, key)!r}, but the run was trained on {key}={d[key]!r}")
    k = stored["num_classes"]
    if int(ds.labels.max()) >= k:
        raise ValueError(f"{ds.what}: label {int(ds.labels.max())} is out of range for the run's {k} classes")
    if ds.store is not None:
        if model_cfg.scattering is None or ds.scattering != model_cfg.scattering:
            raise ValueError(f"{ds.what}: the store's scattering configuration is not the run's front end")
        flm, _ = front_end_features(ds, model_cfg, cache_dir=None)
    else:
        flm = features_in_memory(ds.maps, model_cfg)
    prog = _Program(model_cfg, config.replace(devices=devices), stored["steps_per_epoch"],
                    data_parallel(devices))
    _restore(_checkpointer(run_dir), prog, with_opt=False)
    y = ds.labels.astype(np.int32)
    losses, preds = prog.predict(flm, y, batch=batch_size)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (ds.labels, preds), 1)
    return EvalResult(accuracy=float(np.mean(preds == ds.labels)), loss=float(losses.mean()), n=len(y),
                      confusion=confusion)
