"""The `fizzbuzz` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source


@register(SOURCES, "fizzbuzz")
class FizzBuzz(Source):
    """Numbers as binary digits (least significant first) -> number / fizz / buzz / fizzbuzz."""

    train: list[PositiveInt] = Field([101, 1023], min_length=2, max_length=2)
    test: list[PositiveInt] = Field([1, 100], min_length=2, max_length=2)
    bits: PositiveInt = Field(10, le=62)  # numbers up to 2**62 fit an int64
