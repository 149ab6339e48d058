"""Packaging for s2scatter.

The version lives in ``s2scatter/_version.py`` only; it is read here with a
regular expression so that building does not import the package (and hence
JAX).
"""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).resolve().parent


def _read_version():
    text = (HERE / "s2scatter" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if match is None:
        raise RuntimeError("cannot find __version__ in s2scatter/_version.py")
    return match.group(1)


setup(
    name="s2scatter",
    version=_read_version(),
    description=(
        "Spherical-harmonic, Wigner, wavelet and scattering transforms on the "
        "sphere, with compiled CPU kernels and pure-JAX GPU kernels"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["s2scatter", "s2scatter.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "jax>=0.4.30",
        "ducc0",
        "healpy",
        "matplotlib",
        "tqdm",
        "pillow",
        "zarr>=3",
        "google-crc32c",  # zarr's crc32c codec: every feature-store chunk carries a checksum
        "dask[distributed]",
        "flax",
        "threadpoolctl",  # the BLAS thread count of the exact MW forward route (public API, no ctypes)
    ],
    extras_require={
        "test": [
            "pytest",
            "pyssht",
            "scikit-learn",
            "s2fft",
            "scipy",
            "pillow",
            "sympy",
            "xarray",
            "netCDF4",
        ],
        "bench": [
            "e3nn-jax",
        ],
        "io": [
            "xarray",
            "netCDF4",
        ],
        # the documentation site: `mkdocs build --strict` (mkdocs.yml); tests/test_docs.py
        "docs": [
            "mkdocs>=1.6",
            "mkdocs-material>=9.5",
            "mkdocstrings>=0.27",
            "mkdocstrings-python>=1.16",
            "pymdown-extensions>=10.2",  # snippets with sections: tutorial pages show the scripts' code
        ],
    },
    entry_points={
        "console_scripts": [
            "s2scatter = s2scatter.cli:main",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Physics",
        "Topic :: Scientific/Engineering :: Mathematics",
    ],
)
