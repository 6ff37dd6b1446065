"""Real datasets and splits, numpy only: IDX/MNIST (see `idx.py`), digits, fizzbuzz, CSV.

Example:
    >>> x, y = fizzbuzz(1, 100)
    >>> parts = stratified_split(y, {"train": 0.8, "test": 0.2}, seed=0)
    >>> sorted(parts), len(parts["train"]) + len(parts["test"])
    (['test', 'train'], 100)
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np

from dlc.compiler.errors import DlcError, excerpt
from dlc.runtime.data.columns import unique_header
from dlc.runtime.data.idx import fashion_mnist, load_idx_folder, mnist, read_idx
from dlc.runtime.data.reading import read_data_bytes, read_text_file

__all__ = [
    "digits",
    "fashion_mnist",
    "fizzbuzz",
    "load_idx_folder",
    "mnist",
    "ordered_split",
    "read_csv",
    "read_idx",
    "shuffled_split",
    "stratified_split",
]


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits: x float32 [1797, 64] with values 0..16, y int32.

    Example:
        >>> x, y = digits(); x.shape, float(x.max()), int(y[0])
        ((1797, 64), 16.0, 0)
    """
    from sklearn.datasets import load_digits  # lazy: sklearn is slow to import

    bunch = load_digits()
    return bunch.data.astype(np.float32), bunch.target.astype(np.int32)


