"""Mathematical and API properties of the spherical-harmonic transforms.

Gradients (``check_grads``), adjointness, jit/vmap/batching consistency, dtype
preservation and input validation, for both methods and both code paths of
the ``"jax"`` method (precomputed kernels, and the on-the-fly recursion forced
by ``set_kernel_budget(0)``).

Tolerances: the transforms are linear, so central finite differences are
exact up to rounding (~eps * |f| / step = 1e-16 / 1e-4 ~ 1e-12 relative);
``check_grads`` tolerances of 1e-7 are therefore generous yet far below any
real error (a wrong adjoint is O(1)).  Dot-product (adjointness) identities
hold to rounding of two O(L^3) transforms: 1e-12 relative to the product of
norms.  Batched, vmapped and jitted results are the same arithmetic, reordered
at most: 1e-13 relative.  float32 results carry ~L * 6e-8 rounding: 1e-5
relative to the float64 result.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import s2scatter
from s2scatter import sampling as smp
from s2scatter.harmonic import get_kernel_budget, set_kernel_budget

DEFAULT_BUDGET = 1 << 30
GRAD_TOL = 1e-7  # linear maps: finite differences exact to ~1e-12 (module docstring)
DOT_TOL = 1e-12  # two exact transforms in float64
SAME_TOL = 1e-13  # identical arithmetic, possibly reordered


def random_flm(rng, L, spin=0, reality=False):
    """Band-limited random flm: :func:`s2scatter.sampling.random_flm` with ``rng`` first."""
    return s2scatter.sampling.random_flm(L, spin=spin, reality=reality, rng=rng)


def random_map(rng, shape, reality):
    """A generic (not band-limited) map: exercises the full domain of the forward transform."""
    f = rng.standard_normal(shape)
    return f if reality else f + 1j * rng.standard_normal(shape)


def rel_err(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture
def kernel_budget():
    """Set the jax method's kernel budget for one test; restore the default afterwards."""
    old = get_kernel_budget()
    yield set_kernel_budget
    set_kernel_budget(old)


# "jax-rec": the jax method with the precomputed kernels disabled (recursion path).
BACKENDS = ["ducc", "jax", "jax-rec"]


@pytest.fixture
def method(request, kernel_budget):
    name = request.param
    kernel_budget(0 if name == "jax-rec" else DEFAULT_BUDGET)
    return "jax" if name == "jax-rec" else name


@functools.cache
def _jitted(which, budget, **kw):
    """One jitted transform per configuration *and* kernel budget (read at trace time)."""
    fn = s2scatter.inverse if which == "inverse" else s2scatter.forward
    return jax.jit(functools.partial(fn, **kw))


def transforms(L, spin, sampling, nside, reality, method, iter=3):
    kw = dict(L=L, spin=spin, sampling=sampling, nside=nside, reality=reality, method=method)
    b = get_kernel_budget()
    fwd_kw = dict(kw, iter=iter) if sampling == "healpix" else kw
    return _jitted("inverse", b, **kw), _jitted("forward", b, **fwd_kw)


# sampling, nside, L: a ring grid with odd-length rings, one with even-length rings
# and both poles, dh (its own Legendre stage on the ducc path), one exact-quadrature
# grid, and HEALPix.  The forward transforms run on generic (not band-limited) maps,
# so their pole, Nyquist and dh corrections are in every gradient and adjoint below.
GRIDS = [("mw", None, 5), ("mwss", None, 4), ("dh", None, 5), ("gl", None, 4), ("healpix", 2, 4)]
SIGNALS = [(0, True), (0, False), (2, False)]

# The jax method compiles each configuration (and its JVP and VJP) separately,
# ~1-2 s each here (~3x that on the recursion path).  The default run covers
# spin 0 real, spin 2 complex and HEALPix on the jax paths; the rest is slow.
JAX_DEFAULT = {
    "jax": {("mw", 0, True), ("mw", 2, False), ("dh", 2, False), ("healpix", 0, True)},
    "jax-rec": {("mw", 2, False)},  # the recursion path's own code: Legendre stage and its transpose
}


def _grid_params():
    out = []
    for backend in BACKENDS:
        for sampling, nside, L in GRIDS:
            for spin, reality in SIGNALS:
                slow = backend != "ducc" and (sampling, spin, reality) not in JAX_DEFAULT[backend]
                out.append(pytest.param(backend, sampling, nside, L, spin, reality,
                                        marks=[pytest.mark.slow] if slow else [],
                                        id=f"{backend}-{sampling}-s{spin}-{'real' if reality else 'cplx'}"))
    return out


GRID_PARAMS = _grid_params()


