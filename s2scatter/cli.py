"""Command-line interface: ``s2scatter <command> [options]``.

Commands:
    demo    build a band-limited random map, run a forward and inverse
            spherical-harmonic transform on MW sampling, write plots and the
            coefficients, and print the round-trip error.

Exit codes: 0 success, 1 failure (including a round-trip error above
tolerance), 2 usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

__all__ = ["main", "build_parser", "run_demo", "DemoResult"]

# Relative round-trip error above which `demo` reports failure. Double
# precision transforms reach ~1e-13 at L=128 (and s2fft's pure-JAX path still
# ~1e-10 at L=1024); single precision ~1e-6.
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


def _random_flm(L: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian coefficients of a real field with red spectrum C_l = (l+1)^-2.

    Shape ``(L, 2L-1)``, entry ``[l, L-1+m]``; zero for |m| > l; satisfies
    f_{l,-m} = (-1)^m conj(f_{lm}) so that the map is real.
    """
    ell = np.arange(L)[:, None]
    m = np.arange(1, L)[None, :]
    cl = (ell + 1.0) ** -2.0
    flm = np.zeros((L, 2 * L - 1), dtype=np.complex128)
    flm[:, L - 1] = rng.standard_normal(L) * np.sqrt(cl[:, 0])
    pos = (rng.standard_normal((L, L - 1)) + 1j * rng.standard_normal((L, L - 1)))
    pos *= np.sqrt(cl / 2) * (m <= ell)
    flm[:, L:] = pos
    flm[:, : L - 1] = ((-1.0) ** m * np.conj(pos))[:, ::-1]
    return flm


def _save_npy(path: str, array: np.ndarray) -> None:
    from s2scatter.plotting import _atomic_path

    with _atomic_path(path) as tmp, open(tmp, "wb") as fh:
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

    flm_true = _random_flm(L, np.random.default_rng(seed))
    start = time.perf_counter()
    f = np.asarray(s2scatter.inverse(flm_true, L, **opts))
    flm = np.asarray(s2scatter.forward(f, L, **opts))
    f_back = np.asarray(s2scatter.inverse(flm, L, **opts))
    seconds = time.perf_counter() - start

    flm_error = float(np.max(np.abs(flm - flm_true)) / np.max(np.abs(flm_true)))
    map_error = float(np.max(np.abs(f_back - f)) / np.max(np.abs(f)))

    paths = {name: os.path.join(output, name)
             for name in ("map.png", "power_spectrum.png", "flm.npy")}
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
        print(f"s2scatter demo: error: {args.output!r} exists and is not a directory",
              file=sys.stderr)
        return 1
    try:
        result = run_demo(args.output, L=args.L, method=args.method, seed=args.seed)
    except (OSError, ValueError) as exc:
        print(f"s2scatter demo: error: {exc}", file=sys.stderr)
        return 1

    tol = _TOLERANCE.get(np.dtype(result.dtype), 1e-8)
    print(f"L = {args.L}, sampling = mw, method = {args.method}, "
          f"dtype = {np.dtype(result.dtype).name}")
    print(f"round-trip error (max relative): flm {result.flm_error:.3e}, "
          f"map {result.map_error:.3e}  (tolerance {tol:.0e})")
    print(f"3 transforms in {result.seconds:.3f} s (including any compilation)")
    print("wrote:")
    for path in (result.map_png, result.power_spectrum_png, result.flm_npy):
        print(f"  {os.path.abspath(path)}")
    if not max(result.flm_error, result.map_error) <= tol:  # also catches NaN
        print("s2scatter demo: error: round-trip error above tolerance",
              file=sys.stderr)
        return 1
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"L must be at least 2, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``s2scatter``."""
    from s2scatter._version import __version__

    parser = argparse.ArgumentParser(
        prog="s2scatter",
        description="Transforms, wavelets and scattering on the sphere.",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    demo = sub.add_parser(
        "demo",
        help="forward/inverse SHT round trip of a random map, with plots",
        description=(
            "Build a band-limited random real map with a red spectrum, run a "
            "forward and inverse spherical-harmonic transform on MW sampling, "
            "write map.png, power_spectrum.png and flm.npy, and print the "
            "round-trip error."
        ),
    )
    demo.add_argument("-o", "--output", default="demo_out",
                      help="output directory (default: %(default)s)")
    demo.add_argument("--L", type=_positive_int, default=128,
                      help="band-limit, exclusive (default: %(default)s)")
    demo.add_argument("--method", default="auto",
                      help="transform backend: auto, ducc or jax (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0,
                      help="random seed (default: %(default)s)")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``s2scatter`` console script; returns the exit code."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never open windows from the CLI
    import jax

    # The demo reports double-precision errors. (The package is imported
    # before this line, so it must not build JAX arrays at import time.)
    jax.config.update("jax_enable_x64", True)

    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else [os.fspath(a) for a in argv])
    except SystemExit as exc:  # --help / --version (0) and usage errors (2)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
