"""Reading Parquet files (pyarrow, the optional `parquet` extra, imported only here and only
when a spec reads one) into the same (header, columns) form as `datasets.read_csv`: numeric
columns (integers, floats, booleans) float64, every other column text; a null or NaN is a gap
(NaN) when `missing`, else an error naming the row (the first data row is row 1) and column.

Example:
    >>> header, cols = read_parquet("survey.parquet")    # doctest: +SKIP
    >>> header[:2], cols["y"].dtype                       # doctest: +SKIP
    (['id', 'x1'], dtype('float64'))
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.columns import unique_header
from dlc.runtime.data.reading import read_data_bytes

EXTRA = "pip install 'dlc[parquet]' (or: pip install 'pyarrow>=26,<27')"


def pyarrow_modules() -> tuple[Any, Any]:
    """(pyarrow, pyarrow.parquet), or a DlcError naming the extra to install."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DlcError.single(
            "reading Parquet files needs pyarrow, which is not installed",
            where="parquet",
            hint=EXTRA,
        ) from None
    return pa, pq


def _column(pa: Any, chunked: Any) -> tuple[np.ndarray, np.ndarray]:
    """(values, gap mask): numbers as float64 (gaps NaN), anything else as text."""
    t = chunked.type
    gaps = chunked.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        values = chunked.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        values = np.where(gaps, np.nan, values)
        return values, gaps | np.isnan(values)
    if pa.types.is_dictionary(t):
        chunked = chunked.cast(t.value_type)
    text = ["" if v is None else str(v) for v in chunked.to_pylist()]
    return np.array(text, dtype=str), gaps


def checked_column(
    pa: Any, name: str, chunked: Any, missing: bool, where: str, first: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`_column`'s (values, gaps), or an error naming the row (`first`: rows before these)
    of a value that is not finite, or of a gap when `missing` is false."""
    values, gaps = _column(pa, chunked)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) & ~gaps
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DlcError.single(
                f"column `{name}` holds {values[i]}, not a finite number",
                where=f"{where}:row {first + i + 1}",
                hint="fix or remove that row",
            )
    if gaps.any() and not missing:
        i = int(np.flatnonzero(gaps)[0])
        raise DlcError.single(
            f"column `{name}` has no value (null) in this row",
            where=f"{where}:row {first + i + 1}",
            hint="fill in or remove that row, or say what a gap means: "
            "missing=drop|zero|mean|median on the `parquet` line",
        )
    return values, gaps


def read_parquet(
    path: str | os.PathLike[str], *, missing: bool = False
) -> tuple[list[str], dict[str, np.ndarray]]:
    """A Parquet file's columns, as `read_csv` gives a CSV's (see the module docstring)."""
    pa, pq = pyarrow_modules()
    where = str(path)
    raw = read_data_bytes(path)
    try:
        table = pq.ParquetFile(pa.BufferReader(raw)).read()  # duplicate names allowed
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DlcError.single(
            f"not a readable Parquet file: {str(exc).splitlines()[0] if str(exc) else exc}",
            where=where,
            hint="write it with pandas' to_parquet or pyarrow.parquet.write_table",
        ) from None
    if table.num_columns == 0:
        raise DlcError.single("the Parquet file has no columns", where=where)
    if table.num_rows == 0:
        raise DlcError.single(
            "the Parquet file has no rows (only a schema)",
            where=where,
            hint="check that the file holds data",
        )
    header = unique_header([str(n) for n in table.column_names])
    cols = {
        name: checked_column(pa, name, chunked, missing, where)[0]
        for name, chunked in zip(header, table.columns, strict=True)
    }
    return header, cols
