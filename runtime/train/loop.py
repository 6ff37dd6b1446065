"""The epoch loop on the host: evaluation, early stopping, NaN guard, callbacks.

Example:
    >>> result = train_loop(fns, state, data, spec.train)   # doctest: +SKIP
    >>> result.history[-1]["valid_loss"]                     # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from dlc.compiler.spec import Train
from dlc.runtime.train.step import Diverged, Functions, TrainState, better, monitor_mode


@dataclass
class LoopState:
    """What early stopping remembers (saved in checkpoints)."""

    best: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}


@dataclass
class FitResult:
    state: TrainState
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    best_params: Any = None
    best_model_state: Any = None


def evaluate_parts(
    fns: Functions, state: TrainState, parts: dict[str, tuple[Any, Any]], names: tuple[str, ...]
) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in names:
        if name in parts:
            vals = fns.evaluate(state.params, state.model_state, *parts[name])
            out.update({f"{name}_{k}": float(v) for k, v in vals.items()})
    return out


def train_loop(
    fns: Functions,
    state: TrainState,
    parts: dict[str, tuple[Any, Any]],
    train: Train,
    *,
    start_epoch: int = 0,
    loop: LoopState | None = None,
    on_epoch: Callable[[dict[str, Any], TrainState, LoopState], None] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> FitResult:
    """Train from `start_epoch` to `train.epochs`; `parts` hold device arrays."""
    loop = loop or LoopState()
    es = train.early_stop
    monitor = es.monitor if es else "valid_loss"
    result = FitResult(state, list(history or []))
    x, y = parts["train"]
    best_copy: tuple[Any, Any] | None = None
    for epoch in range(start_epoch, train.epochs):
        t0 = time.perf_counter()
        state, stats = fns.epoch(state, x, y, jnp.int32(epoch))
        if not bool(stats["finite"]):
            raise Diverged(epoch + 1, int(state.step))
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": int(state.step),
            "train_loss": float(stats["loss"]),
            "lr": float(stats["lr"]),
        }
        if (epoch + 1) % train.eval_every == 0 or epoch + 1 == train.epochs:
            record.update(evaluate_parts(fns, state, parts, ("valid",)))
        record["time"] = round(time.perf_counter() - t0, 4)
        result.history.append(record)
        stop = False
        if es is not None and monitor in record:
            value = float(record[monitor])
            if better(monitor_mode(monitor), value, loop.best, es.min_delta):
                loop.best, loop.best_epoch, loop.bad_epochs = value, epoch + 1, 0
                if es.restore_best:
                    best_copy = jax.tree.map(jnp.copy, (state.params, state.model_state))
            else:
                loop.bad_epochs += 1
                stop = loop.bad_epochs >= es.patience
        if on_epoch is not None:
            on_epoch(record, state, loop)
        if stop:
            result.stopped_early = True
            break
    result.state = state
    result.best_epoch = loop.best_epoch
    if best_copy is not None:
        result.best_params, result.best_model_state = best_copy
        result.state = state._replace(params=best_copy[0], model_state=best_copy[1])
    return result