# --------------------------------------------------------------------------
# gradients and adjointness
# --------------------------------------------------------------------------
def _slow_rec(params):
    """The recursion path's inverse is slow to compile; its VJP stays covered by default in
    test_adjoint_dot_product, so its check_grads runs in the slow set only."""
    return [pytest.param(*p.values, marks=[*p.marks, pytest.mark.slow], id=p.id)
            if p.id.startswith("jax-rec") else p for p in params]


@pytest.mark.parametrize("method,sampling,nside,L,spin,reality", _slow_rec(GRID_PARAMS), indirect=["method"])
def test_check_grads_inverse(rng, method, sampling, nside, L, spin, reality):
    inv, _ = transforms(L, spin, sampling, nside, reality, method)
    flm = jnp.asarray(random_flm(rng, L, spin, reality))
    check_grads(inv, (flm,), order=1, modes=("fwd", "rev"), atol=GRAD_TOL, rtol=GRAD_TOL)


@pytest.mark.parametrize("method,sampling,nside,L,spin,reality", GRID_PARAMS, indirect=["method"])
def test_check_grads_forward(rng, method, sampling, nside, L, spin, reality):
    # iter=1 keeps the jax HEALPix graph small; the Jacobi structure is the same for any iter.
    _, fwd = transforms(L, spin, sampling, nside, reality, method, iter=1)
    f = jnp.asarray(random_map(rng, smp.f_shape(L, sampling=sampling, nside=nside), reality))
    check_grads(fwd, (f,), order=1, modes=("fwd", "rev"), atol=GRAD_TOL, rtol=GRAD_TOL)


def _adjoint(fn, x, g):
    """A^H g for the linear map ``fn`` via JAX's VJP: A^H g = conj(vjp(conj g)).

    JAX transposes with respect to the bilinear form Re sum(a * b); the real
    inner product Re <a, b> = Re sum(conj(a) b) then gives the conjugations.
    """
    _, vjp = jax.vjp(fn, x)
    (ct,) = vjp(jnp.conj(g))
    return jnp.conj(ct)


def _rdot(a, b):
    return float(jnp.real(jnp.vdot(a, b)))


@pytest.mark.parametrize("method,sampling,nside,L,spin,reality", GRID_PARAMS, indirect=["method"])
def test_adjoint_dot_product(rng, method, sampling, nside, L, spin, reality):
    """<A x, g> = <x, A^H g> for inverse and forward, A^H from jax.vjp."""
    inv, fwd = transforms(L, spin, sampling, nside, reality, method, iter=1)
    fshape = smp.f_shape(L, sampling=sampling, nside=nside)
    # inverse: flm -> map
    x = jnp.asarray(random_flm(rng, L, spin, reality))
    g = jnp.asarray(random_map(rng, fshape, reality))
    lhs, rhs = _rdot(inv(x), g), _rdot(x, _adjoint(inv, x, g))
    scale = float(jnp.linalg.norm(inv(x)) * jnp.linalg.norm(g))
    # Exact identity; rounding of two transforms and two inner products of ~L^2 terms.
    assert abs(lhs - rhs) <= DOT_TOL * scale
    if not reality:  # C-linear: the complex inner products agree too
        assert abs(jnp.vdot(inv(x), g) - jnp.vdot(x, _adjoint(inv, x, g))) <= DOT_TOL * scale
    # forward: map -> flm (on generic maps, i.e. its whole domain)
    y = jnp.asarray(random_map(rng, fshape, reality))
    h = jnp.asarray(random_flm(rng, L, spin, False))
    lhs, rhs = _rdot(fwd(y), h), _rdot(y, _adjoint(fwd, y, h))
    scale = float(jnp.linalg.norm(fwd(y)) * jnp.linalg.norm(h))
    assert abs(lhs - rhs) <= DOT_TOL * scale


@pytest.mark.parametrize(
    "method", ["ducc", "jax", pytest.param("jax-rec", marks=pytest.mark.slow)], indirect=True
)
def test_gradient_of_power_loss(rng, method):
    """A typical loss: grad of sum |forward(f)|^2 equals 2 A^H A f (real map)."""
    L = 5
    inv, fwd = transforms(L, 0, "mw", None, True, method)
    f = inv(jnp.asarray(random_flm(rng, L, reality=True)))
    grad = jax.grad(lambda x: jnp.sum(jnp.abs(fwd(x)) ** 2))(f)
    # For a real input the VJP projects onto the reals: grad = 2 Re(A^H A f).
    expected = 2 * jnp.real(_adjoint(fwd, f, fwd(f)))
    assert rel_err(grad, expected) <= DOT_TOL * 10  # one extra transform of rounding


