"""Tests of the quick-look plots in `s2scatter.plotting`."""

import os

import numpy as np
import pytest
from PIL import Image
from matplotlib.figure import Figure

import s2scatter
from s2scatter import plotting
from s2scatter.plotting import plot_mollweide, plot_power_spectrum

L = 8
SHAPES = {
    "mw": (L, 2 * L - 1),
    "mwss": (L + 1, 2 * L),
    "dh": (2 * L, 2 * L - 1),
    "gl": (L, 2 * L - 1),
}


def _is_png(path):
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.format == "PNG"


@pytest.mark.parametrize("sampling", sorted(SHAPES))
def test_mollweide_each_equiangular_sampling(sampling, tmp_path, rng):
    f = rng.standard_normal(SHAPES[sampling])
    path = tmp_path / f"{sampling}.png"
    ax = plot_mollweide(f, L, sampling=sampling, path=path, title=sampling)
    assert ax.name == "mollweide"
    assert _is_png(path)
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left


def test_mollweide_healpix(tmp_path, rng):
    nside = 4
    f = rng.standard_normal(12 * nside**2)
    plot_mollweide(f, L, sampling="healpix", path=tmp_path / "a.png")  # nside inferred
    assert _is_png(tmp_path / "a.png")
    plot_mollweide(f, L, sampling="healpix", nside=nside, path=tmp_path / "b.png")
    assert _is_png(tmp_path / "b.png")
    with pytest.raises(ValueError, match="nside=8"):
        plot_mollweide(f, L, sampling="healpix", nside=8)


def test_mollweide_complex_parts(tmp_path, rng):
    """Each ``part`` draws that part: constants exactly, smooth fields to the bilinear bound.

    Real part cos(theta), imaginary part sin(theta) cos(phi) (both l = 1): bilinear
    resampling is within 0.06 of each (see test_resampling_reproduces_a_smooth_field).
    ``abs`` of a constant 2 - 3j is sqrt(13) everywhere; an unknown part is refused.
    """
    theta = s2scatter.sampling.thetas(L, sampling="mw")[:, None]
    phi = 2 * np.pi * np.arange(2 * L - 1)[None, :] / (2 * L - 1)
    f = np.cos(theta) + 1j * np.sin(theta) * np.cos(phi)
    lon_c = np.linspace(-np.pi, np.pi, 2 * 180 + 1)
    lat_c = np.linspace(-np.pi / 2, np.pi / 2, 180 + 1)
    lon_c, lat_c = 0.5 * (lon_c[1:] + lon_c[:-1]), 0.5 * (lat_c[1:] + lat_c[:-1])
    th, ph = np.pi / 2 - lat_c[:, None], lon_c[None, :]
    exact = {"real": np.cos(th) + 0 * ph, "imag": np.sin(th) * np.cos(ph)}
    for part in ("real", "imag"):
        ax = plot_mollweide(f, L, part=part, path=tmp_path / f"{part}.png")
        drawn = np.asarray(ax.collections[0].get_array()).reshape(exact[part].shape)
        assert np.max(np.abs(drawn - exact[part])) < 0.06, part
        assert _is_png(tmp_path / f"{part}.png")
    const = np.full(SHAPES["mw"], 2.0 - 3.0j)
    for part, value in (("real", 2.0), ("imag", -3.0), ("abs", np.sqrt(13.0))):
        ax = plot_mollweide(const, L, part=part, colorbar=False,
                            ax=Figure().add_subplot(projection="mollweide"))
        np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()), value, rtol=1e-14)
    with pytest.raises(ValueError, match="part"):
        plot_mollweide(f, L, part="phase")


def test_mollweide_rejects_bad_input(rng):
    with pytest.raises(ValueError, match="shape"):
        plot_mollweide(rng.standard_normal((L, 2 * L)), L, sampling="mw")
    with pytest.raises(ValueError, match="sampling must be one of"):
        plot_mollweide(rng.standard_normal(SHAPES["mw"]), L, sampling="cube")
    with pytest.raises(ValueError, match="nside"):
        plot_mollweide(rng.standard_normal(SHAPES["mw"]), L, nside=4)
    with pytest.raises(ValueError, match="mollweide"):
        plot_mollweide(rng.standard_normal(SHAPES["mw"]), L, ax=Figure().add_subplot())


