"""Command-line interface: ``s2scatter <command> [options]``.

Commands: ``demo`` (a forward/inverse round trip of a random map on MW sampling, with
plots), ``features`` (scattering features of many map files into one store, serially or
on Dask, resumable: ``docs/pipeline.md``), ``transform`` (a map file <-> harmonic
coefficients ``.npy``), ``train`` and ``evaluate`` (a hybrid spherical CNN:
``docs/training.md``), ``info`` (what a feature store holds, which groups are damaged).

Exit codes (``_EXIT_CODES``; ``docs/pipeline.md``, "Failures and exit codes"): 0 success,
1 some failure (the other inputs written; damaged groups; round trip above tolerance),
2 usage error, 3 nothing could be done (store unusable or locked, scheduler unreachable,
every input failed, not a store; one line on stderr), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

from .harmonic import METHODS
from .sampling import SAMPLINGS

__all__ = ["main", "build_parser", "run_demo", "DemoResult"]

# relative round-trip error above which `demo` fails (float64 reaches ~1e-13 at L=128, float32 ~1e-6)
_TOLERANCE = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-3}


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What `run_demo` produced: output paths and relative round-trip errors."""

    map_png: str
    power_spectrum_png: str
    flm_npy: str
    flm_error: float  # max |flm - flm_true| / max |flm_true|
    map_error: float  # max |inverse(forward(f)) - f| / max |f|
    dtype: np.dtype
    seconds: float


def _error(command: str, message) -> None:
    print(f"s2scatter {command}: error: {message}", file=sys.stderr)


