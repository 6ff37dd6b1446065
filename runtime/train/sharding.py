"""Data parallelism with JAX's own SPMD machinery: a `Mesh` over devices with a "data" axis,
rows of the training data sharded along it (`NamedSharding`), training state replicated. The
jitted epoch is unchanged: XLA partitions it. Multi-host: call `jax.distributed.initialize()`
first; `jax.devices()` then spans every host.

Example:
    >>> mesh = data_mesh()                           # doctest: +SKIP
    >>> model.fit(mesh=mesh)                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dlc.compiler.errors import DlcError


def data_mesh(devices: list[Any] | None = None) -> Mesh:
    """A one-axis mesh ("data") over `devices` (default: all devices)."""
    return Mesh(np.array(devices if devices is not None else jax.devices()), ("data",))


def shard_rows(x: Any, mesh: Mesh) -> Any:
    """Place `x` with its first axis split across the mesh's "data" axis."""
    n, k = x.shape[0], mesh.devices.size
    if n % k:
        raise DlcError.single(
            f"{n} rows cannot be split evenly over {k} devices",
            hint=f"use a number of training rows divisible by {k}, e.g. by adjusting the split",
        )
    return jax.device_put(x, NamedSharding(mesh, PartitionSpec("data")))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every leaf of `tree` on all devices of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
