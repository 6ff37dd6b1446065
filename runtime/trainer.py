"""The training runtime: a whole epoch is one jitted `lax.scan` over minibatches, with the data
already on the device and the training state donated. Evaluation is a jitted scan over chunks.

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
from dlc.compiler.lower import Program

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
        super().__init__(f"the training loss became NaN or infinite in epoch {epoch} "
                         f"(by step {step})")
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


def make_functions(program: Program, n_train: int, batch: int, shuffle: bool = True) -> Functions:
    """Jitted epoch, evaluation and prediction functions for one program and data size."""
    tx = program.optimizer()
    batch = min(batch, n_train)
    nb = math.ceil(n_train / batch)
    pad = nb * batch - n_train
    grad_fn = jax.value_and_grad(program.loss, has_aux=True)

    def epoch(state: TrainState, x: Any, y: Any, epoch_index: Any) -> tuple[TrainState, Any]:
        def step(state: TrainState, batch: tuple[Any, Any]) -> tuple[TrainState, Any]:
            idx, wb = batch
            xb, yb = jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)
            rng = jax.random.fold_in(jax.random.fold_in(state.key, 1), state.step)
            (loss, (model_state, _)), grads = grad_fn(state.params, state.model_state, xb, yb,
                                                      wb, rng)
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            new = TrainState(params, opt_state, model_state, state.step + 1, state.key)
            return new, (loss, jnp.sum(wb))

        order_key = jax.random.fold_in(jax.random.fold_in(state.key, 2), epoch_index)
        order = jax.random.permutation(order_key, n_train) if shuffle else jnp.arange(n_train)
        idx = jnp.concatenate([order, order[:pad]]).reshape(nb, batch)
        w = jnp.concatenate([jnp.ones(n_train), jnp.zeros(pad)]).reshape(nb, batch)
        state, (losses, ws) = jax.lax.scan(step, state, (idx, w))
        mean_loss = jnp.sum(losses * ws) / jnp.sum(ws)
        lr = state.opt_state[-2].hyperparams["learning_rate"] * program.schedule()(state.step)
        return state, {"loss": mean_loss, "finite": jnp.all(jnp.isfinite(losses)), "lr": lr}

    def evaluate(params: Any, model_state: Any, x: Any, y: Any) -> dict[str, Any]:
        n = x.shape[0]
        chunk = min(EVAL_CHUNK, n)
        m = math.ceil(n / chunk)
        pad_n = m * chunk - n
        w = jnp.concatenate([jnp.ones(n), jnp.zeros(pad_n)]).reshape(m, chunk)
        xp = jnp.concatenate([x, jnp.zeros((pad_n, *x.shape[1:]), x.dtype)]).reshape(
            m, chunk, *x.shape[1:])
        yp = jnp.concatenate([y, jnp.zeros((pad_n, *y.shape[1:]), y.dtype)]).reshape(
            m, chunk, *y.shape[1:])

        def body(carry: Any, c: tuple[Any, Any, Any]) -> tuple[Any, None]:
            xc, yc, wc = c
            out, _ = program.apply(params, model_state, xc, train=False)
            vals = {"loss": program.spec.loss.per_example(out, yc),
                    **program.spec.loss.metrics(out, yc)}
            return {k: carry[k] + jnp.sum(v * wc) for k, v in vals.items()}, None

        zero = jax.eval_shape(lambda: {"loss": 0.0, **program.spec.loss.metrics(
            jnp.zeros((1, *program.infos[-1].out_shape)), y[:1])})
        sums, _ = jax.lax.scan(body, {k: jnp.zeros((), jnp.float32) for k in zero}, (xp, yp, w))
        return {k: v / n for k, v in sums.items()}

    def predict(params: Any, model_state: Any, x: Any) -> Any:
        out, _ = program.apply(params, model_state, x, train=False)
        return program.spec.loss.predict(out)

    return Functions(
        init=lambda seed: init_state(program, seed),
        epoch=jax.jit(epoch, donate_argnums=(0,)),
        evaluate=jax.jit(evaluate),
        predict=jax.jit(predict),
        steps_per_epoch=nb,
    )


def to_device(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    return jnp.asarray(x), jnp.asarray(y)


def better(mode: str, value: float, best: float | None, min_delta: float) -> bool:
    if best is None or not math.isfinite(best):
        return math.isfinite(value)
    return value < best - min_delta if mode == "min" else value > best + min_delta


def monitor_mode(name: str) -> str:
    return "max" if "accuracy" in name else "min"
