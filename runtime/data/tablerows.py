"""What a streamed table (`csvrows.CsvFile`, `parquetrows.ParquetRows`) shares: the rows
the loader keeps (`select`: rows missing the target, or with `missing=drop` a feature, are
left out), and the `stream.RowFile` protocol over them (`take`, `blocks`, `check_finite`).
A subclass reads file rows (`take_physical`) and, in its `scan`, reports each block of
features (`_extend`) and the end of the pass (`_done`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dlc.runtime.data.stream import CHUNK_BYTES


class TableRows(ABC):
    """A table's feature columns as float32 rows (gaps NaN), read on demand."""

    def __init__(self, path: Path, missing: bool) -> None:
        self.path, self.missing = path, missing
        self.dtype: np.dtype[Any] = np.dtype(np.float32)
        self.shape: tuple[int, ...] = (0, 0)
        self.kept: np.ndarray | None = None  # file rows kept, None: all
        self.gap_rows = np.zeros(0, bool)  # file rows with a gap in a feature
        self.constant: list[str] = []  # feature columns with a single value
        self.header: list[str] = []  # the column names (repeats suffixed)
        self.rows_estimate = 0  # data rows, before `scan` counts them
        self.group_rows = 0  # rows read whole to read any of them (a Parquet row group)
        self.read_row_bytes = 0  # memory a row takes while it is read (`StreamRows`)

    @abstractmethod
    def scan(self, features: list[str], extra: list[str]) -> dict[str, np.ndarray]:
        """One pass over the file: every value checked, `extra`'s columns returned whole."""

    @abstractmethod
    def numeric(self, column: str) -> bool:
        """Whether the column holds numbers."""

    @abstractmethod
    def take_physical(self, phys: np.ndarray) -> Any:
        """File rows `phys` (sorted, distinct) as float32 feature rows."""

    def _extend(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, gaps: list[Any]) -> None:
        """One block of the scan: its features' gaps, smallest and largest values."""
        nan = np.isnan(x)
        gaps.append(nan.any(axis=1))
        if len(x):
            filled = np.nan_to_num(x)  # as `load_csv` looks for constant columns
            np.minimum(lo, filled.min(axis=0), out=lo)
            np.maximum(hi, filled.max(axis=0), out=hi)

    def _done(self, features: list[str], lo: np.ndarray, hi: np.ndarray, gaps: list[Any]) -> None:
        self.gap_rows = np.concatenate(gaps) if gaps else np.zeros(0, bool)
        self.shape = (len(self.gap_rows), len(features))
        self.constant = [c for c, a, b in zip(features, lo, hi, strict=True) if a == b]

    def select(self, keep: np.ndarray) -> None:
        """Keep only the file rows where `keep` is true (then numbered 0..n-1)."""
        if not keep.all():
            self.kept = np.flatnonzero(keep)
            self.shape = (len(self.kept), *self.shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    def plan(self, chunks: list[np.ndarray]) -> None:
        """The rows the next `take`s ask for, chunk by chunk, in order: a hint that a file
        read in large units uses to read each unit once for several chunks."""
        self._planned([np.unique(self._physical(np.asarray(c, np.int64))) for c in chunks])

    def _planned(self, chunks: list[np.ndarray]) -> None:
        """File rows of the planned chunks (sorted, distinct each); ignored by default."""
        return None  # a file that reads rows one by one needs no plan

    def _physical(self, rows: np.ndarray) -> np.ndarray:
        return rows if self.kept is None else self.kept[rows]

    def take(self, rows: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(np.asarray(rows, np.int64), return_inverse=True)
        phys = self._physical(uniq)
        out: np.ndarray = self.take_physical(phys)
        return out[inverse.reshape(-1)]

    def blocks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
        step = max(1, chunk_bytes // max(1, 4 * self.shape[1]))
        for start in range(0, len(self), step):
            yield start, self.take(np.arange(start, min(len(self), start + step)))

    def check_finite(self) -> None:
        """Nothing to do: `scan` checked every value as the source's `missing=` says."""
        return None
