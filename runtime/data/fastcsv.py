"""The fast path of `datasets.read_csv` for a body of plain numbers (no quotes, spaces, gaps or
words): pyarrow's multi-threaded CSV parser when pyarrow is installed (the optional `parquet`
extra), else NumPy's C parser (`np.loadtxt`) after a vectorized check that every line has the
header's number of fields and holds only number characters.

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

import numpy as np

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
