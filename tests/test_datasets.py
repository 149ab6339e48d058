"""Tests of s2scatter.datasets: idx files, spherical images (NR / R), Gaussian vs non-Gaussian
fields, the .npz layout and the Fashion-MNIST fetch script.

Small band-limits throughout (L <= 16, a few hundred maps): the whole file runs in seconds.
"""

import gzip
import importlib.util
import io
import pathlib
import tarfile

import numpy as np
import pytest

import s2scatter
from s2scatter import datasets as D
from s2scatter.sampling import grid_angles, quadrature_weights

ROOT = pathlib.Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------
# idx files
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, rng, dtype, suffix):
    arr = (rng.standard_normal((3, 5, 4)) * 50).astype(dtype)
    path = tmp_path / f"a-idx3{suffix}"
    D.save_idx(path, arr)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == bool(suffix)
    back = D.load_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (3, 5, 4)
    np.testing.assert_array_equal(back, arr)
    back[0, 0, 0] = 1  # writable, native order
    assert back.dtype.isnative


def test_idx_header_is_the_standard_one(tmp_path):
    # bytes written by hand, as in LeCun's description: 00 00 08 01, size 3 (big-endian), data
    (tmp_path / "labels").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9]))
    np.testing.assert_array_equal(D.load_idx(tmp_path / "labels"), [7, 0, 9])
    with gzip.open(tmp_path / "img.gz", "wb") as fh:  # gzip recognised by content
        fh.write(bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 0xFF, 0xFE]))
    np.testing.assert_array_equal(D.load_idx(tmp_path / "img.gz"), [[258, -2]])


def test_idx_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="bad: not an idx file"):
        D.load_idx(bad)
    bad.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(ValueError, match="unknown idx element type 0x42"):
        D.load_idx(bad)
    bad.write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*holds 15 bytes"):
        D.load_idx(bad)
    with pytest.raises(ValueError, match="array must be"):
        D.save_idx(tmp_path / "x", np.zeros(3, dtype=np.complex128))


def test_load_fashion_mnist_reads_standard_names(tmp_path, rng):
    imgs = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labs = np.arange(6, dtype=np.uint8)
    D.save_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    D.save_idx(tmp_path / "t10k-labels-idx1-ubyte", labs)  # .gz optional on disk
    x, y = D.load_fashion_mnist(tmp_path, split="test")
    np.testing.assert_array_equal(x, imgs)
    assert y.dtype == np.int64 and y.tolist() == list(range(6))
    with pytest.raises(FileNotFoundError, match="fetch_fashion_mnist.py"):
        D.load_fashion_mnist(tmp_path, split="train")
    with pytest.raises(ValueError, match="split must be"):
        D.load_fashion_mnist(tmp_path, split="val")


# --------------------------------------------------------------------------
# projection geometry
# --------------------------------------------------------------------------
def _plane_s2cnn(theta, phi, kind):
    """Tangent-plane point of a sphere point, written as in s2cnn's gendata.py: the sphere
    moved up to centre (0, 0, 1), touching the plane z = 0 at its south pole, and the ray
    from the projection origin (north pole (0, 0, 2), or the centre (0, 0, 1)) through the point."""
    x, y, z = np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) + 1
    sz = 2.0 if kind == "stereographic" else 1.0
    t = -z / (z - sz)
    return x + t * x, y + t * y


def _pixel_coords(qx, qy, H, W, h):
    return (qx + h) / (2 * h) * H - 0.5, (qy + h) / (2 * h) * W - 0.5


@pytest.mark.parametrize("kind", ["stereographic", "gnomonic"])
def test_centre_pixel_lands_on_the_south_pole(kind):
    L = 16
    img = np.zeros((1, 9, 9))
    img[0, 4, 4] = 1.0
    m = D.project_images(img, L, bandlimit=False, projection=D.ProjectionConfig(kind=kind))[0]
    assert m.shape == (L, 2 * L - 1)
    np.testing.assert_allclose(m[-1], 1.0, atol=1e-6)  # last MW ring is the south pole
    assert m.max() == m[-1].max()
    # the hat function of one pixel reaches one pixel (2h/9 = 1/3) from its centre, on the plane
    th, ph = grid_angles(L)
    qx, qy = _plane_s2cnn(th, ph, kind)
    inside = (np.abs(qx) < 1 / 3) & (np.abs(qy) < 1 / 3) & (th > np.pi / 2)
    assert np.all(m[~inside] == 0) and np.all(m[inside] > 0)


