"""The multi-process side of reading only this process's rows (`data/held.py`): which rows
of each part this process holds (`process_share`: those `sharding.shard_rows` places), a
collective across the processes for the statistics, and the per-class counts of the final
report computed on the sharded parts (`sharded_confusions`), so that no process ever needs
every row.

Example:
    >>> share = process_share()  # None in a single process     # doctest: +SKIP
    >>> data = prepare(resolved, share)                         # doctest: +SKIP
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from dlc.runtime.data.budget import agree_auto_budget
from dlc.runtime.data.held import Share
from dlc.runtime.data.stream import StreamRows
from dlc.runtime.train.sharding import data_mesh, local_rows, shard_rows


def gather_float64(vector: np.ndarray) -> np.ndarray:
    """Every process's float64 `vector`, stacked in process order (bit for bit: sent as
    pairs of uint32, since JAX without x64 would round float64 to float32)."""
    from jax.experimental import multihost_utils

    raw = np.ascontiguousarray(vector, np.float64).view(np.uint32)
    out = np.asarray(multihost_utils.process_allgather(raw))
    return np.ascontiguousarray(out.reshape(jax.process_count(), -1)).view(np.float64)


def process_share() -> Share | None:
    """This process's share of the data in a run over several processes (None in one):
    the rows of each part its devices hold on the mesh every process trains on
    (`sharding.data_mesh`), and `gather_float64` as the collective. It also makes the
    processes agree on `train { memory_mb auto }` (`budget.agree_auto_budget`)."""
    if jax.process_count() == 1:
        return None
    mesh = data_mesh()

    def rows(n: int) -> tuple[int, int]:
        lo, hi = local_rows(n, mesh)
        return min(lo, n), min(hi, n)

    agree_auto_budget(gather_float64)  # `train.memory_mb auto`: one value for every process
    return Share(rows, gather_float64)


def _counts(probs: jax.Array, labels: jax.Array, n: jax.Array, k: int) -> jax.Array:
    """counts[i, j]: rows among the first `n` of true class i predicted as class j (a sum
    over the rows: XLA adds each device's counts across the processes)."""
    pred = (probs[:, 0] > 0.5).astype(jnp.int32) if probs.shape[-1] == 1 else probs.argmax(-1)
    real = (jnp.arange(labels.shape[0]) < n).astype(jnp.float32)[:, None]
    truth = jax.nn.one_hot(labels.astype(jnp.int32), k) * real
    return jnp.rint(truth.T @ jax.nn.one_hot(pred, k)).astype(jnp.int32)


def sharded_confusions(model: Any, names: tuple[str, ...] = ("test", "valid")) -> dict[str, Any]:
    """{part: confusion matrix} (rows: true class; `analysis.confusion.part_confusion`'s
    numbers) of the trained `model`'s parts as they lie sharded over every process's devices
    after `fit` (those streamed from disk read in chunks, each process its rows); {} for
    regression or labels that are not one class per row. Every process calls it (the counts
    are added across them) and gets the whole matrix."""
    parts = model._device or {}
    k = model.data.num_classes
    if k is None or model._mesh is None:
        return {}
    k = max(k, 2)
    replicated = NamedSharding(model._mesh, PartitionSpec())
    out = {}
    st = model.state
    count = jax.jit(partial(_counts, k=k), out_shardings=replicated)

    def counted(xs: Any, ys: Any, n: int) -> Any:
        probs = model._fns.predict(st.params, st.model_state, xs)
        return np.asarray(jax.device_get(count(probs, ys, n))).astype(np.int64)

    for name in names:
        x, y, *rest = parts.get(name, (None, None))
        if y is None or y.ndim != 1:
            continue
        if isinstance(x, StreamRows):  # read from disk in chunks, each process its rows
            out[name] = sum(
                (counted(*chunk) for chunk in _streamed_chunks(x, y, model)),
                np.zeros((k, k), np.int64),
            )
        else:
            out[name] = counted(x, y, rest[0] if rest else y.shape[0])
    return out


def _streamed_chunks(xs: StreamRows, ys: np.ndarray, model: Any) -> Any:
    """(x, y, real rows) of a streamed part in chunks as `feed`'s evaluation cuts them,
    sharded over the mesh: each process reads only the rows its devices hold."""
    from dlc.runtime.data.budget import memory_budget
    from dlc.runtime.train.feed import SHARE, PartRows
    from dlc.runtime.train.step import EVAL_CHUNK

    n, mesh = len(xs), model._mesh
    row_bytes = int(np.prod(xs.shape[1:], dtype=np.int64)) * 4
    budget = memory_budget(model.spec.train.memory_mb)
    chunk = max(1, min(EVAL_CHUNK, n, budget // (SHARE * max(1, row_bytes))))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        rows = np.concatenate([np.arange(start, stop), np.full(chunk - (stop - start), -1)])
        y = np.zeros(chunk, ys.dtype)
        y[: stop - start] = ys[start:stop]
        yield shard_rows(PartRows(xs, rows), mesh), shard_rows(y, mesh), stop - start
