"""Planar images projected onto the sphere, as in Cohen et al., "Spherical CNNs" (ICLR 2018).

The image lies on the plane tangent at the south pole (``z = -1``), covering the square
``[-h, h]^2`` (``h = half_width``), its centre on the pole, rows along ``phi = 0``; a sphere
point reaches the plane along the ray from the north pole (``"stereographic"``, s2cnn's) or
from the centre (``"gnomonic"``), and takes the bilinear interpolant of the pixels (zero
outside the image).  The projected map is then band-limited at ``L`` by a forward transform
(on a Gauss-Legendre grid at ``k L`` with ``oversample=k``, less aliasing), rotated exactly in
harmonic space and synthesised.  Geometry, the differences from s2cnn's script and the
aliasing figures: ``docs/datasets.md``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import harmonic
from ..sampling import (f_shape, grid_angles, validate_bool, validate_int, validate_L, validate_number,
                        validate_sampling)

PROJECTIONS = ("stereographic", "gnomonic")
"""Kinds of projection from the tangent plane to the sphere."""


@dataclasses.dataclass(frozen=True)
class ProjectionConfig:
    """How an image sits on its tangent plane and reaches the sphere.

    Attributes:
        kind: ``"stereographic"`` (rays from the north pole, as s2cnn) or
            ``"gnomonic"`` (rays through the centre, southern hemisphere only).
        half_width: half the side of the square the image covers on the
            plane tangent at the south pole, in sphere radii (s2cnn: 1.5).
    """

    kind: str = "stereographic"
    half_width: float = 1.5

    def __post_init__(self):
        if self.kind not in PROJECTIONS:
            raise ValueError(f"kind must be one of {PROJECTIONS}, got kind={self.kind!r}")
        validate_number(self.half_width, "half_width", minimum=0, strict=True)


def _float_dtype(dtype) -> np.dtype:
    """The output ``dtype``: ``float32`` or ``float64``; raises naming ``dtype``."""
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got dtype={np.dtype(dtype)}")
    return np.dtype(dtype)


def _batch_starts(n, batch_size, progress, desc):
    """``range(0, n, batch_size)``, behind a tqdm bar when ``progress``."""
    starts = range(0, n, int(batch_size))
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=len(starts), unit="batch", desc=desc)
    return starts


def _as_images(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(f"images must have shape (n, H, W) with n, H, W >= 1, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
            or arr.dtype == np.bool_):
        raise ValueError(f"images must be real numbers, got dtype {arr.dtype}")
    scale = 1.0 / 255.0 if arr.dtype == np.uint8 else 1.0
    out = arr.astype(np.float64) * scale
    if not np.all(np.isfinite(out)):
        raise ValueError("images contain NaN or infinite values")
    return out


def _plane(theta, phi, kind):
    """Tangent-plane coordinates ``(q_x, q_y)`` of sphere points and where they are defined."""
    st = np.sin(theta)
    x, y, z = st * np.cos(phi), st * np.sin(phi), np.cos(theta)
    if kind == "stereographic":
        d = 1.0 - z
        ok = d > 1e-300
        s = 2.0 / np.where(ok, d, 1.0)
    else:
        ok = z < 0
        s = -1.0 / np.where(ok, z, -1.0)
    return s * x, s * y, ok


def _bilinear_plan(theta, phi, shape, config):
    """Flat indices into the zero-padded image and the four bilinear weights, ``(4, P)`` each."""
    H, W = shape
    h = float(config.half_width)
    qx, qy, ok = _plane(np.ravel(theta), np.ravel(phi), config.kind)
    u = (qx + h) * (H / (2 * h)) - 0.5  # continuous row index, pixel centres at integers
    v = (qy + h) * (W / (2 * h)) - 0.5
    ok &= (u > -1) & (u < H) & (v > -1) & (v < W)
    u, v = np.where(ok, u, 0.0), np.where(ok, v, 0.0)
    i0, j0 = np.floor(u), np.floor(v)
    fu, fv = u - i0, v - j0
    i0 = i0.astype(np.int64) + 1  # padded image: one zero row/column on each side
    j0 = j0.astype(np.int64) + 1
    Wp = W + 2
    idx = np.stack([i0 * Wp + j0, i0 * Wp + j0 + 1, (i0 + 1) * Wp + j0, (i0 + 1) * Wp + j0 + 1])
    w = np.stack([(1 - fu) * (1 - fv), (1 - fu) * fv, fu * (1 - fv), fu * fv]) * ok
    return np.where(ok, idx, 0), w


def _apply_plan(images, plan, out_shape):
    idx, w = plan
    n = images.shape[0]
    padded = np.zeros((n, images.shape[1] + 2, images.shape[2] + 2))
    padded[:, 1:-1, 1:-1] = images
    flat = padded.reshape(n, -1)
    out = flat[:, idx[0]] * w[0]
    for k in range(1, 4):
        out += flat[:, idx[k]] * w[k]
    return out.reshape((n,) + tuple(out_shape))


def project_at(images, theta, phi, *, projection=ProjectionConfig()):
    """Values of the projected images at given points: the raw projection, not band-limited.

    Args:
        images: ``(n, H, W)`` array; ``uint8`` is divided by 255, other real
            types are used as given.
        theta, phi: colatitude and longitude (radians) of the points, arrays of
            one shape ``S`` (e.g. from :func:`s2scatter.sampling.grid_angles`).
        projection: :class:`ProjectionConfig` (geometry: ``docs/datasets.md``).

    Returns:
        float64 array ``(n, *S)``; zero where the point does not reach the image.

    Cost: four gathers per point and image, ``O(n P)``.

    Example: an odd-sized image with one bright centre pixel peaks at the south pole.

        >>> import numpy as np
        >>> img = np.zeros((1, 9, 9)); img[0, 4, 4] = 1.0
        >>> project_at(img, np.array([np.pi, np.pi / 2]), np.array([0.0, 0.0])).round(12).tolist()
        [[1.0, 0.0]]
    """
    if not isinstance(projection, ProjectionConfig):
        raise ValueError(f"projection must be a ProjectionConfig, got projection={projection!r}")
    imgs = _as_images(images)
    theta, phi = np.broadcast_arrays(np.asarray(theta, dtype=np.float64), np.asarray(phi, dtype=np.float64))
    plan = _bilinear_plan(theta, phi, imgs.shape[1:], projection)
    return _apply_plan(imgs, plan, theta.shape)


def random_rotations(n, *, seed=0):
    """``n`` rotations drawn uniformly from SO(3) (Haar measure), as ZYZ Euler angles.

    ``alpha`` and ``gamma`` uniform on ``[0, 2 pi)``, ``cos(beta)`` uniform on
    ``[-1, 1]``: the Haar measure in ZYZ angles has density ``sin(beta)``.  The
    angles are those :func:`project_images` uses with ``rotation="R"`` and the
    same ``seed``; the first ``k`` rows do not depend on ``n``.

    Returns:
        float64 array ``(n, 3)`` of ``(alpha, beta, gamma)``, the convention of
        :func:`s2scatter.rotate`.

    Example:
        >>> a = random_rotations(4, seed=1)
        >>> a.shape, bool(np.all(a == random_rotations(5, seed=1)[:4]))
        ((4, 3), True)
    """
    n = validate_int(n, "n")
    u = np.random.default_rng(validate_int(seed, "seed")).random((int(n), 3))
    return np.stack([2 * np.pi * u[:, 0], np.arccos(1.0 - 2.0 * u[:, 1]), 2 * np.pi * u[:, 2]], axis=1)


def _rotations(rotation, n, seed):
    """``None`` (no rotation) or the ``(n, 3)`` angles asked for by ``rotation``."""
    if rotation is None or rotation is False or (isinstance(rotation, str) and rotation == "NR"):
        return None
    if isinstance(rotation, str):
        if rotation == "R":
            return random_rotations(n, seed=seed)
        raise ValueError(f'rotation must be "NR", "R" or an (n, 3) array of ZYZ angles, got rotation={rotation!r}')
    angles = np.asarray(rotation, dtype=np.float64)
    if angles.shape != (n, 3) or not np.all(np.isfinite(angles)):
        raise ValueError(f"rotation as an array must hold finite ZYZ angles of shape ({n}, 3) "
                         f"(one rotation per image), got shape {angles.shape}")
    return angles


def project_images(images, L, *, sampling="mw", nside=None, rotation="NR", seed=0,
                   projection=ProjectionConfig(), bandlimit=True, oversample=1,
                   dtype=np.float32, batch_size=512, method="auto", progress=False):
    """Project planar images onto the sphere (spherical MNIST / Fashion-MNIST), optionally rotated.

    Each image goes onto the plane tangent at the south pole and through
    ``projection`` onto the sphere (``docs/datasets.md``), is
    sampled bilinearly, band-limited at ``L`` by a forward transform and, in
    the ``"R"`` regime, rotated by its own random rotation in harmonic space
    (:func:`s2scatter.rotate`, exact) before the inverse transform.

    Args:
        images: ``(n, H, W)``; ``uint8`` is divided by 255, other real types
            are used as given.
        L: band-limit of the output maps.
        sampling, nside: output sampling (``nside`` iff ``"healpix"``).
        rotation: ``"NR"`` (no rotation, default), ``"R"`` (one rotation per
            image, uniform on SO(3), from :func:`random_rotations` with
            ``seed``) or an ``(n, 3)`` array of ZYZ angles.
        seed: non-negative integer seeding the ``"R"`` rotations.
        projection: :class:`ProjectionConfig` (default: s2cnn's stereographic
            geometry, half-width 1.5).
        bandlimit: ``True`` (default): maps are band-limited at ``L`` in both
            regimes, so NR and R maps differ by a rotation only.  ``False``:
            the raw projection sampled on the output grid (NR only).
        oversample: ``1``: sample on the output grid and transform there;
            ``k >= 2``: sample on a Gauss-Legendre grid at band-limit ``k L``
            and keep ``l < L`` of its transform (less aliasing, identical
            ``flm`` whatever ``sampling``; ``k^2`` times the sampling work).
        dtype: output type (default ``float32``; computed in float64 when
            JAX's x64 mode is on, see :func:`s2scatter.forward`).
        batch_size: images per transform call (work memory about 64 bytes
            per image and output sample).
        method: transform method, see :func:`s2scatter.forward`.
        progress: show a tqdm progress bar.

    Returns:
        maps ``(n, *f_shape(L, sampling=sampling, nside=nside))`` of ``dtype``.

    Cost: per image one forward and one inverse real SHT at ``L`` (at ``k L``
    for the forward with ``oversample=k``) and, for ``"R"``, one rotation,
    O(L^3) each (timings in ``docs/datasets.md``).

    Raises:
        ValueError: naming the offending parameter.

    Example:
        >>> import numpy as np
        >>> imgs = np.random.default_rng(0).random((3, 8, 8))
        >>> nr = project_images(imgs, 8, dtype=np.float64)
        >>> r = project_images(imgs, 8, rotation="R", seed=1, dtype=np.float64)
        >>> nr.shape, r.shape
        ((3, 8, 15), (3, 8, 15))
    """
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    if not isinstance(projection, ProjectionConfig):
        raise ValueError(f"projection must be a ProjectionConfig, got projection={projection!r}")
    imgs = _as_images(images)
    n = imgs.shape[0]
    seed = validate_int(seed, "seed")
    angles = _rotations(rotation, n, seed)
    if not validate_bool(bandlimit, "bandlimit") and angles is not None:
        raise ValueError("bandlimit=False gives the raw projection, which cannot be rotated exactly; "
                         "use bandlimit=True with rotation")
    validate_int(oversample, "oversample", minimum=1)
    validate_int(batch_size, "batch_size", minimum=1)
    dtype = _float_dtype(dtype)

    out_shape = f_shape(L, sampling=sampling, nside=nside)
    out_plan = _bilinear_plan(*grid_angles(L, sampling=sampling, nside=nside), imgs.shape[1:], projection)
    if bandlimit and oversample > 1:
        Lf = int(oversample) * L
        gl_shape = f_shape(Lf, sampling="gl")
        in_plan = _bilinear_plan(*grid_angles(Lf, sampling="gl"), imgs.shape[1:], projection)

    maps = np.empty((n,) + out_shape, dtype=dtype)
    for s in _batch_starts(n, batch_size, progress, "project"):
        chunk = imgs[s: s + batch_size]
        if not bandlimit:
            maps[s: s + len(chunk)] = _apply_plan(chunk, out_plan, out_shape)
            continue
        if oversample > 1:
            raw = _apply_plan(chunk, in_plan, gl_shape)
            flm = np.asarray(harmonic.forward(raw, Lf, sampling="gl", reality=True, method=method))
            flm = flm[:, :L, Lf - L: Lf + L - 1]
        else:
            raw = _apply_plan(chunk, out_plan, out_shape)
            flm = np.asarray(harmonic.forward(raw, L, sampling=sampling, nside=nside, reality=True,
                                              method=method))
        if angles is not None:
            flm = np.stack([np.asarray(harmonic.rotate(flm[i], L, tuple(angles[s + i]), method=method))
                            for i in range(len(chunk))])
        maps[s: s + len(chunk)] = np.asarray(
            harmonic.inverse(flm, L, sampling=sampling, nside=nside, reality=True, method=method))
    return maps


def load_digits_sphere(L, *, sampling="mw", nside=None, rotation="NR", seed=0,
                       projection=ProjectionConfig(), bandlimit=True, oversample=1,
                       dtype=np.float32, method="auto"):
    """scikit-learn's 1,797 8x8 handwritten digits projected onto the sphere (small tests).

    The images (integers 0..16) are divided by 16 and passed to
    :func:`project_images` with the same options.

    Returns:
        ``(maps, labels)``: ``(1797, *f_shape(L, ...))`` of ``dtype`` and
        ``int64`` ``(1797,)`` in ``0..9``.

    Raises:
        ImportError: scikit-learn is not installed (``pip install scikit-learn``).

    Example:
        >>> maps, labels = load_digits_sphere(8)
        >>> maps.shape, labels.shape, int(labels.max())
        ((1797, 8, 15), (1797,), 9)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("load_digits_sphere needs scikit-learn: pip install scikit-learn") from err
    digits = load_digits()
    maps = project_images(digits.images / 16.0, L, sampling=sampling, nside=nside, rotation=rotation,
                          seed=seed, projection=projection, bandlimit=bandlimit,
                          oversample=oversample, dtype=dtype, method=method)
    return maps, digits.target.astype(np.int64)
