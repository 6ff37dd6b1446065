"""Lanes: K trainings of one program (same shapes) as one XLA program.

Every lane has its own parameters, optimizer state, PRNG key, training rows (a fold mask over
shared data), normalization statistics and hyperparameters (learning rate, weight decay, the
optimizer's other injected settings, L1/L2, dropout rates, the schedule); all of them get a
leading lane axis and the single run's epoch (`engine.train_epoch`, the per-lane values as its
traced `Hyper` inputs) is `vmap`-ed over it: no second training step. A lane's batches are
exactly those of a single run on its rows: a permutation of its own rows (from its seed and the
epoch), the last batch padded with weight-0 rows, then all-zero batches up to the longest lane,
which skip the update, so optimizer counts (Adam's bias correction) and dropout keys stay those
of the single run. Early stopping (the single run's rule, `early_stop.update`) freezes a lane
(its updates are skipped) and keeps its best parameters.

Example:
    >>> run = train_lanes(program, lanes, x, y)          # doctest: +SKIP
    >>> run.metrics["valid_loss"].shape                   # doctest: +SKIP
    (5,)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.lower import Program
from dlc.compiler.schedules import plateau_of
from dlc.runtime.experiment.lane_setup import (
    Consts,
    LaneRun,
    LaneSpec,
    LaneState,
    build_consts,
    chunk_sizes,
    estimate_bytes,
    eval_chunks,
    init_lanes,
    static_key,
)
from dlc.runtime.train.batches import steps_per_epoch
from dlc.runtime.train.early_stop import StopRule, improved, keep_best, update
from dlc.runtime.train.engine import Hyper, TrainState, normalized, train_epoch
from dlc.runtime.train.step import add_eval_sums, eval_means, eval_start


def _rounds(n: int) -> int:
    """Sorting rounds of `jax.random.permutation` for `n` items (as in JAX's `_shuffle`)."""
    return int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))


def _padded_permutation_ok(sizes: list[int], n_max: int) -> bool:
    """Whether `padded_permutation` equals `jax.random.permutation` for these sizes: with the
    partitionable Threefry, the random bits of a shorter array are a prefix of a longer one's."""
    return (
        bool(jax.config.jax_threefry_partitionable)  # type: ignore[attr-defined]
        and len({_rounds(n) for n in [*sizes, n_max]}) == 1
    )


def padded_permutation(key: Any, n: Any, n_max: int) -> Any:
    """`jax.random.permutation(key, n)` (n traced, at most `n_max`) in its first `n` entries:
    the same rounds of stable sorts by the same random bits, padding keys sorting last.

    Example:
        >>> key = jax.random.PRNGKey(3)
        >>> bool((padded_permutation(key, 5, 9)[:5] == jax.random.permutation(key, 5)).all())
        True
    """
    x = jnp.arange(n_max)
    for _ in range(_rounds(n_max)):
        key, sub = jax.random.split(key)
        bits = jax.random.bits(sub, (n_max,), jnp.uint32)
        bits = jnp.where(x < n, bits, jnp.uint32(np.iinfo(np.uint32).max))
        _, x = jax.lax.sort_key_val(bits, x)
    return x


@dataclass(frozen=True)
class LaneFunctions:
    orders: Callable[..., Any]  # (keys, epoch) -> [K, n_max] data order of each lane
    epoch: Callable[..., Any]  # (state, order, consts, x, y) -> (state, stats)
    track: Callable[..., Any]  # (state, consts, x, y, epoch) -> (state, valid metrics)
    steps_per_epoch: int
    shuffles: bool = True  # False: every epoch has the same order (made once)


def _lane_eval(
    program: Program, zero: Any, params: Any, model_state: Any, c: Consts, x: Any, y: Any
) -> Any:
    """One lane's evaluation (as a single run's) on its rows `c.vrows` of `x`, `y`."""
    chunks, size = eval_chunks(c.vrows.shape[0])
    rows, w = c.vrows.reshape(chunks, size), c.vw.reshape(chunks, size)

    def body(carry: Any, b: tuple[Any, Any]) -> tuple[Any, None]:
        rb, wb = b
        xb, yb = normalized(jnp.take(x, rb, axis=0), c.shift, c.scale), jnp.take(y, rb, axis=0)
        out, _ = program.apply(params, model_state, xb, train=False)
        return add_eval_sums(program, carry, out, yb, wb), None

    sums, _ = jax.lax.scan(body, zero, (rows, w))
    return eval_means(sums)


def evaluate_lanes(
    program: Program,
    lanes: list[LaneSpec],
    run: LaneRun,
    x: np.ndarray,
    y: np.ndarray,
    rows: list[np.ndarray],
) -> dict[str, np.ndarray]:
    """Each lane's final (restored) parameters evaluated, as its `valid_*` values are, on its
    own `rows` of `x`, `y` (its training rows, or the test part): {value: [K]}."""
    batch = min(program.spec.train.batch, min(len(ln.train_rows) for ln in lanes))
    moved = [dataclasses.replace(ln, valid_rows=r) for ln, r in zip(lanes, rows, strict=True)]
    consts = jax.tree.map(jnp.asarray, build_consts(program, moved, batch))
    yd = jnp.asarray(y)
    zero = eval_start(program, yd)
    fn = jax.jit(jax.vmap(partial(_lane_eval, program, zero), in_axes=(0, 0, 0, None, None)))
    params, model_state = jax.tree.map(jnp.asarray, (run.params, run.model_state))
    out = fn(params, model_state, consts, jnp.asarray(x), yd)
    return {k: np.asarray(v) for k, v in out.items()}


