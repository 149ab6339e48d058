"""Labelled datasets on the sphere for training and benchmarks.

* Planar images projected onto the sphere as in Cohen et al., "Spherical
  CNNs" (ICLR 2018), unrotated (NR) or with one uniform random rotation per
  image (R) applied exactly in harmonic space: :func:`project_images`,
  :func:`load_digits_sphere` (scikit-learn's 8x8 digits), with images from
  idx files (:func:`load_idx`, :func:`load_fashion_mnist`; the files come
  from ``scripts/fetch_fashion_mnist.py``) or any array.
* Gaussian against non-Gaussian random fields with the same angular power
  spectrum, the high-resolution task of the scattering paper:
  :func:`gaussian_vs_nongaussian`.
* The ``.npz`` layout the training commands read: :func:`save_npz`,
  :func:`load_npz`.

::

    from s2scatter import datasets
    images, labels = datasets.load_fashion_mnist(split="test")
    maps = datasets.project_images(images, 32, rotation="R", seed=1)
    datasets.save_npz("test_R.npz", maps, labels, L=32)

Maps are ``(n, *s2scatter.sampling.f_shape(L, sampling=..., nside=...))``,
labels ``int64`` ``(n,)``; everything is deterministic under ``seed``.
Conventions, costs and measured timings: ``docs/datasets.md``.  This layer
uses :mod:`s2scatter.sampling` and :mod:`s2scatter.harmonic` only
(scikit-learn for :func:`load_digits_sphere`).
"""

from ._fields import default_spectrum, gaussian_vs_nongaussian, power_spectrum
from ._idx import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    default_cache_dir,
    load_fashion_mnist,
    load_idx,
    save_idx,
)
from ._npz import MapSet, load_npz, save_npz
from ._project import (
    PROJECTIONS,
    ProjectionConfig,
    load_digits_sphere,
    project_at,
    project_images,
    random_rotations,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "MapSet",
    "PROJECTIONS",
    "ProjectionConfig",
    "default_cache_dir",
    "default_spectrum",
    "gaussian_vs_nongaussian",
    "load_digits_sphere",
    "load_fashion_mnist",
    "load_idx",
    "load_npz",
    "power_spectrum",
    "project_at",
    "project_images",
    "random_rotations",
    "save_idx",
    "save_npz",
]
