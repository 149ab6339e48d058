"""The two-stage (Legendre stage + ring FFTs) Gauss-Legendre analysis and mw/gl
synthesis of the ``"ducc"`` method against ducc0's one-call ``analysis_2d`` /
``synthesis_2d``: same values to rounding, for spins, wide rings and in-place
layouts; and the ``"jax"`` method's HEALPix ring transforms against direct sums."""

import numpy as np
import pytest

from s2scatter.harmonic import _ducc

ducc0 = pytest.importorskip("ducc0")
sht = ducc0.sht.experimental

# Same quadrature / same sums in a different order: rounding of O(L)-term sums.
TOL = 1e-13


def _alm(rng, L, ncomp):
    n = L * (L + 1) // 2
    return rng.standard_normal((ncomp, n)) + 1j * rng.standard_normal((ncomp, n))


@pytest.mark.parametrize("sampling,L,nphi_extra", [("mw", 17, 0), ("mw", 32, 0), ("gl", 17, 0), ("gl", 32, 0),
                                                    ("gl", 24, 7)])  # gl: also a wider ring (scattering grids)
@pytest.mark.parametrize("spin", [0, 1, 2])
def test_ring_synthesis_matches_synthesis_2d(sampling, L, nphi_extra, spin):
    rng = np.random.default_rng(L + spin)
    ncomp = 1 if spin == 0 else 2
    alm = _alm(rng, L, ncomp)
    ntheta, nphi = L, 2 * L - 1 + nphi_extra
    ref = sht.synthesis_2d(alm=alm, spin=spin, lmax=L - 1, geometry=sampling.upper(), ntheta=ntheta, nphi=nphi,
                           nthreads=1)
    out = np.empty_like(ref)
    _ducc._ring_synthesis(alm, spin, L, sampling, out, 1)
    assert np.max(np.abs(out - ref)) <= TOL * np.max(np.abs(ref))


