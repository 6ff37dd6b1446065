"""Training on data streamed from disk (`dlc.runtime.data.stream.StreamRows`, a source
above `train.memory_mb`): the same batches as the in-memory epoch, fed in chunks.

Each epoch takes the in-memory path's own batches (`data_order` of the run's key and the
epoch, cut by `epoch_batches`: the same permutation and the same weight-0 padding), pulls
their row numbers to the host, and for each chunk of `k` steps reads those rows from disk
(a background thread reads the next chunks while the device trains on this one), copies them
to the device and runs the engine's `train_steps` over them in one jitted call. Every step
sees the rows, the dropout key and the state it sees in memory, so the results are the same.

Memory: about `PREFETCH + 3` chunks exist at once (being read, read ahead, two queued on the
device and the one before them finishing), each a few copies while rows are transformed: a
chunk is sized to 1/`SHARE` of the budget. Evaluation reads its part in chunks the same way.
Freed chunks go back to the operating system (`return_freed_memory`), so they do not pile up
as resident memory (bench/stream_memory.py measures the peak).

Example:
    >>> fns = make_stream_functions(program, 60000, 128, True, "all", None, 64 << 20)
    ...                                                                   # doctest: +SKIP
    >>> state, stats = fns.epoch(state, rows, labels, 0)                  # doctest: +SKIP
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.lower import Program
from dlc.runtime.data.budget import trim_memory
from dlc.runtime.data.stream import StreamRows
from dlc.runtime.train.batches import data_order, epoch_batches, steps_per_epoch
from dlc.runtime.train.engine import TrainState, epoch_stats, optimizer_of, train_steps
from dlc.runtime.train.evaluate import add_eval_sums, eval_means, eval_start
from dlc.runtime.train.sharding import batch_sharding, constrain, shard_rows
from dlc.runtime.train.step import EVAL_CHUNK, SINGLE, Functions, make_functions

SHARE = 16  # a chunk takes at most 1/SHARE of the memory budget
PREFETCH = 2  # chunks read ahead of the one training


class PartRows:
    """Rows `rows` of a streamed part (-1: a zero row of padding), read from disk only when
    sliced: over a mesh spanning several processes, `shard_rows` slices out the rows this
    process's devices hold."""

    def __init__(self, xs: StreamRows, rows: np.ndarray) -> None:
        self.xs, self.rows = xs, rows
        self.shape = (len(rows), *xs.shape[1:])

    def __getitem__(self, key: slice) -> np.ndarray:
        rows = self.rows[key]
        real = rows >= 0
        if real.all():
            return self.xs.take(rows)
        out = np.zeros((len(rows), *self.shape[1:]), self.xs.dtype)
        if real.any():
            out[real] = self.xs.take(rows[real])
        return out