def make_lane_functions(
    program: Program, consts: Consts, batch: int, y_example: Any, mesh: Any = None
) -> LaneFunctions:
    """The jitted, lane-vmapped epoch, evaluation and early-stopping functions. With a `mesh`
    (`sharding.mesh_for`) every lane-axis input is split along its "data" axis: the lanes are
    spread over its devices (each lane whole on one device), the shared data replicated."""
    spec = program.spec
    n_lanes = len(consts.n)
    split = lane_split(mesh, n_lanes)
    nb = max(steps_per_epoch(int(n), batch) for n in consts.n)
    groups = [(int(n), np.flatnonzero(consts.n == n)) for n in np.unique(consts.n)]
    c_n = np.asarray(consts.n)
    # one batch holding each lane's rows: the order within it cannot matter, no permutation
    n_max, shuffle = consts.rows.shape[1], spec.train.shuffle and nb > 1
    es = spec.train.early_stop
    zero = eval_start(program, y_example)
    monitor = es.monitor.removeprefix("valid_") if es else ""
    tracking = es is not None and es.monitor.startswith("valid_") and monitor in zero
    plateau = plateau_of(spec.schedule) is not None
    # every lane has `nb` steps, so every batch holds a real row and only `active` (constant
    # over an epoch) can skip an update: skip the lane's whole epoch once at its end instead
    # of selecting the whole state at every step (a read of the old and new state per step)
    uniform = all(steps_per_epoch(int(n), batch) == nb for n in consts.n)

    def lane_epoch(
        ts: TrainState, active: Any, order: Any, c: Consts, x: Any, y: Any
    ) -> tuple[TrainState, Any]:
        """The single run's epoch (`engine.train_epoch`) with this lane's rows and settings
        (an inactive lane's state stays as it was; its stats are not meaningful)."""
        hyper = Hyper(
            shift=c.shift,
            scale=c.scale,
            reg=c.reg,
            overrides=c.overrides or None,
            table=c.table,
            # reduce-on-plateau: this lane's epochs have its own number of (live) steps
            epoch_steps=steps_per_epoch(c.n, batch) if plateau else None,
            active=None if uniform else active,
        )
        rows = jnp.take(c.rows, order)
        new, stats = train_epoch(program, ts, x, y, rows, c.n, hyper, batch=batch, steps=nb)
        if uniform:
            new = jax.tree.map(lambda u, v: jnp.where(active, u, v), new, ts)
        return new, stats

    padded = _padded_permutation_ok([n for n, _ in groups], n_max)

    def orders(key: Any, e: Any) -> Any:
        """Each lane's data order in epoch `e`: the single run's permutation of its rows."""
        keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 2), e))(key)
        order = jnp.broadcast_to(jnp.arange(n_max), (n_lanes, n_max))
        if shuffle and padded and len(groups) > 1:  # one sort for all lanes
            return jax.vmap(lambda k, n: padded_permutation(k, n, n_max))(keys, c_n)
        if shuffle:
            for n, members in groups:
                perm = jax.vmap(lambda k, n=n: jax.random.permutation(k, n))(keys[members])
                order = order.at[members, :n].set(perm)
        return split(order)

    def epoch(st: LaneState, order: Any, c: Consts, x: Any, y: Any) -> tuple[LaneState, Any]:
        st, order, c = split((st, order, c))
        ts, stats = jax.vmap(lane_epoch, in_axes=(0, 0, 0, 0, None, None))(
            st.train, st.active, order, c, x, y
        )
        bad = st.active & ~stats["finite"]
        stats["active"] = st.active  # at the start of the epoch
        st = st._replace(
            train=ts,
            epochs=st.epochs + st.active,
            diverged=st.diverged | bad,
            active=st.active & ~bad,
        )
        return st, stats

    evaluate = jax.vmap(partial(_lane_eval, program, zero), in_axes=(0, 0, 0, None, None))

    def track(st: LaneState, c: Consts, x: Any, y: Any, e: Any) -> tuple[LaneState, Any]:
        st, c = split((st, c))
        m = evaluate(st.train.params, st.train.model_state, c, x, y)
        if not tracking:
            return st, m
        assert es is not None
        rule = StopRule.of(es)
        stop = jax.vmap(lambda s, v, a: update(rule, s, v, e + 1, a))(
            st.stop, m[monitor], st.active
        )
        st = st._replace(stop=stop, active=st.active & ~stop.stopped)
        if es.restore_best:
            best = keep_best(
                improved(stop, e + 1),
                (st.train.params, st.train.model_state),
                (st.best_params, st.best_model_state),
            )
            st = st._replace(best_params=best[0], best_model_state=best[1])
        return st, m

    return LaneFunctions(
        jax.jit(orders),
        jax.jit(epoch, donate_argnums=(0,)),
        jax.jit(track, donate_argnums=(0,)),
        nb,
        shuffle,
    )


