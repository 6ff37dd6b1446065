"""The training engine: one pure training step and one epoch of it, for single runs, resumed
runs and experiment lanes (which `vmap` this same epoch over a leading lane axis).

Whatever differs between lanes is a traced input (`Hyper`): normalization, L1/L2 strengths,
layer settings such as dropout rates, the learning-rate schedule as a table, the epoch length
of reduce-on-plateau and an `active` flag. A single run leaves them None and so compiles the
program's own constants, as fast as before.

Example:
    >>> order = data_order(state.key, epoch, n, shuffle=True)            # doctest: +SKIP
    >>> state, stats = train_epoch(program, state, x, y, order, n, Hyper(), batch=32)
    ...                                                                   # doctest: +SKIP
    >>> stats["loss"], stats["finite"], stats["lr"]                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dlc.compiler.lower import Program
from dlc.compiler.optimizers import current_lr
from dlc.compiler.schedules import plateau_of
from dlc.runtime.train.augment import augment_images, augment_key
from dlc.runtime.train.batches import epoch_batches, steps_per_epoch
from dlc.runtime.train.sharding import constrain

Tree = Any  # a pytree of jax.Array (parameters, optimizer state, model state)


class TrainState(NamedTuple):
    params: Tree
    opt_state: Tree
    model_state: Tree
    step: jax.Array  # int32 scalar
    key: jax.Array  # the run's base PRNG key (data order and dropout derive from it)


class Hyper(NamedTuple):
    """Per-run inputs of the step that may be traced (one entry per lane under vmap); None:
    the program's own constant (a single run)."""

    shift: jax.Array | None = None  # inputs become (x - shift) / scale
    scale: jax.Array | None = None
    reg: jax.Array | None = None  # (l1, l2) penalty strengths
    overrides: dict[str, dict[str, jax.Array]] | None = None  # layer key -> {setting: value}
    table: jax.Array | None = None  # learning-rate multiplier per step
    epoch_steps: jax.Array | None = None  # steps per epoch (reduce-on-plateau counts epochs)
    active: jax.Array | None = None  # bool: False skips every update


class StepStats(NamedTuple):
    loss: jax.Array  # the minibatch loss
    weight: jax.Array  # sum of the batch's example weights (0: a padding step)


def schedule_of(program: Program, hyper: Hyper) -> Callable[[jax.Array], jax.Array]:
    """The learning-rate multiplier as a function of the step: the spec's, or `hyper.table`."""
    table = hyper.table
    if table is None:
        return program.schedule()
    return lambda t: table[jnp.minimum(t, table.shape[0] - 1)]