def chunk_steps_for(budget: int, row_bytes: int, batch: int, epoch_steps: int) -> int:
    """Steps per chunk: as many as fit in 1/`SHARE` of `budget` bytes, at least 1, at most an
    epoch.

    Example:
        >>> chunk_steps_for(64 << 20, 784 * 4, 128, 469), chunk_steps_for(1000, 3136, 128, 9)
        (10, 1)
    """
    return max(1, min(epoch_steps, budget // (SHARE * max(1, batch * row_bytes))))


def return_freed_memory() -> None:
    """Make glibc give large freed buffers back to the operating system. After the first
    large `free` glibc raises its mmap threshold (up to 32 MiB), so later chunk-sized buffers
    come from the heap and stay resident once freed; pinning the threshold at 64 KiB keeps
    every chunk buffer a mapping of its own, unmapped when freed (a streamed table's chunks
    are small: 1 MiB left about 9 MB more resident, bench/stream_memory.py --format csv). A
    no-op without glibc."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def prefetched(tasks: list[Callable[[], Any]], depth: int = PREFETCH) -> Iterator[Any]:
    """The results of `tasks` in order, each computed in a background thread up to `depth`
    tasks ahead of the one being consumed."""
    with ThreadPoolExecutor(1, thread_name_prefix="dlc-feed") as pool:
        ahead: deque[Any] = deque(pool.submit(t) for t in tasks[:depth])
        for i in range(len(tasks)):
            result = ahead.popleft().result()
            if i + depth < len(tasks):
                ahead.append(pool.submit(tasks[i + depth]))
            yield result


def make_stream_functions(
    program: Program,
    n_train: int,
    batch: int,
    shuffle: bool,
    steps_per_call: int | str,
    mesh: Any,
    budget: int,
) -> Functions:
    """`step.make_functions`' functions with `epoch`, `evaluate` and `evaluate_many` taking
    streamed parts (`StreamRows` inputs, numpy targets) instead of device arrays; one epoch
    per call. `budget` (bytes) sizes the chunks; a numeric `steps_per_call` caps them."""
    return_freed_memory()
    base = make_functions(program, n_train, batch, shuffle, "all", 1, mesh)
    shard = batch_sharding(mesh)
    tx = optimizer_of(program, SINGLE)
    batch = min(batch, n_train)
    nb = steps_per_epoch(n_train, batch)

    def batches(key: jax.Array, epoch_index: jax.Array) -> tuple[jax.Array, jax.Array]:
        order = jnp.arange(n_train) if nb == 1 else data_order(key, epoch_index, n_train, shuffle)
        return epoch_batches(order, n_train, nb, batch)

    def chunk_call(
        state: TrainState, x: jax.Array, y: jax.Array, w: jax.Array
    ) -> tuple[TrainState, Any]:
        local = jnp.arange(w.size, dtype=jnp.int32).reshape(w.shape)  # the chunk's own rows
        return train_steps(program, tx, x, y, SINGLE, state, local, w, shard)

    batches_j = jax.jit(batches)
    chunk_j = jax.jit(chunk_call, donate_argnums=(0,))
    stats_j = jax.jit(lambda state, stats: epoch_stats(program, SINGLE, state, stats))

    def place(a: Any) -> Any:
        if mesh is None:
            return jnp.asarray(a[:] if isinstance(a, PartRows) else a)
        return shard_rows(a, mesh)  # each process reads only the rows its devices hold

    def epoch(
        state: TrainState, xs: StreamRows, ys: np.ndarray, epoch_index: Any
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        k = chunk_steps_for(budget, xs.read_row_bytes, batch, nb)
        if isinstance(steps_per_call, int):
            k = min(k, steps_per_call)
        idx, w = (np.asarray(a) for a in jax.device_get(batches_j(state.key, epoch_index)))
        xs.plan([idx[s : s + k].reshape(-1) for s in range(0, nb, k)])  # for Parquet row groups

        def read(start: int) -> Callable[[], tuple[Any, Any, Any]]:
            def task() -> tuple[Any, Any, Any]:
                rows = idx[start : start + k].reshape(-1)
                return place(PartRows(xs, rows)), place(ys[rows]), jnp.asarray(w[start : start + k])

            return task

        outs: list[Any] = []
        for xc, yc, wc in prefetched([read(s) for s in range(0, nb, k)]):
            if len(outs) > 1:  # at most two chunks queued on the device: no idle gap, bounded
                jax.block_until_ready(outs[-2])
            state, out = chunk_j(state, xc, yc, wc)
            outs.append(out)
        stats = stats_j(state, jax.tree.map(lambda *a: jnp.concatenate(a), *outs))
        trim_memory()  # the reading thread's freed chunks
        return state, {**stats, "step": state.step}

    def add_chunk(params: Any, model_state: Any, sums: Any, x: Any, y: Any, w: Any) -> Any:
        x, y, w = (constrain(a, shard) for a in (x, y, w))
        out, _ = program.apply(params, model_state, x, train=False)
        return add_eval_sums(program, sums, out, y, w)

    add_j = jax.jit(add_chunk)
    means_j = jax.jit(eval_means)

    def evaluate(params: Any, model_state: Any, xs: Any, ys: Any) -> dict[str, Any]:
        if not isinstance(xs, StreamRows):
            return base.evaluate(params, model_state, xs, ys)
        n = len(xs)
        chunk = max(1, min(EVAL_CHUNK, n, budget // (SHARE * max(1, xs.read_row_bytes))))

        def read(start: int) -> Callable[[], tuple[Any, Any, Any]]:
            def task() -> tuple[Any, Any, Any]:
                stop = min(n, start + chunk)
                pad = chunk - (stop - start)
                rows = np.concatenate([np.arange(start, stop), np.full(pad, -1)])
                xc, yc = PartRows(xs, rows), ys[start:stop]  # x read when placed: only held rows
                if pad:
                    yc = np.concatenate([yc, np.zeros((pad, *yc.shape[1:]), yc.dtype)])
                wc = np.concatenate([np.ones(stop - start), np.zeros(pad)]).astype(np.float32)
                return place(xc), place(yc), place(wc)

            return task

        sums = eval_start(program, ys)
        for xc, yc, wc in prefetched([read(s) for s in range(0, n, chunk)]):
            sums = add_j(params, model_state, sums, xc, yc, wc)
            jax.block_until_ready(sums)
        return dict(means_j(sums))

    def evaluate_many(params: Any, model_state: Any, parts: dict[str, Any]) -> dict[str, Any]:
        return {name: evaluate(params, model_state, *xy) for name, xy in parts.items()}

    return replace(
        base,
        epoch=epoch,
        evaluate=evaluate,
        evaluate_many=evaluate_many,
        epochs=None,
        epochs_eval=None,
        epochs_per_call=1,
    )
