"""Labelled datasets on the sphere for training and benchmarks.

* Images from idx files (:func:`load_idx`, :func:`load_fashion_mnist`; the
  Fashion-MNIST files come from ``scripts/fetch_fashion_mnist.py``).
* The ``.npz`` layout the training commands read: :func:`save_npz`,
  :func:`load_npz`.

Conventions: ``docs/datasets.md``.
"""

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
    "load_fashion_mnist",
    "load_idx",
    "load_npz",
    "save_idx",
    "save_npz",
]
