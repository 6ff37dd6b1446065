"""The `idx` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source


@register(SOURCES, "idx")
class Idx(Source):
    """MNIST-format IDX files (train-*/t10k-*, optionally .gz) in a local folder; images come as
    (28, 28, 1) with pixels 0..255 (use `divide 255`)."""

    path: str
    positional = ("path",)
