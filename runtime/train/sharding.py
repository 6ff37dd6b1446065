"""Data parallelism with JAX's own SPMD machinery: a `Mesh` over devices with a "data" axis,
the training rows sharded along it (`NamedSharding`), every minibatch constrained to be
sharded along it too (`with_sharding_constraint`), the training state replicated. XLA
partitions the jitted epoch: each device computes its slice of the batch, the gradients are
all-reduced, and every device applies the same update. The global batch is the spec's
`train.batch`, so results equal one device's up to the order of floating-point sums.

Row counts need not divide the device count: the training rows are padded with zero rows that
no batch ever takes (the epoch's batches index only the real rows, and a last short batch is
already padded with weight-0 rows), and XLA pads a batch that does not split evenly.

Multi-host: call `jax.distributed.initialize()` first; `jax.devices()` then spans every host.

Example:
    >>> mesh = data_mesh()                           # doctest: +SKIP
    >>> model.fit(mesh=mesh)                         # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dlc.compiler.errors import DlcError

AXIS = "data"


def data_mesh(devices: list[Any] | None = None) -> Mesh:
    """A one-axis mesh ("data") over `devices` (default: all devices)."""
    return Mesh(np.array(devices if devices is not None else jax.devices()), (AXIS,))


def mesh_for(
    setting: int | str | None,
    error: Callable[[str, str], DlcError] | None = None,
    name: str = "train.devices",
) -> Mesh | None:
    """The mesh for `train { devices N }` (`all`: every device); None for one device. More
    devices than JAX sees is a DlcError (`error(message, hint)` locates it in the spec; `name`
    is what the message calls the setting).

    Example:
        >>> mesh_for(1) is None
        True
    """
    available = jax.devices()
    if setting is None or setting == 1 or (setting == "all" and len(available) == 1):
        return None
    count = len(available) if setting == "all" else int(setting)
    if count > len(available):
        message = (
            f"{name} is {count}, but JAX sees {len(available)} device"
            f"{'s' if len(available) != 1 else ''} ({available[0].platform})"
        )
        hint = (
            f"use `devices {len(available)}` or `devices all`; on CPU, simulated devices come "
            f"from XLA_FLAGS=--xla_force_host_platform_device_count={count}"
        )
        if error is not None:
            raise error(message, hint)
        raise DlcError.single(message, hint=hint)
    return data_mesh(available[:count])


def batch_sharding(mesh: Mesh | None) -> NamedSharding | None:
    """How a minibatch is laid out inside the jitted step: split along the "data" axis."""
    return None if mesh is None else NamedSharding(mesh, PartitionSpec(AXIS))


def constrain(x: Any, sharding: NamedSharding | None) -> Any:
    """`x` (a minibatch: rows first) laid out by `sharding`; unchanged without one."""
    return x if sharding is None else jax.lax.with_sharding_constraint(x, sharding)


def shard_rows(x: Any, mesh: Mesh) -> Any:
    """Place `x` with its first axis split across the mesh's "data" axis. A row count that the
    device count does not divide is padded with zero rows at the end (no epoch indexes them)."""
    n, k = x.shape[0], mesh.devices.size
    if n % k:
        import jax.numpy as jnp

        x = jnp.concatenate([jnp.asarray(x), jnp.zeros((k - n % k, *x.shape[1:]), x.dtype)])
    return jax.device_put(x, NamedSharding(mesh, PartitionSpec(AXIS)))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every leaf of `tree` on all devices of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
