"""Data parallelism with JAX's own SPMD machinery: a `Mesh` over devices with a "data" axis,
the training rows sharded along it (`NamedSharding`), every minibatch constrained to be
sharded along it too (`with_sharding_constraint`), the training state replicated. XLA
partitions the jitted epoch: each device computes its slice of the batch, the gradients are
all-reduced, and every device applies the same update. The global batch is the spec's
`train.batch`, so results equal one device's up to the order of floating-point sums.

Row counts need not divide the device count: the training rows are padded with zero rows that
no batch ever takes (the epoch's batches index only the real rows, and a last short batch is
already padded with weight-0 rows), and XLA pads a batch that does not split evenly.

Several processes (`distributed.start`, one or more hosts): the mesh spans every process's
devices, grouped by process; `shard_rows` then places only this process's rows
(`jax.make_array_from_process_local_data`) and every process runs the same programs.

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
    """A one-axis mesh ("data") over `devices` (default: all devices, those of each process
    side by side, so that each process holds one run of consecutive rows)."""
    if devices is None:
        devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return Mesh(np.array(devices), (AXIS,))


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
    if jax.process_count() > 1:
        return _all_processes(setting, error, name)
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


def _all_processes(
    setting: int | str | None, error: Callable[[str, str], DlcError] | None, name: str
) -> Mesh:
    """With several processes every device of every process takes part: `devices` is 1 (the
    default), `all`, or the total count."""
    total, procs = jax.device_count(), jax.process_count()
    if setting not in (None, 1, "all", total):
        message = f"{name} is {setting}, but the {procs} processes have {total} devices in all"
        hint = f"with several processes every device takes part: use `devices all` or {total}"
        if error is not None:
            raise error(message, hint)
        raise DlcError.single(message, hint=hint)
    return data_mesh()


def batch_sharding(mesh: Mesh | None) -> NamedSharding | None:
    """How a minibatch is laid out inside the jitted step: split along the "data" axis."""
    return None if mesh is None else NamedSharding(mesh, PartitionSpec(AXIS))


def constrain(x: Any, sharding: NamedSharding | None) -> Any:
    """`x` (a minibatch: rows first) laid out by `sharding`; unchanged without one."""
    return x if sharding is None else jax.lax.with_sharding_constraint(x, sharding)


def padded_rows(n: int, mesh: Mesh) -> int:
    """`n` rounded up to a multiple of the mesh's device count (what `shard_rows` places)."""
    k = mesh.devices.size
    return -(-n // k) * k


def local_rows(n: int, mesh: Mesh) -> tuple[int, int]:
    """The rows `lo:hi` of an `n`-row array sharded over `mesh` that this process's devices
    hold (all of them in a single process)."""
    shape = (padded_rows(n, mesh),)
    spans = NamedSharding(mesh, PartitionSpec(AXIS)).addressable_devices_indices_map(shape)
    rows = [index[0] if index is not None else slice(None) for index in spans.values()]
    ranges = [r.indices(shape[0])[:2] for r in rows]
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def shard_rows(x: Any, mesh: Mesh) -> Any:
    """Place `x` with its first axis split across the mesh's "data" axis. A row count that the
    device count does not divide is padded with zero rows at the end (no epoch indexes them).
    Each process puts only its own rows on its devices
    (`jax.make_array_from_process_local_data`): with several processes no device holds the
    other processes' rows."""
    n = x.shape[0]
    total = padded_rows(n, mesh)
    lo, hi = local_rows(n, mesh)
    mine = np.asarray(x[lo : min(hi, n)])
    if hi > n:  # this process holds the padding rows
        mine = np.concatenate([mine, np.zeros((hi - max(lo, n), *x.shape[1:]), mine.dtype)])
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    return jax.make_array_from_process_local_data(sharding, mine, (total, *x.shape[1:]))


def shard_part(x: Any, y: Any, mesh: Mesh) -> tuple[Any, ...]:
    """An evaluation part `(x, y)` split over the mesh like the training rows: `(x, y)`, or
    `(x, y, n)` when padding rows were added (evaluation then counts only the first `n`)."""
    n = x.shape[0]
    placed = (shard_rows(x, mesh), shard_rows(y, mesh))
    return placed if padded_rows(n, mesh) == n else (*placed, n)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every leaf of `tree` on all devices of the mesh (with several processes from a
    host copy, which is the same in every process)."""
    if jax.process_count() > 1:
        tree = jax.device_get(tree)
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
