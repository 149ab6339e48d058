"""The one settings surface (``s2scatter.config``) and the cache registry (``clear_caches``).

* ``config``: unknown names and bad values are refused, naming the setting, and change
  nothing; a setting takes effect where the library reads it; as a context manager it
  restores every setting on exit (after an exception too, and nested).
* ``clear_caches`` empties every registered cache, and the next call gives the same numbers.
* Every cache is bounded: an ``ast`` scan finds each memoised function of the package and
  checks that it is registered with a ``maxsize`` (or is a zero-argument singleton), and
  the caches bounded otherwise (in bytes) are listed here with their bound.
"""

import ast
import importlib
import math
import pathlib
import re

import numpy as np
import pytest

import s2scatter
from s2scatter import _config
from s2scatter.harmonic import _jax, _spherical

PACKAGE = pathlib.Path(s2scatter.__file__).parent

# caches bounded by something other than an entry count, and that bound
NOT_COUNTED = {
    "s2scatter.harmonic._jax._KERNELS": "bytes: twice the kernel budget",
    "s2scatter.harmonic._buffers": "bytes: the output_cache setting",
    "s2scatter.nn._clebsch_gordan._cache": "bytes: _CACHE_BYTES (256 MiB)",
    "s2scatter.wavelets._host._SCRATCH": "one array per slot and dtype per thread",
}

BAD = {  # setting -> values it refuses
    "num_threads": (-1, 1.5, True, "2", None),
    "kernel_budget": (-1, 2.5, False, "1e9", None),
    "output_cache": (-1, "1", None, True, float("nan")),
    "heap_trim_limit": (-1, "1", True, float("nan")),
    "max_scales": (-1, "many", float("nan")),
    "max_memory_bytes": (-5, "lots"),
}


def test_config_lists_every_setting():
    settings = s2scatter.config()
    assert set(settings) == {"num_threads", "kernel_budget", "output_cache", "heap_trim_limit", "max_scales",
                             "max_paths", "max_decoded_bytes", "max_memory_bytes"}
    assert settings["num_threads"] == s2scatter.harmonic.get_num_threads()
    assert settings["kernel_budget"] == s2scatter.harmonic.get_kernel_budget()
    assert settings["max_scales"] == s2scatter.get_limits()["max_scales"]
    with pytest.raises(TypeError):
        settings["num_threads"] = 3  # a read-only mapping


def test_unknown_setting_is_refused_naming_it_and_the_valid_ones():
    before = dict(s2scatter.config())
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['threads'\].*'kernel_budget'.*'num_threads'"):
        s2scatter.config(threads=4, kernel_budget=0)
    assert dict(s2scatter.config()) == before  # nothing was set, not even the valid one


@pytest.mark.parametrize("name,bad", [(n, v) for n, vs in BAD.items() for v in vs])
def test_bad_value_is_refused_naming_the_setting(name, bad):
    before = dict(s2scatter.config())
    good = {"kernel_budget": 7} if name != "kernel_budget" else {"num_threads": 1}
    with pytest.raises(ValueError, match=rf"config: {name} must be .*, got {re.escape(repr(bad))}$"):
        s2scatter.config(**good, **{name: bad})  # all or nothing: the good one is not kept either
    assert dict(s2scatter.config()) == before


def test_context_manager_restores_and_settings_take_effect(monkeypatch):
    monkeypatch.setenv("S2SCATTER_MAX_SCALES", "50")
    before = dict(s2scatter.config())
    with s2scatter.config(num_threads=1, kernel_budget=0, output_cache=0.5, heap_trim_limit=0.25,
                          max_scales=7) as inside:
        assert s2scatter.harmonic.get_num_threads() == 1
        assert s2scatter.harmonic.get_kernel_budget() == 0
        assert s2scatter.harmonic.get_output_cache()["limit_bytes"] == 2**29
        assert s2scatter.get_limits()["max_scales"] == 7
        assert inside["heap_trim_limit"] == 0.25 and inside["max_scales"] == 7
        with pytest.raises(ValueError, match="max_scales = 7"):
            s2scatter.wavelets.scales(1024, lam=1.5)
    assert dict(s2scatter.config()) == before
    assert s2scatter.config()["heap_trim_limit"] is None
    monkeypatch.setenv("S2SCATTER_MAX_SCALES", "60")  # restored to "not set": the environment still rules
    assert s2scatter.get_limits()["max_scales"] == 60


def test_context_manager_restores_after_an_exception_and_nested():
    before = dict(s2scatter.config())
    with pytest.raises(RuntimeError, match="inside"):
        with s2scatter.config(kernel_budget=123):
            raise RuntimeError("inside")
    assert dict(s2scatter.config()) == before
    with s2scatter.config(num_threads=1, kernel_budget=0):
        with s2scatter.config(num_threads=2):
            assert (s2scatter.harmonic.get_num_threads(), s2scatter.harmonic.get_kernel_budget()) == (2, 0)
        assert (s2scatter.harmonic.get_num_threads(), s2scatter.harmonic.get_kernel_budget()) == (1, 0)
    assert dict(s2scatter.config()) == before


