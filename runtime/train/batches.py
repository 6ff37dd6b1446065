"""How an epoch cuts training rows into minibatches, for single runs and lanes alike.

An epoch is `steps_per_epoch(n, batch)` steps of `min(batch, n)` rows: a permutation of the
rows (a function of the run's key and the epoch), the last batch padded with the first rows
again at weight 0, so every batch has one shape and every row counts once per epoch.

Example:
    >>> steps_per_epoch(1000, 32), steps_per_epoch(10, 32)
    (32, 1)
    >>> idx, w = epoch_batches(jnp.arange(5), 5, steps=2, batch=3)
    >>> idx.tolist(), w.tolist()
    ([[0, 1, 2], [3, 4, 0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
"""

from __future__ import annotations

from typing import overload

import jax
import jax.numpy as jnp


@overload
def steps_per_epoch(n: int, batch: int) -> int: ...
@overload
def steps_per_epoch(n: jax.Array, batch: int) -> jax.Array: ...
def steps_per_epoch(n: int | jax.Array, batch: int) -> int | jax.Array:
    """Training steps of one epoch over `n` rows in batches of `batch` (at most `n`): the one
    formula of the runtime; `n` may be a traced per-lane count."""
    if isinstance(n, int):
        return -(-n // min(batch, n))
    return -(-n // jnp.minimum(batch, n))


def data_order(key: jax.Array, epoch: jax.Array, n: int, shuffle: bool) -> jax.Array:
    """The order of `n` rows in `epoch`: a permutation from the run's base `key` and the epoch
    (so a resumed run takes the same batches), or `0..n-1` without shuffling."""
    if not shuffle:
        return jnp.arange(n)
    return jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 2), epoch), n)


def epoch_batches(
    order: jax.Array, n: int | jax.Array, steps: int, batch: int
) -> tuple[jax.Array, jax.Array]:
    """Row indices and weights of every step of an epoch, each `(steps, batch)`: the first `n`
    entries of `order` (rows into the data) in turn, then weight-0 rows from its start. With a
    traced `n` below `steps * batch - batch` the last batches have weight 0 only."""
    p = jnp.arange(steps * batch)
    idx = jnp.take(order, p % n).reshape(steps, batch)
    w = (p < n).astype(jnp.float32).reshape(steps, batch)
    return idx, w
