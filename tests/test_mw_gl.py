"""The MW analysis through Gauss-Legendre quadrature (``harmonic._mw_gl``) against
ducc0's own MW analysis of the same samples after :func:`harmonic._equi.fix_input`
(the other implementation of the MW forward operator): same coefficients to
rounding on maps that are not band-limited, same layout contract."""

import numpy as np
import pytest

from s2scatter.harmonic import _ducc, _equi, _mw_gl

ducc0 = pytest.importorskip("ducc0")
sht = ducc0.sht.experimental

pytestmark = pytest.mark.skipif(_mw_gl._blas() is None, reason="threadpoolctl absent or controls no BLAS here")

# Both are exact quadratures evaluated in float64: they differ by the rounding of
# O(L)-term sums (measured 1e-13 relative at L = 256, 6e-13 at L = 1024).
TOL = 1e-12


def _generic(rng, L, spin, ncomp):
    """Real components of a map that is not band-limited (white noise)."""
    return rng.standard_normal((ncomp, L, 2 * L - 1))


def _ducc_mw(maps, L, spin, nthreads=2):
    """ducc0's MW analysis of the corrected samples: the MW forward operator."""
    return sht.analysis_2d(map=_equi.fix_input(maps, L, spin, "mw"), spin=spin, lmax=L - 1, geometry="MW",
                           nthreads=nthreads)


@pytest.mark.parametrize("L", [_mw_gl.MIN_L, _mw_gl.MIN_L + 1])
@pytest.mark.parametrize("spin", [0, 1, 2, 3])
def test_matches_ducc_mw_analysis(L, spin):
    rng = np.random.default_rng(L + spin)
    maps = _generic(rng, L, spin, 1 if spin == 0 else 2)
    ref = _ducc_mw(maps, L, spin, nthreads=2)
    out = np.zeros_like(ref)
    _mw_gl.analysis_into(maps, L, L, spin=spin, out=out, nthreads=2)
    assert np.max(np.abs(out - ref)) <= TOL * np.max(np.abs(ref))


def test_writes_only_its_band_into_a_larger_layout():
    """Into an alm layout for L_alm > L: the l < L entries equal the plain result,
    every other entry keeps its value (the wavelet synthesis accumulates there)."""
    L, L_alm, spin = _mw_gl.MIN_L, _mw_gl.MIN_L + 9, 2
    maps = _generic(np.random.default_rng(3), L, spin, 2)
    ref = _ducc_mw(maps, L, spin, nthreads=2)
    out = np.full((2, L_alm * (L_alm + 1) // 2), np.nan + 0j)
    _mw_gl.analysis_into(maps, L_alm, L, spin=spin, out=out, nthreads=1)
    idx = _ducc.alm_index(L_alm, L)
    assert np.max(np.abs(out[:, idx] - ref)) <= TOL * np.max(np.abs(ref))
    rest = np.ones(out.shape[1], bool)
    rest[idx] = False
    assert np.isnan(out[:, rest]).all()


def _blas_threads():
    return [lib["num_threads"] for lib in _mw_gl._blas().info()]


def test_host_analysis_into_uses_it_and_restores_blas_threads():
    before = _blas_threads()
    L = _mw_gl.MIN_L
    maps = _generic(np.random.default_rng(5), L, 0, 1)
    out = np.zeros((1, L * (L + 1) // 2), complex)
    _ducc.host_analysis_into(maps, L, L, spin=0, sampling="mw", out=out)
    ref = _ducc_mw(maps, L, 0, nthreads=2)
    assert np.max(np.abs(out - ref)) <= TOL * np.max(np.abs(ref))
    assert _blas_threads() == before


@pytest.mark.parametrize("nthreads", [1, 2])
def test_products_run_with_one_blas_thread(monkeypatch, nthreads):
    """BLAS's own worker threads would spin on into the ducc0 stage: one thread inside,
    also in the pool's worker threads; the coefficients do not depend on the pool."""
    seen = []
    products = _mw_gl._products
    monkeypatch.setattr(_mw_gl, "_products",
                        lambda jobs, n: products([lambda: seen.extend(_blas_threads())] * 2 + jobs, n))
    L = _mw_gl.MIN_L
    maps = _generic(np.random.default_rng(4), L, 0, 1)
    out = np.zeros((1, L * (L + 1) // 2), complex)
    _mw_gl.analysis_into(maps, L, L, spin=0, out=out, nthreads=nthreads)
    assert seen and set(seen) == {1}
    monkeypatch.undo()
    ref = np.zeros_like(out)
    _mw_gl.analysis_into(maps, L, L, spin=0, out=ref, nthreads=1)
    np.testing.assert_array_equal(out, ref)


def test_availability(monkeypatch):
    assert _mw_gl.available(256)
    assert not _mw_gl.available(256, np.float32)  # float32 maps use ducc0
    assert not _mw_gl.available(_mw_gl.MIN_L - 1) and not _mw_gl.available(_mw_gl.MAX_L + 1)
    monkeypatch.setattr(_mw_gl, "_blas", lambda: None)  # no threadpoolctl: ducc0's MW analysis
    assert not _mw_gl.available(256)
    monkeypatch.undo()
    monkeypatch.setenv("S2SCATTER_MW_GL", "0")
    assert not _mw_gl.available(256)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
# JAX warns at every fork once it is initialised (the child here uses NumPy and ducc0 only)
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_usable_in_a_forked_child():
    """A child forked after the parent used the route gets the same coefficients."""
    import multiprocessing as mp

    L = _mw_gl.MIN_L
    maps = _generic(np.random.default_rng(9), L, 0, 1)
    out = np.zeros((1, L * (L + 1) // 2), complex)
    _mw_gl.analysis_into(maps, L, L, spin=0, out=out, nthreads=1)  # the parent's plan and BLAS control exist
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        child = pool.apply_async(_child_analysis, (maps,)).get(timeout=60)
    assert np.max(np.abs(child - out)) <= TOL * np.max(np.abs(out))


def _child_analysis(maps):
    L = maps.shape[1]
    out = np.zeros((1, L * (L + 1) // 2), complex)
    _mw_gl.analysis_into(maps, L, L, spin=0, out=out, nthreads=1)
    return out


def test_concurrent_callers_restore_the_blas_setting():
    """Calls from several threads at once: the right coefficients, and the user's BLAS
    thread count is back afterwards."""
    import concurrent.futures as cf

    before = _blas_threads()
    L = _mw_gl.MIN_L
    maps = _generic(np.random.default_rng(11), L, 2, 2)
    ref = _ducc_mw(maps, L, 2, nthreads=1)

    def one(_):
        out = np.zeros_like(ref)
        _mw_gl.analysis_into(maps, L, L, spin=2, out=out, nthreads=1)
        return np.max(np.abs(out - ref))

    with cf.ThreadPoolExecutor(4) as ex:
        errs = list(ex.map(one, range(8)))
    assert max(errs) <= TOL * np.max(np.abs(ref))
    assert _blas_threads() == before
