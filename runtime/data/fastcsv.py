"""The fast path of `datasets.read_csv` for a body of plain numbers (no quotes, spaces, gaps or
words): pyarrow's multi-threaded CSV parser when pyarrow is installed (the optional `parquet`
extra), else NumPy's C parser (`np.loadtxt`) after a vectorized check that every line has the
header's number of fields and holds only number characters. With pyarrow, a body of numeric
and text columns (a date, a category word) without quotes takes a fast path too
(`mixed_body`).

The fast path only ever succeeds: a table that is not exactly numbers (a ragged row, a bad or
empty cell, NaN or infinity, a text column) returns None, and the general reader, which names
the row and column of every problem, reads the file instead. Both parsers round decimal text
to the nearest float64, as Python's `float()` does.

Example:
    >>> [c.tolist() for c in numeric_body(b"1,2.5\\n-3,4e2\\n", ",", 2)]
    [[1.0, -3.0], [2.5, 400.0]]
    >>> numeric_body(b"1,2\\n3\\n", ",", 2) is None   # ragged: the general reader explains
    True
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlc.runtime.data.datasets import _is_number

NUMBER_BYTES = b"0123456789.+-eE\n"


def _lines_have(b: np.ndarray, delim: int, ncols: int) -> bool:
    """Every line of the bytes `b` (each ending in a newline) has `ncols` fields."""
    ends = np.flatnonzero((b == delim) | (b == 10))
    if len(ends) == 0 or len(ends) % ncols:
        return False
    line_end = (b[ends] == 10).reshape(-1, ncols)
    return bool(line_end[:, -1].all()) and not line_end[:, :-1].any()


def _pyarrow_body(raw: bytes, delimiter: str, ncols: int) -> list[np.ndarray] | None:
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    try:
        table = pacsv.read_csv(
            pa.BufferReader(raw),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
            convert_options=pacsv.ConvertOptions(null_values=[], strings_can_be_null=False),
        )
    except (pa.ArrowException, OSError, ValueError):
        return None
    if table.num_columns != ncols:
        return None
    out = []
    for col in table.columns:
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            return None
        out.append(np.asarray(col.to_numpy(), np.float64))
    return out


def _read(raw: bytes, delimiter: str, text_columns: Sequence[int] = ()) -> Any:
    """pyarrow's table of the body (columns `f0`, `f1`, ...; `text_columns` read as text),
    every cell literal (no nulls, no quotes)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return pacsv.read_csv(
        pa.BufferReader(raw),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
        convert_options=pacsv.ConvertOptions(
            null_values=[],
            strings_can_be_null=False,
            true_values=[],
            false_values=[],
            column_types={f"f{j}": pa.string() for j in text_columns},
        ),
    )


def mixed_body(raw: bytes, delimiter: str, ncols: int) -> list[np.ndarray] | None:
    """With pyarrow installed, the columns of a body of numbers and text (no quotes): numeric
    columns float64, text columns their stripped strings, exactly as the general reader gives
    them; None when pyarrow is missing or any column is not plainly one or the other (a text
    column holding a number, a gap, NaN): the general reader then decides, naming the row."""
    try:
        import pyarrow as pa
    except ImportError:
        return None
    if b'"' in raw or not raw.endswith(b"\n"):
        return None
    try:
        table = _read(raw, delimiter)
        text = [
            j
            for j, col in enumerate(table.columns)
            if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type))
        ]
        odd = [j for j in text if not pa.types.is_string(table.columns[j].type)]
        if odd:  # dates, times: read as the text they are
            table = _read(raw, delimiter, odd)
    except (pa.ArrowException, OSError, ValueError):
        return None
    if table.num_columns != ncols:
        return None
    out: list[np.ndarray] = []
    for j, col in enumerate(table.columns):
        if j not in text:
            values = np.asarray(col.to_numpy(), np.float64)
            if not np.isfinite(values).all():
                return None
            out.append(values)
            continue
        coded = col.combine_chunks().dictionary_encode()  # each distinct cell checked once
        distinct = [v.strip() for v in coded.dictionary.to_pylist()]
        if any(_is_number(v) for v in distinct):
            return None  # numbers among text, or numbers with gaps: the general reader
        index = np.asarray(coded.indices.to_numpy(zero_copy_only=False), np.intp)
        out.append(np.array(distinct, dtype=str)[index])
    return out


def numeric_body(raw: bytes, delimiter: str, ncols: int) -> list[np.ndarray] | None:
    """The columns (float64) of `raw`, CSV lines of `ncols` numbers each ending in a newline,
    or None when the bytes are anything else."""
    if not raw.endswith(b"\n") or len(delimiter) != 1 or ord(delimiter) > 127:
        return None
    sep = delimiter.encode()
    if sep in NUMBER_BYTES or raw.translate(None, NUMBER_BYTES + sep):
        return None  # quotes, spaces, words, `NA`, non-ASCII: the general reader
    if b"\n\n" in raw or raw.startswith(b"\n"):
        return None  # blank lines: the general reader skips them and counts rows
    cols = _pyarrow_body(raw, delimiter, ncols)
    if cols is None:
        if not _lines_have(np.frombuffer(raw, np.uint8), ord(delimiter), ncols):
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                values = np.loadtxt(io.BytesIO(raw), delimiter=delimiter, dtype=np.float64, ndmin=2)
        except (ValueError, UserWarning):
            return None
        if values.shape[1:] != (ncols,):
            return None
        cols = [np.ascontiguousarray(values[:, j]) for j in range(ncols)]
    if not all(np.isfinite(c).all() for c in cols):
        return None
    return cols
