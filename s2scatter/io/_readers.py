"""Readers (HEALPix FITS, equirectangular images, lat-lon netCDF, NumPy arrays) and
:func:`read_map`, which dispatches on the file extension.

Each reader returns the raw input as a :class:`~s2scatter.io._resample.Grid`
plus channel names and a ``meta`` dict; :func:`read_map` then applies the
missing-value policy and resamples through harmonic space.  Optional
libraries (healpy/astropy, Pillow, xarray/netCDF4) are imported on first use.
"""

from __future__ import annotations

import math
import os
import re
import warnings

import numpy as np

from .._files import file_sha256
from .._limits import check_memory
from ..harmonic import get_num_threads
from ..sampling import SAMPLINGS, check_nside, f_shape, validate_L, validate_sampling
from ._base import ReadError, SphereMap, apply_nan_policy, check_decoded_size, validate_nan_policy
from ._resample import Grid, synthesise, to_flm

READERS = {
    ".fits": "healpix-fits",
    ".fits.gz": "healpix-fits",
    ".fit": "healpix-fits",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".nc": "netcdf",
    ".nc4": "netcdf",
    ".netcdf": "netcdf",
    ".npy": "numpy",
    ".npz": "numpy",
}
"""File extension (lower case) -> reader name; :func:`read_map` dispatches on it."""


def _extension(path: str) -> str | None:
    return next((ext for ext in sorted(READERS, key=len, reverse=True) if path.lower().endswith(ext)), None)


# --------------------------------------------------------------- HEALPix FITS
_STOKES = {
    "I_STOKES": "I", "Q_STOKES": "Q", "U_STOKES": "U", "TEMPERATURE": "I",
    "Q_POLARISATION": "Q", "U_POLARISATION": "U", "Q-POLARISATION": "Q", "U-POLARISATION": "U",
}


def _read_fits(path, *, field, variable, input_sampling, input_nside):
    ignored = _ignored(variable=variable, input_sampling=input_sampling, input_nside=input_nside)
    import healpy
    from astropy.io import fits

    expected = "a HEALPix map in a FITS binary table (healpy.read_map)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False) as hdul:
                hdu = next((i for i, h in enumerate(hdul) if isinstance(h, fits.BinTableHDU)), None)
                if hdu is None:
                    raise ReadError(f"{path}: no binary table HDU found; expected {expected}")
                header = hdul[hdu].header
                names = [str(header.get(f"TTYPE{k + 1}", f"FIELD{k}")) for k in range(int(header["TFIELDS"]))]
                _check_healpix_header(path, hdu, header, names, expected)
                fields = _resolve_fields(path, field, names)
                rows = int(header.get("NAXIS2", 0))
                npix = rows * max(_tform_repeat(header.get(f"TFORM{k + 1}", "")) for k in fields)
                if "NSIDE" in header and 12 * int(header["NSIDE"]) ** 2 != npix:
                    raise ReadError(f"{path}: the header says NSIDE = {header['NSIDE']} but the table "
                                    f"holds {npix} pixels; expected {expected}")
                check_decoded_size(path, (len(fields), npix), f"HEALPix table HDU {hdu}")
                # touch the data so that truncation shows up here
                _ = hdul[hdu].data[names[0]] if names else None
        except ReadError:
            raise
        except Exception as exc:  # astropy raises OSError, ValueError, KeyError, ...
            why = _truncation(caught) or f"not a readable FITS file ({exc})"
            raise ReadError(f"{path}: {why}; expected {expected}") from exc
        why = _truncation(caught)
        if why:
            raise ReadError(f"{path}: {why}; expected {expected}")
        try:
            maps = healpy.read_map(path, field=tuple(fields), dtype=np.float64, hdu=hdu, nest=False)
        except Exception as exc:
            raise ReadError(f"{path}: healpy cannot read fields {fields} ({exc}); "
                            f"expected {expected}") from exc
    maps = np.atleast_2d(np.asarray(maps, dtype=np.float64))
    npix = maps.shape[-1]
    nside = int(round(np.sqrt(npix / 12)))
    if 12 * nside * nside != npix:
        raise ReadError(f"{path}: {npix} pixels is not 12 nside^2; expected {expected}")
    try:
        check_nside(nside)
    except ValueError as exc:
        raise ReadError(f"{path}: {exc}; expected {expected}") from exc
    channels = tuple(_STOKES.get(names[k].upper(), names[k]) for k in fields)
    meta = {
        "reader": "healpix-fits",
        "ignored_options": ignored,
        "input": {
            "grid": "healpix", "nside": nside, "hdu": int(hdu),
            "ordering": str(header.get("ORDERING", "RING")).strip(),
            "coordsys": (str(header["COORDSYS"]).strip() if "COORDSYS" in header else None),
            "fields": [int(k) for k in fields], "columns": [names[k] for k in fields],
            "units": [str(header.get(f"TUNIT{k + 1}", "")).strip() for k in fields],
        },
    }
    return Grid("sampling", maps, sampling="healpix", nside=nside, L_in=3 * nside), channels, meta