@pytest.mark.parametrize("spin", [0, 2])
def test_gl_analysis_matches_analysis_2d(spin):
    L = 21
    rng = np.random.default_rng(spin)
    maps = rng.standard_normal((1 if spin == 0 else 2, L + 3, 2 * L + 8))  # a finer GL grid than needed
    ref = sht.analysis_2d(map=maps, spin=spin, lmax=L - 1, geometry="GL", nthreads=1)
    plain = _ducc._gl_analysis(maps, spin, L, 1, alm=np.empty_like(ref), mstart=_ducc._alm_mstart(L, L))
    assert np.max(np.abs(plain - ref)) <= TOL * np.max(np.abs(ref))
    # into a larger layout through mstart: only the l < L entries change
    L_alm = L + 5
    out = np.full((maps.shape[0], L_alm * (L_alm + 1) // 2), np.nan + 0j)
    _ducc._gl_analysis(maps, spin, L, 1, alm=out, mstart=_ducc._alm_mstart(L_alm, L))
    idx = _ducc.alm_index(L_alm, L)
    assert np.max(np.abs(out[:, idx] - ref)) <= TOL * np.max(np.abs(ref))
    assert np.isnan(np.delete(out, idx, axis=1)).all()


def test_real_inverse_reads_flm_half_in_place():
    """``_synthesis_of_half`` reads m >= 0 of an (L, 2L-1) flm through mstart/lstride."""
    L = 19
    rng = np.random.default_rng(7)
    alm = _alm(rng, L, 1)
    alm[0, :L] = alm[0, :L].real
    flm = sht.alm2flm(alm, 0)
    for sampling in ("mw", "gl", "mwss", "healpix"):
        nside = 8 if sampling == "healpix" else None
        spec = _ducc.DuccSpec(L, 0, sampling, nside, True, 0)
        shape = _ducc._map_core_shape(spec)
        out = np.empty((1,) + shape)
        _ducc._synthesis_of_half(flm, spec, out)
        if sampling == "healpix":
            ref = sht.synthesis(alm=alm, spin=0, lmax=L - 1, nthreads=1, **_ducc._healpix_geom(nside))
        elif sampling == "mwss":
            ref = sht.synthesis_2d(alm=alm, spin=0, lmax=L - 1, geometry="CC", ntheta=shape[0], nphi=shape[1],
                                   nthreads=1)
        else:
            ref = sht.synthesis_2d(alm=alm, spin=0, lmax=L - 1, geometry=sampling.upper(), ntheta=shape[0],
                                   nphi=shape[1], nthreads=1)
        assert np.max(np.abs(out - ref)) <= TOL * np.max(np.abs(ref)), sampling


# --------------------------------------------------------------------------
# the "jax" method's HEALPix ring transforms (belt FFT + chirp-z cap rings)
# --------------------------------------------------------------------------
def _naive_ring_dft(f, nside, ms):
    """Per-ring sums over the pixels, straight from the definition (float64)."""
    from s2scatter.sampling import ring_info_healpix

    r = ring_info_healpix(nside)
    out = np.empty(f.shape[:-1] + (r.nphi.size, ms.size), complex)
    for i, (n, start, phi0) in enumerate(zip(r.nphi, r.ringstart, r.phi0)):
        phi = phi0 + 2 * np.pi * np.arange(n) / n
        out[..., i, :] = f[..., start : start + n] @ np.exp(-1j * np.outer(phi, ms))
    return out


# Both directions are sums of <= 4 nside unit-modulus terms, by FFTs of length
# <= 4 (nside + L): rounding ~1e-16 x log N relative to the sum of |terms|.
@pytest.mark.parametrize("nside,L", [(1, 2), (4, 3), (4, 8), (4, 12), (8, 13)])  # L up to 3 nside: aliasing
@pytest.mark.parametrize("half", [True, False])
def test_jax_healpix_ring_transforms_match_direct_sums(nside, L, half):
    from s2scatter.harmonic import _jax

    rng = np.random.default_rng(nside * 100 + L)
    ms = _jax._ms(L, half)
    f = rng.standard_normal((2, 12 * nside**2))
    got = np.asarray(_jax._ring_analysis(f, L, "healpix", nside, ms, scaled=False))
    want = _naive_ring_dft(f, nside, ms)
    assert np.max(np.abs(got - want)) <= 1e-13 * np.max(np.abs(f)) * 4 * nside
    # synthesis is the adjoint of the (complex) analysis: <A f, g> = <f, A^H g>
    g = rng.standard_normal(want.shape) + 1j * rng.standard_normal(want.shape)
    fc = f + 1j * rng.standard_normal(f.shape)
    Af = _naive_ring_dft(fc, nside, ms)
    AHg = np.asarray(_jax._ring_synthesis(g, L, "healpix", nside, ms, real=False))
    lhs = np.vdot(g, Af)
    rhs = np.vdot(AHg, fc)
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


@pytest.mark.parametrize("sampling,L,nside", [("gl", 9, None), ("gl", 10, None), ("healpix", 8, 4),
                                               ("mw", 9, None)])  # mw: forward via GL nodes
@pytest.mark.parametrize("half", [True, False])
def test_jax_northern_kernel_matches_full_kernel(monkeypatch, sampling, L, nside, half):
    """The spin-0 Legendre stage through the northern half of the kernel (mirror rings by
    parity of l + m) gives what the full kernel gives, both directions, odd and even ring
    counts (the equator ring is its own mirror)."""
    import jax.numpy as jnp

    from s2scatter.harmonic import _jax

    rng = np.random.default_rng(L)
    ms = _jax._ms(L, half)
    flm = rng.standard_normal((2, L, ms.size)) + 1j * rng.standard_normal((2, L, ms.size))
    synth = _jax._Leg(L, 0, "gl" if sampling == "mw" else sampling, nside, half, False, "float64")
    adj = _jax._Leg(L, 0, "gl" if sampling != "healpix" else "healpix", nside, half, sampling != "healpix",
                    "float64")
    assert _jax._symmetric(synth) and _jax._symmetric(adj)
    T = len(_jax._leg_thetas(synth))
    fm = rng.standard_normal((2, T, ms.size)) + 1j * rng.standard_normal((2, T, ms.size))
    got = (np.asarray(_jax._leg_synth(jnp.asarray(flm), synth)), np.asarray(_jax._leg_adj(jnp.asarray(fm), adj)))
    monkeypatch.setattr(_jax, "_symmetric", lambda leg: False)
    _jax._kernel.cache_clear()
    try:
        want = (np.asarray(_jax._leg_synth(jnp.asarray(flm), synth)), np.asarray(_jax._leg_adj(jnp.asarray(fm), adj)))
    finally:
        _jax._kernel.cache_clear()
    for g, w in zip(got, want):
        assert np.max(np.abs(g - w)) <= TOL * np.max(np.abs(w))


def test_jax_kernel_cache_is_bounded_by_twice_the_budget():
    """Built kernels are cached up to twice the kernel budget in all, least recently used
    out first; a cached kernel is returned as is."""
    from s2scatter.harmonic import _jax

    old = _jax.get_kernel_budget()
    legs = [_jax._Leg(L, 0, "gl", None, True, False, "float64") for L in (8, 9, 10)]
    sizes = [_jax._kernel_bytes(leg) for leg in legs]
    _jax._kernel.cache_clear()
    try:
        _jax.set_kernel_budget((sizes[1] + sizes[2]) // 2)  # room for the last two, not all three
        first = _jax._kernel(legs[0])
        assert _jax._kernel(legs[0]) is first
        _jax._kernel(legs[1])
        _jax._kernel(legs[2])
        cached = list(_jax._KERNELS)
        assert cached == [legs[1], legs[2]]
        assert sum(k.nbytes for k in _jax._KERNELS.values()) <= 2 * _jax.get_kernel_budget()
    finally:
        _jax.set_kernel_budget(old)
        _jax._kernel.cache_clear()
