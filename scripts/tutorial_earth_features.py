"""Tutorial 1: from an Earth / 360-degree map file to scattering features.

Reads the bundled 720 x 360 equirectangular land mask (``data/earth_land_720x360.png``)
onto MW sampling, runs the rotationally equivariant scattering network on it, draws the
input and the feature maps on Mollweide projections, computes the rotation-invariant
summaries, and checks equivariance: the features of a rotated Earth equal the rotated
features. Every figure of ``docs/tutorials/earth_features.md`` is written by this script:

    python scripts/tutorial_earth_features.py                      # L = 128: the committed figures
    python scripts/tutorial_earth_features.py --small --out /tmp/t1   # L = 32 (CI)

The page shows the code between the ``--8<--`` markers, so what you read is what runs.
"""

import argparse
import pathlib
import time

from _tutorial_common import shrink_pngs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "tutorials" / "figures" / "earth_features",
                   help="folder for the figures (default: the docs' figure folder)")
    p.add_argument("--image", type=pathlib.Path, default=ROOT / "data" / "earth_land_720x360.png",
                   help="any equirectangular image, HEALPix FITS, lat-lon netCDF or .npy map")
    p.add_argument("--small", action="store_true", help="L = 32: the CI size")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    # --8<-- [start:read]
    import jax

    jax.config.update("jax_enable_x64", True)

    import dataclasses

    import numpy as np
    from matplotlib.figure import Figure

    import s2scatter
    from s2scatter import plotting

    L = 32 if args.small else 128          # band-limit of the analysis
    m = s2scatter.io.read_map(args.image, L=L)   # any supported file; resampled onto MW at L
    print(f"read {m.source}: reader {m.meta['reader']}, channels {m.channels}, data {m.data.shape}")
    f = m.data[0]                          # one channel: (L, 2L-1), land ~ 1, sea ~ 0

    fig = Figure(figsize=(8, 4.6), layout="constrained")
    plotting.plot_mollweide(f, L, ax=fig.add_subplot(projection="mollweide"),
                            title=f"input: {args.image.name} on MW sampling, L = {L}")
    fig.savefig(args.out / "input.png", dpi=80)
    # --8<-- [end:read]

    # --8<-- [start:network]
    J_min = 3 if args.small else 4         # outputs live at L_scal = 2**J_min
    config = s2scatter.ScatteringConfig(L=L, N=3, J_min=J_min, max_order=2, output="maps")
    net = s2scatter.Scattering(config)     # builds the filter bank once
    S = np.asarray(net(f))                 # (n_paths, *f_shape(L_scal)): one map per path
    print(f"{len(net.paths)} paths, feature maps {S.shape} at L_scal = {config.L_scal}")
    for row in net.path_table():
        print(f"  channel {row['index']:2d}: order {row['order']}, scales {row['scales']}")
    # --8<-- [end:network]

    # --8<-- [start:features]
    shown = list(range(min(len(net.paths), 9)))
    fig = Figure(figsize=(12, 2.7 * ((len(shown) + 2) // 3)), layout="constrained")
    for k, c in enumerate(shown):
        ax = fig.add_subplot((len(shown) + 2) // 3, 3, k + 1, projection="mollweide")
        label = "S[()] f: mean filter" if not net.paths[c] else f"S[{net.paths[c]}] f"
        plotting.plot_mollweide(S[c], config.L_scal, ax=ax, title=label, cmap="magma", colorbar=False)
    fig.savefig(args.out / "features.png", dpi=80)
    # --8<-- [end:features]

    # --8<-- [start:invariants]
    inv_net = s2scatter.Scattering(dataclasses.replace(config, output="invariants"))
    feats = inv_net(f)                     # {"mean": (n_paths,), "power": (n_paths, L_scal)}
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    ax.bar(range(len(net.paths)), np.asarray(feats["mean"]), color="C1")
    ax.set_xlabel("channel (path)")
    ax.set_ylabel("mean of S[p] f")
    ax.set_yscale("log")
    ax = fig.add_subplot(1, 2, 2)
    for c in range(len(net.paths)):
        ax.semilogy(np.asarray(feats["power"][c]), marker=".", lw=1, label=str(net.paths[c]))
    ax.set_xlabel("degree l")
    ax.set_ylabel("power per degree of S[p] f")
    ax.legend(fontsize=6, ncol=2)
    fig.savefig(args.out / "invariants.png", dpi=80)
    # --8<-- [end:invariants]

    # --8<-- [start:rotation]
    angles = (0.6, 1.1, -0.4)              # ZYZ Euler angles of a rotation R
    flm = s2scatter.forward(f, L, reality=True)
    f_rot = s2scatter.inverse(s2scatter.rotate(flm, L, angles), L, reality=True)   # R f, exact

    def rotate_maps(maps, L_maps):         # R applied to each feature map, in harmonic space
        coeffs = s2scatter.forward(maps, L_maps, reality=True)
        return np.asarray(s2scatter.inverse(s2scatter.rotate(coeffs, L_maps, angles), L_maps, reality=True))

    S_of_rotated = np.asarray(net(f_rot))                  # S(R f)
    rotated_S = rotate_maps(S, config.L_scal)              # R S(f)
    err_maps = np.linalg.norm(S_of_rotated - rotated_S) / np.linalg.norm(S)
    feats_rot = inv_net(f_rot)
    err_mean = np.max(np.abs(feats_rot["mean"] - feats["mean"]) / np.abs(feats["mean"]))
    err_random = s2scatter.scattering.assert_equivariant(net, f, rtol=1e-2)   # a random rotation
    print(f"equivariance: |S(Rf) - R S(f)| / |S(f)| = {err_maps:.1e}; invariant means move by "
          f"{err_mean:.1e}; assert_equivariant (random R): {err_random:.1e}")

    c = len(net.paths) // 2
    fig = Figure(figsize=(12, 3.0), layout="constrained")
    lo, hi = float(S[c].min()), float(S[c].max())
    plotting.plot_mollweide(f_rot, L, ax=fig.add_subplot(1, 3, 1, projection="mollweide"),
                            title="R f", colorbar=False)
    plotting.plot_mollweide(S_of_rotated[c], config.L_scal, ax=fig.add_subplot(1, 3, 2, projection="mollweide"),
                            title=f"S[{net.paths[c]}] (R f)", cmap="magma", vmin=lo, vmax=hi, colorbar=False)
    plotting.plot_mollweide(rotated_S[c], config.L_scal, ax=fig.add_subplot(1, 3, 3, projection="mollweide"),
                            title=f"R (S[{net.paths[c]}] f)", cmap="magma", vmin=lo, vmax=hi, colorbar=False)
    fig.savefig(args.out / "rotation.png", dpi=80)
    # --8<-- [end:rotation]

    shrink_pngs(args.out)
    print(f"figures in {args.out} ({time.perf_counter() - t0:.1f} s)")
    return {"L": L, "n_paths": len(net.paths), "shape": S.shape, "L_scal": config.L_scal,
            "equivariance_maps": float(err_maps), "equivariance_mean": float(err_mean),
            "assert_equivariant": float(err_random)}


if __name__ == "__main__":
    main()
