"""Generalised signals: conversions, rotation, pytree behaviour (issue 12, Build 2).

The rotation of a signal must be the rotation of the function it represents:
for S^2 signals, ``s2scatter.rotate`` (pyssht's convention, tested against
pyssht elsewhere); for SO(3) signals, ``f'(g) = f(R^{-1} g)`` evaluated from the
Wigner series at random group elements (composed with scipy's rotation
matrices), the series itself checked against ``s2scatter.wigner.inverse`` on
its grid.  All exact up to float64 rounding of O(L^3) sums: 1e-12.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import s2scatter
from s2scatter import nn
from s2scatter.harmonic import wigner_D

TOL = 1e-12


def random_flmn(rng, L, N, C=1):
    shape = (C, 2 * N - 1, L, 2 * L - 1)
    x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    n = np.arange(-(N - 1), N)[:, None, None]
    ell = np.arange(L)[None, :, None]
    m = np.arange(-(L - 1), L)[None, None, :]
    x[..., (np.abs(m) > ell) | (np.abs(n) > ell)] = 0
    return x


def so3_series(flmn, L, N, g):
    """f(g) = sum (2l+1)/(8 pi^2) f^l_{mn} conj(D^l_{mn}(g)) at one group element g (ZYZ angles)."""
    D = wigner_D(L, g)  # [l, L-1+m, L-1+n]
    ns = slice(L - N, L + N - 1)
    w = (2 * np.arange(L) + 1)[:, None, None] / (8 * np.pi**2)
    # flmn [N-1+n, l, L-1+m] -> [l, m, n]
    F = np.transpose(flmn, (1, 2, 0))
    return np.sum(w * F * np.conj(D[:, :, ns]))


def test_flm_round_trip_and_shapes(rng):
    L, C = 5, 3
    flm = np.stack([s2scatter.sampling.random_flm(L, rng=rng) for _ in range(2 * C)]).reshape(2, C, L, 2 * L - 1)
    x = nn.from_flm(flm)
    assert x.spec == nn.SignalSpec.s2(L, C)
    assert x.batch_shape == (2,) and x.dtype == jnp.complex128
    assert [f.shape for f in x.fragments] == [(2, C, 1, 2 * l + 1) for l in range(L)]
    np.testing.assert_array_equal(np.asarray(nn.to_flm(x)), flm)


def test_s2_rotation_matches_s2scatter_rotate(rng):
    L = 7
    flm = np.stack([s2scatter.sampling.random_flm(L, rng=rng) for _ in range(3)])
    x = nn.from_flm(flm[None])
    for _ in range(5):
        R = tuple(rng.uniform(0, 2 * np.pi, 3))
        got = np.asarray(nn.to_flm(nn.rotate_signal(x, R)))[0]
        want = np.asarray(s2scatter.rotate(flm, L, R))
        np.testing.assert_allclose(got, want, atol=TOL)


def test_so3_series_matches_wigner_inverse(rng):
    L, N = 4, 3
    flmn = random_flmn(rng, L, N)[0]
    f = np.asarray(s2scatter.wigner.inverse(flmn, L, N))  # [gamma, beta, alpha]
    al = s2scatter.sampling.alphas(L)
    be = s2scatter.sampling.betas(L)
    ga = s2scatter.sampling.gammas(N)
    for k, j, i in [(0, 0, 0), (1, 2, 3), (4, 3, 6), (2, 1, 5)]:
        assert abs(so3_series(flmn, L, N, (al[i], be[j], ga[k])) - f[k, j, i]) < TOL * np.abs(f).max()


def test_so3_rotation_is_rotation_of_the_function(rng):
    """to_flmn(rotate_signal(from_flmn(f), R)) are the coefficients of f(R^{-1} g)."""
    L, N = 4, 3
    flmn = random_flmn(rng, L, N, C=2)
    x = nn.from_flmn(flmn, N)
    assert x.taus == (1, 3, 5, 5)
    np.testing.assert_array_equal(np.asarray(nn.to_flmn(x, N)), flmn)

    def mat(R):
        return Rotation.from_euler("ZYZ", R).as_matrix()

    for _ in range(3):
        R = tuple(rng.uniform(0, 2 * np.pi, 3))
        rotated = np.asarray(nn.to_flmn(nn.rotate_signal(x, R), N))[1]
        for _ in range(3):
            g = tuple(rng.uniform(0, 2 * np.pi, 3))
            Rinv_g = tuple(Rotation.from_matrix(mat(R).T @ mat(g)).as_euler("ZYZ"))
            assert abs(so3_series(rotated, L, N, g) - so3_series(flmn[1], L, N, Rinv_g)) < TOL * 10


def test_signal_is_a_pytree_under_jit_vmap_and_grad(rng):
    L = 4
    x = nn.from_flm(rng.standard_normal((3, 2, L, 2 * L - 1)))
    leaves, tree = jax.tree_util.tree_flatten(x)
    assert len(leaves) == L
    y = jax.jit(lambda s: s * 2.0)(x)
    assert isinstance(y, nn.Signal) and y.spec == x.spec
    norms = jax.vmap(lambda s: s.norm())(x)
    np.testing.assert_allclose(np.asarray(norms), np.asarray(x.norm()), rtol=1e-14)
    g = jax.grad(lambda s: jnp.sum(s.norm() ** 2))(x)
    np.testing.assert_allclose(np.asarray(g[2]), 2 * np.conj(np.asarray(x[2])), rtol=1e-14)  # JAX: d/d conj
    assert (x + x - x).spec == x.spec
    assert "Signal(L=4, channels=2" in repr(x)


def test_signal_errors_name_the_problem(rng):
    with pytest.raises(ValueError, match="fragments is empty"):
        nn.Signal([])
    with pytest.raises(ValueError, match=r"fragments\[1\]"):
        nn.Signal([np.zeros((2, 1, 1)), np.zeros((2, 1, 4))])
    with pytest.raises(ValueError, match="flm has shape"):
        nn.from_flm(np.zeros((4, 7)))
    bad = np.zeros((1, 4, 7))
    bad[0, 1, 3] = np.nan
    with pytest.raises(ValueError, match="flm contains non-finite"):
        nn.from_flm(bad)
    x = nn.from_flmn(random_flmn(rng, 3, 2), 2)
    with pytest.raises(ValueError, match="to_flm needs tau_l = 1"):
        nn.to_flm(x)
    with pytest.raises(ValueError, match="N must satisfy"):
        nn.from_flmn(np.zeros((1, 7, 3, 5)), 4)
    with pytest.raises(ValueError, match="taus"):
        nn.SignalSpec(3, 1, (1, 1))
