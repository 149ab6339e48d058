"""The training configuration: one frozen dataclass, read from flags or a TOML file, and what it builds.

:class:`TrainConfig` holds the model options, the optimiser and its schedule,
and the loop settings; :func:`load_toml` reads the same keys from a TOML file
(unknown keys are an error naming them); :func:`model_config` turns it into a
:class:`~s2scatter.nn.HybridConfig` for given data; :func:`make_optimizer`
builds the Optax transformation.
"""

from __future__ import annotations

import dataclasses
import numbers
import os

from .._config import bounded_cache
from ..sampling import validate_int, validate_number

__all__ = ["TrainConfig", "RUN_KEYS", "load_toml", "model_config", "make_optimizer", "OPTIMIZERS",
           "SCHEDULES"]

OPTIMIZERS = ("adamw", "adam", "sgd")
"""Optax optimisers :attr:`TrainConfig.optimizer` accepts (names are case-insensitive)."""
SCHEDULES = ("cosine", "constant")
"""Learning-rate schedules :attr:`TrainConfig.schedule` accepts: warm-up then cosine decay, or constant."""
RUN_KEYS = ("train", "test", "train_labels", "test_labels", "output")
"""Keys a TOML file may hold besides the :class:`TrainConfig` fields: the data and the run directory."""


def _int_tuple(value, name):
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"{name} must be comma-separated positive integers, got {value!r}") from None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        out = tuple(validate_int(v, name, minimum=1) for v in value)
    except TypeError:
        raise ValueError(f"{name} must be a list of positive integers, got {value!r}") from None
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


_INT_MINIMUM = {"J_min": 0, "N": 1, "max_order": 0, "hidden": 0, "num_classes": 2, "epochs": 1, "batch_size": 1,
                "seed": 0, "devices": 1, "L": 2, "nside": 1}  # the integer options and their least values
_NUMBER_MINIMUM = {"lam": 1.0, "learning_rate": 0.0, "warmup_epochs": 0.0, "weight_decay": 0.0, "momentum": 0.0,
                   "clip_norm": 0.0}  # the real options and their least values
