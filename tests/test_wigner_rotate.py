"""Wigner transforms on SO(3) and rotations of band-limited signals.

References: s2fft's NumPy Wigner transforms (``s2fft.wigner.forward/inverse``,
``method="numpy"``), ``pyssht.rotate_flms`` and s2fft's ``rotate_flms``; and
closed forms: a degree-2 polynomial on the sphere evaluated at rotated points,
rotation composition, per-degree power conservation.

Tolerances: all transforms here are exact (no quadrature error) for
band-limited signals, so every comparison is rounding of O(L^3) float64 sums:
measured <= 4e-14 relative to ``max|flm|`` for L = 8, hence 1e-12 (a factor >= 25;
convention errors are O(1)).  Gradients: rotations are smooth in the angles and
linear in the coefficients; ``check_grads`` tolerances of 1e-6 cover the
O(step^2) = 1e-8 truncation of central differences of the (nonlinear) angle
dependence.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

import s2scatter
from s2scatter import sampling as smp

EXACT_TOL = 1e-12  # rounding of exact float64 transforms at L <= 8 (module docstring)



def random_flm(rng, L, spin=0, reality=False):
    """Band-limited random flm: :func:`s2scatter.sampling.random_flm` with ``rng`` first."""
    return s2scatter.sampling.random_flm(L, spin=spin, reality=reality, rng=rng)


def random_flmn(rng, L, N, reality=False):
    """Random Wigner coefficients, zero for |m| > l or |n| > l.

    With ``reality`` (a real signal on SO(3)): f_{l,-m,-n} = (-1)^{m+n} conj(f_lmn).
    """
    shape = (2 * N - 1, L, 2 * L - 1)
    flmn = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    n = np.arange(-(N - 1), N)[:, None, None]
    ell = np.arange(L)[None, :, None]
    m = np.arange(-(L - 1), L)[None, None, :]
    flmn[(np.abs(m) > ell) | (np.abs(n) > ell)] = 0
    if reality:
        mirrored = (-1.0) ** (m + n) * np.conj(flmn[::-1, :, ::-1])
        lower = (n < 0) | ((n == 0) & (m < 0))  # determined by the upper half
        flmn = np.where(lower, mirrored, flmn)
        flmn[N - 1, :, L - 1] = flmn[N - 1, :, L - 1].real
    return flmn


def rel_err(a, b, scale):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / scale)


# --------------------------------------------------------------------------
# Wigner transforms: s2fft
# --------------------------------------------------------------------------
@pytest.mark.reference
@pytest.mark.parametrize("reality", [False, True])
@pytest.mark.parametrize("N", [1, 2, 4])
@pytest.mark.parametrize("method", ["ducc", "jax"])
@pytest.mark.parametrize("sampling", ["mw", "gl"])
def test_wigner_matches_s2fft(rng, sampling, method, N, reality, record_error):
    s2fft = pytest.importorskip("s2fft")
    L = 8
    flmn = random_flmn(rng, L, N, reality)
    scale = np.abs(flmn).max()
    # s2fft's Price-McEwen precomputation takes logs of 0 and divides by 0 in
    # entries it then masks: silence NumPy's floating-point warnings for these calls only.
    with np.errstate(divide="ignore", invalid="ignore"):
        f_ref = np.asarray(s2fft.wigner.inverse(flmn, L, N, sampling=sampling, reality=reality))
        flmn_ref = np.asarray(s2fft.wigner.forward(f_ref, L, N, sampling=sampling, reality=reality))

    kw = dict(sampling=sampling, reality=reality, method=method)
    f = np.asarray(s2scatter.wigner.inverse(flmn, L, N, **kw))
    assert f.shape == f_ref.shape == smp.so3_shape(L, N, sampling=sampling)
    assert np.isrealobj(f) == reality
    flmn_fwd = np.asarray(s2scatter.wigner.forward(f_ref, L, N, **kw))
    flmn_rt = np.asarray(s2scatter.wigner.forward(f, L, N, **kw))
    errs = dict(inverse=rel_err(f, f_ref, scale), forward=rel_err(flmn_fwd, flmn_ref, scale),
                round_trip=rel_err(flmn_rt, flmn, scale))
    for k, v in errs.items():
        record_error(f"err_{k}", v)
    # exact transforms on both sides: rounding only (module docstring);
    # s2fft's own gl forward carries ~4e-14 relative (measured), still well inside.
    assert errs["inverse"] <= EXACT_TOL
    assert errs["forward"] <= EXACT_TOL
    assert errs["round_trip"] <= EXACT_TOL


@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_wigner_healpix_inverse_matches_spin_transforms(rng, method):
    """HEALPix Wigner synthesis = (-1)^n spin -n syntheses combined over gamma (definition)."""
    L, N, nside = 4, 2, 2
    flmn = random_flmn(rng, L, N)
    f = np.asarray(s2scatter.wigner.inverse(flmn, L, N, sampling="healpix", nside=nside, method=method))
    assert f.shape == smp.so3_shape(L, N, sampling="healpix", nside=nside)
    gammas = smp.gammas(N)
    ell = np.arange(L)
    expected = 0
    for n in range(-(N - 1), N):
        g = flmn[N - 1 + n] * ((-1.0) ** n * np.sqrt(4 * np.pi * (2 * ell + 1)) / (8 * np.pi**2))[:, None]
        fn = np.asarray(s2scatter.inverse(g, L, spin=-n, sampling="healpix", nside=nside, method="ducc"))
        expected = expected + np.exp(1j * n * gammas)[:, None] * fn[None]
    assert rel_err(f, expected, np.abs(flmn).max()) <= EXACT_TOL


@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_wigner_batch_axes_match_loop(rng, method):
    L, N = 5, 2
    flmn = np.stack([random_flmn(rng, L, N) for _ in range(6)]).reshape((2, 3, 2 * N - 1, L, 2 * L - 1))
    f = np.asarray(s2scatter.wigner.inverse(flmn, L, N, method=method))
    back = np.asarray(s2scatter.wigner.forward(f, L, N, method=method))
    for i, j in [(0, 0), (1, 2)]:
        one = np.asarray(s2scatter.wigner.inverse(flmn[i, j], L, N, method=method))
        assert rel_err(f[i, j], one, np.abs(one).max()) <= 1e-13  # same arithmetic
    assert rel_err(back, flmn, np.abs(flmn).max()) <= EXACT_TOL  # exact round trip


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: s2scatter.wigner.inverse(np.zeros((3, 4, 7)), 4, 5), r"\bN\b"),
        (lambda: s2scatter.wigner.inverse(np.zeros((3, 4, 7)), 4, 0), r"\bN\b"),
        (lambda: s2scatter.wigner.inverse(np.zeros((1, 4, 7)), 4, 2), r"\bflmn\b"),
        (lambda: s2scatter.wigner.forward(np.zeros((1, 4, 7)), 4, 2), r"\bf\b"),
        (lambda: s2scatter.wigner.forward(np.zeros((3, 4, 7)), 4, 2, sampling="cubed"), r"\bsampling\b"),
        (lambda: s2scatter.wigner.inverse(np.full((3, 4, 7), np.nan), 4, 2), "non-finite"),
    ],
    ids=["N>L", "N<1", "flmn shape", "f shape", "sampling", "non-finite"],
)
def test_wigner_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_wigner_band_limit_warning_points_at_caller():
    L, N, nside = 7, 1, 2  # L > 3 nside
    with pytest.warns(UserWarning, match="nside") as record:
        s2scatter.wigner.inverse(np.zeros((2 * N - 1, L, 2 * L - 1), complex), L, N,
                                 sampling="healpix", nside=nside, method="ducc")
    assert record[0].filename == __file__


# --------------------------------------------------------------------------
# rotations: references
# --------------------------------------------------------------------------
ANGLES = [(0.3, 1.1, -0.7), (2.9, 2.5, 4.0), (5.5, 0.05, 1.2)]


@pytest.mark.reference
@pytest.mark.parametrize("angles", ANGLES)
@pytest.mark.parametrize("spin", [0, 2])
@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_rotate_matches_pyssht(rng, method, spin, angles, record_error):
    pyssht = pytest.importorskip("pyssht")
    L = 8
    flm = random_flm(rng, L, spin)
    ref = smp.flm_from_1d(pyssht.rotate_flms(smp.flm_to_1d(flm, L), *angles, L), L)
    out = np.asarray(s2scatter.rotate(flm, L, angles, method=method))
    err = rel_err(out, ref, np.abs(flm).max())
    record_error("err_pyssht", err)
    # exact O(L^3) rotations on both sides: rounding only (measured <= 1e-14)
    assert err <= EXACT_TOL


@pytest.mark.reference
def test_rotate_matches_s2fft(rng, record_error):
    # s2fft's rotate_flms compiles per (L, angles) with the degree loop unrolled
    # (~3 s at L = 5, ~8 s at L = 8 here): one angle triple, both spins and methods.
    rotation = pytest.importorskip("s2fft.utils.rotation")
    L = 5
    angles = ANGLES[1]
    flm = np.stack([random_flm(rng, L, 0), random_flm(rng, L, 2)])
    ref = np.stack([np.asarray(rotation.rotate_flms(jnp.asarray(x), L, angles)) for x in flm])
    worst = 0.0
    for method in ("ducc", "jax"):
        out = np.asarray(s2scatter.rotate(flm, L, angles, method=method))
        worst = max(worst, rel_err(out, ref, np.abs(flm).max()))
    record_error("err_s2fft", worst)
    # exact rotations on both sides: rounding only (measured <= 1e-14)
    assert worst <= EXACT_TOL


# --------------------------------------------------------------------------
# rotations: closed forms
# --------------------------------------------------------------------------
def _rz(t):
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _ry(t):
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def test_scipy_intrinsic_zyz_is_our_convention():
    """Rotation.from_euler('ZYZ', ...) (intrinsic, upper case) is Rz(a) Ry(b) Rz(g); 'zyz' is not."""
    a, b, g = ANGLES[0]
    R = _rz(a) @ _ry(b) @ _rz(g)
    assert np.allclose(Rotation.from_euler("ZYZ", [a, b, g]).as_matrix(), R, atol=1e-15)
    assert not np.allclose(Rotation.from_euler("zyz", [a, b, g]).as_matrix(), R, atol=1e-3)


@pytest.mark.parametrize("angles", ANGLES)
@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_rotate_matches_rotated_polynomial(rng, method, angles, record_error):
    """f'(x) = f(R^-1 x) for f(x) = a.x + (b.x)^2 (degree 2), R = Rz(alpha) Ry(beta) Rz(gamma)."""
    L = 4
    a, b = rng.standard_normal(3), rng.standard_normal(3)

    def f(x):
        return x @ a + (x @ b) ** 2

    theta, phi = smp.grid_angles(L)
    x = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1)
    flm = s2scatter.forward(f(x), L, reality=True, method=method)
    rotated = np.asarray(s2scatter.inverse(s2scatter.rotate(flm, L, angles, method=method), L, method=method))
    R = _rz(angles[0]) @ _ry(angles[1]) @ _rz(angles[2])
    expected = f(x @ R)  # rows: (R^T x)^T = (R^-1 x)^T
    err = float(np.max(np.abs(rotated - expected)))
    record_error("err_analytic", err)
    # |f| <= |a| + |b|^2 ~ 5; forward, rotate and inverse are exact at L = 4: rounding only.
    assert err <= EXACT_TOL


