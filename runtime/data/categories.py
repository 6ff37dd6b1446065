"""The category table of `categorical` columns, from the training part only (numpy only).

The loader one-hot encodes every category of the file (`RawData.categories`); after the split
`training_table` keeps the categories the training part has and drops the others' columns, so
the run's feature names (`weather=rain`, ...) are the training part's table, saved with the
run for `predict`. A valid or test row whose category the training part lacks follows the
source's `unseen=` rule: `error` (the default) names the file's row and the category; `zero`
leaves all the column's one-hot features 0 for that row.

Example:
    >>> from dlc.runtime.data.raw import RawData
    >>> x = np.array([[1, 0, 5.0], [0, 1, 6.0], [1, 0, 7.0]])
    >>> raw = RawData({}, feature_names=["c=a", "c=b", "v"], categories={"c": [0, 1]},
    ...               unseen="zero", rows=np.array([2, 3, 4]))
    >>> parts = {"train": (x[[0, 2]], None), "test": (x[[1]], None)}
    >>> parts, names, notes = training_table(raw, parts, {"train": [2, 4], "test": [3]})
    >>> names, parts["test"][0].tolist()
    (['c=a', 'v'], [[0.0, 6.0]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.data.raw import RawData


def training_table(
    raw: RawData,
    parts: dict[str, tuple[Any, Any]],
    rows: Mapping[str, Sequence[int] | np.ndarray | None],
    days: int = 1,
) -> tuple[dict[str, tuple[Any, Any]], list[str], list[str]]:
    """(parts, feature names, `dlc check` notes) with each categorical column's one-hot block
    cut to the training part's categories. `rows`: each part's file row numbers (for errors);
    `days`: a window's length (each row holds `days` copies of the feature list)."""
    names = list(raw.feature_names)
    if not raw.categories or "train" not in parts:
        return parts, names, []
    width = len(names)
    x_train = np.asarray(parts["train"][0]).reshape(len(parts["train"][0]), days, width)
    drop: list[int] = []
    notes: list[str] = []
    for column, at in raw.categories.items():
        seen = (np.nan_to_num(x_train[:, :, at]) > 0).any(axis=(0, 1))
        missing = [p for p, s in zip(at, seen, strict=True) if not s]
        for part, (x, _) in parts.items():
            if part == "train" or not missing or len(x) == 0:
                continue
            block = np.asarray(x).reshape(len(x), days, width)[:, :, missing]
            hit = np.flatnonzero((np.nan_to_num(block) > 0).any(axis=(1, 2)))
            if len(hit) and raw.unseen == "error":
                i = int(hit[0])
                value = names[missing[int(np.argmax(block[i].max(axis=0)))]]
                found = rows.get(part)
                row = f":row {int(found[i])}" if found is not None and len(found) > i else ""
                raise DlcError.single(
                    f"category `{value.partition('=')[2]}` of column `{column}` is in the "
                    f"{part} part but not in the training part ({len(hit)} such rows)",
                    where=f"{raw.where}{row}",
                    hint="the category table comes from the training part: add unseen=zero "
                    "to the source line to encode such rows as all zeros, or change the split "
                    "(split seed=N, order=stratified ...)",
                )
        drop += missing
        kept = len(at) - len(missing)
        notes.append(
            f"categorical `{column}`: {kept} one-hot columns `{column}=VALUE` "
            "(the training part's categories)"
            + (f"; {len(missing)} other categories only outside it" if missing else "")
        )
    if not drop:
        return parts, names, notes
    keep = [j for j in range(width) if j not in set(drop)]
    cols = [d * width + j for d in range(days) for j in keep]
    out = {k: (np.asarray(x)[:, cols], y) for k, (x, y) in parts.items()}
    return out, [names[j] for j in keep], notes