# --------------------------------------------------------------------------
# jit, vmap and batching
# --------------------------------------------------------------------------
# HEALPix forward with iter=1: batching does not depend on the number of
# Jacobi steps, and the jax graph grows with 2*iter+1 transforms.
BATCH_CASES = [
    pytest.param(sampling, nside, L, method, spin, reality, id=f"{method}-{sampling}-s{spin}")
    for sampling, nside, L in [("mw", None, 6), ("healpix", 2, 4)]
    for method in ("ducc", "jax")
    for spin, reality in [(0, True), (2, False)]
]


@pytest.mark.parametrize("sampling,nside,L,method,spin,reality", BATCH_CASES)
def test_batch_axes_match_loop(rng, sampling, nside, L, method, spin, reality):
    kw = dict(spin=spin, sampling=sampling, nside=nside, reality=reality, method=method)
    fwd_kw = dict(kw, iter=1) if sampling == "healpix" else kw
    flm = np.stack([random_flm(rng, L, spin, reality) for _ in range(6)]).reshape(2, 3, L, 2 * L - 1)
    f = np.asarray(s2scatter.inverse(flm, L, **kw))
    assert f.shape == (2, 3) + smp.f_shape(L, sampling=sampling, nside=nside)
    back = np.asarray(s2scatter.forward(f, L, **fwd_kw))
    assert back.shape == flm.shape
    for i, j in [(0, 0), (1, 2)]:
        assert rel_err(f[i, j], s2scatter.inverse(flm[i, j], L, **kw)) <= SAME_TOL
        assert rel_err(back[i, j], s2scatter.forward(f[i, j], L, **fwd_kw)) <= SAME_TOL


@pytest.mark.parametrize(
    "sampling,nside,L,method",
    [("mw", None, 6, "ducc"), ("mw", None, 6, "jax"), ("healpix", 2, 4, "ducc"), ("healpix", 2, 4, "jax")],
)
def test_jit_and_vmap_match_eager(rng, sampling, nside, L, method):
    kw = dict(L=L, spin=0, sampling=sampling, nside=nside, reality=False, method=method)
    fwd_kw = dict(kw, iter=1) if sampling == "healpix" else kw
    inv = functools.partial(s2scatter.inverse, **kw)
    fwd = functools.partial(s2scatter.forward, **fwd_kw)
    flm = jnp.asarray(np.stack([random_flm(rng, L) for _ in range(3)]))
    eager_f = inv(flm)
    eager_flm = fwd(eager_f)
    assert rel_err(jax.jit(inv)(flm), eager_f) <= SAME_TOL
    # vmap over a non-leading axis
    moved = jax.vmap(inv, in_axes=1, out_axes=-1)(jnp.moveaxis(flm, 0, 1))
    assert rel_err(jnp.moveaxis(moved, -1, 0), eager_f) <= SAME_TOL
    assert rel_err(jax.jit(jax.vmap(fwd))(eager_f), eager_flm) <= SAME_TOL
    if method == "ducc":  # batching rule of the host primitive's transpose
        loss = lambda x: jnp.sum(jnp.abs(inv(x)) ** 2)  # noqa: E731
        g = jax.vmap(jax.grad(loss))(flm)
        assert rel_err(g[1], jax.grad(loss)(flm[1])) <= SAME_TOL


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------
F32_PARAMS = [
    pytest.param(sampling, nside, L, method, reality, id=f"{method}-{sampling}-{'real' if reality else 'cplx'}")
    for sampling, nside, L in [("mw", None, 8), ("healpix", 2, 4)]
    for method in ("ducc", "jax")
    for reality in (True, False)
]


@pytest.mark.parametrize("sampling,nside,L,method,reality", F32_PARAMS)
def test_float32_in_float32_out(rng, sampling, nside, L, method, reality):
    kw = dict(sampling=sampling, nside=nside, method=method, reality=reality)
    fkw = dict(iter=1) if sampling == "healpix" else {}  # dtype handling is the same for any iter
    flm64 = random_flm(rng, L, reality=reality)
    f64 = np.asarray(s2scatter.inverse(flm64, L, **kw))
    a64 = np.asarray(s2scatter.forward(f64, L, **kw, **fkw))

    f32 = np.asarray(s2scatter.inverse(flm64.astype(np.complex64), L, **kw))
    assert f32.dtype == (np.float32 if reality else np.complex64)
    a32 = np.asarray(s2scatter.forward(f64.astype(np.float32 if reality else np.complex64), L, **kw, **fkw))
    assert a32.dtype == np.complex64
    # single precision: eps32 = 6e-8 times O(L) accumulated terms -> 1e-5 relative
    assert rel_err(f32, f64) <= 1e-5
    assert rel_err(a32, a64) <= 1e-5
    if reality:  # a float32 real map with the complex transform: complex64 as well
        c32 = np.asarray(s2scatter.forward(f64.astype(np.float32), L, sampling=sampling, nside=nside,
                                           method=method, **fkw))
        assert c32.dtype == np.complex64
        assert rel_err(c32, a64) <= 1e-5