@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_rotate_composition(rng, method, record_error):
    """rotate(rotate(f, R1), R2) = rotate(f, R2 R1), composed ZYZ angles from scipy."""
    L = 8
    flm = random_flm(rng, L, spin=2)
    worst = 0.0
    for r1, r2 in [(ANGLES[0], ANGLES[1]), (ANGLES[2], ANGLES[0])]:
        composed = tuple((Rotation.from_euler("ZYZ", r2) * Rotation.from_euler("ZYZ", r1)).as_euler("ZYZ"))
        twice = s2scatter.rotate(s2scatter.rotate(flm, L, r1, method=method), L, r2, method=method)
        once = s2scatter.rotate(flm, L, composed, method=method)
        worst = max(worst, rel_err(twice, once, np.abs(flm).max()))
    record_error("err_composition", worst)
    # three exact rotations; scipy's angle extraction is accurate to ~1e-15
    assert worst <= EXACT_TOL


@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_rotate_inverse_and_power(rng, method):
    """R^-1 = (-gamma, -beta, -alpha) undoes R; rotation preserves the power in every degree."""
    L = 8
    flm = random_flm(rng, L)
    a, b, g = ANGLES[1]
    out = np.asarray(s2scatter.rotate(flm, L, (a, b, g), method=method))
    back = s2scatter.rotate(out, L, (-g, -b, -a), method=method)
    assert rel_err(back, flm, np.abs(flm).max()) <= EXACT_TOL
    power = np.sum(np.abs(flm) ** 2, axis=1)
    assert np.allclose(np.sum(np.abs(out) ** 2, axis=1), power, rtol=1e-13, atol=0)  # unitary per degree


