"""Tests for the L0 sampling layer (numpy only).

Node sets are checked against pyssht, ducc0 and healpy; quadrature against
exact polynomial integrals and Parseval on pyssht-synthesised maps; index
layouts against healpy.Alm / pyssht; SO(3) shapes against s2fft.

Tolerances: node formulas are closed forms evaluated in float64, so
agreement to a few ulps (1e-13 absolute on angles in [0, 2 pi]) is expected;
GL weights come from a Legendre recurrence of length L, whose rounding grows
like L * eps (1e-12 relative covers L <= 256 with margin).
"""

import numpy as np
import pytest

from s2scatter import sampling as smp

LS = [1, 2, 3, 4, 7, 8, 16, 33]
EQUIANG = ["mw", "mwss", "dh", "gl"]
PYSSHT_METHOD = {"mw": "MW", "mwss": "MWSS", "dh": "DH", "gl": "GL"}
NSIDES = [1, 2, 4, 8, 32]


def test_sampling_layer_imports_numpy_only():
    # The parent package may import jax; the sampling modules themselves must
    # import only numpy, the standard library and each other.
    import ast
    import pathlib
    import sys

    allowed = {"numpy"} | set(sys.stdlib_module_names)
    pkg = pathlib.Path(smp.__file__).parent
    files = sorted(pkg.glob("*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_public_api_is_curated():
    assert sorted(smp.__all__) == sorted(set(smp.__all__))
    for name in smp.__all__:
        assert hasattr(smp, name), name
    assert smp.SAMPLINGS == ("mw", "mwss", "dh", "gl", "healpix")


# --------------------------------------------------------------------------
# shapes and validation
# --------------------------------------------------------------------------
@pytest.mark.parametrize("L", LS)
def test_shapes(L):
    assert smp.flm_shape(L) == (L, 2 * L - 1)
    assert smp.f_shape(L) == (L, 2 * L - 1)
    assert smp.f_shape(L, sampling="mwss") == (L + 1, 2 * L)
    assert smp.f_shape(L, sampling="dh") == (2 * L, 2 * L - 1)
    assert smp.f_shape(L, sampling="gl") == (L, 2 * L - 1)
    assert smp.f_shape(L, sampling="healpix", nside=4) == (192,)
    assert smp.ntheta(L, sampling="healpix", nside=4) == 15
    for s in EQUIANG:
        assert smp.f_shape(L, sampling=s) == (
            smp.ntheta(L, sampling=s),
            smp.nphi(L, sampling=s),
        )
        assert smp.thetas(L, sampling=s).shape == (smp.ntheta(L, sampling=s),)
        assert smp.phis_equiang(L, sampling=s).shape == (smp.nphi(L, sampling=s),)


@pytest.mark.reference
@pytest.mark.parametrize("L", [1, 4, 9])
@pytest.mark.parametrize("sampling", EQUIANG)
def test_shapes_match_pyssht(L, sampling):
    pyssht = pytest.importorskip("pyssht")
    assert smp.f_shape(L, sampling=sampling) == tuple(
        pyssht.sample_shape(L, Method=PYSSHT_METHOD[sampling])
    )


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, None, "4"])
def test_validate_L_names_L(bad):
    with pytest.raises(ValueError, match="L"):
        smp.validate_L(bad)
    with pytest.raises(ValueError, match="L"):
        smp.f_shape(bad)


def test_validate_L_accepts_numpy_integers():
    assert smp.validate_L(np.int32(5)) == 5
    assert type(smp.validate_L(np.int64(5))) is int


def test_validate_spin():
    assert smp.validate_spin(0, 1) == 0
    assert smp.validate_spin(-3, 4) == -3
    for bad in (4, -4, 1.0, None):
        with pytest.raises(ValueError, match="spin"):
            smp.validate_spin(bad, 4)


@pytest.mark.parametrize("nside", [1, 2, 4, 1024, 2**20, np.int64(8)])
def test_check_nside_accepts_powers_of_two(nside):
    assert smp.check_nside(nside) == int(nside)


@pytest.mark.parametrize("bad", [0, -2, 3, 6, 12, 2.0, True, None])
def test_check_nside_rejects(bad):
    with pytest.raises(ValueError, match="nside"):
        smp.check_nside(bad)