# --------------------------------------------------------------------------
# conventions of the reality flag
# --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_inverse_reality_reads_m_nonnegative_only(rng, method):
    """reality=True reads m >= 0 only (s2fft's and healpy's convention): any flm gives
    the field of its conjugate-symmetric completion from the m >= 0 half."""
    L = 8
    flm = random_flm(rng, L)  # generic: m < 0 entries unrelated to m > 0, Im f_l0 != 0
    sym = np.array(flm)
    sgn = (-1.0) ** np.arange(1, L)
    sym[:, L - 1] = sym[:, L - 1].real
    sym[:, : L - 1] = (sgn * np.conj(sym[:, L:]))[:, ::-1]
    a = s2scatter.inverse(flm, L, reality=True, method=method)
    b = s2scatter.inverse(sym, L, method=method)
    assert rel_err(a, np.real(b)) <= SAME_TOL
    assert np.max(np.abs(np.imag(b))) <= SAME_TOL * np.max(np.abs(a))


def test_inverse_reality_matches_s2fft_on_any_flm(rng):
    """Same convention as s2fft's ``reality=True`` inverse, also on non-symmetric flm."""
    s2fft = pytest.importorskip("s2fft")
    L = 8
    flm = random_flm(rng, L)
    with np.errstate(divide="ignore", invalid="ignore"):  # s2fft's Price-McEwen precompute takes log(0)
        ref = np.asarray(s2fft.inverse(flm, L, reality=True, method="numpy"))
    for method in ("ducc", "jax"):
        # both float64 transforms at L = 8: rounding only
        assert rel_err(s2scatter.inverse(flm, L, reality=True, method=method), ref) <= 1e-12


def test_real_and_complex_paths_agree(rng):
    """reality=True is an optimisation: same values as the complex transform."""
    L = 8  # the jax transforms at L = 8 are already compiled by the reference tests
    flm = random_flm(rng, L, reality=True)
    for method in ("ducc", "jax"):
        fr = s2scatter.inverse(flm, L, reality=True, method=method)
        fc = s2scatter.inverse(flm, L, method=method)
        assert np.max(np.abs(np.imag(fc))) <= SAME_TOL * np.max(np.abs(fr))
        assert rel_err(np.real(fc), fr) <= SAME_TOL
        assert rel_err(s2scatter.forward(fr, L, reality=True, method=method),
                       s2scatter.forward(fc, L, method=method)) <= SAME_TOL


# --------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------
L_ERR = 4
F_MW = np.ones((L_ERR, 2 * L_ERR - 1))
FLM = np.zeros((L_ERR, 2 * L_ERR - 1), complex)
NAN_F = F_MW.copy()
NAN_F[1, 2] = np.nan
INF_FLM = FLM.copy()
INF_FLM[2, 3] = np.inf

