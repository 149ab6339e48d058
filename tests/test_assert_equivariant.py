"""The public ``s2scatter.assert_equivariant`` (issue 12, Build 5): scattering, layers, models, any callable.

The scattering network aliases in its modulus (``docs/scattering.md``): 3e-3
as in ``tests/test_scattering.py``.  A deliberately non-equivariant function
must fail with a message that states the measured error.
"""

import numpy as np
import pytest

import s2scatter
from s2scatter import nn
from s2scatter._equivariance import random_rotations

L = 16


def band_limited_maps(n, seed=0):
    rng = np.random.default_rng(seed)
    flm = np.stack([s2scatter.sampling.random_flm(L, reality=True, slope=1.0, rng=rng) for _ in range(n)])
    return np.asarray(s2scatter.inverse(flm, L, reality=True))


@pytest.mark.parametrize("output", ["maps", "invariants"])
def test_scattering_through_the_top_level_check(output, record_error):
    net = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, J_min=2, output=output))
    f = band_limited_maps(2)
    errs = s2scatter.assert_equivariant(net, f, rotations=5, rtol=3e-3)
    assert errs.shape == (5,) and np.all(errs > 0)
    record_error(f"scattering_{output}_rotation_L16", float(errs.max()))
    # the scattering-only check keeps its name and meaning
    assert s2scatter.scattering.assert_equivariant(net, f[0], rtol=3e-3) < 3e-3


def test_explicit_rotations_and_plain_callables():
    f = band_limited_maps(1)[0]

    def power(maps):  # an invariant of a map: its power spectrum
        flm = s2scatter.forward(maps, L, reality=True)
        return np.sum(np.abs(np.asarray(flm)) ** 2, axis=-1)

    errs = s2scatter.assert_equivariant(power, f, rotations=[(0.1, 0.2, 0.3), (1.0, 2.0, 3.0)], L=L)
    assert errs.shape == (2,) and errs.max() < 1e-10
    with pytest.raises(ValueError, match="pass L"):
        s2scatter.assert_equivariant(power, f)
    with pytest.raises(ValueError, match="rotations"):
        s2scatter.assert_equivariant(power, f, rotations=[], L=L)


def test_a_non_equivariant_function_fails_with_the_error(rng):
    x = nn.from_flm(np.stack([s2scatter.sampling.random_flm(4, rng=rng) for _ in range(2)])[:, None])

    def not_equivariant(s):  # scales m > 0 differently from m < 0
        return s.map(lambda f: f * np.linspace(1.0, 2.0, f.shape[-1]))

    with pytest.raises(AssertionError, match=r"not rotation-equivariant to rtol=1e-10: relative error \d"):
        s2scatter.assert_equivariant(not_equivariant, x, rotations=3)


def test_random_rotations_are_haar_distributed():
    R = np.array(random_rotations(4000, seed=3))
    assert R.shape == (4000, 3)
    # cos(beta) uniform on [-1, 1]; alpha, gamma uniform on [0, 2 pi)
    assert abs(np.mean(np.cos(R[:, 1]))) < 0.05 and abs(np.mean(np.cos(R[:, 1]) ** 2) - 1 / 3) < 0.03
    assert np.all((R[:, 0] >= 0) & (R[:, 0] < 2 * np.pi))
    assert random_rotations(3, seed=1) == random_rotations(3, seed=1)
