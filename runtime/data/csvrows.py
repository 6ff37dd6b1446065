"""A CSV file's rows read in place (`CsvFile`, a `stream.RowFile`): the `csv` source above
`train { memory_mb N }`. One pass (`scan`) reads the file in blocks, checks every row with
the in-memory reader's rules and messages (fields per row, numbers, gaps as `missing=`
says, errors naming the row), keeps its target and id columns, and records where each row
starts and ends in the file; then `take(rows)` reads and parses only those lines. Both use
pyarrow's parser when it is installed and the block is plain (`csvarrow`), else Python's
`csv` and `float`, which round alike.

A streamed CSV is read line by line: a quoted value holding a line break is an error (raise
the budget to read such a file whole).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("a,b,y\\n1,2,0\\n\\n3,4,1\\n5,6,0\\n")
    >>> f = CsvFile(path, ",", missing=False)
    >>> f.header, f.numeric("a")
    (['a', 'b', 'y'], True)
    >>> cols = f.scan(["a", "b"], ["y"])
    >>> f.shape, f.take(np.array([2, 0])).tolist(), cols["y"].tolist()
    ((3, 2), [[5.0, 6.0], [1.0, 2.0]], [0.0, 1.0, 0.0])
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError, excerpt
from dlc.runtime.data.columns import unique_header
from dlc.runtime.data.csvarrow import arrow_columns
from dlc.runtime.data.datasets import MISSING, _is_number, convert_column
from dlc.runtime.data.tablerows import TableRows

SCAN_BYTES = 1 << 20  # read at a time by `scan` (its cells take ~10x as Python objects)
SAMPLE_BYTES = 1 << 20  # the first rows, whose cells say which columns are numbers
MERGE_GAP = 1 << 12  # rows this close in the file share one positioned read,
RUN = 1 << 20  # of at most this many bytes


def _fail(where: str, message: str, hint: str | None = None) -> DlcError:
    return DlcError.single(message, where=where, hint=hint)


class CsvFile(TableRows):
    """The data rows of a CSV file with a header, read on demand (see the module docstring).
    `numeric(column)` says what the first rows hold; `scan` makes the file readable."""

    def __init__(self, path: str | os.PathLike[str], delimiter: str, missing: bool) -> None:
        super().__init__(Path(path), missing)
        self.delimiter = delimiter
        where = str(self.path)
        head = self._read(0, SAMPLE_BYTES)
        bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
        line, at = 1, bom
        while at < len(head) and head[at : at + 1] in (b"\n", b"\r"):  # blank lines first
            line, at = line + (head[at : at + 1] == b"\n"), at + 1
        cut = head.find(b"\n", at)
        if cut < 0 and len(head) == SAMPLE_BYTES:
            raise _fail(where, "the header row is longer than 1 MiB", "is this a CSV file?")
        cut = len(head) if cut < 0 else cut
        names = self._rows([self._text(head[at:cut], line)], [line])[0]
        if not names:
            raise _fail(where, "the CSV file is empty", "the first row must name the columns")
        for i, name in enumerate(names, 1):
            if not name:
                raise _fail(
                    f"{where}:row {line}",
                    f"header column {i} has no name",
                    f'name every column (or address it by position: {i} or "#{i}")',
                )
        self.header = unique_header(names)
        self.first_line, self.data_start = line + 1, cut + 1
        sample = head[self.data_start :]
        sample = sample[: sample.rfind(b"\n") + 1] if len(head) == SAMPLE_BYTES else sample
        text = sample.decode("utf-8", "replace").splitlines()
        rows = [r for r in csv.reader(text, delimiter=delimiter) if r]
        self._numeric: dict[str, bool] = {}
        for j, name in enumerate(self.header):
            cells = [r[j].strip() for r in rows if len(r) > j]
            values = [v for v in cells if not (missing and v in MISSING)]
            count = sum(_is_number(v) for v in values)
            self._numeric[name] = count > 0 and 2 * count >= len(values)
        size = self.path.stat().st_size
        per_row = max(1, len(sample)) / max(1, len(rows))
        self.rows_estimate = int((size - self.data_start) / per_row) if rows else 0

    def numeric(self, column: str) -> bool:
        return self._numeric[column]

    def _read(self, offset: int, size: int, fd: int | None = None) -> bytes:
        own = fd is None
        fd = os.open(self.path, os.O_RDONLY) if fd is None else fd
        try:
            return os.pread(fd, size, offset)
        finally:
            if own:
                os.close(fd)

    def _text(self, raw: bytes, line: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            row = line + raw[: exc.start].count(b"\n")
            raise _fail(
                f"{self.path}:row {row}", "the file is not UTF-8 text", "save it as UTF-8"
            ) from None

    def _rows(self, lines: list[str], numbers: list[int]) -> list[list[str]]:
        """Each line's stripped cells; a quoted value running past its line is an error."""
        try:
            rows = list(csv.reader(lines, delimiter=self.delimiter, strict=True))
        except csv.Error:
            rows = []
        if len(rows) == len(lines):
            return [[v.strip() for v in r] for r in rows]
        for text, line in zip(lines, numbers, strict=True):  # find the line that misleads
            try:
                list(csv.reader([text], delimiter=self.delimiter, strict=True))
            except csv.Error as exc:
                raise _fail(
                    f"{self.path}:row {line}",
                    f"cannot read this row of a CSV file streamed line by line: {exc}",
                    "a quoted value may not hold a line break when the file is streamed "
                    "(above train.memory_mb): raise `train { memory_mb N }` to read it whole",
                ) from None
        raise _fail(str(self.path), "cannot read the file as CSV", "check its quoting")

    def _blocks(self, block_bytes: int) -> Iterator[tuple[bytes, np.ndarray, int]]:
        """(bytes, each non-blank line's (start, end, row number) in the file, the block's
        first row number), the blocks ending at line breaks."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            offset, line = self.data_start, self.first_line
            while True:
                raw = self._read(offset, block_bytes, fd)
                if not raw:
                    return
                while len(raw) >= block_bytes and b"\n" not in raw[-block_bytes:]:
                    raw += self._read(offset + len(raw), block_bytes, fd)  # a long line
                if len(raw) >= block_bytes:
                    raw = raw[: raw.rfind(b"\n") + 1]
                elif not raw.endswith(b"\n"):
                    raw += b"\n"  # the last line has no line break
                b = np.frombuffer(raw, np.uint8)
                ends = np.flatnonzero(b == 10)
                starts = np.concatenate([[0], ends[:-1] + 1])
                crlf = (ends > starts) & (b[np.maximum(ends - 1, 0)] == 13)
                ends = ends - crlf
                lines = line + np.arange(len(ends))
                full = ends > starts
                yield raw, np.stack([starts + offset, ends + offset, lines], axis=1)[full], line
                offset, line = offset + len(raw), line + len(ends)
        finally:
            os.close(fd)

    def _number_column(self, name: str, cells: list[str], lines: list[int]) -> np.ndarray:
        """A numeric column's cells as float64 (gaps NaN), or `read_csv`'s error at the row."""
        col = convert_column(name, cells, lines, self.missing, str(self.path))
        if col.dtype.kind == "f":
            return col
        i = next(i for i, v in enumerate(cells) if not (self.missing and v in MISSING))
        if not _is_number(cells[i]) and not all(self.missing and v in MISSING for v in cells):
            what = "is empty" if not cells[i] else f"holds `{excerpt(cells[i])}`"
            raise _fail(
                f"{self.path}:row {lines[i]}",
                f"column `{name}` is numeric but this row {what}",
                "fill in or remove that row, or say what a gap means: "
                "missing=drop|zero|mean|median on the `csv` line",
            )
        return np.full(len(cells), np.nan)

    def _text_column(self, name: str, cells: list[str], lines: list[int]) -> np.ndarray:
        for v, line in zip(cells, lines, strict=True):
            if _is_number(v):
                raise _fail(
                    f"{self.path}:row {line}",
                    f"column `{name}` holds text but this row holds the number `{excerpt(v)}`",
                    "a column must be all numbers or all text",
                )
        return np.array(cells, dtype=str)

    def _python_block(
        self, raw: bytes, place: np.ndarray, first: int, features: list[str], extra: list[str]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """A block's features and `extra` columns by Python's reader, which names the row
        of any problem."""
        text = [t[:-1] if t.endswith("\r") else t for t in self._text(raw, first).split("\n")]
        rows = self._rows([t for t in text[:-1] if t], place[:, 2].tolist())
        where, at = str(self.path), {name: j for j, name in enumerate(self.header)}
        lines = place[:, 2].tolist()
        for r, line in zip(rows, lines, strict=True):
            if len(r) != len(self.header):
                raise _fail(
                    f"{where}:row {line}",
                    f"row has {len(r)} fields, the header has {len(self.header)}",
                    f"check for a missing field or an unquoted `{self.delimiter}` inside a value",
                )
        x = np.zeros((len(rows), len(features)))
        for k, name in enumerate(features):
            x[:, k] = self._number_column(name, [r[at[name]] for r in rows], lines)
        cols = []
        for name in extra:
            kind = self._number_column if self._numeric[name] else self._text_column
            cols.append(kind(name, [r[at[name]] for r in rows], lines))
        return x, cols

    def scan(
        self, features: list[str], extra: list[str], block_bytes: int = SCAN_BYTES
    ) -> dict[str, np.ndarray]:
        """The pass over the file (see the module docstring): `extra`'s columns whole."""
        at = {name: j for j, name in enumerate(self.header)}
        wanted = {at[c]: True for c in features} | {at[c]: self._numeric[c] for c in extra}
        spans: list[np.ndarray] = []
        gaps: list[Any] = []
        got: dict[str, list[np.ndarray]] = {c: [] for c in extra}
        lo = np.full(len(features), np.inf)
        hi = np.full(len(features), -np.inf)
        for raw, place, first in self._blocks(block_bytes):
            self._text(raw, first)  # UTF-8 throughout, as the in-memory reader checks
            fast = arrow_columns(raw, len(self.header), self.delimiter, wanted, self.missing)
            if fast is not None and all(len(c) == len(place) for c in fast.values()):
                x = np.zeros((len(place), len(features)))
                for k, name in enumerate(features):
                    x[:, k] = fast[at[name]]
                cols = [fast[at[name]] for name in extra]
            else:
                x, cols = self._python_block(raw, place, first, features, extra)
            for name, col in zip(extra, cols, strict=True):
                got[name].append(col)
            self._extend(x, lo, hi, gaps)
            spans.append(place[:, :2])
        if sum(len(s) for s in spans) == 0:
            raise _fail(
                f"{self.path}:row {self.first_line - 1}",
                "the CSV file has a header row but no data rows",
                "add the data below the header (one row per example)",
            )
        self.spans = np.concatenate(spans)
        self._columns = [at[name] for name in features]
        line = float(np.mean(self.spans[:, 1] - self.spans[:, 0]))
        self.read_row_bytes = int(3 * line + 24 * len(features))  # text, arrow, float64
        self._done(features, lo, hi, gaps)
        return {c: np.concatenate(v) for c, v in got.items()}

    def _parse(self, lines: list[bytes]) -> np.ndarray:
        """The feature columns of these lines as float64 (gaps NaN)."""
        raw = b"\n".join(lines) + b"\n"
        wanted = dict.fromkeys(self._columns, True)
        fast = arrow_columns(raw, len(self.header), self.delimiter, wanted, self.missing)
        if fast is not None and all(len(c) == len(lines) for c in fast.values()):
            return np.stack([fast[j] for j in self._columns], axis=1)
        rows = self._rows([s.decode("utf-8").rstrip("\r") for s in lines], [0] * len(lines))
        cells = [r[j] for r in rows for j in self._columns]
        if self.missing:
            cells = ["nan" if v in MISSING else v for v in cells]
        return np.array([float(v) for v in cells], np.float64).reshape(len(rows), -1)

    def take_physical(self, phys: np.ndarray) -> Any:
        """File rows `phys` (sorted, distinct) as float32: rows near each other share one
        positioned read."""
        if len(phys) == 0 or not self._columns:
            return np.zeros((len(phys), len(self._columns)), np.float32)
        start, end = self.spans[phys, 0].tolist(), self.spans[phys, 1].tolist()
        runs, a = [], 0  # (first, last + 1) of rows read together
        for i in range(1, len(phys) + 1):
            if i == len(phys) or start[i] - end[i - 1] > MERGE_GAP or end[i] - start[a] > RUN:
                runs.append((a, i))
                a = i
        lines: list[bytes] = []
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for a, b in runs:
                base = start[a]
                raw = self._read(base, end[b - 1] - base, fd)
                lines += [
                    raw[s - base : e - base] for s, e in zip(start[a:b], end[a:b], strict=True)
                ]
        finally:
            os.close(fd)
        return self._parse(lines).astype(np.float32)