def fizzbuzz(lo: int, hi: int, bits: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Numbers lo..hi (inclusive) as binary digits, least significant bit first.

    x[i, j] is bit j of the number (x float32 [n, bits]); y int32: 0 = the number itself,
    1 = fizz (divisible by 3 only), 2 = buzz (by 5 only), 3 = fizzbuzz (by 15).

    Example:
        >>> x, y = fizzbuzz(6, 6, bits=4); x.tolist(), y.tolist()
        ([[0.0, 1.0, 1.0, 0.0]], [1])
    """
    if bits < 1:
        raise DlcError.single(f"fizzbuzz needs at least 1 bit, got bits={bits}")
    if lo < 0 or hi < lo:
        raise DlcError.single(
            f"fizzbuzz range {lo}..{hi} is empty or negative", hint="pass 0 <= lo <= hi"
        )
    if hi >= 2**bits:
        raise DlcError.single(
            f"{hi} does not fit in {bits} bits (largest is {2**bits - 1})",
            hint=f"use bits={hi.bit_length()} or more",
        )
    n = np.arange(lo, hi + 1, dtype=np.int64)
    x = ((n[:, None] >> np.arange(bits)) & 1).astype(np.float32)
    y = np.where(n % 15 == 0, 3, np.where(n % 5 == 0, 2, np.where(n % 3 == 0, 1, 0)))
    return x, y.astype(np.int32)


def _counts(n: int, fractions: Mapping[str, float]) -> list[int]:
    """Split n items in the given proportions by largest remainder: the counts sum to n."""
    if not fractions:
        raise DlcError.single("a split needs at least one part", hint='e.g. {"train": 1.0}')
    bad = {k: f for k, f in fractions.items() if not (math.isfinite(f) and f >= 0)}
    if bad:
        raise DlcError.single(f"split fractions must be finite and >= 0, got {bad}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise DlcError.single(
            f"split fractions sum to {total:g}, not 1: {dict(fractions)}",
            hint="make the fractions add up to 1",
        )
    raw = [f * n for f in fractions.values()]
    counts = [math.floor(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _cut(order: np.ndarray, names: list[str], counts: list[int]) -> dict[str, np.ndarray]:
    bounds = np.cumsum([0, *counts])
    return {k: order[bounds[i] : bounds[i + 1]] for i, k in enumerate(names)}


def ordered_split(n: int, fractions: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Consecutive index ranges, first part first (for time series: no future leaks back).

    Example:
        >>> {k: v.tolist() for k, v in ordered_split(5, {"train": 0.6, "test": 0.4}).items()}
        {'train': [0, 1, 2], 'test': [3, 4]}
    """
    return _cut(np.arange(n), list(fractions), _counts(n, fractions))


def shuffled_split(n: int, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    """A random partition of range(n) in the given proportions, reproducible from `seed`.

    Example:
        >>> {k: len(v) for k, v in shuffled_split(10, {"a": 0.7, "b": 0.3}, seed=1).items()}
        {'a': 7, 'b': 3}
    """
    order = np.random.default_rng(seed).permutation(n)
    return _cut(order, list(fractions), _counts(n, fractions))


def stratified_split(
    y: np.ndarray, fractions: Mapping[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Index arrays per part; each class is split in the given proportions (within 1 item).

    Every index of `y` lands in exactly one part; each part is shuffled with `seed`.

    Example:
        >>> parts = stratified_split(np.array([0] * 8 + [1] * 2), {"a": 0.5, "b": 0.5}, seed=0)
        >>> sorted(np.array([0] * 8 + [1] * 2)[parts["a"]].tolist())
        [0, 0, 0, 0, 1]
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise DlcError.single(f"stratified_split needs a 1-D label vector, got shape {y.shape}")
    names = list(fractions)
    _counts(0, fractions)  # validate even when y is empty
    rng = np.random.default_rng(seed)
    pieces: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        for k, part in _cut(members, names, _counts(len(members), fractions)).items():
            pieces[k].append(part)
    return {
        k: rng.permutation(np.concatenate([np.zeros(0, np.int64), *v])) for k, v in pieces.items()
    }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_csv(
    path: str | os.PathLike[str], delimiter: str
) -> tuple[list[str], dict[str, np.ndarray]] | None:
    """A big CSV of plain numbers (or, with pyarrow, numbers and text) under a plain header,
    read by `fastcsv` (the same result as the general reader), or None: the general reader
    then reads it and names any problem. Files under 64 KiB always take the general reader
    (no pyarrow import for small files)."""
    from dlc.runtime.data.reading import check_regular

    try:
        if check_regular(path).stat().st_size < (1 << 16):
            return None
    except (DlcError, OSError):
        return None
    raw = read_data_bytes(path)
    raw = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw  # a UTF-8 byte-order mark
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    cut = raw.find(b"\n")
    if cut <= 0 or not raw[:cut].isascii() or b'"' in raw[:cut]:
        return None
    names = [v.strip() for v in raw[:cut].decode("ascii").split(delimiter)]
    if not all(names):
        return None
    from dlc.runtime.data.fastcsv import mixed_body, numeric_body

    body = raw[cut + 1 :]
    body = body if body.endswith(b"\n") else body + b"\n"
    cols = numeric_body(body, delimiter, len(names))
    if cols is None:
        cols = mixed_body(body, delimiter, len(names))
    if cols is None:
        return None
    header = unique_header(names)
    return header, dict(zip(header, cols, strict=True))


MISSING = frozenset({"", "NA", "N/A", "NaN", "nan", "null"})


def _finite(
    col: np.ndarray, name: str, values: Sequence[str], lines: Sequence[int], where: str
) -> np.ndarray:
    """`col` (a column of numbers), or an error at the row of its first NaN or infinity."""
    if not np.isfinite(col).all():
        i = int(np.flatnonzero(~np.isfinite(col))[0])
        raise DlcError.single(
            f"column `{name}` holds `{excerpt(values[i])}`, not a finite number",
            where=f"{where}:row {lines[i]}",
            hint="fix or remove that row: dlc does not guess missing or infinite values",
        )
    return col


def convert_column(
    name: str, values: Sequence[str], lines: Sequence[int], missing: bool, where: str
) -> np.ndarray:
    """A CSV column's cells (stripped; `lines`: each one's row number) as `read_csv` makes
    them: float64 numbers (gaps NaN when `missing`), or text; or an error naming the row."""
    if not missing:  # the common case first: a column of numbers, converted in one pass
        try:
            col = np.array([float(v) for v in values], dtype=np.float64)
        except ValueError:  # text somewhere: the checks below say what and where
            pass
        else:
            return _finite(col, name, values, lines, where)
    numeric = [_is_number(v) for v in values]
    gaps = [missing and v in MISSING for v in values]
    if missing and any(numeric) and all(n or g for n, g in zip(numeric, gaps, strict=True)):
        cells = [v if not g else "nan" for v, g in zip(values, gaps, strict=True)]
        col = np.array([float(v) for v in cells], dtype=np.float64)
        bad = ~np.isfinite(col) & ~np.array(gaps, dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DlcError.single(
                f"column `{name}` holds `{excerpt(values[i])}`, not a finite number",
                where=f"{where}:row {lines[i]}",
                hint="fix or remove that row",
            )
        return col
    if all(numeric):
        col = np.array([float(v) for v in values], dtype=np.float64)
        return _finite(col, name, values, lines, where)
    if not any(numeric):
        return np.array(values, dtype=str)
    if 2 * sum(numeric) >= len(numeric):
        i = numeric.index(False)
        cell = "is empty" if not values[i] else f"holds `{excerpt(values[i])}`"
        raise DlcError.single(
            f"column `{name}` is numeric but this row {cell}",
            where=f"{where}:row {lines[i]}",
            hint="fill in or remove that row, or say what a gap means: "
            "missing=drop|zero|mean|median on the `csv` line",
        )
    i = numeric.index(True)
    raise DlcError.single(
        f"column `{name}` holds text but this row holds the number `{excerpt(values[i])}`",
        where=f"{where}:row {lines[i]}",
        hint="a column must be all numbers or all text",
    )


def read_csv(
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
    missing: bool = False,
    lines: list[int] | None = None,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Read a CSV with a header row: numeric columns become float64, all-text columns strings.

    Values are stripped of surrounding spaces. A name the header repeats gets pandas'
    suffixes (`cli`, `cli.1`, `cli.2`, ... in file order). A column mixing numbers with text
    or empty cells is an error naming the row (the header is row 1) and the column; with
    `missing`, an empty or `NA`-like cell (`MISSING`) in a numeric column is NaN instead.
    `lines`, when given, receives each data row's row number in the file (the header: 1).

    Example:
        >>> header, cols = read_csv("prices.csv")       # doctest: +SKIP
        >>> header, cols["price"].dtype, cols["date"][:1]  # doctest: +SKIP
        (['date', 'price'], dtype('float64'), array(['2024-01-02'], dtype='<U10'))
    """
    where = str(path)
    fast = _numeric_csv(path, delimiter)
    if fast is not None:
        if lines is not None:  # the fast path takes no blank lines: data row k is row k + 2
            lines.extend(range(2, 2 + len(next(iter(fast[1].values())))))
        return fast
    text = read_text_file(path, what="CSV")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [(reader.line_num, [v.strip() for v in row]) for row in reader if row]
    except (csv.Error, TypeError) as e:
        raise DlcError.single(
            f"cannot read the CSV file: {e}",
            where=where,
            hint="check that it is a readable text CSV",
        ) from None
    if not rows:
        raise DlcError.single(
            "the CSV file is empty", where=where, hint="the first row must name the columns"
        )
    header, body = rows[0][1], rows[1:]
    if not body:
        raise DlcError.single(
            "the CSV file has a header row but no data rows",
            where=f"{where}:row 1",
            hint="add the data below the header (one row per example)",
        )
    if lines is not None:
        lines.extend(line for line, _ in body)
    for i, name in enumerate(header, 1):
        if not name:
            raise DlcError.single(
                f"header column {i} has no name",
                where=f"{where}:row 1",
                hint="name every column (or address it by position: " + f'{i} or "#{i}")',
            )
    header = unique_header(header)
    for line, row in body:
        if len(row) != len(header):
            raise DlcError.single(
                f"row has {len(row)} fields, the header has {len(header)}",
                where=f"{where}:row {line}",
                hint=f"check for a missing field or an unquoted `{delimiter}` inside a value",
            )
    at = [line for line, _ in body]
    columns = {
        name: convert_column(name, [row[j] for _, row in body], at, missing, where)
        for j, name in enumerate(header)
    }
    return header, columns