@pytest.mark.parametrize("kind", ["stereographic", "gnomonic"])
def test_rows_run_along_phi_0_and_columns_along_phi_half_pi(kind):
    h, H = 1.5, 9
    img = np.zeros((2, H, H))
    img[0, 8, 4] = 1.0  # last row, middle column
    img[1, 4, 8] = 1.0  # middle row, last column
    q = -h + 8.5 * 2 * h / H  # centre of pixel 8 on the plane: 4/3
    psi = 2 * np.arctan(q / 2) if kind == "stereographic" else np.arctan(q)  # angle from south pole
    theta = np.pi - psi
    vals = D.project_at(img, np.full(4, theta), np.array([0.0, np.pi / 2, np.pi, 3 * np.pi / 2]),
                        projection=D.ProjectionConfig(kind=kind))
    np.testing.assert_allclose(vals, [[1, 0, 0, 0], [0, 1, 0, 0]], atol=1e-12)


@pytest.mark.parametrize("kind", ["stereographic", "gnomonic"])
def test_bilinear_is_exact_for_a_linear_image(kind, rng):
    H, W, h = 7, 11, 1.5  # non-square on purpose: rows and columns scale separately
    i, j = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    img = (0.3 + 0.05 * i - 0.02 * j)[None]
    theta = np.pi - rng.uniform(0, 1.2, 4000)
    phi = rng.uniform(0, 2 * np.pi, 4000)
    u, v = _pixel_coords(*_plane_s2cnn(theta, phi, kind), H, W, h)
    keep = (u >= 0) & (u <= H - 1) & (v >= 0) & (v <= W - 1)  # inside the hull of pixel centres
    assert keep.sum() > 500
    got = D.project_at(img, theta[keep], phi[keep], projection=D.ProjectionConfig(kind=kind))[0]
    np.testing.assert_allclose(got, 0.3 + 0.05 * u[keep] - 0.02 * v[keep], atol=1e-12)


@pytest.mark.parametrize("kind", ["stereographic", "gnomonic"])
def test_support_and_projected_area_of_a_blank_image(kind):
    """A constant image covers the projection of its square: 1 inside the pixel-centre hull,
    0 beyond half a pixel outside, and the integral over the sphere is the solid angle of
    the square (the linear fade over the border pixel integrates like the hard edge)."""
    from scipy import integrate

    H, h = 28, 1.5
    d = 2 * h / H
    Lq = 256
    th, ph = grid_angles(Lq, sampling="gl")
    m = D.project_images(np.ones((1, H, H)), Lq, sampling="gl", bandlimit=False,
                         projection=D.ProjectionConfig(kind=kind), dtype=np.float64)[0]
    qx, qy = _plane_s2cnn(th, ph, kind)
    south = th > np.pi / 2 if kind == "gnomonic" else th > 0
    box = np.maximum(np.abs(qx), np.abs(qy))
    assert np.all(m[south & (box <= h - d / 2)] == pytest.approx(1.0, abs=1e-12))
    assert np.all(m[~south | (box > h + d / 2)] == 0)
    # hemisphere: the square's projection lies within psi < 2 atan((h + d/2)/sqrt(2)) (stereo.)
    psi_max = (2 * np.arctan((h + d / 2) / np.sqrt(2)) if kind == "stereographic"
               else np.arctan((h + d / 2) * np.sqrt(2)))
    assert np.all(np.pi - th[m > 0] < psi_max)
    w = quadrature_weights(Lq, sampling="gl")[:, None] * (2 * np.pi / (2 * Lq - 1))
    area = float(np.sum(w * m))
    if kind == "gnomonic":  # solid angle of a square of half-side h at distance 1
        exact = 4 * np.arcsin(h * h / (1 + h * h))
    else:  # stereographic area element (4 / (4 + r^2))^2 on the plane
        exact = integrate.dblquad(lambda y, x: (4 / (4 + x * x + y * y)) ** 2, -h, h, -h, h,
                                  epsabs=1e-12)[0]
    assert area == pytest.approx(exact, rel=2e-3)
    if kind == "stereographic":  # s2cnn's square covers 83% of a hemisphere (2 pi sr)
        assert 0.82 * 2 * np.pi < exact < 0.83 * 2 * np.pi