def _check_healpix_header(path, hdu, header, names, expected):
    """A binary table is read as a HEALPix map only when its header says it is one.

    HEALPix FITS files (healpy, HEALPix, Planck, WMAP) carry ``PIXTYPE = 'HEALPIX'``
    and/or ``NSIDE``; a catalogue table with 12 nside^2 rows does not.
    """
    pixtype = str(header.get("PIXTYPE", "")).strip().upper()
    if pixtype != "HEALPIX" and "NSIDE" not in header:
        raise ReadError(
            f"{path}: binary table HDU {hdu} ({int(header.get('NAXIS2', 0))} rows, columns {names}) has "
            f"neither PIXTYPE = 'HEALPIX' nor an NSIDE keyword: a table, not a HEALPix map; expected "
            f"{expected}")
    if str(header.get("INDXSCHM", "IMPLICIT")).strip().upper() == "EXPLICIT":
        raise ReadError(f"{path}: a cut-sky map with explicit pixel indices (INDXSCHM = 'EXPLICIT') is "
                        f"not supported; expected a full-sky map, {expected}")


def _tform_repeat(tform) -> int:
    """Values per row of a FITS binary-table column (``'1024E'`` -> 1024, ``'D'`` -> 1)."""
    match = re.match(r"\s*(\d*)", str(tform))
    return int(match.group(1)) if match and match.group(1) else 1


def _truncation(caught) -> str | None:
    """astropy only *warns* about a truncated file; turn that into an error message."""
    for w in caught:
        if "truncat" in str(w.message).lower():
            return f"the FITS file is truncated ({w.message})"
    return None


def _resolve_fields(path, field, names):
    if field is None:
        return list(range(len(names)))
    items = [field] if isinstance(field, (int, np.integer, str)) else list(field)
    out = []
    upper = [n.upper() for n in names]
    for item in items:
        if isinstance(item, str):
            if item.upper() not in upper:
                raise ReadError(f"{path}: no field named {item!r}; expected one of {names}")
            out.append(upper.index(item.upper()))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < len(names):
                raise ReadError(f"{path}: field {item} out of range; the file has "
                                f"{len(names)} fields {names}")
            out.append(int(item))
        else:
            raise ReadError(f"{path}: field must be an int, a name or a list of them, got {item!r}")
    if not out:
        raise ReadError(f"{path}: field selects no columns; expected one of {names}")
    return out


# ----------------------------------------------------- equirectangular images
_GREY_MODES = ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I")  # one channel; others are read as RGB


