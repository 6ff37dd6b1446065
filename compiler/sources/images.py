"""The `images` data source: a pure description of data (its loader is in `dlc.runtime.data`)."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from dlc.compiler.registry import SOURCES, register
from dlc.compiler.sources import Source


@register(SOURCES, "images")
class Images(Source):
    """A folder of PNG or JPEG images with one sub-folder per class (the class names: the sub-folder
    names, sorted). Images come as (H, W, 1) for greyscale or (H, W, 3) for colour, pixels
    0..255 (use `divide 255`); all the same size, or resized to `size=[H, W]`; `grey=true`
    converts colour images to greyscale. E.g. `images "food" size=[64, 64]`."""

    path: str
    size: list[PositiveInt] | None = Field(None, min_length=2, max_length=2)
    grey: bool = False
    positional = ("path",)