def test_images_input_and_options_errors():
    img = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match=r"images must have shape \(n, H, W\)"):
        D.project_images(np.zeros((4, 4)), 4)
    with pytest.raises(ValueError, match="images contain NaN"):
        D.project_images(np.full((1, 4, 4), np.nan), 4)
    with pytest.raises(ValueError, match="rotation must be"):
        D.project_images(img, 4, rotation="random")
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        D.project_images(img, 4, rotation=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="bandlimit=False"):
        D.project_images(img, 4, rotation="R", bandlimit=False)
    with pytest.raises(ValueError, match="seed must be"):
        D.project_images(img, 4, rotation="R", seed=-1)
    with pytest.raises(ValueError, match="oversample must be"):
        D.project_images(img, 4, oversample=0)
    with pytest.raises(ValueError, match="L \\(band-limit\\)"):
        D.project_images(img, 0)
    with pytest.raises(ValueError, match="nside is required"):
        D.project_images(img, 4, sampling="healpix")
    with pytest.raises(ValueError, match="kind must be one of"):
        D.ProjectionConfig(kind="mercator")
    with pytest.raises(ValueError, match="half_width must be"):
        D.ProjectionConfig(half_width=0)


def test_uint8_images_scaled_to_unit_interval():
    img = np.full((1, 5, 5), 255, dtype=np.uint8)
    m = D.project_images(img, 8, bandlimit=False)
    assert m.max() == pytest.approx(1.0)


# --------------------------------------------------------------------------
# NR / R regimes
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    return load_digits().images[:24] / 16.0


def test_rotated_maps_have_the_power_of_the_unrotated_maps(digits):
    L = 12
    nr = D.project_images(digits, L, dtype=np.float64)
    r = D.project_images(digits, L, rotation="R", seed=3, dtype=np.float64)
    p_nr, p_r = D.power_spectrum(nr, L), D.power_spectrum(r, L)
    # rotation is exact in harmonic space: the power per degree agrees to rounding
    assert np.max(np.abs(p_r - p_nr)) <= 1e-10 * np.max(p_nr)
    diff = np.max(np.abs(r - nr), axis=(1, 2)) / np.max(np.abs(nr), axis=(1, 2))
    assert np.all(diff > 0.1)  # ... while the maps themselves differ, every one of them


def test_each_image_gets_its_own_rotation(digits):
    L = 10
    n = len(digits)
    ang = D.random_rotations(n, seed=5)
    assert len({tuple(a) for a in ang.round(12)}) == n
    nr = D.project_images(digits, L, dtype=np.float64)
    r = D.project_images(digits, L, rotation="R", seed=5, dtype=np.float64, batch_size=7)
    flm_nr = np.asarray(s2scatter.forward(nr, L, reality=True))
    flm_r = np.asarray(s2scatter.forward(r, L, reality=True))
    for i in range(n):  # R map i is NR map i rotated by random_rotations(n, seed)[i]
        np.testing.assert_allclose(flm_r[i], s2scatter.rotate(flm_nr[i], L, tuple(ang[i])), atol=1e-12)
    # the same image twice gets two different rotations
    twice = D.project_images(np.stack([digits[0], digits[0]]), L, rotation="R", seed=5)
    assert np.max(np.abs(twice[0] - twice[1])) > 0.1 * np.max(np.abs(twice[0]))
    # explicit angles are used as given
    np.testing.assert_allclose(D.project_images(digits, L, rotation=ang, dtype=np.float64), r, atol=1e-12)


def test_random_rotations_are_haar_distributed():
    """ZYZ angles of the Haar measure: alpha/2pi, gamma/2pi and (1 - cos beta)/2 uniform.
    Kolmogorov-Smirnov at a fixed seed; p > 1e-3 (a true uniform fails with probability 1e-3)."""
    from scipy import stats

    a = D.random_rotations(4000, seed=11)
    for x in (a[:, 0] / (2 * np.pi), a[:, 2] / (2 * np.pi), (1 - np.cos(a[:, 1])) / 2):
        assert stats.kstest(x, "uniform").pvalue > 1e-3
    assert stats.kstest(a[:, 1] / np.pi, "uniform").pvalue < 1e-6  # beta itself is not uniform


