"""The `mnist` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source


@register(SOURCES, "mnist")
class Mnist(Source):
    """MNIST, downloaded once from the public mirror into the user cache (checksums verified)."""
