"""HybridModel and HybridConfig (issue 12, Build 4 and Must show 2, 3, 5).

Rotation invariance of the logits is limited by the scattering front end,
whose modulus aliases (~1e-3 relative on its maps at L = 32 with the default
oversampling; ``docs/scattering.md``); the generalised layers are exact.  The
issue's bound, 1e-3 relative over 20 rotations with the default settings, is
asserted and the measured figure recorded.  Without the front end the model
is exact up to rounding of band-limited transforms (1e-10).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

import s2scatter
from s2scatter import nn


def band_limited_maps(L, n, seed=0, sampling="mw"):
    rng = np.random.default_rng(seed)
    flm = np.stack([s2scatter.sampling.random_flm(L, reality=True, slope=1.0, rng=rng) for _ in range(n)])
    return np.asarray(s2scatter.inverse(flm, L, reality=True, sampling=sampling))


@functools.lru_cache(maxsize=None)
def default_model():
    return nn.HybridModel(nn.HybridConfig(L=32, num_classes=10), rngs=nnx.Rngs(0))


def test_default_config_size_and_repr():
    model = default_model()
    cfg = model.config
    assert cfg.scattering.output == "maps" and cfg.scattering.L_scal == 8
    assert cfg.band_limits == (8, 8, 4)
    n = model.num_params
    assert 20_000 < n < 100_000
    assert f"params={n:,}" in repr(model) and f"params={n:,}" in str(model)
    # only the generalised layers and the head are trainable: no front-end parameters
    assert set(nnx.state(model, nnx.Param).keys()) == {"linear_in", "blocks", "dense_hidden", "dense_out"} | (
        {"norm_in"} if cfg.norm else set())


def test_default_model_logits_invariant_under_rotation(record_error):
    model = default_model()
    f = band_limited_maps(32, 2)
    logits = model(f)
    assert logits.shape == (2, 10)
    errs = s2scatter.assert_equivariant(model, f, rotations=20, rtol=1e-3)
    record_error("hybrid_model_logits_rotation_L32_defaults", float(errs.max()))


def test_pure_generalised_cnn_is_exactly_invariant(record_error):
    model = nn.HybridModel(nn.HybridConfig(L=8, num_classes=3, scattering=None, channels=(4, 6)), rngs=nnx.Rngs(1))
    assert model.scattering is None and "forward transform" in repr(model)
    f = band_limited_maps(8, 3)
    errs = s2scatter.assert_equivariant(model, f, rotations=20, rtol=1e-10)
    record_error("pure_generalised_cnn_logits_rotation", float(errs.max()))


def small_config(**kw):
    """L = 8: the front end keeps two scattering paths at L_scal = 8."""
    return nn.HybridConfig(L=8, num_classes=3, channels=(3, 4), hidden=8, **kw)


def test_float32_default_and_float64_with_x64():
    f = band_limited_maps(8, 2)
    m32 = nn.HybridModel(small_config(dtype="float32"), rngs=nnx.Rngs(0))
    out32 = m32(f.astype(np.float32))
    assert out32.dtype == jnp.float32
    assert all(v.dtype == jnp.float32 for v in jax.tree_util.tree_leaves(nnx.state(m32, nnx.Param)))
    m64 = nn.HybridModel(small_config(), rngs=nnx.Rngs(0))  # x64 is on in the tests: float64 by default
    assert m64.dtype == np.float64
    nnx.update(m64, jax.tree_util.tree_map(lambda v: v.astype(np.float64), nnx.state(m32, nnx.Param)))
    out64 = m64(f)
    assert out64.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(out32), np.asarray(out64), rtol=1e-4, atol=1e-5)
    with jax.enable_x64(False):
        m = nn.HybridModel(nn.HybridConfig(L=8, num_classes=2, scattering=None, channels=(2, 2)), rngs=nnx.Rngs(0))
        assert m.dtype == np.float32 and m.config.dtype is None


def test_check_grads_reverse_on_the_model():
    model = nn.HybridModel(small_config(), rngs=nnx.Rngs(0))
    f = band_limited_maps(8, 2)
    graph, params = nnx.split(model, nnx.Param)

    def loss(p, x):
        return jnp.sum(jnp.tanh(nnx.merge(graph, p)(x)))

    check_grads(loss, (params, f), order=1, modes=("rev",))


def test_model_under_jit_vmap_and_grad():
    model = nn.HybridModel(small_config(norm="batch"), rngs=nnx.Rngs(0))
    f = band_limited_maps(8, 3)
    eager = model(f)

    @nnx.jit
    def fwd(m, x):
        return m(x)

    np.testing.assert_allclose(np.asarray(fwd(model, f)), np.asarray(eager), rtol=1e-10)
    model.eval()  # running statistics: per-example calls agree with the batch call
    batch = model(f)
    per_example = nnx.vmap(lambda m, x: m(x), in_axes=(None, 0))(model, f)
    np.testing.assert_allclose(np.asarray(per_example), np.asarray(batch), rtol=1e-10)
    model.train()

    @nnx.jit
    def step(m, x):
        def loss(m):
            return jnp.mean(m(x) ** 2)

        return nnx.grad(loss)(m)

    grads = step(model, f)
    norms = [float(jnp.linalg.norm(g)) for g in jax.tree_util.tree_leaves(grads)]
    assert all(np.isfinite(norms)) and max(norms) > 0


def test_config_and_input_errors_name_the_parameter():
    with pytest.raises(ValueError, match="num_classes"):
        nn.HybridConfig(L=16, num_classes=0)
    with pytest.raises(ValueError, match="band_limits"):
        nn.HybridConfig(L=16, num_classes=2, band_limits=(8, 16, 4))
    with pytest.raises(ValueError, match="band_limits\\[0\\]"):
        nn.HybridConfig(L=16, num_classes=2, band_limits=(12, 8, 4))
    with pytest.raises(ValueError, match="degrees"):
        nn.HybridConfig(L=16, num_classes=2, degrees="tree")
    with pytest.raises(ValueError, match="scattering config has L"):
        nn.HybridConfig(L=16, num_classes=2, scattering=s2scatter.ScatteringConfig(L=32))
    with pytest.raises(ValueError, match="output='maps'"):
        nn.HybridConfig(L=16, num_classes=2, scattering=s2scatter.ScatteringConfig(L=16, output="invariants"))
    model = nn.HybridModel(nn.HybridConfig(L=8, num_classes=2, scattering=None, channels=(2, 2)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"f has shape \(2, 8, 16\); expected \(batch, 8, 15\) for L=8"):
        model(np.zeros((2, 8, 16)))
    bad = band_limited_maps(8, 2).copy()
    bad[1, 3, 4] = np.nan
    with pytest.raises(ValueError, match="f contains non-finite"):
        model(bad)
    with pytest.raises(ValueError, match="real maps"):
        model(np.zeros((2, 8, 15), complex))
    with pytest.raises(ValueError, match="config must be a HybridConfig"):
        nn.HybridModel({"L": 8}, rngs=nnx.Rngs(0))
