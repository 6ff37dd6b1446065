"""The fast path of a streamed CSV's reads (`csvrows.CsvFile`): pyarrow's CSV parser (the
optional `parquet` extra) on a block of lines, for the columns asked for. Like
`fastcsv`, it only ever succeeds: anything that is not exactly what Python's reader would
make of the block (no pyarrow, a ragged row, a cell with spaces around it, a bad number,
infinity, a text cell that is a number) returns None, and the Python reader, which names the
row of every problem, reads the block instead. Both round decimal text to the nearest float64.

Example:
    >>> cols = arrow_columns(b"1,a,2.5\\n3,b,NA\\n", 3, ",", {0: True, 2: True}, missing=True)
    >>> {j: c.tolist() for j, c in cols.items()}                 # doctest: +SKIP
    {0: [1.0, 3.0], 2: [2.5, nan]}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlc.runtime.data.datasets import MISSING, _is_number


def _modules() -> tuple[Any, Any] | None:
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    return pa, pacsv


def arrow_columns(
    raw: bytes, ncols: int, delimiter: str, numeric: dict[int, bool], missing: bool
) -> dict[int, np.ndarray] | None:
    """Columns `numeric` (position -> holds numbers) of the CSV lines `raw` (no header):
    numbers as float64 (gaps NaN when `missing`), text as str; or None (see the docstring)."""
    mods = _modules()
    if mods is None or not raw:
        return None
    pa, pacsv = mods
    names = [f"c{j}" for j in range(ncols)]
    types = {names[j]: pa.float64() if num else pa.string() for j, num in numeric.items()}
    try:
        table = pacsv.read_csv(
            pa.py_buffer(raw),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(types),
                column_types=types,
                null_values=sorted(MISSING) if missing else [],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError, ValueError):
        return None
    out: dict[int, np.ndarray] = {}
    for j, col in zip(numeric, table.columns, strict=True):
        if numeric[j]:
            gaps = col.is_null().to_numpy(zero_copy_only=False)
            values = np.asarray(col.fill_null(float("nan")).to_numpy(), np.float64)
            if not (np.isfinite(values) | gaps).all():
                return None  # infinity or a NaN written out: Python's reader says where
            out[j] = values
            continue
        coded = col.combine_chunks().dictionary_encode()
        distinct = coded.dictionary.to_pylist()
        if any(v != v.strip() or _is_number(v) for v in distinct):
            return None
        index = np.asarray(coded.indices.to_numpy(zero_copy_only=False), np.intp)
        out[j] = np.array(distinct, dtype=str)[index]
    return out