def test_recommended_L():
    assert smp.recommended_L(16) == 48
    with pytest.raises(ValueError, match="nside"):
        smp.recommended_L(3)


def test_validate_sampling():
    for s in smp.SAMPLINGS:
        nside = 2 if s == "healpix" else None
        assert smp.validate_sampling(s, nside) == s
        assert smp.validate_sampling(s.upper(), nside) == s
    with pytest.raises(ValueError, match="sampling"):
        smp.validate_sampling("cube")
    with pytest.raises(ValueError, match="sampling"):
        smp.f_shape(4, sampling=None)
    with pytest.raises(ValueError, match="nside"):
        smp.validate_sampling("healpix")
    with pytest.raises(ValueError, match="nside"):
        smp.f_shape(4, sampling="healpix", nside=3)
    with pytest.raises(ValueError, match="nside"):
        smp.f_shape(4, sampling="mw", nside=4)


def test_healpix_has_no_uniform_phis():
    with pytest.raises(ValueError, match="sampling"):
        smp.nphi(4, sampling="healpix")
    with pytest.raises(ValueError, match="sampling"):
        smp.phis_equiang(4, sampling="healpix")


# --------------------------------------------------------------------------
# nodes
# --------------------------------------------------------------------------
@pytest.mark.parametrize("L", LS)
def test_closed_form_nodes(L):
    t = np.arange(L)
    np.testing.assert_allclose(smp.thetas(L), np.pi * (2 * t + 1) / (2 * L - 1), rtol=0, atol=1e-15)
    assert smp.thetas(L)[-1] == pytest.approx(np.pi)  # MW: last ring is the south pole
    mwss = smp.thetas(L, sampling="mwss")
    assert mwss[0] == 0.0 and mwss[-1] == pytest.approx(np.pi)
    p = np.arange(2 * L - 1)
    for s in ("mw", "dh", "gl"):
        np.testing.assert_allclose(smp.phis_equiang(L, sampling=s), 2 * np.pi * p / (2 * L - 1))
    np.testing.assert_allclose(
        smp.phis_equiang(L, sampling="mwss"), 2 * np.pi * np.arange(2 * L) / (2 * L)
    )


@pytest.mark.reference
@pytest.mark.parametrize("L", LS)
@pytest.mark.parametrize("sampling", EQUIANG)
def test_nodes_match_pyssht(L, sampling):
    pyssht = pytest.importorskip("pyssht")
    th_ref, ph_ref = pyssht.sample_positions(L, Method=PYSSHT_METHOD[sampling])
    np.testing.assert_allclose(smp.thetas(L, sampling=sampling), th_ref, rtol=0, atol=1e-13)
    # pyssht returns one phi for L=1 MW/DH/GL (2L-1 = 1), matching ours.
    np.testing.assert_allclose(smp.phis_equiang(L, sampling=sampling), ph_ref, rtol=0, atol=1e-13)
    th, ph = smp.grid_angles(L, sampling=sampling)
    th_g, ph_g = pyssht.sample_positions(L, Method=PYSSHT_METHOD[sampling], Grid=True)
    np.testing.assert_allclose(th, th_g, rtol=0, atol=1e-13)
    np.testing.assert_allclose(ph, ph_g, rtol=0, atol=1e-13)


@pytest.mark.reference
@pytest.mark.parametrize("L", [1, 2, 3, 8, 31, 64, 257])
def test_gl_nodes_and_weights_match_ducc0(L):
    ducc0 = pytest.importorskip("ducc0")
    np.testing.assert_allclose(
        smp.thetas(L, sampling="gl"), ducc0.misc.GL_thetas(L), rtol=0, atol=1e-14
    )
    # ducc0's weights include the 2 pi / nphi phi factor; ours do not.
    w_ref = ducc0.misc.GL_weights(L, 1) / (2 * np.pi)
    np.testing.assert_allclose(smp.quadrature_weights(L, sampling="gl"), w_ref, rtol=1e-12)


@pytest.mark.parametrize("L", [1, 2, 5, 20])
def test_gl_matches_numpy_leggauss(L):
    x, w = np.polynomial.legendre.leggauss(L)
    np.testing.assert_allclose(smp.thetas(L, sampling="gl"), np.arccos(x[::-1]), atol=1e-14)
    np.testing.assert_allclose(smp.quadrature_weights(L, sampling="gl"), w[::-1], rtol=1e-13)


