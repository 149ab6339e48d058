"""Reader and writer for the idx format (MNIST, Fashion-MNIST), and the Fashion-MNIST files.

The idx format (LeCun's MNIST files): a 4-byte magic number ``00 00 TT NN``
(``TT`` the element type, ``NN`` the number of dimensions), ``NN`` big-endian
uint32 sizes, then the elements in C order, big-endian.  Files may be
gzipped (recognised by their first two bytes, not by the name).
"""

from __future__ import annotations

import gzip
import os
import pathlib

import numpy as np

# idx element type code -> big-endian NumPy dtype
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").str: code for code, dt in _IDX_TYPES.items()}

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
"""Label ``k`` of Fashion-MNIST names ``FASHION_MNIST_CLASSES[k]``."""

FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
"""Standard file names (images, labels) of each split; the ``.gz`` suffix is optional on disk."""


def _read_bytes(path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=fh) as gz:
                return gz.read()
        return fh.read()


def load_idx(path) -> np.ndarray:
    """Read an idx file (gzipped or not) into a NumPy array in native byte order.

    Args:
        path: file name; gzip compression is detected from the content.

    Returns:
        array with the file's shape and element type (``uint8``, ``int8``,
        ``int16``, ``int32``, ``float32`` or ``float64``), writable.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file, when the magic number, element type or
            size does not describe an idx file.

    Cost: one pass over the (decompressed) bytes, O(size) (``docs/datasets.md``).

    Example:
        >>> import pathlib, tempfile, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x-idx3-ubyte.gz"
        >>> save_idx(p, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
        >>> a = load_idx(p)
        >>> a.shape, a.dtype, int(a[1, 2, 3])
        ((2, 3, 4), dtype('uint8'), 23)
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an idx file (the magic number must start with two zero bytes)")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown idx element type 0x{code:02x} "
                         f"(expected one of {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated idx header ({len(data)} bytes for {ndim} dimensions)")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dt = _IDX_TYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: idx header says shape {shape} of {dt.newbyteorder('=').name} "
                         f"({expected} bytes in all), but the file holds {len(data)} bytes")
    arr = np.frombuffer(data, dtype=dt, offset=header).reshape(shape)
    return arr.astype(dt.newbyteorder("="))  # native order, a writable copy


def save_idx(path, array) -> None:
    """Write ``array`` as an idx file; gzipped when ``path`` ends in ``.gz``.

    Args:
        path: output file name.
        array: array of ``uint8``, ``int8``, ``int16``, ``int32``, ``float32``
            or ``float64``, at most 255 dimensions.

    Raises:
        ValueError: naming ``array`` for a type the format cannot hold.

    See :func:`load_idx` for an example.
    """
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=").str
    if key not in _IDX_CODES or arr.ndim > 255:
        raise ValueError(f"array must be uint8, int8, int16, int32, float32 or float64 with at most "
                         f"255 dimensions for the idx format, got {arr.dtype} with {arr.ndim} dimensions")
    code = _IDX_CODES[key]
    payload = (bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
               + np.ascontiguousarray(arr, dtype=_IDX_TYPES[code]).tobytes())
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(payload)


def default_cache_dir() -> pathlib.Path:
    """Where ``scripts/fetch_fashion_mnist.py`` puts the files and :func:`load_fashion_mnist` looks.

    ``$S2SCATTER_DATA/fashion-mnist`` when that variable is set, else
    ``$XDG_CACHE_HOME/s2scatter/fashion-mnist`` (``~/.cache/...`` by default).
    """
    root = os.environ.get("S2SCATTER_DATA")
    if root:
        return pathlib.Path(root).expanduser() / "fashion-mnist"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(cache) / "s2scatter" / "fashion-mnist"


def _find(directory: pathlib.Path, name: str) -> pathlib.Path:
    for candidate in (directory / name, directory / name[: -len(".gz")]):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{directory / name} not found (nor without .gz); fetch the files with "
        f"`python scripts/fetch_fashion_mnist.py --cache-dir {directory}` "
        "(Debian package dataset-fashion-mnist)")


def load_fashion_mnist(directory=None, *, split="train"):
    """Fashion-MNIST images and labels from the four standard idx files.

    Args:
        directory: folder holding ``train-images-idx3-ubyte.gz`` etc. (see
            :data:`FASHION_MNIST_FILES`); default :func:`default_cache_dir`,
            where ``scripts/fetch_fashion_mnist.py`` puts them.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).

    Returns:
        ``(images, labels)``: ``uint8`` ``(n, 28, 28)`` (row 0 at the top of
        the picture) and ``int64`` ``(n,)`` in ``0..9`` (:data:`FASHION_MNIST_CLASSES`).

    Raises:
        ValueError: naming ``split``; or when images and labels disagree.
        FileNotFoundError: naming the missing file and the fetch script.
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split must be one of {tuple(FASHION_MNIST_FILES)}, got split={split!r}")
    directory = default_cache_dir() if directory is None else pathlib.Path(directory)
    img_name, lab_name = FASHION_MNIST_FILES[split]
    images = load_idx(_find(directory, img_name))
    labels = load_idx(_find(directory, lab_name))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{directory}: {split} images {images.shape} and labels {labels.shape} "
                         "do not match (expected (n, H, W) and (n,))")
    return images, labels.astype(np.int64)