BAD_CALLS = [
    ("map shape", lambda m: s2scatter.forward(np.ones((L_ERR + 1, 2 * L_ERR - 1)), L_ERR, method=m), r"\bf\b"),
    ("map shape for sampling", lambda m: s2scatter.forward(F_MW, L_ERR, sampling="dh", method=m), r"\bf\b"),
    ("healpix map size", lambda m: s2scatter.forward(np.ones(12 * 4), L_ERR, sampling="healpix", nside=4, method=m),
     r"\bf\b"),
    ("flm shape", lambda m: s2scatter.inverse(np.zeros((L_ERR, 2 * L_ERR)), L_ERR, method=m), r"\bflm\b"),
    ("flm ndim", lambda m: s2scatter.inverse(np.zeros(L_ERR**2), L_ERR, method=m), r"\bflm\b"),
    ("L zero", lambda m: s2scatter.forward(F_MW, 0, method=m), r"\bL\b"),
    ("L negative", lambda m: s2scatter.inverse(FLM, -1, method=m), r"\bL\b"),
    ("L float", lambda m: s2scatter.inverse(FLM, 4.0, method=m), r"\bL\b"),
    ("spin too large", lambda m: s2scatter.inverse(FLM, L_ERR, spin=L_ERR, method=m), r"\bspin\b"),
    ("spin too negative", lambda m: s2scatter.forward(F_MW, L_ERR, spin=-L_ERR, method=m), r"\bspin\b"),
    ("nside not power of 2", lambda m: s2scatter.inverse(FLM, L_ERR, sampling="healpix", nside=3, method=m),
     r"\bnside\b"),
    ("nside missing", lambda m: s2scatter.inverse(FLM, L_ERR, sampling="healpix", method=m), r"\bnside\b"),
    ("nside without healpix", lambda m: s2scatter.inverse(FLM, L_ERR, nside=2, method=m), r"\bnside\b"),
    ("NaN map", lambda m: s2scatter.forward(NAN_F, L_ERR, method=m), "non-finite"),
    ("inf flm", lambda m: s2scatter.inverse(INF_FLM, L_ERR, method=m), "non-finite"),
    ("unknown sampling", lambda m: s2scatter.inverse(FLM, L_ERR, sampling="cubed", method=m), r"\bsampling\b"),
    ("reality with spin", lambda m: s2scatter.inverse(FLM, L_ERR, spin=1, reality=True, method=m), r"\breality\b"),
    ("reality with negative spin", lambda m: s2scatter.forward(F_MW, L_ERR, spin=-2, reality=True, method=m),
     r"\breality\b"),
    ("complex map with reality", lambda m: s2scatter.forward(F_MW + 1j, L_ERR, reality=True, method=m),
     r"\breality\b"),
    ("iter negative", lambda m: s2scatter.forward(np.ones(48), L_ERR, sampling="healpix", nside=2, iter=-1,
                                                  method=m), r"\biter\b"),
    # a truthy string is not a flag ("no" used to mean True)
    ("reality not a bool", lambda m: s2scatter.forward(F_MW, L_ERR, reality="no", method=m),
     r"reality must be True or False, got reality='no'"),
    ("reality an int", lambda m: s2scatter.inverse(FLM, L_ERR, reality=1, method=m), r"reality must be True or False"),
]


@pytest.mark.parametrize("method", ["ducc", "jax"])
@pytest.mark.parametrize("call,match", [pytest.param(c, r, id=i) for i, c, r in BAD_CALLS])
def test_bad_input_raises_naming_parameter(method, call, match):
    with pytest.raises(ValueError, match=match):
        call(method)


def test_unknown_method_raises():
    with pytest.raises(ValueError, match=r"\bmethod\b"):
        s2scatter.forward(F_MW, L_ERR, method="numpy")
    with pytest.raises(ValueError, match=r"\bmethod\b"):
        s2scatter.inverse(FLM, L_ERR, method="fast")


def test_non_finite_check_skipped_under_jit():
    # Under jit the values are unknown: no error, NaN propagates (documented in check_finite).
    out = jax.jit(functools.partial(s2scatter.forward, L=L_ERR, method="ducc"))(jnp.asarray(NAN_F))
    assert np.isnan(np.asarray(out)).any()


@pytest.mark.parametrize("method", ["ducc", "jax"])
def test_band_limit_above_3_nside_warns(method):
    nside = 2
    L = 3 * nside + 1
    flm = np.zeros((L, 2 * L - 1), complex)
    with pytest.warns(UserWarning, match="nside") as record:
        f = s2scatter.inverse(flm, L, sampling="healpix", nside=nside, reality=True, method=method)
    assert record[0].filename == __file__  # stacklevel points at the caller (STYLE.md item 11)
    with pytest.warns(UserWarning, match="nside") as record:
        s2scatter.forward(f, L, sampling="healpix", nside=nside, reality=True, method=method, iter=0)
    assert record[0].filename == __file__


def test_resolve_method():
    assert s2scatter.harmonic.resolve_method("auto", 8, "mw") == ("ducc" if jax.default_backend() == "cpu"
                                                                  else "jax")
    assert s2scatter.harmonic.resolve_method("jax", 8, "mw") == "jax"
    with pytest.raises(ValueError, match=r"\bmethod\b"):
        s2scatter.harmonic.resolve_method("bogus", 8, "mw")


def test_finite_check_has_no_false_positive_on_overflowing_sum():
    """The fast finiteness test sums first; huge finite values overflow that sum
    and must fall through to the exact check instead of raising."""
    from s2scatter.harmonic._validate import check_finite

    big = np.full((L_ERR, 2 * L_ERR - 1), 1e308)
    check_finite(big, "f")  # finite: no error
    big[0, 0] = -np.inf
    with pytest.raises(ValueError, match="non-finite"):
        check_finite(big, "f")


