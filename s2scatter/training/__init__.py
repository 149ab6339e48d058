"""Training hybrid spherical CNNs end to end: data, feature cache, loop, checkpoints, evaluation.

The layer above :mod:`s2scatter.nn`, :mod:`s2scatter.datasets` and
:mod:`s2scatter.batch`; ``s2scatter train`` / ``s2scatter evaluate`` are thin
wrappers over it.

* :class:`TrainConfig` -- every option of a run (model, Optax optimiser and
  schedule, loop), frozen; :func:`load_toml` reads the same keys from a file.
* :func:`train` -- labelled maps (``.npz``, arrays, or a feature store with a
  labels file) -> a run directory: ``run.json``, ``metrics.csv``,
  ``metrics.json``, ``curves.png`` and an Orbax checkpoint per epoch;
  ``resume=True`` continues an interrupted run with the same metrics.
* :func:`evaluate` -- a run's accuracy and confusion matrix on new data.
* :func:`front_end_features` -- the scattering front end's output, computed
  once per data set and configuration with the batch machinery (a Zarr store,
  resumable) and reused.
* :func:`data_parallel` -- the device mesh: the batch axis sharded with
  :mod:`jax.sharding`, parameters replicated.

Guide, defaults and what they reach: ``docs/training.md``.
"""

from ._cache import cache_key, features_in_memory, front_end_features
from ._config import OPTIMIZERS, RUN_KEYS, SCHEDULES, TrainConfig, load_toml, make_optimizer, model_config
from ._data import LabelledData, as_data
from ._loop import EvalResult, RunError, TrainResult, default_cache_dir, evaluate, load_run, train
from ._parallel import DataParallel, data_parallel
from ._rundir import METRIC_COLUMNS

__all__ = [
    "DataParallel",
    "EvalResult",
    "LabelledData",
    "METRIC_COLUMNS",
    "OPTIMIZERS",
    "RUN_KEYS",
    "RunError",
    "SCHEDULES",
    "TrainConfig",
    "TrainResult",
    "as_data",
    "cache_key",
    "data_parallel",
    "default_cache_dir",
    "evaluate",
    "features_in_memory",
    "front_end_features",
    "load_run",
    "load_toml",
    "make_optimizer",
    "model_config",
    "train",
]
