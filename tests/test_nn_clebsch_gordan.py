"""Clebsch-Gordan coefficients and Wigner-D matrices (issue 12, "Must show" 1).

References: sympy's exact ``clebsch_gordan`` (rationals under square roots,
evaluated to 30 digits); the orthogonality of the coupling; and the
intertwining ``D^{l1} (x) D^{l2} = C^T (+)_l D^l C`` with *our* Wigner-D,
itself checked against :func:`s2scatter.rotate` and the composition of ZYZ
rotation matrices (scipy).

Tolerances: the recursion's rounding is a few ulp per step over at most
2 min(l1, l2) + 1 steps, plus a normalisation: measured ~1e-15 (l <= 10) and
~1e-14 at l1 = l2 = 64, so 1e-12 leaves a factor >= 80 (convention errors --
a sign, a phase -- are O(1)).
"""

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.transform import Rotation

import s2scatter
from s2scatter.harmonic import wigner_D
from s2scatter.nn import cg_pair_table, clebsch_gordan

TOL = 1e-12


def block(D, L, l):
    return D[l, L - 1 - l : L + l, L - 1 - l : L + l]


def sympy_cg(l1, m1, l2, m2, l, m):
    from sympy.physics.wigner import clebsch_gordan as scg

    return float(scg(l1, l2, l, m1, m2, m).evalf(30))


def test_cg_matches_sympy_small_degrees_exhaustive(record_error):
    pytest.importorskip("sympy")
    err = 0.0
    for l1 in range(3):
        for l2 in range(3):
            for l in range(abs(l1 - l2), l1 + l2 + 1):
                C = clebsch_gordan(l1, l2, l)
                for m1 in range(-l1, l1 + 1):
                    for m2 in range(-l2, l2 + 1):
                        if abs(m1 + m2) <= l:
                            ref = sympy_cg(l1, m1, l2, m2, l, m1 + m2)
                            err = max(err, abs(C[l1 + m1, l2 + m2, l + m1 + m2] - ref))
    record_error("cg_vs_sympy_l<=2", err)
    assert err < TOL


def test_cg_matches_sympy_random_entries_up_to_10(rng, record_error):
    """800 random non-trivial entries with l1, l2 <= 10 (the full sweep is the slow test below)."""
    pytest.importorskip("sympy")
    err = 0.0
    n = 0
    while n < 800:
        l1, l2 = (int(v) for v in rng.integers(0, 11, 2))
        l = int(rng.integers(abs(l1 - l2), l1 + l2 + 1))
        m = int(rng.integers(-l, l + 1))
        lo, hi = max(-l1, m - l2), min(l1, m + l2)
        if lo > hi:
            continue
        m1 = int(rng.integers(lo, hi + 1))
        got = clebsch_gordan(l1, l2, l)[l1 + m1, l2 + m - m1, l + m]
        err = max(err, abs(got - sympy_cg(l1, m1, l2, m - m1, l, m)))
        n += 1
    record_error("cg_vs_sympy_random_l<=10", err)
    assert err < TOL


@pytest.mark.slow
def test_cg_matches_sympy_all_up_to_10(record_error):
    pytest.importorskip("sympy")
    err = 0.0
    for l1 in range(11):
        for l2 in range(11):
            T = cg_pair_table(l1, l2)
            for l in range(abs(l1 - l2), l1 + l2 + 1):
                for m in range(-l, l + 1):
                    for m1 in range(max(-l1, m - l2), min(l1, m + l2) + 1):
                        got = T[l - abs(l1 - l2), l1 + l2 + m, l1 + m1]
                        err = max(err, abs(got - sympy_cg(l1, m1, l2, m - m1, l, m)))
    record_error("cg_vs_sympy_all_l<=10", err)
    assert err < TOL


def test_cg_large_degrees_against_exact_values(rng, record_error):
    """Random entries at l1, l2 up to 64, including tiny ones, against sympy's exact values."""
    pytest.importorskip("sympy")
    err = 0.0
    for l1, l2 in [(64, 64), (64, 37), (50, 20), (63, 62)]:
        T = cg_pair_table(l1, l2)
        for _ in range(10):
            l = int(rng.integers(abs(l1 - l2), l1 + l2 + 1))
            m = int(rng.integers(-l, l + 1))
            lo, hi = max(-l1, m - l2), min(l1, m + l2)
            m1 = int(rng.integers(lo, hi + 1))
            got = T[l - abs(l1 - l2), l1 + l2 + m, l1 + m1]
            err = max(err, abs(got - sympy_cg(l1, m1, l2, m - m1, l, m)))
    record_error("cg_vs_exact_l<=64", err)
    assert err < TOL


@pytest.mark.parametrize("l1,l2", [(64, 64), (64, 37), (1, 64), (40, 63), (0, 5)])
def test_cg_orthonormal_up_to_64(l1, l2, record_error):
    """For each m the coefficients form an orthogonal matrix (rows l, columns m1)."""
    T = cg_pair_table(l1, l2)
    err = 0.0
    for m in range(-(l1 + l2), l1 + l2 + 1):
        rows = [i for i in range(T.shape[0]) if abs(m) <= abs(l1 - l2) + i]
        cols = [j for j in range(2 * l1 + 1) if abs(m - (j - l1)) <= l2]
        B = T[np.ix_(rows, [l1 + l2 + m], cols)][:, 0, :]
        assert B.shape[0] == B.shape[1]
        err = max(err, np.abs(B @ B.T - np.eye(len(rows))).max(), np.abs(B.T @ B - np.eye(len(cols))).max())
    record_error(f"cg_orthonormality_{l1}_{l2}", err)
    assert err < TOL


