"""The `flatten` layer: all axes but the batch axis into one."""

from __future__ import annotations

import math
from typing import Any

from dlc.compiler.layers.base import Context, Layer, Shape
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "flatten")
class Flatten(Layer):
    """All axes but the batch axis into one."""

    example = ({}, (3, 4, 2))

    def output_shape(self, in_shape: Shape) -> Shape:
        return (math.prod(in_shape),)

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return x.reshape(x.shape[0], -1)
