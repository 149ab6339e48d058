"""Input layer: read maps on the sphere from files and resample them onto a sampling scheme.

::

    from s2scatter.io import read_map
    m = read_map("data/earth_land_720x360.png", L=64)            # MW grid, 1 channel
    m = read_map("sky.fits", L=96, sampling="healpix", nside=32, field=0)
    m.data.shape   # (C, *s2scatter.sampling.f_shape(L, sampling=..., nside=...))

Readers (:data:`READERS`, by extension): HEALPix FITS (healpy), equirectangular
PNG/JPEG images (Pillow), lat-lon netCDF grids (xarray + netCDF4, the ``io``
extra) and NumPy ``.npy``/``.npz`` arrays on a stated sampling.  Every input
is resampled through harmonic space, so :attr:`SphereMap.data` is band-limited
at ``L``: exact for band-limited inputs, an ideal low-pass (anti-aliasing)
filter otherwise.  Conventions, the resampling method and its measured error
are in ``docs/io.md``.  This layer uses :mod:`s2scatter.sampling` and
:mod:`s2scatter.harmonic` only.
"""

from ._base import NAN_POLICIES, UNSEEN, ReadError, SphereMap
from ._readers import READERS, read_map

__all__ = ["NAN_POLICIES", "READERS", "ReadError", "SphereMap", "UNSEEN", "read_map"]
