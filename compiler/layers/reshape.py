"""The `reshape` layer: to a shape (batch axis excluded)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from dlc.compiler.layers.base import Context, Layer, Shape, ShapeError
from dlc.compiler.registry import LAYERS, register


@register(LAYERS, "reshape")
class Reshape(Layer):
    """To `shape` (batch axis excluded); one entry may be -1."""

    shape: list[int] = Field(min_length=1)
    positional = ("shape",)
    example = ({"shape": [2, -1]}, (6,))

    def output_shape(self, in_shape: Shape) -> Shape:
        size = math.prod(in_shape)
        if sum(d == -1 for d in self.shape) > 1 or any(d == 0 or d < -1 for d in self.shape):
            raise ShapeError(
                f"bad target shape {self.shape}", "use positive sizes and at most one -1"
            )
        known = math.prod(d for d in self.shape if d != -1)
        out = tuple(size // known if d == -1 else d for d in self.shape)
        if math.prod(out) != size:
            raise ShapeError(
                f"cannot reshape {in_shape} ({size} values) to {list(self.shape)}",
                f"the sizes must multiply to {size}",
            )
        return out

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return x.reshape(x.shape[0], *self.shape)