def test_cg_symmetries_and_conventions():
    for l1, l2 in [(2, 3), (4, 4), (5, 1)]:
        for l in range(abs(l1 - l2), l1 + l2 + 1):
            C = clebsch_gordan(l1, l2, l)
            sign = (-1.0) ** (l1 + l2 - l)
            # exchange: C^{lm}_{l1 m1 l2 m2} = (-1)^{l1+l2-l} C^{lm}_{l2 m2 l1 m1}
            np.testing.assert_allclose(C, sign * np.transpose(clebsch_gordan(l2, l1, l), (1, 0, 2)), atol=TOL)
            # reflection: C^{l,-m}_{-m1,-m2} = (-1)^{l1+l2-l} C^{lm}_{m1 m2}
            np.testing.assert_allclose(C[::-1, ::-1, ::-1], sign * C, atol=TOL)
            # Condon-Shortley: <l1 l1, l2 (l - l1) | l l> > 0
            if abs(l - l1) <= l2:
                assert C[2 * l1, l2 + l - l1, 2 * l] > 0
            # zero unless m = m1 + m2
            m1, m2, m = np.meshgrid(np.arange(-l1, l1 + 1), np.arange(-l2, l2 + 1), np.arange(-l, l + 1),
                                    indexing="ij")
            assert not np.any(C[m != m1 + m2])
    assert not np.any(clebsch_gordan(1, 1, 3))  # outside the triangle
    C = clebsch_gordan(1, 1, 0)  # <1 m1 1 -m1 | 0 0> = (-1)^(1-m1) / sqrt(3)
    for m1 in (-1, 0, 1):
        assert abs(C[1 + m1, 1 - m1, 0] - (-1.0) ** (1 - m1) / np.sqrt(3)) < TOL


def test_cg_table_is_cached_and_read_only():
    T = cg_pair_table(3, 4)
    assert cg_pair_table(3, 4) is T
    with pytest.raises(ValueError):
        T[0, 0, 0] = 1.0
    C = clebsch_gordan(3, 4, 2)
    C[0, 0, 0] = 5.0  # a copy: the cache is untouched
    assert clebsch_gordan(3, 4, 2)[0, 0, 0] != 5.0


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_cg_rejects_bad_degrees(bad):
    with pytest.raises(ValueError, match="l1"):
        clebsch_gordan(bad, 1, 1)
    with pytest.raises(ValueError, match="l"):
        cg_pair_table(1, bad)


def random_rotations(rng, n):
    return [tuple(float(v) for v in rng.uniform(0, 2 * np.pi, 3)) for _ in range(n)]


@pytest.mark.parametrize("l1,l2", [(1, 1), (3, 5), (10, 7), (10, 10), (2, 9)])
def test_cg_intertwine_our_wigner_D(l1, l2, rng, record_error):
    """D^{l1}(R) (x) D^{l2}(R) = C^T [(+)_l D^l(R)] C for 20 random rotations, with our Wigner-D."""
    ls = range(abs(l1 - l2), l1 + l2 + 1)
    C = np.concatenate([clebsch_gordan(l1, l2, l).reshape(-1, 2 * l + 1).T for l in ls])  # rows (l, m)
    L = l1 + l2 + 1
    err = 0.0
    for R in random_rotations(rng, 20):
        D = wigner_D(L, R)
        lhs = np.kron(block(D, L, l1), block(D, L, l2))
        rhs = C.T @ scipy.linalg.block_diag(*[block(D, L, l) for l in ls]) @ C
        err = max(err, np.abs(lhs - rhs).max())
    record_error(f"cg_intertwining_{l1}_{l2}", err)
    assert err < TOL


def test_wigner_D_is_what_rotate_applies(rng):
    L = 7
    flm = s2scatter.sampling.random_flm(L, rng=rng)
    for R in random_rotations(rng, 5) + [(0.3, 4.0, 1.0), (0.0, -0.5, 0.0)]:  # beta outside [0, pi] too
        D = wigner_D(L, R)
        got = np.einsum("lmn,ln->lm", D, flm)
        want = np.asarray(s2scatter.rotate(flm, L, R, method="jax"))
        np.testing.assert_allclose(got, want, atol=TOL)


def test_wigner_D_is_a_unitary_representation(rng):
    L = 6

    def mat(R):
        return Rotation.from_euler("ZYZ", R).as_matrix()

    for R1, R2 in zip(random_rotations(rng, 4), random_rotations(rng, 4)):
        R12 = tuple(Rotation.from_matrix(mat(R1) @ mat(R2)).as_euler("ZYZ"))
        D12 = np.einsum("lab,lbc->lac", wigner_D(L, R1), wigner_D(L, R2))
        np.testing.assert_allclose(wigner_D(L, R12), D12, atol=TOL)
        D = wigner_D(L, R1)
        for l in range(L):
            b = block(D, L, l)
            np.testing.assert_allclose(b @ b.conj().T, np.eye(2 * l + 1), atol=TOL)


@pytest.mark.parametrize("bad", [(0.1, 0.2), "xyz", (0.0, np.nan, 0.0)])
def test_wigner_D_rejects_bad_rotation(bad):
    with pytest.raises(ValueError, match="rotation"):
        wigner_D(4, bad)


def test_cg_rows_equal_the_table_rows():
    from s2scatter.nn import cg_rows

    for l1, l2, ls in [(3, 5, [2, 8, 5]), (7, 7, [0]), (2, 9, [7, 11])]:
        T = cg_pair_table(l1, l2)
        np.testing.assert_array_equal(cg_rows(l1, l2, ls), T[[l - abs(l1 - l2) for l in ls]])
    with pytest.raises(ValueError, match="degrees must lie"):
        cg_rows(2, 3, [6])