def test_rotate_methods_agree_batched_jit_vmap(rng):
    L = 6
    flm = np.stack([random_flm(rng, L) for _ in range(6)]).reshape(2, 3, L, 2 * L - 1)
    angles = ANGLES[2]
    scale = np.abs(flm).max()
    ref = np.asarray(s2scatter.rotate(flm, L, angles, method="ducc"))
    for i, j in [(0, 0), (1, 2)]:  # batch axes == loop
        assert rel_err(ref[i, j], s2scatter.rotate(flm[i, j], L, angles, method="ducc"), scale) <= 1e-13
    assert rel_err(s2scatter.rotate(flm, L, angles, method="jax"), ref, scale) <= EXACT_TOL
    for method in ("ducc", "jax"):
        fn = functools.partial(s2scatter.rotate, L=L, rotation=angles, method=method)
        assert rel_err(jax.jit(fn)(flm), ref, scale) <= EXACT_TOL
        assert rel_err(jax.vmap(fn)(flm.reshape(6, L, 2 * L - 1)), ref.reshape(6, L, 2 * L - 1), scale) <= EXACT_TOL


# --------------------------------------------------------------------------
# rotations: derivatives
# --------------------------------------------------------------------------
def test_rotate_jax_differentiable_in_angles(rng):
    L = 5
    flm = jnp.asarray(random_flm(rng, L))
    h = jnp.asarray(random_flm(rng, L))

    def loss(alpha, beta, gamma):
        rot = s2scatter.rotate(flm, L, (alpha, beta, gamma), method="jax")
        return jnp.real(jnp.vdot(h, rot))

    angles = tuple(jnp.asarray(a) for a in ANGLES[0])
    # smooth in the angles; central differences with step 1e-4 are accurate to ~1e-8
    check_grads(jax.jit(loss), angles, order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)
    # d/dalpha of a rotation about z: multiplies flm by -i m
    m = jnp.arange(-(L - 1), L)
    expected = jnp.real(jnp.vdot(h, -1j * m * s2scatter.rotate(flm, L, ANGLES[0], method="jax")))
    got = jax.grad(loss, argnums=0)(*angles)
    assert abs(float(got - expected)) <= 1e-12 * float(jnp.linalg.norm(h) * jnp.linalg.norm(flm))