def _read_image(path, *, field, variable, input_sampling, input_nside):
    ignored = _ignored(field=field, variable=variable, input_sampling=input_sampling, input_nside=input_nside)
    from PIL import Image

    expected = ("an equirectangular PNG/JPEG image, north up, longitudes 180W..180E left to "
                "right, with width == 2*height (pixel-centred) or width == 2*height - 1 "
                "(pole rows and a repeated 180-degree column)")
    try:
        with warnings.catch_warnings():
            # Pillow's own guard warns above ~89 Mpx: the decoded-size limit below decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            W0, H0 = img.size
            C = 1 if img.mode in _GREY_MODES else 3
            check_decoded_size(path, (C, H0, W0), f"{W0}x{H0} {img.mode} image")
            img.load()
            mode = img.mode
            if mode in _GREY_MODES:
                scale = 1.0 if mode == "1" else (255.0 if mode in ("L", "LA") else 65535.0)
                src = img.convert("L") if mode == "LA" else img
                arr = np.asarray(src, dtype=np.float64)[None] / scale
                channels = ("grey",)
            else:
                rgb = np.asarray(img.convert("RGB"))  # (H, W, 3) uint8
                arr = np.empty((3,) + rgb.shape[:2])
                for c in range(3):
                    np.multiply(rgb[:, :, c], 1.0 / 255.0, out=arr[c])
                channels = ("R", "G", "B")
    except ReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ReadError(f"{path}: Pillow refuses to decode the image ({exc}); raise "
                        "PIL.Image.MAX_IMAGE_PIXELS as well as max_decoded_bytes to read it "
                        "(docs/io.md)") from exc
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError (truncated), ...
        raise ReadError(f"{path}: cannot decode the image ({exc}); expected {expected}") from exc
    _, H, W = arr.shape
    if W == 2 * H and H >= 1:
        geometry, registration, phi0 = "F1", "pixel-centred", -np.pi + np.pi / W
    elif W == 2 * H - 1 and H >= 3:
        geometry, registration, phi0 = "CC", "grid (pole rows)", -np.pi
        arr = arr[:, :, :-1]  # the last column repeats 180 degrees
    else:
        raise ReadError(f"{path}: image is {W}x{H} (width x height); expected {expected}")
    meta = {
        "reader": "image",
        "ignored_options": ignored,
        "input": {"grid": "equirectangular", "width": W, "height": H, "mode": mode,
                  "registration": registration, "geometry": geometry,
                  "alpha_dropped": mode in ("LA", "RGBA", "PA"),
                  "lon_first_column_deg": float(np.degrees(phi0)),
                  "scaled": "values divided by the maximum of the pixel type (to [0, 1])"},
    }
    grid = Grid("equiangular", arr, geometry=geometry, phi0=float(phi0) % (2 * np.pi))
    return grid, channels, meta


# ------------------------------------------------------------- lat-lon netCDF
_LAT_NAMES = ("lat", "latitude", "lats", "nav_lat")
_LON_NAMES = ("lon", "longitude", "lons", "nav_lon")


def _is_axis(ds, dim, names, units, standard_name):
    if dim.lower() in names:
        return True
    if dim in ds.variables:
        attrs = ds[dim].attrs
        if str(attrs.get("standard_name", "")).lower() == standard_name:
            return True
        if str(attrs.get("units", "")).lower().replace("_", "") in units:
            return True
    return False


def _latlon_dims(ds, var):
    lat = [d for d in ds[var].dims if _is_axis(
        ds, d, _LAT_NAMES, ("degreesnorth", "degreen", "degreesn", "degreenorth"), "latitude")]
    lon = [d for d in ds[var].dims if _is_axis(
        ds, d, _LON_NAMES, ("degreeseast", "degreee", "degreese", "degreeeast"), "longitude")]
    return (lat[0], lon[0]) if len(lat) == 1 and len(lon) == 1 else None