def lane_split(mesh: Any, n_lanes: int) -> Callable[[Any], Any]:
    """Inside a jitted function: lay every leaf with a leading lane axis out split along the
    mesh's "data" axis (XLA pads a lane count the device count does not divide); identity
    without a mesh."""
    if mesh is None:
        return lambda tree: tree
    from dlc.runtime.train.sharding import batch_sharding, constrain

    sharding = batch_sharding(mesh)

    def split(tree: Any) -> Any:
        return jax.tree.map(
            lambda a: constrain(a, sharding) if a.ndim and a.shape[0] == n_lanes else a, tree
        )

    return split


def train_lanes(
    program: Program,
    lanes: list[LaneSpec],
    x: np.ndarray,
    y: np.ndarray,
    on_epoch: Callable[[int, int], None] | None = None,
    cache: dict[Any, LaneFunctions] | None = None,
    mesh: Any = None,
    on_eval: Callable[[int, dict[str, np.ndarray], np.ndarray], Any] | None = None,
) -> LaneRun:
    """Train every lane of `lanes` (specs with one `static_key`) on rows of the shared `x`, `y`
    (features after `divide`, before normalization). `on_epoch(epoch, active_lanes)`; `cache`
    keeps compiled functions for later chunks of the same program and shapes. With a `mesh`
    the lanes are spread over its devices (`make_lane_functions`); results equal one device's.
    `on_eval(epoch, {valid_*: [K]}, active [K])` sees each evaluation and may return a [K] bool
    mask of lanes to stop (search pruning): they freeze as if stopped early."""
    t = program.spec.train
    batch = min(t.batch, min(len(ln.train_rows) for ln in lanes))
    host = build_consts(program, lanes, batch)
    consts = jax.tree.map(jnp.asarray, host)
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    if mesh is not None:
        from dlc.runtime.train.sharding import replicate

        xd, yd = replicate((xd, yd), mesh)
    leaves, tree = jax.tree.flatten(host)
    key = (batch, tuple(host.n.tolist()), tree, tuple(a.shape for a in leaves), mesh)
    cache = {} if cache is None else cache
    fns = cache.get(key) or cache.setdefault(
        key, make_lane_functions(program, host, batch, yd, mesh)
    )
    state = init_lanes(program, lanes)
    history: list[dict[str, Any]] = []
    order = None
    last = None  # the values of the current state, when its last epoch was evaluated
    for e in range(t.epochs):
        if order is None or fns.shuffles:
            order = fns.orders(state.train.key, jnp.int32(e))
        state, stats = fns.epoch(state, order, consts, xd, yd)
        last = None
        record = {
            "epoch": e + 1,
            "active": stats["active"],
            "train_loss": stats["loss"],
            "lr": stats["lr"],
        }
        if (e + 1) % t.eval_every == 0 or e + 1 == t.epochs:
            state, m = fns.track(state, consts, xd, yd, jnp.int32(e))
            last = m
            record.update({f"valid_{k}": v for k, v in m.items()})
            if on_eval is not None:
                values = {f"valid_{k}": np.asarray(v) for k, v in m.items()}
                stop = on_eval(e + 1, values, np.asarray(state.active))
                if stop is not None and np.any(stop):
                    state = state._replace(active=state.active & ~jnp.asarray(stop))
        history.append(record)
        n_active = int(np.asarray(state.active).sum())
        if on_epoch is not None:
            on_epoch(e + 1, n_active)
        if n_active == 0:
            break
    es = t.early_stop
    best_epoch, epochs, stopped, diverged = (
        np.asarray(a)
        for a in (state.stop.best_epoch, state.epochs, state.stop.stopped, state.diverged)
    )
    weights = (state.train.params, state.train.model_state)
    restored = es is not None and es.restore_best and bool(np.any(best_epoch > 0))
    if restored:  # lanes that improved at least once
        best = (state.best_params, state.best_model_state)
        weights = keep_best(jnp.asarray(best_epoch > 0), best, weights)
    params, model_state = jax.tree.map(np.asarray, weights)  # before `track` donates `state`
    metrics = last  # the final weights are those last evaluated: their values are known
    if metrics is None or restored:
        final = state._replace(
            train=state.train._replace(
                params=jax.tree.map(jnp.asarray, params),
                model_state=jax.tree.map(jnp.asarray, model_state),
            )
        )
        _, metrics = fns.track(final, consts, xd, yd, jnp.int32(t.epochs))  # same program
    return LaneRun(
        params,
        model_state,
        {f"valid_{k}": np.asarray(v) for k, v in metrics.items()},
        best_epoch,
        epochs,
        stopped,
        diverged,
        [{k: np.asarray(v) for k, v in r.items()} for r in history],
    )


__all__ = [
    "LaneFunctions",
    "LaneRun",
    "LaneSpec",
    "chunk_sizes",
    "estimate_bytes",
    "evaluate_lanes",
    "make_lane_functions",
    "static_key",
    "train_lanes",
]