def test_context_manager_restores_what_the_old_setters_changed_inside():
    before = dict(s2scatter.config())
    with s2scatter.config():
        s2scatter.harmonic.set_num_threads(1)
        s2scatter.harmonic.set_kernel_budget(0)
        s2scatter.harmonic.set_heap_trim_limit(0.5)
        s2scatter.set_limits(max_paths=3)
        assert s2scatter.config()["heap_trim_limit"] == 0.5  # the old setter is the same setting
    assert dict(s2scatter.config()) == before


def _sizes(*names):
    sizes = _config.cache_sizes()
    return [sizes[n][0] for n in names]


def test_kernel_budget_zero_uses_the_recursion_with_the_same_numbers():
    L = 11  # no other test's network owns (and so lends) kernels of this band-limit
    f = np.random.default_rng(0).standard_normal((L, 2 * L - 1))
    _jax._kernel.cache_clear()
    with s2scatter.config(kernel_budget=0):
        rec = s2scatter.forward(f, L, method="jax", reality=True)
        assert _sizes("s2scatter.harmonic._jax._KERNELS") == [0]  # no kernel was built
    ker = s2scatter.forward(f, L, method="jax", reality=True)
    assert _sizes("s2scatter.harmonic._jax._KERNELS")[0] > 0
    np.testing.assert_allclose(rec, ker, rtol=0, atol=1e-12)


def test_clear_caches_empties_every_cache_and_the_numbers_stay():
    L = 8
    f = np.random.default_rng(1).standard_normal((L, 2 * L - 1))
    first = (s2scatter.forward(f, L, method="ducc"), s2scatter.forward(f, L, method="jax"))
    s2scatter.wavelets.filters(L, N=1)
    watched = ["s2scatter.harmonic._spherical._PLANS", "s2scatter.harmonic._jax._KERNELS",
               "s2scatter.harmonic._ducc._alm_mstart", "s2scatter.wavelets._filters._build"]
    assert all(n > 0 for n in _sizes(*watched))
    s2scatter.clear_caches()
    assert all(size == 0 for size, _ in _config.cache_sizes().values()), _config.cache_sizes()
    again = (s2scatter.forward(f, L, method="ducc"), s2scatter.forward(f, L, method="jax"))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_plans_stay_bounded():
    L = 4
    _spherical._PLANS.clear()
    for k in range(1, _spherical._PLANS.maxsize + 40):
        x = np.zeros((k, L, 2 * L - 1))
        _spherical._plan("forward", x, L, 0, "mw", None, False, 0, "ducc")
    assert len(_spherical._PLANS) == _spherical._PLANS.maxsize
    hit = _spherical._PLANS.get(("forward", (1, L, 2 * L - 1)))
    assert hit is None  # the oldest went first


def test_bounded_dict_drops_the_oldest():
    d = _config.BoundedDict("test_config.bounded", 2)
    try:
        d["a"], d["b"], d["c"] = 1, 2, 3
        assert dict(d) == {"b": 2, "c": 3}
        d.clear()
        assert _config.cache_sizes()["test_config.bounded"] == (0, 2)
    finally:
        del _config._CACHES["test_config.bounded"]


def _memoised():
    """(registered name, decorator source, parameter count) of every memoised function."""
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                src = ast.unparse(deco)
                if "cache" in src:
                    n_args = len(node.args.args) + len(node.args.kwonlyargs) + bool(node.args.vararg)
                    yield f"{module}.{node.name}", src, n_args


def test_every_memoised_function_is_bounded_and_registered():
    import s2scatter.batch  # noqa: F401 - the lazily imported layers register their caches on import
    import s2scatter.nn  # noqa: F401
    import s2scatter.training  # noqa: F401

    found = list(_memoised())
    assert len(found) > 30  # the scan sees the decorators
    for name, _, _ in found:  # a module imported lazily registers its caches on import
        importlib.import_module(name.rsplit(".", 1)[0])
    sizes = _config.cache_sizes()
    bad = [f"{name}: @{src}" for name, src, n_args in found
           if not (src == "functools.cache" and n_args == 0)  # a lazily built singleton: one entry
           and (name not in sizes or sizes[name][1] is None)]
    assert not bad, "memoised functions not bounded (use _config.bounded_cache) or not registered:\n" + "\n".join(bad)
    uncounted = {name for name, (_, maxsize) in sizes.items() if maxsize is None}
    assert uncounted == set(NOT_COUNTED)
    assert all(size <= maxsize for size, maxsize in sizes.values() if maxsize is not None)


def test_bounded_cache_refuses_an_unbounded_size():
    for bad in (None, 0, math.inf, True):
        with pytest.raises(ValueError, match="maxsize"):
            _config.bounded_cache(bad)