def _read_netcdf(path, *, field, variable, input_sampling, input_nside):
    ignored = _ignored(field=field, input_sampling=input_sampling, input_nside=input_nside)
    try:
        import xarray
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("reading netCDF needs xarray and netCDF4: pip install 's2scatter[io]'") from exc

    expected = ("a global lat-lon grid (equally spaced latitudes with or without pole rows, or "
                "Gaussian latitudes; equally spaced longitudes covering 360 degrees)")
    try:
        ds = xarray.open_dataset(path, decode_times=False, cache=False)
    except Exception as exc:
        raise ReadError(f"{path}: not a readable netCDF file ({exc}); expected {expected}") from exc
    with ds:
        candidates = [v for v in ds.data_vars if _latlon_dims(ds, v) is not None]
        if variable is None:
            if len(candidates) != 1:
                raise ReadError(
                    f"{path}: {len(candidates)} data variables have latitude and longitude "
                    f"dimensions {candidates}; pass variable=... to pick one")
            variable = candidates[0]
        elif variable not in candidates:
            raise ReadError(f"{path}: variable {variable!r} is not a data variable with latitude "
                            f"and longitude dimensions; expected one of {candidates}")
        lat_dim, lon_dim = _latlon_dims(ds, variable)
        da = ds[variable]
        if lat_dim not in ds.coords or lon_dim not in ds.coords:
            raise ReadError(f"{path}: {variable!r} has no coordinate values for "
                            f"{lat_dim!r}/{lon_dim!r}; expected {expected}")
        lead = [d for d in da.dims if d not in (lat_dim, lon_dim)]
        check_decoded_size(path, (math.prod(da.sizes[d] for d in lead), da.sizes[lat_dim],
                                  da.sizes[lon_dim]), f"variable {variable!r}",
                           itemsize=da.dtype.itemsize)
        try:
            da = da.transpose(*lead, lat_dim, lon_dim)
            values = np.asarray(da.values, dtype=np.float64)
            lat = np.asarray(ds[lat_dim].values, dtype=np.float64)
            lon = np.asarray(ds[lon_dim].values, dtype=np.float64)
        except Exception as exc:
            raise ReadError(f"{path}: cannot load {variable!r} ({exc}); expected {expected}") from exc
        lead_sizes = [da.sizes[d] for d in lead]
        lead_coords = {d: [_jsonable(x) for x in ds[d].values] if d in ds.coords else None for d in lead}
        units = str(da.attrs.get("units", ""))
    H, W = lat.size, lon.size
    values = values.reshape((-1, H, W))
    if lead:
        channels = tuple(",".join(f"{d}={i}" for d, i in zip(lead, idx)) for idx in np.ndindex(*lead_sizes))
    else:
        channels = (str(variable),)
    values, geometry, lat_order = _latitude_geometry(path, values, lat, expected)
    values, phi0, lon_info = _longitude_phase(path, values, lon, expected)
    meta = {
        "reader": "netcdf",
        "ignored_options": ignored,
        "input": {"grid": "lat-lon", "variable": str(variable), "units": units,
                  "shape": [int(H), int(W)], "geometry": geometry, "latitudes": lat_order,
                  **lon_info, "channel_dims": lead, "channel_coords": lead_coords},
    }
    return Grid("equiangular", values, geometry=geometry, phi0=phi0), channels, meta


def _latitude_geometry(path, values, lat, expected):
    """Order rows north -> south and recognise F1 / CC / GL latitudes."""
    H = lat.size
    if H < 2:
        raise ReadError(f"{path}: {H} latitude(s); expected {expected}")
    order = "descending (north first)"
    if lat[0] < lat[-1]:
        lat, values, order = lat[::-1], values[:, ::-1], "ascending (south first, flipped)"
    tol = 1e-3 * 180.0 / H  # float32 or rounded coordinates (Gaussian latitudes to 4 digits)
    step = np.diff(lat)
    if np.allclose(lat, 90.0 - 180.0 * np.arange(H) / (H - 1), atol=tol, rtol=0):
        return values, "CC", order
    if np.allclose(lat, 90.0 - 180.0 * (np.arange(H) + 0.5) / H, atol=tol, rtol=0):
        return values, "F1", order
    x, _ = np.polynomial.legendre.leggauss(H)
    if np.allclose(lat, np.degrees(np.arcsin(x[::-1])), atol=tol, rtol=0):
        return values, "GL", order
    raise ReadError(
        f"{path}: latitudes {lat[0]:g}..{lat[-1]:g} with steps {step.min():g}..{step.max():g} "
        f"degrees are not a recognised global grid; expected {expected}")