def test_seeds_reproduce_and_batching_does_not_matter(digits):
    L = 8
    a = D.project_images(digits, L, rotation="R", seed=1)
    b = D.project_images(digits, L, rotation="R", seed=1, batch_size=5)
    c = D.project_images(digits, L, rotation="R", seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(D.project_images(digits[:10], L, rotation="R", seed=1), a[:10])


@pytest.mark.parametrize("sampling,nside", [("mw", None), ("mwss", None), ("dh", None), ("gl", None),
                                            ("healpix", 4)])
def test_every_sampling(digits, sampling, nside):
    L = 8
    m = D.project_images(digits[:3], L, sampling=sampling, nside=nside, rotation="R", seed=0)
    assert m.shape == (3, *s2scatter.sampling.f_shape(L, sampling=sampling, nside=nside))
    assert m.dtype == np.float32 and np.all(np.isfinite(m))


def test_oversampled_projection_is_the_same_function_on_every_sampling(digits):
    L = 8
    flms = [np.asarray(s2scatter.forward(
        D.project_images(digits[:4], L, sampling=s, oversample=2, dtype=np.float64), L,
        sampling=s, reality=True)) for s in ("mw", "gl", "dh")]
    np.testing.assert_allclose(flms[1], flms[0], atol=1e-12)
    np.testing.assert_allclose(flms[2], flms[0], atol=1e-12)


def test_load_digits_sphere():
    pytest.importorskip("sklearn")
    maps, labels = D.load_digits_sphere(6, sampling="gl")
    assert maps.shape == (1797, 6, 11) and maps.dtype == np.float32
    assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))


# --------------------------------------------------------------------------
# Gaussian vs non-Gaussian fields
# --------------------------------------------------------------------------
def test_pairs_share_their_power_spectrum():
    L = 16
    for sampling in ("mw", "gl"):
        maps, labels = D.gaussian_vs_nongaussian(12, L, level=0.5, seed=4, sampling=sampling,
                                                 dtype=np.float64)
        assert labels.tolist() == [0, 1] * 6
        p = D.power_spectrum(maps, L, sampling=sampling)
        assert np.max(np.abs(p[0::2] - p[1::2])) <= 1e-12 * np.max(p)
        assert p[:, 0].max() <= 1e-12 * p.max()  # default spectrum: no monopole
        assert np.max(np.abs(maps[0::2] - maps[1::2])) > 0.5  # same spectra, different maps


@pytest.mark.parametrize("paired", [True, False])
def test_both_classes_have_the_target_spectrum(paired):
    """Mean over N maps of C_l-hat / C_l is chi^2_{2l+1}/(2l+1) averaged: mean 1, standard
    deviation sqrt(2 / ((2l+1) N)); every degree within 5 of those for both classes."""
    L, N = 12, 200
    cl = lambda ell: 1.0 / (1.0 + ell) ** 2  # noqa: E731 (monopole included)
    maps, labels = D.gaussian_vs_nongaussian(2 * N, L, level=0.8, seed=9, spectrum=cl,
                                             paired=paired, sampling="gl", dtype=np.float64)
    ratio = D.power_spectrum(maps, L, sampling="gl") / cl(np.arange(L))
    sd = np.sqrt(2 / ((2 * np.arange(L) + 1) * N))
    for k in (0, 1):
        assert np.all(np.abs(ratio[labels == k].mean(0) - 1) < 5 * sd)


def _skewness_gl(maps, L):
    w = quadrature_weights(L, sampling="gl")[:, None]
    w = np.broadcast_to(w / (w.sum() * maps.shape[-1]), maps.shape[1:])
    c = maps - np.sum(maps * w, axis=(1, 2))[:, None, None]
    return np.sum(c ** 3 * w, axis=(1, 2)) / np.sum(c ** 2 * w, axis=(1, 2)) ** 1.5


