"""The training runtime: a whole epoch is one jitted `lax.scan` over minibatches, with the data
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
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dlc.compiler.losses import element_weights
from dlc.compiler.lower import Program
from dlc.compiler.optimizers import current_lr

EVAL_CHUNK = 8192


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    model_state: Any
    step: Any  # int32 scalar
    key: Any  # the run's base PRNG key (data order and dropout derive from it)


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(
            f"the training loss became NaN or infinite in epoch {epoch} (by step {step})"
        )
        self.epoch, self.step = epoch, step


@dataclass(frozen=True)
class Functions:
    init: Any
    epoch: Any
    evaluate: Any
    predict: Any
    steps_per_epoch: int


def init_state(program: Program, seed: int) -> TrainState:
    key = jax.random.PRNGKey(seed)
    params, model_state = program.init(jax.random.fold_in(key, 0))
    opt_state = program.optimizer().init(params)
    return TrainState(params, opt_state, model_state, jnp.zeros((), jnp.int32), key)


def make_functions(
    program: Program,
    n_train: int,
    batch: int,
    shuffle: bool = True,
    steps_per_call: int | str = "all",
) -> Functions:
    """Jitted epoch, evaluation and prediction functions for one program and data size.
    `steps_per_call` (a number, `all` or `auto`, see `chunk_steps`) sets how many training
    steps one jitted call runs; every form takes the same batches with the same keys."""
    tx = program.optimizer()
    batch = min(batch, n_train)
    nb = math.ceil(n_train / batch)
    pad = nb * batch - n_train
    grad_fn = jax.value_and_grad(program.loss, has_aux=True)
    chunk = chunk_steps(program, nb, steps_per_call)

    def batches(state: TrainState, epoch_index: Any) -> tuple[Any, Any]:
        """Row indices and weights of every step of an epoch: (steps, batch) each."""
        order_key = jax.random.fold_in(jax.random.fold_in(state.key, 2), epoch_index)
        order = jax.random.permutation(order_key, n_train) if shuffle else jnp.arange(n_train)
        idx = jnp.concatenate([order, order[:pad]]).reshape(nb, batch)
        w = jnp.concatenate([jnp.ones(n_train), jnp.zeros(pad)]).reshape(nb, batch)
        return idx, w

    def steps(state: TrainState, x: Any, y: Any, idx: Any, w: Any) -> tuple[TrainState, Any]:
        """Training steps over the rows of idx/w; one step is not wrapped in a scan."""

        def step(state: TrainState, batch: tuple[Any, Any]) -> tuple[TrainState, Any]:
            idx, wb = batch
            xb, yb = jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)
            rng = jax.random.fold_in(jax.random.fold_in(state.key, 1), state.step)
            (loss, (model_state, _)), grads = grad_fn(
                state.params, state.model_state, xb, yb, wb, rng
            )
            # value: the minibatch loss, read by a reduce-on-plateau step (ignored otherwise)
            updates, opt_state = tx.update(grads, state.opt_state, state.params, value=loss)
            params = optax.apply_updates(state.params, updates)
            new = TrainState(params, opt_state, model_state, state.step + 1, state.key)
            return new, (loss, jnp.sum(wb))

        if idx.shape[0] == 1:
            state, (loss, wsum) = step(state, (idx[0], w[0]))
            return state, (loss[None], wsum[None])
        return jax.lax.scan(step, state, (idx, w))

    def stats(state: TrainState, losses: Any, ws: Any) -> dict[str, Any]:
        mean_loss = jnp.sum(losses * ws) / jnp.sum(ws)
        lr = current_lr(state.opt_state, program.schedule()(state.step))
        return {"loss": mean_loss, "finite": jnp.all(jnp.isfinite(losses)), "lr": lr}

    def whole_epoch(state: TrainState, x: Any, y: Any, epoch_index: Any) -> tuple[TrainState, Any]:
        idx, w = batches(state, epoch_index)
        state, (losses, ws) = steps(state, x, y, idx, w)
        return state, stats(state, losses, ws)

    def chunk_call(
        state: TrainState, x: Any, y: Any, idx: Any, w: Any, start: Any, size: int
    ) -> tuple[TrainState, Any]:
        rows = (jax.lax.dynamic_slice_in_dim(a, start, size) for a in (idx, w))
        return steps(state, x, y, *rows)

    batches_j = jax.jit(batches)
    chunk_j = jax.jit(chunk_call, donate_argnums=(0,), static_argnums=(6,))
    stats_j = jax.jit(stats)

    def chunked_epoch(
        state: TrainState, x: Any, y: Any, epoch_index: Any
    ) -> tuple[TrainState, Any]:
        idx, w = batches_j(state, epoch_index)
        outs = []
        for start in range(0, nb, chunk):
            state, out = chunk_j(state, x, y, idx, w, jnp.int32(start), min(chunk, nb - start))
            outs.append(out)
        losses, ws = (jnp.concatenate(parts) for parts in zip(*outs, strict=True))
        return state, stats_j(state, losses, ws)

    def evaluate(params: Any, model_state: Any, x: Any, y: Any) -> dict[str, Any]:
        n = x.shape[0]
        chunk = min(EVAL_CHUNK, n)
        m = math.ceil(n / chunk)
        pad_n = m * chunk - n
        w = jnp.concatenate([jnp.ones(n), jnp.zeros(pad_n)]).reshape(m, chunk)
        xp = jnp.concatenate([x, jnp.zeros((pad_n, *x.shape[1:]), x.dtype)]).reshape(
            m, chunk, *x.shape[1:]
        )
        yp = jnp.concatenate([y, jnp.zeros((pad_n, *y.shape[1:]), y.dtype)]).reshape(
            m, chunk, *y.shape[1:]
        )

        def body(carry: Any, c: tuple[Any, Any, Any]) -> tuple[Any, None]:
            xc, yc, wc = c
            out, _ = program.apply(params, model_state, xc, train=False)
            return add_eval_sums(program, carry, out, yc, wc), None

        sums, _ = jax.lax.scan(body, eval_start(program, y), (xp, yp, w))
        return eval_means(sums)

    def predict(params: Any, model_state: Any, x: Any) -> Any:
        out, _ = program.apply(params, model_state, x, train=False)
        return program.spec.loss.predict(out)

    return Functions(
        init=lambda seed: init_state(program, seed),
        epoch=jax.jit(whole_epoch, donate_argnums=(0,)) if chunk >= nb else chunked_epoch,
        evaluate=jax.jit(evaluate),
        predict=jax.jit(predict),
        steps_per_epoch=nb,
    )


def eval_start(program: Program, y: Any) -> dict[str, tuple[Any, Any]]:
    """Zero (sum, weight) for each value an evaluation reports: `loss` and the loss's metrics
    (`y`: labels of the data, for their shape)."""
    names = jax.eval_shape(
        lambda: {
            "loss": 0.0,
            **program.spec.loss.metrics(jnp.zeros((1, *program.infos[-1].out_shape)), y[:1]),
        }
    )
    z = jnp.zeros((), jnp.float32)
    return {k: (z, z) for k in names}


def add_eval_sums(
    program: Program, sums: dict[str, tuple[Any, Any]], out: Any, y: Any, w: Any
) -> dict[str, tuple[Any, Any]]:
    """`sums` plus one chunk's (weighted sum, weight) per value, for outputs `out`, labels `y`
    and example weights `w`: per-token values count real tokens only."""
    loss = program.spec.loss
    vals = {"loss": loss.per_example(out, y), **loss.metrics(out, y)}
    ws = {k: element_weights(v, y, w) for k, v in vals.items()}
    return {
        k: (sums[k][0] + jnp.sum(v * ws[k]), sums[k][1] + jnp.sum(ws[k])) for k, v in vals.items()
    }


def eval_means(sums: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    return {k: s / jnp.maximum(d, 1.0) for k, (s, d) in sums.items()}


def chunk_steps(program: Program, steps_per_epoch: int, setting: int | str) -> int:
    """Training steps per jitted call: a number, `all` (the whole epoch in one `lax.scan`)
    or `auto`: one step per call for models with a convolution lowered by XLA on CPU, whose
    convolutions run far slower inside a loop (bench/cnn_lowering.py), else `all`.

    Example:
        >>> chunk_steps(None, 50, 8), chunk_steps(None, 50, "all"), chunk_steps(None, 5, 99)
        (8, 50, 5)
    """
    if setting == "all":
        return steps_per_epoch
    if setting == "auto":
        from dlc.compiler.layers.conv import conv_lowering, has_conv

        slow = jax.default_backend() == "cpu" and conv_lowering() == "xla"
        return 1 if slow and has_conv(program.layers) else steps_per_epoch
    return max(1, min(int(setting), steps_per_epoch))


def to_device(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    return jnp.asarray(x), jnp.asarray(y)


def better(mode: str, value: float, best: float | None, min_delta: float) -> bool:
    if best is None or not math.isfinite(best):
        return math.isfinite(value)
    return value < best - min_delta if mode == "min" else value > best + min_delta


def monitor_mode(name: str) -> str:
    return "max" if "accuracy" in name else "min"