def _longitude_phase(path, values, lon, expected):
    """Order columns eastwards, drop a repeated column, return ``phi0`` (radians)."""
    W = lon.size
    order = "increasing (eastwards)"
    if W >= 2 and ((lon[1] - lon[0]) % 360.0) > 180.0:
        lon, values, order = lon[::-1], values[:, :, ::-1], "decreasing (flipped)"
    if W >= 2 and abs((lon[-1] - lon[0]) - 360.0) < 1e-6 * 360:
        lon, values = lon[:-1], values[:, :, :-1]  # cyclic duplicate of the first column
    W = lon.size
    steps = np.diff(lon) % 360.0
    if W < 1 or not np.allclose(steps, 360.0 / W, atol=1e-3 * 360.0 / W, rtol=0):
        raise ReadError(f"{path}: {W} longitudes from {lon[0]:g} are not equally spaced around "
                        f"the full circle; expected {expected}")
    phi0 = float(np.radians(lon[0] % 360.0))
    return values, phi0, {"longitudes": order, "lon_first_deg": float(lon[0])}


def _jsonable(x):
    x = x.item() if hasattr(x, "item") else x
    return x if isinstance(x, (int, float, str, bool)) or x is None else str(x)


# --------------------------------------------------------------- NumPy arrays
def _infer_L(sampling, shape2):
    """Input band-limit from the last two axes of an equiangular map (or ``None``)."""
    H, W = shape2
    L = {"mw": H, "gl": H, "mwss": H - 1, "dh": H // 2}[sampling]
    return L if L >= 1 and f_shape(L, sampling=sampling) == (H, W) else None


def _check_npy_header(path, fh, input_sampling, what):
    """Dtype, emptiness and decoded size of a ``.npy`` stream, from its header alone."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f"unsupported .npy format version {version}")
    shape, _, dtype = read(fh)
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise ReadError(f"{path}: dtype {dtype} is not real; expected real (float or int) values")
    # a leading channel axis: 3-D equiangular maps, 2-D HEALPix maps
    channels_first = len(shape) == (2 if input_sampling == "healpix" else 3)
    check_decoded_size(path, shape, what, itemsize=dtype.itemsize, channels_first=channels_first)


def _read_numpy(path, *, field, variable, input_sampling, input_nside):
    ignored = _ignored(field=field)
    if input_sampling is None:
        raise ReadError(f"{path}: arrays carry no grid description; pass input_sampling= "
                        f"(one of {SAMPLINGS}, plus input_nside= for 'healpix')")
    try:
        input_sampling = validate_sampling(
            input_sampling,
            input_nside if input_nside is not None or str(input_sampling).lower() != "healpix"
            else 1)
    except ValueError as exc:
        raise ReadError(f"{path}: {exc}") from exc
    # Every array is checked from its header (shape, dtype) before it is loaded: a
    # compressed .npz member can expand to any size.
    try:
        if path.lower().endswith(".npz"):
            with np.load(path, allow_pickle=False) as npz:  # reads the zip directory only
                keys = list(npz.keys())
                if variable is None:
                    if len(keys) != 1:
                        raise ReadError(f"{path}: {len(keys)} arrays {keys}; pass variable=... "
                                        "to pick one")
                    variable = keys[0]
                elif variable not in keys:
                    raise ReadError(f"{path}: no array named {variable!r}; expected one of {keys}")
                member = variable + ".npy" if variable + ".npy" in npz.zip.namelist() else variable
                with npz.zip.open(member) as fh:
                    _check_npy_header(path, fh, input_sampling, f"array {variable!r}")
                arr = npz[variable]
        else:
            ignored = sorted(ignored + (["variable"] if variable is not None else []))
            variable = None
            with open(path, "rb") as fh:
                _check_npy_header(path, fh, input_sampling, "array")
            arr = np.load(path, allow_pickle=False)
    except ReadError:
        raise
    except Exception as exc:
        raise ReadError(f"{path}: not a readable NumPy file ({exc}); expected a real array "
                        f"(C, *map shape) or (map shape) on {input_sampling!r}") from exc
    meta_in = {"grid": input_sampling, "key": variable, "shape": list(arr.shape), "dtype": str(arr.dtype)}
    if input_sampling == "healpix":
        npix = arr.shape[-1] if arr.ndim else 0
        nside = int(round(np.sqrt(npix / 12))) if npix else 0
        ok = arr.ndim in (1, 2) and nside >= 1 and 12 * nside * nside == npix and not nside & (nside - 1)
        if not ok or (input_nside is not None and int(input_nside) != nside):
            want = (f"(..., {12 * int(input_nside) ** 2}) for input_nside={input_nside}"
                    if input_nside is not None else "(..., 12 nside^2)")
            raise ReadError(f"{path}: array shape {arr.shape} does not fit a HEALPix map; "
                            f"expected {want} with nside a power of two, optionally with a "
                            "leading channel axis")
        data = np.atleast_2d(arr)
        grid = Grid("sampling", data, sampling="healpix", nside=nside, L_in=3 * nside)
        meta_in["nside"] = nside
    else:
        L_in = _infer_L(input_sampling, arr.shape[-2:]) if arr.ndim in (2, 3) else None
        if L_in is None:
            raise ReadError(f"{path}: array shape {arr.shape} is not a {input_sampling!r} map; "
                            "expected (ntheta, nphi) or (C, ntheta, nphi) with (ntheta, nphi) = "
                            f"f_shape(L, sampling={input_sampling!r}) for some L, e.g. "
                            f"{f_shape(8, sampling=input_sampling)} for L=8")
        data = arr[None] if arr.ndim == 2 else arr
        grid = Grid("sampling", data, sampling=input_sampling, L_in=L_in)
        meta_in["L"] = L_in
    C = grid.data.shape[0]
    channels = ("u",) if C == 1 else tuple(f"c{k}" for k in range(C))
    return grid, channels, {"reader": "numpy", "ignored_options": ignored, "input": meta_in}


def _ignored(**options):
    """Names of the given options that a reader does not use (recorded in ``meta``).

    They are ignored rather than rejected so that one set of options can be used
    for a batch of files of different kinds.
    """
    return sorted(k for k, v in options.items() if v is not None)


_DISPATCH = {"healpix-fits": _read_fits, "image": _read_image, "netcdf": _read_netcdf, "numpy": _read_numpy}


# --------------------------------------------------------- public entry point
def read_map(path, *, L, sampling="mw", nside=None, field=None, variable=None,
             input_sampling=None, input_nside=None, nan="error", fill_value=None) -> SphereMap:
    """Read a map on the sphere from a file and resample it onto ``(L, sampling, nside)``.

    The reader is chosen by extension (:data:`READERS`): HEALPix FITS
    (``.fits``, ``.fits.gz``, ``.fit``), equirectangular images (``.png``,
    ``.jpg``, ``.jpeg``), lat-lon netCDF (``.nc``, ``.nc4``, ``.netcdf``) and
    NumPy arrays on a stated sampling (``.npy``, ``.npz``).  Resampling goes
    through harmonic space, so the result is band-limited at ``L``: exact for
    inputs band-limited at or below what their grid resolves, an ideal low-pass
    (anti-aliasing) filter otherwise; see ``docs/io.md`` for the measured error.

    Conventions: ``theta`` is colatitude from the north pole, ``phi`` east
    longitude; images are north up with 180W at the left edge.

    Args:
        path: file to read.
        L: band-limit of the output (exclusive).
        sampling, nside: output sampling scheme (``nside`` iff ``"healpix"``).
        field: FITS only: column index or name, or a list of them; default all
            columns.
        variable: netCDF data variable, or ``.npz`` key; default the only
            candidate.
        input_sampling, input_nside: ``.npy``/``.npz`` only (required): the
            sampling scheme of the stored array, shape ``(*f_shape)`` or
            ``(C, *f_shape)``; the input band-limit is inferred from the shape
            (HEALPix: ``nside`` inferred and checked against ``input_nside``).
        nan: missing values (NaN, inf, HEALPix ``UNSEEN``): ``"error"``
            (default), ``"mean"`` (mean of the finite values, per channel),
            ``"zero"`` or ``"value"`` (``fill_value``).
        fill_value: the value for ``nan="value"``.  Options that do not apply
            to the chosen reader are ignored and listed in
            ``meta["ignored_options"]`` (one set of options can serve a batch of
            mixed files).

    Returns:
        :class:`SphereMap` with ``data`` of shape ``(C, *f_shape(L, ...))``.

    Raises:
        ReadError: unknown extension, unreadable/corrupt file, unexpected grid
            or shape, an empty input (no channel or no values), a FITS table
            without HEALPix keywords, an input that decodes to more than
            ``max_decoded_bytes`` (default 2 GiB; checked from the file's
            header before decoding, see ``docs/io.md``), missing values with
            ``nan="error"``. The message names the file and says what was
            expected.
        ValueError: invalid ``L``, ``sampling``, ``nside``, ``nan`` or
            ``fill_value`` (the harmonic layer's messages); an ``L`` whose
            output cannot fit in the available memory (before the file is read).

    Cost: one analysis of the input (``O(H^2 L)`` for an ``H``-row grid,
    ``O(L^2 nside)`` per HEALPix iteration) and one synthesis per channel.

    Example:
        >>> import numpy as np, s2scatter, tempfile, os
        >>> L = 8
        >>> f = np.ones(s2scatter.sampling.f_shape(L))
        >>> path = os.path.join(tempfile.mkdtemp(), "ones.npy"); np.save(path, f)
        >>> m = read_map(path, L=4, sampling="dh", input_sampling="mw")
        >>> m.data.shape, m.channels, bool(np.allclose(m.data, 1.0))
        ((1, 8, 7), ('u',), True)
    """
    L = validate_L(L)
    sampling = validate_sampling(sampling, nside)
    nside = None if nside is None else int(nside)
    nan = validate_nan_policy(nan, fill_value)
    # the output and its coefficients, per channel: refuse an L that cannot fit before reading
    per_channel = math.prod(f_shape(L, sampling=sampling, nside=nside)) * 8 + L * (2 * L - 1) * 16
    check_memory(per_channel, f"read_map at L={L}, sampling={sampling!r} (per channel)")
    path = os.path.abspath(os.fspath(path))
    ext = _extension(path)
    if ext is None:
        raise ReadError(f"{path}: unknown file type; expected one of the extensions {sorted(READERS)}")
    if not os.path.isfile(path):
        raise ReadError(f"{path}: no such file; expected a {READERS[ext]} file")
    reader = READERS[ext]
    grid, channels, meta = _DISPATCH[reader](
        path, field=field, variable=variable, input_sampling=input_sampling,
        input_nside=input_nside)
    C = grid.data.shape[0]
    if C == 0 or grid.data.size == 0:  # the readers check their headers; this holds for any reader
        raise ReadError(f"{path}: no values (shape {grid.data.shape}); expected a map with at least "
                        "one channel")
    check_memory(C * per_channel, f"{path}: {C} channels read at L={L}, sampling={sampling!r}",
                 error=ReadError)
    data, meta["nan"] = apply_nan_policy(grid.data, path, nan, fill_value)
    grid = Grid(grid.kind, data, geometry=grid.geometry, phi0=grid.phi0, nside=grid.nside,
                sampling=grid.sampling, L_in=grid.L_in)
    flm, meta["resampling"] = to_flm(grid, L, nthreads=get_num_threads())
    out = synthesise(flm, L, sampling, nside)
    meta["output"] = {"L": L, "sampling": sampling, "nside": nside}
    return SphereMap(data=out, L=L, sampling=sampling, nside=nside, channels=tuple(channels),
                     source=path, sha256=file_sha256(path), meta=meta)