@pytest.mark.reference
@pytest.mark.parametrize("nside", NSIDES)
def test_healpix_rings_match_healpy_and_ducc0(nside):
    hp = pytest.importorskip("healpy")
    ducc0 = pytest.importorskip("ducc0")
    rings = smp.ring_info_healpix(nside)
    nring = 4 * nside - 1
    for a in rings:
        assert a.shape == (nring,)
    assert rings.nphi.dtype.kind == "i" and rings.ringstart.dtype.kind == "i"

    startpix, ringpix, costheta, sintheta, shifted = hp.ringinfo(nside, np.arange(1, nring + 1))
    np.testing.assert_array_equal(rings.ringstart, startpix)
    np.testing.assert_array_equal(rings.nphi, ringpix)
    np.testing.assert_allclose(np.cos(rings.theta), costheta, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.sin(rings.theta), sintheta, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(rings.phi0 > 0, shifted)
    np.testing.assert_allclose(rings.phi0[shifted], np.pi / rings.nphi[shifted])

    ref = ducc0.healpix.Healpix_Base(nside, "RING").sht_info()
    np.testing.assert_allclose(rings.theta, ref["theta"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(rings.phi0, ref["phi0"], rtol=0, atol=1e-14)
    np.testing.assert_array_equal(rings.nphi, ref["nphi"].astype(np.int64))
    np.testing.assert_array_equal(rings.ringstart, ref["ringstart"].astype(np.int64))

    np.testing.assert_allclose(smp.thetas(1, sampling="healpix", nside=nside), rings.theta)
    assert rings.ringstart[-1] + rings.nphi[-1] == 12 * nside**2


@pytest.mark.reference
@pytest.mark.parametrize("nside", NSIDES)
def test_healpix_pixel_angles_match_healpy(nside):
    hp = pytest.importorskip("healpy")
    th, ph = smp.grid_angles(3 * nside, sampling="healpix", nside=nside)
    th_ref, ph_ref = hp.pix2ang(nside, np.arange(12 * nside**2))
    np.testing.assert_allclose(th, th_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(ph, ph_ref, rtol=0, atol=1e-13)


def test_cached_arrays_are_not_shared():
    th = smp.thetas(8, sampling="gl")
    th[:] = 0
    assert smp.thetas(8, sampling="gl")[0] > 0
    rings = smp.ring_info_healpix(2)
    rings.nphi[:] = 0
    assert smp.ring_info_healpix(2).nphi[0] == 4


# --------------------------------------------------------------------------
# quadrature
# --------------------------------------------------------------------------
def _cos_moment(k):
    """Exact integral of cos(theta)^k sin(theta) over [0, pi]."""
    return (1 + (-1) ** k) / (k + 1)


@pytest.mark.parametrize("L", [1, 2, 3, 8, 17, 64])
@pytest.mark.parametrize("sampling", ["gl", "dh"])
def test_weights_integrate_polynomials_exactly(L, sampling):
    # Both rules are exact for polynomials in cos(theta) of degree <= 2L-1,
    # which covers products of two band-limit-L functions (degree <= 2L-2).
    th = smp.thetas(L, sampling=sampling)
    w = smp.quadrature_weights(L, sampling=sampling)
    assert w.shape == th.shape
    for k in range(2 * L):
        # cos^k has magnitude <= 1 and sum|w| = 2; 1e-13 allows for k-fold rounding
        assert np.dot(w, np.cos(th) ** k) == pytest.approx(_cos_moment(k), abs=1e-13), k


@pytest.mark.parametrize("sampling", ["gl", "dh"])
def test_weights_integrate_y00(sampling):
    L = 6
    w = smp.quadrature_weights(L, sampling=sampling)
    n = smp.nphi(L, sampling=sampling)
    f = np.full(smp.f_shape(L, sampling=sampling), 1 / np.sqrt(4 * np.pi))  # Y_00
    integral = np.sum(w * (2 * np.pi / n) * f.sum(axis=1))
    assert integral == pytest.approx(np.sqrt(4 * np.pi), rel=1e-14)


@pytest.mark.reference
@pytest.mark.parametrize("sampling", ["gl", "dh"])
def test_weights_give_exact_forward_transform(sampling, rng):
    # f = sum flm Y_lm synthesised with pyssht.create_ylm at our nodes; the
    # quadrature flm = sum_t w_t (2 pi / nphi) sum_p f conj(Y_lm) is exact
    # because f conj(Y_lm) has theta-degree <= 2L-2 and phi frequencies
    # |m - m'| <= 2L-2 < nphi.  Rounding of an L**2-term sum: 1e-12.
    # (pyssht.inverse itself is only ~2e-11 accurate on GL/DH grids, so it is
    # not used as the synthesis reference here.)
    pyssht = pytest.importorskip("pyssht")
    L = 12
    flm = rng.standard_normal(L * L) + 1j * rng.standard_normal(L * L)
    th, ph = smp.grid_angles(L, sampling=sampling)
    ylm = pyssht.create_ylm(th, ph, L).reshape(L * L, -1)
    f = flm @ ylm
    w = smp.quadrature_weights(L, sampling=sampling)
    n = smp.nphi(L, sampling=sampling)
    pix_w = np.repeat(w * (2 * np.pi / n), n)
    np.testing.assert_allclose(np.conj(ylm) @ (pix_w * f), flm, rtol=0, atol=1e-12)
    energy = np.sum(pix_w * np.abs(f) ** 2)
    assert energy == pytest.approx(np.sum(np.abs(flm) ** 2), rel=1e-13)


@pytest.mark.parametrize("nside", [1, 4, 16])
def test_healpix_weights_are_equal_area(nside):
    rings = smp.ring_info_healpix(nside)
    w = smp.quadrature_weights(3 * nside, sampling="healpix", nside=nside)
    npix = 12 * nside**2
    np.testing.assert_allclose(w * 2 * np.pi / rings.nphi, 4 * np.pi / npix)
    assert w.sum() == pytest.approx(2.0)


@pytest.mark.parametrize("sampling", ["mw", "mwss"])
def test_mw_has_no_ring_weights(sampling):
    with pytest.raises(ValueError, match="sampling"):
        smp.quadrature_weights(8, sampling=sampling)


# --------------------------------------------------------------------------
# index layouts
# --------------------------------------------------------------------------
def _random_flm(rng, L, batch=()):
    flm = rng.standard_normal(batch + (L, 2 * L - 1)) + 1j * rng.standard_normal(
        batch + (L, 2 * L - 1)
    )
    ell = np.arange(L)[:, None]
    m = np.arange(-(L - 1), L)[None, :]
    return np.where(np.abs(m) <= ell, flm, 0)


def _real_field_flm(rng, L, batch=()):
    """flm of a real spin-0 field: flm[l,-m] = (-1)^m conj(flm[l,m]), flm[l,0] real."""
    flm = _random_flm(rng, L, batch)
    m = np.arange(-(L - 1), L)
    pos = flm[..., L - 1 :]
    pos[..., 0] = pos[..., 0].real
    flm[..., : L - 1] = ((-1.0) ** m[L:])[::-1] * np.conj(pos[..., :0:-1])
    flm[..., L - 1 :] = pos
    return flm


@pytest.mark.reference
@pytest.mark.parametrize("L", [1, 2, 5, 16])
def test_alm_layout_matches_healpy(L):
    hp = pytest.importorskip("healpy")
    ell, m = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    ell, m = ell[m <= ell], m[m <= ell]
    np.testing.assert_array_equal(
        smp.lm_to_alm_index(ell, m, L), hp.Alm.getidx(L - 1, ell, m)
    )
    assert smp.alm_size(L) == hp.Alm.getsize(L - 1)
    flm = np.zeros((L, 2 * L - 1), complex)
    flm[ell, L - 1 + m] = 10 * ell + 1j * m
    alm = smp.flm_to_alm(flm, L)
    lh, mh = hp.Alm.getlm(L - 1)
    np.testing.assert_array_equal(alm, 10 * lh + 1j * mh)


@pytest.mark.parametrize("L", [1, 2, 7, 16])
def test_alm_round_trip_real_field(L, rng):
    flm = _real_field_flm(rng, L, batch=(3, 2))
    alm = smp.flm_to_alm(flm, L)
    assert alm.shape == (3, 2, L * (L + 1) // 2)
    np.testing.assert_array_equal(smp.alm_to_flm(alm, L), flm)


def test_alm_to_flm_without_reality_leaves_negative_m_zero(rng):
    L = 5
    alm = rng.standard_normal(smp.alm_size(L)) + 1j * rng.standard_normal(smp.alm_size(L))
    flm = smp.alm_to_flm(alm, L, reality=False)
    assert np.all(flm[:, : L - 1] == 0)
    np.testing.assert_array_equal(smp.flm_to_alm(flm, L), alm)


@pytest.mark.parametrize("lmax,mmax,L", [(9, 9, 5), (9, 3, 5), (3, 3, 8), (7, 5, 8), (6, 2, 4)])
def test_alm_to_flm_of_another_lmax(rng, lmax, mmax, L):
    """An alm of (lmax, mmax) (healpy's index l + m (2 lmax + 1 - m) / 2): l < L kept,
    the rest of flm zero, m < 0 by conjugate symmetry."""
    nalm = (mmax + 1) * (2 * lmax + 2 - mmax) // 2
    alm = rng.standard_normal(nalm) + 1j * rng.standard_normal(nalm)
    flm = smp.alm_to_flm(alm, L, lmax=lmax, mmax=mmax)
    ref = np.zeros((L, 2 * L - 1), complex)
    for m in range(mmax + 1):
        for ell in range(m, min(lmax, L - 1) + 1):
            ref[ell, L - 1 + m] = alm[ell + m * (2 * lmax + 1 - m) // 2]
            if m:
                ref[ell, L - 1 - m] = (-1) ** m * np.conj(ref[ell, L - 1 + m])
    np.testing.assert_array_equal(flm, ref)
    with pytest.raises(ValueError, match="alm"):
        smp.alm_to_flm(alm[:-1], L, lmax=lmax, mmax=mmax)
    with pytest.raises(ValueError, match="lmax"):
        smp.alm_to_flm(alm, L, lmax=-1)


@pytest.mark.reference
def test_alm_matches_healpy_map2alm_of_real_field(rng):
    # Synthesising with healpy from our alm equals synthesising the full flm
    # with pyssht-equivalent conventions: checks the conjugate-symmetry sign.
    hp = pytest.importorskip("healpy")
    pyssht = pytest.importorskip("pyssht")
    L, nside = 6, 4
    flm = _real_field_flm(rng, L)
    f_hp = hp.alm2map(smp.flm_to_alm(flm, L), nside, lmax=L - 1)
    th, ph = smp.grid_angles(L, sampling="healpix", nside=nside)
    ylm = pyssht.create_ylm(th, ph, L)  # (L**2, npix), index l^2 + l + m
    f_ref = np.einsum("i,ip->p", smp.flm_to_1d(flm, L), ylm.reshape(L * L, -1))
    np.testing.assert_allclose(f_ref.imag, 0, atol=1e-12)
    np.testing.assert_allclose(f_hp, f_ref.real, atol=1e-12)


@pytest.mark.reference
@pytest.mark.parametrize("L", [1, 3, 10])
def test_1d_layout_matches_pyssht(L, rng):
    pyssht = pytest.importorskip("pyssht")
    for i in range(L * L):
        ell, m = pyssht.ind2elm(i)
        assert smp.lm_to_index(ell, m) == i
        assert tuple(int(v) for v in smp.index_to_lm(i)) == (ell, m)
    flm = _random_flm(rng, L, batch=(4,))
    f1 = smp.flm_to_1d(flm, L)
    assert f1.shape == (4, L * L)
    for i in range(L * L):
        ell, m = pyssht.ind2elm(i)
        np.testing.assert_array_equal(f1[:, i], flm[:, ell, L - 1 + m])
    np.testing.assert_array_equal(smp.flm_from_1d(f1, L), flm)


def test_index_to_lm_large():
    ell = np.array([0, 1, 1000, 46340, 10**6])
    for m in (-ell, 0 * ell, ell):
        got_l, got_m = smp.index_to_lm(smp.lm_to_index(ell, m))
        np.testing.assert_array_equal(got_l, ell)
        np.testing.assert_array_equal(got_m, m)


def test_index_conversions_preserve_dtype(rng):
    L = 4
    flm = _random_flm(rng, L).astype(np.complex64)
    assert smp.flm_to_alm(flm, L).dtype == np.complex64
    assert smp.flm_to_1d(flm, L).dtype == np.complex64
    assert smp.flm_from_1d(smp.flm_to_1d(flm, L), L).dtype == np.complex64
    assert smp.alm_to_flm(np.ones(smp.alm_size(L), np.float32), L).dtype == np.complex64


def test_index_conversions_check_shapes():
    with pytest.raises(ValueError, match="flm"):
        smp.flm_to_alm(np.zeros((4, 6)), 4)
    with pytest.raises(ValueError, match="flm"):
        smp.flm_to_1d(np.zeros(7), 4)
    with pytest.raises(ValueError, match="alm"):
        smp.alm_to_flm(np.zeros(9), 4)
    with pytest.raises(ValueError, match="flm1d"):
        smp.flm_from_1d(np.zeros(15), 4)


# --------------------------------------------------------------------------
# SO(3)
# --------------------------------------------------------------------------
@pytest.mark.reference
@pytest.mark.parametrize("L, N", [(1, 1), (4, 1), (4, 3), (8, 4)])
@pytest.mark.parametrize("sampling", EQUIANG + ["healpix"])
def test_so3_shapes_match_s2fft(L, N, sampling):
    so3_samples = pytest.importorskip("s2fft.sampling.so3_samples")
    nside = 2 if sampling == "healpix" else None
    assert smp.so3_shape(L, N, sampling=sampling, nside=nside) == tuple(
        so3_samples.f_shape(L, N, sampling, nside)
    )
    assert smp.flmn_shape(L, N) == tuple(so3_samples.flmn_shape(L, N))
    assert smp.so3_shape(L, N, sampling=sampling, nside=nside)[0] == len(smp.gammas(N))


@pytest.mark.reference
def test_flmn_layout_matches_s2fft_1d_index():
    # s2fft's 1-D Wigner index is (N-1+n) L^2 + l^2 + l + m: n leading,
    # ascending from -(N-1), then our flm layout.
    so3_samples = pytest.importorskip("s2fft.sampling.so3_samples")
    L, N = 4, 3
    flmn = np.zeros(smp.flmn_shape(L, N), complex)
    for n in range(-N + 1, N):
        for ell in range(L):
            for m in range(-ell, ell + 1):
                flmn[N - 1 + n, ell, L - 1 + m] = so3_samples.elmn2ind(ell, m, n, L, N)
    np.testing.assert_array_equal(
        so3_samples.flmn_3d_to_1d(flmn, L, N).real, np.arange((2 * N - 1) * L * L)
    )
    flat = np.concatenate([smp.flm_to_1d(flmn[k], L) for k in range(2 * N - 1)])
    np.testing.assert_array_equal(flat.real, np.arange((2 * N - 1) * L * L))


def test_so3_angles():
    np.testing.assert_allclose(smp.gammas(3), 2 * np.pi * np.arange(5) / 5)
    assert smp.gammas(1).tolist() == [0.0]
    np.testing.assert_array_equal(smp.alphas(5, sampling="dh"), smp.phis_equiang(5, sampling="dh"))
    np.testing.assert_array_equal(smp.betas(5, sampling="gl"), smp.thetas(5, sampling="gl"))
    with pytest.raises(ValueError, match="N"):
        smp.so3_shape(4, 0)
    with pytest.raises(ValueError, match="N"):
        smp.gammas(1.5)


def test_random_flm_structure():
    """Band-limit and spin zeros, conjugate symmetry for real fields, spectral slope."""
    from s2scatter.sampling import random_flm

    L = 9
    ell = np.arange(L)[:, None]
    m = np.arange(-(L - 1), L)[None, :]
    f = random_flm(L, spin=2, rng=np.random.default_rng(0))
    assert f.shape == (L, 2 * L - 1)
    assert np.all(f[(np.abs(m) > ell) | (ell < 2)] == 0)
    assert np.all(f[(np.abs(m) <= ell) & (ell >= 2)] != 0)
    r = random_flm(L, reality=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(r[:, : L - 1], ((-1.0) ** m[:, L:] * np.conj(r[:, L:]))[:, ::-1])
    assert np.all(r[:, L - 1].imag == 0)
    red = random_flm(L, reality=True, slope=1.0, rng=np.random.default_rng(0))
    np.testing.assert_allclose(red * (1.0 + ell), r, rtol=1e-15)
    with pytest.raises(ValueError, match="spin"):
        random_flm(L, spin=1, reality=True)
