"""The epoch loop on the host: evaluation, early stopping, NaN guard, callbacks.

Example:
    >>> result = train_loop(fns, state, data, spec.train)   # doctest: +SKIP
    >>> result.history[-1]["valid_loss"]                     # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from dlc.compiler.spec import Train
from dlc.runtime.train.early_stop import EarlyStop, StopRule, improved, keep_best, update
from dlc.runtime.train.engine import Tree
from dlc.runtime.train.step import Diverged, Functions, TrainState


@dataclass
class LoopState:
    """What early stopping remembers: the rule's state as host numbers (saved in checkpoints by
    `to_dict`) and the best (params, model_state) so far (saved beside them)."""

    best: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0
    best_weights: tuple[Tree, Tree] | None = None
    stopped: bool = False  # the rule stopped training (a resumed run then trains no more)

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
        }

    def rule_state(self) -> EarlyStop:
        best = math.nan if self.best is None else self.best
        return EarlyStop(  # host numbers: no small device programs per epoch
            np.array(best, np.float32),
            np.array(max(self.best_epoch, 0), np.int32),
            np.array(self.bad_epochs, np.int32),
            np.array(False),
        )

    def advance(self, rule: StopRule, value: float, epoch: int, state: TrainState) -> bool:
        """Apply the early-stopping rule to `value` at `epoch` (from 1); keep a copy of the
        state's parameters if it improved. True: stop now."""
        # on the host numbers it has: no device program, no transfer
        new = update(rule, self.rule_state(), np.float32(value), epoch, np.bool_(True), xp=np)
        better = bool(improved(new, epoch))
        self.best = float(new.best) if math.isfinite(float(new.best)) else None
        self.best_epoch = int(new.best_epoch) or -1
        self.bad_epochs = int(new.bad)
        self.best_weights = keep_best(better, (state.params, state.model_state), self.best_weights)
        self.stopped = bool(new.stopped)
        return self.stopped


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
            vals = jax.device_get(fns.evaluate(state.params, state.model_state, *parts[name]))
            out.update({f"{name}_{k}": float(v) for k, v in vals.items()})  # one transfer
    return out


def due_epochs(train: Train, parts: dict[str, Any], *, checkpoints: bool) -> Callable[[int], bool]:
    """Whether the host needs the state right after epoch `e` (from 1): an evaluation of the
    validation part, an early-stopping decision, a checkpoint (when `checkpoints`) or the end.
    Between such epochs a run may take several epochs in one jitted call.

    Example:
        >>> from dlc.compiler.spec import Train
        >>> due = due_epochs(Train(epochs=10, eval_every=4), {"valid": 0}, checkpoints=False)
        >>> [e for e in range(1, 11) if due(e)]
        [4, 8, 10]
    """
    es = train.early_stop
    every_epoch = es is not None and not es.monitor.startswith("valid_")
    evaluates = "valid" in parts

    def due(e: int) -> bool:
        return (
            e >= train.epochs
            or every_epoch
            or (evaluates and e % train.eval_every == 0)
            or (checkpoints and e % train.checkpoint_every == 0)
        )

    return due


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
    """Train from `start_epoch` to `train.epochs`; `parts` hold device arrays. With
    `restore_best` the result's state holds the best parameters (from `loop` if resumed).

    Epochs after which the host needs nothing (see `due_epochs`; `on_epoch` counts as needing
    the state at checkpoint epochs) run several to a jitted call (`fns.epochs`); each epoch
    still gets its record and its `on_epoch` call, whose state is then the state at the end of
    that call (exact at every due epoch). Each call's numbers come back in one transfer."""
    loop = loop or LoopState()
    es = train.early_stop
    monitor = es.monitor if es else "valid_loss"
    result = FitResult(state, list(history or []))
    x, y = parts["train"]
    due = due_epochs(train, parts, checkpoints=on_epoch is not None)

    def evaluates(e: int) -> bool:  # validation after epoch e (from 1)
        return "valid" in parts and (e % train.eval_every == 0 or e == train.epochs)

    def evaluates_or_ends(e: int) -> bool:  # gradient norms: exact state, no extra host sync
        return e % train.eval_every == 0 or e == train.epochs

    epoch = start_epoch
    result.stopped_early = loop.stopped  # resumed after the stopping epoch's checkpoint
    while epoch < train.epochs and not loop.stopped:
        t0 = time.perf_counter()
        count, fused = 1, dict[str, float]()
        if fns.epochs is not None:
            while count < fns.epochs_per_call and not due(epoch + count):
                count += 1
            # numpy scalars as the epoch/count: no eager device program per call
            args = (state, x, y, np.int32(epoch), np.int32(count))
            if fns.epochs_eval is not None and evaluates(epoch + count):  # fused validation
                state, stacked, vals = fns.epochs_eval(*args, *parts["valid"])
                host, vals = jax.device_get((stacked, vals))  # one transfer for the whole call
                fused = {f"valid_{k}": float(v) for k, v in vals.items()}
            else:
                state, stacked = fns.epochs(*args)
                host = jax.device_get(stacked)  # one transfer for the whole call
            rows = [{k: v[i] for k, v in host.items()} for i in range(count)]
        else:
            state, stats = fns.epoch(state, x, y, np.int32(epoch))
            rows = [jax.device_get(stats)]  # one transfer per epoch
        seconds, last = (time.perf_counter() - t0) / count, epoch + count
        stop = False
        for stats in rows:
            if not bool(stats["finite"]):
                raise Diverged(epoch + 1, int(stats["step"]))
            t_rec = time.perf_counter()
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "step": int(stats["step"]),
                "train_loss": float(stats["loss"]),
                "lr": float(stats["lr"]),
            }
            if fused and epoch + 1 == last:
                record.update(fused)
            elif (epoch + 1) % train.eval_every == 0 or epoch + 1 == train.epochs:
                record.update(evaluate_parts(fns, state, parts, ("valid",)))
            if fns.grad_norms is not None and epoch + 1 == last and evaluates_or_ends(epoch + 1):
                norms = jax.device_get(fns.grad_norms(state.params, state.model_state, x, y))
                record.update({k: float(v) for k, v in norms.items()})  # one transfer
            record["time"] = round(seconds + time.perf_counter() - t_rec, 4)
            result.history.append(record)
            if es is not None and monitor in record:
                stop = loop.advance(StopRule.of(es), float(record[monitor]), epoch + 1, state)
            if on_epoch is not None:
                on_epoch(record, state, loop)
            epoch += 1
            if stop:
                break
        if stop:
            result.stopped_early = True
            break
    result.state = state
    result.best_epoch = loop.best_epoch
    if es is not None and es.restore_best and loop.best_weights is not None and loop.best_epoch > 0:
        result.best_params, result.best_model_state = loop.best_weights
        result.state = state._replace(
            params=result.best_params, model_state=result.best_model_state
        )
    return result
