"""The `csv` and `parquet` sources above `train { memory_mb N }`: their feature columns left
on disk (`csvrows.CsvFile`, `parquetrows.ParquetRows`), the target and id columns read whole,
the columns chosen and the rows kept as `loaders.load_csv` chooses and keeps them.

What cannot stream is a located error naming `train.memory_mb`, never a silent in-memory read
that would pass the budget: `categorical` columns (their categories come from every row of
the training part, and `unseen` checks every row of the others) and `missing=median` (a
median needs every value at once).

Example:
    >>> raw = load_table_streamed(Csv(path="big.csv", target="y"), ".", 1 << 20)
    ...                                                                   # doctest: +SKIP
    >>> raw.parts["all"][0]                                               # doctest: +SKIP
    <dlc.runtime.data.csvrows.CsvFile object at ...>
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.sources import Csv, Table
from dlc.runtime.data.budget import trim_memory
from dlc.runtime.data.csvrows import CsvFile
from dlc.runtime.data.loaders import (
    choose_columns,
    csv_target,
    spec_path,
    table_notes,
    target_keep,
)
from dlc.runtime.data.raw import RawData
from dlc.runtime.data.reading import check_regular
from dlc.runtime.data.tablerows import TableRows


class Unstreamable(Exception):
    """The source is above the budget but cannot be streamed: `prepare` makes it a located
    error at the source line (message, hint)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def _open(source: Table, path: Path) -> TableRows:
    gaps = source.missing != "error"
    if isinstance(source, Csv):
        return CsvFile(path, source.delimiter, gaps)
    from dlc.runtime.data.parquetrows import ParquetRows

    return ParquetRows(path, gaps)


def _need(rows: int, features: int) -> int:
    """Bytes of the data in memory: float32 features and one 4-byte target per row."""
    return rows * (features + 1) * 4


def load_table_streamed(source: Table, base_dir: str | Path, budget: int) -> RawData | None:
    """The source's RawData with the features on disk when they take more than `budget`
    bytes as float32; None when they fit (or the file is no regular file: the in-memory
    loader then says what is wrong)."""
    path = spec_path(source.path, base_dir)
    try:
        path = check_regular(path)
    except DlcError:
        return None
    if isinstance(source, Csv) and 2 * path.stat().st_size <= budget:
        return None  # a number's text takes 2 bytes or more (a digit and a comma): it fits
    file = _open(source, path)
    header = file.header
    target, features, ident, cats = choose_columns(source, header, file.numeric, path)
    estimate = _need(file.rows_estimate, len(features))
    if estimate <= budget:
        return None
    mb = f"{estimate / 2**20:.3g} MB, above train.memory_mb's {budget / 2**20:.3g} MB"
    keep_in_memory = "raise `train { memory_mb N }` (or --set train.memory_mb=N) to read it whole"
    if cats:
        raise Unstreamable(
            f"categorical columns ({', '.join(cats)}) need the whole data in memory, but this "
            f"{source.dl_name} source is streamed from disk ({mb})",
            f"{keep_in_memory}, or write the categories as numeric (one-hot) columns",
        )
    if source.missing == "median":
        raise Unstreamable(
            f"missing=median needs the whole data in memory, but this {source.dl_name} source "
            f"is streamed from disk ({mb})",
            f"{keep_in_memory}, or use missing=mean|zero|drop",
        )
    extra = [target] + ([ident] if ident else [])
    group = file.group_rows * (len(features) + len(extra)) * 8
    if group > budget // 2:  # a row group is read whole: it must fit beside the chunks
        raise Unstreamable(
            f"this parquet source is streamed from disk ({mb}), but its row groups hold up to "
            f"{file.group_rows:,} rows ({group / 2**20:.3g} MB once read), more than half "
            "the budget, and a row group is read whole",
            f"{keep_in_memory}, or write the file with smaller row groups "
            "(pyarrow.parquet.write_table(..., row_group_size=N))",
        )
    cols = file.scan(features, extra)
    trim_memory()  # the pass's buffers
    y, num_classes = csv_target(source, target, cols[target], path)
    ids = {"all": cols[ident]} if ident else {}
    keep = np.ones(len(y), bool)
    if source.missing != "error":  # as `load_csv`: rows missing the target always drop
        keep = target_keep(y)
        if source.missing == "drop":
            keep &= ~file.gap_rows
    if _need(int(keep.sum()), len(features)) <= budget:
        return None  # it fits after all: read whole
    file.select(keep)
    y = y[keep]
    ids = {k: v[keep] for k, v in ids.items()}
    notes = table_notes(features, header, features, ident, file.constant if len(y) else [])
    impute = source.missing if source.missing in ("zero", "mean") else None
    return RawData(
        {"all": (file, y)}, num_classes, feature_names=features, ids=ids, notes=notes,
        impute=impute, where=str(path),
    )  # fmt: skip
