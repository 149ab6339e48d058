#!/usr/bin/env python
"""Mutation check: do the tests catch plausible one-line mistakes, layer by layer?

Each mutation below replaces one exact snippet of one line of one library file
with a plausible mistake (a dropped sign, a wrong normalisation, an off-by-one,
a forgotten option).  For every mutation the repository is copied to a
temporary directory (the working tree is never touched), the snippet is
replaced in the copy, and the layer's test files run there with
``python -m pytest -x -q`` (``PYTHONPATH`` set to the copy, so the copy's
``s2scatter`` is imported, not an installed one) under a timeout.  A failing
test run means the mutation was *caught*; a passing run, that it *survived*.

Robust to line drift: snippets are searched for, never line numbers; a
snippet that is not found (or found more often than expected) is reported as
"not applied" and left out of the rates, never a crash.  Before the
mutations, each layer's tests run once on an unmutated copy: a layer whose
tests fail unmutated is reported as such and its mutations are skipped.

Outcomes: ``caught`` (tests failed; the first failing test is recorded),
``caught (collection)`` (pytest could not even import or collect: counted as
caught, but such mutations say little), ``timeout`` (counted as caught and
listed: a hang is a failure in CI), ``survived``, ``not applied``.

Usage::

    python scripts/mutation_check.py                          # every layer
    python scripts/mutation_check.py --layer scattering --layer io
    python scripts/mutation_check.py --tests-rev 98e53ad      # another revision's tests/
    python scripts/mutation_check.py --list                   # the mutations, and whether they apply
    python scripts/mutation_check.py --only scattering:3      # one mutation (layer:index)

Writes a table to stdout and JSON to ``--json`` (default
``bench_out/mutation_check.json``).  Exit status 1 when a layer catches less
than ``--min-rate`` (default 0.9) of its applied mutations.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Mutation:
    """``original`` (one line's worth of text, found verbatim in ``file``) becomes ``replacement``."""

    layer: str
    file: str
    original: str
    replacement: str
    breaks: str
    nth: int | None = None  # 1-based occurrence when the snippet is not unique
    tests: tuple[str, ...] | None = None  # override the layer's test files


# Test files per layer, cheapest / most telling first (-x stops at the first failure).
LAYER_TESTS = {
    "sampling": ("tests/test_sampling.py", "tests/test_mw_gl.py"),
    "harmonic": ("tests/test_harmonic_reference.py", "tests/test_mw_gl.py", "tests/test_harmonic_properties.py",
                 "tests/test_wigner_rotate.py", "tests/test_wigner_d.py", "tests/test_ring_stages.py"),
    "wavelets": ("tests/test_wavelets_reference.py", "tests/test_wavelets.py"),
    "scattering": ("tests/test_scattering.py",),
    "io": ("tests/test_io.py",),
    "batch": ("tests/test_batch.py", "tests/test_cli.py"),
    "plotting": ("tests/test_plotting.py",),
}

M = Mutation
SAMP, IDX = "s2scatter/sampling/_schemes.py", "s2scatter/sampling/_indices.py"
SPH, DUCC, JAXM = "s2scatter/harmonic/_spherical.py", "s2scatter/harmonic/_ducc.py", "s2scatter/harmonic/_jax.py"
ROT, WIG, VAL = "s2scatter/harmonic/_rotate.py", "s2scatter/harmonic/_wigner.py", "s2scatter/harmonic/_validate.py"
KER, FIL, TRA = "s2scatter/wavelets/_kernels.py", "s2scatter/wavelets/_filters.py", "s2scatter/wavelets/_transforms.py"
STEPS = "s2scatter/wavelets/_steps.py"  # the steps the JAX cores and the host path share
CFG, CORE = "s2scatter/scattering/_config.py", "s2scatter/scattering/_core.py"
FUSED, SCAT = "s2scatter/scattering/_fused.py", "s2scatter/scattering/_scattering.py"
RES, READ, BASE = "s2scatter/io/_resample.py", "s2scatter/io/_readers.py", "s2scatter/io/_base.py"
PLOT = "s2scatter/plotting.py"
FILES = "s2scatter/_files.py"  # the one atomic writer plotting saves through
STORE, DRIVER, INSPECT = "s2scatter/batch/_store.py", "s2scatter/batch/_driver.py", "s2scatter/batch/_inspect.py"
LOCK, COMPUTE = "s2scatter/batch/_lock.py", "s2scatter/batch/_compute.py"
CLI, INTERRUPT = "s2scatter/cli.py", "s2scatter/_interrupt.py"

MUTATIONS = [
    # ------------------------------------------------------------------ sampling
    M("sampling", SAMP, "th = np.pi * (2 * np.arange(L) + 1) / (2 * L - 1)",
      "th = np.pi * (2 * np.arange(L) + 1) / (2 * L)", "MW ring colatitudes use the DH spacing"),
    M("sampling", SAMP, 'return 2 * L if sampling == "mwss" else 2 * L - 1',
      'return 2 * L if sampling == "dh" else 2 * L - 1', "nphi: 2L given to DH instead of MWSS"),
    M("sampling", SAMP, "w = (2.0 / L) * np.sin(th) * acc", "w = (1.0 / L) * np.sin(th) * acc",
      "DH quadrature weights halved"),
    M("sampling", SAMP, "w = 2.0 * np.sin(theta) ** 2 / dp_s2**2", "w = 2.0 * np.sin(theta) / dp_s2**2",
      "GL weights: sin(theta) instead of sin^2(theta)"),
    M("sampling", SAMP, "phi0 = np.where(shifted, np.pi / nphi, 0.0)",
      "phi0 = np.where(shifted, 2 * np.pi / nphi, 0.0)",
      "HEALPix first pixel a whole pixel east instead of half"),
    M("sampling", SAMP, "return 2.0 * rings.nphi / (12.0 * int(nside) ** 2)",
      "return rings.nphi / (12.0 * int(nside) ** 2)", "HEALPix ring weights sum to 1, not 2"),
    M("sampling", SAMP, "if abs(spin) >= L:", "if abs(spin) > L:", "spin = L accepted (off by one)"),
    M("sampling", IDX, "return m * (2 * L - 1 - m) // 2 + ell", "return m * (2 * L - m) // 2 + ell",
      "healpy alm index off by m/2"),
    M("sampling", IDX, "out[..., neg] = sign * np.conj(alm)", "out[..., neg] = sign * alm",
      "alm_to_flm: negative m without conjugation"),
    M("sampling", IDX, "return ell, index - ell * ell - ell", "return ell, index - ell * ell",
      "index_to_lm returns l + m instead of m"),
    M("sampling", IDX, "flm[:, : L - 1] = ((-1.0) ** m[:, L:] * np.conj(flm[:, L:]))[:, ::-1]",
      "flm[:, : L - 1] = (np.conj(flm[:, L:]))[:, ::-1]", "random_flm(reality=True) without (-1)^m"),
    # ------------------------------------------------------------------ harmonic
    M("harmonic", DUCC, 'g["ringfactor"] = np.full(g["theta"].size, 4 * np.pi / (12 * nside**2))',
      'g["ringfactor"] = np.full(g["theta"].size, 4 * np.pi / (12 * nside))',
      "HEALPix pixel area uses nside, not nside^2"),
    M("harmonic", DUCC, "for _ in range(spec.iter):", "for _ in range(spec.iter - 1):",
      "HEALPix forward does one Jacobi step fewer than asked", nth=1),
    M("harmonic", DUCC, "return ducc0.misc.GL_thetas(ntheta), ducc0.misc.GL_weights(ntheta, nphi)[:, None]",
      "return ducc0.misc.GL_thetas(ntheta), ducc0.misc.GL_weights(ntheta, 2 * ntheta - 1)[:, None]",
      "GL analysis weights assume nphi = 2L-1 (wrong on FFT-friendly grids)"),
    M("harmonic", DUCC, "out[:, L - 1] = G + 1j * C if spin >= 0", "out[:, L - 1] = G - 1j * C if spin >= 0",
      "(G, C) -> flm: m = 0 conjugated (host rotation, complex ducc forward)"),
    M("harmonic", JAXM, "return (-1.0) ** spin * np.sqrt((2 * ell + 1) / (4 * np.pi))",
      "return np.sqrt((2 * ell + 1) / (4 * np.pi))", "jax method drops the (-1)^s of sY_lm"),
    M("harmonic", JAXM, "sgn = jnp.asarray((-1.0) ** m, dtype=flm_half.real.dtype)",
      "sgn = jnp.asarray(np.ones(m.shape), dtype=flm_half.real.dtype)", "jax real forward: m < 0 without (-1)^m"),
    M("harmonic", JAXM, "w = 4 * np.pi / f.shape[-1]", "w = 4 * np.pi / (f.shape[-1] - 1)",
      "jax HEALPix pixel area off by one pixel"),
    M("harmonic", ROT, "pa = jnp.exp(-1j * m * alpha).astype(flm.dtype) * jnp.conj(im)",
      "pa = jnp.exp(1j * m * alpha).astype(flm.dtype) * jnp.conj(im)", "jax rotation: alpha with the wrong sign"),
    M("harmonic", ROT, "GC[c] = ducc0.sht.rotate_alm(GC[c], L - 1, g, b, a, nthreads=nt)",
      "GC[c] = ducc0.sht.rotate_alm(GC[c], L - 1, a, b, g, nthreads=nt)",
      "ducc rotation: Euler angles in the wrong order"),
    M("harmonic", ROT, "inv = _RotSpec(spec.L, (-g, -b, -a))", "inv = _RotSpec(spec.L, (-a, -b, -g))",
      "ducc rotation transpose: inverse angles in the wrong order (gradients)"),
    M("harmonic", WIG, "return (-1.0) ** n * np.sqrt(4 * np.pi * (2 * ell + 1)) / (8 * np.pi**2)",
      "return np.sqrt(4 * np.pi * (2 * ell + 1)) / (8 * np.pi**2)", "Wigner transform without (-1)^n"),
    M("harmonic", WIG, "return jnp.conj(x_n[..., ::-1]) * jnp.asarray((-1.0) ** (m + n), dtype=x_n.real.dtype)",
      "return jnp.conj(x_n[..., ::-1]) * jnp.asarray((-1.0) ** m, dtype=x_n.real.dtype)",
      "real Wigner symmetry without (-1)^n"),
    M("harmonic", VAL, "if np.isfinite(np.sum(x)):", "if not np.isnan(np.sum(x)):",
      "finiteness check lets inf through"),
    M("harmonic", SPH, "if reality and spin != 0:", "if reality and spin > 0:",
      "reality=True accepted with a negative spin"),
    # ------------------------------------------------------------------ wavelets
    M("wavelets", KER, "t = 1.0 / lam + one_plus_x / a", "t = 1.0 / lam + one_plus_x * a",
      "k_lam integrand: wrong change of variable"),
    M("wavelets", KER, "return np.sqrt(k_lam(t, lam))", "return k_lam(t, lam)", "nu_lam without the square root"),
    M("wavelets", FIL, "g = min(N - 1, el) if (N + el) % 2 else min(N - 1, el - 1)", "g = min(N - 1, el)",
      "directional weights: binomial order ignores the parity of l"),
    M("wavelets", FIL, "nu = 1.0 if N % 2 else 1j", "nu = 1.0",
      "even-N wavelets not imaginary (not real on the sphere)"),
    M("wavelets", FIL, "psi = (kappa * (np.sqrt((2 * ell + 1) / 8.0) / np.pi))[:, :, None] * s[None]",
      "psi = (kappa * (np.sqrt((2 * ell + 1) / 4.0) / np.pi))[:, :, None] * s[None]",
      "wavelet normalisation sqrt((2l+1)/4pi^2) instead of /8pi^2"),
    M("wavelets", FIL, "return Nj + (Nj + N) % 2", "return Nj", "orientations N_j without the parity fix"),
    M("wavelets", FIL, "return int(np.ceil(np.log(L) / np.log(lam)))", "return int(np.floor(np.log(L) / np.log(lam)))",
      "J_max rounded down: the finest scale is missing"),
    M("wavelets", TRA, "c = jnp.conj(psi[j, :Lj, N - Nj : N - 1 + Nj]) * (2.0 * np.pi * _ell_factor(Lj, 1.0))[:, None]",
      "c = psi[j, :Lj, N - Nj : N - 1 + Nj] * (2.0 * np.pi * _ell_factor(Lj, 1.0))[:, None]",
      "harmonic analysis without conj(Psi)"),
    M("wavelets", STEPS, "return xp.asarray(phi)[:Ls] * _root(Ls)",
      "return xp.asarray(phi)[:Ls] * ell_factor(Ls, 1.0)",
      "scaling coefficients with 4pi/(2l+1) instead of its square root"),
    M("wavelets", STEPS, "rows += [u * 2 * np.cos(n * g), -2 * np.sin(n * g)]",
      "rows += [u * 2 * np.cos(n * g), 2 * np.sin(n * g)]",
      "real gamma synthesis: wrong sign of the sine term"),
    M("wavelets", STEPS, "rows += [np.cos(n * g) / K, -u * np.sin(n * g) / K]",
      "rows += [np.cos(n * g) / K, u * np.sin(n * g) / K]", "real gamma analysis: conjugated modes"),
    # ------------------------------------------------------------------ scattering
    M("scattering", SCAT, "mean = S[..., 0, Ls - 1].real / jnp.sqrt(4 * jnp.pi)",
      "mean = S[..., 0, Ls - 1].real / (4 * jnp.pi)", "invariant mean: 1/4pi instead of 1/sqrt(4pi)"),
    M("scattering", SCAT, "power = jnp.sum(jnp.abs(S) ** 2, axis=-1) / (2 * ell + 1)",
      "power = jnp.sum(jnp.abs(S) ** 2, axis=-1) / (ell + 1)", "invariant power: wrong number of m per l"),
    M("scattering", SCAT, "nside = 1 << max(0, math.ceil(math.log2(max(1, math.ceil(Ls / 2)))))",
      "nside = 1 << max(0, math.ceil(math.log2(max(1, math.ceil(Ls / 4)))))", "HEALPix output nside too small"),
    M("scattering", SCAT, '    check_finite(f, "f")', '    pass  # check_finite(f, "f")',
      "Scattering no longer checks its input for NaN/inf (the compiled path never sees it)"),
    M("scattering", CORE, "base = int(math.ceil(((2 * config.oversampling - 1) * Lj + L_out) / 2 - 1e-9))",
      "base = int(math.ceil((Lj + L_out) / 2 - 1e-9))", "modulus grid ignores oversampling"),
    M("scattering", CORE, "base = int(math.ceil(((2 * config.oversampling - 1) * Lj + L_out) / 2 - 1e-9))",
      "base = int(math.ceil(config.oversampling * Lj - 1e-9))", "modulus grid ignores the output band-limit"),
    M("scattering", CORE, "return max(base, min(config.grid_floor, 4 * config.L), min(4 * Lj, config.L), Lj)",
      "return max(base, min(4 * Lj, config.L), Lj)", "grid_floor ignored"),
    M("scattering", CORE, "if config.grid_floor == 0:", "if config.grid_floor is None:",
      "grid_floor=0 does not switch the floors off"),
    M("scattering", CORE, "wts.append(2.0 if (config.reality and n > 0) else 1.0)", "wts.append(1.0)",
      "real input: the n < 0 orientation modes are not folded in (energy lost)"),
    M("scattering", CORE, "nu = phi * np.sqrt(4 * np.pi / (2 * ell + 1))",
      "nu = phi * np.sqrt(8 * np.pi**2 / (2 * ell + 1))",
      "scaling kernel with the wavelet normalisation"),
    M("scattering", CORE, "rows.append((-1.0) ** n * np.conj(col) * to_kappa[:Lj])",
      "rows.append((-1.0) ** n * np.conj(col))", "propagator filters not normalised to kappa"),
    M("scattering", CORE, "return jnp.abs(w) ** 2 if jnp.iscomplexobj(w) else w * w",
      "return jnp.abs(w) if jnp.iscomplexobj(w) else w * w", "jax method: |w| instead of |w|^2 for spin fields"),
    M("scattering", CORE, "return jnp.sqrt(jnp.maximum(x2, 0.0))", "return jnp.maximum(x2, 0.0)",
      "jax method: the pooled modulus without its square root"),
    M("scattering", CORE, "return max(cfg.L_scal, max(cfg.L_j(jc) for jc in child_js))",
      "return max(cfg.L_scal, min(cfg.L_j(jc) for jc in child_js))",
      "intermediate kept at the smallest child's band-limit"),
    M("scattering", DUCC, "return np.add(t[0], t[1], out=t[0])", "return t[0]",
      "ducc method: one component of each spin field dropped (N > 1)"),
    M("scattering", FUSED, "return np.multiply(w, w, out=None if keep else w) if real else (w.real**2 + w.imag**2)",
      "return np.multiply(w, w, out=None if keep else w) if real else (w.real**2 - w.imag**2)",
      "ducc method: |w|^2 wrong for complex fields (the gradient for N > 1, complex inputs)"),
    M("scattering", CFG, "return [p + (j,) for j in reversed(range(config.J_min, last))]",
      "return [p + (j,) for j in reversed(range(config.J_min, last + 1))]", "paths may repeat a scale"),
    M("scattering", CFG, "return max(int(math.ceil(math.log(self.L) / math.log(self.lam) - 1e-12)), 0)",
      "return max(int(math.floor(math.log(self.L) / math.log(self.lam) + 1e-12)), 0)",
      "J_max rounded down: the finest scale is missing"),
    # Held out: written after the scattering tests above were, and only then run against them.
    M("scattering", CORE, "out[path] = _truncate(ulm, Lu, Ls) * nu.astype(ulm.real.dtype)[:, None]",
      "out[path] = _truncate(ulm, Lu, Ls)",
      "outputs not projected onto the scaling function (the one projection of both cascades)"),
    M("scattering", CORE, "Lg = grid_L(cfg, Lj, L_next)", "Lg = grid_L(cfg, Lj)",
      "modulus grid sized for L_out = L_j whatever the next band-limit"),
    M("scattering", CORE, "nrange = range(0, config.N) if config.reality else range(-(config.N - 1), config.N)",
      "nrange = range(0, config.N)", "complex input: the n < 0 orientation modes are dropped"),
    M("scattering", CORE, "        return max(base, Lj)", "        return base",
      "grid_floor=0: the grid may be coarser than the field's own band-limit"),
    M("scattering", FUSED, "real = step.reality and n == 0", "real = n == 0",
      "ducc method, complex input: the n = 0 field synthesised as real"),
    M("scattering", FUSED, "Pbar = np.where(U > 0, Ubar / (2 * U), 0.0)", "Pbar = np.where(U > 0, Ubar / U, 0.0)",
      "ducc gradient twice too large"),
    M("scattering", SCAT, "return config.sampling, None, f_shape(Ls, sampling=config.sampling)",
      'return "mw", None, f_shape(Ls, sampling="mw")', "output maps always on MW, whatever the input's sampling"),
    # ------------------------------------------------------------------ io
    M("io", READ, "np.multiply(rgb[:, :, c], 1.0 / 255.0, out=arr[c])",
      "np.multiply(rgb[:, :, 0], 1.0 / 255.0, out=arr[c])", "every colour channel read from the red plane"),
    M("io", READ, 'maps, sampling="healpix", nside=nside, L_in=3 * nside)',
      'maps, sampling="healpix", nside=nside, L_in=2 * nside)', "HEALPix FITS analysed at 2 nside"),
    M("io", READ, 'geometry, registration, phi0 = "F1", "pixel-centred", -np.pi + np.pi / W',
      'geometry, registration, phi0 = "F1", "pixel-centred", -np.pi', "images: half-pixel longitude shift"),
    M("io", READ, 'lat, values, order = lat[::-1], values[:, ::-1], "ascending (south first, flipped)"',
      'lat, values, order = lat[::-1], values, "ascending (south first, flipped)"',
      "netCDF: latitudes flipped but not the data"),
    M("io", READ, "nest=False)", "nest=True)", "FITS maps returned in NESTED order"),
    M("io", READ, 'L = {"mw": H, "gl": H, "mwss": H - 1, "dh": H // 2}[sampling]',
      'L = {"mw": H, "gl": H, "mwss": H, "dh": H // 2}[sampling]', "MWSS arrays: band-limit off by one"),
    M("io", BASE, "data[c][miss] = float(data[c][~miss].mean())",
      "data[c][miss] = float(data[c][~np.isnan(data[c])].mean())",
      "nan='mean' averages inf / UNSEEN too"),
    M("io", BASE, "~np.isfinite(x) | ((x >= lo) & (x <= hi))", "~np.isfinite(x) | (x == lo)",
      "HEALPix UNSEEN not recognised"),
    # ------------------------------------------------------------------ batch
    # 0-7: the mutations of the single-file batch.py, retargeted to the package's modules.
    M("batch", INSPECT, 'if attrs.get("complete") is not True:', 'if attrs.get("complete") is False:',
      "groups without their completion marker count as complete (--resume skips them)", nth=1),
    M("batch", STORE, "os.replace(dst, old)", "_rmtree(dst)",
      "rewrite deletes the previous good group before the new one is in place"),
    M("batch", STORE, 'stem = _SAFE.sub("_", stem).lstrip("._-")', 'stem = _SAFE.sub("_", stem)',
      "group names may start with '.' (hidden, or taken for a temporary entry)"),
    M("batch", STORE, "while name in taken or name.lower() in {t.lower() for t in taken}:", "while name in taken:",
      "group names that differ only in case collide on case-insensitive file systems"),
    M("batch", DRIVER, 'entry.fingerprint() == state.attrs.get("sha256")',
      'bool(state.attrs.get("sha256"))', "--resume skips inputs whose file changed"),
    M("batch", DRIVER, "return 1 if (self.done or self.skipped) else 3", "return 1 if self.done else 3",
      "exit code 3 when the others were all skipped"),
    M("batch", STORE, 'for sect in ("config", "read") for k, v in want[sect].items()',
      'for sect in ("config",) for k, v in want[sect].items()', "--resume ignores changed read options"),
    M("batch", COMPUTE, "K = max(net.config.max_order, 1)", "K = net.config.max_order",
      "max_order=0: path_scales has no column"),
    # 8-: the logic of the package (issue 11 items 1-5 and 11) and the CLI's features / info handlers.
    M("batch", LOCK, "fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
      "fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)", "shared lock: two writers on one store"),
    M("batch", LOCK, 'return os.path.join(parent, f".{name}{_WORK_SUFFIX}")',
      'return os.path.join(out, f".{name}{_WORK_SUFFIX}")',
      "workspace inside the store: Zarr lists partial temporary groups"),
    M("batch", LOCK, "if os.path.lexists(root) and not os.path.isfile(os.path.join(root, _WORK_MARKER)):",
      "if os.path.lexists(root) and not os.path.isdir(root):",
      "an unmarked directory where the workspace goes is taken for it, and emptied"),
    M("batch", STORE, "if ours:", "if os.path.isdir(pdir):",
      ".tmp-* entries cleaned in a plots directory s2scatter did not write", nth=1),
    M("batch", STORE, 'return entry == "zarr.json" or os.path.isfile(os.path.join(path, "zarr.json"))',
      'return entry == "zarr.json" or os.path.isdir(path)',
      "--overwrite deletes a user's directory inside the store (any directory counts as a group)"),
    M("batch", STORE, "return os.path.realpath(text)", "return os.path.abspath(text)",
      "symbolic link in -o not resolved"),
    M("batch", STORE, "    if all_chunks:", "    if verify:",
      "chunk files checked only with verify: a group marked complete with a chunk missing"),
    M("batch", INSPECT, 'all_chunks = attrs.get("s2scatter_store", 1) != 1',
      'all_chunks = attrs.get("s2scatter_store", 1) > 2',
      "store version 2 taken for version 1: a missing chunk file not seen as damage"),
    M("batch", INSPECT, "except Exception as exc:  # noqa: BLE001 - BadZipFile",
      "except (OSError, ValueError) as exc:  # noqa: BLE001 - BadZipFile",
      "a truncated .npz (BadZipFile) crashes info and --resume"),
    M("batch", DRIVER, "taken = {name for name, state in states.items() if state.source}",
      "taken = set(states)", "a damaged group of unknown source keeps its name: the input gets '-2'"),
    M("batch", STORE, "return (ZstdCodec(), Crc32cCodec())", "return (ZstdCodec(),)",
      "chunks written without a checksum: changed bytes read back silently"),
    M("batch", STORE, 'config={"write_empty_chunks": True},', 'config={"write_empty_chunks": False},',
      "chunks of zeros not written (then a missing chunk cannot mean damage)"),
    M("batch", DRIVER, "states = scan_groups(out, fmt, verify=verify)[0]", "states = scan_groups(out, fmt)[0]",
      "--resume --verify does not read the data: groups failing their checksum are skipped"),
    M("batch", CLI, "progress=not args.quiet, verify=args.verify)", "progress=not args.quiet)",
      "features --verify ignored"),
    M("batch", CLI, "info = store_info(args.store, verify=args.verify)", "info = store_info(args.store)",
      "info --verify ignored"),
    M("batch", CLI, "return 1 if damaged else 0", "return 0", "info --json exits 0 with damaged groups", nth=1),
    M("batch", CLI, 'state = "written" if path in report.done else "skipped" if path in report.skipped',
      'state = "written" if path in report.skipped else "skipped" if path in report.done',
      "features listing: written and skipped swapped"),
    M("batch", CLI, "return 130", "return 1", "features: Ctrl-C exits 1, not 130", nth=1),
    M("batch", CLI, "if code != 130:", "if code == 130:",
      "a Ctrl-C swallowed during a command is not reported (exit 0, not 130)"),
    M("batch", INTERRUPT, "if self._strict == 0 and (self._soft == 0 or second):",
      "if self._strict == 0 and self._soft == 0:", "a second Ctrl-C does not cut a computation"),
    M("batch", DRIVER, "except Exception as exc:  # noqa: BLE001 - reported per input",
      "except BaseException as exc:  # noqa: BLE001 - reported per input",
      "Ctrl-C during an input recorded as that input's failure; the batch goes on"),
    M("batch", DRIVER, "    except OSError as exc:", "    except PermissionError as exc:",
      "an OSError other than EACCES while preparing the store is a traceback, not exit 3"),
    M("batch", DRIVER, "if thread.is_alive() or isinstance(exc, (TimeoutError, asyncio.TimeoutError)):",
      "if thread.is_alive():", "a silent non-Dask service: the timeout reported as an OSError"),
    M("batch", STORE, 'grid = ("pixel",) if attrs["output"]["sampling"] == "healpix" else ("theta", "phi")',
      'grid = ("pixel",) if attrs["output"]["sampling"] == "healpix" else ("phi", "theta")',
      "dimension names of the map axes swapped"),
    # ------------------------------------------------------------------ plotting
    M("plotting", PLOT, "return smp.thetas(L, sampling=sampling), smp.nphi(L, sampling=sampling)",
      'return smp.thetas(L, sampling="mw"), smp.nphi(L, sampling=sampling)', "rings of MW whatever the sampling"),
    M("plotting", PLOT, '"imag": np.imag', '"imag": np.real', "part='imag' draws the real part"),
    M("plotting", PLOT, "f = np.concatenate([np.full((1, nphi), f[0].mean()), f])",
      "f = np.concatenate([np.full((1, nphi), 0.0), f])", "north cap filled with 0, not the ring mean"),
    M("plotting", PLOT, "x = phi_c / (2 * np.pi / nphi)", "x = phi_c / (2 * np.pi / (nphi - 1))",
      "longitude spacing off by one sample"),
    M("plotting", PLOT, "lon_edges = np.linspace(-np.pi, np.pi, n_lon + 1)",
      "lon_edges = np.linspace(0, 2 * np.pi, n_lon + 1)",
      "longitudes 0..2pi: half the map drawn off the Mollweide axes"),
    M("plotting", PLOT, "cl = np.sum(np.abs(flm) ** 2, axis=-1) / (2 * ell + 1)",
      "cl = np.sum(np.abs(flm) ** 2, axis=-1) / (ell + 1)", "power spectrum: wrong number of m per l"),
    M("plotting", PLOT, "shown = cl > 0", "shown = cl >= 0", "zero C_l sent to the log axis"),
    M("plotting", FILES, "            os.remove(tmp)", "            pass", "failed save leaves its temporary file"),
]


# --------------------------------------------------------------------------- machinery


def _ignore(directory, names):
    skip = {".git", "__pycache__", ".pytest_cache", "bench_out", "build", "dist", ".mypy_cache", ".ruff_cache"}
    return [n for n in names if n in skip or n.endswith(".egg-info")]


def make_copy(tests_rev: str | None) -> str:
    """A fresh copy of the working tree (tests/ from ``tests_rev`` when given)."""
    tmp = tempfile.mkdtemp(prefix="s2scatter-mut-")
    dst = os.path.join(tmp, "repo")
    shutil.copytree(REPO, dst, ignore=_ignore, symlinks=True)
    if tests_rev:
        shutil.rmtree(os.path.join(dst, "tests"))
        archive = subprocess.run(["git", "-C", REPO, "archive", tests_rev, "tests"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", dst], input=archive, check=True)
    return dst


def apply(mutation: Mutation, root: str) -> str | None:
    """Apply ``mutation`` in the copy at ``root``; return None, or why it could not be applied."""
    path = os.path.join(root, mutation.file)
    if "\n" in mutation.original:
        return "snippet spans several lines"
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return "file not found"
    starts = [m.start() for m in re.finditer(re.escape(mutation.original), text)]
    if not starts:
        return "snippet not found"
    if mutation.nth is None and len(starts) > 1:
        return f"snippet found {len(starts)} times"
    if mutation.nth is not None and mutation.nth > len(starts):
        return f"snippet found {len(starts)} times, wanted occurrence {mutation.nth}"
    i = starts[(mutation.nth or 1) - 1]
    text = text[:i] + mutation.replacement + text[i + len(mutation.original):]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return None


def _env(root):
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _default_sigint():
    """In the test process: SIGINT handled as Python's default (the batch tests send real ones).

    A script started in the background of a non-interactive shell (``cmd &``, ``nohup``)
    inherits SIGINT ignored, and Python then leaves it ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_tests(root, files, timeout, keyword=None):
    """(returncode or None on timeout, seconds, first failing test or message)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *files]
    if keyword:
        cmd += ["-k", keyword]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, env=_env(root), capture_output=True, text=True, timeout=timeout,
                              start_new_session=True, preexec_fn=_default_sigint)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - start, "timeout"
    out = proc.stdout + proc.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
    detail = failed[0] if failed else (out.strip().splitlines() or [""])[-1]
    return proc.returncode, time.perf_counter() - start, detail


def check_import(root):
    env = _env(root)
    got = subprocess.run([sys.executable, "-c", "import s2scatter, os; print(os.path.realpath(s2scatter.__file__))"],
                         cwd=root, env=env, capture_output=True, text=True).stdout.strip()
    if not got.startswith(os.path.realpath(root)):
        raise SystemExit(f"the copy's s2scatter is not the one imported ({got!r}); aborting")


def one(mutation, index, tests_rev, timeout, keyword=None):
    root = make_copy(tests_rev)
    try:
        why = apply(mutation, root)
        rec = {"layer": mutation.layer, "index": index, "file": mutation.file, "original": mutation.original,
               "replacement": mutation.replacement, "breaks": mutation.breaks}
        if why:
            return {**rec, "outcome": "not applied", "detail": why, "seconds": 0.0}
        files = mutation.tests or LAYER_TESTS[mutation.layer]
        rc, secs, detail = run_tests(root, files, timeout, keyword)
        if rc is None:
            outcome = "timeout"
        elif rc == 0:
            outcome = "survived"
        elif rc == 1:
            outcome = "caught"
        else:  # 2: interrupted (collection/import error), 3/4: internal/usage errors, 5: nothing collected
            outcome = "caught (collection)" if rc == 2 else f"error (pytest exit {rc})"
        return {**rec, "outcome": outcome, "detail": detail, "seconds": round(secs, 1)}
    finally:
        shutil.rmtree(os.path.dirname(root), ignore_errors=True)


def selected(args):
    out = []
    counters: dict = {}
    for m in MUTATIONS:
        k = counters.get(m.layer, 0)
        counters[m.layer] = k + 1
        if args.layer and m.layer not in args.layer:
            continue
        if args.only and f"{m.layer}:{k}" not in args.only:
            continue
        out.append((k, m))
    return out


def table(results, baselines):
    layers = [layer for layer in LAYER_TESTS if any(r["layer"] == layer for r in results)]
    rows, summary = [], {}
    for layer in layers:
        rs = [r for r in results if r["layer"] == layer]
        applied = [r for r in rs if r["outcome"] != "not applied"]
        caught = [r for r in applied if r["outcome"] in ("caught", "caught (collection)", "timeout")]
        rate = len(caught) / len(applied) if applied else float("nan")
        summary[layer] = {"applied": len(applied), "caught": len(caught), "rate": rate,
                          "not_applied": len(rs) - len(applied),
                          "survived": [r["index"] for r in applied if r["outcome"] == "survived"],
                          "baseline": baselines.get(layer)}
        survivors = ", ".join(f"{r['index']} ({r['breaks']})" for r in applied if r["outcome"] == "survived")
        rows.append(f"{layer:<11} {len(caught):>3}/{len(applied):<3} {100 * rate:6.1f}%   "
                    f"not applied: {len(rs) - len(applied):<2} survived: {survivors or '-'}")
    applied = [r for r in results if r["outcome"] != "not applied"]
    caught = [r for r in applied if r["outcome"] in ("caught", "caught (collection)", "timeout")]
    rows.append(f"{'total':<11} {len(caught):>3}/{len(applied):<3} "
                f"{100 * len(caught) / max(len(applied), 1):6.1f}%")
    return "\n".join(rows), summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layer", action="append", choices=sorted(LAYER_TESTS), help="only these layers (repeatable)")
    p.add_argument("--only", action="append", help="only these mutations, as layer:index (repeatable)")
    p.add_argument("--tests-rev", help="run the tests/ directory of this git revision (e.g. the one before a change)")
    p.add_argument("--jobs", type=int, default=1, help="mutations run at once (default 1)")
    p.add_argument("--timeout-factor", type=float, default=4.0,
                   help="per-mutation timeout as a multiple of the layer's unmutated run (at least --min-timeout)")
    p.add_argument("--min-timeout", type=float, default=120.0)
    p.add_argument("--min-rate", type=float, default=0.9)
    p.add_argument("-k", help="pytest -k expression (while developing a test; rates then mean little)")
    p.add_argument("--list", action="store_true", help="list the mutations and whether each applies; run nothing")
    p.add_argument("--json", default=os.path.join(REPO, "bench_out", "mutation_check.json"))
    args = p.parse_args(argv)

    todo = selected(args)
    if args.list:
        root = make_copy(None)
        try:
            for k, m in todo:
                pristine = os.path.join(root, m.file)
                if not os.path.isfile(pristine):
                    why = "file not found"
                else:
                    with open(pristine, encoding="utf-8") as fh:
                        text = fh.read()
                    why = apply(m, root)
                    with open(pristine, "w", encoding="utf-8") as fh:
                        fh.write(text)
                print(f"{m.layer}:{k:<3} {m.file}: {m.breaks}" + (f"  [{why}]" if why else ""))
        finally:
            shutil.rmtree(os.path.dirname(root), ignore_errors=True)
        return 0

    layers = [layer for layer in LAYER_TESTS if any(m.layer == layer for _, m in todo)]
    baselines, timeouts = {}, {}
    root = make_copy(args.tests_rev)
    try:
        check_import(root)
        for layer in layers:
            rc, secs, detail = run_tests(root, LAYER_TESTS[layer], 1800, args.k)
            baselines[layer] = {"returncode": rc, "seconds": round(secs, 1), "detail": detail}
            timeouts[layer] = max(args.min_timeout, args.timeout_factor * secs)
            print(f"baseline {layer}: exit {rc} in {secs:.0f} s ({detail})", flush=True)
    finally:
        shutil.rmtree(os.path.dirname(root), ignore_errors=True)

    results = []
    runnable = []
    for k, m in todo:
        if baselines[m.layer]["returncode"] != 0:
            results.append({"layer": m.layer, "index": k, "file": m.file, "original": m.original,
                            "replacement": m.replacement, "breaks": m.breaks, "outcome": "not applied",
                            "detail": "layer tests fail unmutated", "seconds": 0.0})
        else:
            runnable.append((k, m))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(one, m, k, args.tests_rev, timeouts[m.layer], args.k): (k, m) for k, m in runnable}
        for fut in concurrent.futures.as_completed(futures):
            r = fut.result()
            results.append(r)
            print(f"{r['layer']}:{r['index']:<3} {r['outcome']:<20} {r['seconds']:>6.1f} s  {r['breaks']}  "
                  f"[{r['detail']}]", flush=True)
    results.sort(key=lambda r: (list(LAYER_TESTS).index(r["layer"]), r["index"]))
    text, summary = table(results, baselines)
    print()
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as fh:
        json.dump({"tests_rev": args.tests_rev, "k": args.k, "python": sys.version.split()[0], "summary": summary,
                   "results": results}, fh, indent=2)
    print(f"\nJSON: {args.json}")
    low = [layer for layer, s in summary.items() if s["applied"] and s["rate"] < args.min_rate]
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
