"""A Parquet file's rows read in place (`ParquetRows`, a `stream.RowFile`): the `parquet`
source above `train { memory_mb N }` (pyarrow, the optional `parquet` extra). The row count
and each row group's rows come from the footer; `scan` reads the file once, one row group at
a time, checking every value as `parquet.read_parquet` does (errors naming the row) and
keeping the target and id columns; `take(rows)` then reads only the row groups holding those
rows, only the feature columns, converted as the in-memory path converts them.

A row group is the smallest unit a Parquet file can be read in, and a shuffled chunk of
steps touches most row groups: when training says which chunks come next (`plan`), the
rows of `WINDOW` chunks are read together, each row group once for all of them, and the
next `take`s are served from them (bench/stream_memory.py --format parquet: 0.07x the
in-memory speed without, 0.20-0.27x with).

Example:
    >>> import tempfile, os, pyarrow as pa, pyarrow.parquet as pq
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> t = pa.table({"a": [1, 2, 3, 4], "b": [0.5, 1.5, 2.5, 3.5], "y": [0, 1, 1, 0]})
    >>> pq.write_table(t, path, row_group_size=2)
    >>> f = ParquetRows(path, missing=False)
    >>> cols = f.scan(["a", "b"], ["y"])
    >>> f.shape, f.take(np.array([3, 0])).tolist(), cols["y"].tolist()
    ((4, 2), [[4.0, 3.5], [1.0, 0.5]], [0.0, 1.0, 1.0, 0.0])
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.columns import unique_header
from dlc.runtime.data.parquet import _column, checked_column, pyarrow_modules
from dlc.runtime.data.tablerows import TableRows

WINDOW = 4  # planned chunks read together (`TableRows.plan`)


def _within(rows: np.ndarray, wanted: np.ndarray) -> bool:
    """Every row of `wanted` is in `rows` (both sorted, distinct)."""
    if not len(wanted):
        return True
    if not len(rows):
        return False
    at = np.minimum(np.searchsorted(rows, wanted), len(rows) - 1)
    return bool((rows[at] == wanted).all())


class ParquetRows(TableRows):
    """The rows of a Parquet file, read by row groups on demand (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], missing: bool) -> None:
        super().__init__(Path(path), missing)
        self.pa, pq = pyarrow_modules()
        where = str(self.path)
        try:
            self.file = pq.ParquetFile(str(self.path))
        except (self.pa.ArrowException, OSError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc
            raise DlcError.single(
                f"not a readable Parquet file: {first}",
                where=where,
                hint="write it with pandas' to_parquet or pyarrow.parquet.write_table",
            ) from None
        schema = self.file.schema_arrow
        if len(schema) == 0:
            raise DlcError.single("the Parquet file has no columns", where=where)
        meta = self.file.metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        self.group_start = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.rows_estimate = int(self.group_start[-1])
        self.group_rows = max(sizes, default=0)  # the largest row group's rows
        if self.rows_estimate == 0:
            raise DlcError.single(
                "the Parquet file has no rows (only a schema)",
                where=where,
                hint="check that the file holds data",
            )
        self.names = [str(n) for n in schema.names]
        self.header = unique_header(self.names)
        self._unique = len(set(self.names)) == len(self.names)  # columns read by name
        pa = self.pa
        self._numeric: dict[str, bool] = {}
        for name, field in zip(self.header, schema, strict=True):
            t = field.type
            self._numeric[name] = any(
                f(t) for f in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
            )
        self._lock = threading.Lock()  # one reader of the file at a time
        self._features: list[int] = []
        self._plan: list[np.ndarray] = []  # `plan`'s chunks (file rows), the next unread
        self._next = 0
        self._window: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros((0, 0)))

    def numeric(self, column: str) -> bool:
        return self._numeric[column]

    def _group(self, g: int, positions: list[int]) -> Any:
        """Row group `g`'s columns at `positions` (read by name when the names are unique)."""
        with self._lock:
            if self._unique:
                return self.file.read_row_group(g, columns=[self.names[j] for j in positions])
            table = self.file.read_row_group(g)
        return table.select(positions)

    def scan(self, features: list[str], extra: list[str]) -> dict[str, np.ndarray]:
        """The pass over the row groups (see the module docstring): `extra`'s columns whole."""
        at = {name: j for j, name in enumerate(self.header)}
        self._features = [at[c] for c in features]
        self.read_row_bytes = 12 * len(features)  # arrow column, float32 out, one float64 column
        wanted = self._features + [at[c] for c in extra]
        got: dict[str, list[np.ndarray]] = {c: [] for c in extra}
        gaps: list[Any] = []
        lo = np.full(len(features), np.inf)
        hi = np.full(len(features), -np.inf)
        for g in range(len(self.group_start) - 1):
            table = self._group(g, wanted)
            first = int(self.group_start[g])
            cols = [
                checked_column(self.pa, name, table.column(k), self.missing, str(self.path), first)
                for k, name in enumerate([*features, *extra])
            ]
            x = np.zeros((table.num_rows, len(features)))
            for k in range(len(features)):
                x[:, k] = cols[k][0]
            for name, (values, _) in zip(extra, cols[len(features) :], strict=True):
                got[name].append(values)
            self._extend(x, lo, hi, gaps)
        self._done(features, lo, hi, gaps)
        return {c: np.concatenate(v) for c, v in got.items()}

    def _planned(self, chunks: list[np.ndarray]) -> None:
        with self._lock:
            self._plan, self._next = chunks, 0
            self._window = (np.zeros(0, np.int64), np.zeros((0, len(self._features)), np.float32))

    def take_physical(self, phys: np.ndarray) -> Any:
        """Rows `phys`: from the window when a planned chunk holds them (the next `WINDOW`
        planned chunks are read together: each row group once for all of them), else read."""
        rows, x = self._window
        if not _within(rows, phys):
            for j in range(self._next, min(len(self._plan), self._next + WINDOW)):
                if _within(self._plan[j], phys):
                    rows = np.unique(np.concatenate(self._plan[j : j + WINDOW]))
                    x = self._read(rows)
                    self._window, self._next = (rows, x), j + WINDOW
                    break
            else:
                return self._read(phys)
        return x[np.searchsorted(rows, phys)]

    def _read(self, phys: np.ndarray) -> Any:
        """The rows of each row group holding some, gathered, then converted column by
        column as `parquet.read_parquet` converts them (one row group decoded at a time)."""
        group = np.searchsorted(self.group_start, phys, side="right") - 1
        cuts = np.flatnonzero(np.diff(group)) + 1
        taken = []
        for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(phys)], strict=True):
            g = int(group[a])
            local = self.pa.array(phys[a:b] - self.group_start[g])
            taken.append(self._group(g, self._features).take(local))
        if not taken or not self._features:
            return np.zeros((len(phys), len(self._features)), np.float32)
        table = self.pa.concat_tables(taken)
        out = np.empty((len(phys), len(self._features)), np.float32)
        for k in range(table.num_columns):
            out[:, k] = _column(self.pa, table.column(k))[0]
        return out