def test_mollweide_on_given_axes_does_not_save(tmp_path, rng):
    fig = Figure()
    ax = fig.add_subplot(projection="mollweide")
    assert plot_mollweide(rng.standard_normal(SHAPES["mw"]), L, ax=ax, colorbar=False) is ax
    assert len(ax.collections) == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("sampling", sorted(SHAPES))
def test_resampling_reproduces_a_smooth_field(sampling):
    """Bilinear resampling of cos(theta) + sin(theta) cos(phi) (an l = 1 field).

    Bilinear error is <= h^2/8 |f''| per direction, with spacing
    h = 2 pi/(2L-1) ~ 0.42 at L = 8 and |f''| <= 1: ~0.022 in theta plus
    ~0.022 in phi. A polar cap without a ring is filled from the ring mean,
    off by 1 - cos(theta_0) ~ 0.02. Measured worst case is 0.048 (MW); allow 0.06.
    """
    import s2scatter

    theta = s2scatter.sampling.thetas(L, sampling=sampling)  # the grid, not plotting's copy of it
    phi = s2scatter.sampling.phis_equiang(L, sampling=sampling)

    def field(t, p):
        return np.cos(t) + np.sin(t) * np.cos(p)

    f = field(theta[:, None], phi[None, :])
    lon_edges, lat_edges, grid = plotting._to_lonlat(f, L, sampling, None)
    lon = 0.5 * (lon_edges[1:] + lon_edges[:-1])
    lat = 0.5 * (lat_edges[1:] + lat_edges[:-1])
    exact = field(np.pi / 2 - lat[:, None], lon[None, :])
    assert grid.shape == exact.shape == (lat.size, lon.size)
    assert np.max(np.abs(grid - exact)) < 0.06


def test_gl_rings_are_north_first():
    theta = plotting._ring_geometry(L, "gl")[0]
    assert np.all(np.diff(theta) > 0) and 0 < theta[0] < theta[-1] < np.pi
    # Gauss-Legendre nodes are symmetric about the equator.
    np.testing.assert_allclose(theta + theta[::-1], np.pi, atol=1e-14)


def test_power_spectrum(tmp_path, rng):
    flm = np.zeros((L, 2 * L - 1), dtype=complex)
    flm[2, L - 1 + 1] = 3.0  # C_2 = 9 / 5
    flm[0, L - 1] = 1.0
    path = tmp_path / "cl.png"
    ax = plot_power_spectrum(flm, L, path=path)
    assert _is_png(path)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [0, 2])  # zeros are skipped
    np.testing.assert_allclose(line.get_ydata(), [1.0, 9.0 / 5.0])
    with pytest.raises(ValueError, match="shape"):
        plot_power_spectrum(flm[:-1], L)


@pytest.mark.parametrize("sampling", sorted(SHAPES))
def test_ring_geometry_matches_the_sampling_layer(sampling):
    """The rings plotting resamples from are the sampling layer's, for that sampling."""
    theta, nphi = plotting._ring_geometry(L, sampling)
    np.testing.assert_array_equal(theta, s2scatter.sampling.thetas(L, sampling=sampling))
    assert nphi == s2scatter.sampling.nphi(L, sampling=sampling)


def test_failed_move_into_place_leaves_nothing(tmp_path, rng, monkeypatch):
    """A save that fails after the temporary file was written (here: the final rename)
    removes the temporary file and leaves an existing target untouched."""
    target = tmp_path / "map.png"
    target.write_bytes(b"previous")

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)  # the atomic writer (s2scatter._files) renames with it
    with pytest.raises(OSError, match="disk full"):
        plot_mollweide(rng.standard_normal(SHAPES["mw"]), L, path=target)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["map.png"] and target.read_bytes() == b"previous"


def test_failed_save_leaves_nothing(tmp_path, rng):
    target = tmp_path / "map.unknownformat"
    with pytest.raises(ValueError):
        plot_mollweide(rng.standard_normal(SHAPES["mw"]), L, path=target)
    assert os.listdir(tmp_path) == []