def test_eager_ducc_output_is_adopted_without_copy():
    """The eager ducc path hands its aligned host buffer to JAX (no copy) and the
    resulting array behaves like any other."""
    from s2scatter.harmonic import _ducc, _primitive

    host = _ducc.aligned_empty((4, 5), np.float64)
    host[...] = np.arange(20.0).reshape(4, 5)
    arr = _primitive._adopt(host)
    assert isinstance(arr, jax.Array) and arr.dtype == np.float64 and arr.shape == (4, 5)
    assert arr.unsafe_buffer_pointer() == host.ctypes.data
    assert float(jnp.sum(arr * 2)) == 380.0
    # unaligned or non-contiguous buffers are copied instead
    arr2 = _primitive._adopt(np.arange(20.0).reshape(4, 5)[:, ::2])
    np.testing.assert_array_equal(np.asarray(arr2), np.arange(20.0).reshape(4, 5)[:, ::2])


def _gc_reference(flm, L, spin):
    """NumPy (G, C) alm of the spin-|s| pair with coefficients flm (what ducc0's flm2alm computes)."""
    from s2scatter.harmonic import _ducc

    l, m = _ducc._alm_lm(L)
    sgn = np.where(m % 2 == 0, 1.0, -1.0)
    fpos, fneg = flm[..., l, L - 1 + m], flm[..., l, L - 1 - m]
    if spin >= 0:
        fp, fm = fpos, sgn * np.conj(fneg)
    else:
        sf = (-1.0) ** abs(spin)
        fp, fm = sgn * sf * np.conj(fneg), sf * fpos
    return 0.5 * (fp + fm), -0.5j * (fp - fm)


@pytest.mark.parametrize("spin", [0, 1, 2, -2, -3])
def test_compiled_gc_conversion_matches_reference(rng, spin):
    """ducc0's flm2alm (used on the hot path) equals our NumPy (G, C) conversion, and
    _flm_from_alm inverts it on the band (l >= |s|, |m| <= l)."""
    from s2scatter.harmonic import _ducc

    L = 9
    flm = rng.standard_normal((L, 2 * L - 1)) + 1j * rng.standard_normal((L, 2 * L - 1))
    G, C = _gc_reference(flm, L, spin)
    GC = _ducc._gc_of(flm, spin)
    np.testing.assert_array_equal(GC[0], G)
    np.testing.assert_array_equal(GC[1], C)
    ell, m = np.arange(L)[:, None], np.arange(-(L - 1), L)[None, :]
    band = (np.abs(m) <= ell) & (ell >= abs(spin))
    back = _ducc._flm_from_alm(GC, spin, np.full((L, 2 * L - 1), np.nan, complex))
    np.testing.assert_allclose(back, np.where(band, flm, 0), rtol=0, atol=1e-14)


@pytest.mark.parametrize("sampling,spin", [("mw", 2), ("gl", -1), ("healpix", 3)])
def test_host_spin_pair_power_is_the_squared_modulus(rng, sampling, spin):
    """host.spin_pair_power (Q^2 + U^2 from ducc0's real pair) equals |f|^2 of the complex
    spin field synthesised by the transform; both are float64 sums of a few O(1) terms,
    so they agree to ~1e-13."""
    from s2scatter.harmonic import host

    L, nside = 8, (4 if sampling == "healpix" else None)
    flm = smp.random_flm(L, spin=spin, rng=rng)
    f = np.asarray(s2scatter.inverse(flm, L, spin=spin, sampling=sampling, nside=nside, method="ducc"))
    spec = host.DuccSpec(L, spin, sampling, nside, False)
    np.testing.assert_allclose(host.spin_pair_power(np.asarray(flm), spin, spec), np.abs(f) ** 2,
                               rtol=0, atol=1e-12)


def test_set_heap_trim_limit():
    with s2scatter.config():  # put back afterwards: the setting is process-wide
        assert s2scatter.harmonic.set_heap_trim_limit(0.25) in (True, False)
        for bad in (-1, "1", None, True, float("nan")):
            with pytest.raises(ValueError, match="gigabytes"):
                s2scatter.harmonic.set_heap_trim_limit(bad)


# --------------------------------------------------------------------------
# recycled output buffers of eager ducc calls
# --------------------------------------------------------------------------
def _gc():
    import gc

    gc.collect()


