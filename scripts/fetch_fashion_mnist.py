#!/usr/bin/env python
"""Fetch Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package into a cache folder.

The package (MIT licence, Zalando SE; ~31 MB) holds the four standard idx
files under ``/usr/share/datasets/fashion-mnist/``.  Sources, first match wins:

* ``--source DIR``: a folder holding the four ``*.gz`` files, or the root of
  an unpacked package (``DIR/usr/share/datasets/fashion-mnist``);
* ``--deb FILE``: an already downloaded ``.deb``;
* the installed package (``/usr/share/datasets/fashion-mnist``);
* otherwise ``apt-get download dataset-fashion-mnist`` (no root needed) into
  a temporary folder.

A ``.deb`` is unpacked with ``dpkg-deb -x`` when available, else in Python (an
``ar`` archive whose ``data.tar[.gz|.xz|.bz2]`` holds the files).  Every file
is checked before it is copied: idx header and shape
(60000/10000 x 28 x 28 uint8 images, labels 0..9) and the SHA-256 of its
decompressed content (the package re-compresses the upstream files, so the
upstream ``.gz`` MD5 sums do not apply; the contents are the upstream ones).

Usage::

    python scripts/fetch_fashion_mnist.py [--cache-dir DIR] [--source DIR | --deb FILE] [--force]

The default cache folder is ``s2scatter.datasets.default_cache_dir()``
(``$S2SCATTER_DATA/fashion-mnist`` or ``~/.cache/s2scatter/fashion-mnist``),
where ``s2scatter.datasets.load_fashion_mnist()`` looks.  Exit status 0 on
success (also when the cache is already complete), 1 on failure.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "dataset-fashion-mnist"
PACKAGE_DIR = pathlib.PurePosixPath("usr/share/datasets/fashion-mnist")

EXPECTED_SHAPES = {
    "train-images-idx3-ubyte.gz": (60000, 28, 28),
    "train-labels-idx1-ubyte.gz": (60000,),
    "t10k-images-idx3-ubyte.gz": (10000, 28, 28),
    "t10k-labels-idx1-ubyte.gz": (10000,),
}

# SHA-256 of the decompressed idx files (dataset-fashion-mnist 0.0~git20200523.55506a9-1)
EXPECTED_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


class FetchError(RuntimeError):
    """The files could not be fetched, unpacked or verified; the message says which and why."""


# --------------------------------------------------------------------------
# unpacking a .deb
# --------------------------------------------------------------------------
def _ar_members(path):
    """``(name, bytes)`` of each member of a (System V / GNU) ``ar`` archive."""
    with open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise FetchError(f"{path}: not a .deb (ar) archive")
        while True:
            header = fh.read(60)
            if not header:
                return
            if len(header) < 60 or header[58:60] != b"`\n":
                raise FetchError(f"{path}: corrupt ar member header")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            data = fh.read(size)
            if len(data) != size:
                raise FetchError(f"{path}: truncated ar member {name!r}")
            if size % 2:
                fh.read(1)
            yield name, data


def _extract_python(deb, dest):
    import io

    for name, data in _ar_members(deb):
        if name.startswith("data.tar"):
            if name.endswith(".zst"):
                raise FetchError(f"{deb}: {name} is zstd-compressed; install dpkg-deb to unpack it")
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                members = [m for m in tar.getmembers()
                           if (m.isfile() or m.isdir())
                           and not os.path.isabs(m.name) and ".." not in pathlib.PurePosixPath(m.name).parts]
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                    tar.extractall(dest, members=members, filter="data")
                else:  # pragma: no cover
                    tar.extractall(dest, members=members)
            return
    raise FetchError(f"{deb}: no data.tar member")


def extract_deb(deb, dest, *, use_dpkg=None):
    """Unpack the files of ``deb`` under ``dest`` (``dpkg-deb -x`` if available, else Python)."""
    if use_dpkg is None:
        use_dpkg = shutil.which("dpkg-deb") is not None
    if use_dpkg:
        res = subprocess.run(["dpkg-deb", "-x", os.fspath(deb), os.fspath(dest)],
                             capture_output=True, text=True)
        if res.returncode:
            raise FetchError(f"dpkg-deb -x {deb} failed: {res.stderr.strip()}")
    else:
        _extract_python(deb, dest)


def apt_download(folder):
    """``apt-get download dataset-fashion-mnist`` into ``folder``; returns the .deb path."""
    if shutil.which("apt-get") is None:
        raise FetchError("apt-get not found; pass --deb FILE or --source DIR")
    res = subprocess.run(["apt-get", "download", PACKAGE], cwd=folder, capture_output=True, text=True)
    debs = sorted(pathlib.Path(folder).glob(f"{PACKAGE}_*.deb"))
    if res.returncode or not debs:
        raise FetchError(f"apt-get download {PACKAGE} failed ({res.stderr.strip() or 'no .deb'}); "
                         "is the Debian/Ubuntu 'universe' archive in the apt sources? "
                         "Or pass --deb FILE / --source DIR")
    return debs[-1]


# --------------------------------------------------------------------------
# checking
# --------------------------------------------------------------------------
def verify(folder, *, shapes=EXPECTED_SHAPES, sha256=EXPECTED_SHA256):
    """Check the files of ``shapes`` in ``folder``; raise :class:`FetchError` naming the first bad one."""
    import numpy as np

    from s2scatter.datasets import load_idx

    folder = pathlib.Path(folder)
    for name, shape in shapes.items():
        path = folder / name
        if not path.is_file():
            raise FetchError(f"{path}: missing")
        try:
            arr = load_idx(path)
        except (OSError, ValueError, EOFError) as err:
            raise FetchError(f"{path}: unreadable ({err})") from err
        if arr.shape != tuple(shape) or arr.dtype != np.uint8:
            raise FetchError(f"{path}: expected uint8 {tuple(shape)}, got {arr.dtype} {arr.shape}")
        if arr.ndim == 1 and arr.max(initial=0) > 9:
            raise FetchError(f"{path}: labels outside 0..9")
        if sha256 is not None and name in sha256:
            with gzip.open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            if digest != sha256[name]:
                raise FetchError(f"{path}: SHA-256 of the content is {digest}, expected {sha256[name]}")


def _locate(root):
    """The folder under ``root`` that holds the four files, or ``None``."""
    root = pathlib.Path(root)
    for cand in (root, root / PACKAGE_DIR):
        if all((cand / name).is_file() for name in EXPECTED_SHAPES):
            return cand
    return None


def fetch(cache_dir, *, source=None, deb=None, force=False, shapes=EXPECTED_SHAPES,
          sha256=EXPECTED_SHA256, log=print):
    """Fill ``cache_dir`` with the four verified files; return its path."""
    cache_dir = pathlib.Path(cache_dir)
    if not force and _locate(cache_dir) == cache_dir:
        try:
            verify(cache_dir, shapes=shapes, sha256=sha256)
            log(f"{cache_dir}: already complete")
            return cache_dir
        except FetchError as err:
            log(f"{cache_dir}: {err}; fetching again")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as tmp:
        if source is not None:
            found = _locate(source)
            if found is None:
                raise FetchError(f"{source}: the four Fashion-MNIST .gz files are not there "
                                 f"(nor under {PACKAGE_DIR})")
        else:
            installed = _locate("/")
            if deb is None and installed is not None:
                found = installed
            else:
                if deb is None:
                    log(f"apt-get download {PACKAGE} ...")
                    deb = apt_download(tmp)
                log(f"unpacking {deb}")
                unpacked = pathlib.Path(tmp) / "root"
                unpacked.mkdir()
                extract_deb(deb, unpacked)
                found = _locate(unpacked)
                if found is None:
                    raise FetchError(f"{deb}: no {PACKAGE_DIR} with the four files inside")
        verify(found, shapes=shapes, sha256=sha256)
        for name in shapes:
            part = pathlib.Path(tmp) / (name + ".part")
            shutil.copyfile(found / name, part)
            os.replace(part, cache_dir / name)
    log(f"{cache_dir}: " + ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items()))
    return cache_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=pathlib.Path, default=None,
                        help="destination folder (default: s2scatter.datasets.default_cache_dir())")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--source", type=pathlib.Path, help="folder with the four .gz files (or an unpacked package)")
    group.add_argument("--deb", type=pathlib.Path, help="an already downloaded dataset-fashion-mnist .deb")
    parser.add_argument("--force", action="store_true", help="fetch again even if the cache is complete")
    args = parser.parse_args(argv)
    if args.cache_dir is None:
        from s2scatter.datasets import default_cache_dir

        args.cache_dir = default_cache_dir()
    try:
        fetch(args.cache_dir, source=args.source, deb=args.deb, force=args.force)
    except (FetchError, OSError) as err:
        print(f"fetch_fashion_mnist: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
