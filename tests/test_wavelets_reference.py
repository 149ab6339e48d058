"""Wavelet layer against s2wav 1.0.4 (must-show 3).

Two kinds of reference:

* stored fixtures ``tests/data/s2wav_*.npz`` written by
  ``scripts/make_s2wav_fixtures.py`` (s2wav's NumPy reference transform
  ``analysis_base`` and its ``filters_directional_vectorised``), run in CI;
* a live comparison, skipped unless s2wav is importable (it needs torch).

Tolerances.  s2wav evaluates ``k_lam`` with a 300-step trapezoidal rule, so
its filters differ from the exact ones by up to ~3e-5 (absolute, filter values
are O(1)).  With ``quadrature="s2wav"`` our filters reproduce its arithmetic:
they agree to 1e-15, and the coefficients -- the same harmonic products
followed by SHTs that are exact to ~1e-15 sqrt(L) relative on both sides
(s2fft's base transforms and ours) -- agree to 1e-10 relative (measured
~2e-14; 1e-10 is the issue's bar and leaves room for other BLAS/FFT builds).
With the default exact filters the coefficients differ from s2wav's by the
filter difference: we assert the documented bound 2e-5 relative (measured
~6e-6).
"""

from __future__ import annotations

import glob
import json
import os
import warnings

import numpy as np
import pytest

from s2scatter import wavelets as W

pytestmark = pytest.mark.reference

DATA = os.path.join(os.path.dirname(__file__), "data")
FIXTURES = sorted(glob.glob(os.path.join(DATA, "s2wav_*.npz")))

FILTER_TOL = 1e-15  # identical arithmetic (quadrature="s2wav")
COEF_TOL = 1e-10  # must-show 3
EXACT_FILTER_TOL = 1e-4  # s2wav's trapezoidal k_lam vs the exact one (absolute, filters are O(1))
EXACT_COEF_TOL = 2e-5  # relative, same cause


def _load(path):
    d = np.load(path)
    return d, json.loads(str(d["meta"]))


def _args(meta):
    return dict(N=meta["N"], J_min=meta["J_min"], lam=meta["lam"], spin=meta["spin"])


def _rel(a, b, scale):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / scale)


def test_fixtures_present():
    assert len(FIXTURES) >= 8
    assert sum(os.path.getsize(p) for p in FIXTURES) < 2 * 2**20


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: os.path.basename(p)[6:-4])
def test_fixture_scales(path):
    d, meta = _load(path)
    sc = W.scales(meta["L"], lam=meta["lam"], J_min=meta["J_min"])
    assert sc.J_max == meta["J_max"]
    mr = meta["multiresolution"]
    for j, (Lj, Nj, L0j) in zip(sc.js, d["LNj"]):
        assert (sc.bandlimit(j, mr), sc.orientations(j, meta["N"], mr)) == (Lj, Nj)
        if mr:
            assert sc.ell_min_j[j - sc.J_min] == L0j
    assert sc.scal_bandlimit(mr) == int(d["L_scal"])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: os.path.basename(p)[6:-4])
def test_fixture_filters(path):
    d, meta = _load(path)
    L, J_min = meta["L"], meta["J_min"]
    fb = W.filters(L, quadrature="s2wav", **_args(meta))
    np.testing.assert_allclose(fb.psi_n[J_min:], d["psi_n"][J_min:], rtol=0, atol=FILTER_TOL)
    np.testing.assert_allclose(fb.phi, d["phi"], rtol=0, atol=FILTER_TOL)
    ex = W.filters(L, **_args(meta))
    np.testing.assert_allclose(ex.psi_n[J_min:], d["psi_n"][J_min:], rtol=0, atol=EXACT_FILTER_TOL)
    np.testing.assert_allclose(ex.phi, d["phi"], rtol=0, atol=EXACT_FILTER_TOL)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: os.path.basename(p)[6:-4])
def test_fixture_coefficients(path):
    d, meta = _load(path)
    L = meta["L"]
    kw = dict(sampling=meta["sampling"], reality=meta["reality"], multiresolution=meta["multiresolution"],
              **_args(meta))
    f = d["f"]
    scale = np.max(np.abs(f))
    n = len([k for k in d.files if k.startswith("f_wav_")])
    for quad, tol in (("s2wav", COEF_TOL), ("exact", EXACT_COEF_TOL)):
        fb = W.filters(L, quadrature=quad, **_args(meta))
        f_wav, f_scal = W.analysis(f, L, filters=fb, **kw)
        assert len(f_wav) == n
        for k, w in enumerate(f_wav):
            ref = d[f"f_wav_{k}"]
            assert w.shape == ref.shape and np.isrealobj(w) == np.isrealobj(ref)
            assert _rel(w, ref, scale) <= tol, (quad, k)
        assert f_scal.shape == d["f_scal"].shape
        assert _rel(f_scal, d["f_scal"], scale) <= tol, quad
        # s2wav's coefficients synthesise back to the input with our synthesis (s2wav filters)
        if quad == "s2wav":
            ref_wav = [d[f"f_wav_{k}"] for k in range(n)]
            assert _rel(W.synthesis(ref_wav, d["f_scal"], L, filters=fb, **kw), f, scale) <= 1e-12


def test_live_s2wav():
    """Same checks against an importable s2wav (skipped in the main environment)."""
    s2wav = pytest.importorskip("s2wav")
    import s2fft

    rng = np.random.default_rng(7)
    for L, N, J_min, lam, spin in ((16, 3, 0, 2.0, 0), (20, 2, 1, 1.5, 1), (24, 5, 0, 3.0, 0)):
        psi, phi = s2wav.filters.filters_directional_vectorised(L, N, J_min, lam, spin)
        fb = W.filters(L, N=N, J_min=J_min, lam=lam, spin=spin, quadrature="s2wav")
        np.testing.assert_allclose(fb.psi[J_min:], np.asarray(psi)[J_min:], rtol=0, atol=FILTER_TOL)
        np.testing.assert_allclose(fb.phi, np.asarray(phi), rtol=0, atol=FILTER_TOL)
        flm = rng.standard_normal((L, 2 * L - 1)) + 1j * rng.standard_normal((L, 2 * L - 1))
        ell = np.arange(L)[:, None]
        flm[(np.abs(np.arange(-(L - 1), L))[None] > ell) | (ell < abs(spin))] = 0
        with warnings.catch_warnings():  # s2fft's numpy recursions divide by zero internally
            warnings.simplefilter("ignore", RuntimeWarning)
            f = s2fft.inverse(flm, L, spin=spin, method="numpy")
            ref_wav, ref_scal = s2wav.analysis_base(f, L, N, J_min, lam, spin=spin)
        f_wav, f_scal = W.analysis(f, L, N=N, J_min=J_min, lam=lam, spin=spin, filters=fb)
        scale = np.max(np.abs(f))
        for a, b in zip(f_wav, ref_wav):
            assert _rel(a, b, scale) <= COEF_TOL
        assert _rel(f_scal, ref_scal, scale) <= COEF_TOL
