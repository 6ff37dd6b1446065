"""Early stopping: one pure rule, written once for both array namespaces (NumPy: a single run
decides on the host numbers it already has, with no device program or transfer per epoch; jnp:
`vmap`-ed over experiment lanes inside their program), and the best-parameter selection that
goes with it.

The monitored value improves when it beats the best so far by more than `min_delta` (lower
for `min`, higher for `max`; any finite value beats "none yet"); after `patience` evaluations
without improvement the run stops. Inactive runs (stopped, diverged) change nothing.

Example:
    >>> rule = StopRule("min", min_delta=0.0, patience=2)
    >>> s = start()
    >>> for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.6], start=1):
    ...     s = update(rule, s, jnp.float32(loss), epoch, jnp.bool_(True))
    >>> float(s.best), int(s.best_epoch), int(s.bad), bool(s.stopped)
    (0.5, 2, 2, True)
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.spec import EarlyStop as EarlyStopSpec

T = TypeVar("T")


class StopRule(NamedTuple):
    """The static part of early stopping: direction, least improvement, patience."""

    mode: str  # "min" or "max"
    min_delta: float = 0.0
    patience: int = 1

    @classmethod
    def of(cls, spec: EarlyStopSpec) -> StopRule:
        return cls(monitor_mode(spec.monitor), float(spec.min_delta), int(spec.patience))


class EarlyStop(NamedTuple):
    """What early stopping remembers (scalars, or one entry per lane under vmap; host arrays
    from `start`, device arrays after `update`)."""

    best: jax.Array | np.ndarray  # float32 best monitored value; NaN: none yet
    best_epoch: jax.Array | np.ndarray  # int32 epoch (from 1) of the best value; 0: none yet
    bad: jax.Array | np.ndarray  # int32 evaluations since the last improvement
    stopped: jax.Array | np.ndarray  # bool: stopped early


def monitor_mode(name: str) -> str:
    """`max` for accuracies, `min` for everything else (losses, errors).

    Example:
        >>> monitor_mode("valid_accuracy"), monitor_mode("valid_loss")
        ('max', 'min')
    """
    higher = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")  # higher is better
    return "max" if any(h in name for h in higher) else "min"


def start(lanes: int | None = None) -> EarlyStop:
    """The state before any evaluation: one scalar each, or `lanes` entries each (host arrays:
    making them compiles nothing)."""
    shape = () if lanes is None else (lanes,)
    return EarlyStop(
        np.full(shape, np.nan, np.float32),
        np.zeros(shape, np.int32),
        np.zeros(shape, np.int32),
        np.zeros(shape, bool),
    )


def update(
    rule: StopRule,
    state: EarlyStop,
    value: jax.Array | np.ndarray | np.float32,
    epoch: int | jax.Array,
    active: jax.Array | np.ndarray | np.bool_,
    xp: Any = jnp,
) -> EarlyStop:
    """The state after evaluation `value` at `epoch` (from 1); `active` False changes nothing.
    `xp` is the array namespace: `jnp` (traced, vmapped) or `np` (host numbers, the same
    float32 comparisons and results: tests/test_engine.py runs both)."""
    gain = (
        value < state.best - rule.min_delta
        if rule.mode == "min"
        else value > state.best + rule.min_delta
    )
    better = active & xp.where(xp.isfinite(state.best), gain, xp.isfinite(value))
    bad = xp.where(better, 0, state.bad + active)
    stop = active & ~better & (bad >= rule.patience)
    return EarlyStop(
        xp.asarray(xp.where(better, value, state.best)).astype(np.float32),
        xp.asarray(xp.where(better, epoch, state.best_epoch)).astype(np.int32),
        xp.asarray(bad).astype(np.int32),
        xp.asarray(state.stopped | stop),
    )


copy_tree = jax.jit(lambda tree: jax.tree.map(jnp.copy, tree))  # one program, not one per leaf


def improved(state: EarlyStop, epoch: int | jax.Array) -> jax.Array:
    """Whether the evaluation at `epoch` set the best value."""
    return state.best_epoch == epoch


def keep_best(better: bool | jax.Array, current: T, best: T) -> T:
    """The best parameters after an evaluation: a copy of `current` where it improved, else
    `best`. `better` is a host bool (a single run: no work unless it improved) or one flag per
    lane (trees with a leading lane axis, selected with `jnp.where`)."""
    if isinstance(better, bool):
        return copy_tree(current) if better else best

    def pick(u: jax.Array, v: jax.Array) -> jax.Array:
        flag = better.reshape(better.shape + (1,) * (u.ndim - better.ndim))
        return jnp.where(flag, u, v)

    return jax.tree.map(pick, current, best)
