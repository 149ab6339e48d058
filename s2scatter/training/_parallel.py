"""Data parallelism with :mod:`jax.sharding`: the batch axis split over devices, parameters replicated.

One mesh axis, ``"data"``, over the first ``n`` visible devices.  Batches are
placed with :func:`shard_batch` (each device holds ``batch / n`` samples);
parameters, optimiser state and every scalar output are replicated.  The
compiled step is the single-device program partitioned by XLA: the gradient
is the mean over the whole batch (an all-reduce across devices), so the
trajectory is the single-device one up to the order of floating-point sums.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["DataParallel", "data_parallel"]


@dataclasses.dataclass(frozen=True, eq=False)
class DataParallel:
    """A one-axis device mesh and its two placements.

    Attributes:
        mesh: ``jax.sharding.Mesh`` with axis ``"data"``.
        replicated: ``NamedSharding(mesh, P())`` (parameters, optimiser state, scalars).
        batch: ``NamedSharding(mesh, P("data"))`` (leading axis split over the devices).
    """

    mesh: object
    replicated: object
    batch: object

    @property
    def size(self) -> int:
        """Number of devices."""
        return int(self.mesh.devices.size)

    def replicate(self, tree):
        """``tree`` on every device."""
        import jax

        return jax.device_put(tree, self.replicated)

    def shard_batch(self, *arrays):
        """Each array's leading axis split over the devices (its length must be a multiple of :attr:`size`)."""
        import jax

        out = tuple(jax.device_put(a, self.batch) for a in arrays)
        return out if len(out) != 1 else out[0]


def data_parallel(devices=None) -> DataParallel:
    """The :class:`DataParallel` placement over ``devices`` (an int: the first that many; None: all).

    Raises:
        ValueError: more devices asked for than are visible (naming both counts).
    """
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    visible = jax.devices()
    if devices is None:
        chosen = visible
    elif isinstance(devices, int):
        if devices > len(visible):
            raise ValueError(f"devices = {devices}, but only {len(visible)} device(s) are visible "
                             f"({visible[0].platform}); on CPU, set "
                             f"XLA_FLAGS=--xla_force_host_platform_device_count={devices} before starting")
        chosen = visible[:devices]
    else:
        chosen = list(devices)
    mesh = Mesh(np.array(chosen), ("data",))
    return DataParallel(mesh=mesh, replicated=NamedSharding(mesh, PartitionSpec()),
                        batch=NamedSharding(mesh, PartitionSpec("data")))
