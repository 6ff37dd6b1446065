"""One of several processes reads only its rows: each part (train, valid, test) of a source
with random row access is cut by the split, which depends only on the row count, the seed
and the labels (read whole: one number per row), and each process reads from disk only the
rows its devices hold (`HeldRows`); `normalize` statistics are computed on those rows and
merged across the processes (`shared_stats`).

Random row access is a row file: an object with `__len__`, `shape`, `dtype`,
`take(rows)` (rows in any order), `blocks()` and `check_finite()`, as `stream.NpyFile` is.
A source whose loader can leave its inputs in one (`row_loader`) is read this way; any other
source is read whole by every process, which then keeps its rows (`sharding.shard_rows`).
The streamed CSV and Parquet row files (`tables.py`) are not offered: opening one passes
over every row (values checked, rows to keep found), so a process would read every row all
the same. Data streamed from disk is per process too: each passes over its own share of a
part for the statistics and the NaN check (`streamed_share`, `check_streamed_finite`).

The processes' share of the rows comes from the training side as a `Share`: which rows of
an n-row part this process holds (those `sharding.shard_rows` places from it) and a
collective that stacks every process's vector in process order.

Example:
    >>> import tempfile, os
    >>> from dlc.runtime.data.stream import NpyFile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.arange(12, dtype=np.float32).reshape(6, 2))
    >>> alone = Share(lambda n: (n // 2, n), lambda v: v[None])  # the second half, 1 process
    >>> parts = held_parts(NpyFile(path), {"train": np.array([5, 0, 3, 1])}, alone)
    >>> parts["train"].shape, parts["train"][2:4].tolist()
    ((4, 2), [[6.0, 7.0], [2.0, 3.0]])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.moments import Moments, feature_shape
from dlc.runtime.data.raw import RawData


@dataclass(frozen=True)
class Share:
    """This process's part in a run over several processes (`train/shares.process_share`):
    `rows(n)` the rows `lo:hi` of an n-row part that this process's devices hold;
    `gather(v)` every process's float64 vector `v` (the same length in each), stacked in
    process order: a collective, so every process calls it at the same point."""

    rows: Callable[[int], tuple[int, int]]
    gather: Callable[[np.ndarray], np.ndarray]


class HeldRows:
    """A part of `n` rows of which this process holds rows `lo:lo+len(block)` (`block`); it
    has the whole part's shape, and slicing gives held rows only (`sharding.shard_rows` asks
    for exactly those). Anything needing every row is refused."""

    def __init__(self, block: np.ndarray, n: int, lo: int) -> None:
        self.block, self.lo = block, lo
        self.shape: tuple[int, ...] = (n, *block.shape[1:])
        self.dtype = block.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def map(self, transform: Callable[[np.ndarray], np.ndarray]) -> HeldRows:
        """The same rows through `transform` (the spec's feature transform)."""
        return HeldRows(transform(self.block), len(self), self.lo)

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, step = key.indices(len(self)) if isinstance(key, slice) else (0, 0, 0)
        hi = self.lo + len(self.block)
        if step != 1 or not ((self.lo <= start and stop <= hi) or start >= stop):
            raise DlcError.single(
                f"rows {start}:{stop} of this part are another process's (this one reads "
                f"{self.lo}:{hi})",
                hint="a run over several processes reads each row in one process only",
            )
        return self.block[max(0, start - self.lo) : max(0, stop - self.lo)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise DlcError.single(
            "this needs every row of the data, but in a run over several processes each "
            f"process holds only its own ({len(self.block)} of {len(self)} here)",
            hint="run it in a single process",
        )


def row_loader(source: Any) -> Callable[[Any, str | Path], RawData | None] | None:
    """The loader that leaves `source`'s inputs on disk as a row file (None from it: not
    possible for this file, read it whole); None for sources without random row access."""
    if source.dl_name == "npy":
        from dlc.runtime.data.arrays import load_npy_rows

        return load_npy_rows
    return None


def _check_finite(block: np.ndarray, rows: np.ndarray, file: Any) -> None:
    """A located error at the first (file) row of `block` holding NaN or infinity."""
    if block.dtype.kind != "f" or not len(block):
        return
    bad = ~np.isfinite(block.reshape(len(block), -1)).all(axis=1)
    if bad.any():
        row = int(np.min(rows[bad]))
        raise DlcError.single(
            f"the array holds non-finite values (NaN or infinity), first in row {row}",
            where=str(getattr(file, "path", "the data")),
            hint="fill or drop those rows before saving",
        )


def held_parts(file: Any, index: dict[str, np.ndarray], share: Share) -> dict[str, HeldRows]:
    """Each part (`index`: its rows of `file`, in the part's order) as the rows this process
    holds, read from `file` as float32 and checked for NaN and infinity."""
    parts = {}
    for name, rows in index.items():
        lo, hi = share.rows(len(rows))
        mine = rows[lo:hi]
        shape = (0, *file.shape[1:])
        block = np.asarray(file.take(mine) if len(mine) else np.zeros(shape), np.float32)
        _check_finite(block, mine, file)
        parts[name] = HeldRows(block, len(rows), lo)
    return parts


def merged(mine: Moments, share: Share) -> Moments:
    """The moments of every process's rows: each process's `mine`, gathered and merged in
    process order (the same in every process)."""
    total = Moments.of(np.zeros((0, *mine.shape)), mine.shape)
    for vector in share.gather(mine.pack()):
        total = total.merge(Moments.unpack(vector, mine.shape))
    return total


def summed(vector: np.ndarray, share: Share) -> np.ndarray:
    """The sum of every process's float64 `vector` (added in process order)."""
    return np.asarray(share.gather(np.asarray(vector, np.float64))).sum(axis=0)


def shared_stats(x: HeldRows, method: str, share: Share) -> dict[str, np.ndarray]:
    """`features.fit_normalizer`'s statistics of a part of which each process holds some
    rows: each process's moments, merged (`merged`: to float32 rounding the statistics of
    every row in one process)."""
    if method == "none":
        return {}
    shape = feature_shape(x.shape)
    return merged(Moments.of(x.block, shape), share).stats(method)


def streamed_share(rows: Any, share: Share) -> Any:
    """This process's rows of a part streamed from disk (a `stream.StreamRows`): for its
    statistics, each process passes over its own rows only (`stream_stats(..., share)`)."""
    lo, hi = share.rows(len(rows))
    return type(rows)(rows.file, rows.index[lo:hi], rows.transform)


def check_streamed_finite(rows: Any, share: Share) -> None:
    """A located error at the first file row holding NaN or infinity among this process's
    rows of a streamed part (`streamed_share`), read in chunks as they are on disk."""
    mine = streamed_share(rows, share).with_transform(lambda a: a)
    order = np.sort(mine.index)
    at = 0
    for block in mine.blocks():
        _check_finite(block, order[at : at + len(block)], rows.file)
        at += len(block)