def test_output_buffer_recycled_only_after_jax_releases_it():
    """An eager output's buffer is reused by a later output of its shape when (and only
    when) JAX and every view have let go of it; live arrays keep theirs."""
    from s2scatter.harmonic import _buffers, _primitive

    L = 16
    flm = random_flm(np.random.default_rng(0), L, reality=True)
    a = s2scatter.inverse(flm, L, reality=True, method="ducc")
    pa = a.unsafe_buffer_pointer()
    b = s2scatter.inverse(flm, L, reality=True, method="ducc")  # `a` alive: a different buffer
    assert b.unsafe_buffer_pointer() != pa
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    view = np.asarray(a)  # a NumPy view keeps JAX's buffer (and so ours) alive
    del a
    _gc()
    c = s2scatter.inverse(2 * flm, L, reality=True, method="ducc")
    assert c.unsafe_buffer_pointer() != pa
    np.testing.assert_array_equal(view, np.asarray(b))  # not overwritten by `c`
    del view
    _gc()
    d = s2scatter.inverse(3 * flm, L, reality=True, method="ducc")
    assert d.unsafe_buffer_pointer() == pa  # released, then reused
    assert rel_err(d, 3 * np.asarray(b)) <= SAME_TOL
    # a partial view handed to JAX, or a NumPy view the caller keeps, holds the whole buffer
    buf = _buffers.output_empty((8, 16), np.float64)
    ptr = _buffers._address(buf)
    buf[:] = 1.0
    part = _primitive._adopt(buf[:4])
    rows = buf[4:]
    del buf
    _gc()
    other = _buffers.output_empty((8, 16), np.float64)
    assert _buffers._address(other) != ptr
    del part
    _gc()
    assert _buffers._address(_buffers.output_empty((8, 16), np.float64)) != ptr  # `rows` still alive
    np.testing.assert_array_equal(rows, 1.0)
    del rows, other
    _gc()
    assert _buffers._address(_buffers.output_empty((8, 16), np.float64)) == ptr


def test_pooled_buffers_under_concurrent_eager_transforms():
    """Threads running eager transforms of the same shapes at once (sharing the pool of
    outputs and temporaries) each get their own results, while earlier results stay intact."""
    import concurrent.futures

    L = 24
    rng = np.random.default_rng(3)
    cases = []
    for k in range(6):
        flm = random_flm(rng, L, reality=True)
        f = np.asarray(s2scatter.inverse(flm, L, sampling="gl", reality=True, method="ducc"))
        cases.append((flm, f))

    def work(k):
        flm, f = cases[k % len(cases)]
        kept = []
        for _ in range(15):
            kept.append((s2scatter.forward(f, L, sampling="gl", reality=True, method="ducc"),
                         s2scatter.inverse(flm, L, sampling="gl", reality=True, method="ducc")))
        return k, kept

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(work, range(12)))
    for k, kept in results:
        flm, f = cases[k % len(cases)]
        for a, b in kept:
            assert rel_err(a, flm) <= 1e-12
            assert rel_err(b, f) <= SAME_TOL


def test_pooled_temporaries_are_not_shared_between_live_holders():
    """Every live array from the pool is distinct, whatever holds it: the caller, a view,
    a JAX array; a freed one comes back with its contents as last written."""
    from s2scatter.harmonic import _buffers, _primitive

    held = [_buffers.output_empty((3, 5), np.complex128) for _ in range(4)]
    held.append(_buffers.output_empty((3, 5), np.complex128)[1:])
    held.append(_primitive._adopt(_buffers.output_empty((3, 5), np.complex128)))
    ptrs = {_buffers._address(np.asarray(h)) for h in held[:4]} | {held[5].unsafe_buffer_pointer()}
    assert len(ptrs) == 5
    fresh = _buffers.output_empty((3, 5), np.complex128)
    assert _buffers._address(fresh) not in ptrs
    fresh[:] = 7
    p = _buffers._address(fresh)
    del fresh
    again = _buffers.output_empty((3, 5), np.complex128)
    assert _buffers._address(again) == p and np.all(again == 7)


def test_output_cache_limit():
    from s2scatter.harmonic import _buffers, _primitive

    old = _buffers.get_output_cache()["limit_bytes"] / 2**30
    try:
        s2scatter.harmonic.set_output_cache(0)
        assert _buffers.get_output_cache()["held_bytes"] == 0
        arr = _buffers.output_empty((32, 32), np.float64)
        arr[:] = 2.0
        j = _primitive._adopt(arr)
        del arr, j
        _gc()
        assert _buffers.get_output_cache()["held_bytes"] == 0  # limit 0: freed as usual
        for bad in (-1, "1", None, True, float("nan")):
            with pytest.raises(ValueError, match="gigabytes"):
                s2scatter.harmonic.set_output_cache(bad)
    finally:
        s2scatter.harmonic.set_output_cache(old)


@pytest.mark.parametrize("sampling,nside", [("mw", None), ("mwss", None), ("dh", None), ("gl", None),
                                            ("healpix", 8)])