def optimizer_of(program: Program, hyper: Hyper) -> optax.GradientTransformationExtraArgs:
    """The program's Optax transformation, with `hyper`'s schedule and epoch length if given."""
    if hyper.table is None and hyper.epoch_steps is None:
        return program.optimizer()
    spec = program.spec
    plateau = plateau_of(spec.schedule)
    if plateau is not None:
        epoch = hyper.epoch_steps
        plateau = plateau.transform(
            epoch if epoch is not None else max(1, program.total_steps // spec.train.epochs)
        )
    return spec.optimizer.transform(schedule_of(program, hyper), plateau)


def normalized(x: jax.Array, shift: jax.Array | None, scale: jax.Array | None) -> jax.Array:
    """`(x - shift) / scale`, or `x` where no statistics are given (a single run's data is
    normalized once on the host; lanes normalize each batch with their own fold's statistics)."""
    return x if shift is None or scale is None else (x - shift) / scale


def _select(flag: jax.Array, new: TrainState, old: TrainState) -> TrainState:
    return jax.tree.map(lambda u, v: jnp.where(flag, u, v), new, old)


def train_step(
    program: Program,
    tx: optax.GradientTransformationExtraArgs,
    x: jax.Array,
    y: jax.Array,
    hyper: Hyper,
    state: TrainState,
    rows: tuple[jax.Array | None, jax.Array],
    shard: Any = None,
) -> tuple[TrainState, StepStats]:
    """One update on the rows `rows = (indices into x/y, example weights)` (indices None: all
    of `x`/`y` as they are, no gather). Dropout's key is `fold_in(fold_in(key, 1), step)`,
    `data { augment }`'s `fold_in(fold_in(key, 2), step)`; an
    inactive run or an all-padding batch changes nothing. With `shard` (a `NamedSharding`,
    `sharding.batch_sharding`) the batch is split over a device mesh: data parallel."""
    idx, wb = rows
    xb = constrain(x if idx is None else jnp.take(x, idx, axis=0), shard)
    xb = normalized(xb, hyper.shift, hyper.scale)
    augment = program.spec.data.augment
    if augment is not None:  # training images only: evaluation never passes here
        xb = augment_images(xb, augment_key(state.key, state.step), augment)
    yb = constrain(y if idx is None else jnp.take(y, idx, axis=0), shard)
    wb = constrain(wb, shard)
    rng = jax.random.fold_in(jax.random.fold_in(state.key, 1), state.step)
    grad_fn = jax.value_and_grad(program.loss, has_aux=True)
    (loss, (model_state, _)), grads = grad_fn(
        state.params, state.model_state, xb, yb, wb, rng, hyper.reg, hyper.overrides
    )
    # value: the minibatch loss, read by a reduce-on-plateau step (ignored otherwise)
    updates, opt_state = tx.update(grads, state.opt_state, state.params, value=loss)
    params = optax.apply_updates(state.params, updates)
    new = TrainState(params, opt_state, model_state, state.step + 1, state.key)
    wsum = jnp.sum(wb)
    if hyper.active is not None:  # steps past a lane's end (or after it stopped) skip
        new = _select(hyper.active & (wsum > 0), new, state)
    return new, StepStats(loss, wsum)


def train_steps(
    program: Program,
    tx: optax.GradientTransformationExtraArgs,
    x: jax.Array,
    y: jax.Array,
    hyper: Hyper,
    state: TrainState,
    idx: jax.Array,
    w: jax.Array,
    shard: Any = None,
) -> tuple[TrainState, StepStats]:
    """`train_step` over each row of `idx`/`w` (steps, batch) in one `lax.scan`; a single step
    is not wrapped in a scan. Stats have one entry per step."""

    def step(s: TrainState, rows: tuple[jax.Array, jax.Array]) -> tuple[TrainState, StepStats]:
        return train_step(program, tx, x, y, hyper, s, rows, shard)

    if idx.shape[0] == 1:
        state, out = step(state, (idx[0], w[0]))
        return state, jax.tree.map(lambda a: a[None], out)
    return jax.lax.scan(step, state, (idx, w))


def epoch_stats(
    program: Program, hyper: Hyper, state: TrainState, stats: StepStats
) -> dict[str, jax.Array]:
    """Mean training loss (real rows only), whether every loss was finite, the current lr."""
    lr = current_lr(state.opt_state, schedule_of(program, hyper)(state.step))
    return {
        "loss": jnp.sum(stats.loss * stats.weight) / jnp.sum(stats.weight),
        "finite": jnp.all(jnp.isfinite(stats.loss)),
        "lr": lr,
    }


def train_epoch(
    program: Program,
    state: TrainState,
    x: jax.Array,
    y: jax.Array,
    order: jax.Array | None,
    n: int | jax.Array,
    hyper: Hyper,
    *,
    batch: int,
    steps: int | None = None,
    shard: Any = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One epoch over the first `n` rows of `order` (indices into `x`/`y`; None: `0..n-1`) in
    `steps` batches (default `steps_per_epoch(n, batch)`; lanes give the longest lane's count).
    When one batch holds all of `x` (`order` None, `n == len(x)`, `batch >= n`) the step takes
    `x` and `y` as they are: no gather (the order of rows in one batch does not matter)."""
    if steps is None:
        if not isinstance(n, int):
            raise TypeError("train_epoch: a traced row count `n` needs a static `steps`")
        steps = steps_per_epoch(n, batch)
    tx = optimizer_of(program, hyper)
    if order is None and steps == 1 and isinstance(n, int) and batch >= n == x.shape[0]:
        state, stat = train_step(program, tx, x, y, hyper, state, (None, jnp.ones(n)), shard)
        return state, epoch_stats(program, hyper, state, jax.tree.map(lambda a: a[None], stat))
    idx, w = epoch_batches(jnp.arange(n) if order is None else order, n, steps, batch)
    state, stats = train_steps(program, tx, x, y, hyper, state, idx, w, shard)
    return state, epoch_stats(program, hyper, state, stats)
