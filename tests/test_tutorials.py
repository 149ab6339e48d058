"""The tutorials (``scripts/tutorial_*.py``) run at their CI size and draw the figures
their pages show.

Each script is run in this process with ``--small --out <tmp>`` (x64 on, warnings are
errors, as everywhere in the suite); the test checks the numbers it reports and that the
set of PNGs it writes is exactly the set its page (and the conventions / maths pages)
embeds from its figure folder, so a page cannot show a figure that no script draws. The
committed figures under ``docs/tutorials/figures/`` come from the full-size runs
(``python scripts/tutorial_<name>.py``, no arguments).
"""

import importlib.util
import pathlib
import re
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "tutorials" / "figures"


def _run(name, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(f"tutorial_{name}", ROOT / "scripts" / f"tutorial_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / name
    results = module.main(["--small", "--out", str(out)])
    return results, out


def _embedded(name):
    """Figure names (``figures/<name>/<file>.png``) that any page embeds."""
    names = set()
    for md in (ROOT / "docs").rglob("*.md"):
        text = md.read_text(encoding="utf-8")
        names.update(re.findall(r"!\[[^\]]*\]\([^)\s]*figures/%s/([^)\s/]+\.png)\)" % re.escape(name), text))
    return names


def _check_figures(name, out):
    from PIL import Image

    written = {p.name for p in out.glob("*.png")}
    assert written == _embedded(name), "figures written and figures embedded in the pages differ"
    assert written == {p.name for p in (FIGURES / name).glob("*.png")}, \
        f"committed figures differ: rerun python scripts/tutorial_{name}.py"
    for png in out.glob("*.png"):
        with Image.open(png) as im:
            pixels = np.asarray(im.convert("L"))
        assert pixels.std() > 5, f"{png.name} is blank"


def test_tutorial_transforms(tmp_path, monkeypatch):
    results, out = _run("transforms", tmp_path, monkeypatch)
    assert results["L"] == 32
    # exact transforms on the equiangular / GL grids: rounding of O(L) sums of O(1) terms
    for scheme in ("mw", "mwss", "dh", "gl"):
        assert results["roundtrip"][scheme] < 1e-12, scheme
    assert results["roundtrip"]["healpix"] < 1e-4  # iter=3 at L = 2 nside: ~5e-6 measured
    assert results["rotation"]["undo"] < 1e-12 and results["rotation"]["power"] < 1e-12
    assert results["wavelets"] < 1e-12
    assert results["admissibility"] < 1e-13
    assert results["healpy"]["alm2map"] < 1e-10 and results["healpy"]["map2alm"] < 1e-10
    _check_figures("transforms", out)


def test_tutorial_earth_features(tmp_path, monkeypatch):
    results, out = _run("earth_features", tmp_path, monkeypatch)
    assert results["L"] == 32 and results["L_scal"] == 8
    assert results["shape"] == (results["n_paths"], 8, 15)
    # equivariance of the maps: the modulus aliasing at oversampling 2 (docs/scattering.md
    # measures ~3e-4 at L = 64-256); means: relative per path, the smallest ones move most
    assert results["equivariance_maps"] < 2e-3
    assert results["assert_equivariant"] < 2e-3
    assert results["equivariance_mean"] < 1e-2
    _check_figures("earth_features", out)


def test_tutorial_hybrid_digits(tmp_path, monkeypatch):
    pytest.importorskip("sklearn", reason="the digits come from scikit-learn (test extra)")
    results, out = _run("hybrid_digits", tmp_path, monkeypatch)
    assert results["L"] == 16 and results["epochs"] == 2
    hybrid, mlp = results["hybrid"], results["mlp"]
    assert all(np.isfinite(hybrid["loss"])) and all(np.isfinite(mlp["loss"]))
    for hist in (hybrid, mlp):  # mean loss of the last epoch below that of the first
        per_epoch = len(hist["loss"]) // results["epochs"]
        assert np.mean(hist["loss"][-per_epoch:]) < np.mean(hist["loss"][:per_epoch])
    # the hybrid model's logits are rotation invariant up to the front end's aliasing
    # (~1e-3), so it scores the same on rotated and unrotated test digits; the pixel
    # MLP learns the NR digits quickly and fails on rotated ones
    assert results["logit_rotation_error"] < 1e-2
    assert hybrid["nr"][-1] > 0.15  # above chance (0.1) after two short epochs
    assert abs(hybrid["nr"][-1] - hybrid["r"][-1]) < 0.05
    assert mlp["nr"][-1] > mlp["r"][-1] + 0.2
    _check_figures("hybrid_digits", out)