def test_power_spectrum_classifier_is_at_chance_skewness_is_not():
    """Logistic regression on log C_l (l >= 1) against a threshold on the map's skewness.

    Threshold: if the features do not depend on the class, each of the n = 400 balanced
    test predictions is right or wrong independently of the others, the count of right
    ones has mean n/2, and the accuracy has standard deviation at most 0.5 / sqrt(n) =
    0.025: |acc - 0.5| < 0.1 is a 4-sigma band, which a chance-level classifier leaves with
    probability at most 2 exp(-2 n 0.1^2) = 6.7e-4 (Hoeffding; ~6e-5 by the normal
    approximation).  Skewness must reach 0.7, which chance reaches with probability at most
    exp(-2 n 0.2^2) = 1.3e-14.
    """
    from sklearn.linear_model import LogisticRegression

    L, n = 16, 400
    level = 0.1  # skewness ~ 0.4 against a per-map scatter ~ 0.15 at this L
    sets = {}
    for name, seed in (("train", 1), ("test", 2)):
        maps, y = D.gaussian_vs_nongaussian(n, L, level=level, seed=seed, paired=False,
                                            sampling="gl", dtype=np.float64)
        sets[name] = (np.log(D.power_spectrum(maps, L, sampling="gl")[:, 1:]), _skewness_gl(maps, L), y)
    (ptr, str_, ytr), (pte, ste, yte) = sets["train"], sets["test"]
    acc_ps = LogisticRegression(max_iter=5000).fit(ptr, ytr).score(pte, yte)
    assert abs(acc_ps - 0.5) < 0.1
    threshold = 0.5 * (str_[ytr == 0].mean() + str_[ytr == 1].mean())
    acc_skew = np.mean((ste > threshold) == (yte == 1))
    assert acc_skew >= 0.7
    # paired sets: both maps of a pair have the same spectrum, so any classifier of the
    # spectrum gives them the same label: exactly half right on whole pairs
    maps, y = D.gaussian_vs_nongaussian(200, L, level=level, seed=2, sampling="gl", dtype=np.float64)
    feats = np.log(D.power_spectrum(maps, L, sampling="gl")[:, 1:])
    pred = LogisticRegression(max_iter=5000).fit(ptr, ytr).predict(feats)
    assert np.all(pred[0::2] == pred[1::2]) and np.mean(pred == y) == 0.5


def test_level_zero_gives_two_gaussian_classes():
    L, n = 16, 400
    maps, y = D.gaussian_vs_nongaussian(n, L, level=0.0, seed=6, paired=False, sampling="gl",
                                        dtype=np.float64)
    s = _skewness_gl(maps, L)
    acc = np.mean((s > np.median(s)) == (y == 1))
    assert abs(acc - 0.5) < 0.1  # 4-sigma binomial band, as above


def test_fields_are_reproducible_in_pieces():
    L = 8
    full, _ = D.gaussian_vs_nongaussian(20, L, level=0.3, seed=7)
    np.testing.assert_array_equal(D.gaussian_vs_nongaussian(20, L, level=0.3, seed=7, batch_size=3)[0], full)
    np.testing.assert_array_equal(D.gaussian_vs_nongaussian(8, L, level=0.3, seed=7)[0], full[:8])
    np.testing.assert_array_equal(D.gaussian_vs_nongaussian(12, L, level=0.3, seed=7, offset=4)[0], full[8:])
    assert not np.allclose(D.gaussian_vs_nongaussian(20, L, level=0.3, seed=8)[0], full)
    m, _ = D.gaussian_vs_nongaussian(4, L, level=0.3, sampling="healpix", nside=4)
    assert m.shape == (4, 192)


def test_fields_errors():
    with pytest.raises(ValueError, match="n must be a non-negative even"):
        D.gaussian_vs_nongaussian(3, 8, level=0.1)
    with pytest.raises(ValueError, match="level must be"):
        D.gaussian_vs_nongaussian(2, 8, level=-1)
    with pytest.raises(ValueError, match="spectrum must give"):
        D.gaussian_vs_nongaussian(2, 8, level=0.1, spectrum=np.ones(5))
    with pytest.raises(ValueError, match="spectrum must be finite"):
        D.gaussian_vs_nongaussian(2, 8, level=0.1, spectrum=-np.ones(8))
    with pytest.raises(ValueError, match="seed must be"):
        D.gaussian_vs_nongaussian(2, 8, level=0.1, seed=1.5)
    with pytest.raises(TypeError):
        D.gaussian_vs_nongaussian(2, 8)  # level is required


# --------------------------------------------------------------------------
# .npz layout
# --------------------------------------------------------------------------
def test_npz_round_trip(tmp_path):
    maps = np.zeros((3, 192), np.float32)
    D.save_npz(tmp_path / "h.npz", maps, np.array([0, 2, 1], np.int32), L=8, sampling="healpix", nside=4)
    with np.load(tmp_path / "h.npz") as f:
        assert sorted(f.files) == ["L", "labels", "maps", "nside", "sampling"]
        assert str(f["sampling"]) == "healpix" and int(f["L"]) == 8
    d = D.load_npz(tmp_path / "h.npz")
    assert (d.L, d.sampling, d.nside) == (8, "healpix", 4)
    assert d.labels.dtype == np.int64 and d.maps.dtype == np.float32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.npz"]  # no temporary file left behind


