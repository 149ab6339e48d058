"""What the pure-JAX method puts into compiled programs (issue 14, item 6).

Compile time of ``method="jax"`` grows with the bytes of constants and the
number of operations in a program; these tests fail if kernels get baked into
programs again, if the modulus grids' kernels are padded to the grid's
band-limit again, or if the eager transforms stop sharing one program per grid.
Timings are in ``scripts/bench_compile.py`` and ``docs/performance.md``.
"""

import importlib.util
import pathlib

import jax
import pytest
import numpy as np

import s2scatter
from s2scatter import wavelets
from s2scatter.harmonic import _jax

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_bench_compile():
    """``scripts/bench_compile.py`` as a module: its constant counter is the one measured."""
    spec = importlib.util.spec_from_file_location("bench_compile", ROOT / "scripts" / "bench_compile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_const_bytes = _load_bench_compile()._const_bytes


def _map(L, rng):
    from s2scatter.sampling import random_flm

    return np.asarray(s2scatter.inverse(random_flm(L, reality=True, rng=rng), L, reality=True, method="ducc"))


def test_scattering_under_jit_embeds_only_small_kernels(rng):
    # L = 32: the modulus grids have band-limit 128 (grid_floor).  Kernels padded to
    # the grid (l, m < 128 on 64 northern rings: 8 MB each, about 16 MB in all) were
    # what made the first call slow; unpadded they are l, m < L_j (at most 2 MB).
    L = 32
    net = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, N=1, J_min=2, max_order=2,
                                                          output="invariants", method="jax"))
    traced = jax.jit(net).trace(_map(L, rng))
    assert _const_bytes(traced.jaxpr) < 4 << 20


def _count(closed, name):
    """Call sites of primitive ``name`` in a jaxpr, sub-jaxprs counted once per call."""
    n = 0
    for eqn in getattr(closed, "jaxpr", closed).eqns:
        n += eqn.primitive.name == name
        for p in eqn.params.values():
            for q in p if isinstance(p, (list, tuple)) else (p,):
                if hasattr(q, "eqns") or hasattr(q, "jaxpr"):
                    n += _count(q, name)
    return n


def test_scattering_one_propagator_per_scale_and_order(rng):
    # J = 2..5 for L = 32: 4 order-1 steps and 3 batched order-2 steps (not 4 + 6),
    # each one inverse and one forward ring FFT; plus the input's forward SHT.
    L = 32
    net = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, N=1, J_min=2, max_order=2,
                                                          output="invariants", method="jax"))
    assert len(net.paths) == 1 + 4 + 6
    traced = jax.jit(net).trace(_map(L, rng))
    assert _count(traced.jaxpr, "fft") == 2 * (4 + 3) + 1


def test_eager_wavelets_one_program_kernels_as_arguments(rng):
    # An eager jax-method transform is one program whose kernels are arguments:
    # a second call (another map, same grid) compiles nothing, and the program
    # holds no constant near a kernel's size (L = 32: 32 * 32 * 32 * 8 = 256 kB).
    L = 32
    fb = wavelets.filters(L, N=1, J_min=2, lam=2.0)
    kw = dict(N=1, J_min=2, lam=2.0, reality=True, method="jax", filters=fb)
    f1, f2 = _map(L, rng), _map(L, rng)
    out1 = wavelets.analysis(f1, L, **kw)
    n = _jax._with_tables_jit._cache_size()
    out2 = wavelets.analysis(f2, L, **kw)
    assert _jax._with_tables_jit._cache_size() == n
    assert not np.allclose(out1[1], out2[1])
    (core, static, _, _), keys = list(_jax._KEYS_CACHE.items())[-1]  # this call's program
    assert core is wavelets._transforms._analysis_core and keys
    args = tuple(jax.numpy.asarray(a) for a in (f1, fb.psi_n, fb.phi))
    arrays = [_jax._build(k) for k in keys]
    traced = _jax._with_tables_jit.trace(args, arrays, core=core, keys=keys, static=static)
    assert _const_bytes(traced.jaxpr) < 64 << 10


