"""`categories=index`: each categorical column as one feature column of category ids (numpy
only). The loader one-hot encodes and `categories.training_table` cuts the blocks to the
training part's categories; `as_ids` then turns each column's block of 0/1 columns
(`weather=fog`, `weather=rain`, ...) into one column `weather` holding 1 + the place of the row's
category in the block (0 for a row whose block is all 0: an unseen category under
`unseen=zero`), and returns the table (each column's categories in block order, i.e. sorted).

Example:
    >>> x = np.array([[0, 1, 7.0], [1, 0, 8.0], [0, 0, 9.0]])
    >>> parts, names, tables = as_ids({"train": (x, None)}, ["c=a", "c=b", "v"], ["c"])
    >>> parts["train"][0].tolist(), names, tables
    ([[2.0, 7.0], [1.0, 8.0], [0.0, 9.0]], ['c', 'v'], {'c': ['a', 'b']})
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_ids(
    parts: dict[str, tuple[Any, Any]], names: list[str], columns: list[str], days: int = 1
) -> tuple[dict[str, tuple[Any, Any]], list[str], dict[str, list[str]]]:
    """(parts, feature names, category tables) with each of `columns`' one-hot blocks replaced
    by one id column in its place; `days`: a window's length (rows hold `days` feature lists)."""
    width = len(names)
    blocks = {c: [j for j, n in enumerate(names) if n.startswith(f"{c}=")] for c in columns}
    tables = {c: [names[j].partition("=")[2] for j in at] for c, at in blocks.items() if at}
    first = {at[0]: c for c, at in blocks.items() if at}
    inside = {j for at in blocks.values() for j in at}
    new_names = [first.get(j, names[j]) for j in range(width) if j in first or j not in inside]

    def convert(x: Any) -> np.ndarray:
        x = np.asarray(x, np.float32).reshape(len(x), days, width)
        cols = []
        for j in range(width):
            if j in first:
                block = np.nan_to_num(x[:, :, blocks[first[j]]])
                ids = np.where(block.max(axis=2) > 0, block.argmax(axis=2) + 1, 0)
                cols.append(ids.astype(np.float32))
            elif j not in inside:
                cols.append(x[:, :, j])
        return np.stack(cols, axis=2).reshape(len(x), -1)

    out = {k: (convert(x), y) for k, (x, y) in parts.items()}
    return out, new_names, tables
