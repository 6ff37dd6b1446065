"""The `parquet` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Table


@register(SOURCES, "parquet")
class Parquet(Table):
    """A Parquet file (read with pyarrow, the optional `parquet` extra), its columns chosen by
    the same rules as a `csv` source's: numeric columns (integers, floats, booleans) are
    numbers, others text; a null (or NaN) is a missing value. E.g.
    `parquet "survey.parquet" target="y" exclude=["note"] missing=mean`."""