_STRICT = ("lam", "learning_rate")  # above their least value, not equal to it


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that defines a training run except the data (frozen; the keys of the TOML file).

    The defaults train a good classifier on a new data set of up to a few tens
    of thousands of maps without tuning (AdamW, a short warm-up and a cosine
    decay, gradient clipping; see ``docs/training.md`` for what they reach).

    Model (see :class:`s2scatter.nn.HybridConfig`):
        scattering: use the scattering front end (``False``: the generalised
            CNN on the map's own coefficients).
        J_min, N, lam, max_order: the front end's first scale (``None``:
            ``min(3, J_max)``), azimuthal band-limit, scale factor and depth.
        channels, band_limits: channels and band-limits of the generalised
            layers (``band_limits=None``: ``HybridConfig``'s default).
        degrees: degree-mixing set of the tensor products, ``"mst"``, ``"log"`` or ``"full"``.
        hidden: width of the dense head's hidden layer.
        norm: ``"layer"``, ``"batch"`` or ``"none"``.
        dtype: ``"float32"`` (default) or ``"float64"``, parameters and computation.
        num_classes: number of classes (``None``: ``max(train labels) + 1``).

    Optimiser (Optax):
        optimizer: ``"adamw"``, ``"adam"`` or ``"sgd"`` (with Nesterov momentum ``momentum``).
        learning_rate: peak learning rate.
        schedule: ``"cosine"`` (linear warm-up over ``warmup_epochs``, then a
            cosine decay to 0 at the last step) or ``"constant"`` (warm-up, then flat).
        warmup_epochs: length of the warm-up, in epochs (at most a tenth of the run).
        weight_decay: decoupled weight decay (``adamw``, ``sgd``).
        clip_norm: clip the gradient's global norm to this (0: no clipping).

    Loop:
        epochs, batch_size: the batch is split over the devices (``batch_size``
            must be a multiple of their number); the last incomplete batch of an
            epoch is dropped (the order changes every epoch).
        seed: parameter initialisation and data order; a run is deterministic under it.
        devices: how many of the visible devices to use (``None``: all).
        cache_dir: where the front end's features are cached (``None``: ``RUN_DIR/cache``).
        L, sampling, nside: the maps' sampling where the data files do not say.

    Raises:
        ValueError: naming the option, at construction.
    """

    # model
    scattering: bool = True
    J_min: int | None = None
    N: int = 1
    lam: float = 2.0
    max_order: int = 2
    channels: tuple = (16, 32, 32)
    band_limits: tuple | None = None
    degrees: str = "mst"
    hidden: int = 64
    norm: str = "layer"
    dtype: str = "float32"
    num_classes: int | None = None
    # optimiser
    optimizer: str = "adamw"
    learning_rate: float = 3e-3
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    weight_decay: float = 1e-4
    momentum: float = 0.9
    clip_norm: float = 1.0
    # loop
    epochs: int = 8
    batch_size: int = 32
    seed: int = 0
    devices: int | None = None
    cache_dir: str | None = None
    # data
    L: int | None = None
    sampling: str | None = None
    nside: int | None = None

    def __post_init__(self):
        from ..nn import DEGREE_SETS
        from ..sampling import SAMPLINGS

        choices = {"degrees": DEGREE_SETS, "norm": ("layer", "batch", "none"), "dtype": ("float32", "float64"),
                   "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "sampling": SAMPLINGS}
        for f in dataclasses.fields(self):
            name, value = f.name, getattr(self, f.name)
            if value is None and f.default is None:  # an optional setting left unset
                continue
            if name in _INT_MINIMUM:
                value = validate_int(value, name, minimum=_INT_MINIMUM[name])
            elif name in _NUMBER_MINIMUM:
                value = validate_number(value, name, minimum=_NUMBER_MINIMUM[name], strict=name in _STRICT)
            elif name in ("channels", "band_limits"):
                value = _int_tuple(value, name)
            elif name in choices and value not in choices[name]:
                raise ValueError(f"{name} must be one of {choices[name]}, got {value!r}")
            object.__setattr__(self, name, value)
        if not isinstance(self.scattering, bool):
            raise ValueError(f"scattering must be true or false, got {self.scattering!r}")
        if self.momentum >= 1:
            raise ValueError(f"momentum must be below 1, got {self.momentum!r}")
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, (str, os.PathLike)) or not os.fspath(self.cache_dir).strip():
                raise ValueError(f"cache_dir must be a directory path, got {self.cache_dir!r}")
            object.__setattr__(self, "cache_dir", os.fspath(self.cache_dir))

    @classmethod
    def fields(cls) -> tuple:
        """Names of the options (the keys a TOML file may set besides :data:`RUN_KEYS`)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` (unknown names are a ``ValueError`` naming them)."""
        unknown = sorted(set(changes) - set(self.fields()))
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-able dict of the options (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def load_toml(path) -> dict:
    """The options of a TOML file: a flat table of :class:`TrainConfig` fields and :data:`RUN_KEYS`.

    Example file::

        train = "train.npz"
        test = "test.npz"
        output = "runs/fmnist"
        epochs = 20
        channels = [16, 32, 32]
        learning_rate = 0.002

    Returns the dict as read (checked by :class:`TrainConfig` when it is built).

    Raises:
        ValueError: naming the file and the problem: not TOML, an unknown key
            (with the known ones), a nested table.
        FileNotFoundError: no such file.
    """
    import tomllib

    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not a valid TOML file ({exc})") from None
    known = set(TrainConfig.fields()) | set(RUN_KEYS)
    for key, value in data.items():
        if isinstance(value, dict):
            raise ValueError(f"{path}: [{key}] tables are not supported; put the options at the top level")
        if key not in known:
            raise ValueError(f"{path}: unknown option {key!r}; known options: {', '.join(sorted(known))}")
    return data


def model_config(config: TrainConfig, *, L, sampling, nside, num_classes, scattering=None):
    """The :class:`~s2scatter.nn.HybridConfig` of ``config`` for maps at ``(L, sampling, nside)``.

    ``scattering``: an explicit :class:`~s2scatter.ScatteringConfig` (a feature
    store's) instead of the one built from ``config``'s ``J_min, N, lam, max_order``.
    """
    from ..nn import HybridConfig
    from ..scattering import ScatteringConfig

    if not config.scattering:
        front = None
    elif scattering is not None:
        front = scattering
    else:
        J_min = config.J_min
        if J_min is None:
            probe = ScatteringConfig(L=L, J_min=0, lam=config.lam, sampling=sampling, nside=nside)
            J_min = min(3, probe.J_max)
        front = ScatteringConfig(L=L, J_min=J_min, N=config.N, lam=config.lam, max_order=config.max_order,
                                 sampling=sampling, nside=nside, reality=True, output="maps")
    return HybridConfig(L=L, num_classes=num_classes, sampling=sampling, nside=nside, scattering=front,
                        channels=config.channels, band_limits=config.band_limits, degrees=config.degrees,
                        hidden=config.hidden, norm=None if config.norm == "none" else config.norm,
                        dtype=config.dtype)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """``(transformation, schedule)``: the Optax optimiser of ``config`` without its step size, and the schedule.

    The update of step ``t`` is ``-schedule(t) * transformation.update(...)``:
    for ``adamw`` that is ``optax.adamw(schedule, weight_decay)`` (Adam's
    direction plus ``weight_decay * params``, both scaled by the learning
    rate), for ``sgd`` Nesterov momentum on the (decayed) gradient; the global
    norm is clipped first.  Keeping the learning rate out of the
    transformation lets runs that differ only in length, learning rate or
    schedule share one compiled step (the rate is an argument of the step).

    Schedule: linear warm-up from 0 over ``warmup_epochs`` (at most a tenth of
    the run), then a cosine decay to 0 at the last step (``"cosine"``) or flat
    (``"constant"``).
    """
    import optax

    total = max(1, config.epochs * int(steps_per_epoch))
    warmup = min(int(round(config.warmup_epochs * steps_per_epoch)), total // 10)
    peak = config.learning_rate
    if config.schedule == "cosine":
        schedule = (optax.warmup_cosine_decay_schedule(0.0, peak, warmup_steps=warmup, decay_steps=total,
                                                       end_value=0.0)
                    if warmup else optax.cosine_decay_schedule(peak, decay_steps=total))
    else:
        schedule = (optax.join_schedules([optax.linear_schedule(0.0, peak, warmup),
                                          optax.constant_schedule(peak)], [warmup])
                    if warmup else optax.constant_schedule(peak))
    return _direction(config.optimizer, config.weight_decay, config.momentum, config.clip_norm), schedule


@bounded_cache(8)
def _direction(name, weight_decay, momentum, clip_norm):
    """The optimiser's update direction (to be scaled by ``-learning_rate``); one object per setting."""
    import optax

    parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm else []
    if name in ("adamw", "adam"):
        parts.append(optax.scale_by_adam())
        if name == "adamw" and weight_decay:
            parts.append(optax.add_decayed_weights(weight_decay))
    else:
        if weight_decay:
            parts.append(optax.add_decayed_weights(weight_decay))
        if momentum:
            parts.append(optax.trace(decay=momentum, nesterov=True))
    return optax.chain(*parts)
