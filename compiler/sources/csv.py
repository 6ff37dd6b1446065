"""The `csv` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from pydantic import Field

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Table


@register(SOURCES, "csv")
class Csv(Table):
    """A CSV file with a header. `target` is the column to predict; `features` the inputs
    (default: every numeric column but the target, the id and any column named `id`);
    `exclude` columns never used as features; `id` a column carried to predictions. Columns
    are names (a repeated header name gets pandas' suffixes `cli`, `cli.1`, ...), positions
    (`3` or `"#3"`, from 1), ranges `"a:b"` (inclusive, file order) and globs `"tested_*"`.
    `missing` says what an empty or `NA` cell means; `categorical` columns become one-hot
    features (the categories of the training part; `unseen=error|zero` says what another
    category means), or with `categories=index` one column of ids 1..K each (for
    `embedding`). Paths are relative to the spec's folder."""

    delimiter: str = Field(",", min_length=1, max_length=1)  # one character
