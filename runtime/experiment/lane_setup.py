"""Lane setup: what one lane is (`LaneSpec`), which specs can share a program (`static_key`),
the per-lane constants and the stacked initial state, and the memory estimate that splits lanes
into chunks. The vmapped training itself is in `lanes.py`.

Example:
    >>> chunk_sizes(5, per_lane=10, shared=60, budget=100)
    [3, 2]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.lower import Program
from dlc.compiler.schedules import plateau_of
from dlc.compiler.spec import Spec
from dlc.runtime.experiment.programs import static_key as static_key  # re-exported
from dlc.runtime.train.batches import steps_per_epoch
from dlc.runtime.train.early_stop import EarlyStop, start
from dlc.runtime.train.step import EVAL_CHUNK, TrainState


@dataclass(frozen=True)
class LaneSpec:
    """One lane: its resolved spec, seed, rows of the shared data, normalization statistics."""

    spec: Spec
    seed: int
    train_rows: np.ndarray
    valid_rows: np.ndarray
    stats: dict[str, np.ndarray]


class Consts(NamedTuple):
    """Per-lane constants (leading lane axis); None where no lane needs one."""

    rows: Any  # [K, n_max] training rows into the shared data
    n: Any  # [K] number of training rows
    vrows: Any  # [K, v_pad] validation rows
    vw: Any  # [K, v_pad] 1 for real validation rows, 0 for padding
    shift: Any  # [K, *feature] normalization (x - shift) / scale, or None
    scale: Any
    reg: Any  # [K, 2] (l1, l2) or None
    overrides: dict[str, dict[str, Any]]  # layer key -> {traced setting: [K] values}
    table: Any  # [K, T] learning-rate multiplier per step, or None (one shared schedule)


class LaneState(NamedTuple):
    train: TrainState
    best_params: Any
    best_model_state: Any
    stop: EarlyStop  # [K] each: the early-stopping rule's state
    active: Any  # [K] bool: still training
    diverged: Any  # [K] bool: the loss became NaN or infinite
    epochs: Any  # [K] int32 epochs trained


@dataclass
class LaneRun:
    """The outcome of `train_lanes`: per-lane arrays (leading axis K) and per-epoch history."""

    params: Any
    model_state: Any
    metrics: dict[str, np.ndarray]  # valid_* of the final (restored) parameters
    best_epoch: np.ndarray
    epochs: np.ndarray
    stopped: np.ndarray
    diverged: np.ndarray
    history: list[dict[str, np.ndarray]]


def _pad(rows: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros((len(rows), width), np.int32)
    w = np.zeros((len(rows), width), np.float32)
    for i, r in enumerate(rows):
        out[i, : len(r)], w[i, : len(r)] = r, 1.0
    return out, w


def eval_chunks(n: int) -> tuple[int, int]:
    """(chunks, rows per chunk) of a lane's evaluation of `n` rows: as few chunks of at most
    `EVAL_CHUNK` rows as hold them, of nearly equal size, so that little is padding (12000
    rows: 2 x 6000, not 2 x 8192); the chunk size is the same for the padded count.

    Example:
        >>> eval_chunks(12000), eval_chunks(100), eval_chunks(6000 * 2)
        ((2, 6000), (1, 100), (2, 6000))
    """
    m = max(1, math.ceil(n / EVAL_CHUNK))
    return m, max(1, math.ceil(n / m))


def _total_steps(spec: Spec, n: int, batch: int) -> int:
    return max(1, spec.train.epochs * steps_per_epoch(n, batch))


def build_consts(program: Program, lanes: list[LaneSpec], batch: int) -> Consts:
    """The per-lane constants of `lanes` (host arrays)."""
    rows, _ = _pad([ln.train_rows for ln in lanes], max(len(ln.train_rows) for ln in lanes))
    v_max = max(len(ln.valid_rows) for ln in lanes)
    vrows, vw = _pad([ln.valid_rows for ln in lanes], math.prod(eval_chunks(v_max)))
    shift = scale = None
    if lanes[0].stats:
        shift = np.stack([ln.stats["shift"] for ln in lanes])
        scale = np.stack([ln.stats["scale"] for ln in lanes])
    # a value is traced when the lanes differ, or differ from the program's own (baked) value:
    # compiled lane functions are reused for later chunks and search rounds of the program
    own = program.spec.regularize
    regs = [(ln.spec.regularize.l1, ln.spec.regularize.l2) for ln in lanes]
    reg = np.asarray(regs, np.float32) if any(any(r) for r in [*regs, (own.l1, own.l2)]) else None
    overrides: dict[str, dict[str, Any]] = {}  # only settings that differ
    for i, (layer, info) in enumerate(zip(program.layers, program.infos, strict=True)):
        for name in layer.traced:
            values = [getattr(ln.spec.model.layers[i], name) for ln in lanes]
            if len({*values, getattr(layer, name)}) > 1:
                overrides.setdefault(info.key, {})[name] = np.asarray(values, np.float32)
    totals = [_total_steps(ln.spec, len(ln.train_rows), batch) for ln in lanes]
    table = None
    schedules = {(repr(ln.spec.schedule), t) for ln, t in zip(lanes, totals, strict=True)}
    if (
        schedules | {(repr(program.spec.schedule), program.total_steps)} != schedules
        or len(schedules) > 1
    ):
        steps = jnp.arange(max(totals) + 1)
        table = np.stack(
            [
                np.asarray(jax.vmap(ln.spec.schedule.build(t))(steps), np.float32)
                for ln, t in zip(lanes, totals, strict=True)
            ]
        )
    n = np.asarray([len(ln.train_rows) for ln in lanes], np.int32)
    return Consts(rows, n, vrows, vw, shift, scale, reg, overrides, table)


def init_lanes(program: Program, lanes: list[LaneSpec]) -> LaneState:
    """Each lane's state exactly as `init_state` makes it for a single run, stacked (on the host,
    so that no small programs are compiled for it)."""
    inits: dict[int, tuple[Any, Any]] = {}
    states = []
    for ln in lanes:
        if ln.seed not in inits:
            key = jax.random.PRNGKey(ln.seed)
            inits[ln.seed] = program.init(jax.random.fold_in(key, 0))
        params, model_state = inits[ln.seed]
        plateau = plateau_of(ln.spec.schedule)  # its state does not depend on the epoch size
        tx = ln.spec.optimizer.transform(program.schedule(), plateau and plateau.transform(1))
        opt_state = tx.init(params)
        step = np.zeros((), np.int32)  # a host array (stacked below): compiles nothing
        states.append(
            TrainState(params, opt_state, model_state, step, jax.random.PRNGKey(ln.seed))  # type: ignore[arg-type]
        )
    train = jax.tree.map(lambda *xs: np.stack([np.asarray(a) for a in xs]), *states)
    k = len(lanes)
    host = LaneState(
        train,
        train.params,
        train.model_state,
        start(k),
        np.ones((k,), bool),
        np.zeros((k,), bool),
        np.zeros((k,), np.int32),
    )
    return jax.tree.map(jnp.asarray, host)  # one device buffer per leaf (donation-safe)


def _nbytes(tree: Any) -> int:
    return sum(math.prod(a.shape) * a.dtype.itemsize for a in jax.tree.leaves(tree))


def estimate_bytes(program: Program, batch: int, n_train: int, n_valid: int) -> int:
    """Device memory one lane needs (own count): state, best copy, gradients and updates,
    activations of a batch (forward and backward) and of an evaluation chunk, and its rows."""
    from dlc.runtime.train.step import init_state

    shapes = jax.eval_shape(lambda: init_state(program, 0))
    params, opt, model = (
        _nbytes(shapes.params),
        _nbytes(shapes.opt_state),
        _nbytes(shapes.model_state),
    )
    width = sum(math.prod(i.out_shape) for i in program.infos) + math.prod(program.input_shape)
    acts = 4 * width * (3 * batch + min(EVAL_CHUNK, n_valid))
    rows = 4 * (n_train + 2 * n_valid + 2 * steps_per_epoch(n_train, batch) * batch)
    return 4 * params + opt + 2 * model + acts + rows


def chunk_sizes(k: int, per_lane: int, shared: int, budget: int) -> list[int]:
    """Split `k` lanes into chunks of nearly equal size that fit `budget` bytes.

    Example:
        >>> chunk_sizes(10, per_lane=100, shared=200, budget=600)
        [4, 3, 3]
    """
    fit = max(1, (budget - shared) // max(1, per_lane))
    n = math.ceil(k / fit)
    return [k // n + (1 if i < k % n else 0) for i in range(n)]