def test_scattering_apply_takes_its_kernels_as_arguments(rng):
    # The network owns its Legendre kernels; jit(net.apply)(net.kernels, f) receives them
    # as arguments, so the program embeds none of them (jit(net) embeds ~1.6 MB at L = 32),
    # and computes exactly what net(f) computes, for both outputs.
    L = 32
    f = _map(L, rng)
    for output in ("invariants", "maps"):
        net = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, N=1, J_min=2, max_order=2,
                                                              output=output, method="jax"))
        assert len(net.kernels) > 0
        owned = sum(k.nbytes for k in net.kernels)
        traced = jax.jit(net.apply).trace(net.kernels, f)
        assert _const_bytes(traced.jaxpr) < owned / 10
        assert _const_bytes(jax.jit(net).trace(f).jaxpr) > owned / 2  # the closure embeds them
        got = jax.tree_util.tree_leaves(jax.jit(net.apply)(net.kernels, f))
        want = jax.tree_util.tree_leaves(net(f))
        for g, w in zip(got, want, strict=True):
            # same operations on the same kernels: equal to rounding (1e-12 relative)
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12 * np.max(np.abs(w)))


def test_scattering_apply_checks_its_kernels(rng):
    L = 16
    net = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, J_min=2, max_order=1, method="jax"))
    with pytest.raises(ValueError, match="kernels"):
        net.apply(net.kernels[:-1], _map(L, rng))
    ducc = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, J_min=2, max_order=1, method="ducc"))
    assert ducc.kernels == ()
    f = _map(L, rng)
    np.testing.assert_array_equal(np.asarray(ducc.apply((), f)), np.asarray(ducc(f)))


def test_s2scatter_jit_passes_kernels_as_arguments(rng):
    # s2scatter.jit(fn): one program per input shape, the kernels fn reads passed in as
    # arguments (the program embeds none of them; jax.jit(fn) embeds them all), the same
    # numbers as jax.jit(fn), and a second call on the same shapes compiles nothing.
    # The network is closed over: its own (concrete) kernels must not displace the traced ones.
    L = 32
    net = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, N=1, J_min=2, max_order=2,
                                                          output="invariants", method="jax"))
    fb = wavelets.filters(L, N=1, J_min=2, lam=2.0)

    def fn(f):
        f_wav, f_scal = wavelets.analysis(f, L, N=1, J_min=2, lam=2.0, reality=True, method="jax", filters=fb)
        return net(f)["power"], f_scal

    f1, f2 = _map(L, rng), _map(L, rng)
    fast = s2scatter.jit(fn)
    got = fast(f1)
    n = _jax._with_tables_jit._cache_size()
    fast(f2)
    assert _jax._with_tables_jit._cache_size() == n
    for g, w in zip(got, jax.jit(fn)(f1), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12 * np.max(np.abs(w)))
    (core, static, _, _), keys = list(_jax._KEYS_CACHE.items())[-1]
    assert core is fn and keys
    arrays = [_jax._build(k) for k in keys]
    traced = _jax._with_tables_jit.trace((jax.numpy.asarray(f1),), arrays, core=core, keys=keys, static=static)
    embedded = _const_bytes(jax.jit(fn).trace(f1).jaxpr)
    assert embedded > sum(a.nbytes for a in arrays) / 2
    assert _const_bytes(traced.jaxpr) < embedded / 10


def test_kernels_a_network_owns_are_never_rebuilt(rng, monkeypatch):
    # The bounded kernel cache may drop kernels a network still holds (at L = 512 its
    # kernels outgrow twice the default budget); calls through s2scatter.jit or eager
    # calls must then read the network's, not rebuild them (seconds per call).
    L = 32
    net = s2scatter.Scattering(s2scatter.ScatteringConfig(L=L, N=1, J_min=2, max_order=2,
                                                          output="invariants", method="jax"))
    f = _map(L, rng)
    want = net(f)["power"]
    _jax._kernel.cache_clear()  # as if the cache had evicted them
    built = []
    build = _jax._build_kernel
    monkeypatch.setattr(_jax, "_build_kernel", lambda leg: built.append(leg) or build(leg))
    fast = s2scatter.jit(lambda x: net(x)["power"])
    for _ in range(2):  # the same program on the same kernels as net(f): equal to rounding
        np.testing.assert_allclose(np.asarray(fast(f)), np.asarray(want), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(net(f)["power"]), np.asarray(want), rtol=1e-12)
    assert built == []


def test_s2scatter_jit_errors_name_the_problem():
    with pytest.raises(TypeError, match="callable"):
        s2scatter.jit(3)
    fast = s2scatter.jit(lambda f: s2scatter.forward(f, 8, method="jax"))
    with pytest.raises(TypeError, match="functools.partial"):
        fast(np.zeros((8, 15)), L=8)
