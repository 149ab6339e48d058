#!/usr/bin/env python
"""Regenerate the s2wav reference fixtures in ``tests/data/s2wav_*.npz``.

s2wav 1.0.4 imports torch (undeclared) and is kept out of the main
environment.  Run this script in a throwaway venv that sees the system
packages (same jax / numpy / s2fft as the main environment)::

    python -m venv --system-site-packages /tmp/s2wav-venv
    /tmp/s2wav-venv/bin/pip install torch==2.13.0          # CPU wheel
    /tmp/s2wav-venv/bin/pip install s2wav==1.0.4 --no-deps
    /tmp/s2wav-venv/bin/python scripts/make_s2wav_fixtures.py

What is stored (float64, one ``.npz`` per case, total < 2 MB):

* the input: a fixed random band-limited ``flm`` (seeded) and the map ``f``
  s2fft's numpy transform makes of it (the exact array s2wav analysed);
* s2wav's filters ``filters.filters_directional_vectorised(L, N, J_min, lam, spin)``:
  ``psi`` restricted to ``|m| < N`` (the script asserts the rest is zero), ``phi``;
* s2wav's coefficients ``s2wav.analysis_base`` (its NumPy reference
  transform, built on s2fft's base transforms; supports
  ``multiresolution=False``): ``f_wav_<k>`` for ``k = j - J_min`` and ``f_scal``;
* the s2wav scale bookkeeping ``(L_j, N_j, L0_j)`` per scale and ``L_scal``.

s2wav computes ``k_lam`` with a 300-step trapezoidal rule; its filters are
therefore reproduced by ``s2scatter.wavelets.filters(..., quadrature="s2wav")``.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")

# (name, L, N, J_min, lam, spin, sampling, reality, multiresolution)
CASES = [
    ("L16_N1_mw_real_mr", 16, 1, 0, 2.0, 0, "mw", True, True),
    ("L16_N3_mw_cplx_mr", 16, 3, 0, 2.0, 0, "mw", False, True),
    ("L16_N3_mw_real_full", 16, 3, 0, 2.0, 0, "mw", True, False),
    ("L16_N2_gl_cplx_mr_J1", 16, 2, 1, 2.0, 0, "gl", False, True),
    ("L16_N3_mw_real_mr_lam1.5_J2", 16, 3, 2, 1.5, 0, "mw", True, True),
    ("L16_N3_mw_spin2_mr", 16, 3, 0, 2.0, 2, "mw", False, True),
    ("L32_N3_mw_real_mr", 32, 3, 0, 2.0, 0, "mw", True, True),
    ("L32_N1_gl_cplx_full", 32, 1, 0, 2.0, 0, "gl", False, False),
    ("L32_N4_mw_cplx_mr_lam3", 32, 4, 1, 3.0, 0, "mw", False, True),
]


def main():
    import jax

    jax.config.update("jax_enable_x64", True)
    import s2wav
    from s2fft.base_transforms import spherical
    from s2wav import samples

    from s2scatter.sampling import random_flm

    os.makedirs(OUT, exist_ok=True)
    total = 0
    for i, (name, L, N, J_min, lam, spin, sampling, reality, mr) in enumerate(CASES):
        rng = np.random.default_rng(1000 + i)
        flm = random_flm(L, spin=spin, reality=reality, rng=rng)  # the draws the fixtures hold
        f = spherical.inverse(flm, L, spin, sampling, None, reality)
        if reality:
            f = np.real(f)
        psi, phi = s2wav.filters.filters_directional_vectorised(L, N, J_min, lam, spin)
        psi = np.asarray(psi)
        assert not np.any(psi[:, :, : L - N]) and not np.any(psi[:, :, L - 1 + N :])
        f_wav, f_scal = s2wav.analysis_base(
            f, L, N, J_min, lam, spin=spin, sampling=sampling, reality=reality, multiresolution=mr
        )
        J = samples.j_max(L, lam)
        shapes = [samples.LN_j(L, j, N, lam, mr) for j in range(J_min, J + 1)]
        arrays = {
            "flm": flm,
            "f": np.asarray(f),
            "psi_n": psi[:, :, L - N : L - 1 + N],
            "phi": np.asarray(phi),
            "f_scal": np.asarray(f_scal),
            "LNj": np.asarray(shapes),
            "L_scal": np.asarray(samples.scal_bandlimit(L, J_min, lam, mr)),
            "meta": np.asarray(json.dumps(dict(L=L, N=N, J_min=J_min, lam=lam, spin=spin, sampling=sampling,
                                               reality=reality, multiresolution=mr, J_max=J,
                                               s2wav=getattr(s2wav, "__version__", "1.0.4")))),
        }
        for k, w in enumerate(f_wav):
            w = np.asarray(w)
            arrays[f"f_wav_{k}"] = w.real if reality else w
        path = os.path.join(OUT, f"s2wav_{name}.npz")
        np.savez_compressed(path, **arrays)
        size = os.path.getsize(path)
        total += size
        print(f"{path}: {size / 1024:.0f} KiB, scales {[tuple(s) for s in shapes]}")
    print(f"total {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
