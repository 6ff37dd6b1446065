"""The `dense` layer and the initializer names its `init` takes (`flatten`, `reshape` and
`dropout` are modules of their own: a spec imports only the layers it names).

Example:
    >>> Dense(units=3).output_shape((5,))
    (3,)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import PositiveInt

from dlc.compiler.layers.base import Context, Layer, Param, Shape, ShapeError
from dlc.compiler.lazy import jnp
from dlc.compiler.registry import LAYERS, register

InitName = Literal[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "normal",
    "zeros",
]


@register(LAYERS, "dense")
class Dense(Layer):
    """y = x·W + b over the last axis."""

    units: PositiveInt
    bias: bool = True
    init: InitName = "glorot_uniform"
    positional = ("units",)
    example = ({"units": 3}, (5,))

    def output_shape(self, in_shape: Shape) -> Shape:
        if not in_shape:
            raise ShapeError("dense needs an input with a feature axis, got a scalar")
        return (*in_shape[:-1], self.units)

    def params(self, in_shape: Shape) -> dict[str, Param]:
        declared = {"w": Param((in_shape[-1], self.units), "weight", self.init)}
        if self.bias:
            declared["b"] = Param((self.units,), "bias")
        return declared

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        y = jnp.dot(x, params["w"])
        return y + params["b"] if self.bias else y
