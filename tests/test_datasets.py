"""Tests of s2scatter.datasets: idx files, Gaussian vs non-Gaussian fields, the .npz layout
and the Fashion-MNIST fetch script.

Small band-limits throughout (L <= 16, a few hundred maps): the whole file runs in seconds.
"""

import gzip
import importlib.util
import io
import pathlib
import tarfile

import numpy as np
import pytest

from s2scatter import datasets as D
from s2scatter.sampling import quadrature_weights

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
    assert not list(tmp_path.glob(".tmp-*"))  # nothing left behind


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

    from s2scatter.datasets import _fields, _idx, _npz

    for mod in (_fields, _idx, _npz):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0, mod.__name__