def _save_npy(path: str, array: np.ndarray) -> None:
    from s2scatter._files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def run_demo(output, *, L: int = 128, method: str = "auto", seed: int = 0) -> DemoResult:
    """Forward/inverse round trip of a random real map on MW sampling.

    Writes ``map.png`` (Mollweide view), ``power_spectrum.png`` and
    ``flm.npy`` (complex, shape ``(L, 2L-1)``) into ``output`` (created if
    missing; files are replaced atomically).
    """
    import s2scatter
    from s2scatter.plotting import plot_mollweide, plot_power_spectrum

    output = os.fspath(output)
    os.makedirs(output, exist_ok=True)
    opts = dict(sampling="mw", reality=True, method=method)

    # a real field with a red spectrum, C_l ~ (l+1)^-2
    flm_true = s2scatter.sampling.random_flm(L, reality=True, slope=1.0, rng=np.random.default_rng(seed))
    start = time.perf_counter()
    f = np.asarray(s2scatter.inverse(flm_true, L, **opts))
    flm = np.asarray(s2scatter.forward(f, L, **opts))
    f_back = np.asarray(s2scatter.inverse(flm, L, **opts))
    seconds = time.perf_counter() - start

    flm_error = float(np.max(np.abs(flm - flm_true)) / np.max(np.abs(flm_true)))
    map_error = float(np.max(np.abs(f_back - f)) / np.max(np.abs(f)))

    paths = {name: os.path.join(output, name) for name in ("map.png", "power_spectrum.png", "flm.npy")}
    plot_mollweide(f, L, sampling="mw", path=paths["map.png"],
                   title=f"Random red-spectrum map, L = {L} (MW sampling)")
    plot_power_spectrum(flm, L, path=paths["power_spectrum.png"])
    _save_npy(paths["flm.npy"], flm)
    return DemoResult(
        map_png=paths["map.png"],
        power_spectrum_png=paths["power_spectrum.png"],
        flm_npy=paths["flm.npy"],
        flm_error=flm_error,
        map_error=map_error,
        dtype=np.finfo(f.dtype).dtype,  # real precision, even for a complex map
        seconds=seconds,
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        _error("demo", f"{args.output!r} exists and is not a directory")
        return 1
    try:
        result = run_demo(args.output, L=args.L, method=args.method, seed=args.seed)
    except (OSError, ValueError) as exc:
        _error("demo", exc)
        return 1

    tol = _TOLERANCE.get(np.dtype(result.dtype), 1e-8)
    print(f"L = {args.L}, sampling = mw, method = {args.method}, dtype = {np.dtype(result.dtype).name}")
    print(f"round-trip error (max relative): flm {result.flm_error:.3e}, "
          f"map {result.map_error:.3e}  (tolerance {tol:.0e})")
    print(f"3 transforms in {result.seconds:.3f} s (including any compilation)")
    print("wrote:")
    for path in (result.map_png, result.power_spectrum_png, result.flm_npy):
        print(f"  {os.path.abspath(path)}")
    if not max(result.flm_error, result.map_error) <= tol:  # also catches NaN
        _error("demo", "round-trip error above tolerance")
        return 1
    return 0


_EXIT_CODES = """\
exit codes:
  0    success (features: every input written or already complete)
  1    failure (features: some inputs failed, the others were written;
       info: damaged groups found)
  2    usage error
  3    nothing could be done (features: output store unusable or cannot be
       created, another run is writing it, scheduler unreachable or not Dask,
       or every input failed; info: not a store)
  130  interrupted; finished outputs are kept (rerun with --resume)
"""


def _read_options(args):
    from s2scatter.batch import ReadOptions

    field = args.field
    if field is not None and field.lstrip("-").isdigit():
        field = int(field)
    return ReadOptions(field=field, variable=args.variable, input_sampling=args.input_sampling,
                       input_nside=args.input_nside, nan=args.nan, fill_value=args.fill_value)


def _cmd_features(args: argparse.Namespace) -> int:
    from s2scatter.batch import BatchError, FeatureJob, plots_dir, run_batch
    from s2scatter.scattering import ScatteringConfig

    try:
        config = ScatteringConfig(L=args.L, N=args.N, J_min=args.J_min, lam=args.lam,
                                  max_order=args.max_order, sampling=args.sampling, nside=args.nside,
                                  output=args.output, method=args.method)
        job = FeatureJob(config, read=_read_options(args), format=args.format, plot=args.plot,
                         plot_paths=args.plot_paths, num_threads=args.threads)
    except ValueError as exc:
        _error("features", exc)
        return 2
    try:
        report = run_batch(args.inputs, args.out, job, resume=args.resume, overwrite=args.overwrite,
                           scheduler=args.scheduler, progress=not args.quiet, verify=args.verify)
    except BatchError as exc:
        _error("features", exc)
        return 3
    except KeyboardInterrupt:
        _error("features", f"interrupted; finished outputs in {args.out} are kept "
                           "(rerun with --resume to add the rest)")
        return 130
    if not args.quiet:
        print(f"L = {config.L}, sampling = {config.sampling}, N = {config.N}, J_min = {config.J_min}, "
              f"max_order = {config.max_order}, output = {config.output} "
              f"(L_scal = {config.L_scal}), format = {job.format}")
        for path, name in report.groups.items():
            state = "written" if path in report.done else "skipped" if path in report.skipped else "FAILED"
            print(f"  {path} -> {name}  [{state}]")
        if job.plot and report.done:
            print(f"plots: {plots_dir(report.out)}")
    for message in report.failed.values():
        _error("features", message)
    if report.damaged:
        _error("features", f"{len(report.damaged)} damaged group(s) left as they were (no input "
                           f"given for them): {', '.join(sorted(report.damaged))}")
    print(report.summary().splitlines()[0])
    return report.exit_code


def _cmd_transform(args: argparse.Namespace) -> int:
    import s2scatter
    from s2scatter.sampling import f_shape

    data = None
    if args.input.endswith(".npy") and os.path.isfile(args.input):
        try:
            data = np.load(args.input, allow_pickle=False)
        except (OSError, ValueError) as exc:
            _error("transform", f"{args.input}: cannot load .npy file: {exc}")
            return 1
    to = args.to or ("map" if np.iscomplexobj(data) else "harmonic")  # data None: not complex
    try:
        if to == "map":
            if data is None:
                raise ValueError(f"{args.input}: --to map needs harmonic coefficients in a .npy file")
            if not np.iscomplexobj(data) or data.ndim < 2 or data.shape[-1] != 2 * data.shape[-2] - 1:
                raise ValueError(f"{args.input}: expected complex flm of shape (..., L, 2L-1), "
                                 f"got {data.dtype} array of shape {data.shape}")
            L = data.shape[-2]
            if args.L is not None and args.L != L:
                raise ValueError(f"--L {args.L} does not match the coefficients' band-limit {L} "
                                 f"(shape {data.shape})")
            flm = data.astype(np.complex128)
            m = np.arange(-(L - 1), L)
            reality = bool(np.allclose(flm[..., ::-1], (-1.0) ** m * np.conj(flm), rtol=0,
                                       atol=1e-12 * max(np.abs(flm).max(), 1e-300)))
            result = np.asarray(s2scatter.inverse(flm, L, sampling=args.sampling, nside=args.nside,
                                                  reality=reality, method=args.method))
            what = (f"map{'' if reality else ' (complex)'} on {args.sampling} sampling, "
                    f"shape {result.shape}")
        else:
            if args.L is None:
                raise ValueError("--L is required to transform a map to harmonic coefficients")
            from s2scatter.io import read_map

            opts = _read_options(args).kwargs()
            smap = read_map(args.input, L=args.L, sampling=args.sampling, nside=args.nside, **opts)
            result = np.asarray(s2scatter.forward(smap.data, args.L, sampling=args.sampling,
                                                  nside=args.nside, reality=True, method=args.method))
            assert result.shape == (smap.data.shape[0], args.L, 2 * args.L - 1)
            what = (f"flm of {len(smap.channels)} channel(s) {list(smap.channels)}, shape {result.shape}"
                    f" (read on {args.sampling} sampling {f_shape(args.L, sampling=args.sampling, nside=args.nside)})")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        _save_npy(args.out, result)
    except (OSError, ValueError) as exc:  # ReadError is a ValueError
        _error("transform", exc)
        return 1
    print(f"wrote {os.path.abspath(args.out)}: {what}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import json

    from s2scatter.batch import BatchError, store_info

    try:
        info = store_info(args.store, verify=args.verify)
    except BatchError as exc:
        _error("info", exc)
        return 3
    except (OSError, ValueError) as exc:
        _error("info", f"{args.store}: cannot read the store: {exc}")
        return 1
    damaged = info["damaged"]
    if damaged:
        _error("info", f"{len(damaged)} damaged group(s): {', '.join(damaged)}; rerun `s2scatter "
                       "features` on their inputs with --resume to recompute them")
    if args.json:
        print(json.dumps(info, indent=2))
        return 1 if damaged else 0
    cfg = info["config"] or {}
    print(f"store: {info['store']} ({info['format']}, {len(info['groups'])} group(s)"
          f"{f', {len(damaged)} damaged' if damaged else ''}"
          f"{', every array read and checked' if args.verify else ''})")
    print("config: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    read = {k: v for k, v in (info["read"] or {}).items() if v is not None}
    if read:
        print("read: " + ", ".join(f"{k}={v}" for k, v in read.items()))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in (info["versions"] or {}).items() if v))
    for name, g in info["groups"].items():
        arrays = ", ".join(f"{k} {tuple(a['shape'])} {a['dtype']}" for k, a in g["arrays"].items())
        print(f"{name}:")
        print(f"  source: {g['source']}")
        print(f"  sha256: {g['sha256']}")
        print(f"  channels: {', '.join(g['channels'] or [])}; paths: {g['n_paths']}")
        print(f"  arrays: {arrays}")
    for name, reason in damaged.items():
        print(f"{name}: DAMAGED: {reason}")
    return 1 if damaged else 0


def _int_at_least(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be at least {minimum}, got {value}")
        return value

    return parse


def _nside(text: str) -> int:
    """``--nside``: a positive power of two (HEALPix), else a usage error."""
    value = _int_at_least(1, "--nside")(text)
    if value & (value - 1):
        raise argparse.ArgumentTypeError(f"nside must be a power of two (1, 2, 4, ...), got {value}")
    return value


def _check_band_limit(parser, args) -> None:
    """``--L`` above ``3 --nside`` is a usage error (HEALPix cannot resolve those degrees)."""
    L, nside = getattr(args, "L", None), getattr(args, "nside", None)
    if getattr(args, "sampling", None) == "healpix" and L is not None and nside is not None and L > 3 * nside:
        parser.error(f"--L {L} is above 3 * --nside = {3 * nside}: HEALPix at nside {nside} resolves "
                     f"degrees l < {3 * nside}; lower --L or raise --nside")


def _index_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated path indices, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative path indices, got {text!r}")
    return values


def _non_empty_path(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty path")
    return text


def _add_read_options(p) -> None:
    g = p.add_argument_group("reading inputs (see docs/io.md)")
    g.add_argument("--field", help="FITS column / HEALPix field (name or index)")
    g.add_argument("--variable", help="netCDF variable name")
    g.add_argument("--input-sampling", choices=SAMPLINGS,
                   help="sampling of .npy inputs (needed where the shape is ambiguous)")
    g.add_argument("--input-nside", type=_int_at_least(1, "--input-nside"),
                   help="HEALPix nside of .npy inputs")
    g.add_argument("--nan", choices=("error", "mean", "zero", "value"), default="error",
                   help="what to do with NaN/blank pixels (default: %(default)s)")
    g.add_argument("--fill-value", type=float, help="replacement for NaN with --nan value")


# --------------------------------------------------------------------------- train / evaluate

_TRAIN_HELP = {
    "scattering": "use the scattering front end (--no-scattering: the generalised CNN on the map's "
                  "own coefficients)",
    "J_min": "front end's first wavelet scale (default: min(3, J_max))",
    "N": "front end's azimuthal band-limit", "lam": "front end's scale factor",
    "max_order": "front end's depth",
    "channels": "channels of the generalised layers, comma-separated",
    "band_limits": "band-limit of each generalised layer, comma-separated",
    "degrees": "degree-mixing set of the tensor products: mst, log or full",
    "hidden": "width of the dense head's hidden layer (0: none)",
    "norm": "layer, batch or none", "dtype": "float32 or float64",
    "num_classes": "number of classes (default: largest label + 1)",
    "optimizer": "adamw, adam or sgd", "learning_rate": "peak learning rate",
    "schedule": "cosine (warm-up then cosine decay to 0) or constant (warm-up then flat)",
    "warmup_epochs": "length of the linear warm-up, in epochs", "weight_decay": "decoupled weight decay",
    "momentum": "momentum of sgd (Nesterov)", "clip_norm": "clip the gradient's global norm (0: off)",
    "epochs": "number of epochs", "batch_size": "maps per step, split over the devices",
    "seed": "seed of the initialisation and the data order", "devices": "devices to use (default: all visible)",
    "cache_dir": "feature cache directory (default: $S2SCATTER_CACHE/features or "
                 "~/.cache/s2scatter/features)",
    "L": "band-limit of the maps where the data file does not say",
    "sampling": "sampling of the maps where the data file does not say", "nside": "HEALPix nside, likewise",
}


def _train_options(args) -> dict:
    """The TrainConfig options of ``s2scatter train``: the --config file, then the flags given."""
    from s2scatter.training import RUN_KEYS, TrainConfig, load_toml

    opts = load_toml(args.config) if args.config else {}
    for name in TrainConfig.fields():
        value = getattr(args, name, None)
        if value is not None:
            opts[name] = value
    run = {k: opts.pop(k) for k in RUN_KEYS if k in opts}
    for key in ("train", "test", "output", "train_labels", "test_labels"):
        value = getattr(args, key, None)
        if value is not None:
            run[key] = value
    for key in ("train", "test", "output"):
        if not run.get(key):
            raise ValueError(f"--{key if key != 'output' else 'output/-o'} is required (or `{key} = ...` in "
                             "the --config file)")
    return opts, run


def _cmd_train(args: argparse.Namespace) -> int:
    from s2scatter.training import TrainConfig, train

    try:
        opts, run = _train_options(args)
        config = TrainConfig(**opts)
    except (ValueError, OSError) as exc:
        _error("train", exc)
        return 2
    try:
        result = train(config, train=run["train"], test=run["test"], output=run["output"],
                       train_labels=run.get("train_labels"), test_labels=run.get("test_labels"),
                       resume=args.resume, progress=not args.quiet,
                       log=(lambda msg: None) if args.quiet else None)
    except ValueError as exc:
        _error("train", exc)
        return 2
    except KeyboardInterrupt:
        _error("train", f"interrupted; checkpoints in {run['output']} are kept (rerun with --resume)")
        return 130
    print(f"test accuracy {100 * result.test_accuracy:.2f}% after {result.history[-1]['epoch']} epochs, "
          f"{result.num_params:,} parameters, {result.seconds:.1f} s "
          f"(features {result.feature_seconds:.1f} s); run in {result.run_dir}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from s2scatter.training import evaluate

    try:
        result = evaluate(args.run_dir, args.data, labels=args.labels, batch_size=args.batch_size)
    except ValueError as exc:
        _error("evaluate", exc)
        return 2
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    k = len(result.confusion)
    print(f"accuracy {100 * result.accuracy:.2f}% ({int(np.trace(result.confusion))}/{result.n}), "
          f"loss {result.loss:.4f}")
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(4, len(str(int(result.confusion.max()))) + 1)
    print(" " * 6 + "".join(f"{j:>{width}d}" for j in range(k)))
    for i in range(k):
        print(f"{i:>5d} " + "".join(f"{v:>{width}d}" for v in result.confusion[i]))
    return 0


def _subcommand(sub, name, handler, help, description, epilog=None):
    """The parser of ``s2scatter <name>``, run by ``handler(args)``; ``epilog``: the exit codes."""
    p = sub.add_parser(name, help=help, description=description, epilog=epilog or _EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=handler)
    return p


def _add_grid_options(g, sampling_help: str) -> None:
    """``--sampling``, ``--nside`` and ``--method`` of the commands that transform maps."""
    g.add_argument("--sampling", choices=SAMPLINGS, default="mw", help=f"{sampling_help} (default: %(default)s)")
    g.add_argument("--nside", type=_nside, help="HEALPix nside, a power of two, >= L/3 (with --sampling healpix)")
    g.add_argument("--method", choices=METHODS, default="auto", help="transform backend (default: %(default)s)")


def _add_train_parsers(sub) -> None:
    import dataclasses as dc

    from s2scatter.training import TrainConfig

    tp = _subcommand(
        sub, "train", _cmd_train, "train a hybrid spherical CNN on labelled maps (.npz), with checkpoints and curves",
        "Train a scattering + generalised spherical CNN on TRAIN and report on TEST after every "
        "epoch. TRAIN/TEST are .npz files with `maps` (n, *f_shape(L, sampling)) and integer "
        "`labels` (n,) (and `L`, `sampling`, `nside` when known), or feature stores written by "
        "`s2scatter features --output maps` with a labels file (CSV: input, label). The front end "
        "is computed once and cached. Writes RUN_DIR/run.json, metrics.csv, metrics.json "
        "(`test_accuracy`), curves.png and an Orbax checkpoint per epoch. Options may also come "
        "from a TOML file (--config; flags override it). Guide: docs/training.md.", _EXIT_CODES_TRAIN)
    tp.add_argument("--config", metavar="FILE.toml", help="TOML file of options (same names, underscores)")
    tp.add_argument("--train", metavar="TRAIN", help="training data (.npz or feature store)")
    tp.add_argument("--test", metavar="TEST", help="test data (.npz or feature store)")
    tp.add_argument("--train-labels", metavar="FILE", help="labels file of a training feature store")
    tp.add_argument("--test-labels", metavar="FILE", help="labels file of a test feature store")
    tp.add_argument("-o", "--output", metavar="RUN_DIR", help="run directory (new or empty, or with --resume)")
    tp.add_argument("--resume", action="store_true",
                    help="continue the run in RUN_DIR from its newest checkpoint (same options and data)")
    tp.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    groups = {"model": tp.add_argument_group("model"), "optimiser": tp.add_argument_group("optimiser (Optax)"),
              "loop": tp.add_argument_group("loop and data")}
    for f in dc.fields(TrainConfig):
        name, ann = f.name, str(f.type)
        group = (groups["model"] if name in ("scattering", "J_min", "N", "lam", "max_order", "channels",
                                              "band_limits", "degrees", "hidden", "norm", "dtype", "num_classes")
                 else groups["optimiser"] if name in ("optimizer", "learning_rate", "schedule", "warmup_epochs",
                                                      "weight_decay", "momentum", "clip_norm")
                 else groups["loop"])
        shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        help_text = f"{_TRAIN_HELP.get(name, name)} (default: {shown})"
        flag = "--" + (name.replace("_", "-") if name not in ("L", "N") else name)
        if ann == "bool":
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            typ = int if "int" in ann else float if "float" in ann else str
            group.add_argument(flag, dest=name, type=typ, default=None, help=help_text)

    ev = _subcommand(
        sub, "evaluate", _cmd_evaluate, "accuracy and confusion matrix of a trained run on labelled maps",
        "Load RUN_DIR's newest checkpoint and classify DATA (.npz of maps and labels on the "
        "run's L and sampling, or a feature store with --labels); print the accuracy and the "
        "confusion matrix, or with --json {\"accuracy\": ..., \"loss\": ..., \"n\": ..., "
        "\"confusion\": [[...]]}.", _EXIT_CODES_TRAIN)
    ev.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by `s2scatter train`")
    ev.add_argument("data", metavar="DATA", help=".npz of maps and labels (or a feature store)")
    ev.add_argument("--labels", metavar="FILE", help="labels file of a feature store")
    ev.add_argument("--batch-size", type=_int_at_least(1, "--batch-size"), default=256,
                    help="maps per forward call (default: 256)")
    ev.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")


_EXIT_CODES_TRAIN = """\
exit codes:
  0    success
  2    bad option, option value, config file, data or run directory (one line on
       stderr names it; nothing is written)
  130  interrupted; finished epochs are checkpointed (rerun with --resume)
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``s2scatter``."""
    from s2scatter._version import __version__

    parser = argparse.ArgumentParser(prog="s2scatter", description="Transforms, wavelets and scattering on the sphere.",
                                     epilog=_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    demo = _subcommand(
        sub, "demo", _cmd_demo, "forward/inverse SHT round trip of a random map, with plots",
        "Build a band-limited random real map with a red spectrum, run a forward and inverse\n"
        "spherical-harmonic transform on MW sampling, write map.png, power_spectrum.png and\n"
        "flm.npy, and print the round-trip error.")
    demo.add_argument("-o", "--output", default="demo_out", help="output directory (default: %(default)s)")
    demo.add_argument("--L", type=_int_at_least(2, "--L"), default=128,
                      help="band-limit, exclusive (default: %(default)s)")
    demo.add_argument("--method", default="auto", help="transform backend: auto, ducc or jax (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")

    feat = _subcommand(
        sub, "features", _cmd_features, "scattering features of many map files into one store (Zarr or .npz)",
        "Read each INPUT (HEALPix FITS, equirectangular images, lat-lon netCDF, .npy "
        "arrays), resample it onto SAMPLING at band-limit L, run the scattering network "
        "on all its channels and write the coefficients with their provenance (config, "
        "source path, SHA-256, versions) to the store OUT: one group per input. Each "
        "input is written atomically; a failing input is reported and skipped. Layout, "
        "resume and Dask: docs/pipeline.md.")
    feat.add_argument("inputs", nargs="+", metavar="INPUT", help="map files")
    feat.add_argument("-o", "--out", required=True, metavar="OUT", type=_non_empty_path,
                      help="output store (a directory; symbolic links are resolved)")
    net = feat.add_argument_group("scattering network")
    net.add_argument("--L", type=_int_at_least(2, "--L"), default=128,
                     help="band-limit the inputs are read at, exclusive (default: %(default)s)")
    net.add_argument("--N", type=_int_at_least(1, "--N"), default=1,
                     help="azimuthal band-limit of the wavelets, 1 = axisymmetric (default: %(default)s)")
    net.add_argument("--J-min", dest="J_min", type=_int_at_least(0, "--J-min"), default=2,
                     help="first wavelet scale; outputs have band-limit ceil(lam**J_min) "
                          "(default: %(default)s)")
    net.add_argument("--lam", type=float, default=2.0,
                     help="wavelet scale factor, > 1 (default: %(default)s)")
    net.add_argument("--max-order", type=_int_at_least(0, "--max-order"), default=2,
                     help="depth of the scattering cascade (default: %(default)s)")
    net.add_argument("--output", choices=("maps", "invariants"), default="maps",
                     help="equivariant maps per path, or rotation invariants (mean and power "
                          "per degree) (default: %(default)s)")
    _add_grid_options(net, "sampling the inputs are resampled onto")
    out = feat.add_argument_group("output and execution")
    out.add_argument("--format", choices=("zarr", "npz"), default="zarr",
                     help="zarr: one Zarr v3 store; npz: one OUT/<name>.npz per input "
                          "(default: %(default)s)")
    out.add_argument("--plot", action="store_true",
                     help="write Mollweide PNGs of the inputs and of feature paths to OUT_plots/")
    out.add_argument("--plot-paths", type=_index_list, metavar="I,J,...",
                     help="path indices to plot for channel 0 (default: 0,1,2,3)")
    mode = out.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="keep the complete groups of an existing store (same job, same file "
                           "checksum) and compute only the missing inputs")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing s2scatter store at OUT")
    out.add_argument("--verify", action="store_true",
                     help="with --resume: read every existing group in full first, so groups "
                          "whose data fail their checksum are recomputed too")
    out.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address (e.g. tcp://host:8786); default: serial")
    out.add_argument("--threads", type=_int_at_least(0, "--threads"),
                     help="ducc0 threads per process (default: all cores)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no per-input listing")
    _add_read_options(feat)
    feat.set_defaults(usage_parser=feat)

    tr = _subcommand(
        sub, "transform", _cmd_transform, "map file -> harmonic coefficients (.npy), or coefficients -> map",
        "--to harmonic (default for map files and real .npy arrays): read INPUT at "
        "band-limit L on SAMPLING and write its coefficients, complex, shape "
        "(C, L, 2L-1), entry [l, L-1+m]. --to map (default for complex .npy): "
        "coefficients of shape (..., L, 2L-1) -> maps on SAMPLING (real when the "
        "coefficients are conjugate-symmetric).")
    tr.add_argument("input", metavar="INPUT", help="map file, or flm .npy with --to map")
    tr.add_argument("-o", "--out", required=True, metavar="OUT.npy", help="output .npy file")
    tr.add_argument("--to", choices=("harmonic", "map"), help="direction (default: from the input, see above)")
    tr.add_argument("--L", type=_int_at_least(2, "--L"),
                    help="band-limit (required for --to harmonic; read from the array for --to map)")
    _add_grid_options(tr, "sampling scheme")
    _add_read_options(tr)
    tr.set_defaults(usage_parser=tr)

    info = _subcommand(
        sub, "info", _cmd_info, "what a feature store holds",
        "Groups, array shapes, job configuration, sources, checksums and versions "
        "of a store written by `s2scatter features` (Zarr or .npz).")
    info.add_argument("store", metavar="STORE", help="the store directory")
    info.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    info.add_argument("--verify", action="store_true",
                      help="read every array in full and check its checksums (finds changed "
                           "bytes; as much I/O as the store's size)")
    _add_train_parsers(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``s2scatter`` console script; returns the exit code.

    Ctrl-C (SIGINT) anywhere, also one that a callback swallowed, returns 130.
    """
    from s2scatter._interrupt import INTERRUPTS

    installed = INTERRUPTS.install()  # already installed when `s2scatter` runs as a command
    try:
        INTERRUPTS.end_startup()  # a Ctrl-C while s2scatter was imported: raised here
        INTERRUPTS.check()
        code = _main(argv)
        if code != 130:  # 130: already reported
            INTERRUPTS.check()
        return code
    except KeyboardInterrupt:
        print("s2scatter: interrupted", file=sys.stderr)
        return 130
    finally:
        if installed:
            INTERRUPTS.uninstall()


def _main(argv) -> int:
    import matplotlib

    from s2scatter._interrupt import INTERRUPTS

    matplotlib.use("Agg")  # files only; never open windows from the CLI
    import jax

    # Every command works in double precision (the demo reports float64
    # round-trip errors; features are stored as float64). The package is
    # imported before this line, so it must not build JAX arrays at import time.
    jax.config.update("jax_enable_x64", True)

    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else [os.fspath(a) for a in argv])
        if getattr(args, "usage_parser", None) is not None:
            _check_band_limit(args.usage_parser, args)
    except SystemExit as exc:  # --help / --version (0) and usage errors (2)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    INTERRUPTS.check()
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