@pytest.mark.parametrize("reality", [True, False])
def test_output_probe_catches_every_non_finite_input(rng, sampling, nside, reality):
    """The eager ducc path checks finiteness on a slice of its output (m = 0 column /
    equatorial ring); a NaN or inf in any read input entry -- highest l and |m|,
    poles, last pixel -- must still raise, naming the input."""
    L = 12
    flm = random_flm(rng, L, reality=reality)
    f = np.asarray(s2scatter.inverse(flm, L, sampling=sampling, nside=nside, reality=reality, method="ducc"))
    kw = dict(sampling=sampling, nside=nside, reality=reality, method="ducc", iter=0)
    read = [(L - 1, 2 * L - 2), (L - 1, L - 1), (L - 1, L), (0, L - 1)]  # m >= 0
    read += [] if reality else [(1, L - 2), (L - 1, 0)]  # m < 0: not read with reality=True
    for idx in read:
        for bad in (np.nan, np.inf):
            g = np.array(flm)
            g[idx] = bad
            with pytest.raises(ValueError, match=r"\bflm\b.*non-finite"):
                s2scatter.inverse(g, L, **{k: v for k, v in kw.items() if k != "iter"})
    flat = f.reshape(-1)
    for pos in (0, flat.size // 3, flat.size - 1):
        for bad in (np.nan, -np.inf):
            g = flat.copy()
            g[pos] = bad
            with pytest.raises(ValueError, match=r"\bf\b.*non-finite"):
                s2scatter.forward(g.reshape(f.shape), L, **kw)


def test_output_cache_drops_least_recently_handed_out():
    """A full pool makes room for a new buffer by dropping the one handed out longest
    ago (freed when nothing uses it; one in use lives on with its user)."""
    from s2scatter.harmonic import _buffers, _primitive

    old = _buffers.get_output_cache()["limit_bytes"] / 2**30
    try:
        s2scatter.harmonic.set_output_cache(0)
        s2scatter.harmonic.set_output_cache(2 * 8192 / 2**30)  # room for two 8 KiB buffers
        arrays = [_primitive._adopt(_buffers.output_empty((n,), np.float64)) for n in (1024, 1024, 512)]
        ptrs = [a.unsafe_buffer_pointer() for a in arrays]
        info = _buffers.get_output_cache()
        assert (info["buffers"], info["held_bytes"], info["free_bytes"]) == (2, 8192 + 4096, 0)  # A dropped
        arrays[0][:3].block_until_ready()  # A lives on with JAX
        arrays = None
        _gc()
        assert _buffers.get_output_cache()["free_bytes"] == 8192 + 4096
        assert _buffers._address(_buffers.output_empty((1024,), np.float64)) == ptrs[1]  # B
        assert _buffers._address(_buffers.output_empty((512,), np.float64)) == ptrs[2]  # C
    finally:
        s2scatter.harmonic.set_output_cache(old)


def test_names_are_case_insensitive_everywhere(rng):
    """One rule for option names: case-insensitive, normalised to lower case -- the same
    values whatever the case (forward, wigner, wavelets, scattering config)."""
    from s2scatter.sampling import validate_choice

    L = 8
    flm = s2scatter.sampling.random_flm(L, reality=True, rng=rng)
    f = np.asarray(s2scatter.inverse(flm, L, reality=True))
    for sampling in ("mw", "MW", "Mw"):
        np.testing.assert_allclose(s2scatter.forward(f, L, sampling=sampling, method="DUCC", reality=True), flm,
                                   rtol=0, atol=1e-12)
    g = np.stack([f] * 3)
    np.testing.assert_allclose(s2scatter.wigner.forward(g, L, 2, sampling="MW"),
                               s2scatter.wigner.forward(g, L, 2, sampling="mw"), rtol=0, atol=0)
    np.testing.assert_allclose(s2scatter.rotate(flm, L, (0.1, 0.2, 0.3), method="JAX"),
                               s2scatter.rotate(flm, L, (0.1, 0.2, 0.3), method="jax"), rtol=0, atol=0)
    cfg = s2scatter.ScatteringConfig(L=16, sampling="MW", method="Auto", output="Invariants", paths="Coarser")
    assert cfg == s2scatter.ScatteringConfig(L=16, output="invariants")
    assert (cfg.sampling, cfg.method, cfg.output, cfg.paths) == ("mw", "auto", "invariants", "coarser")
    with pytest.raises(ValueError, match=r"method must be one of \('auto', 'ducc', 'jax'\), got method='numpy'"):
        validate_choice("numpy", ("auto", "ducc", "jax"), "method")
    with pytest.raises(ValueError, match=r"sampling must be one of"):
        s2scatter.wigner.forward(g, L, 2, sampling="cube")
    with pytest.raises(ValueError, match=r"reality must be True or False"):
        s2scatter.wigner.forward(g, L, 2, reality="yes")
    with pytest.raises(ValueError, match=r"reality must be True or False"):
        s2scatter.wigner.inverse(np.zeros((3, L, 2 * L - 1), complex), L, 2, reality="yes")
