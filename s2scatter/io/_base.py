"""The result type, the error type and the missing-value policy of the io layer."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._limits import check_memory, format_bytes, get_limits
from ..sampling import validate_choice

UNSEEN = -1.6375e30
"""HEALPix's marker for missing pixels (``healpy.UNSEEN``); treated like NaN."""

NAN_POLICIES = ("error", "mean", "zero", "value")
"""Values of ``read_map(..., nan=...)``."""


class ReadError(ValueError):
    """A file could not be read as a map on the sphere.

    The message names the file and says what was expected.
    """


@dataclasses.dataclass(frozen=True)
class SphereMap:
    """A map read from a file and resampled onto ``(L, sampling, nside)``.

    Attributes:
        data: float64 array ``(C, *f_shape(L, sampling=sampling, nside=nside))``,
            one map per channel (``C >= 1``), band-limited at ``L``.
        L: band-limit (exclusive).
        sampling: ``"mw"``, ``"mwss"``, ``"dh"``, ``"gl"`` or ``"healpix"``.
        nside: HEALPix resolution iff ``sampling == "healpix"``, else ``None``.
        channels: one name per channel, e.g. ``("I",)``, ``("R", "G", "B")``.
        source: absolute path of the file read.
        sha256: hex digest of the file's bytes.
        meta: JSON-serialisable description: reader, input grid, resampling,
            missing values (policy and count), ...
    """

    data: np.ndarray
    L: int
    sampling: str
    nside: int | None
    channels: tuple[str, ...]
    source: str
    sha256: str
    meta: dict


def check_decoded_size(path, shape, what, *, itemsize=1, channels_first=True) -> None:
    """Refuse an input from its header, before decoding it: empty, or too large.

    ``shape`` is the shape of the values the reader is about to decode (channel
    axis first when ``channels_first``); their float64 size is checked against
    ``max_decoded_bytes`` (default 2 GiB, :func:`s2scatter.set_limits`) and the
    available memory, and so is ``prod(shape) * itemsize`` (the raw values, when
    the file stores wider items than the decoded floats).  A shape with no values,
    or with no channel, is an empty input.
    """
    shape = tuple(int(n) for n in shape)
    count = math.prod(shape)
    if count == 0:
        which = (f"{shape[0]} channels" if channels_first and shape and shape[0] == 0 else "no values")
        raise ReadError(f"{path}: {what} of shape {shape} has {which}; expected a map with at least "
                        "one channel of values")
    nbytes = count * max(8, int(itemsize))
    limit = get_limits()["max_decoded_bytes"]
    if nbytes > limit:
        raise ReadError(
            f"{path}: {what} of shape {shape} decodes to {format_bytes(nbytes)}, above the limit "
            f"max_decoded_bytes = {format_bytes(limit)} (checked before decoding); raise it with "
            "s2scatter.set_limits(max_decoded_bytes=...) or the environment variable "
            "S2SCATTER_MAX_DECODED_BYTES (docs/io.md)")
    check_memory(nbytes, f"{path}: decoding {what} of shape {shape}", error=ReadError)


def validate_nan_policy(nan, fill_value) -> str:
    """Check ``nan`` / ``fill_value`` before any file is opened; return ``nan`` in lower case."""
    nan = validate_choice(nan, NAN_POLICIES, "nan")
    if nan == "value":
        if fill_value is None or not np.isfinite(fill_value):
            raise ValueError(f'nan="value" needs a finite fill_value, got fill_value={fill_value!r}')
    elif fill_value is not None:
        raise ValueError(f'fill_value is only used with nan="value", got nan={nan!r}')
    return nan


def apply_nan_policy(data: np.ndarray, path: str, nan: str, fill_value) -> tuple[np.ndarray, dict]:
    """Replace missing values (NaN, +-inf, HEALPix ``UNSEEN``) channel by channel.

    ``data`` has the channel axis first.  Returns the filled float64 array and
    the ``meta["nan"]`` entry (policy, total count, count per channel).
    """
    data = np.asarray(data, dtype=np.float64)
    lo, hi = UNSEEN * (1 + 1e-5), UNSEEN * (1 - 1e-5)  # healpy's tolerance around UNSEEN
    masks = [~np.isfinite(x) | ((x >= lo) & (x <= hi)) for x in data]
    per_channel = [int(np.count_nonzero(m)) for m in masks]
    count = sum(per_channel)
    info = {"policy": nan, "count": count, "count_per_channel": per_channel}
    if count == 0:
        return data, info
    if nan == "error":
        raise ReadError(
            f"{path}: {count} of {data.size} input values are missing (NaN, inf or HEALPix "
            "UNSEEN); expected finite values everywhere. Pass nan='mean' (fill with the mean "
            "of the finite values), nan='zero', or nan='value' with fill_value=... to fill them"
        )
    data = data.copy()
    for c, miss in enumerate(masks):
        if not miss.any():
            continue
        if nan == "mean":
            if miss.all():
                raise ReadError(f"{path}: channel {c} has no finite values; cannot fill with the mean")
            data[c][miss] = float(data[c][~miss].mean())
        else:
            data[c][miss] = 0.0 if nan == "zero" else float(fill_value)
    return data, info
