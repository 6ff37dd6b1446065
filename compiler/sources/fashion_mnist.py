"""The `fashion_mnist` data source: a description of data (the loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source


@register(SOURCES, "fashion_mnist")
class FashionMnist(Source):
    """Fashion-MNIST from Debian's `dataset-fashion-mnist` package (or `path=` a folder)."""

    path: str | None = None
