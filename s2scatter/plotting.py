"""Quick-look plots: maps on a Mollweide projection and angular power spectra.

Both functions accept NumPy or JAX arrays on any sampling scheme of
:mod:`s2scatter` (``"mw"``, ``"mwss"``, ``"dh"``, ``"gl"``, ``"healpix"``).
Maps are resampled onto a regular longitude-latitude grid (bilinear on the
equiangular schemes, ``healpy.get_interp_val`` on HEALPix) and drawn with
Matplotlib's ``projection="mollweide"``. Longitude increases to the right
(geographic convention, unlike ``healpy.mollview``'s astronomical default).

When ``path`` is given and ``ax`` is not, the figure is built without pyplot
(no global figure state, no backend needed) and written atomically. When
neither is given, the figure is created with pyplot so that it shows up in
interactive sessions. The backend is never changed here.

Example::

    >>> import numpy as np
    >>> from s2scatter.plotting import plot_mollweide, plot_power_spectrum
    >>> L = 8
    >>> f = np.random.default_rng(0).standard_normal((L, 2 * L - 1))
    >>> ax = plot_mollweide(f, L, path="map.png")  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ._files import save_figure
from . import sampling as smp
from .sampling import SAMPLINGS

__all__ = ["plot_mollweide", "plot_power_spectrum"]

_PARTS = {"real": np.real, "imag": np.imag, "abs": np.abs}


# --------------------- Sampling geometry: the sampling layer's, never a copy.
def _ring_geometry(L: int, sampling: str) -> tuple[np.ndarray, int]:
    """Ring colatitudes (north first) and longitudes per ring of an equiangular scheme
    (:func:`s2scatter.sampling.thetas`, :func:`s2scatter.sampling.nphi`); longitudes
    are equally spaced from ``phi = 0``."""
    return smp.thetas(L, sampling=sampling), smp.nphi(L, sampling=sampling)


# ------------------------------------ Resampling onto a regular lon-lat grid.
def _resample_equiangular(f, L, sampling, theta_c, phi_c):
    """Bilinear interpolation, periodic in phi; a missing pole ring (MW north, DH and GL both)
    is added with the mean of the nearest ring, so the caps are interpolated, not clamped."""
    thetas, nphi = _ring_geometry(L, sampling)
    if thetas[0] > 0:
        thetas = np.concatenate([[0.0], thetas])
        f = np.concatenate([np.full((1, nphi), f[0].mean()), f])
    if thetas[-1] < np.pi:
        thetas = np.concatenate([thetas, [np.pi]])
        f = np.concatenate([f, np.full((1, nphi), f[-1].mean())])
    n_theta = thetas.size

    i0 = np.clip(np.searchsorted(thetas, theta_c) - 1, 0, n_theta - 1)
    i1 = np.minimum(i0 + 1, n_theta - 1)
    span = thetas[i1] - thetas[i0]
    w = np.where(span > 0, (theta_c - thetas[i0]) / np.where(span > 0, span, 1), 0)
    w = np.clip(w, 0.0, 1.0)[:, None]

    x = phi_c / (2 * np.pi / nphi)
    j0 = np.floor(x).astype(int)
    u = (x - j0)[None, :]
    j0 %= nphi
    j1 = (j0 + 1) % nphi

    def ring(i):
        return (1 - u) * f[i[:, None], j0[None, :]] + u * f[i[:, None], j1[None, :]]

    return (1 - w) * ring(i0) + w * ring(i1)


def _to_lonlat(f, L, sampling, nside):
    """Values on cell centres of a regular grid, plus the cell edges (radians)."""
    n_rings = 4 * nside - 1 if sampling == "healpix" else smp.ntheta(L, sampling=sampling)
    n_lat = int(np.clip(2 * n_rings, 180, 600))  # about 2 cells per ring, capped for speed
    n_lon = 2 * n_lat
    lon_edges = np.linspace(-np.pi, np.pi, n_lon + 1)
    lat_edges = np.linspace(-np.pi / 2, np.pi / 2, n_lat + 1)
    lon_c = 0.5 * (lon_edges[1:] + lon_edges[:-1])
    lat_c = 0.5 * (lat_edges[1:] + lat_edges[:-1])
    theta_c = np.pi / 2 - lat_c
    phi_c = np.mod(lon_c, 2 * np.pi)

    if sampling == "healpix":
        import healpy

        theta_g, phi_g = np.meshgrid(theta_c, phi_c, indexing="ij")
        values = healpy.get_interp_val(f, theta_g.ravel(), phi_g.ravel())
        values = np.asarray(values).reshape(n_lat, n_lon)
    else:
        values = _resample_equiangular(f, L, sampling, theta_c, phi_c)
    return lon_edges, lat_edges, values


def _map_for_plot(f, L, sampling, nside, part):
    """Validate the map against its sampling; return a real 2-D or 1-D array."""
    f = np.asarray(f)
    if part not in _PARTS:
        raise ValueError(f"part must be one of {', '.join(_PARTS)}, got {part!r}")
    if sampling == "healpix":
        import healpy

        if f.ndim != 1:
            raise ValueError(f"a HEALPix map must be 1-D, got shape {f.shape}")
        if nside is None:
            nside = healpy.npix2nside(f.size)  # raises on a non-HEALPix size
        if f.size != 12 * nside**2:
            raise ValueError(f"a HEALPix map with nside={nside} has {12 * nside**2} pixels, got {f.size}")
    else:
        if nside is not None:
            raise ValueError("nside is only meaningful with sampling='healpix'")
        expected = smp.f_shape(L, sampling=sampling)
        if f.shape != expected:
            raise ValueError(f"a {sampling!r} map with L={L} has shape {expected}, got {f.shape} "
                             "(batch axes are not supported when plotting: pass one map)")
    return np.asarray(_PARTS[part](f), dtype=np.float64), nside


# ----------------------------------------------------------- Figure handling.
def _new_axes(path, projection, figsize):
    if path is not None:
        fig = Figure(figsize=figsize, layout="constrained")
    else:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize, layout="constrained")
    return fig.add_subplot(projection=projection)


# ---------------------------------------------------------- Public functions.
def plot_mollweide(
    f,
    L: int,
    *,
    sampling: str = "mw",
    nside: int | None = None,
    title: str | None = None,
    ax=None,
    cmap: str = "viridis",
    path=None,
    part: str = "real",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
):
    """Draw one map on a Mollweide projection.

    Args:
        f: map, shape MW ``(L, 2L-1)``, MWSS ``(L+1, 2L)``, DH ``(2L, 2L-1)``,
            GL ``(L, 2L-1)`` or HEALPix ``(12 nside**2,)`` (RING order). One map
            only (no batch axes). NumPy or JAX array.
        L: band-limit (ignored for HEALPix, where the grid is set by ``nside``).
        sampling: ``"mw"`` (default), ``"mwss"``, ``"dh"``, ``"gl"``, ``"healpix"``.
        nside: HEALPix resolution; inferred from ``f.size`` when omitted.
        title: axes title.
        ax: a Matplotlib axes made with ``projection="mollweide"``; when omitted
            a new figure is created.
        cmap: colour map name.
        path: if given, the figure is saved there (atomically; the format
            follows the extension).
        part: for complex (e.g. spin) maps: ``"real"`` (default), ``"imag"``
            or ``"abs"``. Real maps are unaffected by ``"real"``.
        vmin, vmax: colour limits (default: data range).
        colorbar: add a horizontal colour bar.

    Returns:
        The Matplotlib axes drawn on.

    Cost: resampling onto at most 600 x 1200 cells, O(cells); no transform.
    """
    sampling = smp.validate_choice(sampling, SAMPLINGS, "sampling")
    values, nside = _map_for_plot(f, L, sampling, nside, part)
    lon_edges, lat_edges, grid = _to_lonlat(values, L, sampling, nside)

    if ax is None:
        ax = _new_axes(path, "mollweide", (8.0, 4.8))
    elif getattr(ax, "name", None) != "mollweide":
        raise ValueError("ax must be created with projection='mollweide'")
    fig = ax.figure
    mesh = ax.pcolormesh(lon_edges, lat_edges, grid, cmap=cmap, vmin=vmin, vmax=vmax, shading="flat",
                         rasterized=True)
    ax.grid(True, alpha=0.3)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    if title is not None:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(mesh, ax=ax, orientation="horizontal", shrink=0.6, pad=0.04)
    if path is not None:
        save_figure(fig, path)
    return ax


def plot_power_spectrum(flm, L: int, *, path=None, ax=None):
    """Plot the angular power spectrum C_l = sum_m |f_lm|^2 / (2l+1).

    Args:
        flm: harmonic coefficients, shape ``(L, 2L-1)``, entry ``[l, L-1+m]``.
            NumPy or JAX array.
        L: band-limit (exclusive).
        path: if given, the figure is saved there (atomically).
        ax: axes to draw on; when omitted a new figure is created.

    Returns:
        The Matplotlib axes drawn on.

    Zero or negative C_l cannot be shown on the logarithmic axis and are
    skipped.
    """
    flm = np.asarray(flm)
    if flm.shape != (L, 2 * L - 1):
        raise ValueError(f"flm for L={L} has shape {(L, 2 * L - 1)}, got {flm.shape} "
                         "(batch axes are not supported when plotting: pass one set)")
    ell = np.arange(L)
    cl = np.sum(np.abs(flm) ** 2, axis=-1) / (2 * ell + 1)
    shown = cl > 0

    if ax is None:
        ax = _new_axes(path, None, (6.0, 4.0))
    ax.semilogy(ell[shown], cl[shown], marker=".", linestyle="-")
    ax.set_xlabel(r"$\ell$")
    ax.set_ylabel(r"$C_\ell$")
    ax.set_title("Angular power spectrum")
    ax.grid(True, which="both", alpha=0.3)
    if path is not None:
        save_figure(ax.figure, path)
    return ax
