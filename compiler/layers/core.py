"""Dense, flatten, reshape and dropout.

Example:
    >>> Flatten().output_shape((28, 28)), Reshape(shape=[4, 2]).output_shape((8,))
    ((784,), (4, 2))
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, PositiveInt

from dlc.compiler.layers.base import Context, Layer, Param, Shape, ShapeError
from dlc.compiler.lazy import jax, jnp
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


@register(LAYERS, "flatten")
class Flatten(Layer):
    """All axes but the batch axis into one."""

    example = ({}, (3, 4, 2))

    def output_shape(self, in_shape: Shape) -> Shape:
        return (math.prod(in_shape),)

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return x.reshape(x.shape[0], -1)


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


@register(LAYERS, "dropout")
class Dropout(Layer):
    """Zeroes each value with probability `rate` in training and scales the rest by 1/(1-rate);
    the identity at evaluation. Its key is derived from the seed and the step.

    Example:
        >>> x = jnp.ones((2, 3))
        >>> ctx = Context(train=True, rng=jax.random.PRNGKey(0), overrides={"rate": 0.0})
        >>> bool((Dropout(rate=0.5).apply({}, x, ctx) == x).all())
        True
    """

    rate: float = Field(ge=0.0, lt=1.0)
    positional = ("rate",)
    example = ({"rate": 0.5}, (5,))
    uses_rng = True
    traced = ("rate",)  # `ctx.overrides["rate"]`: a traced rate, one per experiment lane

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        rate = ctx.overrides.get("rate", self.rate)
        if not ctx.train or (isinstance(rate, float) and rate == 0.0):
            return x
        keep = 1.0 - rate
        mask = jax.random.bernoulli(ctx.rng, keep, x.shape)
        return jnp.where(mask, x / keep, 0.0)
