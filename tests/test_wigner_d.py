"""Tests for s2scatter.harmonic._wigner_d (Wigner small-d functions).

References: pyssht 1.5.3 (``generate_dl``: Risbo recursion in C, layout
``[l, L-1+m, L-1+n]``; ``inverse``: spin SHT on MW/MWSS grids), closed forms and the
group / orthogonality identities of d^l.  Tolerances are stated next to each check;
they sit a few times above the errors measured on the dev box, which are given in
the comments (pyssht's own error is ~1e-14 at L = 64 and ~2.5e-14 at L = 256, as
measured against mpmath, so agreement can't be asked to be tighter than that).
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from s2scatter.harmonic import _wigner_d as wd  # noqa: E402


@pytest.fixture(scope="module")
def pyssht():
    return pytest.importorskip("pyssht")


def _blocks(d, L):
    """Yield (l, block (2l+1, 2l+1)) of a (L, 2L-1, 2L-1) array."""
    for l in range(L):
        s = slice(L - 1 - l, L + l)
        yield l, d[l, s, s]


def _identity_blocks(L):
    out = np.zeros((L, 2 * L - 1, 2 * L - 1))
    for l in range(L):
        out[l, L - 1 - l : L + l, L - 1 - l : L + l] = np.eye(2 * l + 1)
    return out


def _mw_thetas(L):
    return np.pi * (2 * np.arange(L) + 1) / (2 * L - 1)


# ---------------------------------------------------------------------------
# wigner_d_all / delta_halfpi (Risbo)
# ---------------------------------------------------------------------------


@pytest.mark.reference
@pytest.mark.parametrize("beta", [0.0, 1e-3, 0.7, np.pi / 2, 2.5, np.pi - 1e-3, np.pi])
def test_wigner_d_all_matches_pyssht(beta, pyssht):
    L = 48
    d = wd.wigner_d_all(L, beta)
    assert d.shape == (L, 2 * L - 1, 2 * L - 1) and d.dtype == np.float64
    # measured <= 3e-15
    np.testing.assert_allclose(d, pyssht.generate_dl(beta, L), rtol=0, atol=2e-14)


@pytest.mark.reference
def test_wigner_d_all_matches_pyssht_L128(pyssht):
    L = 128
    beta = 2.2
    # measured 2e-15 here; at L = 256 <= 1.6e-14 at beta = 0, 1e-3, 0.7, 3.0, pi - 1e-3
    np.testing.assert_allclose(wd.wigner_d_all(L, beta), pyssht.generate_dl(beta, L), rtol=0, atol=5e-14)


@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.parametrize("beta", [0.0, 1e-3, 0.7, 2.2, np.pi - 1e-3, np.pi])
def test_wigner_d_all_matches_pyssht_L256(beta, pyssht):
    L = 256
    np.testing.assert_allclose(wd.wigner_d_all(L, beta), pyssht.generate_dl(beta, L), rtol=0, atol=1e-13)


def test_wigner_d_all_low_degrees_closed_form():
    b = 0.83
    c, s = np.cos(b), np.sin(b)
    d = wd.wigner_d_all(3, b)
    r2 = np.sqrt(2.0)
    # d^1 in the [m, n] layout (rows m = -1, 0, 1)
    d1 = np.array(
        [
            [(1 + c) / 2, s / r2, (1 - c) / 2],
            [-s / r2, c, s / r2],
            [(1 - c) / 2, -s / r2, (1 + c) / 2],
        ]
    )
    np.testing.assert_allclose(d[1, 1:4, 1:4], d1, rtol=0, atol=1e-15)
    assert d[0, 2, 2] == 1.0
    np.testing.assert_allclose(d[2, 2, 2], (3 * c * c - 1) / 2, atol=1e-15)  # d^2_00 = P_2
    np.testing.assert_allclose(d[2, 4, 2], np.sqrt(6) / 4 * s * s, atol=1e-15)  # d^2_{20}
    assert np.all(d[1, 0] == 0) and np.all(d[1, :, 4] == 0)  # |m|, |n| > l


def test_wigner_d_all_orthogonal_and_symmetric():
    L = 64
    d = wd.wigner_d_all(L, 1.234)
    for l, blk in _blocks(d, L):
        np.testing.assert_allclose(blk @ blk.T, np.eye(2 * l + 1), rtol=0, atol=1e-14)  # ~4e-15
    m = np.arange(-(L - 1), L)
    sign = (-1.0) ** (m[:, None] - m[None, :])
    np.testing.assert_allclose(d, sign * np.swapaxes(d, 1, 2), rtol=0, atol=1e-15)  # d_mn = (-1)^{m-n} d_nm
    np.testing.assert_allclose(d, d[:, ::-1, ::-1].swapaxes(1, 2), rtol=0, atol=1e-15)  # d_mn = d_{-n,-m}


def test_wigner_d_all_group_property():
    # d(a) d(b) = d(a + b) (rotations about one axis)
    L = 40
    a, b = 0.4, 1.9
    da, db, dab = (wd.wigner_d_all(L, x) for x in (a, b, a + b))
    for l in range(L):
        s = slice(L - 1 - l, L + l)
        np.testing.assert_allclose(da[l, s, s] @ db[l, s, s], dab[l, s, s], rtol=0, atol=1e-14)


def test_wigner_d_all_poles():
    L = 32
    np.testing.assert_allclose(wd.wigner_d_all(L, 0.0), _identity_blocks(L), rtol=0, atol=1e-14)
    d = wd.wigner_d_all(L, np.pi)
    ref = np.zeros_like(d)
    for l in range(L):
        for n in range(-l, l + 1):
            ref[l, L - 1 - n, L - 1 + n] = (-1.0) ** (l - n)  # d^l_{mn}(pi) = (-1)^{l-n} delta_{m,-n}
    np.testing.assert_allclose(d, ref, rtol=0, atol=1e-14)


@pytest.mark.reference
def test_delta_halfpi(pyssht):
    L = 64
    D = wd.delta_halfpi(L)
    np.testing.assert_allclose(D, pyssht.generate_dl(np.pi / 2, L), rtol=0, atol=1e-14)  # ~2e-15
    # d^l_{mn}(beta) = i^{n-m} sum_k Delta_{km} Delta_{kn} e^{i k beta}
    L, beta = 20, 0.83
    D = D[: L, 64 - L : 64 + L - 1, 64 - L : 64 + L - 1]
    d = wd.wigner_d_all(L, beta)
    for l in range(L):
        s = slice(L - 1 - l, L + l)
        k = np.arange(-l, l + 1)
        S = np.einsum("km,kn,k->mn", D[l, s, s], D[l, s, s], np.exp(1j * k * beta))
        phase = 1j ** (k[None, :] - k[:, None])
        np.testing.assert_allclose(phase * S, d[l, s, s], rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------
# wigner_d_fixed_n (three-term recursion in l, NumPy)
# ---------------------------------------------------------------------------

_N_LIST = (0, 1, -2, 17, -60, 127, -127)
_ANGLES = np.array([1e-3, np.pi / 255, 0.7, 2.5, np.pi - 1e-3])  # incl. the MW ring nearest a pole


@pytest.fixture(scope="module")
def risbo_128():
    """Risbo values d^l_{mn}(beta) at L = 128 for n in _N_LIST: (L, 2L-1, len(_N_LIST), A)."""
    L = 128
    out = np.zeros((L, 2 * L - 1, len(_N_LIST), _ANGLES.size))
    for a, beta in enumerate(_ANGLES):
        c, s = np.cos(beta / 2), np.sin(beta / 2)
        for l, blk in wd._risbo_iter(L, c, s):
            for i, n in enumerate(_N_LIST):
                if abs(n) <= l:
                    out[l, L - 1 - l : L + l, i, a] = blk[:, l + n]
    return out


@pytest.mark.parametrize("i", range(len(_N_LIST)))
def test_fixed_n_matches_risbo(risbo_128, i):
    L, n = 128, _N_LIST[i]
    d = wd.wigner_d_fixed_n(L, n, _ANGLES)
    assert d.shape == (L, 2 * L - 1, _ANGLES.size)
    # A different algorithm (itself checked against pyssht above): measured <= 1e-14
    # (<= 3e-14 at L = 256, where the plain three-term recursion gives 3e-13 near poles)
    np.testing.assert_allclose(d, risbo_128[:, :, i], rtol=0, atol=5e-14)


@pytest.mark.reference
@pytest.mark.parametrize("beta", [1.3, 2.9])
def test_fixed_n_matches_pyssht_L256(beta, pyssht):
    L = 256
    ref = pyssht.generate_dl(beta, L)
    for n in (0, 3, -40, 200):
        d = wd.wigner_d_fixed_n(L, n, np.array([beta]))[..., 0]
        np.testing.assert_allclose(d, ref[:, :, L - 1 + n], rtol=0, atol=1e-13)  # ~2e-14


def test_fixed_n_sum_rules_L1024():
    """sum_m d^l_{mn}(t)^2 = 1 and sum_m d^l_{mn}(a) d^l_{mn}(b) = d^l_{nn}(b - a)."""
    L = 1024
    a, b = 0.3, 2.6
    theta = np.array([0.0, 1e-4, np.pi / (2 * L - 1), 0.01, a, np.pi / 2, b, b - a, np.pi - 1e-4, np.pi])
    for n in (2, -341):
        for l, d in wd.wigner_d_fixed_n_iter(L, n, theta):
            if l < abs(n):
                assert not d.any()
                continue
            # measured <= 4e-14 (plain three-term recursion: ~2e-12 near the poles)
            np.testing.assert_allclose((d * d).sum(axis=0), 1.0, rtol=0, atol=1e-12)
            if l % 64 == 0 or l == L - 1:
                lhs = d[:, 4] @ d[:, 6]
                np.testing.assert_allclose(lhs, d[L - 1 + n, 7], rtol=0, atol=1e-12)


@pytest.mark.slow
def test_fixed_n_L2048_stable():
    L = 2048
    theta = np.array([1e-5, np.pi / (2 * L - 1), 0.9, np.pi - 1e-5])
    worst = 0.0
    for l, d in wd.wigner_d_fixed_n_iter(L, -3, theta):
        if l >= 3:
            worst = max(worst, np.abs((d * d).sum(axis=0) - 1).max())
    assert worst < 1e-12  # measured 5e-14


def test_fixed_n_poles_and_zeros():
    L = 40
    d = wd.wigner_d_fixed_n(L, 5, np.array([0.0, np.pi]))
    ls = np.arange(L)
    ref0 = np.zeros((L, 2 * L - 1))
    ref0[5:, L - 1 + 5] = 1.0  # d^l_{m5}(0) = delta_{m5}
    refpi = np.zeros((L, 2 * L - 1))
    refpi[5:, L - 1 - 5] = (-1.0) ** (ls[5:] - 5)  # d^l_{m5}(pi) = (-1)^{l-5} delta_{m,-5}
    np.testing.assert_allclose(d[..., 0], ref0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(d[..., 1], refpi, rtol=0, atol=1e-14)
    assert not d[:5].any()


def test_fixed_n_unsorted_theta_and_scalar():
    L = 30
    th = np.array([2.8, 0.1, np.pi, 1.5, 0.0, 1.6])
    d = wd.wigner_d_fixed_n(L, -2, th)
    order = np.argsort(th)
    np.testing.assert_array_equal(d[..., order], wd.wigner_d_fixed_n(L, -2, th[order]))
    np.testing.assert_array_equal(wd.wigner_d_fixed_n(L, -2, 1.5), d[..., 3:4])


def test_fixed_n_tiny_values_underflow_gracefully():
    # d^l_{m0}(1e-6) for |m| ~ l spans far below 1e-308; no nan/inf, and exact zeros only
    # for values that are truly negligible.
    L = 300
    d = wd.wigner_d_fixed_n(L, 0, np.array([1e-6]))[..., 0]
    assert np.all(np.isfinite(d))
    np.testing.assert_allclose((d * d).sum(axis=1), 1.0, rtol=0, atol=1e-13)
    # d^l_{l,0} = (-1)^l sqrt((2l)!)/(2^l l!) sin^l: at l = 40, 1e-6 gives ~1e-256
    l = 40
    from math import lgamma, log

    logv = 0.5 * lgamma(2 * l + 1) - lgamma(l + 1) - l * log(2) + l * log(np.sin(1e-6))
    np.testing.assert_allclose(abs(d[l, L - 1 + l]), np.exp(logv), rtol=1e-12)


@pytest.mark.reference
@pytest.mark.parametrize("spin", [0, 1, -2, 3])
@pytest.mark.parametrize("method", ["MW", "MWSS"])
def test_spin_harmonics_match_pyssht_inverse(spin, method, pyssht):
    # sY_lm(theta, phi) = (-1)^s sqrt((2l+1)/4pi) e^{i m phi} d^l_{m,-s}(theta)
    L = 12
    rng = np.random.default_rng(1)
    flm = rng.standard_normal(L * L) + 1j * rng.standard_normal(L * L)
    for l in range(abs(spin)):
        flm[l * l : (l + 1) * (l + 1)] = 0
    f_ref = pyssht.inverse(flm, L, Spin=spin, Method=method)
    thetas, phis = pyssht.sample_positions(L, Method=method)
    d = wd.wigner_d_fixed_n(L, -spin, thetas)  # (L, 2L-1, T)
    F = np.zeros((L, 2 * L - 1), complex)  # flm in [l, L-1+m]
    for l in range(L):
        for m in range(-l, l + 1):
            F[l, L - 1 + m] = flm[pyssht.elm2ind(l, m)]
    lam = (-1.0) ** spin * np.sqrt((2 * np.arange(L) + 1) / (4 * np.pi))
    fm = np.einsum("l,lm,lmt->tm", lam, F, d)  # (T, 2L-1)
    m = np.arange(-(L - 1), L)
    f = fm @ np.exp(1j * m[:, None] * phis[None, :])
    np.testing.assert_allclose(f, f_ref, rtol=0, atol=1e-13)


@pytest.mark.reference
def test_spin0_matches_create_ylm(pyssht):
    L = 10
    th = np.array([0.0, 0.3, 1.2, 2.9, np.pi])
    ph = np.array([0.0, 0.4, 2.0, 5.0, 1.0])
    y = np.asarray(pyssht.create_ylm(th, ph, L)).reshape(L * L, -1)
    d = wd.wigner_d_fixed_n(L, 0, th)
    for l in range(L):
        for m in range(-l, l + 1):
            mine = np.sqrt((2 * l + 1) / (4 * np.pi)) * np.exp(1j * m * ph) * d[l, L - 1 + m]
            np.testing.assert_allclose(mine, y[pyssht.elm2ind(l, m)], rtol=0, atol=1e-14)


def test_input_validation():
    with pytest.raises(ValueError):
        wd.wigner_d_fixed_n(8, 8, np.array([0.1]))
    with pytest.raises(ValueError):
        wd.wigner_d_fixed_n(8, 0, np.array([-0.1]))
    with pytest.raises(ValueError):
        wd.wigner_d_fixed_n(8, 0, np.array([np.nan]))
    with pytest.raises(ValueError):
        wd.wigner_d_all(0, 0.3)
    with pytest.raises(ValueError):
        wd.wigner_d_all(4, 3.2)
    with pytest.raises(ValueError):
        wd.wigner_d_fixed_n_scan_init(8, 0, np.array([0.1]), dtype=jnp.int32)


# ---------------------------------------------------------------------------
# JAX recursion (lax.scan)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n, nonneg_m", [(0, False), (-5, True), (40, False)])
def test_scan_step_reproduces_numpy(n, nonneg_m):
    L = 48
    theta = np.concatenate([[0.0, 1e-3], _mw_thetas(L), [np.pi - 1e-3]])
    ref = wd.wigner_d_fixed_n(L, n, theta)
    if nonneg_m:
        ref = ref[:, L - 1 :]
    state = wd.wigner_d_fixed_n_scan_init(L, n, theta, nonneg_m=nonneg_m)
    _, d = jax.lax.scan(wd.wigner_d_fixed_n_step, state, jnp.arange(L))
    assert d.dtype == jnp.float64 and d.shape == ref.shape
    np.testing.assert_allclose(np.asarray(d), ref, rtol=0, atol=1e-14)  # ~5e-16


def test_scan_traced_theta():
    # theta traced under jit: starting values from jax.numpy (float64) instead of the host
    L, n = 48, 2
    theta = np.concatenate([[0.0, 1e-3], _mw_thetas(L), [np.pi - 1e-3]])
    ref = wd.wigner_d_fixed_n(L, n, theta)

    @jax.jit
    def run(th):
        st = wd.wigner_d_fixed_n_scan_init(L, n, th)
        return jax.lax.scan(wd.wigner_d_fixed_n_step, st, jnp.arange(L))[1]

    np.testing.assert_allclose(np.asarray(run(jnp.asarray(theta))), ref, rtol=0, atol=1e-13)  # ~3e-15


def test_scan_accumulation_patterns():
    """The inverse (f_m += c_l flm[l,m] d_l) and forward (per-l reduction) patterns."""
    L, s = 32, 2
    theta = _mw_thetas(L)
    T = theta.size
    rng = np.random.default_rng(0)
    flm = rng.standard_normal((L, 2 * L - 1)) + 1j * rng.standard_normal((L, 2 * L - 1))
    gm = rng.standard_normal((2 * L - 1, T)) + 1j * rng.standard_normal((2 * L - 1, T))
    q = rng.random(T)
    lam = (-1.0) ** s * np.sqrt((2 * np.arange(L) + 1) / (4 * np.pi))
    lam_j = jnp.asarray(lam)
    d = wd.wigner_d_fixed_n(L, -s, theta)  # (L, 2L-1, T)
    fm_ref = np.einsum("l,lm,lmt->mt", lam, flm, d)
    flm_ref = lam[:, None] * np.einsum("lmt,t,mt->lm", d, q, gm)

    @jax.jit
    def inverse_and_forward(flm, gm):
        # inverse: accumulate f_m(theta_t) in the carry
        def body(fm, l, d_l):
            return fm + d_l * (lam_j[l] * flm[l])[:, None], None

        fm, ys = wd.wigner_d_fixed_n_jax(L, -s, theta, body, jnp.zeros((2 * L - 1, T), flm.dtype))
        assert ys is None
        # forward: one row of flm per degree, stacked by the scan
        qg = q[None, :] * gm

        def body2(acc, l, d_l):
            return acc, lam_j[l] * jnp.sum(d_l * qg, axis=1)

        return fm, wd.wigner_d_fixed_n_jax(L, -s, theta, body2, None)[1]

    fm, flm_out = inverse_and_forward(jnp.asarray(flm), jnp.asarray(gm))
    np.testing.assert_allclose(np.asarray(fm), fm_ref, rtol=0, atol=1e-12)  # ~1e-15
    np.testing.assert_allclose(np.asarray(flm_out), flm_ref, rtol=0, atol=1e-12)

    # a prebuilt state passed as a jit argument instead of theta
    state = wd.wigner_d_fixed_n_scan_init(L, -s, theta)

    @jax.jit
    def inverse_from_state(flm, state):
        def body(fm, l, d_l):
            return fm + d_l * (lam_j[l] * flm[l])[:, None], None

        return wd.wigner_d_fixed_n_jax(L, -s, state, body, jnp.zeros((2 * L - 1, T), flm.dtype))[0]

    np.testing.assert_allclose(np.asarray(inverse_from_state(jnp.asarray(flm), state)), fm_ref, rtol=0, atol=1e-12)


def test_scan_float32():
    L = 32
    theta = np.concatenate([[0.0, 1e-3], _mw_thetas(L), [np.pi]])
    ref = wd.wigner_d_fixed_n(L, 3, theta)
    _, d = wd.wigner_d_fixed_n_jax(L, 3, theta, lambda a, l, d_l: (a, d_l), None, dtype=jnp.float32)
    assert d.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(d, np.float64), ref, rtol=0, atol=1e-5)  # ~4e-7


@pytest.mark.slow
def test_scan_float32_traced():
    L = 32
    theta = np.concatenate([[0.0, 1e-3], _mw_thetas(L), [np.pi]])
    ref = wd.wigner_d_fixed_n(L, 3, theta)

    @jax.jit
    def run(th):
        return wd.wigner_d_fixed_n_jax(L, 3, th, lambda a, l, d_l: (a, d_l), None, dtype=jnp.float32)[1]

    # traced: theta and the starting values in float32, ~5e-6
    np.testing.assert_allclose(np.asarray(run(jnp.asarray(theta, jnp.float32)), np.float64), ref, atol=1e-4)


def test_state_is_a_pytree():
    st = wd.wigner_d_fixed_n_scan_init(8, 1, np.array([0.2, 0.9]), nonneg_m=True)
    leaves, tree = jax.tree_util.tree_flatten(st)
    st2 = jax.tree_util.tree_unflatten(tree, leaves)
    assert st2.L == 8 and st2.nonneg_m and st2.d.shape == (8, 2)
