"""The `digits` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source


@register(SOURCES, "digits")
class Digits(Source):
    """scikit-learn's 8x8 handwritten digits: 1797 images, pixels 0..16, 10 classes."""

    flat: bool = True  # (64,) vectors; false gives (8, 8, 1) images
