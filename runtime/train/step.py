"""A single run's compiled functions: a whole epoch of the engine's step (`engine.py`) is one
jitted `lax.scan` over minibatches, with the data
already on the device and the training state donated (or, with `train { steps_per_call N }`,
a host loop over jitted calls of N steps each). Evaluation is a jitted scan over chunks.

Padding rows of the last batch get weight 0, so every batch has the same shape (one compile)
and every row counts exactly once per epoch. Inputs are plain arguments (never closed-over
constants), so they may be sharded arrays (`jax.sharding.NamedSharding`) on a device mesh.

Example:
    >>> fns = make_functions(program, n_train=1000, batch=32)   # doctest: +SKIP
    >>> state, stats = fns.epoch(state, x, y, 0)                  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.lower import Program
from dlc.runtime.train.batches import data_order, epoch_batches, steps_per_epoch
from dlc.runtime.train.engine import (
    Hyper,
    StepStats,
    TrainState,
    epoch_stats,
    train_epoch,
    train_steps,
)
from dlc.runtime.train.evaluate import add_eval_sums, eval_means, eval_start
from dlc.runtime.train.packed import host_results
from dlc.runtime.train.sharding import batch_sharding, constrain

EVAL_CHUNK = 8192
STEPS_PER_CALL = 256  # steps one multi-epoch call aims at (see `epochs_per_call`)
SINGLE = Hyper()  # a single run: the program's own settings, every step active


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(
            f"the training loss became NaN or infinite in epoch {epoch} (by step {step})"
        )
        self.epoch, self.step = epoch, step


@dataclass(frozen=True)
class Functions:
    init: Callable[[int], TrainState]
    epoch: Callable[..., tuple[TrainState, dict[str, jax.Array]]]  # (state, x, y, epoch)
    # (params, model_state, x, y[, count]): count, if given, the real rows of a padded part
    evaluate: Callable[..., dict[str, jax.Array]]
    predict: Callable[..., jax.Array]  # (params, model_state, x)
    steps_per_epoch: int
    # (state, x, y, first epoch, count): up to `epochs_per_call` epochs in one call, stats
    # stacked per epoch, as host arrays (one transfer per call); None: one epoch per call
    epochs: Callable[..., tuple[TrainState, dict[str, jax.Array]]] | None = None
    epochs_per_call: int = 1
    # (state, x, y, first, count, x_valid, y_valid[, n_valid]): `epochs`, then the values of
    # its last state on the validation part, in one program (a call ending at an evaluation)
    epochs_eval: Callable[..., tuple[TrainState, dict[str, jax.Array], dict[str, Any]]] | None = (
        None
    )
    # (params, model_state, {part: (x, y)}) -> {part: values}: several parts in one program
    evaluate_many: Callable[..., dict[str, dict[str, jax.Array]]] | None = None
    # (params, model_state, x, y) -> {`grad_norm/<layer>`: norm} (`train { grad_norms true }`)
    grad_norms: Callable[..., dict[str, jax.Array]] | None = None


def init_state(program: Program, seed: int | jax.Array) -> TrainState:
    """The state before the first step (`seed` may be traced: `Functions.init` jits this; the
    same bits as eager)."""
    key = jax.random.PRNGKey(seed)
    params, model_state = program.init(jax.random.fold_in(key, 0))
    opt_state = program.optimizer().init(params)
    return TrainState(params, opt_state, model_state, jnp.zeros((), jnp.int32), key)


# The initializer runs once, so on the CPU its program is built at LLVM optimization level 1
# instead of XLA's default 2: it compiles about twice as fast (a cold run's largest compile
# after the epoch's) and gives the same bits (tests/test_init_compile.py: every initializer)
INIT_OPTIONS = {"xla_backend_optimization_level": 1}


def init_options() -> dict[str, Any] | None:
    """`compiler_options` for the jitted initializer: `INIT_OPTIONS` on the CPU, else None."""
    return dict(INIT_OPTIONS) if jax.default_backend() == "cpu" else None


def make_functions(
    program: Program,
    n_train: int,
    batch: int,
    shuffle: bool = True,
    steps_per_call: int | str = "all",
    epochs: int = 1,
    mesh: Any = None,
) -> Functions:
    """Jitted epoch, evaluation and prediction functions for one program and data size.
    `steps_per_call` (a number, `all` or `auto`, see `chunk_steps`) sets how many training
    steps one jitted call runs; every form takes the same batches with the same keys. With
    small epochs run whole, `Functions.epochs` runs several of a run's `epochs` in one call.
    A single batch holding every row is neither shuffled nor gathered (`engine.train_epoch`).
    With a `mesh` (`sharding.mesh_for`) every training and evaluation batch is split along its
    "data" axis: data parallel over its devices, the state replicated (see `sharding.py`)."""
    shard = batch_sharding(mesh)
    tx = program.optimizer()
    batch = min(batch, n_train)
    nb = steps_per_epoch(n_train, batch)
    chunk = chunk_steps(program, nb, steps_per_call)
    full = nb == 1  # one batch holds every row: no permutation, no gather (order cannot matter)

    def whole_epoch(
        state: TrainState, x: jax.Array, y: jax.Array, epoch_index: jax.Array
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        order = None if full else data_order(state.key, epoch_index, n_train, shuffle)
        state, stats = train_epoch(
            program, state, x, y, order, n_train, SINGLE, batch=batch, shard=shard
        )
        return state, {**stats, "step": state.step}

    def batches(state: TrainState, epoch_index: jax.Array) -> tuple[jax.Array, jax.Array]:
        return epoch_batches(
            data_order(state.key, epoch_index, n_train, shuffle), n_train, nb, batch
        )

    def chunk_call(
        state: TrainState,
        x: jax.Array,
        y: jax.Array,
        idx: jax.Array,
        w: jax.Array,
        start: jax.Array,
        size: int,
    ) -> tuple[TrainState, StepStats]:
        ri, rw = (jax.lax.dynamic_slice_in_dim(a, start, size) for a in (idx, w))
        return train_steps(program, tx, x, y, SINGLE, state, ri, rw, shard)

    batches_j = jax.jit(batches)
    chunk_j = jax.jit(chunk_call, donate_argnums=(0,), static_argnums=(6,))
    stats_j = jax.jit(lambda state, stats: epoch_stats(program, SINGLE, state, stats))

    def chunked_epoch(
        state: TrainState, x: jax.Array, y: jax.Array, epoch_index: jax.Array
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        idx, w = batches_j(state, epoch_index)
        outs = []
        for start in range(0, nb, chunk):
            state, out = chunk_j(state, x, y, idx, w, jnp.int32(start), min(chunk, nb - start))
            outs.append(out)
        stats = stats_j(state, jax.tree.map(lambda *a: jnp.concatenate(a), *outs))
        return state, {**stats, "step": state.step}

    per_call = epochs_per_call(nb, epochs) if chunk >= nb else 1
    many = many_epochs(whole_epoch, per_call)
    # the stats of every epoch of a call come back in one transfer (`packed`): host arrays
    many_j = host_results(many, donate_argnums=(0,))

    def evaluate(
        params: Any, model_state: Any, x: jax.Array, y: jax.Array, count: Any = None
    ) -> dict[str, Any]:
        # `count`: only the first `count` rows are real (a part padded for a mesh: `shard_part`)
        n = x.shape[0]
        chunk = min(EVAL_CHUNK, n)
        m = math.ceil(n / chunk)
        pad_n = m * chunk - n
        w = jnp.concatenate([jnp.ones(n), jnp.zeros(pad_n)])
        if count is not None:
            w = jnp.where(jnp.arange(m * chunk) < count, w, 0.0)
        w = w.reshape(m, chunk)
        xp = jnp.concatenate([x, jnp.zeros((pad_n, *x.shape[1:]), x.dtype)]).reshape(
            m, chunk, *x.shape[1:]
        )
        yp = jnp.concatenate([y, jnp.zeros((pad_n, *y.shape[1:]), y.dtype)]).reshape(
            m, chunk, *y.shape[1:]
        )

        def body(carry: Any, c: tuple[Any, Any, Any]) -> tuple[Any, None]:
            xc, yc, wc = (constrain(a, shard) for a in c)
            out, _ = program.apply(params, model_state, xc, train=False)
            return add_eval_sums(program, carry, out, yc, wc), None

        sums, _ = jax.lax.scan(body, eval_start(program, y), (xp, yp, w))
        return eval_means(sums)

    def epochs_then_eval(
        state: TrainState,
        x: jax.Array,
        y: jax.Array,
        first: Any,
        count: Any,
        xv: Any,
        yv: Any,
        nv: Any = None,
    ) -> tuple[TrainState, dict[str, jax.Array], dict[str, Any]]:
        state, stacked = many(state, x, y, first, count)
        return state, stacked, evaluate(state.params, state.model_state, xv, yv, nv)

    many_eval_j = host_results(epochs_then_eval, donate_argnums=(0,))  # stats and metrics

    def predict(params: Any, model_state: Any, x: jax.Array) -> jax.Array:
        out, _ = program.apply(params, model_state, x, train=False)
        return program.spec.loss.predict(out)

    return Functions(
        # one compiled program (persistently cached) instead of one small program per op
        init=jax.jit(partial(init_state, program), compiler_options=init_options()),
        epoch=jax.jit(whole_epoch, donate_argnums=(0,)) if chunk >= nb else chunked_epoch,
        evaluate=jax.jit(evaluate),
        evaluate_many=jax.jit(
            lambda params, model_state, parts: {
                name: evaluate(params, model_state, *xy) for name, xy in parts.items()
            }
        ),
        predict=jax.jit(predict),
        steps_per_epoch=nb,
        epochs=many_j if per_call > 1 else None,
        epochs_eval=many_eval_j if per_call > 1 else None,
        epochs_per_call=per_call,
    )


def epochs_per_call(epoch_steps: int, epochs: int, target_steps: int = STEPS_PER_CALL) -> int:
    """How many epochs one jitted call may run (when the host needs nothing in between): about
    `target_steps` steps a call, so that small full-batch models pay one dispatch and one
    device-to-host transfer per few hundred steps while a progress bar still moves.

    Example:
        >>> epochs_per_call(1, 5000), epochs_per_call(4, 10), epochs_per_call(469, 30)
        (256, 10, 1)
    """
    return max(1, min(epochs, target_steps // epoch_steps))


def many_epochs(
    epoch: Callable[..., tuple[TrainState, dict[str, jax.Array]]], most: int
) -> Callable[..., tuple[TrainState, dict[str, jax.Array]]]:
    """`epoch` repeated `count` (traced, at most `most`) times from epoch index `first` in one
    program (a `fori_loop`: one compile for every count); each stat is stacked into `most` slots
    (those past `count` are left zero)."""

    def run(
        state: TrainState, x: jax.Array, y: jax.Array, first: jax.Array, count: jax.Array
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        shapes = jax.eval_shape(epoch, state, x, y, first)[1]
        slots = {k: jnp.zeros((most, *v.shape), v.dtype) for k, v in shapes.items()}

        def body(i: jax.Array, carry: Any) -> Any:
            st, buf = carry
            st, stats = epoch(st, x, y, first + i)
            return st, {k: buf[k].at[i].set(v) for k, v in stats.items()}

        return jax.lax.fori_loop(0, count, body, (state, slots))

    return run


def chunk_steps(program: Program, epoch_steps: int, setting: int | str) -> int:
    """Training steps per jitted call: a number, `all` (the whole epoch in one `lax.scan`)
    or `auto`: one step per call for models with a convolution lowered by XLA on CPU, whose
    convolutions run far slower inside a loop (bench/cnn_lowering.py), else `all`.

    Example:
        >>> chunk_steps(None, 50, 8), chunk_steps(None, 50, "all"), chunk_steps(None, 5, 99)
        (8, 50, 5)
    """
    if setting == "all":
        return epoch_steps
    if setting == "auto":
        from dlc.compiler.layers.conv import conv_lowering, has_conv

        slow = jax.default_backend() == "cpu" and conv_lowering() == "xla"
        return 1 if slow and has_conv(program.layers) else epoch_steps
    return max(1, min(int(setting), epoch_steps))


def to_device(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """Copies of `x`, `y` on the default device (`device_put`: `jnp.asarray` of a numpy array
    is a small jitted program per shape, traced and looked up in the cache on every run; a
    copy, as before: on the CPU `device_put` would otherwise share the numpy buffer)."""
    return jax.device_put(x, may_alias=False), jax.device_put(y, may_alias=False)
