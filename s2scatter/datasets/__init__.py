"""Labelled datasets on the sphere for training and benchmarks.

* Gaussian against non-Gaussian random fields with the same angular power
  spectrum, the high-resolution task of the scattering paper:
  :func:`gaussian_vs_nongaussian` (and :func:`power_spectrum`).
* Images from idx files (:func:`load_idx`, :func:`load_fashion_mnist`; the
  Fashion-MNIST files come from ``scripts/fetch_fashion_mnist.py``).
* The ``.npz`` layout the training commands read: :func:`save_npz`,
  :func:`load_npz`.

Maps are ``(n, *s2scatter.sampling.f_shape(L, sampling=..., nside=...))``,
labels ``int64`` ``(n,)``; everything is deterministic under ``seed``.
Conventions, costs and measured timings: ``docs/datasets.md``.  This layer
uses :mod:`s2scatter.sampling` and :mod:`s2scatter.harmonic` only.
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

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "MapSet",
    "default_cache_dir",
    "default_spectrum",
    "gaussian_vs_nongaussian",
    "load_fashion_mnist",
    "load_idx",
    "load_npz",
    "power_spectrum",
    "save_idx",
    "save_npz",
]
