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

Store layout (``format="zarr"``, the default): ``OUT`` is a Zarr v3 directory
store; its root group's attributes hold the job (``config``, ``read``) and one
child group per input, named after the file (``unique, safe``; the source path
is in the group's attributes)::

    OUT/zarr.json                 root: {"s2scatter_store": 2, "config", "read", "format", ...}
    OUT/<group>/zarr.json         attrs: source, sha256, channels, reader meta, paths, versions, ...
    OUT/<group>/maps              (C, P, *output grid)        output="maps"
    OUT/<group>/mean, power       (C, P), (C, P, L_scal)      output="invariants"
    OUT/<group>/path_order        (P,)  int, order of each path
    OUT/<group>/path_scales       (P, max(max_order, 1)) int, scales j1, j2, ... (-1 padded)

With ``format="npz"``: ``OUT/store.json`` (the job) and ``OUT/<group>.npz``
holding the same arrays plus ``metadata`` (the group attributes as a JSON
string).  Plots (``plot=True``) go to ``<OUT without .zarr>_plots/<group>/``,
outside the Zarr hierarchy.

One writer, atomicity: a run holds an exclusive lock on ``OUT`` (a second
writer gets :class:`BatchError`).  Each group is written in the store's
workspace, a hidden sibling ``.<OUT name>.s2scatter-tmp/``, checked whole, marked
``"complete": true`` and moved into ``OUT`` with one ``os.replace``; ``.npz``
files likewise.  A killed run therefore leaves finished groups in ``OUT`` and
nothing else; the next writer clears the workspace.  Only the process that
calls :func:`run_batch` writes (Dask workers only compute).  Guarantees in
full: ``docs/pipeline.md``.

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
