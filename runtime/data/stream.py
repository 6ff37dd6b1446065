"""Data larger than memory: a data file read in place (`RowFile`, the protocol: an `.npy`
file's `NpyFile` here, a CSV's and a Parquet file's in `csvrows`/`parquetrows`), one part of
it seen through its row indices (`StreamRows`), and statistics computed in chunks
(`budget.py`: the memory budget, `train { memory_mb N }`, that decides whether the data is
streamed at all).

Rows are read with positioned reads (`os.preadv`) into arrays dlc owns, never through a
memory map: a memory-mapped file's pages count towards the process's resident memory as they
are touched (and the kernel maps neighbouring pages with each fault), while the page cache
behind `preadv` does not. Only the rows asked for are ever held.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.arange(12, dtype=np.float32).reshape(6, 2))
    >>> f = NpyFile(path)
    >>> f.shape, f.take(np.array([4, 1, 4])).tolist()
    ((6, 2), [[8.0, 9.0], [2.0, 3.0], [8.0, 9.0]])
    >>> rows = StreamRows(f, np.array([5, 0]), lambda a: a * 2)
    >>> len(rows), rows[:1].tolist()
    (2, [[20.0, 22.0]])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.held import Share, merged, summed
from dlc.runtime.data.moments import Moments, feature_shape

CHUNK_BYTES = 16 << 20  # rows read at a time for checks and statistics


def _fail(where: str, message: str, hint: str | None = None) -> DlcError:
    return DlcError.single(message, where=where, hint=hint)


@runtime_checkable
class RowFile(Protocol):
    """A data file whose rows are read on demand: what `StreamRows`, `stream_stats`,
    `prepare` and `train.feed` need of it. `shape` is (rows, features...) and `dtype` the
    dtype `take` returns; rows are numbered 0..len-1 (the rows the loader kept)."""

    path: Path
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    def __len__(self) -> int: ...

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (any order, repeats allowed), in that order."""
        ...

    def blocks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) in file order, about `chunk_bytes` at a time."""
        ...

    def check_finite(self) -> None:
        """A located error at the first row holding a value the loader refuses (NaN or
        infinity; a table's gaps when its `missing=` allows them are no error)."""
        ...


def float32_mb(file: RowFile) -> float:
    """The file's rows as float32, in MB (2**20 bytes)."""
    return int(np.prod(file.shape, dtype=np.int64)) * 4 / 2**20


class NpyFile:
    """A `.npy` array on disk (C order, numbers): its shape and dtype from the header, rows
    read on demand. Opened as untrusted input: the header is checked against the file size."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        where = str(self.path)
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read(f)
                self.offset = f.tell()
        except OSError as exc:
            raise _fail(where, f"cannot read the file: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise _fail(
                where, f"not a readable .npy file: {exc}", "write it with np.save"
            ) from None
        if dtype.kind not in "biuf" or dtype.hasobject:
            raise _fail(where, f"the array has dtype {dtype}, not numbers", "save numbers")
        if fortran and len(shape) > 1:
            raise _fail(
                where,
                "the array is in Fortran (column) order; rows must be contiguous",
                "save np.ascontiguousarray(x) instead",
            )
        if len(shape) == 0:
            raise _fail(where, "the array is a single number, not one row per example")
        self.shape: tuple[int, ...] = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        size = self.path.stat().st_size
        if size < self.offset + self.nbytes:
            raise _fail(
                where,
                f"the file is {size:,} bytes, its header promises {self.offset + self.nbytes:,}",
                "the file is truncated: write it again with np.save",
            )

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.row_bytes

    @property
    def size(self) -> int:
        """Numbers in the array."""
        return int(np.prod(self.shape, dtype=np.int64))

    def _into(self, fd: int, out: memoryview, offset: int) -> None:
        done = 0
        while done < len(out):
            got = os.preadv(fd, [out[done:]], offset + done)
            if got <= 0:
                raise _fail(str(self.path), "the file ended early (changed while reading?)")
            done += got

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows `start..stop-1` in one positioned read."""
        out = np.empty((max(0, stop - start), *self.shape[1:]), self.dtype)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            self._into(fd, out.data.cast("B"), self.offset + start * self.row_bytes)
        finally:
            os.close(fd)
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (any order, repeats allowed): each run of consecutive row numbers is
        one positioned read."""
        uniq, inverse = np.unique(np.asarray(rows, np.int64), return_inverse=True)
        buf = np.empty((len(uniq), *self.shape[1:]), self.dtype)
        view = buf.data.cast("B")
        cuts = np.flatnonzero(np.diff(uniq) != 1) + 1
        starts = np.concatenate([[0], cuts]).tolist()
        ends = np.concatenate([cuts, [len(uniq)]]).tolist()
        rb = self.row_bytes
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for a, b in zip(starts, ends, strict=True):
                self._into(fd, view[a * rb : b * rb], self.offset + int(uniq[a]) * rb)
        finally:
            os.close(fd)
        return buf[inverse.reshape(-1)]

    def blocks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) in file order, about `chunk_bytes` at a time."""
        step = max(1, chunk_bytes // max(1, self.row_bytes))
        for start in range(0, len(self), step):
            yield start, self.read(start, min(len(self), start + step))

    def check_finite(self) -> None:
        """A located error at the first row holding NaN or infinity (one pass over the file)."""
        if self.dtype.kind != "f":
            return
        for start, block in self.blocks():
            bad = ~np.isfinite(block.reshape(len(block), -1)).all(axis=1)
            if bad.any():
                row = start + int(np.argmax(bad))
                raise _fail(
                    str(self.path),
                    f"the array holds non-finite values (NaN or infinity), first in row {row}",
                    "fill or drop those rows before saving",
                )


class StreamRows:
    """One part (train, valid or test) of a streamed source: rows `index` of `file`, each
    read through `transform` (the spec's `divide` and normalization). Indexing reads rows
    (`rows[a:b]`, `rows[idx]`); turning the whole part into one array is refused."""

    def __init__(
        self, file: RowFile, index: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        self.file, self.index, self.transform = file, np.asarray(index, np.int64), transform
        self.row_bytes = int(np.prod(file.shape[1:], dtype=np.int64)) * file.dtype.itemsize
        # memory a row takes while it is read and transformed, for sizing chunks: float32,
        # or the file's own figure when reading costs more (a CSV's text, say)
        width = int(np.prod(file.shape[1:], dtype=np.int64))
        self.read_row_bytes = max(4 * width, int(getattr(file, "read_row_bytes", 0)))
        self.dtype = transform(np.zeros((0, *file.shape[1:]), file.dtype)).dtype
        self.shape: tuple[int, ...] = (len(self.index), *file.shape[1:])
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def with_transform(self, transform: Callable[[np.ndarray], np.ndarray]) -> StreamRows:
        return StreamRows(self.file, self.index, transform)

    def plan(self, chunks: list[np.ndarray]) -> None:
        """The positions the next `take`s ask for, chunk by chunk (a hint for files read in
        large units, `TableRows.plan`; files without `plan` ignore it)."""
        hint = getattr(self.file, "plan", None)
        if hint is not None:
            hint([self.index[np.asarray(c)] for c in chunks])

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The rows at `positions` of this part, transformed."""
        return self.transform(self.file.take(self.index[np.asarray(positions)]))

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            return self.take(np.arange(len(self))[key])
        return self.take(np.asarray(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise DlcError.single(
            f"this needs the whole data in memory, but it is streamed from disk "
            f"({float32_mb(self.file):.3g} MB as float32 in {self.file.path.name}, above "
            "train.memory_mb)",
            hint="raise the budget (`train { memory_mb N }` or --set train.memory_mb=N) if the "
            "machine has the memory; `dlc run` and `fit` stream",
        )

    def blocks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
        """The part's rows in file order (not its own order), transformed, in chunks."""
        rows = np.sort(self.index)
        step = max(1, chunk_bytes // max(1, self.row_bytes))
        for start in range(0, len(rows), step):
            yield self.transform(self.file.take(rows[start : start + step]))


def stream_stats(
    rows: StreamRows, method: str, share: Share | None = None
) -> dict[str, np.ndarray]:
    """`features.fit_normalizer`'s statistics (`standard` or `minmax`) in one pass over chunks
    (`moments.Moments`, merged by Chan et al.'s rule); the same to float32 rounding. With
    `share` (several processes, `rows` this process's) merged across the processes."""
    if method == "none":
        return {}
    moments = Moments.of_blocks(rows.blocks(), feature_shape(rows.shape))
    return (moments if share is None else merged(moments, share)).stats(method)


def stream_fill(
    rows: StreamRows, rule: str | None, share: Share | None = None
) -> dict[str, np.ndarray]:
    """`features.impute_values` (`missing=zero|mean`: one value per feature column) in one
    pass over chunks of the part's rows as read (NaN: the gaps); with `share` (several
    processes, `rows` this process's) the sums are added across the processes."""
    if rule is None:
        return {}
    width = int(np.prod(rows.shape[1:], dtype=np.int64))
    total, count = np.zeros(width), np.zeros(width)
    if rule != "zero":
        for block in rows.with_transform(lambda a: a).blocks():
            a = np.asarray(block, np.float64).reshape(len(block), -1)
            total += np.nansum(a, axis=0)
            count += (~np.isnan(a)).sum(axis=0)
        if share is not None:
            total, count = np.split(summed(np.concatenate([total, count]), share), 2)
    fill = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return {"fill": fill.astype(np.float32)}
