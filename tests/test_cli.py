"""Tests of the command-line interface (``s2scatter demo`` and friends).

`test_demo_end_to_end` exercises the real transforms. The other demo tests
swap in pyssht as a stand-in transform so that the CLI's plumbing (files,
messages, exit codes) is tested independently of the backends.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import s2scatter
from s2scatter import cli
from s2scatter.cli import main

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUTS = ("map.png", "power_spectrum.png", "flm.npy")


def _reported_errors(stdout):
    """The (flm, map) round-trip errors printed by `s2scatter demo`."""
    match = re.search(r"round-trip error .*: flm (\S+), map (\S+)", stdout)
    assert match, stdout
    return float(match.group(1)), float(match.group(2))


def _check_outputs(out, L):
    for name in ("map.png", "power_spectrum.png"):
        path = out / name
        assert path.is_file()
        with Image.open(path) as image:
            image.verify()  # raises on a truncated or corrupt file
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert min(image.size) > 100
    flm = np.load(out / "flm.npy")
    assert flm.shape == (L, 2 * L - 1)
    assert np.iscomplexobj(flm)
    # Nothing but the three outputs: no temporary files left behind.
    assert sorted(os.listdir(out)) == sorted(OUTPUTS)
    return flm


# --------------------------------------------------------------------------
# A stand-in transform (pyssht), used only to test the CLI plumbing.
# --------------------------------------------------------------------------
def _to_2d(flm_1d, L):
    flm = np.zeros((L, 2 * L - 1), dtype=np.complex128)
    for ell in range(L):
        flm[ell, L - 1 - ell : L + ell] = flm_1d[ell * ell : (ell + 1) ** 2]
    return flm


def _to_1d(flm, L):
    return np.concatenate([flm[ell, L - 1 - ell : L + ell] for ell in range(L)])


@pytest.fixture
def pyssht_transforms(monkeypatch):
    pyssht = pytest.importorskip("pyssht")
    calls = []

    def forward(f, L, *, spin=0, sampling="mw", nside=None, reality=False, method="auto"):
        calls.append(("forward", sampling, reality, method))
        assert (spin, sampling, nside) == (0, "mw", None)
        f = np.asarray(f)
        return _to_2d(pyssht.forward(f, L, Spin=0, Method="MW", Reality=reality), L)

    def inverse(flm, L, *, spin=0, sampling="mw", nside=None, reality=False, method="auto"):
        calls.append(("inverse", sampling, reality, method))
        assert (spin, sampling, nside) == (0, "mw", None)
        flm_1d = _to_1d(np.asarray(flm), L)
        return pyssht.inverse(flm_1d, L, Spin=0, Method="MW", Reality=reality)

    monkeypatch.setattr(s2scatter, "forward", forward, raising=False)
    monkeypatch.setattr(s2scatter, "inverse", inverse, raising=False)
    return calls


# --------------------------------------------------------------------------
# The demo.
# --------------------------------------------------------------------------
def test_demo_end_to_end(tmp_path, capsys):
    """The README's first command, at a small band-limit, on the real transforms."""
    L = 32
    out = tmp_path / "demo"
    assert main(["demo", "-o", out, "--L", str(L)]) == 0
    stdout = capsys.readouterr().out
    flm = _check_outputs(out, L)
    # Double precision: exact quadrature on MW gives ~1e-14 at L=32; 1e-10
    # leaves room for backend differences without hiding a real error.
    flm_error, map_error = _reported_errors(stdout)
    assert flm_error < 1e-10 and map_error < 1e-10
    np.testing.assert_allclose(flm, cli._random_flm(L, np.random.default_rng(0)),
                               rtol=0, atol=1e-10)
    for name in OUTPUTS:
        assert os.path.abspath(out / name) in stdout


def test_demo_plumbing(tmp_path, capsys, pyssht_transforms):
    L = 16
    out = tmp_path / "nested" / "out"  # created, parents included
    assert main(["demo", "-o", str(out), "--L", str(L), "--method", "ducc",
                 "--seed", "7"]) == 0
    flm = _check_outputs(out, L)
    # pyssht is exact to ~1e-15 at L=16 in double precision.
    np.testing.assert_allclose(flm, cli._random_flm(L, np.random.default_rng(7)),
                               rtol=0, atol=1e-12)
    flm_error, map_error = _reported_errors(capsys.readouterr().out)
    assert flm_error < 1e-12 and map_error < 1e-12
    # Options reach the transforms: MW sampling, real input, chosen method.
    assert {c[1:] for c in pyssht_transforms} == {("mw", True, "ducc")}
    assert [c[0] for c in pyssht_transforms] == ["inverse", "forward", "inverse"]

    # Running again replaces the files in place.
    assert main(["demo", "-o", str(out), "--L", str(L)]) == 0
    _check_outputs(out, L)


def test_random_flm_describes_a_real_band_limited_field():
    L = 9
    flm = cli._random_flm(L, np.random.default_rng(3))
    ell, col = np.indices(flm.shape)
    m = col - (L - 1)
    assert np.all(flm[np.abs(m) > ell] == 0)
    assert np.all(flm[np.abs(m) <= ell] != 0)
    # f_{l,-m} = (-1)^m conj(f_{lm})
    np.testing.assert_array_equal(flm[:, ::-1], (-1.0) ** m * np.conj(flm))


def test_demo_fails_on_large_round_trip_error(tmp_path, capsys, pyssht_transforms,
                                               monkeypatch):
    exact_forward = s2scatter.forward
    monkeypatch.setattr(s2scatter, "forward",
                        lambda f, L, **kw: 1.01 * exact_forward(f, L, **kw))
    assert main(["demo", "-o", tmp_path, "--L", "8"]) == 1
    assert "above tolerance" in capsys.readouterr().err


def test_demo_reports_backend_errors(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("unknown method 'nope'")

    monkeypatch.setattr(s2scatter, "forward", broken, raising=False)
    monkeypatch.setattr(s2scatter, "inverse", broken, raising=False)
    assert main(["demo", "-o", tmp_path, "--L", "8", "--method", "nope"]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "unknown method 'nope'" in err
    assert os.listdir(tmp_path) == []  # nothing half-written


def test_demo_output_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    assert main(["demo", "-o", target, "--L", "8"]) == 1
    assert "not a directory" in capsys.readouterr().err
    assert target.read_text() == "keep me"


# --------------------------------------------------------------------------
# Usage errors and entry points.
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["demo", "--L", "1"], ["demo", "--L", "x"], ["demo", "--seed", "1.5"]],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err  # argparse (or the help text) explains


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out
    assert main(["demo", "--help"]) == 0
    assert "--output" in capsys.readouterr().out
    assert main(["--version"]) == 0
    from s2scatter._version import __version__

    assert __version__ in capsys.readouterr().out


def test_python_dash_m():
    proc = subprocess.run(
        [sys.executable, "-m", "s2scatter", "--version"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("s2scatter ")