def test_npz_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"labels \(2\) and maps \(3\) differ"):
        D.save_npz(tmp_path / "a.npz", np.zeros((3, 4, 7)), [0, 1], L=4)
    with pytest.raises(ValueError, match=r"maps must have shape \(n, 4, 7\)"):
        D.save_npz(tmp_path / "a.npz", np.zeros((3, 5, 7)), [0, 1, 2], L=4)
    with pytest.raises(ValueError, match="NaN"):
        D.save_npz(tmp_path / "a.npz", np.full((1, 4, 7), np.nan), [0], L=4)
    with pytest.raises(ValueError, match="labels must be a 1-D integer"):
        D.save_npz(tmp_path / "a.npz", np.zeros((1, 4, 7)), [0.5], L=4)
    assert not (tmp_path / "a.npz").exists()
    np.savez(tmp_path / "b.npz", maps=np.zeros((2, 4, 7)))
    with pytest.raises(ValueError, match="missing key 'labels'"):
        D.load_npz(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", maps=np.zeros((2, 4, 7)), labels=[0, 1])
    with pytest.raises(ValueError, match="no key 'L'"):
        D.load_npz(tmp_path / "c.npz")
    assert D.load_npz(tmp_path / "c.npz", L=4).sampling == "mw"
    D.save_npz(tmp_path / "d.npz", np.zeros((2, 4, 7)), [0, 1], L=4)
    with pytest.raises(ValueError, match="L=5 was given but the file says L=4"):
        D.load_npz(tmp_path / "d.npz", L=5)


# --------------------------------------------------------------------------
# fetch script
# --------------------------------------------------------------------------
def _fetch_module():
    spec = importlib.util.spec_from_file_location("fetch_fashion_mnist", ROOT / "scripts" / "fetch_fashion_mnist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_deb(path, files):
    """A minimal .deb: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    def tar_xz(entries):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:xz") as tar:
            for name, data in entries.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    members = [("debian-binary", b"2.0\n"),
               ("control.tar.xz", tar_xz({"./control": b"Package: dataset-fashion-mnist\n"})),
               ("data.tar.xz", tar_xz(files))]
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    path.write_bytes(bytes(out))


@pytest.mark.parametrize("use_dpkg", [False, True])
def test_fetch_script_unpacks_and_verifies_a_deb(tmp_path, rng, use_dpkg):
    import shutil

    if use_dpkg and shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed")
    F = _fetch_module()
    shapes = {"train-images-idx3-ubyte.gz": (5, 28, 28), "train-labels-idx1-ubyte.gz": (5,),
              "t10k-images-idx3-ubyte.gz": (3, 28, 28), "t10k-labels-idx1-ubyte.gz": (3,)}
    files = {}
    for name, shape in shapes.items():
        arr = rng.integers(0, 10 if len(shape) == 1 else 256, shape, dtype=np.uint8)
        D.save_idx(tmp_path / name, arr)
        files[f"./usr/share/datasets/fashion-mnist/{name}"] = (tmp_path / name).read_bytes()
    deb = tmp_path / "fake.deb"
    _fake_deb(deb, files)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    F.extract_deb(deb, unpacked, use_dpkg=use_dpkg)
    found = F._locate(unpacked)
    assert found == unpacked / "usr/share/datasets/fashion-mnist"
    F.verify(found, shapes=shapes, sha256=None)
    with pytest.raises(F.FetchError, match=r"expected uint8 \(60000, 28, 28\)"):
        F.verify(found, sha256=None)
    with pytest.raises(F.FetchError, match="SHA-256"):
        F.verify(found, shapes=shapes)  # the real checksums do not match the fake files
    if not use_dpkg:  # the whole flow, into a cache folder
        cache = tmp_path / "cache"
        F.fetch(cache, deb=deb, shapes=shapes, sha256=None, log=lambda *a: None)
        x, y = D.load_fashion_mnist(cache, split="test")
        assert x.shape == (3, 28, 28) and y.shape == (3,)
        assert not list(cache.glob(".fetch-*"))


def test_doctests():
    import doctest

    from s2scatter.datasets import _fields, _idx, _npz, _project

    for mod in (_fields, _idx, _npz, _project):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0, mod.__name__
