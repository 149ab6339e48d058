"""Batch feature extraction: many map files -> one feature store, serially or on Dask.

The scale-out layer above :mod:`s2scatter.io` and :mod:`s2scatter.scattering`:

* :class:`FeatureJob` -- frozen description of a batch: the
  :class:`~s2scatter.ScatteringConfig`, how to read the inputs
  (:class:`ReadOptions`), the output format and plots.
* :func:`compute_features` -- pure function ``(path, job) -> result``: reads one
  file with :func:`s2scatter.io.read_map` and runs the scattering network on all
  of its channels as one batch.  This is what Dask workers run.
* :func:`run_batch` -- reads, computes and writes every input; skips finished
  ones with ``resume=True``; records failures and carries on; returns a
  :class:`BatchReport`.
* :func:`run_batch_arrays` -- the same for in-memory arrays of maps (one group
  per array, source ``array:<name>``, fingerprint :func:`array_sha256`), with
  :func:`compute_array_features` as the computation (the training feature
  cache of :mod:`s2scatter.training` is such a store).
* :func:`store_info` -- what a store holds (used by ``s2scatter info``).

One private module per concern: ``_job`` (the frozen job), ``_compute`` (the
pure computation), ``_store`` (layout, writers, checks), ``_plots``,
``_driver`` (:func:`run_batch`) and ``_inspect`` (:func:`store_info`); the
public names are those re-exported here.

Store layout (Zarr v3 by default, or ``.npz`` files), the one-writer lock and the
atomic, marked groups: ``docs/pipeline.md``.  Only the process that calls
:func:`run_batch` writes (Dask workers only compute).

Example::

    >>> from s2scatter import ScatteringConfig
    >>> from s2scatter.batch import FeatureJob, run_batch
    >>> job = FeatureJob(ScatteringConfig(L=32, output="invariants"))
    >>> report = run_batch(["a.fits", "b.png"], "features.zarr", job)  # doctest: +SKIP
    >>> report.exit_code  # doctest: +SKIP
    0
"""

from ._compute import array_sha256, compute_array_features, compute_features
from ._driver import BatchReport, run_batch, run_batch_arrays
from ._inspect import store_info
from ._job import FORMATS, FeatureJob, ReadOptions, versions
from ._store import STORE_VERSION, BatchError, plots_dir

__all__ = [
    "FeatureJob",
    "ReadOptions",
    "BatchReport",
    "BatchError",
    "compute_features",
    "compute_array_features",
    "array_sha256",
    "run_batch",
    "run_batch_arrays",
    "store_info",
    "plots_dir",
    "versions",
    "FORMATS",
    "STORE_VERSION",
]