@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_rotate_check_grads_in_coefficients(rng, method):
    L = 5
    flm = jnp.asarray(random_flm(rng, L, spin=1))
    fn = functools.partial(s2scatter.rotate, L=L, rotation=ANGLES[1], method=method)
    # linear in flm: finite differences exact to rounding
    check_grads(fn, (flm,), order=1, modes=("fwd", "rev"), atol=1e-7, rtol=1e-7)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: s2scatter.rotate(np.zeros((4, 7)), 4, (0.1, 0.2)), r"\brotation\b"),
        (lambda: s2scatter.rotate(np.zeros((4, 7)), 4, 0.1), r"\brotation\b"),
        (lambda: s2scatter.rotate(np.zeros((4, 7)), 4, (0.1, 0.2, 0.3, 0.4)), r"\brotation\b"),
        (lambda: s2scatter.rotate(np.zeros((4, 8)), 4, (0.1, 0.2, 0.3)), r"\bflm\b"),
        (lambda: s2scatter.rotate(np.zeros((4, 7)), 0, (0.1, 0.2, 0.3)), r"\bL\b"),
        (lambda: s2scatter.rotate(np.zeros((4, 7)), 4, (0.1, 0.2, 0.3), method="fast"), r"\bmethod\b"),
        (lambda: s2scatter.rotate(np.full((4, 7), np.nan), 4, (0.1, 0.2, 0.3)), "non-finite"),
        (lambda: jax.grad(lambda a: jnp.abs(s2scatter.rotate(np.ones((4, 7)), 4, (a, 0.2, 0.3),
                                                             method="ducc")).sum())(0.1), r"\bducc\b"),
    ],
    ids=["2 angles", "scalar", "4 angles", "flm shape", "L", "method", "non-finite", "ducc traced angle"],
)
def test_rotate_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("method", ["auto", "ducc", "jax"])
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_rotate_non_finite_angle_raises_naming_it(rng, method, bad, which):
    """NaN/inf Euler angles are an error (ducc returned a finite, arbitrary result --
    the input unchanged for (inf, 0, 0) -- and jax NaN)."""
    L = 4
    flm = random_flm(rng, L)
    angles = [0.3, 1.1, -0.7]
    angles[which] = bad
    name = ("alpha", "beta", "gamma")[which]
    with pytest.raises(ValueError, match=rf"rotation angle {name} must be finite, got {name}=-?(nan|inf)"):
        s2scatter.rotate(flm, L, tuple(angles), method=method)
    with pytest.raises(ValueError, match=rf"rotation angle {name} must be finite"):
        s2scatter.rotate(flm, L, tuple(jnp.asarray(a) for a in angles), method=method)
    # finite angles, however large, are still rotations: alpha + 2 pi k is alpha
    angles[which] = 0.4
    big = list(angles)
    big[which] = 0.4 + 2 * np.pi * 1000
    ref = np.asarray(s2scatter.rotate(flm, L, tuple(angles), method=method))
    out = np.asarray(s2scatter.rotate(flm, L, tuple(big), method=method))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-9)  # 2 pi k rounds to ~1e-12 rad
    assert np.abs(ref - flm).max() > 0.1  # and it did rotate
