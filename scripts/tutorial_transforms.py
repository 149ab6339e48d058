"""Tutorial 3: transforms as a library.

Forward and inverse spherical-harmonic transforms on every sampling, an exact rotation,
a directional wavelet decomposition with its pictures, and the interop with healpy's
``alm`` (and pyssht's 1-D layout). Every figure of ``docs/tutorials/transforms.md`` and
the sample-position figure of ``docs/conventions.md`` is written by this script:

    python scripts/tutorial_transforms.py                    # L = 128: the committed figures
    python scripts/tutorial_transforms.py --small --out /tmp/t3   # L = 32, a few seconds (CI)

The page shows the code between the ``--8<--`` markers, so what you read is what runs.
"""

import argparse
import pathlib
import time

from _tutorial_common import shrink_pngs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "tutorials" / "figures" / "transforms",
                   help="folder for the figures (default: the docs' figure folder)")
    p.add_argument("--small", action="store_true", help="L = 32: the CI size")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    # --8<-- [start:setup]
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 throughout, as pyssht and healpy

    import numpy as np
    from matplotlib.figure import Figure

    import s2scatter
    from s2scatter import plotting, sampling, wavelets

    L = 32 if args.small else 128  # band-limit: degrees 0 <= l < L
    nside = L // 2                 # HEALPix resolution with L = 2 nside
    rng = np.random.default_rng(0)
    # --8<-- [end:setup]

    # --8<-- [start:samplings]
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    schemes = [("mw", {}), ("mwss", {}), ("dh", {}), ("gl", {}), ("healpix", {"nside": 4})]
    for k, (scheme, kw) in enumerate(schemes):
        theta, phi = sampling.grid_angles(8, sampling=scheme, **kw)  # colatitude, longitude
        lon = np.where(phi > np.pi, phi - 2 * np.pi, phi)               # Mollweide wants [-pi, pi)
        ax = fig.add_subplot(2, 3, k + 1, projection="mollweide")
        ax.scatter(lon.ravel(), np.pi / 2 - theta.ravel(), s=6, color="C0")
        ax.set_title(f'"{scheme}" {sampling.f_shape(8, sampling=scheme, **kw)}', fontsize=10)
        ax.set_xticklabels([])
        ax.set_yticklabels([])
        ax.grid(True, alpha=0.3)
    fig.suptitle("Sample positions at L = 8 (HEALPix: nside = 4); north pole at the top, phi = 0 at the centre")
    fig.savefig(args.out / "samplings.png", dpi=80)
    # --8<-- [end:samplings]

    # --8<-- [start:roundtrip]
    flm = sampling.random_flm(L, reality=True, slope=1.0, rng=rng)  # (L, 2L-1), entry [l, L-1+m]
    errors = {}
    print(f"{'sampling':9s} {'map shape':>12s}  max |flm - forward(inverse(flm))|")
    for scheme in ("mw", "mwss", "dh", "gl", "healpix"):
        kw = {"nside": nside} if scheme == "healpix" else {}
        f = s2scatter.inverse(flm, L, sampling=scheme, reality=True, **kw)
        back = s2scatter.forward(f, L, sampling=scheme, reality=True, **kw)  # HEALPix: iter=3
        errors[scheme] = float(np.max(np.abs(back - flm)))
        print(f"{scheme:9s} {str(f.shape):>12s}  {errors[scheme]:.1e}")
    # --8<-- [end:roundtrip]
    results = {"L": L, "roundtrip": errors}

    # --8<-- [start:earth]
    earth = s2scatter.io.read_map(ROOT / "data" / "earth_land_720x360.png", L=L)  # MW, band-limited at L
    f = earth.data[0]                                   # (L, 2L-1): land ~ 1, sea ~ 0
    flm = s2scatter.forward(f, L, reality=True)
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    plotting.plot_mollweide(f, L, ax=fig.add_subplot(1, 2, 1, projection="mollweide"),
                            title=f"land mask, MW, L = {L}")
    plotting.plot_power_spectrum(flm, L, ax=fig.add_subplot(1, 2, 2))
    fig.savefig(args.out / "earth_spectrum.png", dpi=80)
    # --8<-- [end:earth]

    # --8<-- [start:rotation]
    angles = (np.pi / 2, np.pi / 3, 0.0)                   # ZYZ Euler angles (alpha, beta, gamma)
    flm_rot = s2scatter.rotate(flm, L, angles)             # f'(w) = f(R^-1 w), exact in harmonic space
    f_rot = s2scatter.inverse(flm_rot, L, reality=True)
    undo = (-angles[2], -angles[1], -angles[0])            # R^-1 = R_z(-gamma) R_y(-beta) R_z(-alpha)
    err_back = np.max(np.abs(s2scatter.rotate(flm_rot, L, undo) - flm))

    def power(c):
        return np.sum(np.abs(np.asarray(c)) ** 2, axis=-1) / (2 * np.arange(L) + 1)

    err_power = np.max(np.abs(power(flm_rot) - power(flm)) / power(flm).max())
    print(f"rotation: undone to {err_back:.1e}; power spectrum unchanged to {err_power:.1e}")
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    plotting.plot_mollweide(f, L, ax=fig.add_subplot(1, 2, 1, projection="mollweide"), title="f")
    plotting.plot_mollweide(f_rot, L, ax=fig.add_subplot(1, 2, 2, projection="mollweide"),
                            title="rotate(f), (alpha, beta, gamma) = (pi/2, pi/3, 0)")
    fig.savefig(args.out / "rotation.png", dpi=80)
    # --8<-- [end:rotation]
    results["rotation"] = {"undo": float(err_back), "power": float(err_power)}

    # --8<-- [start:wavelets]
    N, J_min = 3, 2                                          # 2N-1 = 5 orientations; scales j >= 2
    bank = wavelets.filters(L, N=N, J_min=J_min)             # built once, reused by every call
    f_wav, f_scal = wavelets.analysis(f, L, N=N, J_min=J_min, reality=True, filters=bank)
    f_back = wavelets.synthesis(f_wav, f_scal, L, N=N, J_min=J_min, reality=True, filters=bank)
    err_wav = float(np.max(np.abs(f_back - f)))
    print(f"wavelets: scales j = {bank.scales.js}, band-limits L_j = {bank.scales.L_j}, "
          f"L_scal = {bank.scales.L_scal}; synthesis(analysis(f)) - f: {err_wav:.1e}")
    for j, w in zip(bank.scales.js, f_wav):
        print(f"  j = {j}: f_wav shape {w.shape}  (orientations, *f_shape(L_j))")

    panels = [(f_scal, bank.scales.L_scal, "scaling map")]
    panels += [(w[0], Lj, f"scale j = {j}, gamma = 0") for j, Lj, w in zip(bank.scales.js, bank.scales.L_j, f_wav)]
    fig = Figure(figsize=(12, 2.9 * ((len(panels) + 2) // 3)), layout="constrained")
    for k, (m, Lm, title) in enumerate(panels):
        ax = fig.add_subplot((len(panels) + 2) // 3, 3, k + 1, projection="mollweide")
        if k == 0:   # the scaling map: a smoothed copy of f
            plotting.plot_mollweide(np.asarray(m), Lm, ax=ax, title=title, colorbar=False)
        else:        # wavelet maps: signed, white is zero
            a = float(np.max(np.abs(m)))
            plotting.plot_mollweide(np.asarray(m), Lm, ax=ax, title=title, cmap="RdBu_r", colorbar=False,
                                    vmin=-a, vmax=a)
    fig.savefig(args.out / "wavelets.png", dpi=80)

    # the five orientations of one scale: each directional wavelet picks out edges at its angle
    k = len(f_wav) - 3                            # j = J_max - 2: coast lines at a visible scale
    j, Lj, w = bank.scales.js[k], bank.scales.L_j[k], np.asarray(f_wav[k])
    a = float(np.max(np.abs(w)))
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    plotting.plot_mollweide(f, L, ax=fig.add_subplot(2, 3, 1, projection="mollweide"), title="f",
                            colorbar=False)
    for n in range(w.shape[0]):
        ax = fig.add_subplot(2, 3, n + 2, projection="mollweide")
        plotting.plot_mollweide(w[n], Lj, ax=ax, cmap="RdBu_r", vmin=-a, vmax=a, colorbar=False,
                                title=f"j = {j}, gamma = {n} x 2 pi / {w.shape[0]}")
    fig.savefig(args.out / "orientations.png", dpi=80)
    # --8<-- [end:wavelets]
    results["wavelets"] = err_wav

    # --8<-- [start:kernels]
    ell = np.arange(L)
    sc = bank.scales
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    ax = fig.add_subplot()
    total = wavelets.nu_lam(ell / sc.lam ** J_min, sc.lam) ** 2
    ax.plot(ell, wavelets.nu_lam(ell / sc.lam ** J_min, sc.lam), "k", label="scaling nu(l / lam^J_min)")
    for j in sc.js:
        kappa = wavelets.kappa_lam(ell / sc.lam ** j, sc.lam)
        total = total + kappa ** 2
        ax.plot(ell, kappa, label=f"kappa(l / lam^{j})")
    ax.plot(ell, total, "k:", label="nu^2 + sum kappa^2 (admissibility: 1)")
    ax.set_xlabel("degree l")
    ax.legend(fontsize=8, ncol=2, loc="center right")
    fig.savefig(args.out / "wavelet_kernels.png", dpi=80)
    print(f"admissibility: max |nu^2 + sum_j kappa^2 - 1| = {np.max(np.abs(total - 1)):.1e}")
    # --8<-- [end:kernels]
    results["admissibility"] = float(np.max(np.abs(total - 1)))

    # --8<-- [start:healpy]
    import healpy

    flm = sampling.random_flm(L, reality=True, slope=1.0, rng=rng)
    alm = sampling.flm_to_alm(flm, L)                 # healpy's m-major 1-D layout, lmax = L - 1, m >= 0
    m_healpy = healpy.alm2map(alm, nside, lmax=L - 1)
    m_ours = s2scatter.inverse(flm, L, sampling="healpix", nside=nside, reality=True)
    err_synth = np.max(np.abs(m_healpy - m_ours))
    print(f"healpy alm2map vs inverse(sampling='healpix'): {err_synth:.1e}")

    alm_healpy = healpy.map2alm(m_healpy, lmax=L - 1, iter=3)
    flm_ours = s2scatter.forward(m_healpy, L, sampling="healpix", nside=nside, reality=True, iter=3)
    flm_healpy = sampling.alm_to_flm(alm_healpy, L, reality=True)  # m < 0 filled by conjugate symmetry
    err_anal = np.max(np.abs(flm_healpy - flm_ours))
    print(f"healpy map2alm vs forward(sampling='healpix'), iter=3: {err_anal:.1e}")

    # pyssht's 1-D layout: index l**2 + l + m
    flm_1d = sampling.flm_to_1d(flm, L)
    assert np.array_equal(sampling.flm_from_1d(flm_1d, L), flm)
    try:
        import pyssht
    except ImportError:
        print("pyssht not installed: skipping the comparison with pyssht.inverse")
    else:
        f_pyssht = pyssht.inverse(np.ascontiguousarray(flm_1d), L, Reality=True)   # MW sampling
        print(f"pyssht.inverse vs inverse: {np.max(np.abs(f_pyssht - s2scatter.inverse(flm, L, reality=True))):.1e}")
    # --8<-- [end:healpy]
    results["healpy"] = {"alm2map": float(err_synth), "map2alm": float(err_anal)}

    shrink_pngs(args.out)
    print(f"figures in {args.out} ({time.perf_counter() - t0:.1f} s)")
    return results


if __name__ == "__main__":
    main()
